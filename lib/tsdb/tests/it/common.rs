//! Helpers shared by the integration tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tsdb::clock::ManualClock;
use tsdb::{Row, Table, TableConfig, Tenant, TimeRange, Tsid};

/// 2024-03-10T00:00:00Z.
pub const NOW: i64 = 1_710_028_800_000;
pub const DAY: i64 = 86_400_000;

pub fn tsid(metric_id: u64) -> Tsid {
    Tsid {
        tenant: Tenant::new(1, 0),
        metric_group_id: 1000 + metric_id / 10,
        job_id: 1,
        instance_id: (metric_id % 10) as u32,
        metric_id,
    }
}

pub fn row(metric_id: u64, timestamp: i64, value: f64) -> Row {
    Row {
        tsid: tsid(metric_id),
        timestamp,
        value,
    }
}

/// A config with a manual clock at [`NOW`] and background work slowed down so that tests
/// decide when flushes happen.
pub fn config(clock: &Arc<ManualClock>) -> TableConfig {
    TableConfig {
        clock: Arc::clone(clock) as _,
        flush_interval: Duration::from_secs(3600),
        inmemory_interval: Duration::from_secs(3600),
        ..TableConfig::default()
    }
}

pub fn open(dir: &Path, clock: &Arc<ManualClock>) -> Table {
    Table::open(dir, config(clock)).unwrap()
}

/// Every series' samples in `range` as (metric_id, timestamp, value bits).
pub fn read_all(table: &Table, ids: &[u64], range: TimeRange) -> Vec<(u64, i64, u64)> {
    let tsids: Vec<Tsid> = ids.iter().map(|&m| tsid(m)).collect();
    let mut s = table.search(&tsids, range).unwrap();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    while let Some(t) = s.next_samples(&mut ts, &mut vs) {
        let t = t.unwrap();
        out.extend(
            ts.iter()
                .zip(&vs)
                .map(|(a, b)| (t.metric_id, *a, b.to_bits())),
        );
    }
    out
}

/// Kills the child on every path out of a test.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One round of a crash test: runs the test `child_test` of this binary as a child process with
/// `envs`, waits for its first `ACK ` line, lets it run a random while below `max_wait_ms`
/// (drawn from `rng`, an xorshift state), kills it with SIGKILL and returns every line it
/// printed.
pub fn kill_child_after_first_ack(
    child_test: &str,
    envs: &[(&str, String)],
    rng: &mut u64,
    max_wait_ms: u64,
) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(&exe)
        .args([child_test, "--exact", "--nocapture", "--test-threads=1"])
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines.lock().unwrap().iter().any(|l| l.starts_with("ACK ")) {
        assert!(
            Instant::now() < deadline,
            "child never acknowledged a batch"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    std::thread::sleep(Duration::from_millis(*rng % max_wait_ms));
    drop(child); // SIGKILL and reap
    reader.join().unwrap();
    std::mem::take(&mut *lines.lock().unwrap())
}
