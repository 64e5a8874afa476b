//! Running scripts: loading data into a [`MemoryQuerier`], evaluating every `eval` the way
//! Prometheus's own runner does (including the range-mode and `@`-invariance re-checks of
//! instant evals), and comparing results and annotations.

use std::collections::BTreeMap;

use super::script::{Command, EvalCmd, EvalKind, Expect, SeqValue, parse_script};
use crate::ast::{At, Expr, ExprKind, Window};
use crate::engine::{Annotations, Engine, QueryResult, QueryValue, RangeSeries, Sample};
use crate::error::QueryError;
use crate::functions::math::almost_equal;
use crate::labels::Labels;
use crate::parser::parse;
use crate::querier::{MemoryQuerier, is_stale_nan};

/// Relative tolerance of float comparisons.
const EPSILON: f64 = 1e-6;

/// Decides whether an eval is skipped: returns the reason, or `None` to run it.
pub type SkipFn<'a> = &'a dyn Fn(&EvalCmd) -> Option<String>;

/// One failed eval.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Line of the eval.
    pub line: usize,
    /// The query.
    pub query: String,
    /// What went wrong.
    pub message: String,
}

/// Outcome of one script.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Evals that passed.
    pub passed: usize,
    /// Failed evals.
    pub failures: Vec<Failure>,
    /// Lines of the passed evals.
    pub passed_lines: Vec<usize>,
    /// Skipped evals by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Evals whose annotation expectations were checked.
    pub annotation_checks: usize,
}

impl Report {
    /// Number of skipped evals.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }

    /// Adds another report's counts to this one.
    pub fn merge(&mut self, other: Report) {
        self.passed += other.passed;
        self.failures.extend(other.failures);
        self.passed_lines.extend(other.passed_lines);
        for (k, v) in other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
        self.annotation_checks += other.annotation_checks;
    }
}

/// Runs a script with `engine`; `skip` picks evals not to run.
pub fn run_script(
    engine: &Engine,
    text: &str,
    skip: SkipFn<'_>,
) -> Result<Report, super::script::ScriptError> {
    let cmds = parse_script(text)?;
    let mut store = MemoryQuerier::new();
    let mut report = Report::default();
    // Series with native histogram samples, which the store does not hold.
    let mut histogram_series: Vec<Labels> = Vec::new();
    for cmd in cmds {
        match cmd {
            Command::Clear => {
                store.clear();
                histogram_series.clear();
            }
            Command::Load {
                interval, series, ..
            } => {
                for (labels, vals) in series {
                    if vals.contains(&SeqValue::Histogram) {
                        histogram_series.push(labels.clone());
                    }
                    let samples: Vec<(i64, f64)> = vals
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| match v {
                            SeqValue::Float(f) => Some((i as i64 * interval, *f)),
                            _ => None,
                        })
                        .collect();
                    store.add(labels, &samples);
                }
            }
            Command::Eval(ev) => {
                if let Some(reason) =
                    skip(&ev).or_else(|| selects_histograms(&ev.query, &histogram_series))
                {
                    *report.skipped.entry(reason).or_default() += 1;
                    continue;
                }
                let checked_annotations =
                    !ev.warn.is_empty() || !ev.info.is_empty() || ev.no_warn || ev.no_info;
                match run_eval(engine, &store, &ev) {
                    Ok(()) => {
                        report.passed += 1;
                        report.passed_lines.push(ev.line);
                        if checked_annotations {
                            report.annotation_checks += 1;
                        }
                    }
                    Err(message) => report.failures.push(Failure {
                        line: ev.line,
                        query: ev.query.clone(),
                        message,
                    }),
                }
            }
        }
    }
    Ok(report)
}

/// Whether the query selects a series loaded with native histogram samples, which this engine
/// does not support (the index's heuristic misses some of them).
fn selects_histograms(query: &str, histogram_series: &[Labels]) -> Option<String> {
    if histogram_series.is_empty() {
        return None;
    }
    let expr = parse(query).ok()?;
    let mut hit = false;
    expr.walk(&mut |e| {
        let matchers = match &e.kind {
            ExprKind::Selector(s) => &s.matchers,
            ExprKind::Matrix(m) => &m.selector.matchers,
            _ => return,
        };
        hit |= histogram_series
            .iter()
            .any(|l| matchers.iter().all(|m| m.matches_labels(l)));
    });
    hit.then(|| "native_histograms (found in loaded data)".to_string())
}

/// Runs one eval; `Err` describes the first mismatch.
pub fn run_eval(engine: &Engine, store: &MemoryQuerier, ev: &EvalCmd) -> Result<(), String> {
    let expr = match parse(&ev.query) {
        Ok(e) => e,
        Err(e) => {
            return check_failure(ev, Err(e.into()))
                .map(|_| ())
                .map_err(|m| format!("parse error: {m}"));
        }
    };
    match ev.kind {
        EvalKind::Range { start, end, step } => {
            let res = engine.range_expr(store, &expr, &ev.query, start, end, step);
            let Some(res) = check_failure(ev, res)? else {
                return Ok(());
            };
            check_annotations(ev, &res.annotations)?;
            compare(ev, &res.value, Some((start, step, end)))
        }
        EvalKind::Instant { at } => {
            run_instant(engine, store, ev, &expr, at)?;
            for (variant, t) in at_variants(&expr, at) {
                run_instant(engine, store, ev, &variant, t)
                    .map_err(|e| format!("@ variant `{variant}` at {t} ms: {e}"))?;
            }
            Ok(())
        }
    }
}

/// `Ok(None)` when the query failed as expected.
fn check_failure(
    ev: &EvalCmd,
    res: Result<QueryResult, QueryError>,
) -> Result<Option<QueryResult>, String> {
    match (res, &ev.fail) {
        (Ok(_), Some(_)) => Err("expected an error but the query succeeded".into()),
        (Ok(r), None) => Ok(Some(r)),
        (Err(e), None) => Err(format!("unexpected error: {e}")),
        (Err(e), Some(want)) => {
            let msg = e.to_string();
            if matches_expect(want, &msg) {
                Ok(None)
            } else {
                Err(format!("expected error {want:?}, got {msg:?}"))
            }
        }
    }
}

fn matches_expect(e: &Expect, s: &str) -> bool {
    match e {
        Expect::Any => true,
        Expect::Msg(m) => m == s,
        Expect::Regex(r) => regex::Regex::new(r).is_ok_and(|re| re.is_match(s)),
    }
}

fn run_instant(
    engine: &Engine,
    store: &MemoryQuerier,
    ev: &EvalCmd,
    expr: &Expr,
    at: i64,
) -> Result<(), String> {
    let res = engine.instant_expr(store, expr, &ev.query, at);
    let Some(res) = check_failure(ev, res)? else {
        return Ok(());
    };
    check_annotations(ev, &res.annotations)?;
    compare(ev, &res.value, ev.range_vector.map(|(a, b, s)| (a, s, b)))?;
    if ev.string.is_some()
        || ev.range_vector.is_some()
        || ev.query.contains("range()")
        || has_implicit_window(expr)
    {
        return Ok(());
    }
    // The same query as a range query must give the same point at `at`.
    let range = engine
        .range_expr(store, expr, &ev.query, at - 60_000, at + 60_000, 60_000)
        .map_err(|e| format!("range mode: unexpected error: {e}"))?;
    if ev.ordered {
        return Ok(());
    }
    let QueryValue::Matrix(m) = &range.value else {
        return Err("range mode did not return a matrix".into());
    };
    if m.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("range mode: matrix is not sorted by labels".into());
    }
    let vec: Vec<Sample> = m
        .iter()
        .filter_map(|s| {
            s.points.iter().find(|p| p.0 == at).map(|p| Sample {
                labels: s.labels.clone(),
                t: at,
                v: p.1,
            })
        })
        .collect();
    let as_value = match res.value {
        QueryValue::Scalar { .. } => match vec.first() {
            Some(s) => QueryValue::Scalar { t: at, v: s.v },
            None => return Err("range mode: no point for the scalar".into()),
        },
        _ => QueryValue::Vector(vec),
    };
    compare(ev, &as_value, None).map_err(|e| format!("range mode: {e}"))
}

/// Whether the query has a MetricsQL range selector without a window: its window is the step,
/// so an instant query and a range query legitimately differ.
fn has_implicit_window(expr: &Expr) -> bool {
    let mut found = false;
    expr.walk(&mut |e| found |= matches!(&e.kind, ExprKind::Matrix(m) if m.range == Window::Step));
    found
}

/// The `@`-invariance variants: `@ at` added to every selector and subquery without one
/// (nothing inside a subquery that has one), evaluated at other times. None when the query
/// calls a function whose result depends on the evaluation time.
fn at_variants(expr: &Expr, at: i64) -> Vec<(Expr, i64)> {
    let mut unsafe_fn = false;
    expr.walk(&mut |e| {
        if let ExprKind::Call(c) = &e.kind {
            unsafe_fn |= c.func.time_dependent();
        }
    });
    if unsafe_fn {
        return Vec::new();
    }
    let mut e = expr.clone();
    set_at(&mut e, at);
    let times = if at == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * at, 0, at / 5, at, 10 * at]
    };
    times.into_iter().map(|t| (e.clone(), t)).collect()
}

fn set_at(e: &mut Expr, at: i64) {
    match &mut e.kind {
        ExprKind::Selector(s) => {
            s.at.get_or_insert(At::Timestamp(at));
        }
        ExprKind::Matrix(m) => {
            m.selector.at.get_or_insert(At::Timestamp(at));
        }
        ExprKind::Subquery(s) => {
            if s.at.is_none() {
                s.at = Some(At::Timestamp(at));
            }
        }
        ExprKind::Number(_) | ExprKind::String(_) => {}
        ExprKind::Paren(x) | ExprKind::Neg(x) => set_at(x, at),
        ExprKind::Binary(b) => {
            set_at(&mut b.lhs, at);
            set_at(&mut b.rhs, at);
        }
        ExprKind::Aggregate(a) => {
            if let Some(p) = &mut a.param {
                set_at(p, at);
            }
            set_at(&mut a.expr, at);
        }
        ExprKind::Call(c) => c.args.iter_mut().for_each(|x| set_at(x, at)),
    }
}

fn check_annotations(ev: &EvalCmd, a: &Annotations) -> Result<(), String> {
    for (kind, want, got, none) in [
        ("warn", &ev.warn, &a.warnings, ev.no_warn),
        ("info", &ev.info, &a.infos, ev.no_info),
    ] {
        if none && !got.is_empty() {
            return Err(format!("unexpected {kind} annotations: {got:?}"));
        }
        if want.is_empty() {
            continue;
        }
        if got.is_empty() {
            return Err(format!("expected {kind} annotations but none were found"));
        }
        let patterns: Vec<&Expect> = want.iter().filter(|e| !matches!(e, Expect::Any)).collect();
        if patterns.is_empty() {
            continue;
        }
        for p in &patterns {
            if !got.iter().any(|g| matches_expect(p, g)) {
                return Err(format!("expected {kind} annotation {p:?}, found {got:?}"));
            }
        }
        for g in got {
            if !patterns.iter().any(|p| matches_expect(p, g)) {
                return Err(format!("unexpected {kind} annotation {g:?}"));
            }
        }
    }
    Ok(())
}

fn float_eq(want: f64, got: f64) -> bool {
    if is_stale_nan(want) || is_stale_nan(got) {
        return is_stale_nan(want) && is_stale_nan(got);
    }
    almost_equal(want, got, EPSILON)
}

fn want_float(v: &SeqValue) -> Result<Option<f64>, String> {
    match v {
        SeqValue::Float(f) => Ok(Some(*f)),
        SeqValue::Omitted => Ok(None),
        SeqValue::Histogram => Err("native histogram expectations are not supported".into()),
    }
}

/// Compares a result with the expectations; `range` is `(start, step, end)` for matrices.
fn compare(ev: &EvalCmd, got: &QueryValue, range: Option<(i64, i64, i64)>) -> Result<(), String> {
    match got {
        QueryValue::String { v, .. } => match &ev.string {
            Some(want) if want == v => Ok(()),
            want => Err(format!("expected string {want:?}, got {v:?}")),
        },
        QueryValue::Scalar { v, .. } => match &ev.scalar {
            Some(want) => {
                let w = want_float(want)?.ok_or("expected scalar is omitted")?;
                if float_eq(w, *v) {
                    Ok(())
                } else {
                    Err(format!("expected scalar {w}, got {v}"))
                }
            }
            None => Err(format!("expected a vector or matrix, got scalar {v}")),
        },
        QueryValue::Vector(samples) => {
            if ev.scalar.is_some() {
                return Err(format!(
                    "expected a scalar, got a vector of {} samples",
                    samples.len()
                ));
            }
            let mut seen = vec![false; ev.series.len()];
            for (pos, s) in samples.iter().enumerate() {
                let Some(i) = ev.series.iter().position(|e| e.labels == s.labels) else {
                    return Err(format!(
                        "unexpected metric {} in result, has value {}",
                        s.labels, s.v
                    ));
                };
                if ev.ordered && i != pos {
                    return Err(format!(
                        "expected metric {} at position {}, was at {}",
                        s.labels,
                        i + 1,
                        pos + 1
                    ));
                }
                let w = ev.series[i]
                    .values
                    .first()
                    .ok_or("expected series without value")?;
                let w = want_float(w)?.ok_or("expected value is omitted")?;
                if !float_eq(w, s.v) {
                    return Err(format!("expected {w} for {}, got {}", s.labels, s.v));
                }
                seen[i] = true;
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected metric {} not found", ev.series[i].labels));
            }
            Ok(())
        }
        QueryValue::Matrix(series) => {
            if ev.scalar.is_some() {
                return Err("expected a scalar, got a matrix".into());
            }
            if ev.ordered {
                return Err("expected an ordered result, got a matrix".into());
            }
            let Some((start, step, end)) = range else {
                return Err("unexpected matrix result".into());
            };
            compare_matrix(ev, series, start, step, end)
        }
    }
}

fn compare_matrix(
    ev: &EvalCmd,
    series: &[RangeSeries],
    start: i64,
    step: i64,
    end: i64,
) -> Result<(), String> {
    if series.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err("matrix is not sorted by labels".into());
    }
    let mut seen = vec![false; ev.series.len()];
    for s in series {
        let Some(i) = ev.series.iter().position(|e| e.labels == s.labels) else {
            return Err(format!(
                "unexpected metric {} in result, has {:?}",
                s.labels, s.points
            ));
        };
        seen[i] = true;
        let mut want: Vec<(i64, f64)> = Vec::new();
        for (k, v) in ev.series[i].values.iter().enumerate() {
            let t = start + k as i64 * step;
            if t > end {
                return Err(format!(
                    "expected {} points for {}, more than the time range holds",
                    ev.series[i].values.len(),
                    s.labels
                ));
            }
            if let Some(f) = want_float(v)? {
                want.push((t, f));
            }
        }
        if want.len() != s.points.len()
            || want
                .iter()
                .zip(&s.points)
                .any(|(w, g)| w.0 != g.0 || !float_eq(w.1, g.1))
        {
            return Err(format!(
                "expected {want:?} for {}, got {:?}",
                s.labels, s.points
            ));
        }
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(format!("expected metric {} not found", ev.series[i].labels));
    }
    Ok(())
}
