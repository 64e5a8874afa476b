//! `kill -9` of a process adding rows *by labels* through the Storage API loses no
//! acknowledged row and leaves a storage that reopens and merges cleanly.
//!
//! The test binary re-runs itself as the writer (`storage::crash::writer_child` with
//! `TSDB_STORAGE_CRASH_DIR` set): it adds batches that mix new series and series of earlier
//! batches and rounds, and prints `ACK <batch>` as soon as `add_rows` returned. The parent
//! kills it with SIGKILL after a random delay, reopens the storage and checks that every
//! acknowledged row is found exactly once by a label-matcher search, that each name has one
//! Tsid, and, every other round, that the storage merges cleanly into parts without a
//! duplicate row.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use tsdb::clock::ManualClock;
use tsdb::index::{IndexConfig, MatchKind};
use tsdb::storage::{MetricRow, Storage, StorageConfig};
use tsdb::{TableConfig, TimeRange, mergeset};

use super::{TENANT, m, name};
use crate::common::kill_child_after_first_ack;

const DIR_ENV: &str = "TSDB_STORAGE_CRASH_DIR";
const ROUND_ENV: &str = "TSDB_STORAGE_CRASH_ROUND";
const BASE: i64 = 1_700_000_000_000;
const ROUNDS: u64 = 24;
/// Rows per batch: half new series, half series seen before.
const BATCH: u64 = 16;

fn config() -> StorageConfig {
    StorageConfig {
        table: TableConfig {
            clock: ManualClock::new(BASE + 86_400_000) as _,
            retention_ms: i64::MAX / 2,
            inmemory_interval: Duration::from_millis(3),
            flush_interval: Duration::from_millis(15),
            ..TableConfig::default()
        },
        index: IndexConfig {
            table: mergeset::Config {
                flush_interval: Duration::from_millis(15),
                max_pending_items: 64,
                ..mergeset::Config::default()
            },
            ..IndexConfig::default()
        },
    }
}

/// Batch ids are unique over all rounds; a batch's rows all carry its id as timestamp offset
/// and value.
fn batch_id(round: u64, k: u64) -> u64 {
    round * 1_000_000 + k
}

/// The series of a batch: `BATCH / 2` new ones and as many of earlier batches (this round's
/// or the previous round's).
fn series_of(b: u64) -> Vec<u64> {
    let (round, k) = (b / 1_000_000, b % 1_000_000);
    let new = (0..BATCH / 2).map(|j| b * 16 + j);
    let old = (0..BATCH / 2).map(move |j| {
        let earlier = if k > j {
            batch_id(round, (k - j) / 2)
        } else {
            batch_id(round.saturating_sub(1), j)
        };
        earlier * 16 + j
    });
    let mut all: Vec<u64> = new.chain(old).collect();
    all.sort_unstable();
    all.dedup();
    all
}

fn series_name(s: u64) -> Vec<u8> {
    name(&[
        ("__name__", &format!("crash_metric_{}", s % 5)),
        ("job", "crash"),
        ("series", &s.to_string()),
    ])
}

/// The writer, run only inside a child process.
#[test]
fn writer_child() {
    let (Ok(dir), Ok(round)) = (std::env::var(DIR_ENV), std::env::var(ROUND_ENV)) else {
        return; // not the child: nothing to do
    };
    let round: u64 = round.parse().unwrap();
    let storage = Storage::open(Path::new(&dir), config()).unwrap();
    let mut out = std::io::stdout().lock();
    let started = Instant::now();
    for k in 0.. {
        // Gives up by itself should the parent never kill it.
        assert!(started.elapsed() < Duration::from_secs(30));
        let b = batch_id(round, k);
        let names: Vec<Vec<u8>> = series_of(b).into_iter().map(series_name).collect();
        let rows: Vec<MetricRow<'_>> = names
            .iter()
            .map(|n| MetricRow {
                tenant: TENANT,
                name: n,
                timestamp: BASE + b as i64,
                value: b as f64,
            })
            .collect();
        storage.add_rows(&rows).unwrap();
        writeln!(out, "ACK {b}").unwrap();
        out.flush().unwrap();
        // Pace the writer so that rounds stay small and quick to verify.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Checks every acknowledged row and returns how many raw copies beyond the first there are.
///
/// A search (`search_samples`) must show each acknowledged row exactly once, with its value,
/// under one Tsid per name. In the raw blocks a row may be held twice after a crash: a kill
/// between a flush publishing a part and the deletion of the WAL segments it covers replays
/// those rows at open. Searches and merges collapse such copies (same timestamp and value);
/// with `merged`, there must be none left.
fn verify(s: &Storage, acked: &[u64], round: u64, merged: bool) -> usize {
    let crash = [m("job", MatchKind::Eq, "crash")];
    let mut search = s
        .search(TENANT, &crash, TimeRange::ALL, usize::MAX)
        .unwrap();
    let mut raw: HashMap<(Vec<u8>, i64), u32> = HashMap::new();
    let mut tsid_of: HashMap<Vec<u8>, u64> = HashMap::new();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    while let Some(f) = search.next_series() {
        let f = f.unwrap();
        let prev = tsid_of.insert(f.name.clone(), f.tsid.metric_id);
        assert!(
            prev.is_none(),
            "round {round}: a name found twice (two Tsids)"
        );
        for block in &f.blocks {
            ts.clear();
            vs.clear();
            block.decode_into(&mut ts, &mut vs).unwrap();
            for (&t, &v) in ts.iter().zip(&vs) {
                assert_eq!(v, (t - BASE) as f64, "round {round}: a value never written");
                *raw.entry((f.name.clone(), t)).or_default() += 1;
            }
        }
    }
    let mut found: HashMap<(Vec<u8>, i64), u32> = HashMap::new();
    for x in s
        .search_samples(TENANT, &crash, TimeRange::ALL, usize::MAX)
        .unwrap()
    {
        for &t in &x.timestamps {
            *found.entry((x.name.clone(), t)).or_default() += 1;
        }
    }
    for &b in acked {
        for sid in series_of(b) {
            let key = (series_name(sid), BASE + b as i64);
            let n = found.get(&key).copied();
            assert_eq!(
                n,
                Some(1),
                "round {round}: acknowledged row of series {sid} in batch {b} found {n:?} times"
            );
        }
    }
    let copies = raw.values().map(|&n| n as usize - 1).sum();
    assert!(
        !merged || copies == 0,
        "round {round}: {copies} raw duplicates after force_merge"
    );
    copies
}

#[test]
fn kill_9_loses_no_row_added_by_labels() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut acked: Vec<u64> = Vec::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut replayed_copies = 0;
    for round in 1..=ROUNDS {
        let lines = kill_child_after_first_ack(
            "storage::crash::writer_child",
            &[
                (DIR_ENV, dir.path().display().to_string()),
                (ROUND_ENV, round.to_string()),
            ],
            &mut rng,
            200,
        );
        let before = acked.len();
        for line in &lines {
            // Each report is one `write` of a few bytes to a pipe: never torn.
            if let Some(b) = line.strip_prefix("ACK ").and_then(|b| b.parse().ok()) {
                acked.push(b);
            }
        }
        assert!(acked.len() > before, "round {round} acknowledged nothing");

        let s = Storage::open(dir.path(), config()).unwrap();
        replayed_copies += verify(&s, &acked, round, false);
        assert_eq!(
            s.stats().new_series,
            0,
            "round {round}: reopening registered series"
        );
        if round % 2 == 0 {
            s.force_merge().unwrap();
            verify(&s, &acked, round, true);
            assert_eq!(s.stats().background_errors, 0);
        }
        drop(s); // no clean close: the next child replays whatever the WALs hold
    }
    let s = Storage::open(dir.path(), config()).unwrap();
    s.force_merge().unwrap();
    verify(&s, &acked, ROUNDS + 1, true);
    s.close().unwrap();
    eprintln!(
        "storage crash test: {ROUNDS} rounds, {} acknowledged batches, {replayed_copies} raw copies replayed (collapsed by searches and merges), {:?}",
        acked.len(),
        started.elapsed()
    );
}
