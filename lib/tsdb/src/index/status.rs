//! The data behind Prometheus's `/api/v1/status/tsdb` (and VictoriaMetrics's extension of it):
//! series counts by metric name, by label name and by label pair, and value counts by label
//! name, for one day or for all time.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::tsid::Tenant;

use super::id_set;
use super::index_db::IndexDb;
use super::keys::{self, Scope, posting_ids};

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
    /// Cardinality figures for `day` (days since the epoch, see [`keys::day_of`]) or, with
    /// `None`, for all time; each list cut to `top_n`.
    pub fn status(&self, tenant: Tenant, day: Option<u32>, top_n: usize) -> Result<TsdbStatus> {
        self.check_open()?;
        let scope = day.map_or(Scope::Global, Scope::Day);
        let mut s = self.table.search();
        let deleted = self.deleted.snapshot();
        let prefix = keys::posting_scope_prefix(scope, tenant);
        let (mut by_metric, mut by_name, mut by_pair, mut values) = (
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::<String, u64>::new(),
        );
        let mut pairs = 0u64;
        let mut cur: Option<(Vec<u8>, Vec<u8>)> = None;
        let mut ids: Vec<u64> = Vec::new();
        let mut finish = |pair: Option<(Vec<u8>, Vec<u8>)>, ids: &mut Vec<u64>| {
            let Some((l, v)) = pair else { return };
            id_set::normalize(ids);
            let n = ids.iter().filter(|id| !deleted.contains(id)).count() as u64;
            ids.clear();
            if n == 0 {
                return;
            }
            let (l, v) = (
                String::from_utf8_lossy(&l).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            );
            pairs += 1;
            if l == "__name__" {
                by_metric.insert(v.clone(), n);
            }
            *by_name.entry(l.clone()).or_insert(0) += n;
            *values.entry(l.clone()).or_insert(0) += 1;
            by_pair.insert(format!("{l}={v}"), n);
        };
        s.seek(&prefix)?;
        while let Some(item) = s.next_with_prefix(&prefix)? {
            let Some((l, v, plen)) = keys::split_posting(item, prefix.len()) else {
                return Err(Error::corruption(
                    self.dir.join("table"),
                    "posting item",
                    "malformed label pair",
                ));
            };
            if cur.as_ref().is_none_or(|(cl, cv)| *cl != l || *cv != v) {
                finish(cur.take(), &mut ids);
                cur = Some((l, v));
            }
            ids.extend(posting_ids(item, plen));
        }
        finish(cur.take(), &mut ids);
        let total = match scope {
            Scope::Global => self.all_ids(&mut s, tenant, &[Scope::Global])?.len(),
            Scope::Day(d) => {
                let p = keys::date_id_key(d, tenant, None);
                let mut all = Vec::new();
                s.seek(&p)?;
                while let Some(item) = s.next_with_prefix(&p)? {
                    all.extend(keys::u64_at(item, 13));
                }
                id_set::normalize(&mut all);
                all.iter().filter(|id| !deleted.contains(id)).count()
            }
        };
        Ok(TsdbStatus {
            total_series: total as u64,
            total_label_value_pairs: pairs,
            series_count_by_metric_name: top(by_metric, top_n),
            series_count_by_label_name: top(by_name, top_n),
            series_count_by_label_value_pair: top(by_pair, top_n),
            label_value_count_by_label_name: top(values, top_n),
        })
    }
}
