//! Registration of series the hot-path cache does not know (new series, known ones on a new
//! day, or evicted ones), by many threads at once.
//!
//! Series are sharded by their key ([`shard_of`]); each [`RegShard`] holds the Bloom filter of
//! its series and the registrations under way (its in-flight map). A batch goes through three
//! phases:
//! 1. **Decide** (each shard's lock held in turn, briefly): a series cached for the row's day
//!    needs nothing; otherwise the batch *claims* it in the in-flight map, as a known series
//!    (cache, or the index on a filter hit) whose day may need registering, or as a new one,
//!    which gets its metric id and goes into the filter. A series another batch has claimed
//!    is looked at again once that batch is done.
//! 2. **Write** (no lock): the items of the new series and of new (series, day) pairs are
//!    built and added to the mergeset in one WAL record, so that a batch's postings still
//!    share items per label pair.
//! 3. **Publish** (each shard's lock again): the entries go into the cache (the items are
//!    durable by now) and the claims end; waiting batches wake and decide again.
//!
//! Invariant: at every moment a series key is unregistered, claimed by exactly one batch, or
//! durable in the index (and then cached, or in the filter and found by a lookup). Under its
//! shard's lock, "not claimed and not in the filter" means "never registered", and "not
//! claimed and not found" means "not registered yet": two threads never give one name two
//! metric ids, nor register one (series, day) pair twice.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::mergeset::TableSearch;
use crate::metric_name::Label;
use crate::tsid::Tsid;

use super::index_db::{IndexDb, Row, canonical_labels, entry_from_labels, tsid_of};
use super::keys::{self, day_of};
use super::tsid_cache::{Entry, NO_DAY, SeriesFilter, series_key};

/// Registration shards. 16: two inserting threads rarely meet, and the filters stay one
/// layer each up to 1 M series (64 Ki keys per first layer).
pub const REG_SHARDS: usize = 16;

const METRIC_IDS_MAGIC: &[u8; 8] = b"TSDBMID1";
/// Metric ids reserved per write of the metric id file.
const ID_RESERVATION: u64 = 1 << 16;

/// The registration shard of a series key: a multiplicative hash of both halves, so that the
/// shard is independent of the bits the filter and the cache index by.
#[inline]
pub fn shard_of(key: u128) -> usize {
    let x = (key as u64) ^ ((key >> 64) as u64);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) as usize % REG_SHARDS
}

/// One shard's registration state.
#[derive(Debug)]
pub struct RegShard {
    /// Every series registered in this shard.
    pub filter: SeriesFilter,
    /// Series being registered by some thread, with the registration to wait for.
    inflight: FxHashMap<u128, Arc<Inflight>>,
}

impl RegShard {
    /// An empty shard.
    pub fn new() -> Self {
        Self {
            filter: SeriesFilter::with_first_capacity(super::tsid_cache::FIRST_CAP / REG_SHARDS),
            inflight: FxHashMap::default(),
        }
    }
}

impl Default for RegShard {
    fn default() -> Self {
        Self::new()
    }
}

/// A batch under registration: `None` while running, then whether it became durable.
#[derive(Debug, Default)]
struct Inflight {
    done: Mutex<Option<bool>>,
    cv: Condvar,
}

impl Inflight {
    fn finish(&self, ok: bool) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(ok);
        self.cv.notify_all();
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        while done.is_none() {
            done = self.cv.wait(done).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Hands out metric ids, persisting a high-water mark every [`ID_RESERVATION`] ids so that an
/// id is never reused after a crash.
#[derive(Debug)]
pub struct IdAllocator {
    path: PathBuf,
    next: u64,
    reserved: u64,
}

impl IdAllocator {
    /// Reads the high-water mark at `path`; a fresh index starts from the clock, so that ids
    /// stay unique even if an index is lost and rebuilt next to old data.
    pub fn open(path: &Path, now_ms: i64) -> Result<Self> {
        let start = match std::fs::read(path) {
            Ok(data) => {
                let ok = data.len() == 20
                    && &data[..8] == METRIC_IDS_MAGIC
                    && crc32fast::hash(&data[..16]).to_le_bytes() == data[16..20];
                if !ok {
                    return Err(Error::corruption(
                        path,
                        "metric id file",
                        "bad length, magic or checksum",
                    ));
                }
                u64::from_le_bytes(data[8..16].try_into().unwrap_or_default())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (now_ms.max(1) as u64).saturating_mul(1_000_000)
            }
            Err(e) => return Err(Error::io("read metric id file", path, e)),
        };
        Ok(Self {
            path: path.to_owned(),
            next: start,
            reserved: start,
        })
    }

    /// The next id.
    pub fn alloc(&mut self) -> Result<u64> {
        if self.next >= self.reserved {
            let reserved = self.next + ID_RESERVATION;
            let mut data = Vec::with_capacity(20);
            data.extend_from_slice(METRIC_IDS_MAGIC);
            data.extend_from_slice(&reserved.to_le_bytes());
            let crc = crc32fast::hash(&data);
            data.extend_from_slice(&crc.to_le_bytes());
            crate::fs::replace_file_atomic(&self.path, &data)?;
            self.reserved = reserved;
        }
        self.next += 1;
        Ok(self.next - 1)
    }
}

/// What phase 1 decided for one (series, day) of a batch.
enum Decision {
    /// Registered before, and for the day: nothing to write.
    Known(Entry),
    /// Claimed by this batch (in the shard's in-flight map): a new series (`true`) or a known
    /// one whose day may need registering (`false`).
    Mine(Entry, bool),
    /// In flight in another thread: look again once it is done.
    Wait(Arc<Inflight>),
}

/// One distinct series of a batch.
struct Cand<'a> {
    /// Index of its first row.
    row: usize,
    key: u128,
    day: u32,
    labels: Vec<Label<'a>>,
    /// Not the first (series, day) of its series in the batch.
    repeat: bool,
    decision: Option<Decision>,
}

impl IndexDb {
    pub(super) fn reg_shard(&self, i: usize) -> MutexGuard<'_, RegShard> {
        self.reg[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every registration shard, locked in order: no registration decides or publishes
    /// while they are held.
    pub(super) fn reg_all(&self) -> Vec<MutexGuard<'_, RegShard>> {
        (0..REG_SHARDS).map(|i| self.reg_shard(i)).collect()
    }

    /// Registers rows `slow` of `rows`, writing `out[i]` (see the module docs).
    pub(super) fn register_slow(
        &self,
        rows: &[Row<'_>],
        slow: &[usize],
        out: &mut Vec<Tsid>,
    ) -> Result<()> {
        self.check_open()?;
        out.resize(rows.len(), Tsid::default());
        // Distinct series, decoded and checked before anything is decided: a bad name fails
        // the batch with nothing registered.
        let mut first: FxHashMap<u128, usize> = FxHashMap::default();
        let mut cands: Vec<Cand<'_>> = Vec::new();
        let mut cand_of_row: Vec<(usize, usize)> = Vec::with_capacity(slow.len());
        for &i in slow {
            let r = rows[i];
            let key = series_key(r.tenant, r.name);
            let day = day_of(r.timestamp_ms);
            let lead = first.get(&key).copied();
            let c = match lead {
                Some(c) if cands[c].day == day => c,
                _ => {
                    cands.push(Cand {
                        row: i,
                        key,
                        day,
                        labels: canonical_labels(r.name)?,
                        repeat: lead.is_some(),
                        decision: None,
                    });
                    if lead.is_none() {
                        first.insert(key, cands.len() - 1);
                    }
                    cands.len() - 1
                }
            };
            cand_of_row.push((i, c));
        }
        // Rows of one series on several days: decide the series once, days separately.
        let mut by_shard: Vec<usize> = (0..cands.len()).collect();
        by_shard.sort_by_key(|&c| shard_of(cands[c].key));
        let mine = Arc::new(Inflight::default());
        let res = self.decide(rows, &mut cands, &by_shard, &first, &mine);
        let res = res.and_then(|found| {
            self.write_items(rows, &mut cands)
                .map(|(created, days)| (found, created, days))
        });
        let (found, created, days) = match res {
            Ok(x) => x,
            Err(e) => {
                self.abandon(&mine, &cands);
                return Err(e);
            }
        };
        self.publish(&cands, &by_shard, &mine);
        mine.finish(true);
        self.new_series.fetch_add(created, Ordering::Relaxed);
        self.found_in_index.fetch_add(found, Ordering::Relaxed);
        self.day_registrations.fetch_add(days, Ordering::Relaxed);

        let mut again: Vec<usize> = Vec::new();
        for &(i, c) in &cand_of_row {
            match &cands[c].decision {
                Some(Decision::Known(e) | Decision::Mine(e, _)) => {
                    out[i] = tsid_of(rows[i].tenant, e);
                }
                Some(Decision::Wait(p)) => {
                    p.wait();
                    again.push(i);
                }
                None => panic!("internal invariant: every series of a batch is decided"),
            }
        }
        if again.is_empty() {
            return Ok(());
        }
        // The other registration is done (or failed): now the series is cached, findable or
        // free to be registered by this thread.
        self.register_slow(rows, &again, out)
    }

    /// Phase 1: decides each distinct series under its shard's lock. Returns how many known
    /// series were found in the index rather than the cache.
    fn decide(
        &self,
        rows: &[Row<'_>],
        cands: &mut [Cand<'_>],
        by_shard: &[usize],
        first: &FxHashMap<u128, usize>,
        mine: &Arc<Inflight>,
    ) -> Result<u64> {
        let mut found = 0;
        let mut k = 0;
        while k < by_shard.len() {
            let shard = shard_of(cands[by_shard[k]].key);
            let mut sh = self.reg_shard(shard);
            // Opened under the shard lock, when first needed: it then sees every series of the
            // shard that is neither in flight nor unregistered.
            let mut search: Option<TableSearch> = None;
            while k < by_shard.len() && shard_of(cands[by_shard[k]].key) == shard {
                let c = by_shard[k];
                k += 1;
                let (key, day) = (cands[c].key, cands[c].day);
                if let Some(p) = sh.inflight.get(&key) {
                    cands[c].decision = Some(if Arc::ptr_eq(p, mine) {
                        // Claimed by an earlier row of this batch: the same series on
                        // another day.
                        let lead = first.get(&key).copied().unwrap_or(c);
                        match &cands[lead].decision {
                            Some(Decision::Mine(e, _)) => Decision::Mine(*e, false),
                            _ => panic!("internal invariant: a claimed series has a claiming row"),
                        }
                    } else {
                        Decision::Wait(Arc::clone(p))
                    });
                    continue;
                }
                let mut known = None;
                if sh.filter.may_contain(key) {
                    known = self.cache.peek(key);
                    if known.is_none() {
                        let r = rows[cands[c].row];
                        let s = search.get_or_insert_with(|| self.table.search());
                        if let Some(id) = self.lookup_name(s, r.tenant, r.name)? {
                            found += 1;
                            known = Some(entry_from_labels(&cands[c].labels, id));
                        }
                    }
                }
                cands[c].decision = Some(match known {
                    Some(e) if e.has_day(day) => Decision::Known(e),
                    Some(e) => {
                        sh.inflight.insert(key, Arc::clone(mine));
                        Decision::Mine(e, false)
                    }
                    None => {
                        let id = self.ids.lock().unwrap_or_else(|p| p.into_inner()).alloc()?;
                        sh.filter.insert(key);
                        sh.inflight.insert(key, Arc::clone(mine));
                        Decision::Mine(entry_from_labels(&cands[c].labels, id), true)
                    }
                });
            }
        }
        Ok(found)
    }

    /// Phase 2: builds the items of the new series and of new (series, day) pairs and adds
    /// them in one call. Returns (series created, days registered).
    fn write_items(&self, rows: &[Row<'_>], cands: &mut [Cand<'_>]) -> Result<(u64, u64)> {
        let mut items = keys::ItemsByNs::default();
        let mut postings = keys::PostingBatch::default();
        let mut search: Option<TableSearch> = None;
        let (mut created, mut days) = (0u64, 0u64);
        for c in cands.iter_mut() {
            let r = rows[c.row];
            match &mut c.decision {
                Some(Decision::Mine(e, true)) => {
                    keys::series_items(
                        &tsid_of(r.tenant, e),
                        r.name,
                        &c.labels,
                        &mut items,
                        &mut postings,
                    );
                    created += 1;
                    // A new series cannot be in the per-day index yet.
                    keys::day_items(
                        c.day,
                        r.tenant,
                        &c.labels,
                        e.metric_id,
                        &mut items,
                        &mut postings,
                    );
                    days += 1;
                    e.add_day(c.day);
                }
                Some(Decision::Mine(e, false)) if !e.has_day(c.day) => {
                    let dkey = keys::date_id_key(c.day, r.tenant, Some(e.metric_id));
                    let s = search.get_or_insert_with(|| self.table.search());
                    if s.seek_first(&dkey, &dkey)?.is_none() {
                        keys::day_items(
                            c.day,
                            r.tenant,
                            &c.labels,
                            e.metric_id,
                            &mut items,
                            &mut postings,
                        );
                        days += 1;
                    }
                    e.add_day(c.day);
                }
                _ => {}
            }
        }
        postings.drain_into(&mut items);
        self.table.add(items.take_sorted())?;
        Ok((created, days))
    }

    /// Phase 3: caches the entries (unless deleted meanwhile) and ends this batch's flights.
    fn publish(&self, cands: &[Cand<'_>], by_shard: &[usize], mine: &Arc<Inflight>) {
        let mut k = 0;
        while k < by_shard.len() {
            let shard = shard_of(cands[by_shard[k]].key);
            let mut sh = self.reg_shard(shard);
            while k < by_shard.len() && shard_of(cands[by_shard[k]].key) == shard {
                let c = &cands[by_shard[k]];
                k += 1;
                let Some(Decision::Known(e) | Decision::Mine(e, _)) = &c.decision else {
                    continue;
                };
                if !self.deleted.contains(e.metric_id) {
                    // Keep the days an earlier row of the same series registered.
                    let mut e = *e;
                    if c.repeat
                        && let Some(prev) = self.cache.peek(c.key)
                        && prev.metric_id == e.metric_id
                    {
                        for d in [prev.days[1], prev.days[0]] {
                            if d != NO_DAY {
                                e.add_day(d);
                            }
                        }
                    }
                    self.cache.insert(c.key, e);
                }
                if sh
                    .inflight
                    .get(&c.key)
                    .is_some_and(|p| Arc::ptr_eq(p, mine))
                {
                    sh.inflight.remove(&c.key);
                }
            }
        }
    }

    /// Ends this batch's flights after a failure; waiters retry on their own.
    fn abandon(&self, mine: &Arc<Inflight>, cands: &[Cand<'_>]) {
        for c in cands {
            if matches!(c.decision, Some(Decision::Mine(..))) {
                let mut sh = self.reg_shard(shard_of(c.key));
                // Only this batch's claim: another thread may have claimed the key since.
                if sh
                    .inflight
                    .get(&c.key)
                    .is_some_and(|p| Arc::ptr_eq(p, mine))
                {
                    sh.inflight.remove(&c.key);
                }
            }
        }
        mine.finish(false);
    }
}
