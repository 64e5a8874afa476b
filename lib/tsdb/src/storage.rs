//! The Storage API: the series index and the sample table joined behind one type, the public
//! face of the crate.
//!
//! ```text
//! <dir>/indexdb/           series index (mergeset + its WAL), see docs/index-format.md
//! <dir>/samples/           sample table (WAL + monthly partitions), see docs/on-disk-format.md
//! <dir>/snapshots/<name>/  consistent copies made of hard links: indexdb/ and samples/
//! ```
//!
//! Per batch of rows, [`Storage::add_rows`] registers new series in the index first (the
//! index's own WAL makes the registration durable before the call returns), then appends the
//! rows to the sample table's WAL. After a crash, every row replayed from the sample WAL
//! therefore has its series in the index.
//!
//! ```
//! # fn main() -> tsdb::Result<()> {
//! use tsdb::index::{LabelMatcher, MatchKind};
//! use tsdb::storage::{Storage, StorageConfig};
//! use tsdb::{Tenant, TimeRange};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let storage = Storage::open(dir.path(), StorageConfig::default())?;
//! let now = tsdb::clock::system_clock().now_ms();
//! let tenant = Tenant::new(1, 0);
//! storage.add_labeled_rows(tenant, &[("__name__", "up"), ("job", "node")], &[(now, 1.0)])?;
//! storage.force_flush()?;
//! let found = storage.search_samples(
//!     tenant,
//!     &[LabelMatcher::new("__name__", MatchKind::Eq, "up")],
//!     TimeRange::new(now - 1000, now),
//!     100,
//! )?;
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].values, vec![1.0]);
//! storage.close()?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::block::Block;
use crate::error::{Error, Result};
use crate::index::{self, IndexConfig, IndexDb, LabelMatcher, TsdbStatus};
use crate::metric_name::{self, Label};
use crate::raw_rows::Row;
use crate::table::{Table, TableConfig};
use crate::table_search::TableSearch;
use crate::time_range::TimeRange;
use crate::tsid::{Tenant, Tsid};

/// Directory of the series index inside a storage directory.
pub const INDEX_DIR: &str = "indexdb";
/// Directory of the sample table inside a storage directory.
pub const SAMPLES_DIR: &str = "samples";
/// Directory of snapshots inside a storage directory.
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// How a storage behaves: the settings of its two halves. The fsync mode and the clock of the
/// table apply to the index too.
#[derive(Clone, Debug, Default)]
pub struct StorageConfig {
    /// The sample table: retention, dedup interval, flush interval, fsync mode, clock, merges.
    pub table: TableConfig,
    /// The series index: caches and search settings.
    pub index: IndexConfig,
}

/// One row to add: a series of a tenant, by its canonical name encoding, and a sample.
#[derive(Clone, Copy, Debug)]
pub struct MetricRow<'a> {
    /// Whose row.
    pub tenant: Tenant,
    /// Canonical label set ([`metric_name::encode`]).
    pub name: &'a [u8],
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The value, stored bit for bit.
    pub value: f64,
}

/// A series found by a search, with its raw blocks in the range (possibly overlapping and
/// unmerged; see [`crate::merge_series_blocks`]).
#[derive(Debug)]
pub struct FoundSeries {
    /// Canonical label set.
    pub name: Vec<u8>,
    /// The storage's id of the series.
    pub tsid: Tsid,
    /// Blocks holding its samples in the range.
    pub blocks: Vec<Block>,
}

/// A series with its merged, de-duplicated samples.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSamples {
    /// Canonical label set.
    pub name: Vec<u8>,
    /// Timestamps, ascending.
    pub timestamps: Vec<i64>,
    /// Values.
    pub values: Vec<f64>,
}

/// Figures for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Bytes of sample data on disk.
    pub data_bytes: u64,
    /// Samples in parts (file and in memory; before dedup and deletes by later merges).
    pub data_rows: u64,
    /// Samples dropped by flushes and merges because their series was deleted.
    pub rows_deleted: u64,
    /// Bytes of the index on disk.
    pub index_bytes: u64,
    /// Live series.
    pub series: u64,
    /// Series created since open.
    pub new_series: u64,
    /// Sample parts (file and in memory).
    pub parts: u64,
    /// Rows buffered, not yet in parts.
    pub pending_rows: u64,
    /// Rows added since open.
    pub rows_added: u64,
    /// Rows refused as older than the retention.
    pub rows_dropped_too_old: u64,
    /// Rows refused as too far in the future.
    pub rows_dropped_too_new: u64,
    /// Background merges of the sample table.
    pub merges: u64,
    /// Background errors of both halves.
    pub background_errors: u64,
    /// Hot-path cache hits of the index.
    pub index_cache_hits: u64,
    /// Hot-path cache misses of the index.
    pub index_cache_misses: u64,
    /// Heap bytes of the index's hot-path cache and series filters.
    pub index_cache_bytes: u64,
}

/// A storage: series index plus sample table. Every method takes `&self` and may be called
/// from many threads.
pub struct Storage {
    dir: PathBuf,
    index: Arc<IndexDb>,
    table: Table,
    clock: crate::clock::SharedClock,
    retention_ms: i64,
    future_limit_ms: i64,
    dropped_too_old: AtomicU64,
    dropped_too_new: AtomicU64,
    snapshot_seq: AtomicU64,
    /// Buffers of `add_rows`, reused across calls (one per concurrent caller).
    scratch: Mutex<Vec<AddScratch>>,
    /// Held shared by `add_rows` (registration + table append), exclusively by a snapshot:
    /// a snapshot's index holds exactly the series of its samples.
    gate: RwLock<()>,
}

/// Buffers of one `add_rows` call.
#[derive(Default)]
struct AddScratch {
    /// The accepted rows with their Tsids, in input order.
    rows: Vec<Row>,
    /// Rows whose series the cache did not know: (index in the input, index in `rows`).
    misses: Vec<(usize, usize)>,
    /// Indexes of the input rows inside the retention window.
    accepted: Vec<usize>,
    /// Buffers of the batched cache lookup.
    lookup: crate::index::CachedLookup,
    /// The cache's answer per accepted row.
    tsids: Vec<Option<Tsid>>,
}

/// `add_rows` buffers kept for reuse: more than concurrent callers is pointless.
const MAX_SCRATCH_BUFFERS: usize = 64;
/// Rows a kept `add_rows` buffer may hold (3 MiB).
const MAX_SCRATCH_ROWS: usize = 1 << 16;

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens (or creates) the storage in `dir`: the index first, then the sample table, whose
    /// WAL replay makes every acknowledged row searchable again.
    pub fn open(dir: &Path, config: StorageConfig) -> Result<Storage> {
        crate::fs::create_dir_durable(dir)?;
        let StorageConfig {
            mut table,
            mut index,
        } = config;
        index.fsync = table.fsync;
        let idx = Arc::new(IndexDb::open(
            &dir.join(INDEX_DIR),
            index,
            Arc::clone(&table.clock),
        )?);
        let deleted = idx.deleted_ids();
        table.is_deleted = Some(Arc::new(move |id| deleted.contains(id)));
        let clock = Arc::clone(&table.clock);
        let (retention_ms, future_limit_ms) = (table.retention_ms, table.future_limit_ms);
        let table = match Table::open(&dir.join(SAMPLES_DIR), table) {
            Ok(t) => t,
            Err(e) => {
                let _ = idx.close();
                return Err(e);
            }
        };
        crate::fs::remove_temporaries(&dir.join(SNAPSHOTS_DIR))?;
        Ok(Storage {
            dir: dir.to_owned(),
            index: idx,
            table,
            clock,
            retention_ms,
            future_limit_ms,
            dropped_too_old: AtomicU64::new(0),
            dropped_too_new: AtomicU64::new(0),
            snapshot_seq: AtomicU64::new(0),
            scratch: Mutex::new(Vec::new()),
            gate: RwLock::new(()),
        })
    }

    /// The series index, for lookups this API does not wrap.
    pub fn index(&self) -> &IndexDb {
        &self.index
    }

    /// Adds rows. Rows outside `[now - retention, now + future limit]` are dropped and counted
    /// (they would be invisible anyway) without registering their series. When this returns,
    /// every other row is in the WAL and its series in the index. Fails without adding
    /// anything if a row's name is not canonical ([`metric_name::encode`] of labels sorted by
    /// name, no empty values, no duplicates; see [`Storage::add_labeled_rows`]).
    ///
    /// The hot path, for rows of known series: per row one hash of the name and one cache
    /// probe, then one WAL record and one buffer append for the whole call; the buffers are
    /// reused from call to call, so a call allocates nothing.
    ///
    /// ```
    /// # fn main() -> tsdb::Result<()> {
    /// use tsdb::metric_name::{Label, encode};
    /// use tsdb::storage::{MetricRow, Storage, StorageConfig};
    /// use tsdb::Tenant;
    /// let dir = tempfile::tempdir().unwrap();
    /// let storage = Storage::open(dir.path(), StorageConfig::default())?;
    /// let mut name = Vec::new(); // canonical: labels sorted by name
    /// encode(&[Label { name: "__name__", value: "up" }, Label { name: "job", value: "api" }], &mut name);
    /// let now = tsdb::clock::system_clock().now_ms();
    /// let row = MetricRow { tenant: Tenant::new(0, 0), name: &name, timestamp: now, value: 1.0 };
    /// storage.add_rows(&[row])?; // a new series: registered, then its row logged
    /// storage.add_rows(&[MetricRow { timestamp: now + 15_000, ..row }])?; // known: cache hit
    /// assert_eq!(storage.stats().new_series, 1);
    /// assert_eq!(storage.stats().rows_added, 2);
    /// # storage.close() }
    /// ```
    pub fn add_rows(&self, rows: &[MetricRow<'_>]) -> Result<()> {
        let now = self.clock.now_ms();
        let accepted =
            crate::retention::accepted_range(now, self.retention_ms, self.future_limit_ms);
        let mut scratch = self.take_scratch();
        let AddScratch {
            rows: out,
            misses,
            accepted: kept,
            lookup,
            tsids,
        } = &mut scratch;
        let (mut too_old, mut too_new) = (0u64, 0u64);
        kept.clear();
        for (i, r) in rows.iter().enumerate() {
            match crate::retention::check_timestamp(r.timestamp, &accepted) {
                Ok(()) => kept.push(i),
                Err(crate::retention::DropReason::TooOld) => too_old += 1,
                Err(crate::retention::DropReason::TooNew) => too_new += 1,
            }
        }
        self.index.cached_tsids(
            kept.iter()
                .map(|&i| (rows[i].tenant, rows[i].name, rows[i].timestamp)),
            lookup,
            tsids,
        );
        for (&i, tsid) in kept.iter().zip(tsids.iter()) {
            let r = &rows[i];
            let tsid = match tsid {
                Some(tsid) => *tsid,
                None => {
                    misses.push((i, out.len()));
                    Tsid::default()
                }
            };
            out.push(Row {
                tsid,
                timestamp: r.timestamp,
                value: r.value,
            });
        }
        if too_old + too_new > 0 {
            self.dropped_too_old.fetch_add(too_old, Ordering::Relaxed);
            self.dropped_too_new.fetch_add(too_new, Ordering::Relaxed);
        }
        let res = {
            // A snapshot sees every call whole or not at all.
            let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
            self.register_misses(rows, out, misses)
                .and_then(|()| self.table.add_accepted_rows(out))
        };
        self.put_scratch(scratch);
        res
    }

    /// Registers the rows the cache did not know (new series, or known ones on a new day),
    /// writing their Tsids into `out`. `misses` holds (index in `rows`, index in `out`).
    fn register_misses(
        &self,
        rows: &[MetricRow<'_>],
        out: &mut [Row],
        misses: &[(usize, usize)],
    ) -> Result<()> {
        if misses.is_empty() {
            return Ok(());
        }
        let idx_rows: Vec<index::Row<'_>> = misses
            .iter()
            .map(|&(i, _)| index::Row {
                tenant: rows[i].tenant,
                name: rows[i].name,
                timestamp_ms: rows[i].timestamp,
            })
            .collect();
        let mut tsids = Vec::with_capacity(idx_rows.len());
        self.index.register(&idx_rows, &mut tsids)?;
        for (&(_, at), tsid) in misses.iter().zip(tsids) {
            out[at].tsid = tsid;
        }
        Ok(())
    }

    fn take_scratch(&self) -> AddScratch {
        self.scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn put_scratch(&self, mut scratch: AddScratch) {
        scratch.rows.clear();
        scratch.misses.clear();
        // A huge call's buffers are not worth keeping.
        if scratch.rows.capacity() > MAX_SCRATCH_ROWS {
            scratch = AddScratch::default();
        }
        let mut pool = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < MAX_SCRATCH_BUFFERS {
            pool.push(scratch);
        }
    }

    /// Adds samples of one series given by its labels (any order; empty values dropped).
    pub fn add_labeled_rows(
        &self,
        tenant: Tenant,
        labels: &[(&str, &str)],
        samples: &[(i64, f64)],
    ) -> Result<()> {
        let mut ls: Vec<Label<'_>> = labels
            .iter()
            .map(|&(name, value)| Label { name, value })
            .collect();
        metric_name::canonicalize(&mut ls).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut name = Vec::new();
        metric_name::encode(&ls, &mut name);
        let rows: Vec<MetricRow<'_>> = samples
            .iter()
            .map(|&(timestamp, value)| MetricRow {
                tenant,
                name: &name,
                timestamp,
                value,
            })
            .collect();
        self.add_rows(&rows)
    }

    /// Streams the series of `tenant` that match every matcher and have samples in `range`,
    /// with their raw blocks, in series-id order. Fails with [`Error::LimitExceeded`] when more
    /// than `max_series` match.
    pub fn search(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        max_series: usize,
    ) -> Result<StorageSearch<'_>> {
        let series = self
            .index
            .search_series(tenant, matchers, range, max_series)?;
        let tsids: Vec<Tsid> = series.iter().map(|(t, _)| *t).collect();
        let inner = self.table.search(&tsids, range)?;
        Ok(StorageSearch {
            inner,
            names: series.into_iter(),
        })
    }

    /// Like [`Storage::search`], with each series' samples merged and de-duplicated.
    pub fn search_samples(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        max_series: usize,
    ) -> Result<Vec<SeriesSamples>> {
        let mut s = self.search(tenant, matchers, range, max_series)?;
        let (range, dedup) = (s.inner.range(), s.inner.dedup_interval_ms());
        let mut out = Vec::new();
        while let Some(found) = s.next_series() {
            let found = found?;
            let (mut timestamps, mut values) = (Vec::new(), Vec::new());
            crate::merge::merge_series_blocks(
                found.blocks,
                range,
                dedup,
                &mut timestamps,
                &mut values,
            )?;
            if !timestamps.is_empty() {
                out.push(SeriesSamples {
                    name: found.name,
                    timestamps,
                    values,
                });
            }
        }
        Ok(out)
    }

    /// Label names of the matching series (all series without matchers) in `range`.
    pub fn label_names(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.index.label_names(tenant, matchers, range, limit)
    }

    /// Values of label `name` over the matching series in `range`.
    pub fn label_values(
        &self,
        tenant: Tenant,
        name: &str,
        matchers: &[LabelMatcher],
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.index
            .label_values(tenant, name, matchers, range, limit)
    }

    /// Canonical names of the matching series in `range`, sorted, at most `limit`.
    pub fn series(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        self.index.series(tenant, matchers, range, limit)
    }

    /// Cardinality figures for `/api/v1/status/tsdb` over the series seen in `range`, of the
    /// series that match `matchers` (all series without matchers), each list cut to `top_n`.
    pub fn tsdb_status(
        &self,
        tenant: Tenant,
        matchers: &[LabelMatcher],
        range: TimeRange,
        top_n: usize,
    ) -> Result<TsdbStatus> {
        self.index.status(tenant, matchers, range, top_n)
    }

    /// Deletes the matching series of `tenant`: they vanish from every answer at once and
    /// their samples are purged by later merges. Returns how many series were deleted.
    pub fn delete_series(&self, tenant: Tenant, matchers: &[LabelMatcher]) -> Result<u64> {
        if matchers.is_empty() {
            return Err(Error::InvalidArgument(
                "delete_series needs at least one matcher".into(),
            ));
        }
        Ok(self.index.delete_series(tenant, matchers)? as u64)
    }

    /// Makes every row added so far durable in file parts, in both halves.
    pub fn force_flush(&self) -> Result<()> {
        self.index.flush()?;
        self.table.force_flush()
    }

    /// Merges each partition into one part (dedup, retention and deletes applied) and the
    /// index into one part.
    pub fn force_merge(&self) -> Result<()> {
        self.index.force_merge()?;
        self.table.force_merge()
    }

    /// Creates a consistent snapshot under `<dir>/snapshots/<name>` and returns its name:
    /// hard links of both halves' parts after a flush, taken while `add_rows` calls pause, so
    /// that it holds exactly the rows acknowledged before it and exactly their series. Opening
    /// the directory (or a copy) with [`Storage::open`] gives a storage with that data.
    pub fn create_snapshot(&self) -> Result<String> {
        let now = self.clock.now_ms();
        let (y, mo, d) = crate::time_range::civil_from_days(now.div_euclid(86_400_000));
        let sod = now.rem_euclid(86_400_000) / 1000;
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{y:04}{mo:02}{d:02}{:02}{:02}{:02}-{:016X}",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60,
            (now as u64) << 8 | (seq & 0xff)
        );
        let root = self.dir.join(SNAPSHOTS_DIR);
        crate::fs::create_dir_durable(&root)?;
        let tmp = root.join(format!("{name}{}", crate::fs::TMP_SUFFIX));
        crate::fs::create_dir_durable(&tmp)?;
        let res = {
            // Writes pause while both halves are copied (a flush and hard links), so that the
            // snapshot holds exactly the rows acknowledged before it and their series.
            let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
            self.table
                .snapshot(&tmp.join(SAMPLES_DIR))
                .and_then(|()| self.index.snapshot(&tmp.join(INDEX_DIR)))
        };
        if let Err(e) = res {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, root.join(&name))
            .map_err(|e| Error::io("rename snapshot", root.join(&name), e))?;
        crate::fs::fsync_dir(&root)?;
        Ok(name)
    }

    /// Names of the snapshots, sorted.
    pub fn list_snapshots(&self) -> Result<Vec<String>> {
        let root = self.dir.join(SNAPSHOTS_DIR);
        let mut names = Vec::new();
        let entries = match std::fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
            Err(e) => return Err(Error::io("list snapshots", root, e)),
        };
        for entry in entries {
            let name = entry
                .map_err(|e| Error::io("list snapshots", &root, e))?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if !name.ends_with(crate::fs::TMP_SUFFIX) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Deletes snapshot `name`.
    pub fn delete_snapshot(&self, name: &str) -> Result<()> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(Error::InvalidArgument(format!(
                "invalid snapshot name {name:?}"
            )));
        }
        let path = self.dir.join(SNAPSHOTS_DIR).join(name);
        if !path.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "no snapshot named {name:?}"
            )));
        }
        crate::fs::remove_dir_durable(&path)
    }

    /// Figures for `/metrics`.
    pub fn stats(&self) -> StorageStats {
        let t = self.table.stats();
        let i = self.index.stats();
        StorageStats {
            data_bytes: t.file_bytes,
            data_rows: t.file_rows + t.inmemory_rows,
            rows_deleted: t.rows_deleted,
            index_bytes: i.table.file_bytes,
            series: i.series,
            new_series: i.new_series_created,
            parts: t.file_parts + t.inmemory_parts,
            pending_rows: t.pending_rows,
            rows_added: t.rows_added,
            rows_dropped_too_old: t.rows_dropped_too_old
                + self.dropped_too_old.load(Ordering::Relaxed),
            rows_dropped_too_new: t.rows_dropped_too_new
                + self.dropped_too_new.load(Ordering::Relaxed),
            merges: t.merges,
            background_errors: t.background_errors + i.table.background_errors,
            index_cache_hits: i.cache_hits,
            index_cache_misses: i.cache_misses,
            index_cache_bytes: i.cache_bytes,
        }
    }

    /// Flushes everything to file parts and closes both halves; the WALs are empty afterwards.
    pub fn close(self) -> Result<()> {
        let table = self.table.close();
        let index = self.index.close();
        table.and(index)
    }
}

/// A running search; see [`Storage::search`].
pub struct StorageSearch<'a> {
    inner: TableSearch<'a>,
    /// Every selected series with its name, in Tsid order: a superset of what `inner` yields,
    /// in the same order.
    names: std::vec::IntoIter<(Tsid, Vec<u8>)>,
}

impl StorageSearch<'_> {
    /// The next series with its blocks, or `None` at the end.
    pub fn next_series(&mut self) -> Option<Result<FoundSeries>> {
        let sb = match self.inner.next_series()? {
            Ok(sb) => sb,
            Err(e) => return Some(Err(e)),
        };
        // The table yields a subset of the Tsids it was given, in the same order.
        let name = loop {
            match self.names.next() {
                Some((tsid, name)) if tsid == sb.tsid => break name,
                Some(_) => continue,
                None => panic!("internal invariant: the table yields only Tsids it was asked for"),
            }
        };
        Some(Ok(FoundSeries {
            name,
            tsid: sb.tsid,
            blocks: sb.blocks,
        }))
    }

    /// The range searched (the requested one less what retention hides).
    pub fn range(&self) -> TimeRange {
        self.inner.range()
    }

    /// The table's dedup interval, to merge blocks with.
    pub fn dedup_interval_ms(&self) -> i64 {
        self.inner.dedup_interval_ms()
    }
}
