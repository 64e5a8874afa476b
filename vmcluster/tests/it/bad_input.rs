//! Hostile and malformed requests get a 4xx with a message that names the problem, and every
//! process keeps serving.

use benches::http_client::encode_param;
use ingest::corpus::{Expect, bad_inputs};

use crate::harness::{Cluster, Options, now_ms, result, text_lines};

#[test]
fn bad_writes_and_queries_get_4xx_and_the_cluster_keeps_serving() {
    let c = Cluster::start(Options::default());
    let mut ins = c.insert_client();
    let mut checked = 0;
    for case in bad_inputs() {
        let path = format!("/insert/5/prometheus{}?{}", case.format.path(), case.query);
        let path = path.replace("/prometheus/influx/", "/influx/");
        let mut headers = Vec::new();
        if let Some(enc) = case.format.content_encoding() {
            headers.push(("Content-Encoding", enc));
        }
        let r = ins.post(&path, &headers, &case.body).unwrap();
        match case.expect {
            Expect::Reject(msg) => {
                assert_eq!(
                    r.status,
                    400,
                    "{}: want 400, got {} {}",
                    case.name,
                    r.status,
                    r.text()
                );
                assert!(
                    r.text().contains(msg),
                    "{}: body {:?} does not contain {msg:?}",
                    case.name,
                    r.text()
                );
            }
            Expect::Skip(_) => assert!(
                r.status / 100 == 2,
                "{}: {} {}",
                case.name,
                r.status,
                r.text()
            ),
        }
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} write cases");

    // HTTP-level write problems.
    #[track_caller]
    fn check(r: benches::http_client::Response, status: u16, needle: &str) {
        assert_eq!(r.status, status, "{}", r.text());
        assert!(
            r.text().contains(needle),
            "{:?} does not contain {needle:?}",
            r.text()
        );
    }
    check(
        ins.post("/insert/abc/prometheus/api/v1/write", &[], b"x")
            .unwrap(),
        400,
        "accountID",
    );
    check(
        ins.post("/insert/1/prometheus/api/v1/nowhere", &[], b"x")
            .unwrap(),
        404,
        "unsupported path",
    );
    check(
        ins.get("/insert/1/prometheus/api/v1/write").unwrap(),
        405,
        "POST",
    );
    check(
        ins.post(
            "/insert/1/prometheus/api/v1/import",
            &[("Content-Encoding", "br")],
            b"{}",
        )
        .unwrap(),
        415,
        "Content-Encoding",
    );
    let huge = vec![b'a'; 33 << 20];
    let mut big = c.insert_client();
    check(
        big.post("/insert/1/prometheus/api/v1/import/prometheus", &[], &huge)
            .unwrap(),
        413,
        "maxInsertRequestSize",
    );

    // Query API problems, each with Prometheus's error shape.
    let q = |params: &[(&str, &str)], api: &str| c.select_json("5", api, params);
    // (API path, parameters, status, text the error must contain)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);
    let cases: &[Case<'_>] = &[
        (
            "api/v1/query",
            &[("query", "sum(")],
            400,
            "unexpected end of input",
        ),
        (
            "api/v1/query",
            &[("query", "up{")],
            400,
            "unexpected end of input",
        ),
        ("api/v1/query", &[("query", "rate(up)[5m]")], 400, ""),
        ("api/v1/query", &[], 400, "missing parameter \"query\""),
        (
            "api/v1/query",
            &[("query", "up"), ("time", "tomorrow")],
            400,
            "\"time\"",
        ),
        (
            "api/v1/query",
            &[("query", "up"), ("timeout", "-1s")],
            400,
            "timeout",
        ),
        (
            "api/v1/query",
            &[("query", "{__name__=~\".*\"}")],
            400,
            "empty",
        ),
        (
            "api/v1/query",
            &[("query", "label_replace(up, \"x\", \"$1\", \"job\", \"(\")")],
            422,
            "",
        ),
        (
            "api/v1/query_range",
            &[
                ("query", "up"),
                ("start", "10"),
                ("end", "5"),
                ("step", "1"),
            ],
            400,
            "end timestamp must not be before start",
        ),
        (
            "api/v1/query_range",
            &[
                ("query", "up"),
                ("start", "0"),
                ("end", "100"),
                ("step", "0"),
            ],
            400,
            "zero or negative",
        ),
        (
            "api/v1/query_range",
            &[
                ("query", "up"),
                ("start", "0"),
                ("end", "100000000"),
                ("step", "1"),
            ],
            400,
            "maxPointsPerTimeseries",
        ),
        (
            "api/v1/query_range",
            &[("query", "up"), ("end", "100"), ("step", "1")],
            400,
            "missing parameter \"start\"",
        ),
        (
            "api/v1/query_range",
            &[
                ("query", "up"),
                ("start", "0"),
                ("end", "100"),
                ("step", "x"),
            ],
            400,
            "\"step\"",
        ),
        ("api/v1/series", &[], 400, "no match[]"),
        (
            "api/v1/series",
            &[("match[]", "sum(up)")],
            400,
            "not a series selector",
        ),
        ("api/v1/series", &[("match[]", "up{")], 400, "match[]"),
        ("api/v1/labels", &[("start", "x")], 400, "\"start\""),
        ("api/v1/label/job/values", &[("limit", "-3")], 400, "limit"),
        ("api/v1/nope", &[], 404, "unsupported path"),
    ];
    for (api, params, status, needle) in cases {
        let (st, body) = q(params, api);
        assert_eq!(st, *status, "{api} {params:?}: {body}");
        assert_eq!(body["status"], "error", "{body}");
        assert!(body["errorType"].is_string(), "{body}");
        assert!(
            body["error"].as_str().unwrap_or("").contains(needle),
            "{api} {params:?}: {body} lacks {needle:?}"
        );
    }
    let (st, body) = c.select_json("x:y", "api/v1/query", &[("query", "up")]);
    assert_eq!(st, 400, "{body}");
    let big_form = format!("query={}", encode_param(&"a".repeat(2 << 20)));
    let r = c
        .select_client()
        .post(
            "/select/5/prometheus/api/v1/query",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            big_form.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());

    // Everyone still serves: a good write and a good query work.
    let t = now_ms();
    let r = ins
        .post(
            "/insert/5/prometheus/api/v1/import/prometheus",
            &[],
            text_lines(&[("still_alive", 1.0, t)]).as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
    c.flush();
    let (st, v) = c.select_json(
        "5",
        "api/v1/query",
        &[
            ("query", "still_alive"),
            ("time", &(t as f64 / 1000.0).to_string()),
        ],
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(result(&v).len(), 1, "{v}\n{}", c.logs());
    let mut c = c;
    for s in &mut c.storages {
        assert!(
            s.proc_.is_running(),
            "{} died:\n{}",
            s.proc_.name,
            s.proc_.log_tail(3000)
        );
    }
    assert!(
        c.vminsert.is_running() && c.vmselect.is_running(),
        "{}",
        c.logs()
    );
}
