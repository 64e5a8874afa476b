//! A rolling restart: three storage nodes with `-replicationFactor=2` under remote_write load,
//! each restarted in turn with SIGTERM. No write fails after the sender's retries, no
//! acknowledged sample is lost, and the ingestion rate during the restarts is reported.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Cluster, Options, now_ms, one_sample_per_series, post_until_acked, result};

const SERIES: usize = 200;

/// Acknowledged samples with the time each request was acknowledged.
type Acked = Arc<Mutex<Vec<(Instant, usize, i64)>>>;

fn writer(addr: String, stop: Arc<AtomicBool>, acked: Acked, retries: Arc<Mutex<u64>>) {
    let mut client = benches::http_client::Client::new(addr, Duration::from_secs(30));
    let base = now_ms() - 600_000;
    let mut k = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let ts = base + k * 10;
        let body = one_sample_per_series("rolling_test", SERIES, ts, k as f64);
        let deadline = Instant::now() + Duration::from_secs(60);
        let acknowledged = post_until_acked(
            &mut client,
            &body,
            deadline,
            Duration::from_millis(50),
            |_| *retries.lock().unwrap() += 1,
        );
        assert!(
            acknowledged,
            "a write was not accepted within 60 s of retries"
        );
        let now = Instant::now();
        acked
            .lock()
            .unwrap()
            .extend((0..SERIES).map(|i| (now, i, ts)));
        k += 1;
    }
}

fn rate(acked: &Acked, from: Instant, to: Instant) -> f64 {
    let n = acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| *t >= from && *t < to)
        .count();
    n as f64 / to.duration_since(from).as_secs_f64()
}

#[test]
fn a_rolling_restart_under_load_loses_nothing() {
    let mut c = Cluster::start(Options {
        storage_nodes: 3,
        replication_factor: 2,
        ..Options::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Acked = Arc::new(Mutex::new(Vec::new()));
    let retries = Arc::new(Mutex::new(0u64));
    let w = {
        let (addr, stop, acked, retries) = (
            c.insert_addr.clone(),
            stop.clone(),
            acked.clone(),
            retries.clone(),
        );
        std::thread::spawn(move || writer(addr, stop, acked, retries))
    };
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let restart_start = Instant::now();
    for i in 0..c.storages.len() {
        let status = c.storages[i].proc_.terminate(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "node {i} did not stop cleanly on SIGTERM: {status:?}\n{}",
            c.storages[i].proc_.log_tail(3000)
        );
        // While a node is down, answers stay complete: every series has a copy elsewhere.
        let now = (now_ms() as f64 / 1000.0).to_string();
        let (st, v) = c.select_json(
            "0",
            "api/v1/query",
            &[
                ("query", "count(count_over_time(rolling_test[1h]))"),
                ("time", &now),
            ],
        );
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["isPartial"], false, "{v}");
        assert_eq!(result(&v)[0]["value"][1], SERIES.to_string(), "{v}");
        c.storages[i].proc_.restart().unwrap();
        let http = c.storages[i].http.clone();
        benches::procs::wait_http_ok(
            &mut c.storages[i].proc_,
            &http,
            "/health",
            Duration::from_secs(30),
        )
        .unwrap();
        std::thread::sleep(Duration::from_secs(1));
    }
    let restart_end = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    w.join().unwrap();

    let before = rate(&acked, t0, restart_start);
    let during = rate(&acked, restart_start, restart_end);
    println!(
        "rolling restart: {before:.0} samples/s before, {during:.0} samples/s during the restarts ({:.0}%), {} retried requests",
        100.0 * during / before.max(1.0),
        retries.lock().unwrap()
    );
    assert!(during > 0.0, "ingestion continued during the restarts");

    c.flush();
    let want: BTreeSet<(usize, i64)> = acked
        .lock()
        .unwrap()
        .iter()
        .map(|&(_, i, t)| (i, t))
        .collect();
    let e = c.select_get(
        "0",
        "api/v1/export",
        &[("match[]", "rolling_test"), ("start", "0")],
    );
    assert_eq!(e.status, 200);
    let mut stored = BTreeSet::new();
    for line in e.text().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let i: usize = v["metric"]["series"].as_str().unwrap().parse().unwrap();
        for t in v["timestamps"].as_array().unwrap() {
            stored.insert((i, t.as_i64().unwrap()));
        }
    }
    let missing = want.difference(&stored).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged samples lost\n{}",
        want.len(),
        c.logs()
    );
}
