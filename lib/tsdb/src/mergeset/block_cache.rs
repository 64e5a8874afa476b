//! A bounded cache of decoded data blocks of file parts, shared by every search of a table.
//!
//! Two generations per shard: lookups look in the current one, then in the previous one (and
//! move a hit forward); when the current generation outgrows half the budget it becomes the
//! previous one and the old previous one is dropped. An approximation of LRU with O(1) work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use super::items::Items;

const SHARDS: usize = 16;

/// (part id, index block, block within it).
pub type BlockKey = (u64, u32, u32);

#[derive(Debug, Default)]
struct Shard {
    cur: FxHashMap<BlockKey, Arc<Items>>,
    prev: FxHashMap<BlockKey, Arc<Items>>,
    cur_bytes: usize,
}

/// The cache. Bytes are counted as the heap bytes of the decoded items.
#[derive(Debug)]
pub struct BlockCache {
    shards: Vec<Mutex<Shard>>,
    gen_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BlockCache {
    /// A cache holding roughly up to `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            gen_bytes: (max_bytes / SHARDS / 2).max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &BlockKey) -> std::sync::MutexGuard<'_, Shard> {
        let h =
            key.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u64::from(key.1) << 20) ^ u64::from(key.2);
        let i = (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached block, if any.
    pub fn get(&self, key: &BlockKey) -> Option<Arc<Items>> {
        let mut s = self.shard(key);
        if let Some(v) = s.cur.get(key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(Arc::clone(v));
        }
        if let Some(v) = s.prev.remove(key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            s.cur_bytes += v.heap_bytes();
            s.cur.insert(*key, Arc::clone(&v));
            self.rotate_if_full(&mut s);
            return Some(v);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Caches a block.
    pub fn insert(&self, key: BlockKey, block: Arc<Items>) {
        let mut s = self.shard(&key);
        s.cur_bytes += block.heap_bytes();
        s.cur.insert(key, block);
        self.rotate_if_full(&mut s);
    }

    fn rotate_if_full(&self, s: &mut Shard) {
        if s.cur_bytes > self.gen_bytes {
            s.prev = std::mem::take(&mut s.cur);
            s.cur_bytes = 0;
        }
    }

    /// Drops every block of part `part_id` (called when the part goes away).
    pub fn remove_part(&self, part_id: u64) {
        for s in &self.shards {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.cur.retain(|k, _| k.0 != part_id);
            s.prev.retain(|k, _| k.0 != part_id);
        }
    }

    /// (hits, misses) since creation.
    pub fn hits_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Heap bytes of the cached blocks (approximate).
    pub fn size_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.cur
                    .values()
                    .chain(s.prev.values())
                    .map(|b| b.heap_bytes())
                    .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_move_forward_and_the_budget_bounds_the_size() {
        let c = BlockCache::new(SHARDS * 2 * 4096);
        let block =
            |n: usize| Arc::new((0..n).map(|_| &b"0123456789abcdef"[..]).collect::<Items>());
        c.insert((1, 0, 0), block(4));
        assert!(c.get(&(1, 0, 0)).is_some());
        assert!(c.get(&(1, 0, 1)).is_none());
        assert_eq!(c.hits_misses(), (1, 1));
        for j in 0..10_000 {
            c.insert((2, 0, j), block(8));
        }
        assert!(
            c.size_bytes() <= SHARDS * 2 * (4096 + 1024),
            "{}",
            c.size_bytes()
        );
        c.remove_part(2);
        assert!(c.get(&(2, 0, 9_999)).is_none());
    }
}
