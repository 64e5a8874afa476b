//! Damaged parts give located errors, never panics or wrong data: bytes of every part file are
//! flipped in turn (all of the small files), and every file truncated.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tsdb::block_stream_reader::BlockStreamReader;
use tsdb::clock::ManualClock;
use tsdb::filenames::PART_FILES;
use tsdb::part::Part;
use tsdb::{Table, TimeRange};

use crate::common::{NOW, open, read_all, row};

/// Writes a table with one merged part; returns the part directory.
fn one_part_table(dir: &Path) -> PathBuf {
    let clock = ManualClock::new(NOW);
    let t = open(dir, &clock);
    let mut rows = Vec::new();
    for m in 0..30u64 {
        for i in 0..300i64 {
            let v = if m % 7 == 0 {
                (i as f64).sqrt()
            } else {
                (m * 100) as f64 + i as f64 * 0.25
            };
            rows.push(row(
                m,
                NOW - 300 * 15_000 + i * 15_000 + (i * m as i64) % 7,
                v,
            ));
        }
    }
    t.add_rows(&rows).unwrap();
    t.force_merge().unwrap();
    t.close().unwrap();
    let month = std::fs::read_dir(dir.join("data"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_dir(&month)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
}

/// Opens the part and decodes every block; the first error, if any.
fn read_part(dir: &Path) -> Result<Vec<(i64, u64)>, tsdb::Error> {
    let part = Arc::new(Part::open(dir)?);
    let mut r = BlockStreamReader::new(part);
    let mut out = Vec::new();
    while let Some(b) = r.next_block()? {
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        b.decode_into(&mut ts, &mut vs)?;
        out.extend(ts.iter().zip(&vs).map(|(t, v)| (*t, v.to_bits())));
    }
    Ok(out)
}

#[test]
fn every_flipped_byte_and_truncated_file_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let part = one_part_table(dir.path());
    let good = read_part(&part).unwrap();
    assert_eq!(good.len(), 30 * 300);
    let part_name = part.to_string_lossy().into_owned();
    let mut block_errors = 0;
    for file in PART_FILES {
        let path = part.join(file);
        let orig = std::fs::read(&path).unwrap();
        assert!(!orig.is_empty(), "{file}");
        // Every byte of small files, about 400 evenly spread bytes of big ones.
        for i in (0..orig.len()).step_by((orig.len() / 400).max(1)) {
            let mut bad = orig.clone();
            bad[i] ^= 0x41;
            std::fs::write(&path, &bad).unwrap();
            let err =
                read_part(&part).expect_err(&format!("flip at byte {i} of {file} went unnoticed"));
            let msg = err.to_string();
            assert!(msg.contains(&part_name), "{file} byte {i}: {msg}");
            if matches!(file, "timestamps.bin" | "values.bin") {
                assert!(msg.contains("block "), "{file} byte {i}: {msg}");
                block_errors += 1;
            }
        }
        for len in [0, orig.len() / 2, orig.len() - 1] {
            std::fs::write(&path, &orig[..len]).unwrap();
            let err =
                read_part(&part).expect_err(&format!("{file} truncated to {len} went unnoticed"));
            assert!(err.to_string().contains(&part_name), "{err}");
        }
        std::fs::write(&path, &orig).unwrap();
    }
    assert!(block_errors > 0);
    assert_eq!(read_part(&part).unwrap(), good);
}

#[test]
fn a_corrupt_block_fails_the_search_that_reads_it_naming_part_and_block() {
    let dir = tempfile::tempdir().unwrap();
    let part = one_part_table(dir.path());
    let values = part.join("values.bin");
    let mut bytes = std::fs::read(&values).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&values, &bytes).unwrap();
    let clock = ManualClock::new(NOW);
    let t = Table::open(dir.path(), crate::common::config(&clock)).unwrap();
    let ids: Vec<tsdb::Tsid> = (0..30).map(crate::common::tsid).collect();
    let mut s = t.search(&ids, TimeRange::ALL).unwrap();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let mut errors = Vec::new();
    while let Some(r) = s.next_samples(&mut ts, &mut vs) {
        if let Err(e) = r {
            errors.push(e.to_string());
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(&*part.to_string_lossy()) && errors[0].contains("block "),
        "{}",
        errors[0]
    );
    let _ = read_all;
}
