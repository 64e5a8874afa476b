//! Model-based test of the Storage API: random rows of random label sets over two tenants and
//! three days, random deletes, flushes, merges and reopens; then every answer of the Storage
//! (`search_samples` names and samples, `search` Tsids, `label_names`, `label_values`,
//! `series`, `tsdb_status`) must equal a brute-force filter over all series and rows, again
//! after `force_merge` and after a reopen. The label pools, matchers, series model and status
//! check are the index model's (`model.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use tsdb::clock::ManualClock;
use tsdb::index::IndexConfig;
use tsdb::storage::{MetricRow, Storage, StorageConfig};
use tsdb::{TableConfig, TimeRange, Tsid, mergeset};

use super::model::{
    INSTANCES, JOBS, MATCHERS, METRICS, MODES, Model, RANGES, Series, TENANTS, check_status,
    matchers,
};
use super::{DAY, T0, name};

/// Offsets of rows within their day: the sample ranges below cut between them.
const OFFSETS: [i64; 5] = [0, 1_000, 5_000, 60_000, DAY - 1];

/// Ranges for samples: (days of the index's view, exact range).
const SAMPLE_RANGES: [(Option<&[i64]>, TimeRange); 3] = [
    (
        Some(&[1]),
        TimeRange::new(T0 + DAY + 1_000, T0 + DAY + 5_000),
    ),
    (Some(&[0, 1]), TimeRange::new(T0 + 1_000, T0 + DAY + 59_999)),
    (Some(&[2]), TimeRange::new(T0 + 2 * DAY, T0 + 3 * DAY - 1)),
];

/// One row: tenant, metric, job, instance, mode, day, offset, value (all pool indexes but
/// the value).
type RowSpec = (usize, usize, usize, usize, usize, i64, usize, u8);

#[derive(Clone, Debug)]
enum Op {
    /// One `add_rows` call.
    Add(Vec<RowSpec>),
    Delete {
        tenant: usize,
        matchers: Vec<usize>,
    },
    Reopen,
    ForceMerge,
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    let row = (
        0..2usize,
        0..3usize,
        0..3usize,
        0..5usize,
        0..3usize,
        0..3i64,
        0..OFFSETS.len(),
        any::<u8>(),
    );
    prop_oneof![
        12 => proptest::collection::vec(row, 1..12).prop_map(Op::Add),
        1 => (0..2usize, proptest::collection::vec(0..MATCHERS.len(), 1..3)).prop_map(|(tenant, matchers)| Op::Delete { tenant, matchers }),
        1 => Just(Op::Reopen),
        1 => Just(Op::ForceMerge),
        1 => Just(Op::Flush),
    ]
}

fn config() -> StorageConfig {
    StorageConfig {
        table: TableConfig {
            clock: ManualClock::new(T0 + 2 * DAY + 12 * 3_600_000) as _,
            // The test decides when rows become parts.
            flush_interval: Duration::from_secs(3600),
            inmemory_interval: Duration::from_secs(3600),
            ..TableConfig::default()
        },
        index: IndexConfig {
            table: mergeset::Config {
                background: false,
                max_pending_items: 16,
                ..mergeset::Config::default()
            },
            ..IndexConfig::default()
        },
    }
}

fn open(dir: &Path) -> Storage {
    Storage::open(dir, config()).expect("open storage")
}

/// The model: series (live and deleted) and the samples of each, by timestamp.
struct World {
    model: Model,
    samples: Vec<BTreeMap<i64, f64>>,
}

impl World {
    /// Index of the live series with this name, registering it if new.
    fn series(&mut self, tenant: usize, labels: &[(&str, &str)], day: i64) -> usize {
        let tenant = TENANTS[tenant];
        let raw = name(labels);
        if let Some(i) = self
            .model
            .series
            .iter()
            .position(|s| s.tenant == tenant && s.raw == raw && !s.deleted)
        {
            self.model.series[i].days.insert(day);
            return i;
        }
        self.model.series.push(Series {
            tenant,
            labels: labels
                .iter()
                .map(|(l, v)| (l.to_string(), v.to_string()))
                .collect(),
            raw,
            // Learned from the first search that finds it.
            tsid: Tsid::default(),
            days: [day].into(),
            deleted: false,
        });
        self.samples.push(BTreeMap::new());
        self.model.series.len() - 1
    }
}

fn labels_of(spec: &RowSpec) -> Vec<(&'static str, &'static str)> {
    let &(_, metric, job, instance, mode, ..) = spec;
    let mut labels = vec![
        ("__name__", METRICS[metric]),
        ("job", JOBS[job]),
        ("instance", INSTANCES[instance]),
        ("mode", MODES[mode]),
    ];
    labels.retain(|l| !l.1.is_empty());
    labels
}

/// Every answer of the storage against the world. Learns Tsids the first time it sees them
/// and checks that they never change and are never reused.
fn check_all(st: &Storage, w: &mut World, selectors: &[Vec<usize>]) -> Result<(), TestCaseError> {
    st.force_flush().expect("flush");
    for tenant in TENANTS {
        for (days, range) in RANGES.iter().chain(&SAMPLE_RANGES).copied() {
            for sel in selectors {
                let ms = matchers(sel);
                let got = st.search_samples(tenant, &ms, range, usize::MAX);
                let Some(want) = w.model.select(tenant, sel, days) else {
                    prop_assert!(got.is_err(), "refusal expected for {ms:?}");
                    for r in [
                        st.label_names(tenant, &ms, range, usize::MAX).err(),
                        st.series(tenant, &ms, range, usize::MAX).err(),
                    ] {
                        prop_assert!(r.is_some(), "refusal expected for {ms:?}");
                    }
                    continue;
                };
                // Samples: the series with samples in the exact range.
                let mut want_samples: Vec<(Vec<u8>, Vec<i64>, Vec<u64>)> = Vec::new();
                for s in &want {
                    let i = series_index(&w.model, s);
                    let in_range: Vec<(i64, f64)> = w.samples[i]
                        .range(range.min_timestamp..=range.max_timestamp)
                        .map(|(&t, &v)| (t, v))
                        .collect();
                    if !in_range.is_empty() {
                        want_samples.push((
                            s.raw.clone(),
                            in_range.iter().map(|x| x.0).collect(),
                            in_range.iter().map(|x| x.1.to_bits()).collect(),
                        ));
                    }
                }
                want_samples.sort();
                let mut got_samples: Vec<(Vec<u8>, Vec<i64>, Vec<u64>)> = got
                    .expect("search_samples")
                    .into_iter()
                    .map(|s| {
                        (
                            s.name,
                            s.timestamps,
                            s.values.iter().map(|v| v.to_bits()).collect(),
                        )
                    })
                    .collect();
                got_samples.sort();
                prop_assert_eq!(
                    got_samples,
                    want_samples,
                    "search_samples {:?} {:?} {:?}",
                    tenant,
                    ms,
                    range
                );
                let mut s = st.search(tenant, &ms, range, usize::MAX).expect("search");
                let mut found_tsids: Vec<(Vec<u8>, Tsid)> = Vec::new();
                while let Some(found) = s.next_series() {
                    let found = found.expect("next_series");
                    found_tsids.push((found.name, found.tsid));
                }
                // The index's answers: series by the days the range touches.
                let mut names: Vec<Vec<u8>> = want.iter().map(|s| s.raw.clone()).collect();
                names.sort();
                prop_assert_eq!(
                    st.series(tenant, &ms, range, usize::MAX).expect("series"),
                    names,
                    "series {:?}",
                    ms
                );
                let ln: BTreeSet<String> =
                    want.iter().flat_map(|s| s.labels.keys().cloned()).collect();
                prop_assert_eq!(
                    st.label_names(tenant, &ms, range, usize::MAX)
                        .expect("label_names"),
                    ln.into_iter().collect::<Vec<_>>()
                );
                let lv: BTreeSet<String> = want
                    .iter()
                    .filter_map(|s| s.labels.get("instance").cloned())
                    .collect();
                prop_assert_eq!(
                    st.label_values(tenant, "instance", &ms, range, usize::MAX)
                        .expect("label_values"),
                    lv.into_iter().collect::<Vec<_>>()
                );
                check_status(
                    st.tsdb_status(tenant, &ms, range, usize::MAX)
                        .expect("status"),
                    &want,
                )?;
                // Tsids: stable for a live series, never one of another series.
                for (name, tsid) in found_tsids {
                    let i = w
                        .model
                        .series
                        .iter()
                        .position(|x| x.tenant == tenant && x.raw == name && !x.deleted)
                        .expect("a found series is a live series of the model");
                    if w.model.series[i].tsid == Tsid::default() {
                        prop_assert!(
                            w.model
                                .series
                                .iter()
                                .all(|x| x.tsid.metric_id != tsid.metric_id),
                            "metric id {} reused",
                            tsid.metric_id
                        );
                        w.model.series[i].tsid = tsid;
                    }
                    prop_assert_eq!(w.model.series[i].tsid, tsid);
                }
            }
            let all = w.model.select(tenant, &[], days).expect("all");
            for l in ["__name__", "job", "mode"] {
                let lv: BTreeSet<String> = all
                    .iter()
                    .filter_map(|s| s.labels.get(l).cloned())
                    .collect();
                prop_assert_eq!(
                    st.label_values(tenant, l, &[], range, usize::MAX)
                        .expect("label_values"),
                    lv.into_iter().collect::<Vec<_>>()
                );
            }
            check_status(
                st.tsdb_status(tenant, &[], range, usize::MAX)
                    .expect("status"),
                &all,
            )?;
        }
    }
    Ok(())
}

fn series_index(m: &Model, s: &Series) -> usize {
    m.series
        .iter()
        .position(|x| std::ptr::eq(x, s))
        .expect("a selected series is in the model")
}

fn run(ops: Vec<Op>, selectors: Vec<Vec<usize>>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut st = open(dir.path());
    let mut w = World {
        model: Model { series: Vec::new() },
        samples: Vec::new(),
    };
    for op in ops {
        match op {
            Op::Add(specs) => {
                let names: Vec<Vec<u8>> = specs.iter().map(|s| name(&labels_of(s))).collect();
                let rows: Vec<MetricRow<'_>> = specs
                    .iter()
                    .zip(&names)
                    .map(|(s, n)| MetricRow {
                        tenant: TENANTS[s.0],
                        name: n,
                        timestamp: T0 + s.5 * DAY + OFFSETS[s.6],
                        value: f64::from(s.7),
                    })
                    .collect();
                st.add_rows(&rows).expect("add_rows");
                for s in &specs {
                    let i = w.series(s.0, &labels_of(s), s.5);
                    let v = w.samples[i]
                        .entry(T0 + s.5 * DAY + OFFSETS[s.6])
                        .or_insert(f64::from(s.7));
                    // Duplicate timestamps keep the larger value.
                    *v = v.max(f64::from(s.7));
                }
            }
            Op::Delete {
                tenant,
                matchers: sel,
            } => {
                let t = TENANTS[tenant];
                let got = st.delete_series(t, &matchers(&sel));
                match w.model.select(t, &sel, None) {
                    None => prop_assert!(got.is_err()),
                    Some(v) => {
                        let raws: BTreeSet<Vec<u8>> = v.iter().map(|s| s.raw.clone()).collect();
                        prop_assert_eq!(got.expect("delete"), raws.len() as u64);
                        for s in w
                            .model
                            .series
                            .iter_mut()
                            .filter(|s| s.tenant == t && !s.deleted && raws.contains(&s.raw))
                        {
                            s.deleted = true;
                        }
                    }
                }
            }
            Op::Reopen => {
                st.close().expect("close");
                st = open(dir.path());
            }
            Op::ForceMerge => st.force_merge().expect("force merge"),
            Op::Flush => st.force_flush().expect("flush"),
        }
    }
    check_all(&st, &mut w, &selectors)?;
    st.force_merge().expect("force merge");
    check_all(&st, &mut w, &selectors)?;
    let stats = st.stats();
    prop_assert_eq!(stats.background_errors, 0);
    st.close().expect("close");
    let st = open(dir.path());
    check_all(&st, &mut w, &selectors)?;
    st.close().expect("close");
    Ok(())
}

proptest! {
    // 24 cases by default; `PROPTEST_CASES=1000` for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]
    #[test]
    fn every_storage_answer_equals_a_brute_force_filter(
        ops in proptest::collection::vec(op(), 1..40),
        selectors in proptest::collection::vec(proptest::collection::vec(0..MATCHERS.len(), 1..4), 1..5),
    ) {
        run(ops, selectors)?;
    }
}
