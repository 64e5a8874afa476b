//! Binary operators: scalar/scalar, vector/scalar, vector matching with `on`/`ignoring` and
//! `group_left`/`group_right`, set operators, and MetricsQL's `default`, `if`, `ifnot`.

use rustc_hash::FxHashMap;

use super::label_sets::LabelSets;
use super::{Evaluator, StepSeries, Steps, Value, absent, is_absent, merge_same_labels};
use crate::ast::{BinOp, BinaryExpr, Card, VectorMatching};
use crate::error::QueryError;
use crate::labels::{LabelRef, Labels, METRIC_NAME};

/// `op` on two numbers: `(value, keep)`. Comparisons keep the left value when true.
#[inline]
fn apply(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (go_mod(l, r), true),
        BinOp::Pow => (go_pow(l, r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless | BinOp::Default | BinOp::If | BinOp::IfNot => {
            (l, true)
        }
    }
}

/// Go's `math.Mod`: result has the sign of `x`; NaN for y = 0 or infinite x.
fn go_mod(x: f64, y: f64) -> f64 {
    if y == 0.0 || x.is_infinite() || x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    x % y
}

/// Go's `math.Pow` special cases that differ from `powf`: `Pow(1, NaN)` and `Pow(-1, ±Inf)`.
fn go_pow(x: f64, y: f64) -> f64 {
    if y == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 1.0;
    }
    if y.is_nan() || x.is_nan() {
        return f64::NAN;
    }
    if x == -1.0 && y.is_infinite() {
        return 1.0;
    }
    x.powf(y)
}

/// Whether label `lb` is part of a series' join signature under `m`.
fn in_signature(lb: LabelRef<'_>, m: &VectorMatching) -> bool {
    let listed = m.labels.iter().any(|l| l == lb.name);
    if m.on {
        listed
    } else {
        lb.name != METRIC_NAME && !listed
    }
}

impl Evaluator<'_> {
    pub(super) fn eval_binary(&self, b: &BinaryExpr, st: Steps) -> Result<Value, QueryError> {
        let lhs = self.eval(&b.lhs, st)?;
        let rhs = self.eval(&b.rhs, st)?;
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => Ok(Value::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&x, &y)| {
                        let (v, keep) = apply(b.op, x, y);
                        if b.op.is_comparison() {
                            if keep { 1.0 } else { 0.0 }
                        } else {
                            v
                        }
                    })
                    .collect(),
            )),
            (Value::Vector(v), Value::Scalar(s)) => {
                Ok(Value::Vector(vector_scalar(b, v, &s, false)))
            }
            (Value::Scalar(s), Value::Vector(v)) => {
                Ok(Value::Vector(vector_scalar(b, v, &s, true)))
            }
            (Value::Vector(l), Value::Vector(r)) => {
                let Some(m) = &b.matching else {
                    panic!("invariant broken: vector operation without matching")
                };
                let out = match b.op {
                    BinOp::And | BinOp::If => filter_by_presence(l, &r, m, st, true),
                    BinOp::Unless | BinOp::IfNot => filter_by_presence(l, &r, m, st, false),
                    BinOp::Or => {
                        let mut out = l;
                        let r = filter_by_presence(r, &out, m, st, false);
                        out.extend(r);
                        merge_same_labels(out)?
                    }
                    BinOp::Default => default_vectors(l, r, m, st),
                    _ => self.vector_binop(b, m, l, r, st)?,
                };
                Ok(Value::Vector(out))
            }
            _ => panic!(
                "invariant broken: parser let a non-scalar, non-vector operand reach a binary operator"
            ),
        }
    }

    /// Arithmetic and comparisons between two vectors with one-to-one, many-to-one or
    /// one-to-many matching, checked step by step as Prometheus does.
    fn vector_binop(
        &self,
        b: &BinaryExpr,
        m: &VectorMatching,
        lhs: Vec<StepSeries>,
        rhs: Vec<StepSeries>,
        st: Steps,
    ) -> Result<Vec<StepSeries>, QueryError> {
        let swap = m.card == Card::OneToMany;
        let (mut many, one) = if swap { (rhs, lhs) } else { (lhs, rhs) };
        let keep = |lb: LabelRef<'_>| in_signature(lb, m);
        let mut sigs = LabelSets::with_capacity(one.len());
        let one_sig: Vec<usize> = one.iter().map(|s| sigs.id(&s.labels, keep).0).collect();
        // The "one" side's series per signature, as one flat list: members of signature `g`
        // are `one_members[one_start[g]..one_start[g + 1]]`, in input order.
        let mut one_start = vec![0usize; sigs.len() + 1];
        for &g in &one_sig {
            one_start[g + 1] += 1;
        }
        for g in 0..sigs.len() {
            one_start[g + 1] += one_start[g];
        }
        let mut fill = one_start.clone();
        let mut one_members = vec![0usize; one.len()];
        for (i, &g) in one_sig.iter().enumerate() {
            one_members[fill[g]] = i;
            fill[g] += 1;
        }
        // The "one" side must hold at most one series per signature at every step.
        for (g, sig) in sigs.sets.iter().enumerate() {
            let members = &one_members[one_start[g]..one_start[g + 1]];
            if members.len() < 2 {
                continue;
            }
            for i in 0..st.n {
                let present: Vec<&StepSeries> = members
                    .iter()
                    .map(|&j| &one[j])
                    .filter(|s| !is_absent(s.values[i]))
                    .collect();
                if present.len() > 1 {
                    let mut pair = [present[0].labels.clone(), present[1].labels.clone()];
                    pair.sort();
                    return Err(QueryError::exec(format!(
                        "found duplicate series for the match group {sig} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        if swap { "left" } else { "right" },
                        pair[0],
                        pair[1]
                    )));
                }
            }
        }
        let mut out: Vec<StepSeries> = Vec::new();
        let mut out_index: FxHashMap<Labels, usize> =
            FxHashMap::with_capacity_and_hasher(many.len(), Default::default());
        // One-to-one: which "many" series matched each signature at each step.
        let mut owner: Vec<u32> = if m.card == Card::OneToOne {
            vec![0; sigs.len() * st.n]
        } else {
            Vec::new()
        };
        if m.card == Card::OneToOne {
            for (li, ls) in many.iter_mut().enumerate() {
                let Some(so) = sigs.get(&ls.labels, keep) else {
                    continue;
                };
                let cands = &one_members[one_start[so]..one_start[so + 1]];
                one_to_one_series(
                    b,
                    st,
                    li,
                    ls,
                    &one,
                    cands,
                    &mut owner[so * st.n..(so + 1) * st.n],
                    &mut out,
                    &mut out_index,
                    m,
                )?;
            }
            out.retain(|s| !s.is_empty());
            self.sh.alloc_series(out.len(), st.n)?;
            return Ok(out);
        }
        // Many-to-one: output labels produced per signature and step.
        let mut grouped: FxHashMap<(usize, usize), Vec<usize>> = FxHashMap::default();
        for (li, ls) in many.iter().enumerate() {
            let Some(so) = sigs.get(&ls.labels, keep) else {
                continue;
            };
            let cands = &one_members[one_start[so]..one_start[so + 1]];
            // (one-side series, output index) of the previous step, reused while unchanged.
            let mut last: Option<(usize, usize)> = None;
            for i in 0..st.n {
                let lv = ls.values[i];
                if is_absent(lv) {
                    continue;
                }
                let Some(&ri) = cands.iter().find(|&&j| !is_absent(one[j].values[i])) else {
                    continue;
                };
                let rv = one[ri].values[i];
                let (fl, fr) = if swap { (rv, lv) } else { (lv, rv) };
                let (mut value, keep) = apply(b.op, fl, fr);
                if b.return_bool {
                    value = if keep { 1.0 } else { 0.0 };
                }
                let oi = match last {
                    Some((r, oi)) if r == ri => oi,
                    _ => {
                        let labels = result_labels(&ls.labels, &one[ri].labels, b.op, m);
                        let oi = match out_index.get(&labels) {
                            Some(&oi) => oi,
                            None => {
                                out_index.insert(labels.clone(), out.len());
                                out.push(StepSeries {
                                    labels,
                                    values: vec![absent(); st.n],
                                    drop_name: b.return_bool,
                                });
                                out.len() - 1
                            }
                        };
                        last = Some((ri, oi));
                        oi
                    }
                };
                if m.card == Card::OneToOne {
                    let o = &mut owner[so * st.n + i];
                    if *o != 0 {
                        return Err(QueryError::exec(
                            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                        ));
                    }
                    *o = li as u32 + 1;
                } else {
                    let seen = grouped.entry((so, i)).or_default();
                    if seen.contains(&oi) {
                        return Err(QueryError::exec(
                            "multiple matches for labels: grouping labels must ensure unique matches",
                        ));
                    }
                    seen.push(oi);
                }
                if !keep && !b.return_bool {
                    continue;
                }
                let slot = &mut out[oi].values[i];
                if !is_absent(*slot) {
                    return Err(QueryError::exec(
                        "vector cannot contain metrics with the same labelset",
                    ));
                }
                *slot = value;
            }
        }
        out.retain(|s| !s.is_empty());
        self.sh.alloc_series(out.len(), st.n)?;
        Ok(out)
    }
}

/// One "many" series of a one-to-one operation at every step (the general loop of
/// [`Evaluator::vector_binop`] specialised: one output label set per series, and the series'
/// own values buffer becomes the output's unless an earlier series has the same output labels).
#[expect(
    clippy::too_many_arguments,
    reason = "the state of the general loop, passed explicitly to keep the borrows apart"
)]
fn one_to_one_series(
    b: &BinaryExpr,
    st: Steps,
    li: usize,
    ls: &mut StepSeries,
    one: &[StepSeries],
    cands: &[usize],
    owner: &mut [u32],
    out: &mut Vec<StepSeries>,
    out_index: &mut FxHashMap<Labels, usize>,
    m: &VectorMatching,
) -> Result<(), QueryError> {
    let swap = m.card == Card::OneToMany;
    // The output entry, created at the first matched step as the general loop does.
    let mut target: Option<usize> = None;
    let mut labels: Option<Labels> = None;
    let mut own = std::mem::take(&mut ls.values);
    let mut own_used = false;
    for i in 0..st.n {
        let lv = own[i];
        own[i] = absent();
        if is_absent(lv) {
            continue;
        }
        let Some(&ri) = cands.iter().find(|&&j| !is_absent(one[j].values[i])) else {
            continue;
        };
        let rv = one[ri].values[i];
        let (fl, fr) = if swap { (rv, lv) } else { (lv, rv) };
        let (mut value, keep) = apply(b.op, fl, fr);
        if b.return_bool {
            value = if keep { 1.0 } else { 0.0 };
        }
        if target.is_none() && !own_used {
            let l = result_labels(&ls.labels, &one[ri].labels, b.op, m);
            match out_index.get(&l) {
                Some(&oi) => target = Some(oi),
                None => own_used = true,
            }
            labels = Some(l);
        }
        let o = &mut owner[i];
        if *o != 0 {
            return Err(QueryError::exec(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            ));
        }
        *o = li as u32 + 1;
        if !keep && !b.return_bool {
            continue;
        }
        // Steps before `i` of `own` are already rewritten, so writing step `i` is safe.
        let slot = match target {
            Some(oi) => &mut out[oi].values[i],
            None => &mut own[i],
        };
        if !is_absent(*slot) {
            return Err(QueryError::exec(
                "vector cannot contain metrics with the same labelset",
            ));
        }
        *slot = value;
    }
    if own_used && let Some(labels) = labels {
        out_index.insert(labels.clone(), out.len());
        out.push(StepSeries {
            labels,
            values: own,
            drop_name: b.return_bool,
        });
    }
    Ok(())
}

/// Labels of a vector/vector result: the "many" side's labels, without the name for
/// arithmetic, restricted by one-to-one matching, plus `group_x(...)` labels from the "one" side.
fn result_labels(many: &Labels, one: &Labels, op: BinOp, m: &VectorMatching) -> Labels {
    // One copy of the kept labels, instead of a clone changed step by step.
    let mut l = many.filtered(|lb| {
        !(op.is_arithmetic() && lb.name == METRIC_NAME)
            && (m.card != Card::OneToOne || m.on == m.labels.iter().any(|l| l == lb.name))
    });
    for name in &m.include {
        l.set(name, one.get(name));
    }
    l
}

fn vector_scalar(
    b: &BinaryExpr,
    mut v: Vec<StepSeries>,
    s: &[f64],
    scalar_left: bool,
) -> Vec<StepSeries> {
    match b.op {
        BinOp::Default => {
            for series in &mut v {
                for (x, &d) in series.values.iter_mut().zip(s) {
                    if is_absent(*x) {
                        *x = d;
                    }
                }
            }
            return v;
        }
        BinOp::If | BinOp::IfNot => {
            let keep_if_nan = b.op == BinOp::IfNot;
            for series in &mut v {
                for (x, &d) in series.values.iter_mut().zip(s) {
                    if d.is_nan() != keep_if_nan {
                        *x = absent();
                    }
                }
            }
            v.retain(|x| !x.is_empty());
            return v;
        }
        _ => {}
    }
    let drops = b.op.is_arithmetic() || b.return_bool;
    for series in &mut v {
        if drops {
            series.drop_name = true;
        }
        for (x, &sv) in series.values.iter_mut().zip(s) {
            if is_absent(*x) {
                continue;
            }
            let (l, r) = if scalar_left { (sv, *x) } else { (*x, sv) };
            let (mut value, keep) = apply(b.op, l, r);
            if b.op.is_comparison() && scalar_left {
                value = *x;
            }
            *x = if b.return_bool {
                if keep { 1.0 } else { 0.0 }
            } else if keep {
                value
            } else {
                absent()
            };
        }
    }
    v.retain(|x| !x.is_empty());
    v
}

/// `and`/`if` (keep where a matching series is present) and `unless`/`ifnot` (keep where none
/// is), step by step.
fn filter_by_presence(
    mut l: Vec<StepSeries>,
    r: &[StepSeries],
    m: &VectorMatching,
    st: Steps,
    keep_present: bool,
) -> Vec<StepSeries> {
    let keep = |lb: LabelRef<'_>| in_signature(lb, m);
    let mut sigs = LabelSets::default();
    // present[g * n + i]: some right series of signature g has a point at step i.
    let mut present: Vec<bool> = Vec::new();
    for s in r {
        let (g, new) = sigs.id(&s.labels, keep);
        if new {
            present.resize((g + 1) * st.n, false);
        }
        let p = &mut present[g * st.n..(g + 1) * st.n];
        for (flag, v) in p.iter_mut().zip(&s.values) {
            *flag |= !is_absent(*v);
        }
    }
    for s in &mut l {
        let p = sigs
            .get(&s.labels, keep)
            .map(|g| &present[g * st.n..(g + 1) * st.n]);
        for (i, x) in s.values.iter_mut().enumerate() {
            let has = p.is_some_and(|p| p[i]);
            if has != keep_present {
                *x = absent();
            }
        }
    }
    l.retain(|s| !s.is_empty());
    l
}

/// MetricsQL `default` between vectors: gaps of each left series are filled from the right
/// series with the same signature; with no left series at all, the right side is returned.
fn default_vectors(
    mut l: Vec<StepSeries>,
    r: Vec<StepSeries>,
    m: &VectorMatching,
    st: Steps,
) -> Vec<StepSeries> {
    if l.is_empty() {
        return r;
    }
    let keep = |lb: LabelRef<'_>| in_signature(lb, m);
    let mut sigs = LabelSets::default();
    let mut by_sig: Vec<Vec<usize>> = Vec::new();
    for (i, s) in r.iter().enumerate() {
        let (g, new) = sigs.id(&s.labels, keep);
        if new {
            by_sig.push(Vec::new());
        }
        by_sig[g].push(i);
    }
    for s in &mut l {
        let Some(cands) = sigs.get(&s.labels, keep).map(|g| &by_sig[g]) else {
            continue;
        };
        for i in 0..st.n {
            if is_absent(s.values[i])
                && let Some(&j) = cands.iter().find(|&&j| !is_absent(r[j].values[i]))
            {
                s.values[i] = r[j].values[i];
            }
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_numerics() {
        assert!(go_mod(1.0, 0.0).is_nan());
        assert_eq!(go_mod(-7.0, 3.0), -1.0);
        assert_eq!(go_pow(1.0, f64::NAN), 1.0);
        assert_eq!(go_pow(f64::NAN, 0.0), 1.0);
        assert_eq!(go_pow(2.0, 10.0), 1024.0);
    }

    #[test]
    fn comparisons_keep_left_value() {
        assert_eq!(apply(BinOp::Gt, 3.0, 1.0), (3.0, true));
        assert_eq!(apply(BinOp::Lt, 3.0, 1.0), (3.0, false));
        assert!(!apply(BinOp::Eq, f64::NAN, f64::NAN).1);
    }
}
