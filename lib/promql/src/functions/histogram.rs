//! Classic histograms: quantiles and fractions over `le` buckets.

use super::math::almost_equal;

/// One cumulative bucket: observations with value <= `upper_bound`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// The `le` bound.
    pub upper_bound: f64,
    /// Cumulative count.
    pub count: f64,
}

/// Relative tolerance below which neighbouring bucket counts are treated as equal.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// Outcome of [`bucket_quantile`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantileResult {
    /// The estimated quantile.
    pub value: f64,
    /// Whether decreasing cumulative counts had to be raised (Prometheus reports an info).
    pub forced_monotonic: bool,
}

fn sort_and_coalesce(buckets: &mut Vec<Bucket>) {
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => out.push(*b),
        }
    }
    *buckets = out;
}

/// Silently flattens differences that are floating point noise, then removes decreases.
/// Returns whether a real decrease was removed.
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let Some(first) = buckets.first() else {
        return false;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

/// Prometheus's `BucketQuantile`: linear interpolation inside the bucket holding rank `q`,
/// assuming a lower bound of 0 for the first bucket when its upper bound is positive.
/// NaN without a `+Inf` bucket, with fewer than two buckets or no observations.
pub fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> QuantileResult {
    let nan = QuantileResult {
        value: f64::NAN,
        forced_monotonic: false,
    };
    if q.is_nan() {
        return nan;
    }
    if q < 0.0 {
        return QuantileResult {
            value: f64::NEG_INFINITY,
            forced_monotonic: false,
        };
    }
    if q > 1.0 {
        return QuantileResult {
            value: f64::INFINITY,
            forced_monotonic: false,
        };
    }
    sort_and_coalesce(&mut buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return nan,
    }
    let forced = ensure_monotonic(&mut buckets);
    if buckets.len() < 2 {
        return nan;
    }
    let n = buckets.len();
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return nan;
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1].partition_point(|b| b.count < rank);
    let value = if b == n - 1 {
        buckets[n - 2].upper_bound
    } else if b == 0 && buckets[0].upper_bound <= 0.0 {
        buckets[0].upper_bound
    } else {
        let end = buckets[b].upper_bound;
        let mut count = buckets[b].count;
        let mut start = 0.0;
        if b > 0 {
            start = buckets[b - 1].upper_bound;
            count -= buckets[b - 1].count;
            rank -= buckets[b - 1].count;
        }
        start + (end - start) * (rank / count)
    };
    QuantileResult {
        value,
        forced_monotonic: forced,
    }
}

/// Fraction of observations between `lower` and `upper` (linear interpolation inside
/// buckets, lower bound 0 for a first bucket with a positive bound).
pub fn bucket_fraction(lower: f64, upper: f64, mut buckets: Vec<Bucket>) -> f64 {
    sort_and_coalesce(&mut buckets);
    match buckets.last() {
        Some(b) if b.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    ensure_monotonic(&mut buckets);
    let total = buckets[buckets.len() - 1].count;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    // Cumulative count at value x, interpolating linearly inside the bucket.
    let rank_at = |x: f64| -> f64 {
        let mut prev_bound = f64::NEG_INFINITY;
        let mut prev_count = 0.0;
        for (i, b) in buckets.iter().enumerate() {
            if x <= b.upper_bound {
                let lo = if i == 0 && b.upper_bound > 0.0 {
                    0.0
                } else {
                    prev_bound
                };
                if x <= lo {
                    return prev_count;
                }
                if lo.is_infinite() || b.upper_bound.is_infinite() {
                    return if x >= b.upper_bound {
                        b.count
                    } else {
                        prev_count
                    };
                }
                return prev_count + (b.count - prev_count) * (x - lo) / (b.upper_bound - lo);
            }
            prev_bound = b.upper_bound;
            prev_count = b.count;
        }
        total
    };
    (rank_at(upper) - rank_at(lower)) / total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect()
    }

    #[test]
    fn quantiles() {
        let h = b(&[(0.1, 1.0), (0.2, 3.0), (f64::INFINITY, 4.0)]);
        assert!((bucket_quantile(0.5, h.clone()).value - 0.15).abs() < 1e-12);
        assert_eq!(bucket_quantile(1.0, h.clone()).value, 0.2);
        assert_eq!(bucket_quantile(0.0, h.clone()).value, 0.0);
        assert!(bucket_quantile(0.5, b(&[(1.0, 1.0)])).value.is_nan());
        assert_eq!(bucket_quantile(2.0, h).value, f64::INFINITY);
    }

    #[test]
    fn monotonicity_is_forced() {
        let r = bucket_quantile(0.5, b(&[(1.0, 5.0), (2.0, 3.0), (f64::INFINITY, 10.0)]));
        assert!(r.forced_monotonic);
        assert_eq!(r.value, 1.0);
        let noise = bucket_quantile(
            0.5,
            b(&[(1.0, 5.0), (2.0, 5.0 - 1e-15), (f64::INFINITY, 10.0)]),
        );
        assert!(!noise.forced_monotonic);
    }

    #[test]
    fn fractions() {
        let h = b(&[(1.0, 2.0), (2.0, 4.0), (f64::INFINITY, 4.0)]);
        assert_eq!(bucket_fraction(f64::NEG_INFINITY, 1.0, h.clone()), 0.5);
        assert_eq!(bucket_fraction(0.5, 1.5, h.clone()), 0.5);
        assert_eq!(bucket_fraction(2.0, 1.0, h), 0.0);
    }
}
