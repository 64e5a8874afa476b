//! How an expression is evaluated over the steps of a query: every node is computed for all
//! steps at once (one value per step and series), which turns range queries into sliding
//! windows over raw samples instead of repeated instant evaluations.

mod aggregations;
mod binary;
mod calls;
mod label_sets;
mod rollups;
mod selectors;
mod window_walk;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::prefetch::prefetch;

use crate::ast::{At, Expr, ExprKind, Pos};
use crate::engine::{Annotations, EngineConfig};
use crate::error::{Limit, QueryError};
use crate::labels::{Labels, METRIC_NAME};
use crate::querier::{Querier, STALE_NAN_BITS, Series};

/// Marks "no point at this step" inside step-aligned series. It is the staleness marker's bit
/// pattern: stale samples never reach evaluated values, and arithmetic on present values only
/// produces quiet NaNs, so the pattern cannot arise from a computation.
#[inline]
pub(crate) fn absent() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is the "no point" marker.
#[inline]
pub(crate) fn is_absent(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A series evaluated at every step of the current evaluation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StepSeries {
    pub labels: Labels,
    /// One value per step; [`absent()`] where the series has no point.
    pub values: Vec<f64>,
    /// Prometheus 3 delayed name removal: drop `__name__` when the query finishes.
    pub drop_name: bool,
}

impl StepSeries {
    fn is_empty(&self) -> bool {
        self.values.iter().all(|v| is_absent(*v))
    }
}

/// The value of an evaluated node.
#[derive(Debug)]
pub(crate) enum Value {
    /// One number per step.
    Scalar(Vec<f64>),
    String(String),
    /// An instant vector at every step.
    Vector(Vec<StepSeries>),
    /// Raw samples (a range selector or subquery at the top of an instant query).
    Matrix(Vec<Series<'static>>),
}

/// The evaluation timestamps `start, start+step, ..., end`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Steps {
    pub start: i64,
    pub step: i64,
    pub n: usize,
    /// Window of MetricsQL range selectors written without one (`rate(x)`).
    pub implicit_window: i64,
}

impl Steps {
    #[inline]
    pub fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    pub fn end(&self) -> i64 {
        self.ts(self.n.saturating_sub(1))
    }
}

/// Counters checked against the configured limits.
pub(crate) struct Budget {
    pub series: AtomicU64,
    pub samples: AtomicU64,
    pub memory: AtomicU64,
}

/// State shared by every node of one query.
pub(crate) struct Shared<'a> {
    pub querier: &'a dyn Querier,
    pub cfg: &'a EngineConfig,
    pub query: &'a str,
    /// Start and end of the whole query, for `@ start()` and `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
    /// Whether the query is a range query (for the `sort` warning).
    pub range_query: bool,
    pub budget: Budget,
    pub annotations: Mutex<Annotations>,
    pub deadline: Option<Instant>,
}

impl Shared<'_> {
    pub fn check_deadline(&self, stage: &'static str) -> Result<(), QueryError> {
        match self.deadline {
            Some(d) if Instant::now() > d => Err(QueryError::Timeout {
                stage,
                timeout_ms: self.cfg.timeout.map_or(0, |t| t.as_millis() as u64),
            }),
            _ => Ok(()),
        }
    }

    fn over(limit: Limit, max: u64, what: String) -> QueryError {
        QueryError::LimitExceeded { limit, max, what }
    }

    pub fn add_series(&self, n: u64) -> Result<(), QueryError> {
        let total = self.budget.series.fetch_add(n, Ordering::Relaxed) + n;
        match self.cfg.max_series {
            Some(max) if total > max as u64 => Err(Self::over(
                Limit::MaxSeries,
                max as u64,
                format!("selected {total} series"),
            )),
            _ => Ok(()),
        }
    }

    pub fn add_samples(&self, n: u64) -> Result<(), QueryError> {
        let total = self.budget.samples.fetch_add(n, Ordering::Relaxed) + n;
        match self.cfg.max_samples {
            Some(max) if total > max as u64 => Err(Self::over(
                Limit::MaxSamples,
                max as u64,
                format!("loaded {total} samples"),
            )),
            _ => Ok(()),
        }
    }

    pub fn add_memory(&self, bytes: u64) -> Result<(), QueryError> {
        let total = self.budget.memory.fetch_add(bytes, Ordering::Relaxed) + bytes;
        match self.cfg.max_memory_bytes {
            Some(max) if total > max as u64 => Err(Self::over(
                Limit::MaxMemory,
                max as u64,
                format!("needs at least {total} bytes"),
            )),
            _ => Ok(()),
        }
    }

    pub fn check_points(&self, n: usize) -> Result<(), QueryError> {
        match self.cfg.max_points_per_series {
            Some(max) if n > max => Err(Self::over(
                Limit::MaxPointsPerSeries,
                max as u64,
                format!("{n} points per series"),
            )),
            _ => Ok(()),
        }
    }

    /// Accounts for `n` step-aligned series of `steps` points.
    pub fn alloc_series(&self, n: usize, steps: usize) -> Result<(), QueryError> {
        self.add_memory((n * (steps * 8 + 64)) as u64)
    }

    /// 1 when windows exclude their left boundary (Prometheus 3), 0 when they include it.
    pub fn open(&self) -> i64 {
        i64::from(!self.cfg.left_closed_windows)
    }

    /// ` (line:col)` of a node, as annotations end.
    pub fn pos(&self, pos: Pos) -> String {
        format!(" ({})", pos.line_col(self.query))
    }

    pub fn warn(&self, msg: String) {
        if let Ok(mut a) = self.annotations.lock() {
            a.add_warning(msg);
        }
    }

    pub fn info(&self, msg: String) {
        if let Ok(mut a) = self.annotations.lock() {
            a.add_info(msg);
        }
    }

    /// The timestamp an `@` modifier stands for.
    pub fn at_ms(&self, at: At) -> i64 {
        match at {
            At::Timestamp(t) => t,
            At::Start => self.query_start,
            At::End => self.query_end,
        }
    }

    /// Whether [`Shared::par_map_series`] would spread `items` items of `work` samples or points over
    /// threads.
    pub fn parallel(&self, items: usize, work: usize) -> bool {
        self.cfg.threads.max(1).min(items) > 1 && work >= 200_000
    }

    /// Runs `f` over raw `series` on up to `threads` scoped threads when the work is large
    /// enough, keeping the order of results. Each loop asks for the next series' samples
    /// while `f` works on the current one.
    pub fn par_map_series<R: Send>(
        &self,
        series: &[Series<'_>],
        work: usize,
        f: impl Fn(&Series<'_>) -> Result<R, QueryError> + Sync,
    ) -> Result<Vec<R>, QueryError> {
        if !self.parallel(series.len(), work) {
            return map_prefetched(series, &f);
        }
        let threads = self.cfg.threads.max(1).min(series.len());
        let chunk = series.len().div_ceil(threads);
        let f = &f;
        let parts: Vec<Result<Vec<R>, QueryError>> = std::thread::scope(|s| {
            let handles: Vec<_> = series
                .chunks(chunk)
                .map(|c| s.spawn(move || map_prefetched(c, f)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(QueryError::exec(
                            "internal error: evaluation thread panicked",
                        ))
                    })
                })
                .collect()
        });
        let mut out = Vec::with_capacity(series.len());
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }
}

/// `f` over `series` in order, prefetching each next series' samples.
fn map_prefetched<R>(
    series: &[Series<'_>],
    f: &impl Fn(&Series<'_>) -> Result<R, QueryError>,
) -> Result<Vec<R>, QueryError> {
    let mut out = Vec::with_capacity(series.len());
    for (i, s) in series.iter().enumerate() {
        if let Some(next) = series.get(i + 1) {
            prefetch(&next.timestamps);
            prefetch(&next.values);
        }
        out.push(f(s)?);
    }
    Ok(out)
}

/// Evaluates expressions against the shared state.
pub(crate) struct Evaluator<'a> {
    pub sh: &'a Shared<'a>,
}

impl Evaluator<'_> {
    pub fn eval(&self, e: &Expr, st: Steps) -> Result<Value, QueryError> {
        self.sh.check_deadline("expression evaluation")?;
        match &e.kind {
            ExprKind::Number(v) => Ok(Value::Scalar(vec![*v; st.n])),
            ExprKind::String(s) => Ok(Value::String(s.clone())),
            ExprKind::Paren(inner) => self.eval(inner, st),
            ExprKind::Neg(inner) => Ok(match self.eval(inner, st)? {
                Value::Scalar(mut v) => {
                    v.iter_mut().for_each(|x| *x = -*x);
                    Value::Scalar(v)
                }
                Value::Vector(mut vs) => {
                    for s in &mut vs {
                        s.drop_name = true;
                        s.values
                            .iter_mut()
                            .filter(|x| !is_absent(**x))
                            .for_each(|x| *x = -*x);
                    }
                    Value::Vector(vs)
                }
                other => other,
            }),
            ExprKind::Selector(sel) => Ok(Value::Vector(self.eval_selector(sel, st, false)?)),
            ExprKind::Matrix(m) => Ok(Value::Matrix(self.matrix_at(m, st.start, st)?)),
            ExprKind::Subquery(sq) => Ok(Value::Matrix(self.subquery_at(sq, st.start, st)?)),
            ExprKind::Binary(b) => self.eval_binary(b, st),
            ExprKind::Aggregate(a) => self.eval_aggregate(a, e.pos, st),
            ExprKind::Call(c) => self.eval_call(c, e.pos, st),
        }
    }

    /// Evaluates `e` as an instant vector.
    pub fn eval_vector(&self, e: &Expr, st: Steps) -> Result<Vec<StepSeries>, QueryError> {
        match self.eval(e, st)? {
            Value::Vector(v) => Ok(v),
            other => panic!(
                "invariant broken: parser type checks let a non-vector reach eval_vector: {other:?}"
            ),
        }
    }

    /// Evaluates `e` as a scalar (one value per step).
    pub fn eval_scalar(&self, e: &Expr, st: Steps) -> Result<Vec<f64>, QueryError> {
        match self.eval(e, st)? {
            Value::Scalar(v) => Ok(v),
            other => panic!(
                "invariant broken: parser type checks let a non-scalar reach eval_scalar: {other:?}"
            ),
        }
    }
}

/// Merges series that have the same label set (after a label change); two of them with a point
/// at the same step are an error, as in Prometheus.
pub(crate) fn merge_same_labels(series: Vec<StepSeries>) -> Result<Vec<StepSeries>, QueryError> {
    if series.len() <= 1 {
        return Ok(series);
    }
    let mut index: FxHashMap<Labels, usize> =
        FxHashMap::with_capacity_and_hasher(series.len(), Default::default());
    let mut out: Vec<StepSeries> = Vec::with_capacity(series.len());
    for s in series {
        match index.get(&s.labels) {
            Some(&i) => {
                let dst = &mut out[i];
                for (d, v) in dst.values.iter_mut().zip(&s.values) {
                    if is_absent(*v) {
                        continue;
                    }
                    if !is_absent(*d) {
                        return Err(QueryError::exec(
                            "vector cannot contain metrics with the same labelset",
                        ));
                    }
                    *d = *v;
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Delayed name removal at the end of a query: drop `__name__` where marked, then merge.
pub(crate) fn finish_names(mut series: Vec<StepSeries>) -> Result<Vec<StepSeries>, QueryError> {
    let mut changed = false;
    for s in &mut series {
        if s.drop_name && s.labels.has(METRIC_NAME) {
            s.labels.remove(METRIC_NAME);
            changed = true;
        }
        s.drop_name = false;
    }
    if changed {
        merge_same_labels(series)
    } else {
        Ok(series)
    }
}
