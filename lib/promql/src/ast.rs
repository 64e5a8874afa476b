//! The syntax tree: what a parsed query is, with the type of every node.

use std::fmt;

use crate::functions::FunctionDef;
use crate::labels::{LabelMatcher, METRIC_NAME};

/// Byte offsets `[start, end)` of a node in the query text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Pos {
    /// `line:col` (both 1-based) of the start, as Prometheus prints positions.
    pub fn line_col(&self, query: &str) -> String {
        line_col(query, self.start)
    }
}

/// `line:col` (both 1-based) of byte offset `at` in `text`.
pub fn line_col(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line = 1 + before.matches('\n').count();
    let col = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

/// The type of a PromQL value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// A single number.
    Scalar,
    /// A string literal.
    String,
    /// An instant vector: one sample per series.
    Vector,
    /// A range vector: samples over a window per series.
    Matrix,
}

impl ValueType {
    /// Prometheus's documented name (`instant vector`, `range vector`, ...).
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::String => "string",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
        }
    }
}

/// A parsed expression with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it is in the query text.
    pub pos: Pos,
}

/// The node kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number literal (also a duration literal used as a number, in seconds).
    Number(f64),
    /// A string literal.
    String(String),
    /// An instant vector selector.
    Selector(VectorSelector),
    /// A range vector selector `sel[range]`.
    Matrix(MatrixSelector),
    /// A subquery `expr[range:step]`.
    Subquery(Box<Subquery>),
    /// `( expr )`.
    Paren(Box<Expr>),
    /// Unary minus (unary plus is dropped by the parser).
    Neg(Box<Expr>),
    /// A binary operation.
    Binary(Box<BinaryExpr>),
    /// An aggregation such as `sum by (job) (x)`.
    Aggregate(Box<AggregateExpr>),
    /// A function call.
    Call(Box<Call>),
}

/// `@` modifier value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// `@ <timestamp>` in milliseconds.
    Timestamp(i64),
    /// `@ start()`.
    Start,
    /// `@ end()`.
    End,
}

/// An instant vector selector such as `http_requests{job="api"} offset 5m @ 100`.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    /// The metric name if written outside the braces (or as a quoted name inside them).
    pub name: Option<String>,
    /// All matchers, the name matcher included.
    pub matchers: Vec<LabelMatcher>,
    /// `offset` in milliseconds (negative allowed).
    pub offset_ms: i64,
    /// `@` modifier.
    pub at: Option<At>,
}

/// The window of a range selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// An explicit `[range]` in milliseconds.
    Fixed(i64),
    /// MetricsQL: no window written (`rate(x)`); it is the evaluation step (see `docs/promql.md`).
    Step,
}

/// A range vector selector `sel[range]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSelector {
    /// The selector; its offset and `@` apply to the range.
    pub selector: VectorSelector,
    /// The window.
    pub range: Window,
}

/// A subquery `expr[range:step] offset o @ t`.
#[derive(Clone, Debug, PartialEq)]
pub struct Subquery {
    /// The inner expression (instant vector or scalar).
    pub expr: Expr,
    /// Range in milliseconds.
    pub range_ms: i64,
    /// Step in milliseconds; `None` uses the engine's default subquery step.
    pub step_ms: Option<i64>,
    /// `offset` in milliseconds.
    pub offset_ms: i64,
    /// `@` modifier.
    pub at: Option<At>,
}

/// Binary operators, PromQL's and MetricsQL's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
    /// MetricsQL `default`: fill the gaps of the left side from the right side.
    Default,
    /// MetricsQL `if`: keep left points where the right side has a point.
    If,
    /// MetricsQL `ifnot`: keep left points where the right side has no point.
    IfNot,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Gt => ">",
            BinOp::Lt => "<",
            BinOp::Ge => ">=",
            BinOp::Le => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
            BinOp::Default => "default",
            BinOp::If => "if",
            BinOp::IfNot => "ifnot",
        }
    }

    /// Comparison operators (`==`, `!=`, `>`, `<`, `>=`, `<=`).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    /// Set operators (`and`, `or`, `unless`).
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// Arithmetic operators, which drop the metric name.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinOp::Add
                | BinOp::Sub
                | BinOp::Mul
                | BinOp::Div
                | BinOp::Mod
                | BinOp::Pow
                | BinOp::Atan2
        )
    }

    /// Precedence, higher binds tighter (MetricsQL's `default` lowest, then `if`/`ifnot`).
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Default => 0,
            BinOp::If | BinOp::IfNot => 1,
            BinOp::Or => 2,
            BinOp::And | BinOp::Unless => 3,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Atan2 => 6,
            BinOp::Pow => 7,
        }
    }

    /// `^` is right-associative; everything else is left-associative.
    pub fn right_assoc(self) -> bool {
        self == BinOp::Pow
    }
}

/// Cardinality of a vector match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Card {
    /// Default for non-set operators.
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// `on`/`ignoring` and `group_left`/`group_right` of a binary operation between vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorMatching {
    /// Cardinality.
    pub card: Card,
    /// `on(...)` (true) or `ignoring(...)` (false; also the default).
    pub on: bool,
    /// The `on`/`ignoring` label list.
    pub labels: Vec<String>,
    /// Labels copied from the "one" side (`group_left(...)`).
    pub include: Vec<String>,
}

/// A binary operation.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    /// Operator.
    pub op: BinOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// `bool` modifier.
    pub return_bool: bool,
    /// Matching, present when both operands are vectors.
    pub matching: Option<VectorMatching>,
}

/// Aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `quantile`
    Quantile,
    /// `count_values`
    CountValues,
    /// `limitk`
    Limitk,
}

impl AggOp {
    /// Looks up an aggregation by name (case-insensitive).
    pub fn from_name(name: &str) -> Option<AggOp> {
        Some(match name.to_ascii_lowercase().as_str() {
            "sum" => AggOp::Sum,
            "avg" => AggOp::Avg,
            "count" => AggOp::Count,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "group" => AggOp::Group,
            "stddev" => AggOp::Stddev,
            "stdvar" => AggOp::Stdvar,
            "topk" => AggOp::Topk,
            "bottomk" => AggOp::Bottomk,
            "quantile" => AggOp::Quantile,
            "count_values" => AggOp::CountValues,
            "limitk" => AggOp::Limitk,
            _ => return None,
        })
    }

    /// The operator's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Count => "count",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Group => "group",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::Quantile => "quantile",
            AggOp::CountValues => "count_values",
            AggOp::Limitk => "limitk",
        }
    }

    /// The parameter type, for the operators that take one.
    pub fn param_type(self) -> Option<ValueType> {
        match self {
            AggOp::Topk | AggOp::Bottomk | AggOp::Quantile | AggOp::Limitk => {
                Some(ValueType::Scalar)
            }
            AggOp::CountValues => Some(ValueType::String),
            _ => None,
        }
    }
}

/// An aggregation.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    /// Operator.
    pub op: AggOp,
    /// Aggregated expression.
    pub expr: Expr,
    /// Parameter (`k`, `φ`, or the `count_values` label).
    pub param: Option<Expr>,
    /// `by`/`without` labels.
    pub grouping: Vec<String>,
    /// `without` (true) or `by` (false).
    pub without: bool,
}

/// A function call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The function's signature row.
    pub func: &'static FunctionDef,
    /// Arguments (parentheses around arguments removed).
    pub args: Vec<Expr>,
    /// MetricsQL `keep_metric_names` modifier.
    pub keep_metric_names: bool,
}

impl Expr {
    /// The value type this expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match &self.kind {
            ExprKind::Number(_) => ValueType::Scalar,
            ExprKind::String(_) => ValueType::String,
            ExprKind::Selector(_) => ValueType::Vector,
            ExprKind::Matrix(_) | ExprKind::Subquery(_) => ValueType::Matrix,
            ExprKind::Paren(e) | ExprKind::Neg(e) => e.value_type(),
            ExprKind::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            ExprKind::Aggregate(_) => ValueType::Vector,
            ExprKind::Call(c) => c.func.ret,
        }
    }

    /// Removes any number of enclosing parentheses.
    pub fn unparen(&self) -> &Expr {
        match &self.kind {
            ExprKind::Paren(e) => e.unparen(),
            _ => self,
        }
    }

    /// The depth (levels) and node count of the tree, or `None` as soon as the depth passes
    /// `max_depth` or the count passes `max_nodes`. The walk itself never recurses deeper than
    /// `max_depth`, so it is safe on any tree.
    pub fn bounded_shape(&self, max_depth: usize, max_nodes: usize) -> Option<(usize, usize)> {
        fn go(
            e: &Expr,
            level: usize,
            max_depth: usize,
            max_nodes: usize,
            nodes: &mut usize,
        ) -> Option<usize> {
            if level > max_depth {
                return None;
            }
            *nodes += 1;
            if *nodes > max_nodes {
                return None;
            }
            let mut deepest = level;
            let mut child = |c: &Expr, nodes: &mut usize| -> Option<()> {
                deepest = deepest.max(go(c, level + 1, max_depth, max_nodes, nodes)?);
                Some(())
            };
            match &e.kind {
                ExprKind::Number(_)
                | ExprKind::String(_)
                | ExprKind::Selector(_)
                | ExprKind::Matrix(_) => {}
                ExprKind::Subquery(s) => child(&s.expr, nodes)?,
                ExprKind::Paren(x) | ExprKind::Neg(x) => child(x, nodes)?,
                ExprKind::Binary(b) => {
                    child(&b.lhs, nodes)?;
                    child(&b.rhs, nodes)?;
                }
                ExprKind::Aggregate(a) => {
                    if let Some(p) = &a.param {
                        child(p, nodes)?;
                    }
                    child(&a.expr, nodes)?;
                }
                ExprKind::Call(c) => {
                    for a in &c.args {
                        child(a, nodes)?;
                    }
                }
            }
            Some(deepest)
        }
        let mut nodes = 0;
        let depth = go(self, 1, max_depth, max_nodes, &mut nodes)?;
        Some((depth, nodes))
    }

    /// Visits this node and every descendant, parents first.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Number(_)
            | ExprKind::String(_)
            | ExprKind::Selector(_)
            | ExprKind::Matrix(_) => {}
            ExprKind::Subquery(s) => s.expr.walk(f),
            ExprKind::Paren(e) | ExprKind::Neg(e) => e.walk(f),
            ExprKind::Binary(b) => {
                b.lhs.walk(f);
                b.rhs.walk(f);
            }
            ExprKind::Aggregate(a) => {
                if let Some(p) = &a.param {
                    p.walk(f);
                }
                a.expr.walk(f);
            }
            ExprKind::Call(c) => c.args.iter().for_each(|a| a.walk(f)),
        }
    }

    /// Visits this node and every descendant mutably, parents first.
    pub fn walk_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        f(self);
        match &mut self.kind {
            ExprKind::Number(_)
            | ExprKind::String(_)
            | ExprKind::Selector(_)
            | ExprKind::Matrix(_) => {}
            ExprKind::Subquery(s) => s.expr.walk_mut(f),
            ExprKind::Paren(e) | ExprKind::Neg(e) => e.walk_mut(f),
            ExprKind::Binary(b) => {
                b.lhs.walk_mut(f);
                b.rhs.walk_mut(f);
            }
            ExprKind::Aggregate(a) => {
                if let Some(p) = &mut a.param {
                    p.walk_mut(f);
                }
                a.expr.walk_mut(f);
            }
            ExprKind::Call(c) => c.args.iter_mut().for_each(|a| a.walk_mut(f)),
        }
    }
}

/// Formats a millisecond duration as Prometheus does (`1h30m`, `500ms`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms.unsigned_abs();
    if ms < 0 {
        out.push('-');
    }
    for (unit, size) in [
        ("y", 31_536_000_000u64),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn fmt_label_name(name: &str) -> String {
    let plain = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if plain && !name.is_empty() {
        name.to_string()
    } else {
        crate::labels::quote(name)
    }
}

fn fmt_mods(f: &mut fmt::Formatter<'_>, offset_ms: i64, at: &Option<At>) -> fmt::Result {
    match at {
        Some(At::Timestamp(t)) => write!(f, " @ {:.3}", *t as f64 / 1000.0)?,
        Some(At::Start) => f.write_str(" @ start()")?,
        Some(At::End) => f.write_str(" @ end()")?,
        None => {}
    }
    if offset_ms != 0 {
        write!(f, " offset {}", format_duration(offset_ms))?;
    }
    Ok(())
}

impl fmt::Display for VectorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain_name = self.name.as_deref().filter(|n| {
            let mut c = n.chars();
            matches!(c.next(), Some(x) if x == '_' || x == ':' || x.is_ascii_alphabetic())
                && c.all(|x| x == '_' || x == ':' || x.is_ascii_alphanumeric())
        });
        if let Some(n) = plain_name {
            f.write_str(n)?;
        }
        let mut items: Vec<String> = Vec::new();
        if let (Some(n), None) = (&self.name, plain_name) {
            items.push(crate::labels::quote(n));
        }
        for m in &self.matchers {
            if self.name.is_some()
                && m.name == METRIC_NAME
                && m.kind == crate::labels::MatchKind::Eq
            {
                continue;
            }
            items.push(format!(
                "{}{}{}",
                fmt_label_name(&m.name),
                m.kind.as_str(),
                crate::labels::quote(&m.value)
            ));
        }
        if !items.is_empty() || plain_name.is_none() {
            write!(f, "{{{}}}", items.join(", "))?;
        }
        Ok(())
    }
}

/// A binary operand: nested binary operations are parenthesised, so precedence is explicit.
fn fmt_operand(f: &mut fmt::Formatter<'_>, e: &Expr) -> fmt::Result {
    match e.kind {
        ExprKind::Binary(_) => write!(f, "({e})"),
        _ => write!(f, "{e}"),
    }
}

impl fmt::Display for Expr {
    /// Prints the expression back as PromQL that parses to the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Number(v) => {
                if v.is_nan() {
                    f.write_str("NaN")
                } else if v.is_infinite() {
                    f.write_str(if *v > 0.0 { "+Inf" } else { "-Inf" })
                } else {
                    write!(f, "{v:?}")
                }
            }
            ExprKind::String(s) => f.write_str(&crate::labels::quote(s)),
            ExprKind::Selector(s) => {
                write!(f, "{s}")?;
                fmt_mods(f, s.offset_ms, &s.at)
            }
            ExprKind::Matrix(m) => {
                write!(f, "{}", m.selector)?;
                match m.range {
                    Window::Fixed(r) => write!(f, "[{}]", format_duration(r))?,
                    Window::Step => {}
                }
                fmt_mods(f, m.selector.offset_ms, &m.selector.at)
            }
            ExprKind::Subquery(s) => {
                match &s.expr.kind {
                    ExprKind::Binary(_)
                    | ExprKind::Neg(_)
                    | ExprKind::Subquery(_)
                    | ExprKind::Matrix(_) => write!(f, "({})", s.expr)?,
                    _ => write!(f, "{}", s.expr)?,
                }
                write!(f, "[{}:", format_duration(s.range_ms))?;
                if let Some(st) = s.step_ms {
                    f.write_str(&format_duration(st))?;
                }
                f.write_str("]")?;
                fmt_mods(f, s.offset_ms, &s.at)
            }
            ExprKind::Paren(e) => write!(f, "({e})"),
            ExprKind::Neg(e) => match e.kind {
                ExprKind::Binary(_) | ExprKind::Neg(_) | ExprKind::Number(_) => write!(f, "-({e})"),
                _ => write!(f, "-{e}"),
            },
            ExprKind::Binary(b) => {
                fmt_operand(f, &b.lhs)?;
                write!(f, " {}", b.op.as_str())?;
                if b.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(m) = &b.matching {
                    if m.on || !m.labels.is_empty() {
                        write!(
                            f,
                            " {}({})",
                            if m.on { "on" } else { "ignoring" },
                            m.labels
                                .iter()
                                .map(|l| fmt_label_name(l))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )?;
                    }
                    match m.card {
                        Card::ManyToOne => write!(
                            f,
                            " group_left({})",
                            m.include
                                .iter()
                                .map(|l| fmt_label_name(l))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )?,
                        Card::OneToMany => write!(
                            f,
                            " group_right({})",
                            m.include
                                .iter()
                                .map(|l| fmt_label_name(l))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )?,
                        _ => {}
                    }
                }
                f.write_str(" ")?;
                fmt_operand(f, &b.rhs)
            }
            ExprKind::Aggregate(a) => {
                f.write_str(a.op.as_str())?;
                if a.without || !a.grouping.is_empty() {
                    write!(
                        f,
                        " {} ({})",
                        if a.without { "without" } else { "by" },
                        a.grouping
                            .iter()
                            .map(|l| fmt_label_name(l))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )?;
                }
                f.write_str(" (")?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            ExprKind::Call(c) => {
                write!(f, "{}(", c.func.name)?;
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")?;
                if c.keep_metric_names {
                    f.write_str(" keep_metric_names")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format() {
        for (ms, want) in [
            (0, "0s"),
            (90 * 60_000, "1h30m"),
            (1500, "1s500ms"),
            (-300_000, "-5m"),
            (86_400_000 * 8, "1w1d"),
        ] {
            assert_eq!(format_duration(ms), want);
        }
    }

    #[test]
    fn positions() {
        assert_eq!(line_col("abc", 0), "1:1");
        assert_eq!(line_col("abc", 2), "1:3");
        assert_eq!(line_col("a\nbc", 3), "2:2");
    }
}
