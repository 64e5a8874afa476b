//! Functions of a range vector: one pure function per PromQL (or MetricsQL) rollup, each
//! computing a value from one window of raw samples.

use super::RollupWindow as W;
use super::math::{kahan_inc, quantile};

type Out = Result<Option<f64>, String>;

/// `rate`, `increase`, `delta`: Prometheus's extrapolated rate.
fn extrapolated_rate(w: &W<'_>, is_counter: bool, is_rate: bool) -> Out {
    let n = w.vals.len();
    if n < 2 {
        return Ok(None);
    }
    let mut result = w.vals[n - 1] - w.vals[0];
    if is_counter {
        let mut prev = w.vals[0];
        for &v in &w.vals[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    Ok(Some(extrapolate(w, result, is_counter, is_rate)))
}

/// The second half of Prometheus's extrapolated rate: `result` is the window's raw change (last
/// minus first value, plus for counters the value before each decrease, added in order), which
/// is extrapolated to the window's boundaries (and divided by its length for a rate). The window
/// holds at least two samples.
#[inline]
pub fn extrapolate(w: &W<'_>, result: f64, is_counter: bool, is_rate: bool) -> f64 {
    Extrapolation::new(WindowGeometry::of(w), is_rate).apply(w.vals[0], result, is_counter, is_rate)
}

/// Where a window's samples sit in it (whole milliseconds, and how many): all Prometheus's
/// extrapolation needs besides the first value and the change. On a regular scrape grid many
/// windows share it, so their float work can be shared too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowGeometry {
    to_start_ms: i64,
    to_end_ms: i64,
    sampled_ms: i64,
    n: usize,
    range_ms: i64,
}

impl WindowGeometry {
    /// The geometry of `w` (at least two samples).
    #[inline]
    pub fn of(w: &W<'_>) -> Self {
        let (first_t, last_t) = (w.ts[0], w.ts[w.ts.len() - 1]);
        WindowGeometry {
            to_start_ms: first_t - w.range_start,
            to_end_ms: w.range_end - last_t,
            sampled_ms: last_t - first_t,
            n: w.ts.len(),
            range_ms: w.range_ms,
        }
    }
}

/// Prometheus's extrapolation for one window geometry, with the factor for the case where the
/// counter zero cut does not apply computed once.
#[derive(Clone, Copy, Debug)]
pub struct Extrapolation {
    to_start: f64,
    to_end: f64,
    sampled: f64,
    range_s: f64,
    factor: f64,
}

impl Extrapolation {
    /// The extrapolation of windows with geometry `g`.
    #[inline]
    pub fn new(g: WindowGeometry, is_rate: bool) -> Self {
        let mut to_start = g.to_start_ms as f64 / 1000.0;
        let mut to_end = g.to_end_ms as f64 / 1000.0;
        let sampled = g.sampled_ms as f64 / 1000.0;
        let avg = sampled / (g.n - 1) as f64;
        let threshold = avg * 1.1;
        if to_start >= threshold {
            to_start = avg / 2.0;
        }
        if to_end >= threshold {
            to_end = avg / 2.0;
        }
        let range_s = g.range_ms as f64 / 1000.0;
        let mut factor = (sampled + to_start + to_end) / sampled;
        if is_rate {
            factor /= range_s;
        }
        Extrapolation {
            to_start,
            to_end,
            sampled,
            range_s,
            factor,
        }
    }

    /// The extrapolated `result` of a window whose first value is `first`.
    #[inline]
    pub fn apply(&self, first: f64, result: f64, is_counter: bool, is_rate: bool) -> f64 {
        // Counters cannot go negative: do not extrapolate below zero.
        if is_counter && result > 0.0 && first >= 0.0 {
            let to_zero = self.sampled * (first / result);
            if to_zero < self.to_start {
                let mut factor = (self.sampled + to_zero + self.to_end) / self.sampled;
                if is_rate {
                    factor /= self.range_s;
                }
                return result * factor;
            }
        }
        result * self.factor
    }
}

/// The original single-function form of [`extrapolate`], kept as the reference its split
/// into [`WindowGeometry`] and [`Extrapolation`] is tested against.
#[cfg(test)]
fn extrapolate_reference(w: &W<'_>, result: f64, is_counter: bool, is_rate: bool) -> f64 {
    let n = w.vals.len();
    let first = w.vals[0];
    let (first_t, last_t) = (w.ts[0], w.ts[n - 1]);
    let mut to_start = (first_t - w.range_start) as f64 / 1000.0;
    let mut to_end = (w.range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg = sampled / (n - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && first >= 0.0 {
            to_zero = sampled * (first / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    result * factor
}

/// `rate(v[d])`
pub fn rate(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    extrapolated_rate(w, true, true)
}

/// `increase(v[d])`
pub fn increase(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    extrapolated_rate(w, true, false)
}

/// `delta(v[d])`
pub fn delta(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    extrapolated_rate(w, false, false)
}

fn instant_value(w: &W<'_>, is_rate: bool) -> Out {
    let n = w.vals.len();
    if n < 2 {
        return Ok(None);
    }
    let (t0, t1) = (w.ts[n - 2], w.ts[n - 1]);
    let (v0, v1) = (w.vals[n - 2], w.vals[n - 1]);
    let interval = t1 - t0;
    if interval == 0 {
        return Ok(None);
    }
    let mut result = v1;
    if !is_rate || v1 >= v0 || v1.is_nan() || v0.is_nan() {
        result = v1 - v0;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Ok(Some(result))
}

/// `irate(v[d])`
pub fn irate(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    instant_value(w, true)
}

/// `idelta(v[d])`
pub fn idelta(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    instant_value(w, false)
}

/// `avg_over_time`: Kahan-compensated mean, switching to an incremental mean on overflow.
pub fn avg_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    let mut sum = w.vals[0];
    let (mut count, mut mean, mut c) = (1.0f64, 0.0f64, 0.0f64);
    let mut incremental = false;
    for (i, &f) in w.vals.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(f, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(f / count, q * mean, q * c);
    }
    Ok(Some(if incremental {
        mean + c
    } else {
        sum / count + c / count
    }))
}

/// `sum_over_time`
pub fn sum_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    let (mut sum, mut c) = (0.0, 0.0);
    for &f in w.vals {
        (sum, c) = kahan_inc(f, sum, c);
    }
    Ok(Some(if sum.is_infinite() { sum } else { sum + c }))
}

/// `count_over_time`
pub fn count_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(w.vals.len() as f64))
}

/// `present_over_time` (and the per-window part of `absent_over_time`).
pub fn present_over_time(_: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(1.0))
}

/// `last_over_time`
pub fn last_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(w.vals.last().copied())
}

/// `first_over_time`
pub fn first_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(w.vals.first().copied())
}

fn compare_over_time(w: &W<'_>, better: fn(f64, f64) -> bool, timestamp: bool) -> Out {
    let (mut best, mut best_t) = (w.vals[0], w.ts[0]);
    for (&v, &t) in w.vals.iter().zip(w.ts) {
        if better(v, best) {
            best = v;
            best_t = t;
        }
    }
    Ok(Some(if timestamp {
        best_t as f64 / 1000.0
    } else {
        best
    }))
}

/// Prometheus's `max_over_time`/`min_over_time` loop, `best = cur if better(cur, best) or best
/// is NaN`, split in two: while `best` is NaN every value replaces it (so with no number at all
/// the result is the last NaN); from the first number on, NaN never wins and the loop is a
/// plain select (one `maxsd`/`minsd` per sample).
#[inline]
fn extreme_over_time(vals: &[f64], better: impl Fn(f64, f64) -> bool) -> f64 {
    let Some(k) = vals.iter().position(|v| !v.is_nan()) else {
        return vals.last().copied().unwrap_or(f64::NAN);
    };
    vals[k + 1..].iter().fold(
        vals[k],
        |best, &cur| if better(cur, best) { cur } else { best },
    )
}

/// `max_over_time`: the largest value, NaN only if all are.
pub fn max_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(extreme_over_time(w.vals, |cur, best| cur > best)))
}

/// `min_over_time`: the smallest value, NaN only if all are.
pub fn min_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(extreme_over_time(w.vals, |cur, best| cur < best)))
}

/// `ts_of_max_over_time` (MetricsQL `tmax_over_time`): time of the last maximum.
pub fn ts_of_max_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    compare_over_time(w, |cur, best| cur >= best || best.is_nan(), true)
}

/// `ts_of_min_over_time` (MetricsQL `tmin_over_time`): time of the last minimum.
pub fn ts_of_min_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    compare_over_time(w, |cur, best| cur <= best || best.is_nan(), true)
}

/// `ts_of_first_over_time`
pub fn ts_of_first_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(w.ts.first().map(|&t| t as f64 / 1000.0))
}

/// `ts_of_last_over_time`
pub fn ts_of_last_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(w.ts.last().map(|&t| t as f64 / 1000.0))
}

/// `quantile_over_time(φ, v[d])`
pub fn quantile_over_time(w: &W<'_>, scratch: &mut Vec<f64>) -> Out {
    let q = w.params.first().copied().unwrap_or(f64::NAN);
    scratch.clear();
    scratch.extend_from_slice(w.vals);
    Ok(Some(quantile(q, scratch)))
}

/// MetricsQL `median_over_time`.
pub fn median_over_time(w: &W<'_>, scratch: &mut Vec<f64>) -> Out {
    scratch.clear();
    scratch.extend_from_slice(w.vals);
    Ok(Some(quantile(0.5, scratch)))
}

/// `mad_over_time`: median absolute deviation.
pub fn mad_over_time(w: &W<'_>, scratch: &mut Vec<f64>) -> Out {
    scratch.clear();
    scratch.extend_from_slice(w.vals);
    let median = quantile(0.5, scratch);
    scratch.clear();
    scratch.extend(w.vals.iter().map(|v| (v - median).abs()));
    Ok(Some(quantile(0.5, scratch)))
}

fn variance(w: &W<'_>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &f in w.vals {
        count += 1.0;
        let delta = f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (f - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `stddev_over_time`
pub fn stddev_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(variance(w).sqrt()))
}

/// `stdvar_over_time`
pub fn stdvar_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(variance(w)))
}

/// `changes`: number of value changes (NaN to NaN is no change).
pub fn changes(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    let mut n = 0;
    for p in w.vals.windows(2) {
        if p[1] != p[0] && !(p[1].is_nan() && p[0].is_nan()) {
            n += 1;
        }
    }
    Ok(Some(n as f64))
}

/// `resets`: number of decreases.
pub fn resets(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(
        w.vals.windows(2).filter(|p| p[1] < p[0]).count() as f64
    ))
}

/// Least-squares regression of the window: (slope, intercept at `intercept_t`).
fn linear_regression(w: &W<'_>, intercept_t: i64) -> (f64, f64) {
    let init_y = w.vals[0];
    let mut const_y = true;
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, (&t, &v)) in w.ts.iter().zip(w.vals).enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `deriv`: per-second slope of the regression line.
pub fn deriv(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    if w.vals.len() < 2 {
        return Ok(None);
    }
    Ok(Some(linear_regression(w, w.ts[0]).0))
}

/// `predict_linear(v[d], t)`: the regression line `t` seconds after the evaluation time.
pub fn predict_linear(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    if w.vals.len() < 2 {
        return Ok(None);
    }
    let duration = w.params.first().copied().unwrap_or(f64::NAN);
    let (slope, intercept) = linear_regression(w, w.eval_ts);
    Ok(Some(slope * duration + intercept))
}

/// `double_exponential_smoothing(v[d], sf, tf)` (formerly `holt_winters`).
pub fn double_exponential_smoothing(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    let (sf, tf) = (
        w.params.first().copied().unwrap_or(f64::NAN),
        w.params.get(1).copied().unwrap_or(f64::NAN),
    );
    if !(sf > 0.0 && sf < 1.0) {
        return Err(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        ));
    }
    if !(tf > 0.0 && tf < 1.0) {
        return Err(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        ));
    }
    let v = w.vals;
    if v.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1, mut b) = (0.0, v[0], v[1] - v[0]);
    for (i, &x) in v.iter().enumerate().skip(1) {
        let scaled = sf * x;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = scaled + y;
    }
    Ok(Some(s1))
}

/// MetricsQL `range_over_time`: max minus min.
pub fn range_over_time(w: &W<'_>, s: &mut Vec<f64>) -> Out {
    let hi = max_over_time(w, s)?.unwrap_or(f64::NAN);
    let lo = min_over_time(w, s)?.unwrap_or(f64::NAN);
    Ok(Some(hi - lo))
}

/// MetricsQL `distinct_over_time`: number of distinct values.
pub fn distinct_over_time(w: &W<'_>, scratch: &mut Vec<f64>) -> Out {
    scratch.clear();
    scratch.extend_from_slice(w.vals);
    scratch.sort_by(super::math::nan_first);
    let mut n = 0usize;
    for (i, v) in scratch.iter().enumerate() {
        if i == 0 || (v.to_bits() != scratch[i - 1].to_bits() && *v != scratch[i - 1]) {
            n += 1;
        }
    }
    Ok(Some(n as f64))
}

fn count_matching(w: &W<'_>, pred: impl Fn(f64, f64) -> bool) -> usize {
    let x = w.params.first().copied().unwrap_or(f64::NAN);
    w.vals.iter().filter(|&&v| pred(v, x)).count()
}

/// MetricsQL `share_gt_over_time(v[d], x)`: fraction of samples greater than `x`.
pub fn share_gt_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(
        count_matching(w, |v, x| v > x) as f64 / w.vals.len() as f64,
    ))
}

/// MetricsQL `share_le_over_time(v[d], x)`: fraction of samples not greater than `x`.
pub fn share_le_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(
        count_matching(w, |v, x| v <= x) as f64 / w.vals.len() as f64,
    ))
}

/// MetricsQL `count_gt_over_time(v[d], x)`.
pub fn count_gt_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(count_matching(w, |v, x| v > x) as f64))
}

/// MetricsQL `count_le_over_time(v[d], x)`.
pub fn count_le_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(count_matching(w, |v, x| v <= x) as f64))
}

/// MetricsQL `count_eq_over_time(v[d], x)`.
pub fn count_eq_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(count_matching(w, |v, x| v == x) as f64))
}

/// MetricsQL `count_ne_over_time(v[d], x)`.
pub fn count_ne_over_time(w: &W<'_>, _: &mut Vec<f64>) -> Out {
    Ok(Some(count_matching(w, |v, x| v != x) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::RollupFn;

    /// Window of samples every 15 s ending at `end` (inclusive), range `range_ms`.
    #[track_caller]
    fn check(f: RollupFn, vals: &[f64], params: &[f64], range_ms: i64, want: Option<f64>) {
        let ts: Vec<i64> = (0..vals.len() as i64).map(|i| 15_000 * (i + 1)).collect();
        let end = *ts.last().unwrap_or(&0);
        let w = W {
            ts: &ts,
            vals,
            range_start: end - range_ms,
            range_end: end,
            range_ms,
            eval_ts: end,
            params,
        };
        let got = f(&w, &mut Vec::new()).unwrap();
        match (got, want) {
            (Some(g), Some(w)) => assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1.0) || (g.is_nan() && w.is_nan()),
                "got {g}, want {w}"
            ),
            (g, w) => assert_eq!(g, w),
        }
    }

    #[test]
    fn rollups() {
        // Samples 15 s apart; a 60 s window starting at the first sample needs no extrapolation.
        check(rate, &[0.0, 15.0, 30.0, 45.0, 60.0], &[], 60_000, Some(1.0));
        check(increase, &[10.0, 20.0, 5.0], &[], 30_000, Some(15.0));
        check(delta, &[1.0], &[], 60_000, None);
        check(irate, &[1.0, 4.0], &[], 60_000, Some(0.2));
        check(irate, &[5.0, 2.0], &[], 60_000, Some(2.0 / 15.0));
        check(idelta, &[5.0, 2.0], &[], 60_000, Some(-3.0));
        check(avg_over_time, &[1.0, 2.0, 3.0], &[], 60_000, Some(2.0));
        check(sum_over_time, &[1.0, 2.0, 3.0], &[], 60_000, Some(6.0));
        check(count_over_time, &[1.0, 2.0], &[], 60_000, Some(2.0));
        check(min_over_time, &[3.0, f64::NAN, 1.0], &[], 60_000, Some(1.0));
        check(max_over_time, &[f64::NAN, 2.0], &[], 60_000, Some(2.0));
        check(
            quantile_over_time,
            &[1.0, 2.0, 3.0, 4.0],
            &[0.5],
            60_000,
            Some(2.5),
        );
        check(stdvar_over_time, &[1.0, 3.0], &[], 60_000, Some(1.0));
        check(
            changes,
            &[1.0, 1.0, 2.0, f64::NAN, f64::NAN],
            &[],
            60_000,
            Some(2.0),
        );
        check(resets, &[3.0, 1.0, 2.0, 0.0], &[], 60_000, Some(2.0));
        check(deriv, &[0.0, 15.0, 30.0], &[], 60_000, Some(1.0));
        check(
            predict_linear,
            &[0.0, 15.0, 30.0],
            &[10.0],
            60_000,
            Some(40.0),
        );
        check(median_over_time, &[5.0, 1.0, 3.0], &[], 60_000, Some(3.0));
        check(range_over_time, &[5.0, 1.0, 3.0], &[], 60_000, Some(4.0));
        check(distinct_over_time, &[1.0, 1.0, 2.0], &[], 60_000, Some(2.0));
        check(
            share_gt_over_time,
            &[1.0, 2.0, 3.0, 4.0],
            &[2.0],
            60_000,
            Some(0.5),
        );
        check(
            count_le_over_time,
            &[1.0, 2.0, 3.0],
            &[2.0],
            60_000,
            Some(2.0),
        );
        check(
            ts_of_max_over_time,
            &[1.0, 3.0, 3.0],
            &[],
            60_000,
            Some(45.0),
        );
        check(
            mad_over_time,
            &[1.0, 2.0, 3.0, 4.0, 100.0],
            &[],
            60_000,
            Some(1.0),
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, ..Default::default() })]

        /// The split extrapolation gives, bit for bit, Prometheus's single function.
        #[test]
        fn extrapolation_matches_reference(
            gaps in proptest::collection::vec(1i64..40_000, 1..30),
            lead in 0i64..40_000,
            tail in 0i64..40_000,
            // Small first values against large changes make the counter zero cut apply.
            first in proptest::prop_oneof![-10.0f64..10.0, 0.0f64..1e6, 0.0f64..1.0, proptest::prelude::Just(0.0)],
            result in proptest::prop_oneof![-100.0f64..100.0, 0.0f64..1e4, 1e3f64..1e6, proptest::prelude::Just(0.0)],
        ) {
            let mut ts = vec![lead];
            for g in gaps {
                ts.push(ts[ts.len() - 1] + g);
            }
            let vals: Vec<f64> = ts.iter().map(|_| first).collect();
            let end = ts[ts.len() - 1] + tail;
            let w = W { ts: &ts, vals: &vals, range_start: 0, range_end: end, range_ms: end, eval_ts: end, params: &[] };
            for (c, r) in [(true, true), (true, false), (false, false)] {
                proptest::prop_assert_eq!(
                    extrapolate(&w, result, c, r).to_bits(),
                    extrapolate_reference(&w, result, c, r).to_bits()
                );
            }
        }

        /// `max_over_time`/`min_over_time` give, bit for bit, Prometheus's loop (NaN payloads,
        /// signed zeros, infinities, all-NaN windows).
        #[test]
        fn extremes_match_prometheus_loop(vals in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::prelude::Just(f64::NAN),
                proptest::prelude::Just(f64::from_bits(0x7ff8_0000_0000_0001)),
                proptest::prelude::Just(0.0),
                proptest::prelude::Just(-0.0),
                proptest::prelude::Just(f64::INFINITY),
                proptest::prelude::Just(f64::NEG_INFINITY),
                -3.0f64..3.0,
            ],
            1..30,
        )) {
            let ts: Vec<i64> = (0..vals.len() as i64).collect();
            let w = W { ts: &ts, vals: &vals, range_start: -1, range_end: 100, range_ms: 101, eval_ts: 100, params: &[] };
            let reference = |better: fn(f64, f64) -> bool| {
                compare_over_time(&w, better, false).unwrap().unwrap().to_bits()
            };
            let max = max_over_time(&w, &mut Vec::new()).unwrap().unwrap().to_bits();
            let min = min_over_time(&w, &mut Vec::new()).unwrap().unwrap().to_bits();
            proptest::prop_assert_eq!(max, reference(|cur, best| cur > best || best.is_nan()));
            proptest::prop_assert_eq!(min, reference(|cur, best| cur < best || best.is_nan()));
        }
    }

    #[test]
    fn smoothing_rejects_bad_factors() {
        let w = W {
            ts: &[1, 2],
            vals: &[1.0, 2.0],
            range_start: 0,
            range_end: 2,
            range_ms: 2,
            eval_ts: 2,
            params: &[1.5, 0.5],
        };
        assert!(double_exponential_smoothing(&w, &mut Vec::new()).is_err());
    }
}
