//! The table: the data path's front door. Rows go to the WAL and to sharded in-memory buffers,
//! become searchable in-memory parts within `inmemory_interval`, durable file parts within
//! `flush_interval` (then their WAL segments are deleted), and are merged in the background
//! into fewer, larger parts, one partition per UTC month.
//!
//! Threads: callers of [`Table::add_rows`] and [`Table::search`] (any number), one flusher,
//! one converter (turns full shard buffers into in-memory parts off the caller's path),
//! `merge_workers` mergers. The background threads hold the table's shared state, never the
//! [`Table`]; [`Table::close`] (or drop) stops and joins them.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::clock::{SharedClock, system_clock};
use crate::error::{Error, Result};
use crate::filenames::{DATA_DIR, LOCK_FILE, WAL_DIR};
use crate::fs::{create_dir_durable, fsync_dir, remove_temporaries};
use crate::inmemory_part::inmemory_part_from_rows;
use crate::merge::{MergeParams, MergeStats};
use crate::merge_policy::MergePolicy;
use crate::partition::Partition;
use crate::raw_rows::{Row, decode_wal_record, encode_wal_record};
use crate::retention::{DropReason, accepted_range, check_timestamp, month_expired};
use crate::row_buf::RowBuf;
use crate::time_range::{Month, TimeRange};
use crate::wal::{FsyncMode, Wal};

pub use crate::table_search::{SeriesBlocks, TableSearch};

/// The deleted-series hook: true for a `metric_id` whose samples merges may drop.
pub type IsDeleted = Arc<dyn Fn(u64) -> bool + Send + Sync>;

/// In-memory parts (all partitions) that make the flusher flush before `flush_interval`.
const MAX_INMEMORY_PARTS: usize = 64;

/// Buffered rows of one shard that become an in-memory part of their own; smaller shards are
/// joined up to this. Sorting and encoding runs separately avoids concatenating every shard
/// into one vector (a second copy of all buffered rows) and leaves the flush a k-way merge of
/// a few parts per conversion.
const MIN_ROWS_PER_RUN: usize = 64 << 10;

/// Buffered rows of one shard at which the `add_rows` call that filled it turns them into an
/// in-memory part (6 MiB of rows), as VictoriaMetrics's raw-row shards do.
const MAX_ROWS_PER_SHARD: usize = 128 << 10;

/// Full shard buffers that may wait for the converter thread; an `add_rows` call that fills a
/// shard while this many wait converts its buffer itself, so a converter that falls behind
/// slows writers down instead of letting raw rows pile up (each buffer holds 6 MiB).
const MAX_QUEUED_RUNS: usize = 2;

/// Rows per WAL record; bigger batches are split.
const ROWS_PER_WAL_RECORD: usize = 1 << 16;

/// How a table behaves. Every field has a default (see [`TableConfig::default`]).
#[derive(Clone)]
pub struct TableConfig {
    /// Rows are in durable file parts (and their WAL segments deleted) within this. Default 2 s:
    /// in-memory parts of a busy table hold many small blocks, so flushing them sooner keeps
    /// memory down (the file merges that follow are cheap).
    pub flush_interval: Duration,
    /// Rows are searchable (in in-memory parts) within this. Default 1 s.
    pub inmemory_interval: Duration,
    /// Samples of a series are deduplicated to one per interval in flushes, merges and
    /// searches; 0 keeps one sample per exact timestamp. Default 0.
    pub dedup_interval_ms: i64,
    /// Rows older than `now - retention_ms` are refused, trimmed and hidden; partitions wholly
    /// older are dropped. Default 31 days.
    pub retention_ms: i64,
    /// Rows newer than `now + future_limit_ms` are refused and counted. Default 2 days.
    pub future_limit_ms: i64,
    /// What a returned `add_rows` survives. Default [`FsyncMode::ProcessCrash`].
    pub fsync: FsyncMode,
    /// Time for retention and ingestion limits. Default the system clock.
    pub clock: SharedClock,
    /// The series index's deleted-series hook; merges drop such series. Default none.
    pub is_deleted: Option<IsDeleted>,
    /// Background merge threads. Default 1.
    pub merge_workers: usize,
    /// Which parts merge. Default [`MergePolicy::default`].
    pub merge_policy: MergePolicy,
    /// Raw-row buffers; a series' rows always go to the same one (by a hash of its metric id),
    /// so that an in-memory part holds a series' recent rows in one block. Default 2 × CPUs.
    pub raw_shards: usize,
    /// Buffered rows (all shards) that make the flusher convert early. Default 512 Ki (24 MiB
    /// of rows): at high ingestion rates rows become in-memory parts before the interval, which
    /// bounds the memory of raw rows.
    pub max_pending_rows: usize,
    /// zstd level of blocks written by flushes (0: none; negative: zstd's fast levels).
    /// Default -1, as VictoriaMetrics picks for parts of up to 200 rows per block: a flush's
    /// ~100-row blocks come out 0.2 % larger than at level 1 (the header and the codecs hold
    /// most of their size) for ~5 % less CPU of a storage node under load, and merges rewrite
    /// them at `merge_zstd_level` anyway.
    pub flush_zstd_level: i32,
    /// zstd level of blocks written by merges. Default 3.
    pub merge_zstd_level: i32,
}

impl Default for TableConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        TableConfig {
            flush_interval: Duration::from_secs(2),
            inmemory_interval: Duration::from_secs(1),
            dedup_interval_ms: 0,
            retention_ms: 31 * 86_400_000,
            future_limit_ms: 2 * 86_400_000,
            fsync: FsyncMode::default(),
            clock: system_clock(),
            is_deleted: None,
            merge_workers: 1,
            merge_policy: MergePolicy::default(),
            raw_shards: 2 * cpus,
            max_pending_rows: 512 << 10,
            flush_zstd_level: -1,
            merge_zstd_level: 3,
        }
    }
}

impl std::fmt::Debug for TableConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableConfig")
            .field("flush_interval", &self.flush_interval)
            .field("inmemory_interval", &self.inmemory_interval)
            .field("dedup_interval_ms", &self.dedup_interval_ms)
            .field("retention_ms", &self.retention_ms)
            .field("future_limit_ms", &self.future_limit_ms)
            .field("fsync", &self.fsync)
            .field("is_deleted", &self.is_deleted.is_some())
            .field("merge_workers", &self.merge_workers)
            .field("raw_shards", &self.raw_shards)
            .finish_non_exhaustive()
    }
}

/// A snapshot of the table's counters, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Partitions (months) open.
    pub partitions: u64,
    /// File parts.
    pub file_parts: u64,
    /// Samples in file parts.
    pub file_rows: u64,
    /// Bytes of file parts on disk.
    pub file_bytes: u64,
    /// In-memory parts.
    pub inmemory_parts: u64,
    /// Samples in in-memory parts.
    pub inmemory_rows: u64,
    /// Rows buffered, not yet searchable.
    pub pending_rows: u64,
    /// Rows accepted by `add_rows` since open.
    pub rows_added: u64,
    /// Rows replayed from the WAL at open.
    pub rows_replayed: u64,
    /// Rows refused for being older than the retention.
    pub rows_dropped_too_old: u64,
    /// Rows refused for being too far in the future.
    pub rows_dropped_too_new: u64,
    /// Flushes to file parts done.
    pub flushes: u64,
    /// Background and forced merges done.
    pub merges: u64,
    /// Samples written by merges.
    pub rows_merged: u64,
    /// Samples removed by dedup in flushes and merges.
    pub rows_deduplicated: u64,
    /// Samples dropped by merges for deleted series.
    pub rows_deleted: u64,
    /// Samples dropped by retention (trimmed in merges or in whole parts).
    pub rows_dropped_by_retention: u64,
    /// Background flush or merge failures (the last one is in [`Table::last_error`]).
    pub background_errors: u64,
}

thread_local! {
    /// The WAL record of the batch being added, reused between batches.
    static WAL_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[derive(Default)]
struct Counters {
    rows_added: AtomicU64,
    rows_replayed: AtomicU64,
    too_old: AtomicU64,
    too_new: AtomicU64,
    flushes: AtomicU64,
    merges: AtomicU64,
    rows_merged: AtomicU64,
    rows_deduplicated: AtomicU64,
    rows_deleted: AtomicU64,
    rows_retention: AtomicU64,
    background_errors: AtomicU64,
}

/// State shared by the table handle and its background threads.
pub(crate) struct Shared {
    dir: PathBuf,
    pub(crate) config: TableConfig,
    wal: Wal,
    /// Held shared by `add_rows` (WAL append + buffering), exclusively by a flush while it
    /// rotates the WAL and takes the buffers: every row in a WAL segment older than the rotation
    /// is then in the flushed buffers.
    gate: RwLock<()>,
    /// Raw rows, each series' in one shard.
    shards: Vec<Mutex<RowBuf>>,
    pending: AtomicUsize,
    /// Full shard buffers for the converter, pushed under the gate (so a flush holding it
    /// exclusively takes them with the shards) and popped under `flush_lock` (so a flush never
    /// runs while a popped buffer is not yet an in-memory part).
    full_runs: Mutex<Vec<RowBuf>>,
    convert_wake: (Mutex<bool>, Condvar),
    /// Serializes buffer conversions and flushes.
    flush_lock: Mutex<()>,
    partitions: RwLock<BTreeMap<Month, Arc<Partition>>>,
    stop: AtomicBool,
    flush_wake: (Mutex<bool>, Condvar),
    merge_wake: (Mutex<bool>, Condvar),
    counters: Counters,
    last_error: Mutex<Option<String>>,
    next_inmemory_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Guarded data is always left consistent before anything that may panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A time-series table: see the module docs.
pub struct Table {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    _lock: File,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::create(&path).map_err(|e| Error::io("create lock file", &path, e))?;
    use std::os::fd::AsRawFd;
    // SAFETY: `flock` is called on a file descriptor owned by `file`, which outlives the call;
    // it has no memory-safety preconditions. Tested by `a_second_open_of_the_same_dir_fails`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(Error::io(
            "lock table directory (is another process using it?)",
            &path,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(file)
}

impl Table {
    /// Opens the table in `dir` (created if missing): removes crash leftovers, opens the
    /// partitions, replays the WAL into the buffers and starts the background threads.
    pub fn open(dir: &Path, config: TableConfig) -> Result<Table> {
        if config.raw_shards == 0 || config.merge_workers == 0 {
            return Err(Error::InvalidArgument(
                "raw_shards and merge_workers must be at least 1".into(),
            ));
        }
        create_dir_durable(dir)?;
        let lock_file = lock_dir(dir)?;
        let data = dir.join(DATA_DIR);
        create_dir_durable(&data)?;
        remove_temporaries(&data)?;
        let mut partitions = BTreeMap::new();
        for entry in std::fs::read_dir(&data).map_err(|e| Error::io("list partitions", &data, e))? {
            let entry = entry.map_err(|e| Error::io("list partitions", &data, e))?;
            if let Some(month) = Month::parse_dir_name(&entry.file_name().to_string_lossy()) {
                partitions.insert(month, Arc::new(Partition::open(&entry.path(), month)?));
            }
        }
        let shards = (0..config.raw_shards)
            .map(|_| Mutex::new(RowBuf::new()))
            .collect::<Vec<_>>();
        let mut replayed: Vec<Row> = Vec::new();
        let wal_dir = dir.join(WAL_DIR);
        let (wal, _stats) = Wal::open(&wal_dir, config.fsync, |rec| {
            decode_wal_record(rec, &mut replayed).map_err(|e| {
                Error::corruption(
                    &wal_dir,
                    format!("record at byte {}", e.offset),
                    e.to_string(),
                )
            })
        })?;
        let accepted = accepted_range(config.clock.now_ms(), config.retention_ms, i64::MAX);
        replayed.retain(|r| check_timestamp(r.timestamp, &accepted).is_ok());
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            wal,
            gate: RwLock::new(()),
            pending: AtomicUsize::new(0),
            full_runs: Mutex::new(Vec::new()),
            convert_wake: (Mutex::new(false), Condvar::new()),
            flush_lock: Mutex::new(()),
            partitions: RwLock::new(partitions),
            stop: AtomicBool::new(false),
            flush_wake: (Mutex::new(false), Condvar::new()),
            merge_wake: (Mutex::new(false), Condvar::new()),
            counters: Counters::default(),
            last_error: Mutex::new(None),
            next_inmemory_id: AtomicU64::new(1),
            shards,
            config,
        });
        shared
            .counters
            .rows_replayed
            .store(replayed.len() as u64, Ordering::Relaxed);
        // Replayed rows are searchable as soon as open returns; the first flush makes them
        // durable in file parts and deletes the replayed segments.
        shared.rows_to_inmemory_in(&mut replayed)?;

        let mut threads = Vec::new();
        let s = Arc::clone(&shared);
        threads.push(spawn("tsdb-flusher", move || s.flusher_loop())?);
        let s = Arc::clone(&shared);
        threads.push(spawn("tsdb-converter", move || s.converter_loop())?);
        for i in 0..shared.config.merge_workers {
            let s = Arc::clone(&shared);
            threads.push(spawn(&format!("tsdb-merger-{i}"), move || s.merger_loop())?);
        }
        Ok(Table {
            shared,
            threads,
            _lock: lock_file,
        })
    }

    /// Adds rows. When this returns `Ok`, the accepted rows are in the WAL (surviving a process
    /// crash, or a power loss with [`FsyncMode::PowerLoss`]). Rows older than the retention or
    /// newer than `now + future_limit_ms` are dropped and counted, not an error. Any number of
    /// threads may call this at once.
    pub fn add_rows(&self, rows: &[Row]) -> Result<()> {
        let s = &*self.shared;
        let accepted = accepted_range(
            s.config.clock.now_ms(),
            s.config.retention_ms,
            s.config.future_limit_ms,
        );
        self.add_rows_in(rows, Some(accepted))
    }

    /// Like [`Table::add_rows`] for rows the caller has already checked against the table's
    /// [`accepted_range`] (the storage does, before it registers their series): no second
    /// pass over them.
    pub(crate) fn add_accepted_rows(&self, rows: &[Row]) -> Result<()> {
        self.add_rows_in(rows, None)
    }

    /// Adds rows, dropping and counting those outside `accepted` (when given).
    fn add_rows_in(&self, rows: &[Row], accepted: Option<TimeRange>) -> Result<()> {
        let s = &*self.shared;
        if s.stop.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        for batch in rows.chunks(ROWS_PER_WAL_RECORD) {
            let (mut old, mut new) = (0u64, 0u64);
            if let Some(accepted) = &accepted {
                for r in batch {
                    match check_timestamp(r.timestamp, accepted) {
                        Ok(()) => {}
                        Err(DropReason::TooOld) => old += 1,
                        Err(DropReason::TooNew) => new += 1,
                    }
                }
            }
            if old + new > 0 {
                s.counters.too_old.fetch_add(old, Ordering::Relaxed);
                s.counters.too_new.fetch_add(new, Ordering::Relaxed);
            }
            let keep = |r: &Row| old + new == 0 || accepted.is_none_or(|a| a.contains(r.timestamp));
            let _gate = s.gate.read().unwrap_or_else(|p| p.into_inner());
            // One WAL record for the batch, then each row to the shard of its series: a
            // series' rows meet in one shard, so an in-memory part holds all of its recent
            // rows in one block instead of a quarter of them in each shard's part (4× fewer,
            // fuller blocks to encode, index, flush and merge).
            let kept = WAL_SCRATCH.with_borrow_mut(|wal_buf| -> Result<usize> {
                let kept = encode_wal_record(batch, keep, wal_buf);
                if kept > 0 {
                    s.wal.append(wal_buf)?;
                }
                if wal_buf.capacity() > 8 << 20 {
                    *wal_buf = Vec::new();
                }
                Ok(kept)
            })?;
            if kept == 0 {
                continue;
            }
            let n = s.shards.len();
            // Metric ids are sequential; the multiplicative hash spreads any other pattern too.
            // Its top 32 bits scaled to `n` pick the shard: no division per row and pass.
            let shard_of = |r: &Row| {
                (((r.tsid.metric_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) * n as u64) >> 32)
                    as usize
            };
            let shard_ids: Vec<u32> = batch.iter().map(|r| shard_of(r) as u32).collect();
            let mut counts = vec![0usize; n];
            for (r, &shard) in batch.iter().zip(&shard_ids) {
                if keep(r) {
                    counts[shard as usize] += 1;
                }
            }
            s.counters
                .rows_added
                .fetch_add(kept as u64, Ordering::Relaxed);
            // Every shard the batch touches is locked at once (in index order; no other code
            // holds two), so that the rows are copied in one pass over the batch instead of
            // one filtering pass per shard, whose shard test mispredicted a branch per row.
            let mut bufs: Vec<Option<MutexGuard<'_, RowBuf>>> = counts
                .iter()
                .enumerate()
                .map(|(index, &here)| (here > 0).then(|| lock(&s.shards[index])))
                .collect();
            // Full buffers are converted once every shard has its rows: a failed conversion
            // must not keep the batch's other rows out of the shards.
            let mut fulls = Vec::new();
            // Per shard touched: its rows before this batch if it was handed on full.
            let mut taken: Vec<Option<usize>> = vec![None; n];
            for (index, buf) in bufs.iter_mut().enumerate() {
                let Some(buf) = buf else { continue };
                let here = counts[index];
                // A shard that these rows would overflow is handed, whole, to the converter
                // thread (still under the gate, so a flush sees it), or converted here when
                // the converter is behind: raw rows stay bounded whatever the rate, the
                // caller's answer does not wait for a sort and encode (~16 ms) unless it
                // must, and the buffer never grows past its size (a reallocation would copy
                // 6 MiB).
                if !buf.is_empty() && buf.len() + here > MAX_ROWS_PER_SHARD {
                    let full = std::mem::replace(&mut **buf, s.fresh_rows());
                    taken[index] = Some(full.len());
                    fulls.push(full);
                }
                buf.reserve(here);
            }
            for (r, &shard) in batch.iter().zip(&shard_ids) {
                if keep(r)
                    && let Some(buf) = &mut bufs[shard as usize]
                {
                    buf.push(*r);
                }
            }
            // Counted before the shards are unlocked: a flush that takes these rows subtracts
            // them, and must not find them uncounted.
            for (index, &here) in counts.iter().enumerate() {
                if here == 0 {
                    continue;
                }
                match taken[index] {
                    Some(full) => {
                        if full > here {
                            s.pending.fetch_sub(full - here, Ordering::Relaxed);
                        } else {
                            s.pending.fetch_add(here - full, Ordering::Relaxed);
                        }
                    }
                    None => {
                        let pending = s.pending.fetch_add(here, Ordering::Relaxed) + here;
                        if pending >= s.config.max_pending_rows
                            && pending - here < s.config.max_pending_rows
                        {
                            s.wake(&s.flush_wake);
                        }
                    }
                }
            }
            drop(bufs);
            for full in fulls {
                let mut queue = lock(&s.full_runs);
                if queue.len() < MAX_QUEUED_RUNS {
                    queue.push(full);
                    drop(queue);
                    s.wake(&s.convert_wake);
                } else {
                    drop(queue);
                    s.rows_to_inmemory(full)?;
                }
            }
        }
        Ok(())
    }

    /// A search for the series `tsids` (any order; duplicates ignored) in `range`, hiding
    /// samples older than the retention. See [`TableSearch`].
    pub fn search(&self, tsids: &[Tsid], range: TimeRange) -> Result<TableSearch<'_>> {
        let s = &*self.shared;
        if s.stop.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let range =
            crate::retention::visible_range(range, s.config.clock.now_ms(), s.config.retention_ms);
        let parts = if range.is_empty() {
            Vec::new()
        } else {
            let partitions = s.partitions.read().unwrap_or_else(|p| p.into_inner());
            partitions
                .iter()
                .filter(|(m, _)| m.range().overlaps(range.min_timestamp, range.max_timestamp))
                .flat_map(|(_, p)| p.parts())
                .filter(|p| p.overlaps(range.min_timestamp, range.max_timestamp))
                .collect()
        };
        let mut ids = tsids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        Ok(TableSearch::new(&s.config, ids, range, parts))
    }

    /// Makes every row added before the call searchable and durable in file parts, and deletes
    /// the WAL segments that held them.
    pub fn force_flush(&self) -> Result<()> {
        self.shared.flush()
    }

    /// Flushes, then merges all file parts of each partition into one, applying retention,
    /// dedup and deletes.
    pub fn force_merge(&self) -> Result<()> {
        let s = &*self.shared;
        s.flush()?;
        s.apply_retention()?;
        for p in s.partition_list() {
            if let Some(stats) = p.merge_once(
                &s.config.merge_policy,
                &s.merge_params(),
                s.config.merge_zstd_level,
                true,
            )? {
                s.count_merge(&stats);
            }
        }
        Ok(())
    }

    /// Writes a consistent copy of the table to `dst` (which must not exist) by hard links of
    /// immutable parts plus fresh manifests, after a flush. No WAL is needed to open it.
    pub fn snapshot(&self, dst: &Path) -> Result<()> {
        if dst.exists() {
            return Err(Error::InvalidArgument(format!(
                "snapshot destination {} exists",
                dst.display()
            )));
        }
        self.shared.flush()?;
        let data = dst.join(DATA_DIR);
        create_dir_durable(&data)?;
        for p in self.shared.partition_list() {
            p.snapshot_to(&data.join(p.month().dir_name()))?;
        }
        fsync_dir(&data)
    }

    /// The counters.
    pub fn stats(&self) -> TableStats {
        self.shared.stats()
    }

    /// The last background failure, if any.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.shared.last_error).clone()
    }

    /// Stops the background threads, flushes everything to file parts and removes the WAL.
    pub fn close(mut self) -> Result<()> {
        self.stop_threads();
        let s = &*self.shared;
        s.flush()?;
        s.wal.remove_segments_before(s.wal.current_segment() + 1)?;
        Ok(())
    }

    fn stop_threads(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake(&self.shared.flush_wake);
        self.shared.wake(&self.shared.convert_wake);
        self.shared.wake(&self.shared.merge_wake);
        for t in self.threads.drain(..) {
            // A panicked background thread has nothing left to clean up.
            let _ = t.join();
        }
    }
}

impl Drop for Table {
    /// Stops the background threads without flushing: unflushed rows stay in the WAL.
    fn drop(&mut self) {
        self.stop_threads();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| Error::io("spawn thread", name, e))
}

use crate::tsid::Tsid;

impl Shared {
    fn wake(&self, w: &(Mutex<bool>, Condvar)) {
        *lock(&w.0) = true;
        w.1.notify_all();
    }

    /// Waits until woken or `timeout` passes; false once the table stops.
    fn sleep(&self, w: &(Mutex<bool>, Condvar), timeout: Duration) -> bool {
        let mut woken = lock(&w.0);
        if !*woken && !self.stop.load(Ordering::SeqCst) {
            woken =
                w.1.wait_timeout(woken, timeout)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
        }
        *woken = false;
        !self.stop.load(Ordering::SeqCst)
    }

    fn record_error(&self, e: &Error) {
        self.counters
            .background_errors
            .fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(e.to_string());
    }

    fn flusher_loop(&self) {
        let mut last_flush = Instant::now();
        while self.sleep(&self.flush_wake, self.config.inmemory_interval) {
            // In-memory parts pile up only until a flush; flush early if there are many.
            let many_inmemory = self
                .partition_list()
                .iter()
                .map(|p| p.part_lists().1.len())
                .sum::<usize>()
                >= MAX_INMEMORY_PARTS;
            let res = if many_inmemory || last_flush.elapsed() >= self.config.flush_interval {
                last_flush = Instant::now();
                self.flush()
            } else {
                self.convert_pending()
            };
            if let Err(e) = res {
                self.record_error(&e);
            }
        }
    }

    fn converter_loop(&self) {
        while self.sleep(&self.convert_wake, self.config.inmemory_interval) {
            if let Err(e) = self.convert_queued() {
                self.record_error(&e);
            }
        }
    }

    /// Turns the queued full shard buffers into in-memory parts, oldest first.
    fn convert_queued(&self) -> Result<()> {
        loop {
            let _f = lock(&self.flush_lock);
            let run = {
                let mut queue = lock(&self.full_runs);
                if queue.is_empty() {
                    return Ok(());
                }
                queue.remove(0)
            };
            self.rows_to_inmemory(run)?;
        }
    }

    /// Takes the full shard buffers that wait for the converter.
    fn take_queued_runs(&self) -> Vec<RowBuf> {
        std::mem::take(&mut *lock(&self.full_runs))
    }

    fn merger_loop(&self) {
        while self.sleep(&self.merge_wake, Duration::from_secs(1)) {
            let res = self.apply_retention().and_then(|()| {
                // Merge until the policy finds nothing more (each round does real work).
                while !self.stop.load(Ordering::Relaxed) {
                    if !self.merge_some()? {
                        break;
                    }
                }
                Ok(())
            });
            match res {
                Ok(()) | Err(Error::Closed) => {}
                Err(e) => self.record_error(&e),
            }
        }
    }

    pub(crate) fn merge_params(&self) -> MergeParams<'_> {
        MergeParams {
            range: TimeRange::new(
                self.config
                    .clock
                    .now_ms()
                    .saturating_sub(self.config.retention_ms.max(0)),
                i64::MAX,
            ),
            dedup_interval_ms: self.config.dedup_interval_ms,
            is_deleted: self.config.is_deleted.as_deref(),
            stop: Some(&self.stop),
        }
    }

    fn count_merge(&self, st: &MergeStats) {
        let c = &self.counters;
        c.merges.fetch_add(1, Ordering::Relaxed);
        c.rows_merged.fetch_add(st.rows_out, Ordering::Relaxed);
        c.rows_deduplicated
            .fetch_add(st.rows_deduplicated, Ordering::Relaxed);
        c.rows_deleted.fetch_add(st.rows_deleted, Ordering::Relaxed);
        c.rows_retention
            .fetch_add(st.rows_outside_range, Ordering::Relaxed);
    }

    fn merge_some(&self) -> Result<bool> {
        let mut did = false;
        for p in self.partition_list() {
            if let Some(stats) = p.merge_once(
                &self.config.merge_policy,
                &self.merge_params(),
                self.config.merge_zstd_level,
                false,
            )? {
                self.count_merge(&stats);
                did = true;
            }
        }
        Ok(did)
    }

    fn partition_list(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn partition(&self, month: Month) -> Result<Arc<Partition>> {
        if let Some(p) = self
            .partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&month)
        {
            return Ok(Arc::clone(p));
        }
        let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = map.get(&month) {
            return Ok(Arc::clone(p));
        }
        let p = Arc::new(Partition::open(
            &self.dir.join(DATA_DIR).join(month.dir_name()),
            month,
        )?);
        map.insert(month, Arc::clone(&p));
        Ok(p)
    }

    /// Drops partitions wholly past the retention and parts whose samples all are.
    fn apply_retention(&self) -> Result<()> {
        let now = self.config.clock.now_ms();
        let retention = self.config.retention_ms;
        let expired: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            let months: Vec<Month> = map
                .keys()
                .copied()
                .filter(|m| month_expired(*m, now, retention))
                .collect();
            months.iter().filter_map(|m| map.remove(m)).collect()
        };
        for p in expired {
            let (files, mem) = p.part_lists();
            let rows: u64 = files
                .iter()
                .chain(&mem)
                .map(|e| e.part.metadata().rows_count)
                .sum();
            self.counters
                .rows_retention
                .fetch_add(rows, Ordering::Relaxed);
            // Rename first: a crash mid-removal leaves a `.tmp` leftover, not half a partition.
            let gone = crate::fs::tmp_path(p.dir());
            std::fs::rename(p.dir(), &gone)
                .map_err(|e| Error::io("retire partition", p.dir(), e))?;
            fsync_dir(&self.dir.join(DATA_DIR))?;
            crate::fs::remove_dir_durable(&gone)?;
        }
        let min = now.saturating_sub(retention.max(0));
        for p in self.partition_list() {
            let rows = p.drop_parts_before(min)?;
            self.counters
                .rows_retention
                .fetch_add(rows, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Takes every shard's buffered rows as runs of at least [`MIN_ROWS_PER_RUN`] rows (small
    /// shards are joined; large ones are taken whole, never copied into one big vector, and get
    /// a shard-sized buffer).
    fn take_raw_rows(&self) -> Vec<RowBuf> {
        let mut runs: Vec<RowBuf> = Vec::new();
        let mut small = RowBuf::new();
        let mut taken = 0;
        for shard in &self.shards {
            let mut sh = lock(shard);
            let n = sh.len();
            if n == 0 {
                continue;
            }
            taken += n;
            if n >= MIN_ROWS_PER_RUN {
                runs.push(std::mem::replace(&mut *sh, self.fresh_rows()));
            } else {
                if small.capacity() == 0 {
                    small.reserve(MIN_ROWS_PER_RUN);
                }
                small.extend_from_slice(sh.as_slice());
                sh.clear();
                if small.len() >= MIN_ROWS_PER_RUN {
                    runs.push(std::mem::take(&mut small));
                }
            }
        }
        if !small.is_empty() {
            runs.push(small);
        }
        self.pending.fetch_sub(taken, Ordering::Relaxed);
        runs
    }

    /// Turns runs of rows into in-memory parts, one per run and month; each run is freed
    /// as soon as its part is made.
    fn runs_to_inmemory(&self, runs: Vec<RowBuf>) -> Result<()> {
        for run in runs {
            self.rows_to_inmemory(run)?;
        }
        Ok(())
    }

    /// Turns rows into in-memory parts, one per month, and frees their buffer.
    fn rows_to_inmemory(&self, mut rows: RowBuf) -> Result<()> {
        self.rows_to_inmemory_in(rows.as_mut_slice())
    }

    /// Turns `rows` into in-memory parts, one per month (`rows` is left in any order).
    fn rows_to_inmemory_in(&self, rows: &mut [Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let (min, max) = rows.iter().fold((i64::MAX, i64::MIN), |(lo, hi), r| {
            (lo.min(r.timestamp), hi.max(r.timestamp))
        });
        let month = Month::of_timestamp(min);
        if month == Month::of_timestamp(max) {
            let id = self.next_inmemory_id.fetch_add(1, Ordering::Relaxed);
            let part = inmemory_part_from_rows(id, rows, self.config.dedup_interval_ms)?;
            self.partition(month)?.add_inmemory(part);
            return Ok(());
        }
        let mut by_month: BTreeMap<Month, Vec<Row>> = BTreeMap::new();
        for &r in rows.iter() {
            by_month
                .entry(Month::of_timestamp(r.timestamp))
                .or_default()
                .push(r);
        }
        for (month, mut rows) in by_month {
            let id = self.next_inmemory_id.fetch_add(1, Ordering::Relaxed);
            let part = inmemory_part_from_rows(id, &mut rows, self.config.dedup_interval_ms)?;
            self.partition(month)?.add_inmemory(part);
        }
        Ok(())
    }

    /// An empty buffer for a shard that was just taken, in huge pages where the kernel
    /// gives them ([`RowBuf`]): the page faults of a fresh buffer in small pages were ~8 % of
    /// vmstorage's ingestion CPU. (Keeping emptied buffers for reuse saved as much but kept
    /// ~30 MiB more resident per node.)
    fn fresh_rows(&self) -> RowBuf {
        RowBuf::with_capacity(MAX_ROWS_PER_SHARD)
    }

    fn convert_pending(&self) -> Result<()> {
        let _f = lock(&self.flush_lock);
        let runs = self.take_raw_rows();
        self.runs_to_inmemory(runs)
    }

    fn flush(&self) -> Result<()> {
        let _f = lock(&self.flush_lock);
        let (rotated, rows) = {
            let _g = self.gate.write().unwrap_or_else(|p| p.into_inner());
            let rotated = self.wal.rotate()?;
            let mut runs = self.take_queued_runs();
            runs.append(&mut self.take_raw_rows());
            (rotated, runs)
        };
        self.runs_to_inmemory(rows)?;
        let params = MergeParams {
            range: TimeRange::ALL,
            stop: None,
            ..self.merge_params()
        };
        for p in self.partition_list() {
            let (_, inmem) = p.part_lists();
            let stats = p.flush_inmemory(&inmem, &params, self.config.flush_zstd_level)?;
            self.counters
                .rows_deduplicated
                .fetch_add(stats.rows_deduplicated, Ordering::Relaxed);
            self.counters
                .rows_deleted
                .fetch_add(stats.rows_deleted, Ordering::Relaxed);
        }
        self.wal.remove_segments_before(rotated)?;
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.wake(&self.merge_wake);
        Ok(())
    }

    fn stats(&self) -> TableStats {
        let c = &self.counters;
        let mut st = TableStats {
            pending_rows: (self.pending.load(Ordering::Relaxed)
                + lock(&self.full_runs).iter().map(RowBuf::len).sum::<usize>())
                as u64,
            rows_added: c.rows_added.load(Ordering::Relaxed),
            rows_replayed: c.rows_replayed.load(Ordering::Relaxed),
            rows_dropped_too_old: c.too_old.load(Ordering::Relaxed),
            rows_dropped_too_new: c.too_new.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            merges: c.merges.load(Ordering::Relaxed),
            rows_merged: c.rows_merged.load(Ordering::Relaxed),
            rows_deduplicated: c.rows_deduplicated.load(Ordering::Relaxed),
            rows_deleted: c.rows_deleted.load(Ordering::Relaxed),
            rows_dropped_by_retention: c.rows_retention.load(Ordering::Relaxed),
            background_errors: c.background_errors.load(Ordering::Relaxed),
            ..TableStats::default()
        };
        for p in self.partition_list() {
            st.partitions += 1;
            let (files, mem) = p.part_lists();
            for e in &files {
                st.file_parts += 1;
                st.file_rows += e.part.metadata().rows_count;
                st.file_bytes += e.part.size_bytes();
            }
            for e in &mem {
                st.inmemory_parts += 1;
                st.inmemory_rows += e.part.metadata().rows_count;
            }
        }
        st
    }
}
