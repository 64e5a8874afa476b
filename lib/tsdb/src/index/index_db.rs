//! [`IndexDb`]: registration of series (the per-row hot path), opening, flushing, snapshots,
//! closing and stats. Lookups are in `search.rs`, status in `status.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashSet;
use xxhash_rust::xxh3::xxh3_64;

use crate::clock::SharedClock;
use crate::error::{Error, Result};
use crate::mergeset::{self, Table, TableSearch, TableStats};
use crate::metric_name::{self, Label};
use crate::tsid::{Tenant, Tsid};
use crate::wal::FsyncMode;

use super::deletes::DeletedIds;
use super::keys::{self, day_of};
use super::merge_hook;
use super::registration::{IdAllocator, REG_SHARDS, RegShard, shard_of};
use super::tsid_cache::{Entry, NO_DAY, TsidCache, series_key};

/// Directory of the index's mergeset table.
pub const TABLE_DIR: &str = "table";
/// The persisted deleted set.
pub const DELETED_FILE: &str = "deleted.bin";
/// The metric id high-water mark.
pub const METRIC_IDS_FILE: &str = "metric_ids.bin";
/// Largest canonical name registered, in bytes.
pub const MAX_NAME_LEN: usize = 16 << 10;

/// How the index behaves. Every field has a sensible default.
#[derive(Clone, Debug)]
pub struct IndexConfig {
    /// What a returned registration survives. Default: a process crash.
    pub fsync: FsyncMode,
    /// Entries of the hot-path cache; set it above the number of active series. Default 4 Mi.
    /// Each entry is a 48-byte slot in a table kept between 3/8 and 3/4 full: 64 to 128 bytes
    /// per cached series, about 400 MiB when full (103 B per series measured at 1 M series).
    pub tsid_cache_entries: usize,
    /// Time ranges touching more days than this use the all-time postings. Default 40.
    pub max_days_per_search: u32,
    /// Once a selector's candidates are fewer than this, its remaining matchers are checked
    /// against the candidates' names instead of reading postings. Default 100.
    pub check_names_below: usize,
    /// Settings of the underlying mergeset (its hook is the index's own).
    pub table: mergeset::Config,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            fsync: FsyncMode::default(),
            tsid_cache_entries: 4 << 20,
            max_days_per_search: 40,
            check_names_below: 100,
            table: mergeset::Config::default(),
        }
    }
}

/// One row's series, as the hot path takes it.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The tenant.
    pub tenant: Tenant,
    /// The canonical name encoding ([`crate::metric_name::encode`]).
    pub name: &'a [u8],
    /// The row's timestamp; its day is registered in the per-day index.
    pub timestamp_ms: i64,
}

/// Counters and gauges for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Live series (found at open plus created since, minus deleted since).
    pub series: u64,
    /// Series created since open.
    pub new_series_created: u64,
    /// Series found in the index by a registration that missed the cache (e.g. evicted).
    pub series_found_in_index: u64,
    /// (series, day) pairs added to the per-day index since open.
    pub day_registrations: u64,
    /// Hot-path cache hits.
    pub cache_hits: u64,
    /// Hot-path cache misses.
    pub cache_misses: u64,
    /// Hot-path cache entries.
    pub cache_entries: u64,
    /// Bytes of the hot-path cache and the series filter.
    pub cache_bytes: u64,
    /// Deleted series.
    pub deleted_series: u64,
    /// The mergeset's figures: parts, items, bytes.
    pub table: TableStats,
}

/// The series index of one storage node.
///
/// ```
/// # fn main() -> tsdb::Result<()> {
/// use tsdb::index::{IndexConfig, IndexDb, LabelMatcher, MatchKind};
/// use tsdb::metric_name::{Label, encode};
/// use tsdb::{Tenant, TimeRange};
/// let dir = tempfile::tempdir().unwrap();
/// let idx = IndexDb::open(dir.path(), IndexConfig::default(), tsdb::clock::system_clock())?;
/// let mut name = Vec::new();
/// encode(&[Label { name: "__name__", value: "up" }, Label { name: "job", value: "node" }], &mut name);
/// let t = Tenant::new(1, 0);
/// let tsid = idx.get_or_create_tsid(t, &name, 1_700_000_000_000)?;
/// assert_eq!(idx.get_or_create_tsid(t, &name, 1_700_000_000_000)?, tsid);
/// let found = idx.search_tsids(t, &[LabelMatcher::new("job", MatchKind::Re, "no.*")],
///     TimeRange::new(1_700_000_000_000, 1_700_000_000_000), 100)?;
/// assert_eq!(found, vec![tsid]);
/// idx.close()?;
/// # Ok(()) }
/// ```
pub struct IndexDb {
    pub(super) dir: PathBuf,
    pub(super) table: Table,
    pub(super) config: IndexConfig,
    pub(super) deleted: Arc<DeletedIds>,
    pub(super) cache: TsidCache,
    /// Registration shards (see `registration.rs`).
    pub(super) reg: Vec<Mutex<RegShard>>,
    /// Taken inside a shard lock, never the other way round.
    pub(super) ids: Mutex<IdAllocator>,
    series_at_open: u64,
    deleted_since_open: AtomicU64,
    pub(super) new_series: AtomicU64,
    pub(super) found_in_index: AtomicU64,
    pub(super) day_registrations: AtomicU64,
    closed: AtomicBool,
}

impl std::fmt::Debug for IndexDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexDb").field("dir", &self.dir).finish()
    }
}

/// The Tsid fields derived from a name: hashes of the metric name, `job` and `instance`.
fn derived_fields(name_raw: &[u8]) -> (u64, u32, u32) {
    let v = |l: &str| metric_name::find_value(name_raw, l).ok().flatten();
    let h32 = |l: &str| v(l).map_or(0, |s| xxh3_64(s.as_bytes()) as u32);
    (
        xxh3_64(v("__name__").unwrap_or("").as_bytes()),
        h32("job"),
        h32("instance"),
    )
}

/// Builds the Tsid of a series from its name and metric id.
pub fn tsid_from_name(tenant: Tenant, name_raw: &[u8], metric_id: u64) -> Tsid {
    let (metric_group_id, job_id, instance_id) = derived_fields(name_raw);
    Tsid {
        tenant,
        metric_group_id,
        job_id,
        instance_id,
        metric_id,
    }
}

fn entry_for(name_raw: &[u8], metric_id: u64) -> Entry {
    let (metric_group_id, job_id, instance_id) = derived_fields(name_raw);
    entry_of(metric_group_id, job_id, instance_id, metric_id)
}

/// Like [`entry_for`], from decoded labels.
pub(super) fn entry_from_labels(labels: &[Label<'_>], metric_id: u64) -> Entry {
    let v = |n: &str| {
        labels
            .iter()
            .find(|l| l.name == n)
            .map(|l| l.value.as_bytes())
    };
    let h32 = |n: &str| v(n).map_or(0, |s| xxh3_64(s) as u32);
    entry_of(
        xxh3_64(v("__name__").unwrap_or(b"")),
        h32("job"),
        h32("instance"),
        metric_id,
    )
}

fn entry_of(metric_group_id: u64, job_id: u32, instance_id: u32, metric_id: u64) -> Entry {
    Entry {
        metric_group_id,
        metric_id,
        job_id,
        instance_id,
        days: [NO_DAY; 2],
    }
}

#[inline]
pub(super) fn tsid_of(tenant: Tenant, e: &Entry) -> Tsid {
    Tsid {
        tenant,
        metric_group_id: e.metric_group_id,
        job_id: e.job_id,
        instance_id: e.instance_id,
        metric_id: e.metric_id,
    }
}

/// Decodes a name and checks that it is canonical.
pub(super) fn canonical_labels(name_raw: &[u8]) -> Result<Vec<Label<'_>>> {
    let bad = |why: String| Error::InvalidArgument(format!("series name is not canonical: {why}"));
    if name_raw.len() > MAX_NAME_LEN {
        return Err(bad(format!(
            "{} bytes, over the limit of {MAX_NAME_LEN}",
            name_raw.len()
        )));
    }
    let labels = metric_name::decode(name_raw).map_err(|e| bad(e.to_string()))?;
    if labels.is_empty() {
        return Err(bad("no labels".to_owned()));
    }
    if let Some(l) = labels
        .iter()
        .find(|l| l.value.is_empty() || l.name.is_empty())
    {
        return Err(bad(format!(
            "label {:?} has an empty name or value",
            l.name
        )));
    }
    if let Some(w) = labels.windows(2).find(|w| w[0].name >= w[1].name) {
        return Err(bad(format!(
            "labels {:?} and {:?} are not strictly sorted",
            w[0].name, w[1].name
        )));
    }
    Ok(labels)
}

/// Buffers of [`IndexDb::cached_tsids`], reused across calls.
#[derive(Debug, Default)]
pub struct CachedLookup {
    keys: Vec<u128>,
    entries: Vec<Option<Entry>>,
    order: Vec<u32>,
}

impl IndexDb {
    /// Opens (or creates) the index in `dir`. Replays the table's WAL, then warms the caches
    /// by one scan of the name items: every series goes into the filter and, up to the
    /// cache's capacity, into the hot-path cache with today's per-day registration.
    pub fn open(dir: &Path, config: IndexConfig, clock: SharedClock) -> Result<IndexDb> {
        crate::fs::create_dir_durable(dir)?;
        crate::fs::remove_temporaries(dir)?;
        let deleted = Arc::new(DeletedIds::open(&dir.join(DELETED_FILE))?);
        let mut table_cfg = config.table.clone();
        table_cfg.fsync = config.fsync;
        table_cfg.prepare_block = Some(merge_hook::hook(Arc::clone(&deleted)));
        let table = Table::open(&dir.join(TABLE_DIR), table_cfg)?;
        let ids = IdAllocator::open(&dir.join(METRIC_IDS_FILE), clock.now_ms())?;
        let cache = TsidCache::new(config.tsid_cache_entries);
        let mut reg: Vec<RegShard> = (0..REG_SHARDS).map(|_| RegShard::new()).collect();
        let today = day_of(clock.now_ms());
        let mut s = table.search();
        let mut today_ids = FxHashSet::default();
        let day_prefix = [&[keys::NS_DATE_ID][..], &today.to_be_bytes()].concat();
        s.seek(&day_prefix)?;
        while let Some(item) = s.next_with_prefix(&day_prefix)? {
            today_ids.extend(keys::u64_at(item, 13));
        }
        let mut series = 0u64;
        s.seek(&[keys::NS_NAME_TO_ID])?;
        while let Some(item) = s.next_with_prefix(&[keys::NS_NAME_TO_ID])? {
            let Some((tenant, name, id)) = keys::parse_name_to_id(item) else {
                return Err(Error::corruption(
                    dir.join(TABLE_DIR),
                    "name item",
                    format!("malformed item of {} bytes", item.len()),
                ));
            };
            if deleted.contains(id) {
                continue;
            }
            let key = series_key(tenant, name);
            reg[shard_of(key)].filter.insert(key);
            let mut e = entry_for(name, id);
            if today_ids.contains(&id) {
                e.add_day(today);
            }
            cache.insert(key, e);
            series += 1;
        }
        Ok(IndexDb {
            dir: dir.to_owned(),
            table,
            config,
            deleted,
            cache,
            reg: reg.into_iter().map(Mutex::new).collect(),
            ids: Mutex::new(ids),
            series_at_open: series,
            deleted_since_open: AtomicU64::new(0),
            new_series: AtomicU64::new(0),
            found_in_index: AtomicU64::new(0),
            day_registrations: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    pub(super) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The hot path: the Tsid of a row's series, registering the series (and its day) if new.
    /// A known series on a known day costs one hash and one cache lookup.
    pub fn get_or_create_tsid(
        &self,
        tenant: Tenant,
        name_raw: &[u8],
        timestamp_ms: i64,
    ) -> Result<Tsid> {
        let key = series_key(tenant, name_raw);
        if let Some(e) = self.cache.get(key)
            && e.has_day(day_of(timestamp_ms))
        {
            self.check_open()?;
            return Ok(tsid_of(tenant, &e));
        }
        let mut out = Vec::with_capacity(1);
        self.register_slow(
            &[Row {
                tenant,
                name: name_raw,
                timestamp_ms,
            }],
            &[0],
            &mut out,
        )?;
        Ok(out[0])
    }

    /// The hot path's first step without registering: the Tsid of a series the cache knows
    /// to be registered for the day of `timestamp_ms` (one hash and one cache probe, no
    /// allocation). `None`: [`IndexDb::get_or_create_tsids`] must register the row. Does not
    /// check that the index is open.
    #[inline]
    pub fn cached_tsid(&self, tenant: Tenant, name_raw: &[u8], timestamp_ms: i64) -> Option<Tsid> {
        match self.cache.get(series_key(tenant, name_raw)) {
            Some(e) if e.has_day(day_of(timestamp_ms)) => Some(tsid_of(tenant, &e)),
            _ => None,
        }
    }

    /// [`IndexDb::cached_tsid`] for a batch: `out[i]` answers `rows[i]` (tenant, canonical
    /// name, timestamp). One cache call for the whole batch, whose probes overlap
    /// ([`TsidCache::get_many`]). `scratch` keeps its buffers across calls.
    pub fn cached_tsids<'r>(
        &self,
        rows: impl Iterator<Item = (Tenant, &'r [u8], i64)> + Clone,
        scratch: &mut CachedLookup,
        out: &mut Vec<Option<Tsid>>,
    ) {
        scratch.keys.clear();
        scratch.keys.extend(
            rows.clone()
                .map(|(tenant, name, _)| series_key(tenant, name)),
        );
        self.cache
            .get_many(&scratch.keys, &mut scratch.entries, &mut scratch.order);
        out.clear();
        out.extend(
            rows.zip(&scratch.entries)
                .map(|((tenant, _, ts), e)| match e {
                    Some(e) if e.has_day(day_of(ts)) => Some(tsid_of(tenant, e)),
                    _ => None,
                }),
        );
    }

    /// The batch form of [`IndexDb::get_or_create_tsid`]: fills `out` with one Tsid per row.
    /// New series of the batch share one WAL record and at most one index search. Fails on
    /// the first row whose name is not canonical, registering none of the batch's new series.
    pub fn get_or_create_tsids(&self, rows: &[Row<'_>], out: &mut Vec<Tsid>) -> Result<()> {
        self.check_open()?;
        out.clear();
        let mut slow = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            match self.cache.get(series_key(r.tenant, r.name)) {
                Some(e) if e.has_day(day_of(r.timestamp_ms)) => out.push(tsid_of(r.tenant, &e)),
                _ => {
                    out.push(Tsid::default());
                    slow.push(i);
                }
            }
        }
        if slow.is_empty() {
            return Ok(());
        }
        self.register_slow(rows, &slow, out)
    }

    /// Registers rows that [`IndexDb::cached_tsid`] did not find (new series, or known ones
    /// on a new day), filling `out` with one Tsid per row, without probing the cache again.
    /// Same guarantees as [`IndexDb::get_or_create_tsids`].
    pub fn register(&self, rows: &[Row<'_>], out: &mut Vec<Tsid>) -> Result<()> {
        let all: Vec<usize> = (0..rows.len()).collect();
        out.clear();
        self.register_slow(rows, &all, out)
    }

    /// The live metric id registered for a name, if any.
    pub(super) fn lookup_name(
        &self,
        s: &mut TableSearch,
        tenant: Tenant,
        name_raw: &[u8],
    ) -> Result<Option<u64>> {
        let prefix = keys::name_to_id_prefix(tenant, name_raw);
        s.seek(&prefix)?;
        while let Some(item) = s.next_with_prefix(&prefix)? {
            if let Some(id) = keys::trailing_id(item).filter(|_| item.len() == prefix.len() + 8)
                && !self.deleted.contains(id)
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Whether series `metric_id` was deleted. One atomic load while nothing is deleted; the
    /// data path calls it (or holds [`IndexDb::deleted_ids`]) to drop rows in its merges.
    #[inline]
    pub fn is_deleted(&self, metric_id: u64) -> bool {
        self.deleted.contains(metric_id)
    }

    /// The deleted set, to hold across many checks.
    pub fn deleted_ids(&self) -> Arc<DeletedIds> {
        Arc::clone(&self.deleted)
    }

    /// Marks `ids` deleted and drops them from the hot-path cache; returns how many were new.
    pub(super) fn mark_deleted(&self, ids: &[u64]) -> Result<usize> {
        let _reg = self.reg_all();
        let n = self.deleted.add(ids)?;
        if n > 0 {
            let snap = self.deleted.snapshot();
            self.cache.retain(|id| !snap.contains(&id));
            self.deleted_since_open
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }

    /// Makes everything registered so far durable in file parts and trims the WAL.
    pub fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.table.flush()
    }

    /// Flushes and merges the whole index into one part, purging deleted series.
    pub fn force_merge(&self) -> Result<()> {
        self.check_open()?;
        self.table.force_merge()
    }

    /// Writes a consistent copy of the index to `dst` (which must not exist), hard-linking
    /// the part files.
    pub fn snapshot(&self, dst: &Path) -> Result<()> {
        self.check_open()?;
        // No new ids or deletes while copying the small files.
        let _reg = self.reg_all();
        let _ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        crate::fs::create_dir_durable(dst)?;
        self.table.snapshot(&dst.join(TABLE_DIR))?;
        for name in [DELETED_FILE, METRIC_IDS_FILE] {
            let src = self.dir.join(name);
            match std::fs::read(&src) {
                Ok(data) => crate::fs::replace_file_atomic(&dst.join(name), &data)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("read for snapshot", &src, e)),
            }
        }
        Ok(())
    }

    /// Flushes and closes; background threads stop. Later calls fail with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        let _reg = self.reg_all();
        self.closed.store(true, Ordering::Release);
        self.table.close()
    }

    /// Counters and gauges.
    pub fn stats(&self) -> IndexStats {
        let (hits, misses) = self.cache.hits_misses();
        let filter_bytes: usize = (0..REG_SHARDS)
            .map(|i| self.reg_shard(i).filter.size_bytes())
            .sum();
        let new = self.new_series.load(Ordering::Relaxed);
        IndexStats {
            series: (self.series_at_open + new)
                .saturating_sub(self.deleted_since_open.load(Ordering::Relaxed)),
            new_series_created: new,
            series_found_in_index: self.found_in_index.load(Ordering::Relaxed),
            day_registrations: self.day_registrations.load(Ordering::Relaxed),
            cache_hits: hits,
            cache_misses: misses,
            cache_entries: self.cache.len() as u64,
            cache_bytes: (self.cache.size_bytes() + filter_bytes) as u64,
            deleted_series: self.deleted.len() as u64,
            table: self.table.stats(),
        }
    }
}

#[cfg(test)]
#[path = "index_db_tests.rs"]
mod tests;
