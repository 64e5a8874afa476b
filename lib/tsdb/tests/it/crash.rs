//! `kill -9` at random moments loses no acknowledged row and leaves a table that opens and
//! merges cleanly.
//!
//! The test binary re-runs itself as the writer (`crash::writer_child` with `TSDB_CRASH_DIR`
//! set): two threads add batches and print `ACK <thread> <batch>` as soon as `add_rows`
//! returned. The parent kills it with SIGKILL after a random delay, reopens the table, checks
//! every acknowledged row is there exactly once, force-merges and checks again.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tsdb::clock::ManualClock;
use tsdb::{Row, Table, TableConfig, TimeRange};

use crate::common::{kill_child_after_first_ack, read_all, tsid};

const DIR_ENV: &str = "TSDB_CRASH_DIR";
const ROUND_ENV: &str = "TSDB_CRASH_ROUND";
const BASE: i64 = 1_700_000_000_000;
const SERIES_PER_THREAD: u64 = 25;
const ROUNDS: u64 = 30;

fn series_of(thread: u64) -> std::ops::Range<u64> {
    thread * 100..thread * 100 + SERIES_PER_THREAD
}

fn batch_id(round: u64, thread: u64, k: u64) -> i64 {
    (round * 1_000_000 + thread * 500_000 + k) as i64
}

fn config() -> TableConfig {
    TableConfig {
        clock: ManualClock::new(BASE + 86_400_000) as _,
        retention_ms: i64::MAX / 2,
        inmemory_interval: Duration::from_millis(3),
        flush_interval: Duration::from_millis(15),
        ..TableConfig::default()
    }
}

/// The writer, run only inside a child process.
#[test]
fn writer_child() {
    let (Ok(dir), Ok(round)) = (std::env::var(DIR_ENV), std::env::var(ROUND_ENV)) else {
        return; // not the child: nothing to do
    };
    let round: u64 = round.parse().unwrap();
    let table = Table::open(Path::new(&dir), config()).unwrap();
    let out = Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for thread in 0..2u64 {
            let (table, out) = (&table, &out);
            s.spawn(move || {
                for k in 0.. {
                    let b = batch_id(round, thread, k);
                    let rows: Vec<Row> = series_of(thread)
                        .map(|m| Row {
                            tsid: tsid(m),
                            timestamp: BASE + b,
                            value: b as f64,
                        })
                        .collect();
                    table.add_rows(&rows).unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ACK {thread} {b}").unwrap();
                    o.flush().unwrap();
                    drop(o);
                    // Pace the writer so that rounds stay small and quick to verify.
                    std::thread::sleep(Duration::from_micros(300));
                }
            });
        }
    });
}

fn verify(table: &Table, acked: &[(u64, i64)]) {
    let ids: Vec<u64> = series_of(0).chain(series_of(1)).collect();
    let got = read_all(table, &ids, TimeRange::ALL);
    let mut per_series: std::collections::BTreeMap<u64, Vec<(i64, u64)>> = Default::default();
    for (m, t, v) in got {
        let b = t - BASE;
        assert_eq!(
            f64::from_bits(v),
            b as f64,
            "series {m} at {t} holds a value never written"
        );
        per_series.entry(m).or_default().push((t, v));
    }
    for samples in per_series.values() {
        assert!(
            samples.windows(2).all(|w| w[0].0 < w[1].0),
            "duplicate or unsorted samples"
        );
    }
    for &(thread, b) in acked {
        for m in series_of(thread) {
            let s = per_series.get(&m).map(Vec::as_slice).unwrap_or_default();
            assert!(
                s.binary_search_by_key(&(BASE + b), |x| x.0).is_ok(),
                "acknowledged batch {b} of series {m} is missing"
            );
        }
    }
}

#[test]
fn kill_9_loses_no_acknowledged_row() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut acked: Vec<(u64, i64)> = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..ROUNDS {
        let lines = kill_child_after_first_ack(
            "crash::writer_child",
            &[
                (DIR_ENV, dir.path().display().to_string()),
                (ROUND_ENV, round.to_string()),
            ],
            &mut rng,
            250,
        );
        let before = acked.len();
        for line in &lines {
            let mut f = line.split(' ');
            if let (Some("ACK"), Some(t), Some(b)) = (f.next(), f.next(), f.next()) {
                acked.push((t.parse().unwrap(), b.parse().unwrap()));
            }
        }
        assert!(acked.len() > before, "round {round} acknowledged nothing");

        let table = Table::open(
            dir.path(),
            TableConfig {
                merge_workers: 1,
                ..config()
            },
        )
        .unwrap();
        verify(&table, &acked);
        if round % 2 == 1 {
            table.force_merge().unwrap();
            verify(&table, &acked);
            assert_eq!(
                table.stats().background_errors,
                0,
                "{:?}",
                table.last_error()
            );
        }
        drop(table); // no clean close: the next child replays whatever the WAL holds
    }
    let table = Table::open(dir.path(), config()).unwrap();
    table.force_merge().unwrap();
    verify(&table, &acked);
    assert_eq!(table.stats().file_parts, 1);
    table.close().unwrap();
    eprintln!(
        "crash test: {ROUNDS} rounds, {} acknowledged batches, {:?}",
        acked.len(),
        started.elapsed()
    );
}
