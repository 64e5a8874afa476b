//! The hot-path caches of registration: [`TsidCache`] maps a 128-bit hash of
//! (tenant, canonical name) to the series' Tsid and the last two days it was registered for,
//! and [`SeriesFilter`], a Bloom filter of every registered hash, tells a new series from an
//! uncached old one without reading the index.
//!
//! Why a hash and not the name as the key: 48 bytes per entry instead of ~150. Why 128 bits:
//! the chance that any two of n series collide is about n²/2¹²⁹; for 10¹⁰ series over the life
//! of a node that is ~10⁻¹⁹, far below the chance of an undetected disk error. A collision
//! would hand one series the Tsid of another; it cannot corrupt the index itself.

use std::sync::{Mutex, MutexGuard};

use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::tsid::Tenant;

/// The cache key of a series: xxh3-128 of its canonical name, seeded with the tenant.
pub fn series_key(tenant: Tenant, name_raw: &[u8]) -> u128 {
    let seed = (u64::from(tenant.account_id) << 32) | u64::from(tenant.project_id);
    xxh3_128_with_seed(name_raw, seed)
}

/// What the cache keeps per series: the Tsid without the tenant (the key carries it) and the
/// last two days the series was registered for in the per-day index (`u32::MAX`: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Tsid field.
    pub metric_group_id: u64,
    /// Tsid field.
    pub metric_id: u64,
    /// Tsid field.
    pub job_id: u32,
    /// Tsid field.
    pub instance_id: u32,
    /// Days registered, most recent first.
    pub days: [u32; 2],
}

/// No day.
pub const NO_DAY: u32 = u32::MAX;

impl Entry {
    /// Whether the series is registered for `day`.
    #[inline]
    pub fn has_day(&self, day: u32) -> bool {
        self.days[0] == day || self.days[1] == day
    }

    /// Records `day` as registered.
    pub fn add_day(&mut self, day: u32) {
        if !self.has_day(day) {
            self.days = [day, self.days[0]];
        }
    }
}

/// An open-addressing table of (key, entry) slots with linear probing: a hit reads one or two
/// adjacent cache lines, where a general-purpose map reads a control group and then a slot.
/// Key 0 marks an empty slot (a real key 0 is stored as 1: a 2⁻¹²⁸ event that merely merges
/// two keys' chances of colliding). No removal: generations are dropped whole, and deletes
/// rebuild the table.
#[derive(Default)]
struct Slots {
    slots: Vec<(u128, Entry)>,
    len: usize,
}

const EMPTY_ENTRY: Entry = Entry {
    metric_group_id: 0,
    metric_id: 0,
    job_id: 0,
    instance_id: 0,
    days: [NO_DAY; 2],
};

impl Slots {
    #[inline]
    fn find(&self, key: u128) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = (key as usize) & mask;
        loop {
            let k = self.slots[i].0;
            if k == key {
                return Some(i);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Prefetches the first slot `key` probes.
    #[inline]
    fn prefetch(&self, key: u128) {
        if !self.slots.is_empty() {
            let i = (key as usize) & (self.slots.len() - 1);
            prefetch(self.slots.as_ptr().wrapping_add(i));
        }
    }

    #[inline]
    fn get(&self, key: u128) -> Option<&Entry> {
        self.find(key).map(|i| &self.slots[i].1)
    }

    fn get_mut(&mut self, key: u128) -> Option<&mut Entry> {
        self.find(key).map(|i| &mut self.slots[i].1)
    }

    fn insert(&mut self, key: u128, e: Entry) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (key as usize) & mask;
        loop {
            let k = self.slots[i].0;
            if k == key {
                self.slots[i].1 = e;
                return;
            }
            if k == 0 {
                self.slots[i] = (key, e);
                self.len += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![(0, EMPTY_ENTRY); cap]);
        self.len = 0;
        for (k, e) in old {
            if k != 0 {
                self.insert(k, e);
            }
        }
    }

    fn retain(&mut self, keep: impl Fn(&Entry) -> bool) {
        let old = std::mem::take(&mut self.slots);
        self.len = 0;
        for (k, e) in old {
            if k != 0 && keep(&e) {
                self.insert(k, e);
            }
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        self.slots.len()
    }
}

#[inline]
fn nonzero(key: u128) -> u128 {
    key.max(1)
}

const SHARDS: usize = 64;

/// How many keys ahead [`TsidCache::get_many`] prefetches: enough to cover a memory access
/// with the work of the probes in between.
const PREFETCH_AHEAD: usize = 8;

#[inline]
fn shard_index(key: u128) -> usize {
    (key >> 122) as usize % SHARDS
}

/// Asks the CPU to load the cache line at `p`. A hint: it never faults and reads nothing the
/// program sees, so any address will do.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has (it is in the target's
    // baseline); the instruction does not dereference `p` for the program and cannot fault, so
    // it is sound for any address (tested by `get_many_equals_get`, which prefetches slots of
    // tables that grow and move under it).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[derive(Default)]
struct Shard {
    cur: Slots,
    prev: Slots,
    /// Counted under the shard lock: no shared counter bounces between cores.
    hits: u64,
    misses: u64,
}

/// A bounded map from series key to [`Entry`], sharded, with two generations per shard (see
/// `mergeset::block_cache` for the scheme).
pub struct TsidCache {
    shards: Vec<Mutex<Shard>>,
    gen_cap: usize,
}

impl std::fmt::Debug for TsidCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsidCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl TsidCache {
    /// A cache that keeps at least `capacity / 2` and at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            gen_cap: (capacity / SHARDS / 2).max(1),
        }
    }

    fn shard(&self, key: u128) -> MutexGuard<'_, Shard> {
        self.shards[shard_index(key)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The entry of `key`, counting a hit or a miss.
    #[inline]
    pub fn get(&self, key: u128) -> Option<Entry> {
        let key = nonzero(key);
        let mut s = self.shard(key);
        if let Some(e) = s.cur.get(key) {
            let e = *e;
            s.hits += 1;
            return Some(e);
        }
        if let Some(e) = s.prev.get(key).copied() {
            // Copied forward; the stale copy goes with the old generation.
            s.hits += 1;
            self.put(&mut s, key, e);
            return Some(e);
        }
        s.misses += 1;
        None
    }

    /// [`TsidCache::get`] for many keys: `out[i]` is the entry of `keys[i]`. The keys are
    /// grouped by shard (one lock per shard touched, not per key) and each slot is prefetched
    /// a few keys ahead, so that the cache misses of a batch overlap instead of queuing (a
    /// probe is one random memory access: it was a fifth of vmstorage's ingestion CPU).
    /// `order` is scratch space.
    pub fn get_many(&self, keys: &[u128], out: &mut Vec<Option<Entry>>, order: &mut Vec<u32>) {
        out.clear();
        out.resize(keys.len(), None);
        let mut starts = [0u32; SHARDS + 1];
        for &k in keys {
            starts[shard_index(nonzero(k)) + 1] += 1;
        }
        for i in 0..SHARDS {
            starts[i + 1] += starts[i];
        }
        order.clear();
        order.resize(keys.len(), 0);
        let mut next = starts;
        for (i, &k) in keys.iter().enumerate() {
            let sh = shard_index(nonzero(k));
            order[next[sh] as usize] = i as u32;
            next[sh] += 1;
        }
        for sh in 0..SHARDS {
            let run = &order[starts[sh] as usize..starts[sh + 1] as usize];
            if run.is_empty() {
                continue;
            }
            let mut guard = self.shards[sh].lock().unwrap_or_else(|p| p.into_inner());
            let s = &mut *guard;
            for (j, &i) in run.iter().enumerate() {
                if let Some(&ahead) = run.get(j + PREFETCH_AHEAD) {
                    s.cur.prefetch(nonzero(keys[ahead as usize]));
                }
                let key = nonzero(keys[i as usize]);
                out[i as usize] = if let Some(e) = s.cur.get(key) {
                    s.hits += 1;
                    Some(*e)
                } else if let Some(e) = s.prev.get(key).copied() {
                    s.hits += 1;
                    self.put(s, key, e);
                    Some(e)
                } else {
                    s.misses += 1;
                    None
                };
            }
        }
    }

    /// The entry of `key`, without counting or moving it.
    pub fn peek(&self, key: u128) -> Option<Entry> {
        let key = nonzero(key);
        let s = self.shard(key);
        s.cur.get(key).or_else(|| s.prev.get(key)).copied()
    }

    /// Inserts or replaces an entry.
    pub fn insert(&self, key: u128, e: Entry) {
        let key = nonzero(key);
        let mut s = self.shard(key);
        self.put(&mut s, key, e);
    }

    fn put(&self, s: &mut Shard, key: u128, e: Entry) {
        if s.cur.len() >= self.gen_cap && s.cur.find(key).is_none() {
            s.prev = std::mem::take(&mut s.cur);
        }
        s.cur.insert(key, e);
    }

    /// Marks `day` registered for `key`, if cached.
    pub fn add_day(&self, key: u128, day: u32) {
        let key = nonzero(key);
        let mut s = self.shard(key);
        if let Some(e) = s.cur.get_mut(key) {
            e.add_day(day);
        } else if let Some(mut e) = s.prev.get(key).copied() {
            e.add_day(day);
            self.put(&mut s, key, e);
        }
    }

    /// Drops every entry whose metric id fails `keep`.
    pub fn retain(&self, keep: impl Fn(u64) -> bool) {
        for s in &self.shards {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.cur.retain(|e| keep(e.metric_id));
            s.prev.retain(|e| keep(e.metric_id));
        }
    }

    /// Entries held (an entry copied forward from the old generation counts twice until
    /// that generation is dropped).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.cur.len() + s.prev.len()
            })
            .sum()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes of the tables (slots × slot size).
    pub fn size_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u128, Entry)>();
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                (s.cur.capacity() + s.prev.capacity()) * slot
            })
            .sum()
    }

    /// (hits, misses) since creation.
    pub fn hits_misses(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(h, m), s| {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            (h + s.hits, m + s.misses)
        })
    }
}

/// A scalable Bloom filter of series keys: a list of filters, each twice the size of the one
/// before, well under 1% false positives each. No false negatives: every registered key is inserted
/// before its registration returns, and at open the filter is rebuilt from the index.
#[derive(Debug)]
pub struct SeriesFilter {
    blooms: Vec<Bloom>,
    first_cap: usize,
}

impl Default for SeriesFilter {
    fn default() -> Self {
        Self::with_first_capacity(FIRST_CAP)
    }
}

/// A blocked Bloom filter: every key sets 7 bits within one 512-bit block (one cache line),
/// so a probe costs one cache miss.
#[derive(Debug)]
struct Bloom {
    blocks: Vec<[u64; 8]>,
    len: usize,
    cap: usize,
}

const HASHES: u64 = 7;
/// Keys of the first layer of an unsharded filter: 1 Mi keys (2 MiB); up to there a probe is
/// one cache miss.
pub const FIRST_CAP: usize = 1 << 20;

impl Bloom {
    fn new(cap: usize) -> Self {
        // ~16 bits per key: about 0.3% false positives for a blocked filter at capacity. Each
        // false positive costs an index lookup on the registration path.
        let nblocks = (cap * 16 / 512).next_power_of_two().max(1);
        Self {
            blocks: vec![[0; 8]; nblocks],
            len: 0,
            cap,
        }
    }

    #[inline]
    fn block_and_bits(&self, key: u128) -> (usize, [(usize, u64); HASHES as usize]) {
        let (h1, h2) = (key as u64, (key >> 64) as u64);
        let block = (h1 as usize) & (self.blocks.len() - 1);
        let mut bits = [(0usize, 0u64); HASHES as usize];
        for (i, b) in bits.iter_mut().enumerate() {
            let bit = (h2 >> (i * 9)) & 511;
            *b = ((bit / 64) as usize, 1u64 << (bit % 64));
        }
        (block, bits)
    }

    fn insert(&mut self, key: u128) {
        let (block, bits) = self.block_and_bits(key);
        for (word, mask) in bits {
            self.blocks[block][word] |= mask;
        }
        self.len += 1;
    }

    #[inline]
    fn may_contain(&self, key: u128) -> bool {
        let (block, bits) = self.block_and_bits(key);
        let b = &self.blocks[block];
        bits.iter().all(|&(word, mask)| b[word] & mask != 0)
    }
}

impl SeriesFilter {
    /// An empty filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty filter whose first layer holds `cap` keys (each next layer twice as many).
    pub fn with_first_capacity(cap: usize) -> Self {
        Self {
            blooms: Vec::new(),
            first_cap: cap.max(512),
        }
    }

    /// Adds a key.
    pub fn insert(&mut self, key: u128) {
        if self.blooms.last().is_none_or(|b| b.len >= b.cap) {
            let cap = self.blooms.last().map_or(self.first_cap, |b| b.cap * 2);
            self.blooms.push(Bloom::new(cap));
        }
        if let Some(b) = self.blooms.last_mut() {
            b.insert(key);
        }
    }

    /// False only if `key` was never inserted.
    #[inline]
    pub fn may_contain(&self, key: u128) -> bool {
        self.blooms.iter().any(|b| b.may_contain(key))
    }

    /// Heap bytes.
    pub fn size_bytes(&self) -> usize {
        self.blooms.iter().map(|b| b.blocks.len() * 64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: u64) -> Entry {
        Entry {
            metric_group_id: 1,
            metric_id: id,
            job_id: 2,
            instance_id: 3,
            days: [5, NO_DAY],
        }
    }

    fn key(i: u64) -> u128 {
        if i == 0 {
            0
        } else {
            xxhash_rust::xxh3::xxh3_128(&i.to_le_bytes())
        }
    }

    /// `get_many` answers what `get` answers, key by key (hits, misses, duplicate keys, key
    /// 0), and counts the same hits and misses, while the tables grow between calls.
    #[test]
    fn get_many_equals_get() {
        let (a, b) = (TsidCache::new(1 << 24), TsidCache::new(1 << 24));
        let (mut out, mut order) = (Vec::new(), Vec::new());
        for round in 0..40u64 {
            for i in round * 150..round * 150 + 150 {
                a.insert(key(i), e(i));
                b.insert(key(i), e(i));
            }
            let keys: Vec<u128> = (0..700u64)
                .map(|j| key((j * 7919 + round * 31) % (round * 150 + 400)))
                .chain([key(0), key(3), key(3)])
                .collect();
            a.get_many(&keys, &mut out, &mut order);
            let want: Vec<Option<Entry>> = keys.iter().map(|&k| b.get(k)).collect();
            assert_eq!(out, want, "round {round}");
            assert_eq!(a.hits_misses(), b.hits_misses(), "round {round}");
        }
        a.get_many(&[], &mut out, &mut order);
        assert!(out.is_empty());
    }

    /// Under capacity pressure (generations turning over, entries copied forward from the old
    /// one during the call) every answer is the key's own entry or a miss, and at least a
    /// generation's worth are hits.
    #[test]
    fn get_many_under_turnover_never_answers_another_key() {
        let c = TsidCache::new(SHARDS * 2 * 8);
        let (mut out, mut order) = (Vec::new(), Vec::new());
        for i in 0..5_000u64 {
            c.insert(key(i), e(i));
        }
        let keys: Vec<u128> = (0..5_000u64).map(key).collect();
        c.get_many(&keys, &mut out, &mut order);
        let mut hits = 0;
        for (i, got) in out.iter().enumerate() {
            if let Some(got) = got {
                assert_eq!(*got, e(i as u64));
                hits += 1;
            }
        }
        assert!(hits >= SHARDS * 8 / 2, "{hits}");
    }

    #[test]
    fn cache_keeps_recent_entries_within_capacity() {
        let c = TsidCache::new(SHARDS * 2 * 10);
        for i in 0..10_000u64 {
            c.insert(u128::from(i) << 100 | u128::from(i), e(i));
        }
        assert!(c.len() <= SHARDS * 2 * 10, "{}", c.len());
        let last = 9_999u128;
        assert_eq!(c.get(last << 100 | last).map(|x| x.metric_id), Some(9_999));
        assert_eq!(c.get(7), None);
        c.add_day(last << 100 | last, 6);
        let got = c.get(last << 100 | last).unwrap();
        assert!(got.has_day(6) && got.has_day(5) && !got.has_day(4));
        c.retain(|id| id != 9_999);
        assert_eq!(c.get(last << 100 | last), None);
        let (hits, misses) = c.hits_misses();
        assert_eq!((hits, misses), (2, 2));
    }

    #[test]
    fn slots_grow_find_every_key_and_retain() {
        let mut t = Slots::default();
        // Keys that collide on the low bits probe linearly past each other.
        let keys: Vec<u128> = (0..5_000u128)
            .map(|i| nonzero((i << 64) | (i % 7)))
            .collect();
        for (i, &k) in keys.iter().enumerate() {
            t.insert(k, e(i as u64));
        }
        assert_eq!(t.len(), keys.len());
        assert!(t.len() * 4 <= t.capacity() * 3);
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(t.get(k).map(|x| x.metric_id), Some(i as u64));
        }
        assert_eq!(
            t.get(nonzero(0)).map(|x| x.metric_id),
            Some(0),
            "key 0 is stored as 1"
        );
        assert!(t.get(99 << 64).is_none());
        t.retain(|x| x.metric_id % 2 == 0);
        assert_eq!(t.len(), 2_500);
        assert!(t.get(keys[1]).is_none() && t.get(keys[2]).is_some());
    }

    #[test]
    fn keys_depend_on_tenant_and_name() {
        let a = series_key(Tenant::new(0, 0), b"x");
        assert_ne!(a, series_key(Tenant::new(0, 1), b"x"));
        assert_ne!(a, series_key(Tenant::new(0, 0), b"y"));
        assert_eq!(a, series_key(Tenant::new(0, 0), b"x"));
    }

    #[test]
    fn filter_has_no_false_negatives_and_few_false_positives() {
        let mut f = SeriesFilter::new();
        let key = |i: u64| series_key(Tenant::new(1, 1), &i.to_le_bytes());
        for i in 0..200_000 {
            f.insert(key(i));
        }
        assert!((0..200_000).all(|i| f.may_contain(key(i))));
        let fp = (200_000..300_000)
            .filter(|&i| f.may_contain(key(i)))
            .count();
        assert!(fp < 1_000, "{fp} false positives in 100000");
    }
}
