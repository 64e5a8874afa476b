//! Aggregations: `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`,
//! `quantile`, `topk`, `bottomk`, `limitk` and `count_values`, computed per group and step.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::label_sets::LabelSets;
use super::rollups::rollup_drops_name;
use super::{Evaluator, StepSeries, Steps, Value, absent, is_absent};
use crate::ast::{AggOp, AggregateExpr, Call, ExprKind, Pos};
use crate::error::QueryError;
use crate::functions::math::{format_go_float, kahan_inc, quantile};
use crate::functions::{Impl, RollupFn};
use crate::labels::{LabelRef, Labels, METRIC_NAME};
use crate::prefetch::prefetch;

/// Whether label `lb` is one of the output labels of a series' group.
fn in_group(lb: LabelRef<'_>, grouping: &[String], without: bool) -> bool {
    let listed = grouping.iter().any(|g| g == lb.name);
    if without {
        lb.name != METRIC_NAME && !listed
    } else {
        listed
    }
}

/// The output labels of the group a series belongs to.
fn group_labels(l: &Labels, grouping: &[String], without: bool) -> Labels {
    l.filtered(|lb| in_group(lb, grouping, without))
}

/// Per group and step running state.
#[derive(Clone, Copy, Default)]
struct Acc {
    seen: bool,
    incremental: bool,
    value: f64,
    c: f64,
    mean: f64,
    count: f64,
}

impl Evaluator<'_> {
    pub(super) fn eval_aggregate(
        &self,
        a: &AggregateExpr,
        pos: Pos,
        st: Steps,
    ) -> Result<Value, QueryError> {
        let _ = pos;
        if a.op == AggOp::CountValues {
            let label = match a.param.as_ref().map(|p| &p.unparen().kind) {
                Some(ExprKind::String(s)) => s.clone(),
                _ => panic!("invariant broken: count_values without a string parameter"),
            };
            if label.is_empty() {
                return Err(QueryError::exec(format!("invalid label name {label:?}")));
            }
            let input = self.eval_vector(&a.expr, st)?;
            return Ok(Value::Vector(count_values(
                &input,
                &label,
                &a.grouping,
                a.without,
                st,
            )));
        }
        let param = match &a.param {
            Some(p) => Some(self.eval_scalar(p, st)?),
            None => None,
        };
        if let Some((call, f)) = fusable_rollup(a) {
            // `sum by (...) (rate(...))` and kin: fold each rollup result into its group as it
            // is computed, in the same order as over the evaluated vector, without keeping a
            // step buffer per series.
            self.sh.check_deadline("expression evaluation")?;
            let drop_name = rollup_drops_name(call);
            let mut fold = Fold::new(a.op, st, &a.grouping, a.without);
            self.rollup_each(call, f, st, &mut |labels, values| {
                fold.add(&labels, &values, drop_name);
                values
            })?;
            self.sh.alloc_series(fold.groups(), st.n)?;
            return Ok(Value::Vector(fold.finish()));
        }
        let input = self.eval_vector(&a.expr, st)?;
        if !matches!(
            a.op,
            AggOp::Topk | AggOp::Bottomk | AggOp::Limitk | AggOp::Quantile
        ) {
            let mut fold = Fold::new(a.op, st, &a.grouping, a.without);
            for (i, s) in input.iter().enumerate() {
                if let Some(next) = input.get(i + 1) {
                    prefetch(next.labels.encoded().as_bytes());
                    prefetch(&next.values);
                }
                fold.add(&s.labels, &s.values, s.drop_name);
            }
            self.sh.alloc_series(fold.groups(), st.n)?;
            return Ok(Value::Vector(fold.finish()));
        }
        let mut sets = LabelSets::default();
        let keep = |lb: LabelRef<'_>| in_group(lb, &a.grouping, a.without);
        let member: Vec<usize> = input.iter().map(|s| sets.id(&s.labels, keep).0).collect();
        let groups = sets.sets;
        match a.op {
            AggOp::Topk | AggOp::Bottomk | AggOp::Limitk => {
                let k = param.unwrap_or_default();
                if k.iter().any(|v| v.is_nan()) {
                    return Err(QueryError::exec("Parameter value is NaN"));
                }
                if k.iter().all(|v| *v < 1.0) {
                    return Ok(Value::Vector(Vec::new()));
                }
                if let Some(v) = k.iter().find(|v| **v <= i64::MIN as f64) {
                    return Err(QueryError::exec(format!(
                        "Scalar value {} underflows int64",
                        format_go_float(*v)
                    )));
                }
                if let Some(v) = k.iter().find(|v| **v >= 9_223_372_036_854_774_784.0) {
                    return Err(QueryError::exec(format!(
                        "Scalar value {} overflows int64",
                        format_go_float(*v)
                    )));
                }
                Ok(Value::Vector(select_k(
                    a.op,
                    &input,
                    &member,
                    groups.len(),
                    &k,
                    st,
                )))
            }
            AggOp::Quantile => {
                let q = param.unwrap_or_default();
                if let Some(p) = &a.param {
                    let w = |v: f64| {
                        format!(
                            "PromQL warning: quantile value should be between 0 and 1, got {}{}",
                            format_go_float(v),
                            self.sh.pos(p.pos)
                        )
                    };
                    if q.iter().any(|v| v.is_nan()) {
                        self.sh.warn(w(f64::NAN));
                    }
                    if let Some(m) = q.iter().copied().filter(|v| *v > 1.0).reduce(f64::max) {
                        self.sh.warn(w(m));
                    }
                    if let Some(m) = q.iter().copied().filter(|v| *v < 0.0).reduce(f64::min) {
                        self.sh.warn(w(m));
                    }
                }
                Ok(Value::Vector(quantiles(&input, &member, groups, &q, st)))
            }
            _ => panic!(
                "invariant broken: aggregation {:?} reached the k/quantile branch",
                a.op
            ),
        }
    }
}

/// The rollup call an aggregation can fold as it is computed: a `sum`, `avg`, `count`, `min`,
/// `max`, `group`, `stddev` or `stdvar` directly over a rollup (but `absent_over_time`, whose
/// result is not one series per input).
fn fusable_rollup(a: &AggregateExpr) -> Option<(&Call, RollupFn)> {
    if !matches!(
        a.op,
        AggOp::Sum
            | AggOp::Avg
            | AggOp::Count
            | AggOp::Min
            | AggOp::Max
            | AggOp::Group
            | AggOp::Stddev
            | AggOp::Stdvar
    ) {
        return None;
    }
    match &a.expr.unparen().kind {
        ExprKind::Call(c) => match c.func.imp {
            Impl::Rollup(f) if c.func.name != "absent_over_time" => Some((c, f)),
            _ => None,
        },
        _ => None,
    }
}

/// `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar` with Prometheus's numerics,
/// fed one series at a time: per group and step running state, groups numbered in order of
/// their first series.
struct Fold<'g> {
    op: AggOp,
    n: usize,
    grouping: &'g [String],
    without: bool,
    sets: LabelSets,
    /// One row of `n` accumulators per group (rows of their own: the group count is not known
    /// up front, and growing one flat buffer would copy it over and over).
    acc: Vec<Vec<Acc>>,
    drop: Vec<bool>,
}

impl<'g> Fold<'g> {
    fn new(op: AggOp, st: Steps, grouping: &'g [String], without: bool) -> Self {
        Fold {
            op,
            n: st.n,
            grouping,
            without,
            sets: LabelSets::default(),
            acc: Vec::new(),
            drop: Vec::new(),
        }
    }

    /// Number of groups so far.
    fn groups(&self) -> usize {
        self.sets.len()
    }

    /// Adds one series (one value per step, [`absent()`] where it has no point).
    fn add(&mut self, labels: &Labels, values: &[f64], drop_name: bool) {
        let (grouping, without, op, n) = (self.grouping, self.without, self.op, self.n);
        let (g, new) = self.sets.id(labels, |lb| in_group(lb, grouping, without));
        if new {
            self.acc.push(vec![Acc::default(); n]);
            self.drop.push(false);
        }
        self.drop[g] |= drop_name;
        let row = &mut self.acc[g][..];
        let first = |f: f64| {
            let mut a = Acc {
                seen: true,
                value: f,
                mean: f,
                count: 1.0,
                ..Acc::default()
            };
            if matches!(op, AggOp::Stddev | AggOp::Stdvar) {
                a.value = if f.is_nan() || f.is_infinite() {
                    f64::NAN
                } else {
                    0.0
                };
            }
            if op == AggOp::Group {
                a.value = 1.0;
            }
            a
        };
        match op {
            AggOp::Sum => accumulate(row, values, first, |a, f| {
                (a.value, a.c) = kahan_inc(f, a.value, a.c);
            }),
            AggOp::Avg => accumulate(row, values, first, |a, f| {
                a.count += 1.0;
                if !a.incremental {
                    let (nv, nc) = kahan_inc(f, a.value, a.c);
                    if !nv.is_infinite() {
                        a.value = nv;
                        a.c = nc;
                        return;
                    }
                    a.incremental = true;
                    a.mean = a.value / (a.count - 1.0);
                    a.c /= a.count - 1.0;
                }
                let q = (a.count - 1.0) / a.count;
                (a.mean, a.c) = kahan_inc(f / a.count, q * a.mean, q * a.c);
            }),
            AggOp::Count => accumulate(row, values, first, |a, _| {
                a.count += 1.0;
            }),
            AggOp::Max => accumulate(row, values, first, |a, f| {
                if a.value < f || a.value.is_nan() {
                    a.value = f;
                }
            }),
            AggOp::Min => accumulate(row, values, first, |a, f| {
                if a.value > f || a.value.is_nan() {
                    a.value = f;
                }
            }),
            AggOp::Stddev | AggOp::Stdvar => accumulate(row, values, first, |a, f| {
                a.count += 1.0;
                let delta = f - a.mean;
                a.mean += delta / a.count;
                a.value += delta * (f - a.mean);
            }),
            _ => accumulate(row, values, first, |_, _| {}),
        }
    }

    /// The groups with a point, in order of their first series.
    fn finish(self) -> Vec<StepSeries> {
        let op = self.op;
        let mut out = Vec::with_capacity(self.sets.len());
        for (g, labels) in self.sets.sets.into_iter().enumerate() {
            let values: Vec<f64> = self.acc[g]
                .iter()
                .map(|a| {
                    if !a.seen {
                        return absent();
                    }
                    match op {
                        AggOp::Sum => a.value + a.c,
                        AggOp::Avg if a.incremental => a.mean + a.c,
                        AggOp::Avg => a.value / a.count + a.c / a.count,
                        AggOp::Count => a.count,
                        AggOp::Stdvar => a.value / a.count,
                        AggOp::Stddev => (a.value / a.count).sqrt(),
                        _ => a.value,
                    }
                })
                .collect();
            out.push(StepSeries {
                labels,
                values,
                drop_name: self.drop[g],
            });
        }
        out.retain(|s| !s.is_empty());
        out
    }
}

/// Folds one series into its group's row of accumulators: `first` starts a step's accumulator
/// from its first value, `add` adds the next ones. Generic so that each aggregation gets its own
/// loop with the operation inlined.
#[inline]
fn accumulate(
    row: &mut [Acc],
    values: &[f64],
    first: impl Fn(f64) -> Acc,
    add: impl Fn(&mut Acc, f64),
) {
    for (a, &f) in row.iter_mut().zip(values) {
        if is_absent(f) {
            continue;
        }
        if a.seen {
            add(a, f);
        } else {
            *a = first(f);
        }
    }
}

fn quantiles(
    input: &[StepSeries],
    member: &[usize],
    groups: Vec<Labels>,
    q: &[f64],
    st: Steps,
) -> Vec<StepSeries> {
    let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
    for (si, &g) in member.iter().enumerate() {
        by_group[g].push(si);
    }
    let mut buf = Vec::new();
    let mut out = Vec::with_capacity(groups.len());
    for (labels, members) in groups.into_iter().zip(by_group) {
        let drop_name = members.iter().any(|&si| input[si].drop_name);
        let values = (0..st.n)
            .map(|i| {
                buf.clear();
                buf.extend(
                    members
                        .iter()
                        .map(|&si| input[si].values[i])
                        .filter(|v| !is_absent(*v)),
                );
                if buf.is_empty() {
                    absent()
                } else {
                    quantile(q[i], &mut buf)
                }
            })
            .collect();
        out.push(StepSeries {
            labels,
            values,
            drop_name,
        });
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `topk`/`bottomk`/`limitk`: per group and step, the `k` best (or first) series keep their
/// own labels and get a point at that step.
fn select_k(
    op: AggOp,
    input: &[StepSeries],
    member: &[usize],
    ngroups: usize,
    k: &[f64],
    st: Steps,
) -> Vec<StepSeries> {
    let mut out: Vec<StepSeries> = Vec::new();
    let mut out_index: HashMap<usize, usize> = HashMap::new();
    let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); ngroups];
    for (si, &g) in member.iter().enumerate() {
        by_group[g].push(si);
    }
    let mut cand: Vec<usize> = Vec::new();
    for (i, &ki) in k.iter().enumerate().take(st.n) {
        let kk = (ki as i64).min(input.len() as i64);
        if kk < 1 {
            continue;
        }
        for members in &by_group {
            cand.clear();
            cand.extend(
                members
                    .iter()
                    .copied()
                    .filter(|&si| !is_absent(input[si].values[i])),
            );
            let val = |si: usize| input[si].values[i];
            match op {
                AggOp::Topk => cand.sort_by(|&a, &b| desc_nan_last(val(a), val(b))),
                AggOp::Bottomk => cand.sort_by(|&a, &b| asc_nan_last(val(a), val(b))),
                _ => {}
            }
            for &si in cand.iter().take(kk as usize) {
                let oi = *out_index.entry(si).or_insert_with(|| {
                    out.push(StepSeries {
                        labels: input[si].labels.clone(),
                        values: vec![absent(); st.n],
                        drop_name: input[si].drop_name,
                    });
                    out.len() - 1
                });
                out[oi].values[i] = input[si].values[i];
            }
        }
    }
    out
}

fn desc_nan_last(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

fn asc_nan_last(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// `count_values("label", v)`: one output series per distinct value (and group).
fn count_values(
    input: &[StepSeries],
    label: &str,
    grouping: &[String],
    without: bool,
    st: Steps,
) -> Vec<StepSeries> {
    let mut grouping = grouping.to_vec();
    if !without {
        grouping.push(label.to_string());
    }
    let mut out: Vec<StepSeries> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for i in 0..st.n {
        for s in input {
            let v = s.values[i];
            if is_absent(v) {
                continue;
            }
            let mut l = s.labels.clone();
            l.set(label, &format_go_float(v));
            let key = group_labels(&l, &grouping, without);
            let oi = *index.entry(key.clone()).or_insert_with(|| {
                out.push(StepSeries {
                    labels: key,
                    values: vec![absent(); st.n],
                    drop_name: false,
                });
                out.len() - 1
            });
            let slot = &mut out[oi].values[i];
            *slot = if is_absent(*slot) { 1.0 } else { *slot + 1.0 };
        }
    }
    out
}
