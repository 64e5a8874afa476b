//! Function calls other than rollups: element-wise math, clamping, label manipulation,
//! sorting, `absent`, `scalar`, `vector`, `time`, calendar functions and classic
//! `histogram_quantile`.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{Evaluator, StepSeries, Steps, Value, absent, is_absent, merge_same_labels};
use crate::ast::{Call, Expr, ExprKind, Pos};
use crate::error::QueryError;
use crate::functions::Impl;
use crate::functions::histogram::{Bucket, bucket_fraction, bucket_quantile};
use crate::functions::math::{format_go_float, go_max, go_min, parse_go_float};
use crate::functions::time::{DatePart, date_part};
use crate::labels::{LabelMatcher, Labels, METRIC_NAME, MatchKind, compile_anchored};

/// Labels of the `absent` result: the equality matchers other than the name, dropping labels
/// constrained more than once.
pub(crate) fn absent_labels(matchers: &[LabelMatcher]) -> Labels {
    let mut seen: HashMap<&str, bool> = HashMap::new();
    let mut out = Labels::empty();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.kind == MatchKind::Eq && !seen.contains_key(m.name.as_str()) {
            out.set(&m.name, &m.value);
        } else {
            out.remove(&m.name);
        }
        seen.insert(&m.name, true);
    }
    out
}

fn string_arg(e: &Expr) -> String {
    match &e.unparen().kind {
        ExprKind::String(s) => s.clone(),
        _ => panic!("invariant broken: parser let a non-string argument through"),
    }
}

/// Maps the present values of every series, dropping the name.
fn map_values(
    mut v: Vec<StepSeries>,
    keep_name: bool,
    mut f: impl FnMut(usize, f64) -> f64,
) -> Vec<StepSeries> {
    for s in &mut v {
        s.drop_name |= !keep_name;
        for (i, x) in s.values.iter_mut().enumerate() {
            if !is_absent(*x) {
                *x = f(i, *x);
            }
        }
    }
    v.retain(|s| !s.is_empty());
    v
}

/// Natural ordering of label values ("a2" < "a10"), as Prometheus's `sort_by_label`.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() && !b.is_empty() {
        if a[0].is_ascii_digit() && b[0].is_ascii_digit() {
            let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
            let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let (na, nb) = (
                std::str::from_utf8(&a[..da])
                    .unwrap_or("0")
                    .trim_start_matches('0'),
                std::str::from_utf8(&b[..db])
                    .unwrap_or("0")
                    .trim_start_matches('0'),
            );
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
            a = &a[da..];
            b = &b[db..];
        } else {
            let o = a[0].cmp(&b[0]);
            if o != Ordering::Equal {
                return o;
            }
            a = &a[1..];
            b = &b[1..];
        }
    }
    a.len().cmp(&b.len())
}

impl Evaluator<'_> {
    pub(super) fn eval_call(&self, c: &Call, pos: Pos, st: Steps) -> Result<Value, QueryError> {
        let name = c.func.name;
        let keep = c.keep_metric_names;
        match c.func.imp {
            Impl::Rollup(f) => return Ok(Value::Vector(self.eval_rollup(c, f, pos, st)?)),
            Impl::Simple(f) => {
                let v = self.eval_vector(&c.args[0], st)?;
                return Ok(Value::Vector(map_values(v, keep, |_, x| f(x))));
            }
            Impl::Special => {}
        }
        let arg_vec = |i: usize| self.eval_vector(&c.args[i], st);
        let arg_scalar = |i: usize| self.eval_scalar(&c.args[i], st);
        Ok(match name {
            "time" => Value::Scalar((0..st.n).map(|i| st.ts(i) as f64 / 1000.0).collect()),
            "pi" => Value::Scalar(vec![std::f64::consts::PI; st.n]),
            "vector" => {
                let v = arg_scalar(0)?;
                Value::Vector(vec![StepSeries {
                    labels: Labels::empty(),
                    values: v,
                    drop_name: false,
                }])
            }
            "scalar" => {
                let v = arg_vec(0)?;
                let mut out = vec![f64::NAN; st.n];
                let mut count = vec![0u32; st.n];
                for s in &v {
                    for (i, x) in s.values.iter().enumerate() {
                        if !is_absent(*x) {
                            count[i] += 1;
                            out[i] = if count[i] == 1 { *x } else { f64::NAN };
                        }
                    }
                }
                Value::Scalar(out)
            }
            "absent" => {
                let v = arg_vec(0)?;
                let mut values = vec![1.0; st.n];
                for s in &v {
                    for (o, x) in values.iter_mut().zip(&s.values) {
                        if !is_absent(*x) {
                            *o = absent();
                        }
                    }
                }
                if values.iter().all(|x| is_absent(*x)) {
                    Value::Vector(Vec::new())
                } else {
                    let labels = match &c.args[0].unparen().kind {
                        ExprKind::Selector(s) => absent_labels(&s.matchers),
                        _ => Labels::empty(),
                    };
                    Value::Vector(vec![StepSeries {
                        labels,
                        values,
                        drop_name: true,
                    }])
                }
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let v = arg_vec(0)?;
                let (lo, hi) = match name {
                    "clamp" => (arg_scalar(1)?, arg_scalar(2)?),
                    "clamp_min" => (arg_scalar(1)?, vec![f64::INFINITY; st.n]),
                    _ => (vec![f64::NEG_INFINITY; st.n], arg_scalar(1)?),
                };
                Value::Vector(map_values(v, keep, |i, x| {
                    if hi[i] < lo[i] {
                        absent()
                    } else {
                        go_max(lo[i], go_min(hi[i], x))
                    }
                }))
            }
            "round" => {
                let v = arg_vec(0)?;
                let to = if c.args.len() > 1 {
                    arg_scalar(1)?
                } else {
                    vec![1.0; st.n]
                };
                Value::Vector(map_values(v, keep, |i, x| {
                    let inv = 1.0 / to[i];
                    (x * inv + 0.5).floor() / inv
                }))
            }
            "timestamp" => {
                let arg = c.args[0].unparen();
                let v = match &arg.kind {
                    ExprKind::Selector(sel) => self.eval_selector(sel, st, true)?,
                    _ => map_values(self.eval_vector(arg, st)?, true, |i, _| {
                        st.ts(i) as f64 / 1000.0
                    }),
                };
                Value::Vector(map_values(v, keep, |_, x| x))
            }
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
                let mut v = arg_vec(0)?;
                if self.sh.range_query {
                    self.sh.warn(format!("PromQL warning: sort is ineffective for range queries since results are always ordered by labels{}", self.sh.pos(pos)));
                } else {
                    let labels: Vec<String> = c.args[1..].iter().map(string_arg).collect();
                    sort_instant(&mut v, name, &labels);
                }
                Value::Vector(v)
            }
            "label_replace" => Value::Vector(self.label_replace(c, st)?),
            "label_join" | "label_set" | "label_del" | "label_keep" | "label_copy"
            | "label_move" => {
                let v = arg_vec(0)?;
                let args: Vec<String> = c.args[1..].iter().map(string_arg).collect();
                Value::Vector(relabel(v, name, &args)?)
            }
            "histogram_quantile" | "histogram_fraction" => Value::Vector(self.histogram(c, st)?),
            "histogram_avg" | "histogram_count" | "histogram_sum" | "histogram_stddev"
            | "histogram_stdvar" => {
                // Native histograms only: float samples are ignored, as in Prometheus.
                arg_vec(0)?;
                Value::Vector(Vec::new())
            }
            _ => match DatePart::from_function(name) {
                Some(part) => {
                    if c.args.is_empty() {
                        let values = (0..st.n)
                            .map(|i| date_part((st.ts(i) / 1000) as f64, part))
                            .collect();
                        Value::Vector(vec![StepSeries {
                            labels: Labels::empty(),
                            values,
                            drop_name: false,
                        }])
                    } else {
                        Value::Vector(map_values(arg_vec(0)?, keep, |_, x| date_part(x, part)))
                    }
                }
                None => panic!("invariant broken: function {name} has no implementation"),
            },
        })
    }

    fn label_replace(&self, c: &Call, st: Steps) -> Result<Vec<StepSeries>, QueryError> {
        let (dst, repl, src, re) = (
            string_arg(&c.args[1]),
            string_arg(&c.args[2]),
            string_arg(&c.args[3]),
            string_arg(&c.args[4]),
        );
        let regex = compile_anchored(&re).map_err(|_| {
            QueryError::exec(format!(
                "invalid regular expression in label_replace(): {re}"
            ))
        })?;
        if dst.is_empty() {
            return Err(QueryError::exec(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut v = self.eval_vector(&c.args[0], st)?;
        for s in &mut v {
            let value = s.labels.get(&src).to_string();
            if let Some(caps) = regex.captures(&value) {
                let mut res = String::new();
                caps.expand(&repl, &mut res);
                s.labels.set(&dst, &res);
                if dst == METRIC_NAME {
                    s.drop_name = false;
                }
            }
        }
        merge_same_labels(v)
    }

    /// Classic `histogram_quantile(φ, buckets)` and `histogram_fraction(lo, hi, buckets)`.
    fn histogram(&self, c: &Call, st: Steps) -> Result<Vec<StepSeries>, QueryError> {
        let fraction = c.func.name == "histogram_fraction";
        let (p1, p2) = if fraction {
            (
                self.eval_scalar(&c.args[0], st)?,
                self.eval_scalar(&c.args[1], st)?,
            )
        } else {
            (self.eval_scalar(&c.args[0], st)?, Vec::new())
        };
        let varg = &c.args[if fraction { 2 } else { 1 }];
        let input = self.eval_vector(varg, st)?;
        let mut groups: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for (si, s) in input.iter().enumerate() {
            let le = s.labels.get("le");
            let Some(bound) = parse_go_float(le) else {
                self.sh.warn(format!("PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {:?}{}", s.labels.get(METRIC_NAME), self.sh.pos(varg.pos)));
                continue;
            };
            let mut key = s.labels.clone();
            key.remove("le");
            let gi = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[gi].1.push((bound, si));
        }
        if !fraction && let Some(q) = p1.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
            self.sh.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}{}",
                format_go_float(*q),
                self.sh.pos(c.args[0].pos)
            ));
        }
        let mut out = Vec::with_capacity(groups.len());
        let mut buckets = Vec::new();
        for (labels, members) in groups {
            let mut values = vec![absent(); st.n];
            for (i, o) in values.iter_mut().enumerate() {
                buckets.clear();
                for &(bound, si) in &members {
                    let v = input[si].values[i];
                    if !is_absent(v) {
                        buckets.push(Bucket {
                            upper_bound: bound,
                            count: v,
                        });
                    }
                }
                if buckets.is_empty() {
                    continue;
                }
                if fraction {
                    *o = bucket_fraction(p1[i], p2[i], buckets.clone());
                } else {
                    let r = bucket_quantile(p1[i], buckets.clone());
                    if r.forced_monotonic {
                        self.sh.info(format!(
                            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}{}",
                            labels.get(METRIC_NAME),
                            self.sh.pos(varg.pos)
                        ));
                    }
                    *o = r.value;
                }
            }
            out.push(StepSeries {
                labels,
                values,
                drop_name: true,
            });
        }
        out.retain(|s| !s.is_empty());
        Ok(out)
    }
}

/// Orders an instant vector (one step) for `sort`, `sort_desc` and `sort_by_label[_desc]`.
fn sort_instant(v: &mut [StepSeries], name: &str, labels: &[String]) {
    let val = |s: &StepSeries| s.values.first().copied().unwrap_or(f64::NAN);
    match name {
        "sort" | "sort_desc" => {
            let desc = name == "sort_desc";
            v.sort_by(|a, b| {
                let (x, y) = (val(a), val(b));
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ if desc => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
                    _ => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                }
            });
        }
        _ => {
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                let mut o = Ordering::Equal;
                for l in labels {
                    o = natural_cmp(a.labels.get(l), b.labels.get(l));
                    if o != Ordering::Equal {
                        break;
                    }
                }
                let o = o.then_with(|| a.labels.cmp(&b.labels));
                if desc { o.reverse() } else { o }
            });
        }
    }
}

/// `label_join` and the MetricsQL label functions; merges series that end up identical.
fn relabel(
    mut v: Vec<StepSeries>,
    name: &str,
    args: &[String],
) -> Result<Vec<StepSeries>, QueryError> {
    match name {
        "label_join" => {
            let (dst, sep, srcs) = (&args[0], &args[1], &args[2..]);
            if let Some(bad) = srcs.iter().find(|s| s.is_empty()) {
                return Err(QueryError::exec(format!(
                    "invalid source label name in label_join(): {bad}"
                )));
            }
            if dst.is_empty() {
                return Err(QueryError::exec(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            for s in &mut v {
                let joined = srcs
                    .iter()
                    .map(|l| s.labels.get(l))
                    .collect::<Vec<_>>()
                    .join(sep);
                s.labels.set(dst, &joined);
                if dst == METRIC_NAME {
                    s.drop_name = false;
                }
            }
        }
        "label_set" => {
            if !args.len().is_multiple_of(2) {
                return Err(QueryError::exec(
                    "label_set() needs pairs of label names and values",
                ));
            }
            for s in &mut v {
                for kv in args.chunks(2) {
                    s.labels.set(&kv[0], &kv[1]);
                    if kv[0] == METRIC_NAME {
                        s.drop_name = false;
                    }
                }
            }
        }
        "label_del" => {
            for s in &mut v {
                for l in args {
                    s.labels.remove(l);
                }
            }
        }
        "label_keep" => {
            for s in &mut v {
                s.labels.retain(|l| args.iter().any(|a| a == l.name));
            }
        }
        "label_copy" | "label_move" => {
            if !args.len().is_multiple_of(2) {
                return Err(QueryError::exec(format!(
                    "{name}() needs pairs of source and destination labels"
                )));
            }
            for s in &mut v {
                for kv in args.chunks(2) {
                    let value = s.labels.get(&kv[0]).to_string();
                    if value.is_empty() {
                        continue;
                    }
                    s.labels.set(&kv[1], &value);
                    if name == "label_move" {
                        s.labels.remove(&kv[0]);
                    }
                    if kv[1] == METRIC_NAME {
                        s.drop_name = false;
                    }
                }
            }
        }
        _ => panic!("invariant broken: {name} is not a relabeling function"),
    }
    merge_same_labels(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        for (a, b, want) in [
            ("a2", "a10", Ordering::Less),
            ("a10", "a10", Ordering::Equal),
            ("b", "a9", Ordering::Greater),
            ("x01", "x1", Ordering::Equal),
        ] {
            assert_eq!(natural_cmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn absent_labels_drop_repeated_names() {
        let ms = vec![
            LabelMatcher::equal("__name__", "m"),
            LabelMatcher::equal("job", "a"),
            LabelMatcher::equal("job", "b"),
            LabelMatcher::equal("x", "1"),
        ];
        assert_eq!(absent_labels(&ms).to_string(), r#"{x="1"}"#);
    }
}
