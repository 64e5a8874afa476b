//! Rendezvous (highest-random-weight) hashing of series over storage nodes.
//!
//! Every node gets a score for a series: a hash of the series' key mixed with the node's own
//! seed. Nodes ranked by score give the series' preference order. The first
//! `replicationFactor` available nodes of that order hold its copies; when one is down, its
//! series move to the next node of *their own* order, so a lost node's load spreads evenly over
//! the others instead of piling onto one neighbour. Adding or removing a node moves only the
//! series whose top ranks change (about 1/N of them).

use tsdb::Tenant;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The placement key of a series: xxh3-64 of its canonical label set, seeded with its tenant.
pub fn series_key(tenant: Tenant, canonical_name: &[u8]) -> u64 {
    // The tenant as the seed, not as a prefix of the hashed bytes: no copy of the name per
    // series (the copy and its thread-local buffer were a twelfth of vminsert's ingestion CPU).
    let seed = (u64::from(tenant.account_id) << 32) | u64::from(tenant.project_id);
    xxh3_64_with_seed(canonical_name, seed)
}

/// The set of storage nodes, identified by their addresses as configured (`-storageNode`).
/// Every vminsert configured with the same list ranks every series the same way.
#[derive(Debug, Clone)]
pub struct Ring {
    seeds: Vec<u64>,
}

impl Ring {
    /// A ring over `nodes`, in configuration order.
    pub fn new<S: AsRef<str>>(nodes: &[S]) -> Self {
        Self {
            seeds: nodes
                .iter()
                .map(|n| xxh3_64(n.as_ref().as_bytes()))
                .collect(),
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.seeds.len()
    }

    /// Whether the ring has no nodes.
    pub fn is_empty(&self) -> bool {
        self.seeds.is_empty()
    }

    /// Writes the node indexes in preference order for `key` into `out` (cleared first).
    pub fn rank(&self, key: u64, out: &mut Vec<usize>) {
        out.clear();
        out.extend(0..self.seeds.len());
        let seeds = &self.seeds;
        // Highest score first; ties (practically impossible) broken by index for determinism.
        match seeds.as_slice() {
            // One or two nodes, the common small clusters: no score array to clear (zeroing
            // the 256-byte array below was a fifth of this function's time).
            [_] => return,
            [a, b] => {
                if score(key, *b) > score(key, *a) {
                    out.swap(0, 1);
                }
                return;
            }
            _ => {}
        }
        if seeds.len() <= SMALL_RING {
            // The common case, once per series: scores computed once per node, on the stack,
            // and an insertion sort (stable, so equal scores keep index order).
            let mut scores = [0u64; SMALL_RING];
            for (s, &seed) in scores.iter_mut().zip(seeds) {
                *s = score(key, seed);
            }
            for i in 1..out.len() {
                let mut j = i;
                while j > 0 && scores[out[j - 1]] < scores[out[j]] {
                    out.swap(j - 1, j);
                    j -= 1;
                }
            }
            return;
        }
        out.sort_unstable_by(|&a, &b| {
            score(key, seeds[b])
                .cmp(&score(key, seeds[a]))
                .then(a.cmp(&b))
        });
    }
}

/// Rings up to this size rank on the stack.
const SMALL_RING: usize = 32;

/// A 64-bit mix of the series key and a node seed (the finaliser of SplitMix64).
fn score(key: u64, seed: u64) -> u64 {
    let mut z = key ^ seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("vmstorage-{i}.vmstorage:8400"))
            .collect()
    }

    #[test]
    fn load_is_even_and_a_lost_nodes_share_spreads_over_all_others() {
        let ring = Ring::new(&nodes(5));
        let mut first = [0usize; 5];
        let mut moved_to = [0usize; 5];
        let mut order = Vec::new();
        for i in 0..50_000u64 {
            ring.rank(series_key(Tenant::default(), &i.to_le_bytes()), &mut order);
            first[order[0]] += 1;
            if order[0] == 0 {
                moved_to[order[1]] += 1;
            }
        }
        for count in first {
            assert!(
                (9_000..11_000).contains(&count),
                "uneven primary load {first:?}"
            );
        }
        // Node 0's ~10k series fall to the other four nearly equally.
        assert_eq!(moved_to[0], 0);
        for &count in &moved_to[1..] {
            assert!(
                (2_000..3_000).contains(&count),
                "uneven reroute {moved_to:?}"
            );
        }
    }

    #[test]
    fn adding_a_node_moves_about_one_in_n_series() {
        let (small, big) = (Ring::new(&nodes(4)), Ring::new(&nodes(5)));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut moved = 0;
        for i in 0..20_000u64 {
            let key = series_key(Tenant::new(1, 2), &i.to_le_bytes());
            small.rank(key, &mut a);
            big.rank(key, &mut b);
            if a[0] != b[0] {
                assert_eq!(b[0], 4, "a series moved between old nodes");
                moved += 1;
            }
        }
        assert!((3_000..5_000).contains(&moved), "moved {moved} of 20000");
    }

    /// The stack path for small rings ranks exactly as the general sort: highest score first,
    /// ties by index.
    #[test]
    fn small_ring_ranking_equals_the_general_sort() {
        let mut out = Vec::new();
        for n in 1..=SMALL_RING {
            let ring = Ring::new(&nodes(n));
            for k in 0..200u64 {
                let key = series_key(Tenant::new(k as u32 % 3, 0), &k.to_le_bytes());
                ring.rank(key, &mut out);
                let mut want: Vec<usize> = (0..n).collect();
                want.sort_by(|&a, &b| {
                    score(key, ring.seeds[b])
                        .cmp(&score(key, ring.seeds[a]))
                        .then(a.cmp(&b))
                });
                assert_eq!(out, want, "n={n} key={key}");
            }
        }
        // Equal seeds give equal scores: index order.
        for n in [2, 3] {
            let twins = Ring { seeds: vec![7; n] };
            twins.rank(42, &mut out);
            assert_eq!(out, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn tenant_is_part_of_the_key() {
        assert_ne!(
            series_key(Tenant::new(0, 0), b"x"),
            series_key(Tenant::new(0, 1), b"x")
        );
        assert_ne!(
            series_key(Tenant::new(1, 0), b"x"),
            series_key(Tenant::new(0, 1), b"x")
        );
    }
}
