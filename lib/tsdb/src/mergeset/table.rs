//! [`Table`]: the LSM itself. Items go to the table's WAL, then to a pending buffer; the buffer
//! becomes a sorted in-memory part when it fills up or a search begins; in-memory parts are
//! merged among themselves and, every flush interval, written as one file part, after which
//! the WAL segments behind them are removed. File parts of similar sizes are merged in the
//! background.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::fs::{
    create_dir_durable, publish_dir, remove_dir_durable, remove_temporaries, tmp_path,
};
use crate::wal::{FsyncMode, Wal};

use super::block_cache::BlockCache;
use super::items::Items;
use super::merge::{PrepareBlock, merge_parts};
use super::part::PartWriter;
use super::part_search::Part;
use super::table_search::TableSearch;
use super::{MANIFEST_FILE, WAL_DIR, item_block, manifest};

/// Largest item [`Table::add_items`] takes.
pub const MAX_ITEM_LEN: usize = 64 << 10;
/// In-memory parts beyond which a search or an add merges the smallest of them.
const MAX_MEM_PARTS: usize = 12;
/// Most parts one merge takes.
const MAX_PARTS_PER_MERGE: usize = 16;
/// A file merge waits until its output is this many times its largest input: fewer, wider
/// merges (write amplification ~log4 of the data size instead of log2).
const MIN_FILE_MERGE_RATIO: f64 = 4.0;
/// In-memory merges are cheap (no compression); they start at 2.
const MIN_MEM_MERGE_RATIO: f64 = 2.0;

/// How a table behaves. Every field has a sensible default.
#[derive(Clone)]
pub struct Config {
    /// What a returned `add_items` survives. Default: a process crash.
    pub fsync: FsyncMode,
    /// How often in-memory parts become a file part and the WAL is trimmed. Default 5 s.
    pub flush_interval: Duration,
    /// Pending items that trigger their conversion to an in-memory part. Default 32 768.
    pub max_pending_items: usize,
    /// Bytes of in-memory parts that trigger an early flush. Default 64 MiB.
    pub max_mem_parts_bytes: usize,
    /// Budget of the decoded-block cache. Default 64 MiB.
    pub block_cache_bytes: usize,
    /// The per-block merge hook. Default: none.
    pub prepare_block: Option<PrepareBlock>,
    /// Whether to run the flush and merge threads. Default true; tests turn it off to drive
    /// flushes and merges by hand.
    pub background: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            fsync: FsyncMode::default(),
            flush_interval: Duration::from_secs(5),
            max_pending_items: 32 << 10,
            max_mem_parts_bytes: 64 << 20,
            block_cache_bytes: 64 << 20,
            prepare_block: None,
            background: true,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("fsync", &self.fsync)
            .field("flush_interval", &self.flush_interval)
            .field("max_pending_items", &self.max_pending_items)
            .field("block_cache_bytes", &self.block_cache_bytes)
            .field("prepare_block", &self.prepare_block.is_some())
            .finish()
    }
}

/// Counters and gauges for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// In-memory parts.
    pub mem_parts: u64,
    /// File parts.
    pub file_parts: u64,
    /// Items in all parts (duplicates across parts counted twice) plus pending items.
    pub items: u64,
    /// Bytes of in-memory parts.
    pub mem_bytes: u64,
    /// Bytes of file parts on disk.
    pub file_bytes: u64,
    /// Items waiting in the pending buffer.
    pub pending_items: u64,
    /// Flushes of in-memory parts to file parts.
    pub flushes: u64,
    /// Merges of parts (in memory and on disk).
    pub merges: u64,
    /// Background flush or merge failures.
    pub background_errors: u64,
    /// Decoded-block cache hits.
    pub cache_hits: u64,
    /// Decoded-block cache misses.
    pub cache_misses: u64,
    /// Bytes held by the decoded-block cache.
    pub cache_bytes: u64,
}

type PartList = Arc<Vec<Arc<Part>>>;

/// A wake-up flag for one background thread.
#[derive(Default)]
struct Signal {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    fn raise(&self) {
        *lock(&self.flag) = true;
        self.cv.notify_all();
    }

    #[cfg(test)]
    fn is_raised(&self) -> bool {
        *lock(&self.flag)
    }
}

#[derive(Default)]
struct Pending {
    runs: Vec<Items>,
    items: usize,
}

impl Pending {
    /// The runs as one sorted, duplicate-free run: free when there is one run.
    fn take_sorted(&mut self) -> Items {
        self.items = 0;
        let mut runs = std::mem::take(&mut self.runs);
        if runs.len() <= 1 {
            return runs.pop().unwrap_or_default();
        }
        // A k-way merge of the sorted runs: n log k comparisons instead of a sort's n log n.
        let parts: Vec<Arc<Part>> = runs
            .into_iter()
            .map(|r| Arc::new(Part::mem(0, r)))
            .collect();
        let mut out = Items::new();
        let never = AtomicBool::new(false);
        match merge_parts(&parts, None, &never, &mut out) {
            Ok(_) => out,
            Err(e) => panic!("internal invariant: merging in-memory runs cannot fail: {e}"),
        }
    }
}

struct Inner {
    dir: PathBuf,
    config: Config,
    wal: Wal,
    /// Appends hold it shared across WAL append + pending push; a flush holds it exclusively
    /// while it rotates the WAL and collects the in-memory parts that segment covers.
    gate: RwLock<()>,
    /// Sorted runs, one per `add`, waiting to become an in-memory part.
    pending: Mutex<Pending>,
    parts: Mutex<PartList>,
    /// Serializes in-memory merges with flushes.
    mem_merge: Mutex<()>,
    /// Serializes file merges (background and forced).
    file_merge: Mutex<()>,
    /// Serializes changes to the file-part list with the manifest that records them.
    manifest: Mutex<()>,
    next_part_id: AtomicU64,
    cache: Arc<BlockCache>,
    stop: AtomicBool,
    /// Wakes the flush thread (in-memory parts over budget).
    wake_flush: Signal,
    /// Wakes the file-merge thread (a new file part).
    wake_merge: Signal,
    /// Wakes the in-memory merge thread (too many in-memory parts).
    wake_mem: Signal,
    flushes: AtomicU64,
    merges: AtomicU64,
    background_errors: AtomicU64,
    closed: AtomicBool,
}

/// A mergeset table: a persistent sorted set of byte items.
///
/// ```
/// # fn main() -> tsdb::Result<()> {
/// use tsdb::mergeset::{Config, Table};
/// let dir = tempfile::tempdir().unwrap();
/// let table = Table::open(dir.path(), Config::default())?;
/// table.add_items(&[b"job=node".as_slice(), b"job=api"])?;
/// table.flush()?; // now in a file part; the WAL behind it is gone
/// let mut s = table.search();
/// assert_eq!(s.seek_first(b"job=", b"job=")?, Some(&b"job=api"[..]));
/// table.close()?;
/// # Ok(()) }
/// ```
pub struct Table {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("dir", &self.inner.dir)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn part_dir(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}"))
}

impl Table {
    /// Opens (or creates) the table in `dir`: removes crash leftovers, opens the parts listed in
    /// the manifest, replays the WAL and flushes what it replayed.
    pub fn open(dir: &Path, config: Config) -> Result<Table> {
        create_dir_durable(dir)?;
        remove_temporaries(dir)?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let ids = match std::fs::read(&manifest_path) {
            Ok(data) => manifest::decode(&manifest_path, &data)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("read manifest", &manifest_path, e)),
        };
        let mut max_id = ids.iter().copied().max().unwrap_or(0);
        let entries =
            std::fs::read_dir(dir).map_err(|e| Error::io("list table directory", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list table directory", dir, e))?;
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .filter(|s| s.len() == 16)
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            else {
                continue;
            };
            max_id = max_id.max(id);
            if !ids.contains(&id) {
                remove_dir_durable(&entry.path())?;
            }
        }
        let parts = ids
            .iter()
            .map(|&id| Part::open_file(id, &part_dir(dir, id)).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let mut replayed = Items::new();
        let mut decoded = Items::new();
        let wal_dir = dir.join(WAL_DIR);
        let (wal, stats) = Wal::open(&wal_dir, config.fsync, |rec| {
            decoded.clear();
            decode_wal_record(rec, &mut decoded)
                .map_err(|what| Error::corruption(&wal_dir, "WAL record", what))?;
            for item in decoded.iter() {
                replayed.push(item);
            }
            Ok(())
        })?;
        let inner = Arc::new(Inner {
            dir: dir.to_owned(),
            cache: Arc::new(BlockCache::new(config.block_cache_bytes)),
            config,
            wal,
            gate: RwLock::new(()),
            pending: Mutex::new(Pending::default()),
            parts: Mutex::new(Arc::new(parts)),
            mem_merge: Mutex::new(()),
            file_merge: Mutex::new(()),
            manifest: Mutex::new(()),
            next_part_id: AtomicU64::new(max_id + 1),
            stop: AtomicBool::new(false),
            wake_flush: Signal::default(),
            wake_merge: Signal::default(),
            wake_mem: Signal::default(),
            flushes: AtomicU64::new(0),
            merges: AtomicU64::new(0),
            background_errors: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        if stats.records > 0 {
            inner.add_mem_part(replayed.sorted_dedup());
            inner.flush()?;
        }
        let table = Table {
            inner,
            threads: Mutex::new(Vec::new()),
        };
        if table.inner.config.background {
            table.start_threads()?;
        }
        Ok(table)
    }

    fn start_threads(&self) -> Result<()> {
        let mut threads = lock(&self.threads);
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(f)
                .map_err(|e| Error::io("spawn thread", name, e))
        };
        let inner = Arc::clone(&self.inner);
        threads.push(spawn(
            "mergeset-flush",
            Box::new(move || {
                while inner.sleep(&inner.wake_flush, inner.config.flush_interval) {
                    if inner.flush().is_err() {
                        inner.background_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }),
        )?);
        let inner = Arc::clone(&self.inner);
        threads.push(spawn(
            "mergeset-memmrg",
            Box::new(move || {
                while inner.sleep(&inner.wake_mem, Duration::from_secs(1)) {
                    inner.merge_mem_parts();
                }
            }),
        )?);
        let inner = Arc::clone(&self.inner);
        threads.push(spawn(
            "mergeset-merge",
            Box::new(move || {
                while inner.sleep(&inner.wake_merge, Duration::from_millis(500)) {
                    loop {
                        match inner.merge_file_parts_once(false) {
                            Ok(true) if !inner.stop.load(Ordering::Relaxed) => continue,
                            Ok(_) => break,
                            Err(_) => {
                                inner.background_errors.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
            }),
        )?);
        Ok(())
    }

    /// Adds items. When this returns they are in the table's WAL (see [`Config::fsync`]) and
    /// visible to searches that start afterwards.
    pub fn add_items(&self, items: &[&[u8]]) -> Result<()> {
        self.add(items.iter().copied().collect())
    }

    /// Like [`Table::add_items`], for items already gathered in an [`Items`].
    pub fn add(&self, items: Items) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if items.is_empty() {
            return Ok(());
        }
        if let Some(big) = items.iter().find(|i| i.len() > MAX_ITEM_LEN) {
            return Err(Error::InvalidArgument(format!(
                "mergeset item of {} bytes exceeds the limit of {MAX_ITEM_LEN}",
                big.len()
            )));
        }
        let sorted = if items.is_strictly_sorted() {
            items
        } else {
            items.sorted_dedup()
        };
        let mut record = Vec::with_capacity(sorted.data_len() + 8);
        crate::encoding::varint::put_uvarint(&mut record, sorted.len() as u64);
        item_block::encode_plain(&sorted, 0..sorted.len(), &mut record);
        let pending_len = {
            let _g = self.inner.gate.read().unwrap_or_else(|p| p.into_inner());
            self.inner.wal.append(&record)?;
            let mut p = lock(&self.inner.pending);
            p.items += sorted.len();
            p.runs.push(sorted);
            p.items
        };
        if pending_len >= self.inner.config.max_pending_items {
            self.inner.seal_pending();
        }
        Ok(())
    }

    /// Starts a search over everything added before this call.
    pub fn search(&self) -> TableSearch {
        self.inner.seal_pending();
        let parts = Arc::clone(&*lock(&self.inner.parts));
        TableSearch::new(&parts, Arc::clone(&self.inner.cache))
    }

    /// Writes every in-memory item to a file part and removes the WAL segments behind it.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Flushes, then merges all file parts into one (waiting for a running merge first).
    pub fn force_merge(&self) -> Result<()> {
        self.inner.flush()?;
        self.inner.merge_file_parts_once(true).map(|_| ())
    }

    /// Writes a consistent copy of the table to `dst` (which must not exist) with hard links:
    /// everything added before the call.
    pub fn snapshot(&self, dst: &Path) -> Result<()> {
        self.inner.flush()?;
        let _m = lock(&self.inner.manifest);
        let parts = Arc::clone(&*lock(&self.inner.parts));
        create_dir_durable(dst)?;
        let mut ids = Vec::new();
        for p in parts.iter().filter(|p| !p.is_mem()) {
            let src = part_dir(&self.inner.dir, p.id);
            let to = part_dir(dst, p.id);
            std::fs::create_dir(&to).map_err(|e| Error::io("create snapshot directory", &to, e))?;
            for name in [super::ITEMS_FILE, super::INDEX_FILE, super::METAINDEX_FILE] {
                std::fs::hard_link(src.join(name), to.join(name))
                    .map_err(|e| Error::io("hard-link part file", to.join(name), e))?;
            }
            crate::fs::fsync_dir(&to)?;
            ids.push(p.id);
        }
        crate::fs::replace_file_atomic(&dst.join(MANIFEST_FILE), &manifest::encode(&ids))
    }

    /// Stops the background threads, flushes and closes. Later calls fail with
    /// [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        self.stop_threads();
        let res = self.inner.flush();
        self.inner.closed.store(true, Ordering::Release);
        res?;
        self.inner.wal.sync()
    }

    fn stop_threads(&self) {
        self.inner.stop.store(true, Ordering::Release);
        for s in [
            &self.inner.wake_flush,
            &self.inner.wake_merge,
            &self.inner.wake_mem,
        ] {
            s.raise();
        }
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
    }

    /// Counters and gauges.
    pub fn stats(&self) -> TableStats {
        let parts = Arc::clone(&*lock(&self.inner.parts));
        let pending = lock(&self.inner.pending).items as u64;
        let (hits, misses) = self.inner.cache.hits_misses();
        let mut s = TableStats {
            pending_items: pending,
            items: pending,
            flushes: self.inner.flushes.load(Ordering::Relaxed),
            merges: self.inner.merges.load(Ordering::Relaxed),
            background_errors: self.inner.background_errors.load(Ordering::Relaxed),
            cache_hits: hits,
            cache_misses: misses,
            cache_bytes: self.inner.cache.size_bytes() as u64,
            ..TableStats::default()
        };
        for p in parts.iter() {
            s.items += p.items;
            if p.is_mem() {
                s.mem_parts += 1;
                s.mem_bytes += p.size_bytes;
            } else {
                s.file_parts += 1;
                s.file_bytes += p.size_bytes;
            }
        }
        s
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // Without `close`, nothing is flushed: the WAL holds what the parts do not.
        self.stop_threads();
    }
}

/// Decodes a WAL record: `uvarint(count)` then the plain item-block form.
fn decode_wal_record(rec: &[u8], out: &mut Items) -> std::result::Result<(), String> {
    let mut r = crate::encoding::Reader::new(rec);
    let n = r.len(rec.len(), "item count").map_err(|e| e.to_string())?;
    item_block::decode_plain(r.rest(), n, out).map_err(|e| e.to_string())
}

impl Inner {
    /// Waits for `d` or a raise of `signal`; false once the table stops.
    fn sleep(&self, signal: &Signal, d: Duration) -> bool {
        let mut woken = lock(&signal.flag);
        if !*woken && !self.stop.load(Ordering::Acquire) {
            woken = signal
                .cv
                .wait_timeout(woken, d)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *woken = false;
        !self.stop.load(Ordering::Acquire)
    }

    fn add_mem_part(&self, items: Items) {
        if items.is_empty() {
            return;
        }
        let id = self.next_part_id.fetch_add(1, Ordering::Relaxed);
        let part = Arc::new(Part::mem(id, items));
        let mut parts = lock(&self.parts);
        let mut list = Vec::clone(&parts);
        list.push(part);
        *parts = Arc::new(list);
    }

    /// Makes pending items searchable as an in-memory part.
    fn seal_pending(&self) {
        if lock(&self.pending).items == 0 {
            return;
        }
        {
            let _g = self.gate.read().unwrap_or_else(|p| p.into_inner());
            self.seal_pending_locked();
        }
        self.maybe_merge_mem_parts();
    }

    /// Like `seal_pending`, for a caller that holds the gate.
    fn seal_pending_locked(&self) {
        let items = lock(&self.pending).take_sorted();
        self.add_mem_part(items);
    }

    fn maybe_merge_mem_parts(&self) {
        let (count, bytes) = {
            let parts = lock(&self.parts);
            let mem = parts.iter().filter(|p| p.is_mem());
            mem.fold((0, 0), |(c, b), p| (c + 1, b + p.size_bytes as usize))
        };
        if bytes > self.config.max_mem_parts_bytes {
            self.wake_flush.raise();
        }
        if count <= MAX_MEM_PARTS {
            return;
        }
        if self.config.background {
            self.wake_mem.raise();
        } else {
            self.merge_mem_parts();
        }
    }

    /// Merges the smallest in-memory parts, unless a flush or another merge has them.
    fn merge_mem_parts(&self) {
        let Ok(_m) = self.mem_merge.try_lock() else {
            return; // another thread merges or flushes them
        };
        let chosen = {
            let parts = lock(&self.parts);
            let mut mem: Vec<Arc<Part>> = parts.iter().filter(|p| p.is_mem()).cloned().collect();
            mem.sort_by_key(|p| p.size_bytes);
            pick_merge(&mem, MIN_MEM_MERGE_RATIO)
                .unwrap_or_else(|| mem.into_iter().take(MAX_PARTS_PER_MERGE).collect())
        };
        if chosen.len() < 2 {
            // A flush took the parts between the wake-up and this merge: merging none of
            // them would publish an empty part (which the next flush wrote as an empty file).
            return;
        }
        let mut out = Items::new();
        let stop = AtomicBool::new(false);
        if merge_parts(&chosen, self.config.prepare_block.as_ref(), &stop, &mut out).is_err() {
            return; // in-memory parts cannot fail to read; nothing changed
        }
        let id = self.next_part_id.fetch_add(1, Ordering::Relaxed);
        let merged = (!out.is_empty()).then(|| Arc::new(Part::mem(id, out)));
        self.replace_parts(&chosen, merged);
        self.merges.fetch_add(1, Ordering::Relaxed);
    }

    /// Swaps `old` for `new` in the part list.
    fn replace_parts(&self, old: &[Arc<Part>], new: Option<Arc<Part>>) {
        let mut parts = lock(&self.parts);
        let mut list: Vec<Arc<Part>> = parts
            .iter()
            .filter(|p| !old.iter().any(|o| Arc::ptr_eq(o, p)))
            .cloned()
            .collect();
        list.extend(new);
        *parts = Arc::new(list);
    }

    fn write_manifest_locked(&self) -> Result<()> {
        let ids: Vec<u64> = lock(&self.parts)
            .iter()
            .filter(|p| !p.is_mem())
            .map(|p| p.id)
            .collect();
        crate::fs::replace_file_atomic(&self.dir.join(MANIFEST_FILE), &manifest::encode(&ids))
    }

    /// Merges `parts` into a new published file part.
    fn write_file_part(&self, parts: &[Arc<Part>]) -> Result<Arc<Part>> {
        let id = self.next_part_id.fetch_add(1, Ordering::Relaxed);
        let final_dir = part_dir(&self.dir, id);
        let tmp = tmp_path(&final_dir);
        let mut writer = PartWriter::create(&tmp)?;
        // Flushes are never interrupted (they must finish to trim the WAL); file merges stop
        // when the table stops.
        let never = AtomicBool::new(false);
        let interruptible = parts.iter().all(|p| !p.is_mem());
        let stop = if interruptible { &self.stop } else { &never };
        let res = merge_parts(parts, self.config.prepare_block.as_ref(), stop, &mut writer);
        if let Err(e) = res.and_then(|_| writer.finish().map(|_| ())) {
            let _ = remove_dir_durable(&tmp);
            return Err(e);
        }
        publish_dir(&tmp, &final_dir)?;
        Ok(Arc::new(Part::open_file(id, &final_dir)?))
    }

    fn flush(&self) -> Result<()> {
        let _m = lock(&self.mem_merge);
        let (segment, mem_parts) = {
            let _g = self.gate.write().unwrap_or_else(|p| p.into_inner());
            let segment = self.wal.rotate()?;
            self.seal_pending_locked();
            let parts = lock(&self.parts);
            let mem: Vec<Arc<Part>> = parts.iter().filter(|p| p.is_mem()).cloned().collect();
            (segment, mem)
        };
        if !mem_parts.is_empty() {
            let part = self.write_file_part(&mem_parts)?;
            let _ml = lock(&self.manifest);
            self.replace_parts(&mem_parts, Some(part));
            self.write_manifest_locked()?;
            self.flushes.fetch_add(1, Ordering::Relaxed);
        }
        self.wal.remove_segments_before(segment)?;
        self.wake_merge.raise();
        Ok(())
    }

    /// Runs one file merge: of similar-sized parts, or of all of them when `all`. Returns
    /// whether it merged anything.
    fn merge_file_parts_once(&self, all: bool) -> Result<bool> {
        let _fm = lock(&self.file_merge);
        let chosen = {
            let parts = lock(&self.parts);
            let mut files: Vec<Arc<Part>> = parts.iter().filter(|p| !p.is_mem()).cloned().collect();
            files.sort_by_key(|p| p.size_bytes);
            if all {
                files
            } else {
                pick_merge(&files, MIN_FILE_MERGE_RATIO).unwrap_or_default()
            }
        };
        if chosen.len() < 2 {
            return Ok(false);
        }
        let part = self.write_file_part(&chosen)?;
        {
            let _ml = lock(&self.manifest);
            self.replace_parts(&chosen, Some(part));
            self.write_manifest_locked()?;
        }
        for p in &chosen {
            p.obsolete.store(true, Ordering::Release);
            self.cache.remove_part(p.id);
        }
        self.merges.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;

/// Picks a window of size-sorted parts to merge: the one with the best ratio of total size to
/// its largest part, if that ratio is at least `min_ratio` (each merge multiplies the size of
/// its largest input by that much, which bounds write amplification to log_min_ratio(n)).
fn pick_merge(sorted: &[Arc<Part>], min_ratio: f64) -> Option<Vec<Arc<Part>>> {
    let mut best: Option<(f64, usize, usize)> = None;
    for start in 0..sorted.len() {
        let mut sum = 0u64;
        let window = sorted
            .iter()
            .enumerate()
            .skip(start)
            .take(MAX_PARTS_PER_MERGE);
        for (end, part) in window {
            let size = part.size_bytes.max(1);
            sum += size;
            if end == start {
                continue;
            }
            let ratio = sum as f64 / size as f64;
            let better =
                best.is_none_or(|(r, s, e)| ratio > r || (ratio == r && end - start > e - s));
            if ratio >= min_ratio && better {
                best = Some((ratio, start, end));
            }
        }
    }
    best.map(|(_, s, e)| sorted[s..=e].to_vec())
}
