//! Data written to one tenant is invisible to every other tenant through every endpoint.

use crate::harness::{Cluster, Options, now_ms, result, text_lines};

#[test]
fn tenants_are_isolated_through_every_endpoint() {
    let c = Cluster::start(Options::default());
    let t = now_ms() - 60_000;
    let mut ins = c.insert_client();
    for (tenant, job) in [("1", "one"), ("1:7", "one-seven"), ("2", "two")] {
        let body = text_lines(&[
            (
                &format!("tenant_metric{{job=\"{job}\",instance=\"i\"}}"),
                1.0,
                t,
            ),
            (
                &format!("tenant_metric{{job=\"{job}\",instance=\"i\"}}"),
                2.0,
                t + 15_000,
            ),
        ]);
        let r = ins
            .post(
                &format!("/insert/{tenant}/prometheus/api/v1/import/prometheus"),
                &[],
                body.as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 204, "{}", r.text());
    }
    c.flush();
    let (start, end, time) = (
        (t - 1000) / 1000,
        (t + 60_000) / 1000,
        (t + 20_000) as f64 / 1000.0,
    );
    let (start, end, time) = (start.to_string(), end.to_string(), time.to_string());
    for (tenant, job) in [
        ("1", "one"),
        ("1:0", "one"),
        ("1:7", "one-seven"),
        ("2", "two"),
        ("3", ""),
        ("2:1", ""),
    ] {
        let want: Vec<&str> = if job.is_empty() { vec![] } else { vec![job] };
        let jobs = |v: &serde_json::Value| -> Vec<String> {
            result(v)
                .iter()
                .map(|s| s["metric"]["job"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        let (st, q) = c.select_json(
            tenant,
            "api/v1/query",
            &[("query", "tenant_metric"), ("time", &time)],
        );
        assert_eq!(st, 200, "{q}");
        assert_eq!(jobs(&q), want, "instant query of tenant {tenant}: {q}");
        let (_, q) = c.select_json(
            tenant,
            "api/v1/query_range",
            &[
                ("query", "tenant_metric"),
                ("start", &start),
                ("end", &end),
                ("step", "15"),
            ],
        );
        assert_eq!(jobs(&q), want, "range query of tenant {tenant}: {q}");
        let (_, s) = c.select_json(
            tenant,
            "api/v1/series",
            &[
                ("match[]", "{job=~\".+\"}"),
                ("start", &start),
                ("end", &end),
            ],
        );
        let series: Vec<String> = s["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["job"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(series, want, "series of tenant {tenant}: {s}");
        let (_, l) = c.select_json(
            tenant,
            "api/v1/label/job/values",
            &[("start", &start), ("end", &end)],
        );
        assert_eq!(
            l["data"],
            serde_json::json!(want),
            "label values of tenant {tenant}"
        );
        let (_, l) = c.select_json(tenant, "api/v1/labels", &[("start", &start), ("end", &end)]);
        let want_names: Vec<&str> = if job.is_empty() {
            vec![]
        } else {
            vec!["__name__", "instance", "job"]
        };
        assert_eq!(
            l["data"],
            serde_json::json!(want_names),
            "label names of tenant {tenant}"
        );
        let e = c.select_get(
            tenant,
            "api/v1/export",
            &[
                ("match[]", "{__name__=~\".+\"}"),
                ("start", &start),
                ("end", &end),
            ],
        );
        assert_eq!(e.status, 200);
        assert_eq!(
            e.text().lines().count(),
            want.len(),
            "export of tenant {tenant}: {}",
            e.text()
        );
        let f = c.select_get(
            tenant,
            "federate",
            &[("match[]", "{__name__=~\".+\"}"), ("time", &time)],
        );
        assert_eq!(
            f.text().lines().filter(|l| !l.starts_with('#')).count(),
            want.len(),
            "federate of tenant {tenant}: {}",
            f.text()
        );
        let (_, st) = c.select_json(
            tenant,
            "api/v1/status/tsdb",
            &[("start", &start), ("end", &end)],
        );
        assert_eq!(
            st["data"]["totalSeries"],
            serde_json::json!(want.len() as u64),
            "tsdb status of tenant {tenant}: {st}"
        );
    }
}
