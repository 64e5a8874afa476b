//! `create_snapshot` while rows keep coming: the snapshot directory opens as a storage holding
//! exactly the rows acknowledged before the snapshot (and perhaps those in flight during it),
//! with every series findable by its labels; snapshots are listed and deleted by name only.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tsdb::Error;
use tsdb::clock::ManualClock;
use tsdb::index::MatchKind;
use tsdb::storage::{MetricRow, SNAPSHOTS_DIR, Storage};

use super::{RECENT, TENANT, m, name, open, samples};
use crate::common::NOW;

/// Batch `k`: a new series `new_k` and the known series `s_(k % 8)`, both at `NOW - 1 h + k`.
fn add_batch(s: &Storage, k: u64) {
    let new = name(&[("__name__", "snap"), ("new", &k.to_string())]);
    let known = name(&[("__name__", "snap"), ("known", &(k % 8).to_string())]);
    let ts = NOW - 3_600_000 + k as i64;
    let rows = [&new, &known].map(|n| MetricRow {
        tenant: TENANT,
        name: n,
        timestamp: ts,
        value: k as f64,
    });
    s.add_rows(&rows).unwrap();
}

/// The batches a storage holds, checked to be whole (both rows, found by label matchers).
fn batches(s: &Storage) -> Vec<u64> {
    let all = samples(s, &[m("__name__", MatchKind::Eq, "snap")], RECENT);
    let mut from_new = Vec::new();
    let mut from_known = Vec::new();
    for (n, rows) in &all {
        let text = String::from_utf8_lossy(n);
        for &(ts, v) in rows {
            let k = (ts - (NOW - 3_600_000)) as u64;
            assert_eq!(f64::from_bits(v), k as f64, "{text} at {ts}");
            if text.contains("known") {
                from_known.push(k);
            } else {
                from_new.push(k);
            }
        }
    }
    from_new.sort_unstable();
    from_known.sort_unstable();
    assert_eq!(
        from_new, from_known,
        "a batch is in the snapshot whole or not at all"
    );
    from_new
}

#[test]
fn a_snapshot_taken_under_writes_opens_with_exactly_the_rows_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let s = open(dir.path(), &clock);
    for k in 0..200 {
        add_batch(&s, k);
    }
    let acked = AtomicU64::new(200);
    let stop = AtomicBool::new(false);
    let (name, lo, hi) = std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut k = 200;
            while !stop.load(Ordering::Relaxed) {
                add_batch(&s, k);
                acked.store(k + 1, Ordering::Release);
                k += 1;
            }
        });
        // Let the writer run a while, then snapshot in the middle of its writes.
        while acked.load(Ordering::Acquire) < 400 {
            std::thread::yield_now();
        }
        let lo = acked.load(Ordering::Acquire);
        let name = s.create_snapshot().unwrap();
        let hi = acked.load(Ordering::Acquire);
        while acked.load(Ordering::Acquire) < hi + 100 {
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        (name, lo, hi)
    });
    assert_eq!(s.list_snapshots().unwrap(), vec![name.clone()]);
    let live = batches(&s);
    assert!(live.len() as u64 >= hi + 100, "the storage kept every row");

    // The snapshot: batches 0..n with every batch acknowledged before the call, nothing
    // added after it returned (the one in flight then may or may not be in).
    let snap_dir = dir.path().join(SNAPSHOTS_DIR).join(&name);
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&snap_dir, copy.path());
    let snap = open(copy.path(), &clock);
    let got = batches(&snap);
    let n = got.len() as u64;
    assert_eq!(got, (0..n).collect::<Vec<_>>(), "a prefix of the batches");
    assert!(
        lo <= n && n <= hi + 1,
        "snapshot holds {n} batches, want {lo}..={}",
        hi + 1
    );
    assert_eq!(
        snap.stats().series,
        8 + n,
        "its index holds exactly its series"
    );
    assert_eq!(snap.stats().new_series, 0);
    snap.close().unwrap();

    // Deletion by name only.
    for bad in [
        "",
        "..",
        "../x",
        "a/b",
        "/tmp",
        &format!("{name}/.."),
        "x\0y",
    ] {
        let err = s.delete_snapshot(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad:?}: {err}");
    }
    assert!(s.delete_snapshot("no-such-snapshot").is_err());
    assert!(dir.path().join(SNAPSHOTS_DIR).join(&name).is_dir());
    s.delete_snapshot(&name).unwrap();
    assert!(s.list_snapshots().unwrap().is_empty());
    assert!(!snap_dir.exists());
    s.close().unwrap();
}

/// Copies a directory tree (the way an operator takes a snapshot off the node).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}
