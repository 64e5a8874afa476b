//! Three storage nodes with `-replicationFactor=2` under steady remote_write load: killing one
//! node with SIGKILL loses no acknowledged sample, answers stay complete, and the node rejoins.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Cluster, Options, now_ms, one_sample_per_series, post_until_acked, result};

const SERIES: usize = 40;

/// Sends one request per 100 ms, retrying each until it gets a 2xx as Prometheus does, and
/// records what was acknowledged: (series index, timestamp).
fn writer(
    addr: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(usize, i64)>>>,
    failures: Arc<Mutex<Vec<String>>>,
) {
    let mut client = benches::http_client::Client::new(addr, Duration::from_secs(30));
    let base = now_ms() - 120_000;
    let mut k = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let ts = base + k * 100;
        let body = one_sample_per_series("repl_test", SERIES, ts, k as f64);
        let deadline = Instant::now() + Duration::from_secs(30);
        let acknowledged = post_until_acked(
            &mut client,
            &body,
            deadline,
            Duration::from_millis(100),
            |failure| failures.lock().unwrap().push(failure),
        );
        assert!(
            acknowledged,
            "request {k} never acknowledged: {:?}",
            failures.lock().unwrap().last()
        );
        acked.lock().unwrap().extend((0..SERIES).map(|i| (i, ts)));
        k += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn node_rows(c: &Cluster, i: usize) -> f64 {
    let r = benches::http_client::Client::new(c.storages[i].http.clone(), Duration::from_secs(5))
        .get("/metrics")
        .unwrap();
    let text = r.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("vm_vminsert_rows_inserted_total "))
        .unwrap_or("x 0");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_killed_storage_node_loses_no_acknowledged_sample_and_rejoins() {
    let mut c = Cluster::start(Options {
        storage_nodes: 3,
        replication_factor: 2,
        ..Options::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let w = {
        let (addr, stop, acked, failures) = (
            c.insert_addr.clone(),
            stop.clone(),
            acked.clone(),
            failures.clone(),
        );
        std::thread::spawn(move || writer(addr, stop, acked, failures))
    };
    std::thread::sleep(Duration::from_secs(3));
    c.storages[1].proc_.kill();
    std::thread::sleep(Duration::from_secs(3));

    // With one of three nodes down and two copies of everything, answers are complete.
    let now = (now_ms() as f64 / 1000.0).to_string();
    let (st, v) = c.select_json(
        "0",
        "api/v1/query",
        &[
            ("query", "count(count_over_time(repl_test[10m]))"),
            ("time", &now),
        ],
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["isPartial"], false, "{v}");
    assert_eq!(result(&v)[0]["value"][1], SERIES.to_string(), "{v}");

    c.storages[1].proc_.restart().unwrap();
    let addr = c.storages[1].http.clone();
    benches::procs::wait_http_ok(
        &mut c.storages[1].proc_,
        &addr,
        "/health",
        Duration::from_secs(30),
    )
    .unwrap();
    let before = node_rows(&c, 1);
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    w.join().unwrap();
    assert!(
        node_rows(&c, 1) > before,
        "the restarted node gets rows again\n{}",
        c.logs()
    );

    c.flush();
    let acked: BTreeSet<(usize, i64)> = acked.lock().unwrap().iter().copied().collect();
    assert!(
        acked.len() > 40 * SERIES,
        "the load ran: {} samples",
        acked.len()
    );
    let e = c.select_get(
        "0",
        "api/v1/export",
        &[("match[]", "repl_test"), ("start", "0")],
    );
    assert_eq!(e.status, 200);
    let mut stored = BTreeSet::new();
    for line in e.text().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let i: usize = v["metric"]["series"].as_str().unwrap().parse().unwrap();
        for t in v["timestamps"].as_array().unwrap() {
            assert!(
                stored.insert((i, t.as_i64().unwrap())),
                "sample ({i}, {t}) exported twice"
            );
        }
    }
    let missing: Vec<_> = acked.difference(&stored).take(10).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged samples missing, e.g. {missing:?}\n{}",
        acked.difference(&stored).count(),
        c.logs()
    );
    let (_, v) = c.select_json(
        "0",
        "api/v1/query",
        &[("query", "count(repl_test)"), ("time", &now)],
    );
    assert_eq!(v["isPartial"], false, "{v}");
}
