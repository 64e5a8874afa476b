//! The saved data directory of format version 1 (`lib/tsdb/testdata/v1`) still opens, with
//! exactly the samples it was written with.
//!
//! Regenerate it (only when the format version changes, keeping the old directory for the old
//! version) with:
//! `TSDB_REGENERATE_TESTDATA=1 cargo test -p tsdb --test it format::regenerate_testdata -- --ignored`

use std::path::Path;

use tsdb::clock::ManualClock;
use tsdb::dedup::STALE_NAN_BITS;
use tsdb::part::Part;
use tsdb::{Row, Table, TableConfig, TimeRange};

use crate::common::{read_all, row};

/// 2024-03-01T00:00:00Z: the data spans February and March 2024.
const T0: i64 = 1_709_251_200_000;

/// The rows written to the saved directory, in the order they were added.
pub fn testdata_rows() -> Vec<Vec<Row>> {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let mut first = Vec::new();
    for i in 0..120i64 {
        let ts = T0 - 60 * 15_000 + i * 15_000 + (i * 7) % 5; // crosses into March
        first.push(row(1, ts, 1000.0 + i as f64 * 0.5)); // decimal counter
        first.push(row(2, ts, if i == 119 { stale } else { (i % 9) as f64 })); // gauge, then stale
        first.push(row(3, ts, 1.0 / (i + 3) as f64)); // not exact decimals: XOR
    }
    let second = vec![
        row(4, T0, -0.0),
        row(4, T0 + 1, f64::INFINITY),
        row(4, T0 + 2, f64::NEG_INFINITY),
        row(4, T0 + 3, f64::from_bits(0x7ff8_0000_0000_beef)),
        row(4, T0 + 4, f64::from_bits(1)),
        row(1, T0 - 60 * 15_000, 5.0), // a duplicate timestamp: the larger value stays
    ];
    let third = vec![row(1, T0 + 3_600_000, 7.0), row(4, T0 - 1, 42.0)]; // out of order
    vec![first, second, third]
}

fn write_testdata(dir: &Path) {
    let clock = ManualClock::new(T0 + 86_400_000);
    let cfg = TableConfig {
        clock: clock as _,
        retention_ms: i64::MAX / 2,
        ..crate::common::config(&ManualClock::new(0))
    };
    let t = Table::open(dir, cfg).unwrap();
    let batches = testdata_rows();
    for (i, b) in batches.iter().enumerate() {
        t.add_rows(b).unwrap();
        t.force_flush().unwrap();
        if i == 1 {
            t.force_merge().unwrap();
        }
    }
    t.close().unwrap();
    std::fs::remove_file(dir.join("flock.lock")).unwrap();
    std::fs::remove_dir(dir.join("wal")).unwrap();
}

fn testdata_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/v1")
}

#[test]
#[ignore = "writes lib/tsdb/testdata/v1; run by hand when the format version changes"]
fn regenerate_testdata() {
    if std::env::var_os("TSDB_REGENERATE_TESTDATA").is_none() {
        return;
    }
    let dst = testdata_dir();
    let _ = std::fs::remove_dir_all(&dst);
    write_testdata(&dst);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn expected() -> Vec<(u64, i64, u64)> {
    let mut all: Vec<Row> = testdata_rows().into_iter().flatten().collect();
    all.sort_by_key(|r| (r.tsid, r.timestamp));
    let mut out: Vec<(u64, i64, u64)> = Vec::new();
    for r in all {
        let s = (r.tsid.metric_id, r.timestamp, r.value.to_bits());
        match out.last_mut() {
            Some(last) if (last.0, last.1) == (s.0, s.1) => {
                if tsdb::dedup::value_order(r.value, f64::from_bits(last.2)).is_gt() {
                    *last = s;
                }
            }
            _ => out.push(s),
        }
    }
    out
}

#[test]
fn saved_v1_data_opens_with_exact_contents() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&testdata_dir(), dir.path());
    // The layout as saved: two monthly partitions, each a manifest and its parts.
    let mut files = Vec::new();
    for month in ["2024_02", "2024_03"] {
        let pdir = dir.path().join("data").join(month);
        let mut names: Vec<String> = std::fs::read_dir(&pdir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in &names {
            if n != "parts.manifest" {
                let part = Part::open(&pdir.join(n)).unwrap();
                let m = part.metadata();
                files.push((
                    month,
                    n.clone(),
                    m.rows_count,
                    m.blocks_count,
                    m.min_timestamp,
                    m.max_timestamp,
                ));
            }
        }
        assert!(names.contains(&"parts.manifest".to_owned()));
    }
    assert_eq!(
        files,
        [
            (
                "2024_02",
                "0000000000000005".to_owned(),
                180,
                3,
                1_709_250_300_000,
                1_709_251_185_003
            ),
            (
                "2024_02",
                "0000000000000007".to_owned(),
                1,
                1,
                1_709_251_199_999,
                1_709_251_199_999
            ),
            (
                "2024_03",
                "0000000000000005".to_owned(),
                185,
                4,
                1_709_251_200_000,
                1_709_252_085_003
            ),
            (
                "2024_03",
                "0000000000000007".to_owned(),
                1,
                1,
                1_709_254_800_000,
                1_709_254_800_000
            ),
        ]
    );

    let clock = ManualClock::new(T0 + 86_400_000);
    let t = Table::open(
        dir.path(),
        TableConfig {
            clock: clock as _,
            retention_ms: i64::MAX / 2,
            ..TableConfig::default()
        },
    )
    .unwrap();
    let got = read_all(&t, &[1, 2, 3, 4], TimeRange::ALL);
    assert_eq!(got.len(), 3 * 120 + 5 + 2); // the duplicate collapsed
    assert_eq!(got, expected());
    assert_eq!(got[0], (1, T0 - 60 * 15_000, 1000f64.to_bits())); // 1000 beat the duplicate 5
    assert!(got.contains(&(2, T0 + 59 * 15_000 + (119 * 7) % 5, STALE_NAN_BITS)));
    assert!(got.contains(&(4, T0, (-0.0f64).to_bits())));
    t.force_merge().unwrap();
    assert_eq!(read_all(&t, &[1, 2, 3, 4], TimeRange::ALL), expected());
}
