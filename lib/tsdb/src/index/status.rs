//! The data behind Prometheus's `/api/v1/status/tsdb` (and VictoriaMetrics's extension of it):
//! series counts by metric name, by label name and by label pair, and value counts by label
//! name, for a time range.

use std::collections::{BTreeMap, HashMap};

use rustc_hash::FxHashSet;

use crate::error::{Error, Result};
use crate::mergeset::TableSearch;
use crate::metric_name;
use crate::time_range::TimeRange;
use crate::tsid::Tenant;

use super::id_set;
use super::index_db::IndexDb;
use super::keys::{self, Scope, posting_ids};
use super::matcher::LabelMatcher;

/// Cardinality figures of a tenant. Lists are sorted by count (descending), then by name, and
/// cut to the requested top N.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TsdbStatus {
    /// Live series.
    pub total_series: u64,
    /// Distinct (label, value) pairs with a live series.
    pub total_label_value_pairs: u64,
    /// `__name__` value → series.
    pub series_count_by_metric_name: Vec<(String, u64)>,
    /// Label name → series that have it.
    pub series_count_by_label_name: Vec<(String, u64)>,
    /// `name=value` → series.
    pub series_count_by_label_value_pair: Vec<(String, u64)>,
    /// Label name → distinct values.
    pub label_value_count_by_label_name: Vec<(String, u64)>,
}

fn top(map: HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = map.into_iter().collect();
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

impl IndexDb {
    /// Cardinality figures of the series that had rows in `range` (all series for ranges
    /// over [`super::IndexConfig::max_days_per_search`] days, as for the other lookups); each
    /// list cut to `top_n`. One day reads that day's postings as a stream; several days hold
    /// the union of each label pair's ids in memory while they are read.
    ///
    /// With matchers, only the matching series are counted (VictoriaMetrics's `match[]`): their
    /// names are read and tallied, so the cost grows with the number of matching series.
    pub fn status(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        top_n: usize,
    ) -> Result<TsdbStatus> {
        self.check_open()?;
        if !matchers.is_empty() {
            return self.status_of_matching(tenant, matchers, range, top_n);
        }
        let scopes = self.scopes(range)?;
        let mut s = self.table.search();
        let deleted = self.deleted.snapshot();
        let mut st = Tally::default();
        if let [scope] = scopes[..] {
            let mut cur: Option<(Vec<u8>, Vec<u8>)> = None;
            let mut ids: Vec<u64> = Vec::new();
            self.for_each_posting(&mut s, scope, tenant, |l, v, item_ids| {
                if cur.as_ref().is_none_or(|(cl, cv)| cl != l || cv != v) {
                    if let Some((cl, cv)) = cur.take() {
                        st.add(&cl, &cv, &mut ids, &deleted);
                    }
                    cur = Some((l.to_vec(), v.to_vec()));
                }
                ids.extend(item_ids);
            })?;
            if let Some((cl, cv)) = cur.take() {
                st.add(&cl, &cv, &mut ids, &deleted);
            }
        } else {
            let mut all: BTreeMap<(Vec<u8>, Vec<u8>), Vec<u64>> = BTreeMap::new();
            for &scope in &scopes {
                self.for_each_posting(&mut s, scope, tenant, |l, v, item_ids| {
                    all.entry((l.to_vec(), v.to_vec()))
                        .or_default()
                        .extend(item_ids);
                })?;
                all.values_mut().for_each(id_set::normalize);
            }
            for ((l, v), mut ids) in all {
                st.add(&l, &v, &mut ids, &deleted);
            }
        }
        let total = self.all_ids(&mut s, tenant, &scopes)?.len() as u64;
        Ok(TsdbStatus {
            total_series: total,
            total_label_value_pairs: st.pairs,
            series_count_by_metric_name: top(st.by_metric, top_n),
            series_count_by_label_name: top(st.by_name, top_n),
            series_count_by_label_value_pair: top(st.by_pair, top_n),
            label_value_count_by_label_name: top(st.values, top_n),
        })
    }

    /// [`IndexDb::status`] of the series that match `matchers`, from their names.
    fn status_of_matching(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        top_n: usize,
    ) -> Result<TsdbStatus> {
        let mut s = self.table.search();
        let ids = self.select(&mut s, tenant, matchers, range)?;
        let mut st = Tally::default();
        let mut total = 0u64;
        for id in ids {
            let Some(name) = self.name_of(&mut s, tenant, id)? else {
                continue;
            };
            let labels = metric_name::decode(&name).map_err(|e| {
                Error::corruption(
                    self.dir.join("table"),
                    format!("name of series {id}"),
                    e.to_string(),
                )
            })?;
            total += 1;
            for l in labels {
                let pair = format!("{}={}", l.name, l.value);
                let n = st.by_pair.entry(pair).or_insert(0);
                if *n == 0 {
                    st.pairs += 1;
                    *st.values.entry(l.name.to_owned()).or_insert(0) += 1;
                }
                *n += 1;
                *st.by_name.entry(l.name.to_owned()).or_insert(0) += 1;
                if l.name == "__name__" {
                    *st.by_metric.entry(l.value.to_owned()).or_insert(0) += 1;
                }
            }
        }
        Ok(TsdbStatus {
            total_series: total,
            total_label_value_pairs: st.pairs,
            series_count_by_metric_name: top(st.by_metric, top_n),
            series_count_by_label_name: top(st.by_name, top_n),
            series_count_by_label_value_pair: top(st.by_pair, top_n),
            label_value_count_by_label_name: top(st.values, top_n),
        })
    }

    /// Calls `f(label, value, ids)` for every posting item of the tenant in `scope`, in order.
    fn for_each_posting(
        &self,
        s: &mut TableSearch,
        scope: Scope,
        tenant: Tenant,
        mut f: impl FnMut(&[u8], &[u8], &mut dyn Iterator<Item = u64>),
    ) -> Result<()> {
        let prefix = keys::posting_scope_prefix(scope, tenant);
        s.seek(&prefix)?;
        while let Some(item) = s.next_with_prefix(&prefix)? {
            let Some((l, v, plen)) = keys::split_posting(item, prefix.len()) else {
                return Err(Error::corruption(
                    self.dir.join("table"),
                    "posting item",
                    "malformed label pair",
                ));
            };
            f(&l, &v, &mut posting_ids(item, plen));
        }
        Ok(())
    }
}

/// Counts being gathered.
#[derive(Default)]
struct Tally {
    pairs: u64,
    by_metric: HashMap<String, u64>,
    by_name: HashMap<String, u64>,
    by_pair: HashMap<String, u64>,
    values: HashMap<String, u64>,
}

impl Tally {
    /// Counts one label pair with its ids (emptied afterwards).
    fn add(&mut self, l: &[u8], v: &[u8], ids: &mut Vec<u64>, deleted: &FxHashSet<u64>) {
        id_set::normalize(ids);
        let n = ids.iter().filter(|id| !deleted.contains(id)).count() as u64;
        ids.clear();
        if n == 0 {
            return;
        }
        let (l, v) = (String::from_utf8_lossy(l), String::from_utf8_lossy(v));
        self.pairs += 1;
        if l == "__name__" {
            self.by_metric.insert(v.to_string(), n);
        }
        *self.by_name.entry(l.to_string()).or_insert(0) += n;
        *self.values.entry(l.to_string()).or_insert(0) += 1;
        self.by_pair.insert(format!("{l}={v}"), n);
    }
}
