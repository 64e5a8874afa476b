//! Prometheus's parse-time semantic checks: operand types, argument counts and types,
//! modifiers allowed only in some places, and non-empty selectors.

use super::ParseError;
use super::primary::name_matcher;
use crate::ast::{
    AggregateExpr, BinOp, BinaryExpr, Call, Card, Expr, ExprKind, MatrixSelector, Pos, Subquery,
    ValueType, VectorMatching, VectorSelector, Window,
};
use crate::labels::{LabelMatcher, METRIC_NAME};

/// Builds a selector, checking the name is given once and some matcher rejects the empty value.
pub(super) fn selector(
    src: &str,
    start: usize,
    name: Option<String>,
    mut matchers: Vec<LabelMatcher>,
) -> Result<VectorSelector, ParseError> {
    if let Some(n) = &name {
        if let Some(m) = matchers.iter().find(|m| m.name == METRIC_NAME) {
            return Err(ParseError::new(
                src,
                start,
                format!(
                    "metric name must not be set twice: {:?} or {:?}",
                    n, m.value
                ),
            ));
        }
        matchers.insert(0, name_matcher(n));
    }
    if !matchers.iter().any(|m| !m.matches("")) {
        return Err(ParseError::new(
            src,
            start,
            "vector selector must contain at least one non-empty matcher",
        ));
    }
    Ok(VectorSelector {
        name,
        matchers,
        offset_ms: 0,
        at: None,
    })
}

fn type_err(src: &str, e: &Expr, want: ValueType, context: &str) -> ParseError {
    ParseError::new(
        src,
        e.pos.start,
        format!(
            "expected type {} in {context}, got {}",
            want.documented(),
            e.value_type().documented()
        ),
    )
}

/// Unary minus or plus; folds signs into number literals.
pub(super) fn unary(src: &str, start: usize, neg: bool, operand: Expr) -> Result<Expr, ParseError> {
    let t = operand.value_type();
    if t != ValueType::Scalar && t != ValueType::Vector {
        return Err(ParseError::new(
            src,
            start,
            format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                t.documented()
            ),
        ));
    }
    let pos = Pos {
        start,
        end: operand.pos.end,
    };
    Ok(match operand.kind {
        ExprKind::Number(v) => Expr {
            kind: ExprKind::Number(if neg { -v } else { v }),
            pos,
        },
        kind if !neg => Expr { kind, pos },
        kind => Expr {
            kind: ExprKind::Neg(Box::new(Expr {
                kind,
                pos: operand.pos,
            })),
            pos,
        },
    })
}

/// Checks and builds a binary expression.
pub(super) fn binary(
    src: &str,
    op: BinOp,
    op_start: usize,
    lhs: Expr,
    rhs: Expr,
    return_bool: bool,
    mut m: VectorMatching,
) -> Result<Expr, ParseError> {
    let err = |msg: String| ParseError::new(src, op_start, msg);
    let (lt, rt) = (lhs.value_type(), rhs.value_type());
    if return_bool && !op.is_comparison() {
        return Err(err(
            "bool modifier can only be used on comparison operators".into(),
        ));
    }
    if op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar {
        return Err(err(
            "comparisons between scalars must use BOOL modifier".into()
        ));
    }
    for t in [lt, rt] {
        if t != ValueType::Scalar && t != ValueType::Vector {
            return Err(err(
                "binary expression must contain only scalar and instant vector types".into(),
            ));
        }
    }
    let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
    if !both_vectors && !m.labels.is_empty() {
        return Err(err(
            "vector matching only allowed between instant vectors".into()
        ));
    }
    if (op.is_set()) && (lt == ValueType::Scalar || rt == ValueType::Scalar) {
        return Err(err(format!(
            "set operator {:?} not allowed in binary scalar expression",
            op.as_str()
        )));
    }
    if matches!(op, BinOp::Default | BinOp::If | BinOp::IfNot) && lt != ValueType::Vector {
        return Err(err(format!(
            "operator {:?} needs an instant vector on its left side",
            op.as_str()
        )));
    }
    if both_vectors && op.is_set() && matches!(m.card, Card::ManyToOne | Card::OneToMany) {
        return Err(err(format!(
            "no grouping allowed for {:?} operation",
            op.as_str()
        )));
    }
    if m.on
        && let Some(l) = m.include.iter().find(|l| m.labels.contains(l))
    {
        return Err(err(format!(
            "label {l:?} must not occur in ON and GROUP clause at once"
        )));
    }
    if matches!(op, BinOp::If | BinOp::IfNot) {
        m.card = Card::ManyToMany;
    }
    let pos = Pos {
        start: lhs.pos.start,
        end: rhs.pos.end,
    };
    let matching = both_vectors.then_some(m);
    Ok(Expr {
        kind: ExprKind::Binary(Box::new(BinaryExpr {
            op,
            lhs,
            rhs,
            return_bool,
            matching,
        })),
        pos,
    })
}

/// Checks an aggregation's operand and parameter types.
pub(super) fn aggregation(src: &str, a: &AggregateExpr) -> Result<(), ParseError> {
    if a.expr.value_type() != ValueType::Vector {
        return Err(type_err(
            src,
            &a.expr,
            ValueType::Vector,
            "aggregation expression",
        ));
    }
    if let (Some(want), Some(p)) = (a.op.param_type(), &a.param)
        && p.value_type() != want
    {
        return Err(type_err(src, p, want, "aggregation parameter"));
    }
    Ok(())
}

/// Checks argument count and types; turns a bare selector passed where a range vector is
/// expected into a MetricsQL implicit-window range selector.
pub(super) fn call(src: &str, start: usize, c: &mut Call) -> Result<(), ParseError> {
    let f = c.func;
    let nargs = f.args.len();
    let got = c.args.len();
    let name = f.name;
    if f.variadic == 0 {
        if nargs != got {
            return Err(ParseError::new(
                src,
                start,
                format!("expected {nargs} argument(s) in call to {name:?}, got {got}"),
            ));
        }
    } else {
        let min = nargs - 1;
        if got < min {
            return Err(ParseError::new(
                src,
                start,
                format!("expected at least {min} argument(s) in call to {name:?}, got {got}"),
            ));
        }
        if f.variadic > 0 && got > min + f.variadic as usize {
            return Err(ParseError::new(
                src,
                start,
                format!(
                    "expected at most {} argument(s) in call to {name:?}, got {got}",
                    min + f.variadic as usize
                ),
            ));
        }
    }
    for (i, arg) in c.args.iter_mut().enumerate() {
        let want = f.args[i.min(nargs.saturating_sub(1))];
        if want == ValueType::Matrix
            && let ExprKind::Selector(sel) = &arg.kind
        {
            let selector = sel.clone();
            arg.kind = ExprKind::Matrix(MatrixSelector {
                selector,
                range: Window::Step,
            });
        }
        if arg.value_type() != want {
            return Err(type_err(
                src,
                arg,
                want,
                &format!("call to function {name:?}"),
            ));
        }
    }
    if c.keep_metric_names && f.ret != ValueType::Vector {
        return Err(ParseError::new(
            src,
            start,
            format!("keep_metric_names cannot be applied to {name:?}, which returns a scalar"),
        ));
    }
    Ok(())
}

/// Checks a subquery's inner expression type.
pub(super) fn subquery(src: &str, at: usize, s: &Subquery) -> Result<(), ParseError> {
    let t = s.expr.value_type();
    if t != ValueType::Vector {
        return Err(ParseError::new(
            src,
            at,
            format!(
                "subquery is only allowed on instant vector, got {}",
                t.documented()
            ),
        ));
    }
    Ok(())
}
