//! Hostile query shapes must fail cleanly or evaluate, never overflow the stack.

use promql::{Engine, EngineConfig, MemoryQuerier};

#[track_caller]
fn check(query: &str) {
    let engine = Engine::new(EngineConfig::default());
    let store = MemoryQuerier::new();
    // Either answer is fine; reaching this line without a crash is the point.
    let _ = engine.instant(&store, query, 0);
    let _ = engine.range(&store, query, 0, 60_000, 15_000);
}

#[test]
fn long_left_associative_chain() {
    check(&vec!["1"; 100_000].join(" + "));
}

#[test]
fn long_right_associative_chain() {
    check(&vec!["1"; 50_000].join(" ^ "));
}

#[test]
fn long_unary_chain() {
    check(&format!("{}1", "-".repeat(100_000)));
}

#[test]
fn deep_parentheses() {
    check(&format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)));
}

#[test]
fn deep_calls() {
    check(&format!(
        "{}up{}",
        "abs(".repeat(50_000),
        ")".repeat(50_000)
    ));
}

#[test]
fn long_set_operator_chain() {
    check(&vec!["up"; 20_000].join(" or "));
}

#[test]
fn nesting_just_under_the_limit_evaluates() {
    check(&format!("sum({}1{})", "(".repeat(190), ")".repeat(190)));
    check(&vec!["1"; 190].join(" + "));
}

#[test]
fn long_postfix_chains() {
    check(&format!("up{}", "[1m:]".repeat(50_000)));
    check(&format!("up{}", " offset 1m".repeat(50_000)));
    check(&format!("rate(up[5m]){}", " @ 100".repeat(50_000)));
}

#[test]
fn deep_with_templates() {
    let defs: Vec<String> = (1..5_000)
        .map(|i| format!("f{i} = f{} + 1", i - 1))
        .collect();
    check(&format!("with (f0 = 1, {}) f4999", defs.join(", ")));
    check("with (f(x) = f(x)) f(1)");
}

#[test]
fn doubling_templates_are_refused_not_expanded() {
    let defs: Vec<String> = (1..64)
        .map(|i| format!("f{i} = f{} + f{}", i - 1, i - 1))
        .collect();
    let q = format!("with (f0 = up, {}) f63", defs.join(", "));
    let err = promql::parse(&q).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
}
