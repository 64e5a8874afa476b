//! Crash safety: a child process registers series as fast as it can while flushes and merges
//! run every few milliseconds; the parent kills it with SIGKILL at a random moment, reopens
//! the index and checks that every series the child reported as registered resolves to the
//! same Tsid and that no Tsid is shared by two names. 20 rounds on one directory.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tsdb::TimeRange;
use tsdb::clock::ManualClock;
use tsdb::index::{IndexConfig, IndexDb, LabelMatcher, MatchKind, Row};
use tsdb::{Tenant, mergeset};

use super::{T0, name};

const ENV_DIR: &str = "TSDB_INDEX_CRASH_CHILD_DIR";
const ENV_ROUND: &str = "TSDB_INDEX_CRASH_CHILD_ROUND";
const ROUNDS: u64 = 20;
const TENANT: Tenant = Tenant::new(5, 6);

fn cfg() -> IndexConfig {
    IndexConfig {
        table: mergeset::Config {
            flush_interval: Duration::from_millis(15),
            max_pending_items: 256,
            ..mergeset::Config::default()
        },
        ..IndexConfig::default()
    }
}

fn series_name(i: u64) -> Vec<u8> {
    name(&[
        ("__name__", &format!("metric_{}", i % 7)),
        ("i", &i.to_string()),
        ("job", "crash"),
    ])
}

/// The child: registers batches of series (half of them seen in earlier rounds) and prints
/// `REG <i> <metric_id>` after each batch returns. Does nothing unless the parent set the
/// environment; gives up by itself after 20 s.
#[test]
#[ignore = "run by crash_kill_rounds in a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let round: u64 = std::env::var(ENV_ROUND)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let idx =
        IndexDb::open(dir.as_ref(), cfg(), ManualClock::new(T0)).expect("child opens the index");
    let started = Instant::now();
    let mut next = round * 1_000_000;
    let mut out = Vec::new();
    let mut stdout = std::io::stdout().lock();
    while started.elapsed() < Duration::from_secs(20) {
        let ids: Vec<u64> = (0..32)
            .map(|k| {
                if k % 2 == 0 {
                    next + k
                } else {
                    (next + k * 7919) % (round * 1_000_000 + 1)
                }
            })
            .collect();
        next += 32;
        let names: Vec<Vec<u8>> = ids.iter().map(|&i| series_name(i)).collect();
        let rows: Vec<Row<'_>> = names
            .iter()
            .map(|n| Row {
                tenant: TENANT,
                name: n,
                timestamp_ms: T0,
            })
            .collect();
        idx.get_or_create_tsids(&rows, &mut out).expect("register");
        for (i, t) in ids.iter().zip(&out) {
            use std::io::Write;
            writeln!(stdout, "REG {i} {}", t.metric_id).expect("report");
        }
        use std::io::Write;
        stdout.flush().expect("flush report");
    }
}

#[test]
fn crash_kill_rounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary path");
    let mut reported: HashMap<u64, u64> = HashMap::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    for round in 1..=ROUNDS {
        assert!(Instant::now() < deadline, "crash rounds took over 120 s");
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV_DIR, dir.path())
            .env(ENV_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.push(line);
            }
            lines
        });
        // Wait for the first report (the child is up), then kill at a random moment.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(100 + rng % 250));
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child");
        let lines = reader.join().expect("reader thread");
        let mut n = 0;
        for line in &lines {
            let mut f = line.split_whitespace();
            if f.next() != Some("REG") {
                continue;
            }
            // A line cut by the kill has no id or a partial one: only take complete numbers
            // that were followed by a newline, which `lines()` guarantees except at the end.
            let (Some(i), Some(id)) = (
                f.next().and_then(|s| s.parse::<u64>().ok()),
                f.next().and_then(|s| s.parse::<u64>().ok()),
            ) else {
                continue;
            };
            if line == lines.last().expect("non-empty") {
                continue; // possibly torn
            }
            if let Some(prev) = reported.insert(i, id) {
                assert_eq!(
                    prev, id,
                    "round {round}: series {i} was reported with two metric ids"
                );
            }
            n += 1;
        }
        // Reopen and check every reported series.
        let idx =
            IndexDb::open(dir.path(), cfg(), ManualClock::new(T0)).expect("reopen after kill");
        let mut by_id: HashMap<u64, u64> = HashMap::new();
        for (&i, &id) in &reported {
            let got = idx
                .get_or_create_tsid(TENANT, &series_name(i), T0)
                .expect("lookup");
            assert_eq!(
                got.metric_id, id,
                "round {round}: series {i} lost its Tsid ({n} reports this round)"
            );
            if let Some(other) = by_id.insert(id, i) {
                panic!("round {round}: series {i} and {other} share metric id {id}");
            }
        }
        assert_eq!(
            idx.stats().new_series_created,
            0,
            "round {round}: a reported series was registered again"
        );
        let all = [LabelMatcher::new("job", MatchKind::Eq, "crash")];
        let tsids = idx
            .search_tsids(TENANT, &all, TimeRange::ALL, usize::MAX)
            .expect("search");
        let names = idx
            .series(TENANT, &all, TimeRange::ALL, usize::MAX)
            .expect("series");
        assert_eq!(
            tsids.len(),
            names.len(),
            "round {round}: every Tsid has exactly one name"
        );
        idx.close().expect("close");
    }
    assert!(
        reported.len() > 1000,
        "only {} series were reported",
        reported.len()
    );
}
