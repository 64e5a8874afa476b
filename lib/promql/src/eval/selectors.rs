//! Selectors: fetching raw series within the limits, instant-vector lookback with staleness,
//! and raw windows for range selectors and subqueries.

use super::window_walk::skip_while_le;
use super::{Evaluator, StepSeries, Steps, absent, is_absent};
use crate::ast::{MatrixSelector, Subquery, VectorSelector, Window};
use crate::error::QueryError;
use crate::querier::{SelectHints, Series, is_stale_nan};

impl<'a> Evaluator<'a> {
    /// Fetches the series of `sel` with samples in `[mint, maxt]`, counting them against the
    /// series, sample and memory limits as they arrive.
    pub(super) fn fetch(
        &self,
        sel: &VectorSelector,
        mint: i64,
        maxt: i64,
        hints: SelectHints,
    ) -> Result<Vec<Series<'a>>, QueryError> {
        let sh = self.sh;
        let mut out = Vec::new();
        let mut n = 0u32;
        sh.querier
            .select(&sel.matchers, mint, maxt, &hints, &mut |s: Series<'a>| {
                sh.add_series(1)?;
                sh.add_samples(s.values.len() as u64)?;
                sh.add_memory((s.values.len() * 16 + s.labels.heap_bytes()) as u64)?;
                n += 1;
                if n.is_multiple_of(1024) {
                    sh.check_deadline("series selection")?;
                }
                if !s.values.is_empty() {
                    out.push(s);
                }
                Ok(())
            })?;
        Ok(out)
    }

    /// The evaluation times of a selector: every step, or the single `@` time.
    fn selector_times(&self, at: Option<crate::ast::At>, st: Steps) -> (i64, i64, bool) {
        match at {
            Some(a) => {
                let t = self.sh.at_ms(a);
                (t, t, true)
            }
            None => (st.start, st.end(), false),
        }
    }

    /// An instant vector selector at every step (lookback delta, staleness markers). With
    /// `timestamps`, the values are the sample timestamps in seconds (for `timestamp()`).
    pub(super) fn eval_selector(
        &self,
        sel: &VectorSelector,
        st: Steps,
        timestamps: bool,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let (first, last, fixed) = self.selector_times(sel.at, st);
        let lookback = self.sh.cfg.lookback_delta_ms;
        let mint = first - sel.offset_ms - lookback + self.sh.open();
        let maxt = last - sel.offset_ms;
        let hints = SelectHints {
            start_ms: mint,
            end_ms: maxt,
            step_ms: if st.n > 1 { st.step } else { 0 },
            ..SelectHints::default()
        };
        let raw = self.fetch(sel, mint, maxt, hints)?;
        self.sh.alloc_series(raw.len(), st.n)?;
        let work = raw.iter().map(|s| s.values.len()).sum::<usize>() + raw.len() * st.n;
        // A sample exactly `lookback` old is out of the window (Prometheus 3) or in it (2).
        let lookback = lookback + 1 - self.sh.open();
        let out = self.sh.par_map_series(&raw, work, |s| {
            let (ts, vals) = (&s.timestamps[..], &s.values[..]);
            let mut values = Vec::with_capacity(st.n);
            if fixed {
                let j = ts.partition_point(|&t| t <= first - sel.offset_ms);
                let v = lookup(ts, vals, j, first - sel.offset_ms, lookback, timestamps);
                values.resize(st.n, v);
            } else {
                // `j`: the first sample after the step time; it only moves forward.
                let (mut j, mut dj) = (0usize, 0usize);
                for i in 0..st.n {
                    let t = st.ts(i) - sel.offset_ms;
                    let next = skip_while_le(ts, j, ts.len(), t, dj);
                    dj = next - j;
                    j = next;
                    values.push(lookup(ts, vals, j, t, lookback, timestamps));
                }
            }
            Ok(values)
        })?;
        Ok(out
            .into_iter()
            .zip(raw)
            .map(|(values, s)| StepSeries {
                labels: s.labels,
                values,
                drop_name: false,
            })
            .filter(|s| !s.is_empty())
            .collect())
    }

    /// Raw samples of a range selector in its window at `t` (for a top-level range selector).
    pub(super) fn matrix_at(
        &self,
        m: &MatrixSelector,
        t: i64,
        st: Steps,
    ) -> Result<Vec<Series<'static>>, QueryError> {
        let range = window_ms(m.range, st);
        let t = m.selector.at.map_or(t, |a| self.sh.at_ms(a));
        let end = t - m.selector.offset_ms;
        let mint = end - range + self.sh.open();
        let raw = self.fetch(
            &m.selector,
            mint,
            end,
            SelectHints {
                start_ms: mint,
                end_ms: end,
                range_ms: range,
                ..SelectHints::default()
            },
        )?;
        Ok(raw
            .into_iter()
            .map(|s| window_of(&s, mint - 1, end))
            .filter(|s| !s.values.is_empty())
            .collect())
    }

    /// Raw points of a subquery in its window at `t` (for a top-level subquery).
    pub(super) fn subquery_at(
        &self,
        sq: &Subquery,
        t: i64,
        st: Steps,
    ) -> Result<Vec<Series<'static>>, QueryError> {
        let single = Steps {
            start: t,
            step: st.step.max(1),
            n: 1,
            implicit_window: st.implicit_window,
        };
        let raw = self.subquery_raw(sq, single)?;
        let t = sq.at.map_or(t, |a| self.sh.at_ms(a));
        let end = t - sq.offset_ms;
        Ok(raw
            .into_iter()
            .map(|s| window_of(&s, end - sq.range_ms - 1 + self.sh.open(), end))
            .filter(|s| !s.values.is_empty())
            .collect())
    }

    /// Evaluates a subquery's inner expression at its own aligned steps, covering every window
    /// the outer steps `st` need, and returns the points as raw series.
    pub(super) fn subquery_raw(
        &self,
        sq: &Subquery,
        st: Steps,
    ) -> Result<Vec<Series<'static>>, QueryError> {
        let step = sq.step_ms.unwrap_or(self.sh.cfg.subquery_step_ms).max(1);
        let (first, last, _) = self.selector_times(sq.at, st);
        let from = first - sq.offset_ms - sq.range_ms;
        let to = last - sq.offset_ms;
        // First step-aligned time after `from`, with Go's truncating division.
        let mut start = step * (from / step);
        if start < from || (start == from && !self.sh.cfg.left_closed_windows) {
            start += step;
        }
        if to < start {
            return Ok(Vec::new());
        }
        let n = ((to - start) / step) as usize + 1;
        self.sh.check_points(n)?;
        let inner = Steps {
            start,
            step,
            n,
            implicit_window: step,
        };
        let series = self.eval_vector(&sq.expr, inner)?;
        Ok(series
            .into_iter()
            .map(|s| {
                // A name-dropping function inside the subquery is applied now: the points of a
                // subquery are a new series.
                let mut labels = s.labels;
                if s.drop_name {
                    labels.remove(crate::labels::METRIC_NAME);
                }
                let (mut timestamps, mut values) = (Vec::new(), Vec::new());
                for (i, v) in s.values.into_iter().enumerate() {
                    if !is_absent(v) {
                        timestamps.push(inner.ts(i));
                        values.push(v);
                    }
                }
                Series::owned(labels, timestamps, values)
            })
            .collect())
    }
}

/// The window of a range selector in milliseconds.
pub(super) fn window_ms(w: Window, st: Steps) -> i64 {
    match w {
        Window::Fixed(ms) => ms,
        Window::Step => st.implicit_window,
    }
}

/// The non-stale samples of `s` in `(start, end]`.
pub(super) fn window_of(s: &Series<'_>, start: i64, end: i64) -> Series<'static> {
    let lo = s.timestamps.partition_point(|&t| t <= start);
    let hi = s.timestamps.partition_point(|&t| t <= end);
    let mut timestamps = Vec::with_capacity(hi - lo);
    let mut values = Vec::with_capacity(hi - lo);
    for i in lo..hi {
        if !is_stale_nan(s.values[i]) {
            timestamps.push(s.timestamps[i]);
            values.push(s.values[i]);
        }
    }
    Series::owned(s.labels.clone(), timestamps, values)
}

/// The value at `t` of the series with samples `ts`, `vals`, where `j` is the index of its
/// first sample after `t`: its latest sample in `(t - lookback, t]` unless that is a staleness
/// marker.
#[inline]
fn lookup(ts: &[i64], vals: &[f64], j: usize, t: i64, lookback: i64, timestamps: bool) -> f64 {
    let Some(k) = j.checked_sub(1) else {
        return absent();
    };
    if ts[k] <= t - lookback || is_stale_nan(vals[k]) {
        return absent();
    }
    if timestamps {
        ts[k] as f64 / 1000.0
    } else {
        vals[k]
    }
}
