//! Deduplication of samples: the one rule used by flushes, merges and queries.
//!
//! With an interval `d > 0`, time is cut into buckets `[k·d, (k+1)·d)` (floor division, so
//! negative timestamps work too) and each bucket keeps one sample: the one with the largest
//! timestamp; among samples with that same timestamp, the largest value in [`value_order`].
//! With `d == 0` only samples with identical timestamps collapse, by the same tie rule. The rule
//! depends only on the set of samples, never on their arrival order, so replicas deduplicate to
//! the same result wherever it runs.

use std::cmp::Ordering;

/// Bit pattern of the Prometheus staleness marker, a NaN.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is the Prometheus staleness marker (bit-exact comparison).
#[inline]
pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The order of values that share a timestamp: the staleness marker is greatest (a series
/// that was marked stale at that instant stays stale), then IEEE 754 `totalOrder`
/// ([`f64::total_cmp`]): positive NaNs above +Inf, negative NaNs below -Inf, -0.0 below +0.0,
/// NaNs by payload.
#[inline]
pub fn value_order(a: f64, b: f64) -> Ordering {
    match (is_stale_marker(a), is_stale_marker(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.total_cmp(&b),
    }
}

#[inline]
fn bucket(ts: i64, interval_ms: i64) -> i64 {
    if interval_ms > 0 {
        ts.div_euclid(interval_ms)
    } else {
        ts
    }
}

/// The bucket `ts` falls in for `interval_ms` (the timestamp itself when the interval is 0).
#[inline]
pub fn dedup_bucket(ts: i64, interval_ms: i64) -> i64 {
    bucket(ts, interval_ms)
}

/// Deduplicates samples in place (see the module docs). `timestamps` must be sorted ascending
/// (ties in any order) and as long as `values`. Returns how many samples were removed.
pub fn dedup(timestamps: &mut Vec<i64>, values: &mut Vec<f64>, interval_ms: i64) -> usize {
    debug_assert_eq!(timestamps.len(), values.len());
    let n = timestamps.len().min(values.len());
    let first_dup = timestamps[..n]
        .windows(2)
        .position(|w| bucket(w[0], interval_ms) == bucket(w[1], interval_ms));
    let Some(first_dup) = first_dup else {
        return 0;
    };
    let mut w = first_dup; // last kept index
    for i in first_dup + 1..n {
        let (t, v) = (timestamps[i], values[i]);
        if bucket(t, interval_ms) == bucket(timestamps[w], interval_ms) {
            let better = match t.cmp(&timestamps[w]) {
                Ordering::Greater => true,
                Ordering::Equal => value_order(v, values[w]) == Ordering::Greater,
                Ordering::Less => false,
            };
            if better {
                timestamps[w] = t;
                values[w] = v;
            }
        } else {
            w += 1;
            timestamps[w] = t;
            values[w] = v;
        }
    }
    timestamps.truncate(w + 1);
    values.truncate(w + 1);
    n - (w + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STALE: f64 = f64::from_bits(STALE_NAN_BITS);

    #[track_caller]
    fn check(samples: &[(i64, f64)], interval: i64, want: &[(i64, f64)]) {
        let mut ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
        let mut vs: Vec<f64> = samples.iter().map(|s| s.1).collect();
        let removed = dedup(&mut ts, &mut vs, interval);
        let got: Vec<(i64, u64)> = ts.iter().zip(&vs).map(|(t, v)| (*t, v.to_bits())).collect();
        let want_bits: Vec<(i64, u64)> = want.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        assert_eq!(got, want_bits);
        assert_eq!(removed, samples.len() - want.len());
    }

    #[test]
    fn keeps_the_last_sample_of_each_bucket_and_the_largest_value_on_ties() {
        check(&[], 0, &[]);
        check(&[(1, 1.0), (2, 2.0)], 0, &[(1, 1.0), (2, 2.0)]);
        check(&[(1, 5.0), (1, 3.0), (1, 4.0)], 0, &[(1, 5.0)]);
        check(&[(1, 3.0), (1, 5.0), (2, 0.0)], 0, &[(1, 5.0), (2, 0.0)]);
        check(
            &[(0, 1.0), (9, 2.0), (10, 3.0), (19, 4.0), (25, 5.0)],
            10,
            &[(9, 2.0), (19, 4.0), (25, 5.0)],
        );
        check(
            &[(-11, 1.0), (-10, 2.0), (-1, 3.0), (0, 4.0)],
            10,
            &[(-11, 1.0), (-1, 3.0), (0, 4.0)],
        );
        check(&[(5, 1.0), (5, STALE), (5, f64::NAN)], 0, &[(5, STALE)]);
        check(&[(5, f64::INFINITY), (5, f64::NAN)], 0, &[(5, f64::NAN)]);
        check(&[(5, -0.0), (5, 0.0)], 0, &[(5, 0.0)]);
        check(
            &[(5, -f64::NAN), (5, f64::NEG_INFINITY)],
            0,
            &[(5, f64::NEG_INFINITY)],
        );
        check(
            &[(i64::MIN, 1.0), (i64::MIN + 1, 2.0), (i64::MAX, 3.0)],
            1 << 62,
            &[(i64::MIN + 1, 2.0), (i64::MAX, 3.0)],
        );
    }

    fn model(samples: &[(i64, f64)], interval: i64) -> Vec<(i64, u64)> {
        let mut best: std::collections::BTreeMap<i64, (i64, f64)> = Default::default();
        for &(t, v) in samples {
            let b = bucket(t, interval);
            let e = best.entry(b).or_insert((t, v));
            if t > e.0 || (t == e.0 && value_order(v, e.1) == Ordering::Greater) {
                *e = (t, v);
            }
        }
        best.values().map(|(t, v)| (*t, v.to_bits())).collect()
    }

    proptest! {
        #[test]
        fn matches_a_bucket_model_whatever_the_tie_order(
            mut samples in prop::collection::vec((-50i64..50, prop::sample::select(vec![
                0.0, -0.0, 1.0, 2.0, f64::NAN, STALE, f64::INFINITY, -1.0])), 0..60),
            interval in 0i64..12,
        ) {
            samples.sort_by_key(|s| s.0);
            let want = model(&samples, interval);
            let mut ts: Vec<i64> = samples.iter().map(|s| s.0).collect();
            let mut vs: Vec<f64> = samples.iter().map(|s| s.1).collect();
            dedup(&mut ts, &mut vs, interval);
            let got: Vec<(i64, u64)> = ts.iter().zip(&vs).map(|(t, v)| (*t, v.to_bits())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
