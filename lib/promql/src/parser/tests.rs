//! Parser case tables: what parses to what, and what fails with which message.

use super::parse;
use crate::ast::{At, BinOp, Card, ExprKind, ValueType, Window};

/// Parses `q` and prints it back; the printed form must parse to the same tree.
#[track_caller]
fn check(q: &str, want: &str) {
    let e = parse(q).unwrap_or_else(|err| panic!("{q}: {err}"));
    let printed = e.to_string();
    assert_eq!(printed, want, "{q}");
    let again = parse(&printed).unwrap_or_else(|err| panic!("reparse of {printed}: {err}"));
    assert_eq!(again.to_string(), printed, "round trip of {q}");
}

#[track_caller]
fn check_err(q: &str, want: &str) {
    match parse(q) {
        Ok(e) => panic!("{q} parsed as {e}"),
        Err(err) => assert_eq!(err.to_string(), want, "{q}"),
    }
}

#[test]
fn literals() {
    check("1", "1.0");
    check("-1.5e3", "-1500.0");
    check("0x1F", "31.0");
    check("1_000", "1000.0");
    check("+Inf", "+Inf");
    check("-inf", "-Inf");
    check("NaN", "NaN");
    check("1h30m", "5400.0");
    check(r#""a\"b""#, r#""a\"b""#);
    check("'single'", r#""single""#);
    check("`raw\\n`", r#""raw\\n""#);
}

#[test]
fn selectors() {
    check("foo", "foo");
    check(
        r#"foo{a="b", c!="d", e=~"f.*", g!~"h"}"#,
        r#"foo{a="b", c!="d", e=~"f.*", g!~"h"}"#,
    );
    check(r#"{__name__="foo"}"#, r#"{__name__="foo"}"#);
    check(r#"{"utf8.name", job="x"}"#, r#"{"utf8.name", job="x"}"#);
    check(r#"foo{}"#, "foo");
    check("foo:bar:rate5m", "foo:bar:rate5m");
    check("foo[5m]", "foo[5m]");
    check("foo[100]", "foo[1m40s]");
    check("foo offset 5m", "foo offset 5m");
    check("foo offset -5m", "foo offset -5m");
    check("foo offset 50", "foo offset 50s");
    check("foo[5m] offset 1m @ 100", "foo[5m] @ 100.000 offset 1m");
    check("foo @ start()", "foo @ start()");
    check("foo @ end() offset 1m", "foo @ end() offset 1m");
    check("sum(foo)[30m:1m]", "sum (foo)[30m:1m]");
    check("foo[30:10]", "foo[30s:10s]");
    check(
        "rate(foo[5m])[1h:] offset 1m",
        "rate(foo[5m])[1h:] offset 1m",
    );
    check("(a + b)[5m:]", "(a + b)[5m:]");
    check("on", "on");
    check("sum", "sum");
}

#[test]
fn operators_and_precedence() {
    check("1 + 2 * 3", "1.0 + (2.0 * 3.0)");
    check("(1 + 2) * 3", "(1.0 + 2.0) * 3.0");
    check("2 ^ 3 ^ 2", "2.0 ^ (3.0 ^ 2.0)");
    check("-2 ^ 2", "-(2.0 ^ 2.0)");
    check("-a * b", "-a * b");
    check("a - -b", "a - -b");
    check("a or b and c unless d", "a or ((b and c) unless d)");
    check("a > bool 1", "a > bool 1.0");
    check("a + on(x) group_left(y) b", "a + on(x) group_left(y) b");
    check(
        "a / ignoring(x) group_right b",
        "a / ignoring(x) group_right() b",
    );
    check("a AND b", "a and b");
    check("a atan2 b", "a atan2 b");
    check("a default b if c", "a default (b if c)");
    check("a if b or c", "a if (b or c)");
}

#[test]
fn aggregations_and_calls() {
    check("sum by (a, b) (x)", "sum by (a, b) (x)");
    check("sum(x) without (a)", "sum without (a) (x)");
    check("topk(3, x)", "topk (3.0, x)");
    check(r#"count_values("v", x)"#, r#"count_values ("v", x)"#);
    check("quantile(0.9, x) by ()", "quantile (0.9, x)");
    check(
        r#"sum by ("utf8.label") (x)"#,
        r#"sum by ("utf8.label") (x)"#,
    );
    check("rate(x[5m])", "rate(x[5m])");
    check("changes((x[5m]))", "changes(x[5m])");
    check("round(x)", "round(x)");
    check("time()", "time()");
    check(
        r#"label_join(x, "d", ",", "a", "b")"#,
        r#"label_join(x, "d", ",", "a", "b")"#,
    );
    check("rate(x) keep_metric_names", "rate(x) keep_metric_names");
}

#[test]
fn tree_shape() {
    let e = parse("a + on(job) group_left(x) b").expect("parses");
    let ExprKind::Binary(b) = e.kind else {
        panic!("not binary")
    };
    assert_eq!(b.op, BinOp::Add);
    let m = b.matching.expect("vector matching");
    assert_eq!(
        (m.card, m.on, m.labels, m.include),
        (
            Card::ManyToOne,
            true,
            vec!["job".to_string()],
            vec!["x".to_string()]
        )
    );
    let e = parse("rate(x)").expect("parses");
    let ExprKind::Call(c) = e.kind else {
        panic!("not a call")
    };
    assert!(matches!(&c.args[0].kind, ExprKind::Matrix(m) if m.range == Window::Step));
    let e = parse("x @ 1.5").expect("parses");
    assert!(matches!(&e.kind, ExprKind::Selector(s) if s.at == Some(At::Timestamp(1500))));
    assert_eq!(
        parse("1 + 1").expect("parses").value_type(),
        ValueType::Scalar
    );
    assert_eq!(
        parse("x[5m]").expect("parses").value_type(),
        ValueType::Matrix
    );
    assert_eq!(
        parse(r#""s""#).expect("parses").value_type(),
        ValueType::String
    );
}

#[test]
fn errors() {
    check_err(
        r#"foo{job="a", )"#,
        r#"1:14: unexpected ")", expected a label matcher"#,
    );
    check_err(
        "{}",
        "1:1: vector selector must contain at least one non-empty matcher",
    );
    check_err(
        r#"{job=~".*"}"#,
        "1:1: vector selector must contain at least one non-empty matcher",
    );
    check_err(
        r#"foo{__name__="bar"}"#,
        r#"1:1: metric name must not be set twice: "foo" or "bar""#,
    );
    check_err(
        "1 + bool 2",
        "1:3: bool modifier can only be used on comparison operators",
    );
    check_err(
        "1 > 2",
        "1:3: comparisons between scalars must use BOOL modifier",
    );
    check_err(
        "1 and 2",
        r#"1:3: set operator "and" not allowed in binary scalar expression"#,
    );
    check_err(
        "a and on(x) group_left b",
        r#"1:3: no grouping allowed for "and" operation"#,
    );
    check_err(
        "rate(x[5m], 1)",
        r#"1:1: expected 1 argument(s) in call to "rate", got 2"#,
    );
    check_err(
        "abs(x[5m])",
        r#"1:5: expected type instant vector in call to function "abs", got range vector"#,
    );
    check_err(
        "round(x, 1, 2)",
        r#"1:1: expected at most 2 argument(s) in call to "round", got 3"#,
    );
    check_err(
        "label_join(x)",
        r#"1:1: expected at least 3 argument(s) in call to "label_join", got 1"#,
    );
    check_err(
        "sum(x[5m])",
        "1:5: expected type instant vector in aggregation expression, got range vector",
    );
    check_err(
        r#"topk("a", x)"#,
        "1:6: expected type scalar in aggregation parameter, got string",
    );
    check_err("nope(x)", r#"1:1: unknown function with name "nope""#);
    check_err(
        "x offset 1m offset 2m",
        "1:13: offset may not be set multiple times",
    );
    check_err(
        "x @ 1 @ 2",
        "1:7: @ <timestamp> may not be set multiple times",
    );
    check_err(
        "(x + 1)[5m]",
        "1:8: ranges only allowed for vector selectors",
    );
    check_err(
        "1 offset 5m",
        "1:3: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
    );
    check_err(
        "x[5m][1h:1m]",
        "1:6: subquery is only allowed on instant vector, got range vector",
    );
    check_err("x[0s]", "1:2: range must be greater than 0");
    check_err(
        "rate(x, )",
        "1:7: trailing commas not allowed in function call args",
    );
    check_err(
        "x +",
        "1:4: unexpected end of input, expected an expression",
    );
    check_err(
        "x y",
        r#"1:3: unexpected identifier "y", expected end of input or a binary operator"#,
    );
    check_err(
        r#"x{a=~"("}"#,
        r#"1:3: invalid regular expression "(": error: unclosed group"#,
    );
    check_err("\"abc", "1:1: unterminated quoted string");
    check_err(
        "-\"s\"",
        r#"1:1: unary expression only allowed on expressions of type scalar or instant vector, got "string""#,
    );
    check_err(
        "x[5m] + 1",
        "1:7: binary expression must contain only scalar and instant vector types",
    );
    check_err(
        "WITH (f(a) = a) f()",
        r#"1:17: template function "f" takes 1 argument(s), got 0"#,
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let q = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    let err = parse(&q).expect_err("too deep");
    assert!(err.message.contains("nests too deeply"), "{err}");
    let q = format!("{}1", "-".repeat(10_000));
    assert!(parse(&q).is_err());
}
