//! A real Prometheus scrapes itself and remote-writes to vminsert; after a minute, a fixed set
//! of instant and range queries and label and series lookups give the same answers from
//! vmselect as from that Prometheus.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use benches::http_client::{Client, encode_param};
use benches::procs::{Proc, free_port, wait_http_ok};
use serde_json::Value;

use crate::harness::{Cluster, Options};

const SCRAPE_INTERVAL_S: f64 = 2.0;

fn prometheus_bin() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "/usr/bin/prometheus".into()),
    );
    assert!(
        p.is_file(),
        "{} not found: install Prometheus (apt-get install prometheus) or set PROMETHEUS_BIN",
        p.display()
    );
    p
}

fn get_json(client: &mut Client, path: &str) -> Value {
    let r = client
        .get(path)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.text()))
}

fn query_path(prefix: &str, api: &str, params: &[(&str, String)]) -> String {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_param(v)))
        .collect();
    format!("{prefix}/api/v1/{api}?{}", q.join("&"))
}

fn num(v: &Value) -> f64 {
    match v.as_str().unwrap_or("") {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap_or_else(|_| panic!("not a number: {v}")),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * (a.abs() + b.abs())
}

/// Series of a query answer by label set: `(timestamp, value)` points.
fn series_of(answer: &Value) -> BTreeMap<String, Vec<(f64, f64)>> {
    let data = &answer["data"];
    let mut out = BTreeMap::new();
    match data["resultType"].as_str() {
        Some("scalar") => {
            out.insert(
                "scalar".into(),
                vec![(
                    data["result"][0].as_f64().unwrap_or(0.0),
                    num(&data["result"][1]),
                )],
            );
        }
        Some("vector") | Some("matrix") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let key = s["metric"].to_string();
                let points: Vec<(f64, f64)> = match (&s["value"], &s["values"]) {
                    (Value::Array(p), _) => vec![(p[0].as_f64().unwrap_or(0.0), num(&p[1]))],
                    (_, Value::Array(ps)) => ps
                        .iter()
                        .map(|p| (p[0].as_f64().unwrap_or(0.0), num(&p[1])))
                        .collect(),
                    _ => panic!("unexpected series {s}"),
                };
                out.insert(key, points);
            }
        }
        other => panic!("unexpected result type {other:?} in {answer}"),
    }
    out
}

/// Compares two answers; with `values_only`, compares the sorted values (for `topk`, whose
/// choice among equal values is unspecified).
fn diff(ours: &Value, theirs: &Value, values_only: bool) -> Option<String> {
    let (a, b) = (series_of(ours), series_of(theirs));
    if values_only {
        let vals = |m: &BTreeMap<String, Vec<(f64, f64)>>| {
            let mut v: Vec<f64> = m.values().flatten().map(|p| p.1).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let (va, vb) = (vals(&a), vals(&b));
        return (va.len() != vb.len() || va.iter().zip(&vb).any(|(x, y)| !close(*x, *y)))
            .then(|| format!("values differ: ours {va:?}, Prometheus {vb:?}"));
    }
    if a.keys().ne(b.keys()) {
        let only_ours: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
        let only_theirs: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
        return Some(format!(
            "series differ: only ours {only_ours:?}, only Prometheus {only_theirs:?}"
        ));
    }
    for (k, pa) in &a {
        let pb = &b[k];
        let same = pa.len() == pb.len()
            && pa
                .iter()
                .zip(pb)
                .all(|(x, y)| (x.0 - y.0).abs() < 1e-6 && close(x.1, y.1));
        if !same {
            return Some(format!("{k}: ours {pa:?}, Prometheus {pb:?}"));
        }
    }
    None
}

#[test]
fn answers_match_a_real_prometheus_that_remote_writes_to_the_cluster() {
    let prom_bin = prometheus_bin();
    let c = Cluster::start(Options::default());
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prom_addr = format!("127.0.0.1:{port}");
    let config = format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\n  evaluation_interval: 10s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['{prom_addr}']\n\
         remote_write:\n  - url: http://{}/insert/0/prometheus/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        c.insert_addr
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let args = vec![
        format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address={prom_addr}"),
        "--log.level=warn".to_string(),
    ];
    let mut prom = Proc::start(
        "prometheus",
        &prom_bin,
        &args,
        &dir.path().join("prometheus.log"),
    )
    .unwrap();
    wait_http_ok(&mut prom, &prom_addr, "/-/ready", Duration::from_secs(60)).unwrap();
    let started = crate::harness::now_ms() as f64 / 1000.0;
    let mut pc = Client::new(prom_addr.clone(), Duration::from_secs(30));
    let mut sc = c.select_client();
    // Evaluate midway between two scrapes, well behind the newest one, so that both sides
    // hold the same samples and no window edge falls on a sample (Prometheus 2.42 windows
    // include their left edge, Prometheus 3's do not). Wait until every window below starts
    // after the first scrape and a minute of data exists: rate() extrapolates differently
    // where a series starts inside the window (Prometheus 3 caps the extrapolation at the
    // counter's zero point after its half-interval rule, Prometheus 2.42 before it; see
    // docs/promql.md).
    let deadline = Instant::now() + Duration::from_secs(240);
    let t = loop {
        std::thread::sleep(Duration::from_secs(5));
        let now = crate::harness::now_ms() as f64 / 1000.0;
        let params = [
            ("query", "timestamp(up)".to_string()),
            ("start", (started - 5.0).to_string()),
            ("end", now.to_string()),
            ("step", "1".to_string()),
        ];
        let ts = get_json(&mut pc, &query_path("", "query_range", &params));
        let points = ts["data"]["result"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let (Some(first), Some(last)) = (points.first(), points.last()) {
            let (first, last) = (num(&first[1]), num(&last[1]));
            let t = ((last - 20.0 + SCRAPE_INTERVAL_S / 2.0) * 1000.0).round() / 1000.0;
            if t - 60.0 > first + 2.0 * SCRAPE_INTERVAL_S && last - first >= 60.0 {
                break t;
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape for a minute:\n{}",
            prom.log_tail(3000)
        );
    };
    let (start, end, step) = (t - 30.0, t, 10.0);

    let instant: &[(&str, bool)] = &[
        ("up", false),
        ("prometheus_http_requests_total", false),
        ("rate(prometheus_http_requests_total[30s])", false),
        (
            "increase(prometheus_http_requests_total{handler=\"/metrics\"}[30s])",
            false,
        ),
        (
            "sum by (job) (rate(prometheus_tsdb_head_samples_appended_total[30s]))",
            false,
        ),
        (
            "sum by (handler) (rate(prometheus_http_request_duration_seconds_count[30s]))",
            false,
        ),
        ("topk(3, {__name__=~\"go_memstats_.*_bytes\"})", true),
        (
            "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[30s])))",
            false,
        ),
        (
            "histogram_quantile(0.5, sum by (le, handler) (rate(prometheus_http_response_size_bytes_bucket[30s])))",
            false,
        ),
        (
            "go_memstats_heap_inuse_bytes / go_memstats_heap_sys_bytes",
            false,
        ),
        ("max_over_time(go_goroutines[30s])", false),
        ("avg_over_time(process_resident_memory_bytes[30s])", false),
        (
            "count by (__name__) ({__name__=~\"prometheus_tsdb_head_.*\"})",
            false,
        ),
        ("deriv(process_cpu_seconds_total[30s])", false),
        ("scalar(sum(up))", false),
    ];
    let mut failures = Vec::new();
    for (q, values_only) in instant {
        for (api, params) in [
            (
                "query",
                vec![("query", q.to_string()), ("time", t.to_string())],
            ),
            (
                "query_range",
                vec![
                    ("query", q.to_string()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("step", step.to_string()),
                ],
            ),
        ] {
            let theirs = get_json(&mut pc, &query_path("", api, &params));
            assert!(
                !series_of(&theirs).is_empty(),
                "Prometheus has no data for {api} {q}: {theirs}"
            );
            // Our side may lag by a remote-write batch: retry briefly before calling it a difference.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let ours = get_json(&mut sc, &query_path("/select/0/prometheus", api, &params));
                assert_eq!(ours["isPartial"], false, "{ours}");
                match diff(&ours, &theirs, *values_only) {
                    None => break,
                    Some(d) if Instant::now() > deadline => {
                        failures.push(format!("{api} {q}: {d}"));
                        break;
                    }
                    Some(_) => std::thread::sleep(Duration::from_secs(1)),
                }
            }
        }
    }
    let window = [("start", start.to_string()), ("end", end.to_string())];
    let lookups: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("labels", vec![("match[]", "up".into())]),
        ("labels", vec![("match[]", "go_goroutines".into())]),
        ("label/job/values", vec![]),
        (
            "label/__name__/values",
            vec![("match[]", "{__name__=~\"prometheus_tsdb_head_.*\"}".into())],
        ),
        ("series", vec![("match[]", "go_goroutines".into())]),
        (
            "series",
            vec![(
                "match[]",
                "prometheus_http_request_duration_seconds_count".into(),
            )],
        ),
    ];
    for (api, mut params) in lookups {
        params.extend(window.iter().cloned());
        let normalize = |v: &Value| {
            let mut items: Vec<String> = v["data"]
                .as_array()
                .unwrap_or(&vec![])
                .iter()
                .map(Value::to_string)
                .collect();
            items.sort();
            items
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let theirs = normalize(&get_json(&mut pc, &query_path("", api, &params)));
            let ours = normalize(&get_json(
                &mut sc,
                &query_path("/select/0/prometheus", api, &params),
            ));
            assert!(
                !theirs.is_empty(),
                "Prometheus answers nothing for {api} {params:?}"
            );
            if ours == theirs {
                break;
            }
            if Instant::now() > deadline {
                failures.push(format!(
                    "{api} {params:?}: ours {ours:?}, Prometheus {theirs:?}"
                ));
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}\n{}",
        failures.len(),
        failures.join("\n"),
        c.logs()
    );
    drop(prom);
}
