//! Rollups: functions of a range vector, evaluated with a sliding window per series over raw
//! samples (range selectors) or subquery points.

use super::selectors::window_ms;
use super::{Evaluator, StepSeries, Steps, absent, is_absent};
use crate::ast::{Call, ExprKind, Pos};
use crate::error::QueryError;
use crate::functions::math::format_go_float;
use crate::functions::{RollupFn, RollupWindow};
use crate::labels::Labels;
use crate::querier::{SelectHints, Series, is_stale_nan};

/// Where the windows of one rollup come from.
struct Source<'a> {
    series: Vec<Series<'a>>,
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
                let mut series = self.fetch(sel, mint, maxt, hints)?;
                for s in &mut series {
                    drop_stale(s);
                }
                series.retain(|s| !s.values.is_empty());
                Ok(Source {
                    series,
                    range_ms,
                    offset_ms: sel.offset_ms,
                    at,
                })
            }
            ExprKind::Subquery(sq) => {
                let series = self.subquery_raw(sq, st)?;
                Ok(Source {
                    series,
                    range_ms: sq.range_ms,
                    offset_ms: sq.offset_ms,
                    at: sq.at.map(|a| self.sh.at_ms(a)),
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
        let src = self.rollup_source(call, mi, st)?;
        self.sh.alloc_series(src.series.len(), st.n)?;
        let name = call.func.name;
        let drop_name = !(call.func.keeps_metric_name() || call.keep_metric_names);
        let work: usize =
            src.series.iter().map(|s| s.values.len()).sum::<usize>() + src.series.len() * st.n;
        let closed = self.sh.cfg.left_closed_windows;
        let results = self.sh.par_map(&src.series, work, |s| {
            rollup_series(s, &src, f, &params, st, closed)
        })?;
        // Move the labels out of the raw series instead of cloning them.
        let out: Vec<StepSeries> = results
            .into_iter()
            .zip(src.series)
            .map(|(values, s)| StepSeries {
                labels: s.labels,
                values,
                drop_name,
            })
            .filter(|s| !s.is_empty())
            .collect();

        if name == "absent_over_time" {
            return Ok(absent_over_time(call, &out, st));
        }
        if matches!(name, "rate" | "increase") {
            for s in &out {
                if let Some(n) = s.labels.metric_name()
                    && !["_total", "_sum", "_count", "_bucket"]
                        .iter()
                        .any(|suf| n.ends_with(suf))
                {
                    self.sh.info(format!("PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}{}", self.sh.pos(call.args[mi].pos)));
                }
            }
        }
        if name == "quantile_over_time"
            && !out.is_empty()
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
        let _ = pos;
        Ok(out)
    }
}

/// Removes the staleness markers of `s` (range selectors skip them), copying lent samples only
/// when there is one.
fn drop_stale(s: &mut Series<'_>) {
    if !s.values.iter().any(|v| is_stale_nan(*v)) {
        return;
    }
    let (ts, vals) = (s.timestamps.to_mut(), s.values.to_mut());
    let mut k = 0;
    for i in 0..vals.len() {
        if !is_stale_nan(vals[i]) {
            ts[k] = ts[i];
            vals[k] = vals[i];
            k += 1;
        }
    }
    ts.truncate(k);
    vals.truncate(k);
}

/// One series through the rollup at every step.
fn rollup_series(
    s: &Series<'_>,
    src: &Source<'_>,
    f: RollupFn,
    params: &[Vec<f64>],
    st: Steps,
    closed: bool,
) -> Result<Vec<f64>, QueryError> {
    let mut values = Vec::with_capacity(st.n);
    let mut scratch = Vec::new();
    let mut step_params = vec![0.0; params.len()];
    let (mut lo, mut hi) = (0usize, 0usize);
    let ts = &s.timestamps;
    for i in 0..st.n {
        let eval_ts = st.ts(i);
        let end = src.at.unwrap_or(eval_ts) - src.offset_ms;
        let start = end - src.range_ms;
        while hi < ts.len() && ts[hi] <= end {
            hi += 1;
        }
        while lo < hi && (ts[lo] < start || (!closed && ts[lo] == start)) {
            lo += 1;
        }
        if lo >= hi {
            values.push(absent());
            continue;
        }
        for (p, v) in step_params.iter_mut().zip(params) {
            *p = v[i];
        }
        let w = RollupWindow {
            ts: &ts[lo..hi],
            vals: &s.values[lo..hi],
            range_start: start,
            range_end: end,
            range_ms: src.range_ms,
            eval_ts,
            params: &step_params,
        };
        match f(&w, &mut scratch) {
            Ok(Some(v)) => values.push(v),
            Ok(None) => values.push(absent()),
            Err(msg) => return Err(QueryError::exec(msg)),
        }
    }
    Ok(values)
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
