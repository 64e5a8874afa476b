use super::*;
use crate::TimeRange;
use crate::clock::ManualClock;
use crate::index::{LabelMatcher, MatchKind};

const DAY: i64 = keys::DAY_MS;
const T0: i64 = 20_000 * DAY; // a day in 2024

fn name(labels: &[(&str, &str)]) -> Vec<u8> {
    let mut ls: Vec<Label<'_>> = labels
        .iter()
        .map(|&(name, value)| Label { name, value })
        .collect();
    metric_name::canonicalize(&mut ls).unwrap();
    let mut out = Vec::new();
    metric_name::encode(&ls, &mut out);
    out
}

fn cfg() -> IndexConfig {
    IndexConfig {
        table: mergeset::Config {
            background: false,
            ..mergeset::Config::default()
        },
        ..IndexConfig::default()
    }
}

fn open(dir: &Path) -> IndexDb {
    IndexDb::open(dir, cfg(), ManualClock::new(T0)).unwrap()
}

fn m(n: &str, k: MatchKind, v: &str) -> LabelMatcher {
    LabelMatcher::new(n, k, v)
}

#[test]
fn registration_is_stable_and_tsids_carry_the_name_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let idx = open(dir.path());
    let t = Tenant::new(1, 2);
    let a = name(&[("__name__", "up"), ("job", "node"), ("instance", "h:9100")]);
    let b = name(&[("__name__", "up"), ("job", "node"), ("instance", "h2:9100")]);
    let ta = idx.get_or_create_tsid(t, &a, T0).unwrap();
    let tb = idx.get_or_create_tsid(t, &b, T0).unwrap();
    assert_ne!(ta.metric_id, tb.metric_id);
    assert_eq!(ta.metric_group_id, tb.metric_group_id);
    assert_eq!(ta.job_id, tb.job_id);
    assert_ne!(ta.instance_id, tb.instance_id);
    assert_eq!(ta.tenant, t);
    assert_eq!(idx.get_or_create_tsid(t, &a, T0 + 5).unwrap(), ta);
    // Another tenant, same name: another series.
    let other = idx.get_or_create_tsid(Tenant::new(9, 9), &a, T0).unwrap();
    assert_ne!(other.metric_id, ta.metric_id);
    assert_eq!(idx.stats().new_series_created, 3);
    // A non-canonical name is refused.
    let mut bad = name(&[("job", "x")]);
    bad.extend_from_slice(&name(&[("a", "y")]));
    assert!(matches!(
        idx.get_or_create_tsid(t, &bad, T0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_batch_registers_duplicates_once_and_days_separately() {
    let dir = tempfile::tempdir().unwrap();
    let idx = open(dir.path());
    let t = Tenant::new(0, 0);
    let a = name(&[("__name__", "a")]);
    let rows = [
        Row {
            tenant: t,
            name: &a,
            timestamp_ms: T0,
        },
        Row {
            tenant: t,
            name: &a,
            timestamp_ms: T0 + DAY,
        },
        Row {
            tenant: t,
            name: &a,
            timestamp_ms: T0,
        },
    ];
    let mut out = Vec::new();
    idx.get_or_create_tsids(&rows, &mut out).unwrap();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|x| *x == out[0]));
    let st = idx.stats();
    assert_eq!((st.new_series_created, st.day_registrations), (1, 2));
    let sel = [m("__name__", MatchKind::Eq, "a")];
    for d in [0, 1] {
        let r = TimeRange::new(T0 + d * DAY, T0 + d * DAY);
        assert_eq!(
            idx.search_tsids(t, &sel, r, 10).unwrap(),
            vec![out[0]],
            "day {d}"
        );
    }
    assert!(
        idx.search_tsids(t, &sel, TimeRange::new(T0 + 2 * DAY, T0 + 3 * DAY), 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn concurrent_registration_of_the_same_series_yields_one_tsid() {
    let dir = tempfile::tempdir().unwrap();
    let idx = open(dir.path());
    let names: Vec<Vec<u8>> = (0..200)
        .map(|i| name(&[("__name__", "m"), ("i", &i.to_string())]))
        .collect();
    let results: Vec<Vec<Tsid>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    names
                        .iter()
                        .map(|n| idx.get_or_create_tsid(Tenant::default(), n, T0).unwrap())
                        .collect()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|r| *r == results[0]));
    assert_eq!(idx.stats().new_series_created, 200);
}

#[test]
fn batches_from_many_threads_register_each_series_and_each_day_once() {
    // Four threads register overlapping batches of one pool of names in different orders,
    // on two days: registrations of one series meet in flight in the sharded registration.
    let dir = tempfile::tempdir().unwrap();
    let idx = open(dir.path());
    let t = Tenant::new(3, 4);
    let names: Vec<Vec<u8>> = (0..600)
        .map(|i| name(&[("__name__", &format!("m{}", i % 7)), ("i", &i.to_string())]))
        .collect();
    let results: Vec<Vec<(usize, Tsid)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4usize)
            .map(|th| {
                let (idx, names) = (&idx, &names);
                s.spawn(move || {
                    let order: Vec<usize> = (0..names.len())
                        .map(|k| (k * (2 * th + 1) + th * 97) % names.len())
                        .collect();
                    let mut got = Vec::new();
                    let mut out = Vec::new();
                    for (b, chunk) in order.chunks(32).enumerate() {
                        let rows: Vec<Row<'_>> = chunk
                            .iter()
                            .map(|&i| Row {
                                tenant: t,
                                name: &names[i],
                                timestamp_ms: T0 + ((b + th) % 2) as i64 * DAY,
                            })
                            .collect();
                        idx.get_or_create_tsids(&rows, &mut out).unwrap();
                        got.extend(chunk.iter().copied().zip(out.iter().copied()));
                    }
                    got
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by_name: std::collections::HashMap<usize, Tsid> = Default::default();
    for (i, tsid) in results.into_iter().flatten() {
        assert_eq!(*by_name.entry(i).or_insert(tsid), tsid, "name {i}");
    }
    let ids: std::collections::HashSet<u64> = by_name.values().map(|t| t.metric_id).collect();
    assert_eq!(ids.len(), names.len(), "two names share a metric id");
    let st = idx.stats();
    assert_eq!(st.new_series_created, names.len() as u64);
    assert_eq!(st.series_found_in_index, 0);
    let sel = [m("i", MatchKind::Re, ".+")];
    // Each (series, day) pair is registered once however many threads asked for it.
    let all = idx
        .search_tsids(t, &sel, TimeRange::new(T0, T0 + DAY), usize::MAX)
        .unwrap();
    assert_eq!(all.len(), names.len());
    let pairs: u64 = [0, 1]
        .iter()
        .map(|d| {
            let r = TimeRange::new(T0 + d * DAY, T0 + d * DAY);
            idx.search_tsids(t, &sel, r, usize::MAX).unwrap().len() as u64
        })
        .sum();
    assert_eq!(st.day_registrations, pairs);
    idx.close().unwrap();
    let idx = open(dir.path());
    for (i, tsid) in &by_name {
        assert_eq!(idx.get_or_create_tsid(t, &names[*i], T0).unwrap(), *tsid);
    }
    assert_eq!(idx.stats().new_series_created, 0);
}

#[test]
fn restart_keeps_ids_and_does_not_register_known_series_again() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tenant::new(3, 0);
    let names: Vec<Vec<u8>> = (0..500)
        .map(|i| name(&[("__name__", "m"), ("i", &i.to_string())]))
        .collect();
    let before: Vec<Tsid> = {
        let idx = open(dir.path());
        let v = names
            .iter()
            .map(|n| idx.get_or_create_tsid(t, n, T0).unwrap())
            .collect();
        idx.close().unwrap();
        assert!(matches!(
            idx.get_or_create_tsid(t, &names[0], T0),
            Err(Error::Closed)
        ));
        v
    };
    let idx = open(dir.path());
    let after: Vec<Tsid> = names
        .iter()
        .map(|n| idx.get_or_create_tsid(t, n, T0).unwrap())
        .collect();
    assert_eq!(before, after);
    let st = idx.stats();
    assert_eq!(st.new_series_created, 0);
    assert_eq!(st.series, 500);
    // The caches were warmed at open: every lookup hit, none went to the index.
    assert_eq!((st.cache_misses, st.series_found_in_index), (0, 0));
    // New series after a restart get ids above every old one.
    let new = idx
        .get_or_create_tsid(t, &name(&[("__name__", "new")]), T0)
        .unwrap();
    assert!(before.iter().all(|x| x.metric_id < new.metric_id));
}

#[test]
fn evicted_series_are_found_in_the_index_not_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let idx = IndexDb::open(
        dir.path(),
        IndexConfig {
            tsid_cache_entries: 128,
            ..cfg()
        },
        ManualClock::new(T0),
    )
    .unwrap();
    let names: Vec<Vec<u8>> = (0..3000)
        .map(|i| name(&[("__name__", "m"), ("i", &i.to_string())]))
        .collect();
    let first: Vec<Tsid> = names
        .iter()
        .map(|n| idx.get_or_create_tsid(Tenant::default(), n, T0).unwrap())
        .collect();
    idx.flush().unwrap();
    let again: Vec<Tsid> = names
        .iter()
        .map(|n| idx.get_or_create_tsid(Tenant::default(), n, T0).unwrap())
        .collect();
    assert_eq!(first, again);
    let st = idx.stats();
    assert_eq!(st.new_series_created, 3000);
    assert!(st.series_found_in_index > 2000, "{st:?}");
}

#[test]
fn deletes_hide_series_at_once_and_reinsertion_gets_a_new_tsid() {
    let dir = tempfile::tempdir().unwrap();
    let idx = open(dir.path());
    let t = Tenant::default();
    let a = name(&[("__name__", "up"), ("job", "a")]);
    let b = name(&[("__name__", "up"), ("job", "b")]);
    let ta = idx.get_or_create_tsid(t, &a, T0).unwrap();
    let tb = idx.get_or_create_tsid(t, &b, T0).unwrap();
    assert!(matches!(
        idx.delete_series(t, &[m("job", MatchKind::Neq, "x")]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        idx.delete_series(t, &[m("job", MatchKind::Eq, "a")])
            .unwrap(),
        1
    );
    assert!(idx.is_deleted(ta.metric_id) && !idx.is_deleted(tb.metric_id));
    let all = TimeRange::ALL;
    let up = [m("__name__", MatchKind::Eq, "up")];
    assert_eq!(idx.search_tsids(t, &up, all, 10).unwrap(), vec![tb]);
    assert_eq!(idx.label_values(t, "job", &[], all, 10).unwrap(), vec!["b"]);
    assert_eq!(
        idx.label_values(t, "job", &[], TimeRange::new(T0, T0), 10)
            .unwrap(),
        vec!["b"]
    );
    let ta2 = idx.get_or_create_tsid(t, &a, T0).unwrap();
    assert_ne!(ta2.metric_id, ta.metric_id);
    assert_eq!(idx.search_tsids(t, &up, all, 10).unwrap().len(), 2);
    // Merges purge the deleted series' items; answers stay the same.
    idx.force_merge().unwrap();
    assert_eq!(
        idx.series(t, &up, all, 10).unwrap(),
        vec![a.clone(), b.clone()]
    );
    idx.close().unwrap();
    let idx = open(dir.path());
    assert!(idx.is_deleted(ta.metric_id));
    assert_eq!(idx.get_or_create_tsid(t, &a, T0).unwrap(), ta2);
}

#[test]
fn limits_and_refusals_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let idx = open(dir.path());
    let t = Tenant::default();
    for i in 0..5 {
        idx.get_or_create_tsid(t, &name(&[("__name__", "m"), ("i", &i.to_string())]), T0)
            .unwrap();
    }
    let err = idx
        .search_tsids(t, &[m("__name__", MatchKind::Eq, "m")], TimeRange::ALL, 3)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the selector {__name__=\"m\"} matches 5 series: over the limit of 3 set by max_series"
    );
    for sel in [
        vec![],
        vec![m("x", MatchKind::Eq, "")],
        vec![m("i", MatchKind::Re, ".*")],
    ] {
        let err = idx.search_tsids(t, &sel, TimeRange::ALL, 10).unwrap_err();
        assert!(
            err.to_string().contains("could match every series"),
            "{err}"
        );
    }
    assert!(
        idx.search_tsids(t, &[m("i", MatchKind::Re, "(")], TimeRange::ALL, 10)
            .is_err()
    );
    assert!(
        idx.search_tsids(t, &[m("i", MatchKind::Eq, "1")], TimeRange::new(5, 4), 10)
            .is_err()
    );
}

#[test]
fn snapshot_opens_as_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let idx = open(&dir.path().join("idx"));
    let t = Tenant::default();
    let a = name(&[("__name__", "a")]);
    let ta = idx.get_or_create_tsid(t, &a, T0).unwrap();
    idx.snapshot(&dir.path().join("snap")).unwrap();
    let snap = open(&dir.path().join("snap"));
    assert_eq!(snap.get_or_create_tsid(t, &a, T0).unwrap(), ta);
    assert_eq!(snap.stats().new_series_created, 0);
}
