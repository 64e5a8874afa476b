//! Which parts to merge: similar sizes, so that write amplification stays bounded.
//!
//! Among the parts not already in a merge, sorted by size, the policy looks at every run of 2 to
//! `max_parts` neighbours and takes the run with the largest ratio `total / largest`, if that
//! ratio is at least `min_ratio` (default 4). Every part that enters a merge is then at most a
//! quarter of the result, so each time a sample is rewritten the part holding it grows at least
//! fourfold: a sample is rewritten at most `log4(largest part / smallest part)` times (about 8
//! times from a 10 kB flush to a 1 GB part). While more than `crowded_parts` parts pile up, the
//! minimum ratio drops to 2 (bound `log2`), trading write amplification for fewer parts.

/// Tuning of [`pick_parts_to_merge`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MergePolicy {
    /// Most parts in one merge.
    pub max_parts: usize,
    /// Least `total size / largest input size` for a merge to be worth it.
    pub min_ratio: f64,
    /// Above this many parts, `min_ratio` falls to 2.
    pub crowded_parts: usize,
}

impl Default for MergePolicy {
    fn default() -> Self {
        MergePolicy {
            max_parts: 16,
            min_ratio: 4.0,
            crowded_parts: 32,
        }
    }
}

/// Picks parts to merge from `(id, size)` pairs; returns their ids, or nothing.
pub fn pick_parts_to_merge(parts: &[(u64, u64)], policy: &MergePolicy) -> Vec<u64> {
    let mut sorted = parts.to_vec();
    sorted.sort_by_key(|&(id, size)| (size, id));
    let min_ratio = if parts.len() > policy.crowded_parts {
        policy.min_ratio.min(2.0)
    } else {
        policy.min_ratio
    };
    let mut best: Option<(f64, usize, usize)> = None;
    for start in 0..sorted.len() {
        let mut total = 0u64;
        for (end, &(_, size)) in sorted.iter().enumerate().skip(start).take(policy.max_parts) {
            total += size.max(1);
            if end == start {
                continue;
            }
            let ratio = total as f64 / size.max(1) as f64;
            if ratio >= min_ratio && best.is_none_or(|(r, _, _)| ratio > r) {
                best = Some((ratio, start, end));
            }
        }
    }
    best.map(|(_, s, e)| sorted[s..=e].iter().map(|p| p.0).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(sizes: &[u64], want: &[u64]) {
        let parts: Vec<(u64, u64)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &s)| (i as u64, s))
            .collect();
        let mut got = pick_parts_to_merge(&parts, &MergePolicy::default());
        got.sort();
        assert_eq!(got, want, "{sizes:?}");
    }

    #[test]
    fn merges_runs_of_similar_parts_only() {
        check(&[], &[]);
        check(&[10], &[]);
        check(&[10, 10, 10], &[]);
        check(&[10, 10, 10, 10], &[0, 1, 2, 3]);
        check(&[1000, 10, 10, 10, 10], &[1, 2, 3, 4]);
        check(&[1000, 10, 10, 10], &[]);
        check(&[40, 10, 10, 10, 10, 200], &[1, 2, 3, 4]);
        // Pairs of equal parts, each pair 8x the previous: no run reaches ratio 4.
        let pairs: Vec<u64> = (0..20).flat_map(|i| [8u64.pow(i), 8u64.pow(i)]).collect();
        let parts: Vec<(u64, u64)> = pairs
            .iter()
            .enumerate()
            .map(|(i, &s)| (i as u64, s))
            .collect();
        assert_eq!(
            pick_parts_to_merge(&parts[..8], &MergePolicy::default()),
            Vec::<u64>::new()
        );
        // Crowded: the best run (ratio about 2.3, the 16 smallest) is taken.
        assert_eq!(
            pick_parts_to_merge(&parts, &MergePolicy::default()).len(),
            16
        );
    }

    #[test]
    fn write_amplification_stays_within_the_bound() {
        // Simulate 4096 equal flushes merged as soon as the policy allows.
        let policy = MergePolicy::default();
        let mut parts: Vec<(u64, u64)> = Vec::new();
        let (mut next, mut written, mut flushed) = (0u64, 0u64, 0u64);
        for _ in 0..4096 {
            parts.push((next, 1));
            next += 1;
            flushed += 1;
            written += 1;
            loop {
                let pick = pick_parts_to_merge(&parts, &policy);
                if pick.is_empty() {
                    break;
                }
                let total: u64 = parts
                    .iter()
                    .filter(|p| pick.contains(&p.0))
                    .map(|p| p.1)
                    .sum();
                parts.retain(|p| !pick.contains(&p.0));
                parts.push((next, total));
                next += 1;
                written += total;
            }
        }
        let wa = written as f64 / flushed as f64;
        // log4(4096) = 6 rewrites plus the flush itself.
        assert!(wa <= 7.0, "write amplification {wa}");
        assert!(parts.len() <= 3 * 6 + 1, "{} parts left", parts.len());
    }
}
