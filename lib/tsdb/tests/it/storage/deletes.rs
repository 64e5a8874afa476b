//! Deleted series vanish from every answer at once, stay gone after a reopen, are purged from
//! the data parts by `force_merge`, and come back under a new Tsid with only new data.

use std::collections::BTreeSet;

use tsdb::clock::ManualClock;
use tsdb::index::MatchKind;
use tsdb::storage::{MetricRow, Storage};
use tsdb::{TimeRange, Tsid};

use super::{RECENT, TENANT, m, name, open, samples};
use crate::common::NOW;

fn labels(job: &str, i: usize) -> Vec<u8> {
    name(&[
        ("__name__", "requests_total"),
        ("job", job),
        ("instance", &format!("host-{i}")),
    ])
}

/// Every series' Tsid by name, from a search.
fn tsids(s: &Storage) -> Vec<(Vec<u8>, Tsid)> {
    s.force_flush().unwrap();
    let mut search = s
        .search(
            TENANT,
            &[m("__name__", MatchKind::Eq, "requests_total")],
            RECENT,
            usize::MAX,
        )
        .unwrap();
    let mut out = Vec::new();
    while let Some(f) = search.next_series() {
        let f = f.unwrap();
        out.push((f.name, f.tsid));
    }
    out.sort();
    out
}

/// What every lookup answers, as one comparable value: (series names, label values of job,
/// label names of job="a", series count in the status).
fn answers(s: &Storage) -> (BTreeSet<Vec<u8>>, Vec<String>, Vec<String>, u64) {
    let all = [m("__name__", MatchKind::Eq, "requests_total")];
    let names: BTreeSet<Vec<u8>> = samples(s, &all, RECENT).into_keys().collect();
    let series: BTreeSet<Vec<u8>> = s
        .series(TENANT, &all, RECENT, usize::MAX)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(names, series, "search and series disagree");
    let jobs = s
        .label_values(TENANT, "job", &[], RECENT, usize::MAX)
        .unwrap();
    let label_names = s
        .label_names(TENANT, &[m("job", MatchKind::Eq, "a")], RECENT, usize::MAX)
        .unwrap();
    let status = s.tsdb_status(TENANT, &[], RECENT, 10).unwrap();
    (names, jobs, label_names, status.total_series)
}

#[test]
fn deleted_series_vanish_at_once_stay_gone_are_purged_and_come_back_with_a_new_tsid() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let s = open(dir.path(), &clock);
    // Three series of job "a" (to delete) and two of job "b", 50 samples each.
    let names: Vec<Vec<u8>> = (0..3)
        .map(|i| labels("a", i))
        .chain((0..2).map(|i| labels("b", i)))
        .collect();
    for k in 0..50i64 {
        let rows: Vec<MetricRow<'_>> = names
            .iter()
            .map(|n| MetricRow {
                tenant: TENANT,
                name: n,
                timestamp: NOW - 3_600_000 + k * 15_000,
                value: k as f64,
            })
            .collect();
        s.add_rows(&rows).unwrap();
    }
    s.force_flush().unwrap();
    let before = tsids(&s);
    assert_eq!(before.len(), 5);
    assert_eq!(s.stats().data_rows, 250);
    let (names_before, jobs, _, total) = answers(&s);
    assert_eq!((names_before.len(), jobs.len(), total), (5, 2, 5));

    assert_eq!(
        s.delete_series(TENANT, &[m("job", MatchKind::Eq, "a")])
            .unwrap(),
        3
    );
    let b_only: BTreeSet<Vec<u8>> = names[3..].iter().cloned().collect();
    let gone = (b_only.clone(), vec!["b".to_owned()], Vec::new(), 2);
    assert_eq!(answers(&s), gone, "at once");
    assert!(
        s.delete_series(TENANT, &[]).is_err(),
        "a delete without matchers is refused"
    );
    assert_eq!(
        s.delete_series(TENANT, &[m("job", MatchKind::Eq, "a")])
            .unwrap(),
        0,
        "deleting again deletes nothing"
    );

    // Reopen: still gone.
    s.close().unwrap();
    let s = open(dir.path(), &clock);
    assert_eq!(answers(&s), gone, "after reopen");

    // Merged: the deleted samples are purged from the data parts.
    s.force_merge().unwrap();
    let st = s.stats();
    assert_eq!(st.rows_deleted, 150, "{st:?}");
    assert_eq!(st.data_rows, 100, "{st:?}");
    assert_eq!(answers(&s), gone, "after force_merge");

    // Re-inserted: a new Tsid, only the new sample.
    let again = MetricRow {
        tenant: TENANT,
        name: &names[0],
        timestamp: NOW - 1000,
        value: 42.0,
    };
    s.add_rows(&[again]).unwrap();
    let after = tsids(&s);
    let old = before.iter().find(|(n, _)| *n == names[0]).unwrap().1;
    let new = after.iter().find(|(n, _)| *n == names[0]).unwrap().1;
    assert_ne!(
        old.metric_id, new.metric_id,
        "a re-inserted series gets a new Tsid"
    );
    assert!(before.iter().all(|(_, t)| t.metric_id != new.metric_id));
    let got = samples(&s, &[m("job", MatchKind::Eq, "a")], RECENT);
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        vec![(names[0].clone(), vec![(NOW - 1000, 42f64.to_bits())])]
    );
    assert_eq!(s.stats().new_series, 1);
    s.close().unwrap();
}

#[test]
fn rows_of_a_deleted_series_added_before_the_merge_do_not_come_back() {
    // The deleted series' rows are still in the WAL and the buffers when it is deleted and
    // re-inserted: neither its old samples nor its old Tsid may reappear.
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let s = open(dir.path(), &clock);
    let n = labels("a", 0);
    let row = |ts: i64, value: f64| MetricRow {
        tenant: TENANT,
        name: &n,
        timestamp: ts,
        value,
    };
    s.add_rows(&[row(NOW - 5000, 1.0), row(NOW - 4000, 2.0)])
        .unwrap();
    assert_eq!(
        s.delete_series(TENANT, &[m("job", MatchKind::Eq, "a")])
            .unwrap(),
        1
    );
    s.add_rows(&[row(NOW - 3000, 3.0)]).unwrap();
    let want = vec![(n.clone(), vec![(NOW - 3000, 3f64.to_bits())])];
    let all = [m("job", MatchKind::Eq, "a")];
    assert_eq!(
        samples(&s, &all, TimeRange::ALL)
            .into_iter()
            .collect::<Vec<_>>(),
        want
    );
    drop(s); // a crash: the WAL is replayed at open
    let s = open(dir.path(), &clock);
    assert_eq!(
        samples(&s, &all, TimeRange::ALL)
            .into_iter()
            .collect::<Vec<_>>(),
        want
    );
    s.force_merge().unwrap();
    assert_eq!(
        samples(&s, &all, TimeRange::ALL)
            .into_iter()
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(s.stats().data_rows, 1);
    s.close().unwrap();
}
