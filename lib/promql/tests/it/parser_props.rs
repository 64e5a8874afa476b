//! Property tests: the parser never panics, and what it prints parses back to the same text.

use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "sum",
    "avg",
    "topk",
    "count_values",
    "quantile",
    "by",
    "without",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "@",
    "offset",
    "5m",
    "1h30m",
    "100",
    "1",
    "0x1F",
    "1e3",
    ".5",
    "-",
    "+",
    "*",
    "/",
    "^",
    "%",
    "==",
    "!=",
    ">",
    "<=",
    "bool",
    "and",
    "or",
    "unless",
    "atan2",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "foo",
    "job",
    "__name__",
    "=",
    "=~",
    "!~",
    "\"a\"",
    "'b'",
    "`c`",
    "\"\"",
    "rate",
    "abs",
    "label_replace",
    "histogram_quantile",
    "time",
    "start()",
    "end()",
    "inf",
    "NaN",
    "WITH",
    "default",
    "if",
    "ifnot",
    "keep_metric_names",
    "x",
    "f",
    "#",
];

fn token_query() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..24).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(s in "\\PC{0,64}") {
        let _ = promql::parse(&s);
    }

    #[test]
    fn random_token_sequences_never_panic_and_round_trip(q in token_query()) {
        if let Ok(e) = promql::parse(&q) {
            let printed = e.to_string();
            let again = promql::parse(&printed);
            prop_assert!(again.is_ok(), "{q} printed as {printed}, which fails: {:?}", again.err());
            prop_assert_eq!(again.map(|a| a.to_string()).unwrap_or_default(), printed);
        }
    }

    #[test]
    fn valid_queries_with_noise_never_panic(prefix in "[a-z(){}\\[\\]:@,0-9\"=~!+*/^-]{0,8}", suffix in "[a-z(){}\\[\\]:@,0-9\"=~!+*/^-]{0,8}") {
        let q = format!("{prefix}sum by (job) (rate(foo{{job=~\"a.*\"}}[5m] offset 1m)) > bool 0{suffix}");
        let _ = promql::parse(&q);
    }
}
