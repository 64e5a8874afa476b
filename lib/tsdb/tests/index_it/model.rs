//! Model-based test: random registrations over a few tenants and days, random deletes,
//! reopens and merges; after each step every lookup API must equal a brute-force filter over
//! all registered series. The pools, the model and the status check are shared with the
//! Storage-level model test (`storage_model.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use proptest::prelude::*;
use regex::Regex;
use tsdb::TimeRange;
use tsdb::clock::ManualClock;
use tsdb::index::{IndexConfig, IndexDb, LabelMatcher, MatchKind, TsdbStatus};
use tsdb::mergeset;
use tsdb::{Tenant, Tsid};

use super::{DAY, T0, name};

pub(super) const TENANTS: [Tenant; 2] = [Tenant::new(0, 0), Tenant::new(7, 1)];
pub(super) const METRICS: [&str; 3] = ["m1", "m2", "node_cpu"];
pub(super) const JOBS: [&str; 3] = ["", "api", "node"];
pub(super) const INSTANCES: [&str; 5] = ["", "x", "xy", "yx", "a\nb"];
pub(super) const MODES: [&str; 3] = ["", "idle", "user"];

/// The matcher pool: all four kinds, alternations, `.*x` forms, empty-matching ones.
pub(super) const MATCHERS: &[(&str, MatchKind, &str)] = &[
    ("__name__", MatchKind::Eq, "m1"),
    ("__name__", MatchKind::Re, "m1|m2"),
    ("__name__", MatchKind::Re, "node_.*"),
    ("__name__", MatchKind::Nre, "m.*"),
    ("__name__", MatchKind::Neq, "m2"),
    ("job", MatchKind::Eq, "api"),
    ("job", MatchKind::Eq, ""),
    ("job", MatchKind::Neq, ""),
    ("job", MatchKind::Re, "api|"),
    ("job", MatchKind::Nre, "node"),
    ("instance", MatchKind::Re, ".*y"),
    ("instance", MatchKind::Re, "x.*"),
    ("instance", MatchKind::Re, ".+"),
    ("instance", MatchKind::Re, "a.b"),
    ("instance", MatchKind::Re, ".*y.*"),
    ("instance", MatchKind::Nre, "x|yx"),
    ("instance", MatchKind::Re, "(x|y)x?"),
    ("mode", MatchKind::Neq, "idle"),
    ("mode", MatchKind::Eq, "user"),
    ("mode", MatchKind::Re, "[iu].*"),
    ("absent", MatchKind::Eq, ""),
    ("absent", MatchKind::Re, "z"),
];

#[derive(Clone, Debug)]
enum Op {
    Register {
        tenant: usize,
        metric: usize,
        job: usize,
        instance: usize,
        mode: usize,
        day: i64,
    },
    Delete {
        tenant: usize,
        matchers: Vec<usize>,
    },
    Reopen,
    ForceMerge,
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..2usize, 0..3usize, 0..3usize, 0..5usize, 0..3usize, 0..3i64).prop_map(|(tenant, metric, job, instance, mode, day)| Op::Register { tenant, metric, job, instance, mode, day }),
        1 => (0..2usize, proptest::collection::vec(0..MATCHERS.len(), 1..3)).prop_map(|(tenant, matchers)| Op::Delete { tenant, matchers }),
        1 => Just(Op::Reopen),
        1 => Just(Op::ForceMerge),
        1 => Just(Op::Flush),
    ]
}

#[derive(Debug)]
pub(super) struct Series {
    pub(super) tenant: Tenant,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) raw: Vec<u8>,
    pub(super) tsid: Tsid,
    pub(super) days: BTreeSet<i64>,
    pub(super) deleted: bool,
}

impl Series {
    pub(super) fn value(&self, l: &str) -> &str {
        self.labels.get(l).map_or("", String::as_str)
    }
}

pub(super) fn matches(kind: MatchKind, pattern: &str, v: &str) -> bool {
    let re = || Regex::new(&format!("^(?s:{pattern})$")).expect("valid pool regex");
    match kind {
        MatchKind::Eq => v == pattern,
        MatchKind::Neq => v != pattern,
        MatchKind::Re => re().is_match(v),
        MatchKind::Nre => !re().is_match(v),
    }
}

pub(super) struct Model {
    pub(super) series: Vec<Series>,
}

impl Model {
    /// The live series of a tenant matching `sel` in days `days` (None: all time), or None when
    /// the selector must be refused.
    pub(super) fn select(
        &self,
        tenant: Tenant,
        sel: &[usize],
        days: Option<&[i64]>,
    ) -> Option<Vec<&Series>> {
        if !sel.is_empty()
            && sel
                .iter()
                .all(|&i| matches(MATCHERS[i].1, MATCHERS[i].2, ""))
        {
            return None;
        }
        Some(
            self.series
                .iter()
                .filter(|s| s.tenant == tenant && !s.deleted)
                .filter(|s| days.is_none_or(|d| d.iter().any(|x| s.days.contains(x))))
                .filter(|s| {
                    sel.iter()
                        .all(|&i| matches(MATCHERS[i].1, MATCHERS[i].2, s.value(MATCHERS[i].0)))
                })
                .collect(),
        )
    }
}

fn cfg(check_names: bool) -> IndexConfig {
    IndexConfig {
        // Both ways of applying later matchers: by names of few candidates, or by postings.
        check_names_below: if check_names { 1_000 } else { 0 },
        table: mergeset::Config {
            background: false,
            max_pending_items: 16,
            ..mergeset::Config::default()
        },
        ..IndexConfig::default()
    }
}

fn open(dir: &Path, check_names: bool) -> IndexDb {
    IndexDb::open(dir, cfg(check_names), ManualClock::new(T0)).expect("open index")
}

pub(super) fn matchers(sel: &[usize]) -> Vec<LabelMatcher> {
    sel.iter()
        .map(|&i| LabelMatcher::new(MATCHERS[i].0, MATCHERS[i].1, MATCHERS[i].2))
        .collect()
}

pub(super) const RANGES: [(Option<&[i64]>, TimeRange); 5] = [
    (Some(&[0]), TimeRange::new(T0, T0 + DAY - 1)),
    (Some(&[1]), TimeRange::new(T0 + DAY + 5, T0 + DAY + 6)),
    (Some(&[0, 1]), TimeRange::new(T0 + 10, T0 + DAY + 10)),
    (Some(&[2]), TimeRange::new(T0 + 2 * DAY, T0 + 3 * DAY - 1)),
    (None, TimeRange::ALL),
];

/// Every API against the model, for every tenant, range and a sample of selectors.
fn check_all(idx: &IndexDb, model: &Model, selectors: &[Vec<usize>]) -> Result<(), TestCaseError> {
    for tenant in TENANTS {
        for (days, range) in RANGES {
            for sel in selectors {
                let ms = matchers(sel);
                let got = idx.search_tsids(tenant, &ms, range, usize::MAX);
                let Some(want) = model.select(tenant, sel, days) else {
                    prop_assert!(got.is_err(), "refusal expected for {ms:?}");
                    continue;
                };
                let mut want_tsids: Vec<Tsid> = want.iter().map(|s| s.tsid).collect();
                want_tsids.sort();
                prop_assert_eq!(
                    got.expect("search"),
                    want_tsids,
                    "search_tsids {:?} {:?} {:?}",
                    tenant,
                    ms,
                    range
                );
                let mut with_names: Vec<(Tsid, Vec<u8>)> =
                    want.iter().map(|s| (s.tsid, s.raw.clone())).collect();
                with_names.sort();
                prop_assert_eq!(
                    idx.search_series(tenant, &ms, range, usize::MAX)
                        .expect("search_series"),
                    with_names,
                    "search_series {:?} {:?} {:?}",
                    tenant,
                    ms,
                    range
                );
                let mut names: Vec<Vec<u8>> = want.iter().map(|s| s.raw.clone()).collect();
                names.sort();
                prop_assert_eq!(
                    idx.series(tenant, &ms, range, usize::MAX).expect("series"),
                    names,
                    "series {:?}",
                    ms
                );
                let ln: BTreeSet<String> =
                    want.iter().flat_map(|s| s.labels.keys().cloned()).collect();
                prop_assert_eq!(
                    idx.label_names(tenant, &ms, range, usize::MAX)
                        .expect("label_names"),
                    ln.into_iter().collect::<Vec<_>>(),
                    "label_names {:?}",
                    ms
                );
                let lv: BTreeSet<String> = want
                    .iter()
                    .filter_map(|s| s.labels.get("instance").cloned())
                    .collect();
                prop_assert_eq!(
                    idx.label_values(tenant, "instance", &ms, range, usize::MAX)
                        .expect("label_values"),
                    lv.into_iter().collect::<Vec<_>>()
                );
            }
            // Without matchers: every live series in the range.
            let all = model
                .select(tenant, &[], days)
                .expect("no matchers is allowed");
            let ln: BTreeSet<String> = all.iter().flat_map(|s| s.labels.keys().cloned()).collect();
            prop_assert_eq!(
                idx.label_names(tenant, &[], range, usize::MAX)
                    .expect("label_names"),
                ln.into_iter().collect::<Vec<_>>(),
                "label_names {:?} {:?}",
                tenant,
                range
            );
            for l in ["__name__", "job", "instance", "mode"] {
                let lv: BTreeSet<String> = all
                    .iter()
                    .filter_map(|s| s.labels.get(l).cloned())
                    .collect();
                prop_assert_eq!(
                    idx.label_values(tenant, l, &[], range, usize::MAX)
                        .expect("label_values"),
                    lv.into_iter().collect::<Vec<_>>(),
                    "label_values {} {:?} {:?}",
                    l,
                    tenant,
                    range
                );
            }
            prop_assert_eq!(
                idx.series(tenant, &[], range, usize::MAX)
                    .expect("series")
                    .len(),
                all.len()
            );
        }
        // Status for every range: one day, several days, all time; with and without matchers.
        for (days, range) in RANGES {
            let st = idx.status(tenant, &[], range, usize::MAX).expect("status");
            let live = model.select(tenant, &[], days).expect("all");
            check_status(st, &live)?;
            for sel in selectors {
                let got = idx.status(tenant, &matchers(sel), range, usize::MAX);
                match model.select(tenant, sel, days) {
                    None => prop_assert!(got.is_err(), "refusal expected"),
                    Some(want) => check_status(got.expect("status"), &want)?,
                }
            }
        }
    }
    Ok(())
}

/// Every figure of a status equals a brute-force count over `live`.
pub(super) fn check_status(st: TsdbStatus, live: &[&Series]) -> Result<(), TestCaseError> {
    prop_assert_eq!(st.total_series, live.len() as u64);
    let mut by_metric: HashMap<String, u64> = HashMap::new();
    let mut pairs: HashMap<String, u64> = HashMap::new();
    for s in live {
        *by_metric.entry(s.value("__name__").to_owned()).or_default() += 1;
        for (l, v) in &s.labels {
            *pairs.entry(format!("{l}={v}")).or_default() += 1;
        }
    }
    let got: HashMap<String, u64> = st.series_count_by_metric_name.into_iter().collect();
    prop_assert_eq!(got, by_metric);
    let got: HashMap<String, u64> = st.series_count_by_label_value_pair.into_iter().collect();
    prop_assert_eq!(got, pairs.clone());
    prop_assert_eq!(st.total_label_value_pairs, pairs.len() as u64);
    let mut by_name: HashMap<String, u64> = HashMap::new();
    let mut values: HashMap<String, u64> = HashMap::new();
    for (pair, n) in &pairs {
        let (l, _) = pair.split_once('=').expect("name=value");
        *by_name.entry(l.to_owned()).or_default() += n;
        *values.entry(l.to_owned()).or_default() += 1;
    }
    let got: HashMap<String, u64> = st.series_count_by_label_name.into_iter().collect();
    prop_assert_eq!(got, by_name);
    let got: HashMap<String, u64> = st.label_value_count_by_label_name.into_iter().collect();
    prop_assert_eq!(got, values);
    Ok(())
}

fn run(ops: Vec<Op>, selectors: Vec<Vec<usize>>, check_names: bool) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut idx = open(dir.path(), check_names);
    let mut model = Model { series: Vec::new() };
    for op in ops {
        match op {
            Op::Register {
                tenant,
                metric,
                job,
                instance,
                mode,
                day,
            } => {
                let tenant = TENANTS[tenant];
                let mut labels = vec![
                    ("__name__", METRICS[metric]),
                    ("job", JOBS[job]),
                    ("instance", INSTANCES[instance]),
                    ("mode", MODES[mode]),
                ];
                labels.retain(|l| !l.1.is_empty());
                let raw = name(&labels);
                let tsid = idx
                    .get_or_create_tsid(tenant, &raw, T0 + day * DAY + 1000)
                    .expect("register");
                match model
                    .series
                    .iter_mut()
                    .find(|s| s.tenant == tenant && s.raw == raw && !s.deleted)
                {
                    Some(s) => {
                        prop_assert_eq!(s.tsid, tsid, "a live series keeps its Tsid");
                        s.days.insert(day);
                    }
                    None => {
                        prop_assert!(
                            model
                                .series
                                .iter()
                                .all(|s| s.tsid.metric_id != tsid.metric_id),
                            "metric ids are never reused"
                        );
                        model.series.push(Series {
                            tenant,
                            labels: labels
                                .iter()
                                .map(|(l, v)| (l.to_string(), v.to_string()))
                                .collect(),
                            raw,
                            tsid,
                            days: [day].into(),
                            deleted: false,
                        });
                    }
                }
            }
            Op::Delete {
                tenant,
                matchers: sel,
            } => {
                let t = TENANTS[tenant];
                let got = idx.delete_series(t, &matchers(&sel));
                match model.select(t, &sel, None) {
                    None => prop_assert!(got.is_err()),
                    Some(v) => {
                        let ids: BTreeSet<u64> = v.iter().map(|s| s.tsid.metric_id).collect();
                        prop_assert_eq!(got.expect("delete"), ids.len());
                        for s in model
                            .series
                            .iter_mut()
                            .filter(|s| ids.contains(&s.tsid.metric_id))
                        {
                            s.deleted = true;
                        }
                    }
                }
            }
            Op::Reopen => {
                idx.close().expect("close");
                drop(idx);
                idx = open(dir.path(), check_names);
            }
            Op::ForceMerge => idx.force_merge().expect("force merge"),
            Op::Flush => idx.flush().expect("flush"),
        }
    }
    check_all(&idx, &model, &selectors)?;
    idx.force_merge().expect("force merge");
    check_all(&idx, &model, &selectors)?;
    idx.close().expect("close");
    drop(idx);
    let idx = open(dir.path(), check_names);
    check_all(&idx, &model, &selectors)
}

proptest! {
    // 48 cases by default; `PROPTEST_CASES=1000` for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]
    #[test]
    fn every_api_equals_a_brute_force_filter(
        ops in proptest::collection::vec(op(), 1..60),
        selectors in proptest::collection::vec(proptest::collection::vec(0..MATCHERS.len(), 1..4), 1..6),
        check_names: bool,
    ) {
        run(ops, selectors, check_names)?;
    }
}
