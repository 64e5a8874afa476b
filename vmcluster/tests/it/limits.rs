//! Query limits fail with messages that name their flags; partial answers are flagged or
//! refused; a read-only storage node's rows go to the others.

use crate::harness::{Cluster, Options, now_ms, result, text_lines};

fn write_series(c: &Cluster, tenant: &str, n: usize, per_series: i64, t: i64) {
    let lines: Vec<(String, f64, i64)> = (0..n)
        .flat_map(|i| {
            (0..per_series)
                .map(move |k| (format!("limit_test{{i=\"{i}\"}}"), k as f64, t + k * 15_000))
        })
        .collect();
    let refs: Vec<(&str, f64, i64)> = lines.iter().map(|(s, v, t)| (s.as_str(), *v, *t)).collect();
    let r = c
        .insert_client()
        .post(
            &format!("/insert/{tenant}/prometheus/api/v1/import/prometheus"),
            &[],
            text_lines(&refs).as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn limits_name_their_flags() {
    let c = Cluster::start(Options {
        extra_select_flags: vec![
            "-search.maxUniqueTimeseries=5".into(),
            "-search.maxSamplesPerQuery=35".into(),
            "-search.maxPointsPerTimeseries=100".into(),
        ],
        ..Options::default()
    });
    let t = now_ms() - 600_000;
    write_series(&c, "0", 8, 10, t);
    // Tenant 1: many series with one sample each, to hit the series limit before the samples one.
    write_series(&c, "1", 8, 1, t);
    c.flush();
    let at = ((t + 150_000) / 1000).to_string();
    let (st, v) = c.select_json(
        "1",
        "api/v1/query",
        &[("query", "limit_test"), ("time", &at)],
    );
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("-search.maxUniqueTimeseries"),
        "{v}"
    );
    let (st, v) = c.select_json(
        "0",
        "api/v1/query",
        &[
            (
                "query",
                "sum(count_over_time(limit_test{i=~\"[0-3]\"}[10m]))",
            ),
            ("time", &at),
        ],
    );
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("-search.maxSamplesPerQuery"),
        "{v}"
    );
    let (st, v) = c.select_json(
        "0",
        "api/v1/query_range",
        &[
            ("query", "limit_test{i=\"1\"}"),
            ("start", "0"),
            ("end", "1000"),
            ("step", "1"),
        ],
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("-search.maxPointsPerTimeseries"),
        "{v}"
    );
    // Within the limits, the same data answers.
    let (st, v) = c.select_json(
        "0",
        "api/v1/query",
        &[("query", "limit_test{i=~\"[0-2]\"}"), ("time", &at)],
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(result(&v).len(), 3, "{v}");
}

/// Waits (at most 5 s) until `/proc/<pid>/stat` shows the process stopped (state `T`).
fn wait_until_stopped(pid: libc::pid_t) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses and may hold spaces.
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if state == Some('T') {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} did not stop: {stat}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn a_missing_node_makes_answers_partial_or_refused() {
    let mut c = Cluster::start(Options {
        storage_nodes: 2,
        replication_factor: 1,
        ..Options::default()
    });
    let t = now_ms() - 600_000;
    write_series(&c, "0", 8, 10, t);
    c.flush();
    let at = ((t + 150_000) / 1000).to_string();
    let (_, v) = c.select_json(
        "0",
        "api/v1/query",
        &[("query", "count(limit_test)"), ("time", &at)],
    );
    assert_eq!(v["isPartial"], false, "{v}");
    assert_eq!(result(&v)[0]["value"][1], "8", "{v}");
    // A hung storage node (stopped, not dead: connections stay open) makes a query run into
    // its deadline; it fails as a timeout that names the flag instead of hanging.
    let pid = c.storages[1].proc_.pid().unwrap() as libc::pid_t;
    // SAFETY: kill(2) on a child we started, with a valid signal; no memory effects.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // kill(2) returns before a node running on the other core has stopped: a fast query could
    // still be answered by it. Wait until the kernel reports the process stopped.
    wait_until_stopped(pid);
    let started = std::time::Instant::now();
    let (st, v) = c.select_json(
        "0",
        "api/v1/query",
        &[
            ("query", "count(limit_test)"),
            ("time", &at),
            ("timeout", "1"),
        ],
    );
    let took = started.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(st, 503, "after {took:?}: {v}");
    assert_eq!(v["errorType"], "timeout", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("-search.maxQueryDuration"),
        "{v}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the deadline held"
    );
    c.storages[1].proc_.kill();
    let (st, v) = c.select_json(
        "0",
        "api/v1/query",
        &[("query", "count(limit_test)"), ("time", &at)],
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["isPartial"], true, "{v}");
    let (st, v) = c.select_json(
        "0",
        "api/v1/query",
        &[
            ("query", "count(limit_test)"),
            ("time", &at),
            ("deny_partial_response", "1"),
        ],
    );
    assert_eq!(st, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("partial"), "{v}");
    let (st, v) = c.select_json("0", "api/v1/series", &[("match[]", "limit_test")]);
    assert_eq!(
        (st, &v["isPartial"]),
        (200, &serde_json::json!(true)),
        "{v}"
    );
    c.storages[0].proc_.kill();
    let (st, v) = c.select_json(
        "0",
        "api/v1/query",
        &[("query", "count(limit_test)"), ("time", &at)],
    );
    assert_eq!(st, 503, "all nodes down must fail: {v}");
}

#[test]
fn a_read_only_node_sends_rows_elsewhere() {
    let c = Cluster::start(Options {
        storage_nodes: 2,
        replication_factor: 1,
        ..Options::default()
    });
    // Restart node 0 as read-only: it needs more free disk than any machine has.
    let mut c = c;
    let args_note = "read-only node";
    c.storages[0].proc_.kill();
    let s0 = &c.storages[0];
    let log = std::env::temp_dir().join(format!("ro-{}.log", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let mut ro = benches::procs::Proc::start(
        "vmstorage-ro",
        &benches::procs::bin("vmstorage").unwrap(),
        &[
            format!("-storageDataPath={}", dir.path().display()),
            format!("-httpListenAddr={}", s0.http),
            format!("-vminsertAddr={}", s0.insert),
            format!("-vmselectAddr={}", s0.select),
            "-storage.minFreeDiskSpaceBytes=1000TB".into(),
        ],
        &log,
    )
    .unwrap();
    benches::procs::wait_http_ok(
        &mut ro,
        &s0.http,
        "/health",
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let t = now_ms() - 600_000;
    for round in 0..5 {
        let lines: Vec<String> = (0..20)
            .map(|i| format!("ro_test{{i=\"{i}\"}} {round} {}\n", t + round * 1000))
            .collect();
        let r = c
            .insert_client()
            .post(
                "/insert/0/prometheus/api/v1/import/prometheus",
                &[],
                lines.concat().as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 204, "{args_note}: {}", r.text());
    }
    c.flush();
    let metrics =
        benches::http_client::Client::new(s0.http.clone(), std::time::Duration::from_secs(5))
            .get("/metrics")
            .unwrap()
            .text();
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("vm_vminsert_batches_refused_total "))
        .unwrap_or("none");
    assert_ne!(refused, "vm_vminsert_batches_refused_total 0", "{metrics}");
    let (_, v) = c.select_json(
        "0",
        "api/v1/query",
        &[
            ("query", "count(count_over_time(ro_test[10m]))"),
            ("time", &((t + 5000) / 1000).to_string()),
        ],
    );
    assert_eq!(result(&v)[0]["value"][1], "20", "{v}\n{}", c.logs());
    drop(ro);
}

#[test]
fn too_few_nodes_for_the_copies_answer_503_and_post_forms_query_like_get() {
    let mut c = Cluster::start(Options {
        storage_nodes: 2,
        replication_factor: 2,
        ..Options::default()
    });
    let t = now_ms() - 600_000;
    write_series(&c, "0", 3, 2, t);
    c.flush();
    let at = ((t + 20_000) / 1000).to_string();
    let form = format!("query=count(limit_test)&time={at}");
    let r = c
        .select_client()
        .post(
            "/select/0/prometheus/api/v1/query",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(result(&v)[0]["value"][1], "3", "{v}");
    // Two copies cannot be placed on distinct nodes with one node left: the client gets a
    // 503 (which Prometheus retries) instead of a silently under-replicated write.
    c.storages[1].proc_.kill();
    let body = text_lines(&[("limit_test{i=\"9\"}", 1.0, t)]);
    let r = c
        .insert_client()
        .post(
            "/insert/0/prometheus/api/v1/import/prometheus",
            &[],
            body.as_bytes(),
        )
        .unwrap();
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        r.text().contains("storage nodes are available"),
        "{}",
        r.text()
    );
}
