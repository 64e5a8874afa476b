//! Rollups: functions of a range vector, evaluated with a sliding window per series over raw
//! samples (range selectors) or subquery points.

use super::selectors::window_ms;
use super::window_walk::WindowWalk;
use super::{Evaluator, StepSeries, Steps, absent, is_absent};
use crate::ast::{Call, ExprKind, Pos};
use crate::error::QueryError;
use crate::functions::math::format_go_float;
use crate::functions::rollup::{Extrapolation, WindowGeometry};
use crate::functions::{RollupFn, RollupWindow, rollup};
use crate::labels::Labels;
use crate::prefetch::prefetch;
use crate::querier::{SelectHints, Series, is_stale_nan};

/// Where the windows of one rollup come from.
struct Source<'a> {
    series: Vec<Series<'a>>,
    win: Windows,
}

/// Where the window of each step lies.
#[derive(Clone, Copy, Debug)]
struct Windows {
    range_ms: i64,
    offset_ms: i64,
    /// `@` time, fixing every window.
    at: Option<i64>,
}

impl<'a> Evaluator<'a> {
    fn rollup_source(&self, call: &Call, mi: usize, st: Steps) -> Result<Source<'a>, QueryError> {
        let arg = &call.args[mi];
        match &arg.unparen().kind {
            ExprKind::Matrix(m) => {
                let range_ms = window_ms(m.range, st);
                let sel = &m.selector;
                let at = sel.at.map(|a| self.sh.at_ms(a));
                let (first, last) = at.map_or((st.start, st.end()), |t| (t, t));
                let mint = first - sel.offset_ms - range_ms + self.sh.open();
                let maxt = last - sel.offset_ms;
                let hints = SelectHints {
                    start_ms: mint,
                    end_ms: maxt,
                    step_ms: if st.n > 1 { st.step } else { 0 },
                    range_ms,
                    func: Some(call.func.name.to_string()),
                    ..SelectHints::default()
                };
                // Staleness markers are dropped per series just before its rollup, while its
                // samples are in cache, not in a pass of their own over all series.
                let series = self.fetch(sel, mint, maxt, hints)?;
                Ok(Source {
                    series,
                    win: Windows {
                        range_ms,
                        offset_ms: sel.offset_ms,
                        at,
                    },
                })
            }
            ExprKind::Subquery(sq) => {
                let series = self.subquery_raw(sq, st)?;
                Ok(Source {
                    series,
                    win: Windows {
                        range_ms: sq.range_ms,
                        offset_ms: sq.offset_ms,
                        at: sq.at.map(|a| self.sh.at_ms(a)),
                    },
                })
            }
            _ => panic!(
                "invariant broken: parser let a non-range argument reach rollup {}",
                call.func.name
            ),
        }
    }

    pub(super) fn eval_rollup(
        &self,
        call: &Call,
        f: RollupFn,
        pos: Pos,
        st: Steps,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let drop_name = rollup_drops_name(call);
        let mut out = Vec::new();
        self.rollup_each(call, f, st, &mut |labels, values| {
            out.push(StepSeries {
                labels,
                values,
                drop_name,
            });
            Vec::new()
        })?;
        if call.func.name == "absent_over_time" {
            return Ok(absent_over_time(call, &out, st));
        }
        let _ = pos;
        Ok(out)
    }

    /// Evaluates the rollup `call` over every series of its range argument and hands each
    /// result that has a point (labels, one value per step) to `sink`, in series order. The
    /// sink returns a buffer for the next result (empty if it kept the one it got), so a sink
    /// that folds results into something else, as an aggregation does, allocates none.
    /// Adds the rollup's annotations.
    pub(super) fn rollup_each(
        &self,
        call: &Call,
        f: RollupFn,
        st: Steps,
        sink: &mut dyn FnMut(Labels, Vec<f64>) -> Vec<f64>,
    ) -> Result<(), QueryError> {
        let Some(mi) = call.func.matrix_arg() else {
            panic!(
                "invariant broken: rollup {} without a range argument",
                call.func.name
            );
        };
        // Scalar arguments, one value per step.
        let mut params: Vec<Vec<f64>> = Vec::new();
        for (i, a) in call.args.iter().enumerate() {
            if i != mi {
                params.push(self.eval_scalar(a, st)?);
            }
        }
        let Source { series, win } = self.rollup_source(call, mi, st)?;
        self.sh.alloc_series(series.len(), st.n)?;
        let name = call.func.name;
        let work: usize =
            series.iter().map(|s| s.values.len()).sum::<usize>() + series.len() * st.n;
        let closed = self.sh.cfg.left_closed_windows;
        // rate and increase note metric names that do not look like counters. Read the names
        // now, while the labels are in cache from the select, not after the rollups have
        // streamed every sample through it.
        let not_counter: Vec<bool> = if matches!(name, "rate" | "increase") {
            series
                .iter()
                .map(|s| {
                    s.labels.metric_name().is_some_and(|n| {
                        !["_total", "_sum", "_count", "_bucket"]
                            .iter()
                            .any(|suf| n.ends_with(suf))
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        // (is_counter, is_rate) of the functions with a whole-series kernel.
        let kernel = match name {
            "rate" => Some((true, true)),
            "increase" => Some((true, false)),
            "delta" => Some((false, false)),
            _ => None,
        };
        let params = &params[..];
        let one = |s: &Series<'_>, out: &mut Vec<f64>| -> Result<(), QueryError> {
            let stripped;
            let s = if has_stale(&s.values) {
                stripped = without_stale(s);
                &stripped
            } else {
                s
            };
            let (ts, vals) = (&s.timestamps[..], &s.values[..]);
            match kernel {
                Some((is_counter, is_rate)) => {
                    extrapolated_rate_series(ts, vals, win, st, closed, is_counter, is_rate, out);
                    Ok(())
                }
                // Dashboard favourites get a loop of their own with the function inlined; the
                // others go through the table's function pointer. Same function, same results.
                None => match name {
                    "max_over_time" => rollup_series(
                        ts,
                        vals,
                        win,
                        rollup::max_over_time,
                        params,
                        st,
                        closed,
                        out,
                    ),
                    "min_over_time" => rollup_series(
                        ts,
                        vals,
                        win,
                        rollup::min_over_time,
                        params,
                        st,
                        closed,
                        out,
                    ),
                    "avg_over_time" => rollup_series(
                        ts,
                        vals,
                        win,
                        rollup::avg_over_time,
                        params,
                        st,
                        closed,
                        out,
                    ),
                    "sum_over_time" => rollup_series(
                        ts,
                        vals,
                        win,
                        rollup::sum_over_time,
                        params,
                        st,
                        closed,
                        out,
                    ),
                    "last_over_time" => rollup_series(
                        ts,
                        vals,
                        win,
                        rollup::last_over_time,
                        params,
                        st,
                        closed,
                        out,
                    ),
                    "irate" => rollup_series(ts, vals, win, rollup::irate, params, st, closed, out),
                    _ => rollup_series(ts, vals, win, f, params, st, closed, out),
                },
            }
        };
        let mut any = false;
        let mut emit = |i: usize, labels: Labels, values: Vec<f64>| -> Vec<f64> {
            if values.iter().all(|v| is_absent(*v)) {
                return values;
            }
            any = true;
            if not_counter.get(i) == Some(&true)
                && let Some(n) = labels.metric_name()
            {
                self.sh.info(format!("PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}{}", self.sh.pos(call.args[mi].pos)));
            }
            sink(labels, values)
        };
        if self.sh.parallel(series.len(), work) {
            let results = self.sh.par_map_series(&series, work, |s| {
                let mut values = Vec::with_capacity(st.n);
                one(s, &mut values)?;
                Ok(values)
            })?;
            for (i, (values, s)) in results.into_iter().zip(series).enumerate() {
                emit(i, s.labels, values);
            }
        } else {
            let mut buf = Vec::with_capacity(st.n);
            let mut it = series.into_iter().enumerate().peekable();
            while let Some((i, s)) = it.next() {
                if let Some((_, next)) = it.peek() {
                    prefetch(&next.timestamps);
                    prefetch(&next.values);
                    // A folding sink reads the labels right after the rollup.
                    prefetch(next.labels.encoded().as_bytes());
                }
                buf.clear();
                one(&s, &mut buf)?;
                buf = emit(i, s.labels, buf);
                if buf.capacity() == 0 {
                    buf = Vec::with_capacity(st.n);
                }
            }
        }
        if name == "quantile_over_time"
            && any
            && let Some(q) = params
                .first()
                .and_then(|p| p.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0))
        {
            self.sh.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}{}",
                format_go_float(*q),
                self.sh.pos(call.args[0].pos)
            ));
        }
        Ok(())
    }
}

/// Whether a rollup's results drop the metric name (at the end of the query).
pub(super) fn rollup_drops_name(call: &Call) -> bool {
    !(call.func.keeps_metric_name() || call.keep_metric_names)
}

/// Whether `vals` holds a staleness marker. Whole chunks without an early exit, so the check
/// compiles to vector compares.
fn has_stale(vals: &[f64]) -> bool {
    let chunks = vals.chunks_exact(16);
    chunks.remainder().iter().any(|v| is_stale_nan(*v))
        || chunks
            .clone()
            .any(|c| c.iter().fold(false, |acc, v| acc | is_stale_nan(*v)))
}

/// A copy of `s` without its staleness markers (range selectors skip them).
fn without_stale(s: &Series<'_>) -> Series<'static> {
    let (mut ts, mut vals) = (
        Vec::with_capacity(s.values.len()),
        Vec::with_capacity(s.values.len()),
    );
    for (&t, &v) in s.timestamps.iter().zip(s.values.iter()) {
        if !is_stale_nan(v) {
            ts.push(t);
            vals.push(v);
        }
    }
    Series::owned(s.labels.clone(), ts, vals)
}

/// Whether some value is lower than the one before it. Compares 16 pairs at a time without an
/// early exit inside, so the compares vectorize.
fn has_decrease(vals: &[f64]) -> bool {
    let (Some(prev), Some(cur)) = (vals.get(..vals.len().saturating_sub(1)), vals.get(1..)) else {
        return false;
    };
    let (pc, cc) = (prev.chunks_exact(16), cur.chunks_exact(16));
    let tail = pc
        .remainder()
        .iter()
        .zip(cc.remainder())
        .any(|(p, c)| c < p);
    tail || pc
        .zip(cc)
        .any(|(p, c)| p.iter().zip(c).fold(false, |acc, (p, c)| acc | (c < p)))
}

/// One series (samples `ts`, `vals`) through the rollup at every step, appended to `values`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site per inlined rollup; a struct would only rename the arguments"
)]
fn rollup_series(
    ts: &[i64],
    vals: &[f64],
    win: Windows,
    f: impl Fn(&RollupWindow<'_>, &mut Vec<f64>) -> Result<Option<f64>, String>,
    params: &[Vec<f64>],
    st: Steps,
    closed: bool,
    values: &mut Vec<f64>,
) -> Result<(), QueryError> {
    let mut scratch = Vec::new();
    let mut step_params = vec![0.0; params.len()];
    let mut walk = WindowWalk::new(ts, closed);
    for i in 0..st.n {
        let eval_ts = st.ts(i);
        let end = win.at.unwrap_or(eval_ts) - win.offset_ms;
        let start = end - win.range_ms;
        let (lo, hi) = walk.advance(start, end);
        if lo >= hi {
            values.push(absent());
            continue;
        }
        for (p, v) in step_params.iter_mut().zip(params) {
            *p = v[i];
        }
        let w = RollupWindow {
            ts: &ts[lo..hi],
            vals: &vals[lo..hi],
            range_start: start,
            range_end: end,
            range_ms: win.range_ms,
            eval_ts,
            params: &step_params,
        };
        match f(&w, &mut scratch) {
            Ok(Some(v)) => values.push(v),
            Ok(None) => values.push(absent()),
            Err(msg) => return Err(QueryError::exec(msg)),
        }
    }
    Ok(())
}

/// `rate`, `increase` (`is_counter`) and `delta` of one series at every step, bit for bit what
/// the window functions give, without re-scanning each window for counter resets: the
/// decreases of the whole series are found once, so a window without one costs O(1) and a
/// window with some adds the value before each, in order, as the window function does.
#[expect(
    clippy::too_many_arguments,
    reason = "the same arguments as rollup_series, plus the two kernel flags"
)]
fn extrapolated_rate_series(
    ts: &[i64],
    vals: &[f64],
    win: Windows,
    st: Steps,
    closed: bool,
    is_counter: bool,
    is_rate: bool,
    values: &mut Vec<f64>,
) {
    // Indices j with vals[j] < vals[j - 1]; usually none, found by a check that compiles to
    // vector compares, and then nothing is allocated.
    let resets: Vec<usize> = if is_counter && has_decrease(vals) {
        (1..vals.len()).filter(|&j| vals[j] < vals[j - 1]).collect()
    } else {
        Vec::new()
    };
    // resets[r0..r1] are the decreases inside the current window: lo < j < hi.
    let (mut r0, mut r1) = (0usize, 0usize);
    let mut last: Option<(WindowGeometry, Extrapolation)> = None;
    let mut walk = WindowWalk::new(ts, closed);
    for i in 0..st.n {
        let eval_ts = st.ts(i);
        let end = win.at.unwrap_or(eval_ts) - win.offset_ms;
        let start = end - win.range_ms;
        let (lo, hi) = walk.advance(start, end);
        if hi - lo < 2 {
            values.push(absent());
            continue;
        }
        while r0 < resets.len() && resets[r0] <= lo {
            r0 += 1;
        }
        r1 = r1.max(r0);
        while r1 < resets.len() && resets[r1] < hi {
            r1 += 1;
        }
        let mut result = vals[hi - 1] - vals[lo];
        for &j in &resets[r0..r1] {
            result += vals[j - 1];
        }
        let w = RollupWindow {
            ts: &ts[lo..hi],
            vals: &vals[lo..hi],
            range_start: start,
            range_end: end,
            range_ms: win.range_ms,
            eval_ts,
            params: &[],
        };
        // On a regular scrape grid consecutive windows have the same geometry: share its
        // float work (the same computation on the same integers, so the same bits).
        let g = WindowGeometry::of(&w);
        let e = match last {
            Some((lg, e)) if lg == g => e,
            _ => {
                let e = Extrapolation::new(g, is_rate);
                last = Some((g, e));
                e
            }
        };
        values.push(e.apply(vals[lo], result, is_counter, is_rate));
    }
}

/// `absent_over_time`: 1 at the steps where no series had a sample in its window.
fn absent_over_time(call: &Call, present: &[StepSeries], st: Steps) -> Vec<StepSeries> {
    let mut values = vec![1.0; st.n];
    for s in present {
        for (o, v) in values.iter_mut().zip(&s.values) {
            if !is_absent(*v) {
                *o = absent();
            }
        }
    }
    if values.iter().all(|v| is_absent(*v)) {
        return Vec::new();
    }
    let labels = match &call.args[0].unparen().kind {
        ExprKind::Matrix(m) => super::calls::absent_labels(&m.selector.matchers),
        _ => Labels::empty(),
    };
    vec![StepSeries {
        labels,
        values,
        drop_name: true,
    }]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::querier::stale_nan;

    /// One raw sample: a time gap and what the value does.
    #[derive(Clone, Debug)]
    enum Move {
        Grow(f64),
        Reset(f64),
        Nan,
        Stale,
        Same,
    }

    fn moves() -> impl Strategy<Value = Vec<(i64, Move)>> {
        let mv = prop_oneof![
            8 => (0.0f64..1000.0).prop_map(Move::Grow),
            2 => (-50.0f64..50.0).prop_map(Move::Reset),
            1 => Just(Move::Nan),
            1 => Just(Move::Stale),
            1 => Just(Move::Same),
        ];
        // Gaps from 1 ms to 90 s: irregular scrapes, bursts and holes.
        prop::collection::vec(
            (prop_oneof![1i64..100, 10_000i64..20_000, 1i64..90_000], mv),
            0..80,
        )
    }

    fn series(start: i64, moves: &[(i64, Move)]) -> Series<'static> {
        let (mut ts, mut vals) = (Vec::new(), Vec::new());
        let (mut t, mut v) = (start, 0.0f64);
        for (gap, m) in moves {
            t += gap;
            let x = match m {
                Move::Grow(d) => {
                    v += d;
                    v
                }
                Move::Reset(x) => {
                    v = *x;
                    v
                }
                Move::Nan => f64::NAN,
                Move::Stale => stale_nan(),
                Move::Same => v,
            };
            ts.push(t);
            vals.push(x);
        }
        without_stale(&Series::owned(Labels::empty(), ts, vals))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// The whole-series kernel of rate, increase and delta gives, bit for bit, what the
        /// window functions give on every window (resets, NaN, stale markers, irregular
        /// timestamps, offsets, `@`, both window conventions).
        #[test]
        fn rate_kernel_matches_window_functions(
            first in -30_000i64..30_000,
            moves in moves(),
            start in -60_000i64..600_000,
            step in 1i64..120_000,
            n in 1usize..50,
            range_ms in 1i64..600_000,
            offset_ms in -60_000i64..60_000,
            at in prop::option::weighted(0.1, 0i64..900_000),
            closed in any::<bool>(),
        ) {
            let s = series(first, &moves);
            let win = Windows { range_ms, offset_ms, at };
            let (ts, vals) = (&s.timestamps[..], &s.values[..]);
            let st = Steps { start, step, n, implicit_window: step };
            let cases: [(RollupFn, bool, bool); 3] = [
                (rollup::rate, true, true),
                (rollup::increase, true, false),
                (rollup::delta, false, false),
            ];
            for (f, is_counter, is_rate) in cases {
                let mut want = Vec::new();
                rollup_series(ts, vals, win, f, &[], st, closed, &mut want).expect("no error");
                let mut got = Vec::new();
                extrapolated_rate_series(ts, vals, win, st, closed, is_counter, is_rate, &mut got);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&got), bits(&want), "counter {} rate {}", is_counter, is_rate);
            }
        }
    }
}
