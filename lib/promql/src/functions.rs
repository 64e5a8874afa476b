//! Which functions exist: every function's signature as one row of a table, and where its
//! implementation lives. Adding a function is one row, one pure function and one test case.

pub mod histogram;
pub mod math;
pub mod rollup;
pub mod time;

use crate::ast::ValueType::{self, Matrix as M, Scalar as S, String as Str, Vector as V};

/// Where a function comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Stable Prometheus 3 function.
    Prometheus,
    /// Prometheus function behind `--enable-feature=promql-experimental-functions` (or only in
    /// Prometheus 2); always enabled here.
    Experimental,
    /// MetricsQL extension.
    MetricsQL,
}

/// A window of raw samples handed to a rollup function: the samples with timestamps in
/// `(range_start, range_end]`, never empty.
#[derive(Clone, Copy, Debug)]
pub struct RollupWindow<'a> {
    /// Sample timestamps, ms, increasing.
    pub ts: &'a [i64],
    /// Sample values (no staleness markers).
    pub vals: &'a [f64],
    /// Exclusive lower bound of the window, ms.
    pub range_start: i64,
    /// Inclusive upper bound of the window, ms.
    pub range_end: i64,
    /// Length of the window, ms.
    pub range_ms: i64,
    /// Evaluation timestamp of the step, ms (differs from `range_end` by the offset).
    pub eval_ts: i64,
    /// Scalar arguments at this step, in argument order without the range vector.
    pub params: &'a [f64],
}

/// A rollup: computes one value from a window, or nothing. `scratch` is a reusable buffer.
/// An `Err` carries Prometheus's error text (invalid arguments).
pub type RollupFn = fn(&RollupWindow<'_>, &mut Vec<f64>) -> Result<Option<f64>, String>;

/// How the evaluator runs a function.
#[derive(Clone, Copy)]
pub enum Impl {
    /// A function of a range vector (plus scalar arguments), evaluated per window.
    Rollup(RollupFn),
    /// An element-wise function of an instant vector's values; drops the metric name.
    Simple(fn(f64) -> f64),
    /// Needs the evaluator (label functions, sorting, `absent`, `scalar`, `time`, ...).
    Special,
}

impl std::fmt::Debug for Impl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Impl::Rollup(_) => "Rollup",
            Impl::Simple(_) => "Simple",
            Impl::Special => "Special",
        })
    }
}

/// One function signature.
#[derive(Debug)]
pub struct FunctionDef {
    /// Name as written in queries.
    pub name: &'static str,
    /// Argument types.
    pub args: &'static [ValueType],
    /// 0: exactly `args`; n > 0: the last argument is optional and may repeat up to n times in
    /// all; -1: the last argument repeats without limit (Prometheus's convention).
    pub variadic: i32,
    /// Return type.
    pub ret: ValueType,
    /// Implementation.
    pub imp: Impl,
    /// Origin.
    pub origin: Origin,
}

impl PartialEq for FunctionDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

const P: Origin = Origin::Prometheus;
const X: Origin = Origin::Experimental;
const Q: Origin = Origin::MetricsQL;

macro_rules! f {
    ($name:literal, [$($a:expr),*], $var:expr, $ret:expr, $imp:expr, $origin:expr) => {
        FunctionDef { name: $name, args: &[$($a),*], variadic: $var, ret: $ret, imp: $imp, origin: $origin }
    };
}

use math as m;
use rollup as r;

/// Every function, sorted by name.
pub static FUNCTIONS: &[FunctionDef] = &[
    f!("abs", [V], 0, V, Impl::Simple(f64::abs), P),
    f!("absent", [V], 0, V, Impl::Special, P),
    f!(
        "absent_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::present_over_time),
        P
    ),
    f!("acos", [V], 0, V, Impl::Simple(f64::acos), P),
    f!("acosh", [V], 0, V, Impl::Simple(f64::acosh), P),
    f!("asin", [V], 0, V, Impl::Simple(f64::asin), P),
    f!("asinh", [V], 0, V, Impl::Simple(f64::asinh), P),
    f!("atan", [V], 0, V, Impl::Simple(f64::atan), P),
    f!("atanh", [V], 0, V, Impl::Simple(f64::atanh), P),
    f!(
        "avg_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::avg_over_time),
        P
    ),
    f!("ceil", [V], 0, V, Impl::Simple(f64::ceil), P),
    f!("changes", [M], 0, V, Impl::Rollup(r::changes), P),
    f!("clamp", [V, S, S], 0, V, Impl::Special, P),
    f!("clamp_max", [V, S], 0, V, Impl::Special, P),
    f!("clamp_min", [V, S], 0, V, Impl::Special, P),
    f!("cos", [V], 0, V, Impl::Simple(f64::cos), P),
    f!("cosh", [V], 0, V, Impl::Simple(f64::cosh), P),
    f!(
        "count_eq_over_time",
        [M, S],
        0,
        V,
        Impl::Rollup(r::count_eq_over_time),
        Q
    ),
    f!(
        "count_gt_over_time",
        [M, S],
        0,
        V,
        Impl::Rollup(r::count_gt_over_time),
        Q
    ),
    f!(
        "count_le_over_time",
        [M, S],
        0,
        V,
        Impl::Rollup(r::count_le_over_time),
        Q
    ),
    f!(
        "count_ne_over_time",
        [M, S],
        0,
        V,
        Impl::Rollup(r::count_ne_over_time),
        Q
    ),
    f!(
        "count_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::count_over_time),
        P
    ),
    f!("day_of_month", [V], 1, V, Impl::Special, P),
    f!("day_of_week", [V], 1, V, Impl::Special, P),
    f!("day_of_year", [V], 1, V, Impl::Special, P),
    f!("days_in_month", [V], 1, V, Impl::Special, P),
    f!("deg", [V], 0, V, Impl::Simple(m::deg), P),
    f!("delta", [M], 0, V, Impl::Rollup(r::delta), P),
    f!("deriv", [M], 0, V, Impl::Rollup(r::deriv), P),
    f!(
        "distinct_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::distinct_over_time),
        Q
    ),
    f!(
        "double_exponential_smoothing",
        [M, S, S],
        0,
        V,
        Impl::Rollup(r::double_exponential_smoothing),
        X
    ),
    f!("exp", [V], 0, V, Impl::Simple(f64::exp), P),
    f!(
        "first_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::first_over_time),
        P
    ),
    f!("floor", [V], 0, V, Impl::Simple(f64::floor), P),
    f!("histogram_avg", [V], 0, V, Impl::Special, P),
    f!("histogram_count", [V], 0, V, Impl::Special, P),
    f!("histogram_fraction", [S, S, V], 0, V, Impl::Special, P),
    f!("histogram_quantile", [S, V], 0, V, Impl::Special, P),
    f!("histogram_stddev", [V], 0, V, Impl::Special, P),
    f!("histogram_stdvar", [V], 0, V, Impl::Special, P),
    f!("histogram_sum", [V], 0, V, Impl::Special, P),
    f!(
        "holt_winters",
        [M, S, S],
        0,
        V,
        Impl::Rollup(r::double_exponential_smoothing),
        X
    ),
    f!("hour", [V], 1, V, Impl::Special, P),
    f!("idelta", [M], 0, V, Impl::Rollup(r::idelta), P),
    f!("increase", [M], 0, V, Impl::Rollup(r::increase), P),
    f!("irate", [M], 0, V, Impl::Rollup(r::irate), P),
    f!("label_copy", [V, Str], -1, V, Impl::Special, Q),
    f!("label_del", [V, Str], -1, V, Impl::Special, Q),
    f!("label_join", [V, Str, Str, Str], -1, V, Impl::Special, P),
    f!("label_keep", [V, Str], -1, V, Impl::Special, Q),
    f!("label_move", [V, Str], -1, V, Impl::Special, Q),
    f!(
        "label_replace",
        [V, Str, Str, Str, Str],
        0,
        V,
        Impl::Special,
        P
    ),
    f!("label_set", [V, Str], -1, V, Impl::Special, Q),
    f!(
        "last_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::last_over_time),
        P
    ),
    f!("ln", [V], 0, V, Impl::Simple(f64::ln), P),
    f!("log10", [V], 0, V, Impl::Simple(f64::log10), P),
    f!("log2", [V], 0, V, Impl::Simple(f64::log2), P),
    f!(
        "mad_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::mad_over_time),
        X
    ),
    f!(
        "max_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::max_over_time),
        P
    ),
    f!(
        "median_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::median_over_time),
        Q
    ),
    f!(
        "min_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::min_over_time),
        P
    ),
    f!("minute", [V], 1, V, Impl::Special, P),
    f!("month", [V], 1, V, Impl::Special, P),
    f!("pi", [], 0, S, Impl::Special, P),
    f!(
        "predict_linear",
        [M, S],
        0,
        V,
        Impl::Rollup(r::predict_linear),
        P
    ),
    f!(
        "present_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::present_over_time),
        P
    ),
    f!(
        "quantile_over_time",
        [S, M],
        0,
        V,
        Impl::Rollup(r::quantile_over_time),
        P
    ),
    f!("rad", [V], 0, V, Impl::Simple(m::rad), P),
    f!(
        "range_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::range_over_time),
        Q
    ),
    f!("rate", [M], 0, V, Impl::Rollup(r::rate), P),
    f!("resets", [M], 0, V, Impl::Rollup(r::resets), P),
    f!("round", [V, S], 1, V, Impl::Special, P),
    f!("scalar", [V], 0, S, Impl::Special, P),
    f!("sgn", [V], 0, V, Impl::Simple(m::sgn), P),
    f!(
        "share_gt_over_time",
        [M, S],
        0,
        V,
        Impl::Rollup(r::share_gt_over_time),
        Q
    ),
    f!(
        "share_le_over_time",
        [M, S],
        0,
        V,
        Impl::Rollup(r::share_le_over_time),
        Q
    ),
    f!("sin", [V], 0, V, Impl::Simple(f64::sin), P),
    f!("sinh", [V], 0, V, Impl::Simple(f64::sinh), P),
    f!("sort", [V], 0, V, Impl::Special, P),
    f!("sort_by_label", [V, Str], -1, V, Impl::Special, X),
    f!("sort_by_label_desc", [V, Str], -1, V, Impl::Special, X),
    f!("sort_desc", [V], 0, V, Impl::Special, P),
    f!("sqrt", [V], 0, V, Impl::Simple(f64::sqrt), P),
    f!(
        "stddev_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::stddev_over_time),
        P
    ),
    f!(
        "stdvar_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::stdvar_over_time),
        P
    ),
    f!(
        "sum_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::sum_over_time),
        P
    ),
    f!("tan", [V], 0, V, Impl::Simple(f64::tan), P),
    f!("tanh", [V], 0, V, Impl::Simple(f64::tanh), P),
    f!("time", [], 0, S, Impl::Special, P),
    f!("timestamp", [V], 0, V, Impl::Special, P),
    f!(
        "tmax_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::ts_of_max_over_time),
        Q
    ),
    f!(
        "tmin_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::ts_of_min_over_time),
        Q
    ),
    f!(
        "ts_of_first_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::ts_of_first_over_time),
        X
    ),
    f!(
        "ts_of_last_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::ts_of_last_over_time),
        X
    ),
    f!(
        "ts_of_max_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::ts_of_max_over_time),
        X
    ),
    f!(
        "ts_of_min_over_time",
        [M],
        0,
        V,
        Impl::Rollup(r::ts_of_min_over_time),
        X
    ),
    f!("vector", [S], 0, V, Impl::Special, P),
    f!("year", [V], 1, V, Impl::Special, P),
];

/// Looks up a function by its exact name.
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .map(|i| &FUNCTIONS[i])
}

impl FunctionDef {
    /// Index of the range-vector argument, if the function takes one.
    pub fn matrix_arg(&self) -> Option<usize> {
        self.args.iter().position(|a| *a == ValueType::Matrix)
    }

    /// Whether the result keeps the metric name (`last_over_time`, `first_over_time`).
    pub fn keeps_metric_name(&self) -> bool {
        matches!(self.name, "last_over_time" | "first_over_time")
    }

    /// Whether the result depends on the evaluation time even when the arguments do not
    /// (Prometheus's `AtModifierUnsafeFunctions`).
    pub fn time_dependent(&self) -> bool {
        matches!(
            self.name,
            "days_in_month"
                | "day_of_month"
                | "day_of_week"
                | "day_of_year"
                | "hour"
                | "minute"
                | "month"
                | "year"
                | "predict_linear"
                | "time"
                | "timestamp"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in FUNCTIONS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
    }

    #[test]
    fn rollups_take_exactly_one_range_vector() {
        for f in FUNCTIONS {
            let ranges = f.args.iter().filter(|a| **a == ValueType::Matrix).count();
            let is_rollup = matches!(f.imp, Impl::Rollup(_));
            assert_eq!(is_rollup, ranges == 1, "{}", f.name);
        }
        assert!(lookup("rate").is_some());
        assert!(lookup("nope").is_none());
    }
}
