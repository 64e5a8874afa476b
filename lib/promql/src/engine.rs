//! The public entry points: how to run an instant or range query, with which settings and
//! limits, and what a result looks like.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ast::{Expr, ValueType};
use crate::error::QueryError;
use crate::eval::{self, Budget, Evaluator, Shared, Steps, Value, is_absent};
use crate::labels::Labels;
use crate::parser::parse;
use crate::querier::Querier;

/// Engine settings and per-query limits. `None` disables a limit.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How far back an instant selector looks for a sample, ms (Prometheus: 5m).
    pub lookback_delta_ms: i64,
    /// Step of subqueries written without one (`x[1h:]`), ms (Prometheus: the global
    /// evaluation interval, 1m).
    pub subquery_step_ms: i64,
    /// Maximum series selected by one query (`-search.maxSeries`).
    pub max_series: Option<usize>,
    /// Maximum raw samples loaded by one query (`-search.maxSamplesPerQuery`).
    pub max_samples: Option<usize>,
    /// Maximum points per series of a range query or subquery (`-search.maxPointsPerTimeseries`;
    /// Prometheus: 11,000).
    pub max_points_per_series: Option<usize>,
    /// Maximum estimated bytes of samples and intermediate series one query may allocate over
    /// its life (`-search.maxMemoryPerQuery`); an upper bound of its peak memory.
    pub max_memory_bytes: Option<usize>,
    /// Deadline of one query (`-search.maxQueryDuration`).
    pub timeout: Option<Duration>,
    /// Threads used to spread work across series (default: available cores).
    pub threads: usize,
    /// Prometheus 2 window semantics: range selector windows and the lookback window include
    /// their left boundary (`[t-range, t]`). Prometheus 3 (the default, `false`) excludes it.
    pub left_closed_windows: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lookback_delta_ms: 300_000,
            subquery_step_ms: 60_000,
            max_series: None,
            max_samples: Some(50_000_000),
            max_points_per_series: Some(11_000),
            max_memory_bytes: None,
            timeout: Some(Duration::from_secs(120)),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            left_closed_windows: false,
        }
    }
}

/// Warnings and infos collected while evaluating, without duplicates, in order of appearance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `PromQL warning: ...` messages (Prometheus's `warnings` field).
    pub warnings: Vec<String>,
    /// `PromQL info: ...` messages (Prometheus's `infos` field).
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds a warning unless already present.
    pub fn add_warning(&mut self, msg: String) {
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    /// Adds an info unless already present.
    pub fn add_info(&mut self, msg: String) {
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }
}

/// One sample of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Series labels.
    pub labels: Labels,
    /// Timestamp, ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// One series of a matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    /// Series labels.
    pub labels: Labels,
    /// `(timestamp ms, value)` in time order.
    pub points: Vec<(i64, f64)>,
}

/// A query result value, shaped like Prometheus's `resultType`s.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryValue {
    /// `scalar`
    Scalar {
        /// Evaluation time, ms.
        t: i64,
        /// Value.
        v: f64,
    },
    /// `string`
    String {
        /// Evaluation time, ms.
        t: i64,
        /// Value.
        v: String,
    },
    /// `vector` (instant queries), in evaluation order (meaningful after `sort`/`topk`).
    Vector(Vec<Sample>),
    /// `matrix` (range queries, or an instant query of a range selector), sorted by labels.
    Matrix(Vec<RangeSeries>),
}

/// What a query loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Series returned by the querier for all selectors.
    pub series_selected: u64,
    /// Raw samples returned by the querier.
    pub samples_loaded: u64,
}

/// A successful query.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// The value.
    pub value: QueryValue,
    /// Warnings and infos.
    pub annotations: Annotations,
    /// Load statistics.
    pub stats: QueryStats,
}

/// The query engine. Cheap to share; holds only its configuration.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    cfg: EngineConfig,
}

impl Engine {
    /// An engine with `cfg`.
    pub fn new(cfg: EngineConfig) -> Self {
        Engine { cfg }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Evaluates `query` at `time_ms`.
    pub fn instant(
        &self,
        querier: &dyn Querier,
        query: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let expr = parse(query)?;
        self.instant_expr(querier, &expr, query, time_ms)
    }

    /// Evaluates `query` at `start_ms, start_ms + step_ms, ..., end_ms`.
    pub fn range(
        &self,
        querier: &dyn Querier,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let expr = parse(query)?;
        self.range_expr(querier, &expr, query, start_ms, end_ms, step_ms)
    }

    /// Evaluates a parsed expression at `time_ms`; `text` is used for annotation positions.
    pub fn instant_expr(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        text: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let st = Steps {
            start: time_ms,
            step: 1,
            n: 1,
            implicit_window: self.cfg.lookback_delta_ms,
        };
        let sh = self.shared(querier, text, time_ms, time_ms, false);
        let value = Evaluator { sh: &sh }.eval(expr, st)?;
        let value = match value {
            Value::Scalar(v) => QueryValue::Scalar {
                t: time_ms,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Value::String(s) => QueryValue::String { t: time_ms, v: s },
            Value::Vector(series) => QueryValue::Vector(
                eval::finish_names(series)?
                    .into_iter()
                    .filter_map(|s| {
                        s.values
                            .first()
                            .copied()
                            .filter(|v| !is_absent(*v))
                            .map(|v| Sample {
                                labels: s.labels,
                                t: time_ms,
                                v,
                            })
                    })
                    .collect(),
            ),
            Value::Matrix(series) => {
                let mut m: Vec<RangeSeries> = series
                    .into_iter()
                    .map(|s| RangeSeries {
                        labels: s.labels,
                        points: s
                            .timestamps
                            .iter()
                            .copied()
                            .zip(s.values.iter().copied())
                            .collect(),
                    })
                    .collect();
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                QueryValue::Matrix(m)
            }
        };
        Ok(self.finish(value, sh))
    }

    /// Evaluates a parsed expression over a time range; `text` is used for annotation positions.
    pub fn range_expr(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::BadData("zero or negative query resolution step widths are not accepted. Try a positive integer".into()));
        }
        if end_ms < start_ms {
            return Err(QueryError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        let t = expr.value_type();
        if t != ValueType::Vector && t != ValueType::Scalar {
            return Err(QueryError::BadData(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                t.documented()
            )));
        }
        let n = ((end_ms - start_ms) / step_ms) as usize + 1;
        let st = Steps {
            start: start_ms,
            step: step_ms,
            n,
            implicit_window: step_ms,
        };
        let sh = self.shared(querier, text, start_ms, end_ms, start_ms != end_ms);
        sh.check_points(n)?;
        let value = Evaluator { sh: &sh }.eval(expr, st)?;
        let mut out: Vec<RangeSeries> = match value {
            Value::Scalar(v) => vec![RangeSeries {
                labels: Labels::empty(),
                points: v
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (st.ts(i), v))
                    .collect(),
            }],
            Value::Vector(series) => eval::finish_names(series)?
                .into_iter()
                .map(|s| {
                    // Sized once: collecting a filter would grow the Vec step by step.
                    let n = s.values.iter().filter(|v| !is_absent(**v)).count();
                    let mut points = Vec::with_capacity(n);
                    for (i, &v) in s.values.iter().enumerate() {
                        if !is_absent(v) {
                            points.push((st.ts(i), v));
                        }
                    }
                    RangeSeries {
                        labels: s.labels,
                        points,
                    }
                })
                .filter(|s| !s.points.is_empty())
                .collect(),
            Value::String(_) | Value::Matrix(_) => {
                panic!("invariant broken: range query of a non-vector type passed the type check")
            }
        };
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(self.finish(QueryValue::Matrix(out), sh))
    }

    fn shared<'a>(
        &'a self,
        querier: &'a dyn Querier,
        text: &'a str,
        start: i64,
        end: i64,
        range_query: bool,
    ) -> Shared<'a> {
        Shared {
            querier,
            cfg: &self.cfg,
            query: text,
            query_start: start,
            query_end: end,
            range_query,
            budget: Budget {
                series: AtomicU64::new(0),
                samples: AtomicU64::new(0),
                memory: AtomicU64::new(0),
            },
            annotations: Mutex::new(Annotations::default()),
            deadline: self.cfg.timeout.map(|t| Instant::now() + t),
        }
    }

    fn finish(&self, value: QueryValue, sh: Shared<'_>) -> QueryResult {
        let stats = QueryStats {
            series_selected: sh.budget.series.load(Ordering::Relaxed),
            samples_loaded: sh.budget.samples.load(Ordering::Relaxed),
        };
        let annotations = sh.annotations.into_inner().unwrap_or_default();
        QueryResult {
            value,
            annotations,
            stats,
        }
    }
}
