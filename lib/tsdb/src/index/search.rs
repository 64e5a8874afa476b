//! Lookups: matchers → series ids (per day or all time) → Tsids, names, label names and
//! values; deletes by matchers.

use std::collections::BTreeSet;

use crate::error::{Error, Result};
use crate::mergeset::TableSearch;
use crate::metric_name;
use crate::time_range::TimeRange;
use crate::tsid::{Tenant, Tsid};

use super::id_set::{self, BoxPostings, SlicePostings};
use super::index_db::{IndexDb, tsid_from_name};
use super::keys::{
    self, Scope, day_of, posting_ids, put_escaped, put_escaped_prefix, take_escaped,
};
use super::matcher::{CompiledMatcher, LabelMatcher, Polarity, Selection};

impl IndexDb {
    pub(super) fn scopes(&self, r: TimeRange) -> Result<Vec<Scope>> {
        if r.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "time range ends ({}) before it starts ({})",
                r.max_timestamp, r.min_timestamp
            )));
        }
        let (a, b) = (day_of(r.min_timestamp), day_of(r.max_timestamp));
        if b - a >= self.config.max_days_per_search {
            return Ok(vec![Scope::Global]);
        }
        Ok((a..=b).map(Scope::Day).collect())
    }

    /// The series ids (sorted, live) matching all of `matchers` in any of `scopes`. Refuses
    /// selectors that could match every series, as Prometheus does.
    fn resolve(
        &self,
        s: &mut TableSearch,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        scopes: &[Scope],
    ) -> Result<Vec<u64>> {
        let compiled = matchers
            .iter()
            .map(LabelMatcher::compile)
            .collect::<Result<Vec<_>>>()?;
        if compiled.iter().all(CompiledMatcher::matches_empty) {
            let sel = matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::InvalidArgument(format!(
                "selector {{{sel}}} could match every series: at least one matcher must not match the empty string"
            )));
        }
        let mut all = Vec::new();
        for &scope in scopes {
            all.extend(self.resolve_scope(s, tenant, &compiled, scope)?);
        }
        id_set::normalize(&mut all);
        self.drop_deleted(&mut all);
        Ok(all)
    }

    fn drop_deleted(&self, ids: &mut Vec<u64>) {
        if !self.deleted.is_empty() {
            let d = self.deleted.snapshot();
            ids.retain(|id| !d.contains(id));
        }
    }

    fn resolve_scope(
        &self,
        s: &mut TableSearch,
        tenant: Tenant,
        matchers: &[CompiledMatcher],
        scope: Scope,
    ) -> Result<Vec<u64>> {
        // Cheapest first: exact values, then prefix scans, then full scans; negatives last.
        let cost = |m: &CompiledMatcher| {
            let sel = match m.selection() {
                Selection::Literals(v) => v.len().min(9),
                Selection::Scan { prefix, negate, .. } if !prefix.is_empty() && !negate => 10,
                Selection::Scan { .. } => 20,
            };
            sel + if m.polarity() == Polarity::Negative {
                100
            } else {
                0
            }
        };
        let mut order: Vec<&CompiledMatcher> = matchers.iter().collect();
        order.sort_by_key(|m| cost(m));
        let scope_prefix = keys::posting_scope_prefix(scope, tenant);
        let mut result: Option<Vec<u64>> = None;
        for (k, m) in order.iter().enumerate() {
            if let Some(cur) = &result
                && cur.len() < self.config.check_names_below
            {
                return self.check_names(s, tenant, cur, &order[k..]);
            }
            let mut ids = Vec::new();
            self.postings(s, &scope_prefix, m, &mut ids)?;
            id_set::normalize(&mut ids);
            let next = match (m.polarity(), &result) {
                (Polarity::Positive, None) => ids,
                (Polarity::Positive, Some(cur)) => {
                    let mut p = id_set::intersect(vec![boxed(cur), boxed(&ids)]);
                    id_set::collect(&mut *p)
                }
                (Polarity::Negative, Some(cur)) => {
                    let mut p = id_set::difference(boxed(cur), boxed(&ids));
                    id_set::collect(&mut *p)
                }
                (Polarity::Negative, None) => {
                    panic!("internal invariant: a positive matcher sorts before every negative one")
                }
            };
            if next.is_empty() {
                return Ok(next);
            }
            result = Some(next);
        }
        Ok(result.unwrap_or_default())
    }

    /// Keeps the ids whose names satisfy every matcher of `rest`.
    fn check_names(
        &self,
        s: &mut TableSearch,
        tenant: Tenant,
        ids: &[u64],
        rest: &[&CompiledMatcher],
    ) -> Result<Vec<u64>> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(name) = self.name_of(s, tenant, id)? else {
                continue;
            };
            let labels = metric_name::decode(&name).map_err(|e| {
                Error::corruption(
                    self.dir.join("table"),
                    format!("name of series {id}"),
                    e.to_string(),
                )
            })?;
            let value = |n: &str| labels.iter().find(|l| l.name == n).map_or("", |l| l.value);
            if rest.iter().all(|m| m.matches(value(m.name()))) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Appends the ids of every value of `m`'s label in `m`'s selection.
    fn postings(
        &self,
        s: &mut TableSearch,
        scope_prefix: &[u8],
        m: &CompiledMatcher,
        out: &mut Vec<u64>,
    ) -> Result<()> {
        let mut key = scope_prefix.to_vec();
        put_escaped(&mut key, m.name().as_bytes());
        let name_len = key.len();
        match m.selection() {
            Selection::Literals(values) => {
                for v in values {
                    key.truncate(name_len);
                    put_escaped(&mut key, v);
                    s.seek(&key)?;
                    while let Some(item) = s.next_with_prefix(&key)? {
                        out.extend(posting_ids(item, key.len()));
                    }
                }
            }
            Selection::Scan { prefix, .. } => {
                put_escaped_prefix(&mut key, prefix);
                s.seek(&key)?;
                let mut last: Option<(Vec<u8>, bool)> = None;
                let mut skip_to: Vec<u8> = Vec::new();
                while let Some(item) = s.next_with_prefix(&key)? {
                    let Some((value, n)) = take_escaped(&item[name_len..]) else {
                        return Err(Error::corruption(
                            self.dir.join("table"),
                            "posting item",
                            "malformed label value",
                        ));
                    };
                    let selected = match &last {
                        Some((v, sel)) if *v == value => *sel,
                        _ => {
                            let sel = m.selects(&value);
                            last = Some((value, sel));
                            sel
                        }
                    };
                    if selected {
                        out.extend(posting_ids(item, name_len + n));
                    } else {
                        // Past every item of this value (its escaped form then 01 instead of
                        // the 00 terminator) without reading their ids.
                        skip_to.clear();
                        skip_to.extend_from_slice(&item[..name_len + n - 1]);
                        skip_to.push(1);
                        s.seek(&skip_to)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The canonical name of series `id` of `tenant`.
    pub(super) fn name_of(
        &self,
        s: &mut TableSearch,
        tenant: Tenant,
        id: u64,
    ) -> Result<Option<Vec<u8>>> {
        let key = keys::id_to_name_prefix(tenant, id);
        Ok(s.seek_first(&key, &key)?
            .map(|item| item[key.len()..].to_vec()))
    }

    /// Every live series id of the tenant in the scopes.
    pub(super) fn all_ids(
        &self,
        s: &mut TableSearch,
        tenant: Tenant,
        scopes: &[Scope],
    ) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for &scope in scopes {
            let (prefix, at) = match scope {
                Scope::Global => (keys::id_to_name_prefix(tenant, 0)[..9].to_vec(), 9),
                Scope::Day(d) => (keys::date_id_key(d, tenant, None), 13),
            };
            s.seek(&prefix)?;
            while let Some(item) = s.next_with_prefix(&prefix)? {
                ids.extend(keys::u64_at(item, at));
            }
        }
        id_set::normalize(&mut ids);
        self.drop_deleted(&mut ids);
        Ok(ids)
    }

    /// The Tsids of the series that match every matcher and had rows in `range`, sorted.
    /// Fails when more than `max_series` match, naming the limit.
    pub fn search_tsids(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        max_series: usize,
    ) -> Result<Vec<Tsid>> {
        self.check_open()?;
        let mut s = self.table.search();
        let ids = self.resolve_limited(&mut s, tenant, matchers, range, max_series)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut key = keys::id_to_name_prefix(tenant, id);
            key[0] = keys::NS_ID_TO_TSID;
            if let Some(item) = s.seek_first(&key, &key)? {
                out.push(keys::parse_id_to_tsid(item).ok_or_else(|| {
                    Error::corruption(
                        self.dir.join("table"),
                        format!("Tsid of series {id}"),
                        format!("malformed item of {} bytes", item.len()),
                    )
                })?);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The series that match every matcher and had rows in `range`, as (Tsid, canonical
    /// name), sorted by Tsid. Fails when more than `max_series` match, naming the limit.
    ///
    /// What a query needs: the names are read in id order (each seek lands in or next to the
    /// block of the previous one) and each Tsid is derived from its name, so no Tsid item is
    /// read. Costs one name lookup per series where [`IndexDb::search_tsids`] followed by a
    /// lookup of each name in Tsid order (random in id order) costs two.
    pub fn search_series(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        max_series: usize,
    ) -> Result<Vec<(Tsid, Vec<u8>)>> {
        self.check_open()?;
        let mut s = self.table.search();
        let ids = self.resolve_limited(&mut s, tenant, matchers, range, max_series)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // A series deleted and purged from the index since the ids were read has no name.
            if let Some(name) = self.name_of(&mut s, tenant, id)? {
                out.push((tsid_from_name(tenant, &name, id), name));
            }
        }
        out.sort_unstable_by_key(|(t, _)| *t);
        Ok(out)
    }

    /// [`IndexDb::resolve`] over the scopes of `range`, refusing more than `max_series` ids.
    fn resolve_limited(
        &self,
        s: &mut TableSearch,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        max_series: usize,
    ) -> Result<Vec<u64>> {
        let scopes = self.scopes(range)?;
        let ids = self.resolve(s, tenant, matchers, &scopes)?;
        if ids.len() > max_series {
            let sel = matchers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::LimitExceeded {
                what: format!("the selector {{{sel}}} matches {} series", ids.len()),
                limit: max_series as u64,
                setting: "max_series",
            });
        }
        Ok(ids)
    }

    /// The ids of the series selected by optional matchers (none: every series) in `range`.
    pub(super) fn select(
        &self,
        s: &mut TableSearch,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
    ) -> Result<Vec<u64>> {
        let scopes = self.scopes(range)?;
        if matchers.is_empty() {
            self.all_ids(s, tenant, &scopes)
        } else {
            self.resolve(s, tenant, matchers, &scopes)
        }
    }

    /// The canonical names of the matching series (every series when `matchers` is empty),
    /// sorted bytewise, at most `limit` of them.
    pub fn series(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        self.check_open()?;
        let mut s = self.table.search();
        let ids = self.select(&mut s, tenant, matchers, range)?;
        let mut out = Vec::with_capacity(ids.len().min(limit));
        for id in ids {
            out.extend(self.name_of(&mut s, tenant, id)?);
        }
        out.sort_unstable();
        out.truncate(limit);
        Ok(out)
    }

    /// The label names of the matching series (of every series when `matchers` is empty),
    /// sorted, at most `limit`.
    pub fn label_names(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.check_open()?;
        let mut s = self.table.search();
        let mut names = BTreeSet::new();
        if matchers.is_empty() {
            for scope in self.scopes(range)? {
                let sp = keys::posting_scope_prefix(scope, tenant);
                self.distinct_under(&mut s, &sp, |n| {
                    names.insert(n);
                })?;
            }
        } else {
            for id in self.select(&mut s, tenant, matchers, range)? {
                if let Some(name) = self.name_of(&mut s, tenant, id)? {
                    for l in metric_name::decode(&name).unwrap_or_default() {
                        names.insert(l.name.to_owned());
                    }
                }
            }
        }
        Ok(names.into_iter().take(limit).collect())
    }

    /// The values of label `name` among the matching series (all series when `matchers` is
    /// empty), sorted, at most `limit`.
    pub fn label_values(
        &self,
        tenant: Tenant,
        name: &str,
        matchers: &[LabelMatcher],
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.check_open()?;
        let mut s = self.table.search();
        let mut values = BTreeSet::new();
        if matchers.is_empty() {
            for scope in self.scopes(range)? {
                let mut key = keys::posting_scope_prefix(scope, tenant);
                put_escaped(&mut key, name.as_bytes());
                self.distinct_under(&mut s, &key, |v| {
                    values.insert(v);
                })?;
            }
        } else {
            for id in self.select(&mut s, tenant, matchers, range)? {
                if let Some(raw) = self.name_of(&mut s, tenant, id)?
                    && let Ok(Some(v)) = metric_name::find_value(&raw, name)
                {
                    values.insert(v.to_owned());
                }
            }
        }
        Ok(values.into_iter().take(limit).collect())
    }

    /// Calls `f` with each distinct escaped string right after `prefix` in posting items that
    /// still have a live series, skipping from one to the next with a seek.
    fn distinct_under(
        &self,
        s: &mut TableSearch,
        prefix: &[u8],
        mut f: impl FnMut(String),
    ) -> Result<()> {
        let mut key = prefix.to_vec();
        loop {
            s.seek(&key)?;
            let Some(item) = s.next_with_prefix(prefix)? else {
                return Ok(());
            };
            let Some((v, n)) = take_escaped(&item[prefix.len()..]) else {
                return Err(Error::corruption(
                    self.dir.join("table"),
                    "posting item",
                    "malformed label",
                ));
            };
            let mut sub = item[..prefix.len() + n].to_vec();
            if self.any_live_under(s, &sub)? {
                f(String::from_utf8_lossy(&v).into_owned());
            }
            // Past every item of this string: its escaped form followed by 01 instead of 00.
            sub.pop();
            sub.push(1);
            key = sub;
        }
    }

    /// Whether some posting item under `prefix` (a label, or a label and value) holds a live
    /// series. True at once while nothing is deleted.
    fn any_live_under(&self, s: &mut TableSearch, prefix: &[u8]) -> Result<bool> {
        if self.deleted.is_empty() {
            return Ok(true);
        }
        let d = self.deleted.snapshot();
        s.seek(prefix)?;
        while let Some(item) = s.next_with_prefix(prefix)? {
            let scope = keys::posting_scope_len(item[0]).unwrap_or(item.len());
            if let Some((_, _, plen)) = keys::split_posting(item, scope)
                && posting_ids(item, plen).any(|id| !d.contains(&id))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes every series of the tenant matching `matchers` (all time): they vanish from
    /// lookups when this returns and are purged from the index by later merges. A series
    /// registered again afterwards gets a new Tsid. Returns how many series were deleted.
    pub fn delete_series(&self, tenant: Tenant, matchers: &[LabelMatcher]) -> Result<usize> {
        self.check_open()?;
        let mut s = self.table.search();
        let ids = self.resolve(&mut s, tenant, matchers, &[Scope::Global])?;
        self.mark_deleted(&ids)
    }
}

fn boxed(v: &[u64]) -> BoxPostings<'_> {
    Box::new(SlicePostings::new(v))
}
