use super::*;
use crate::validate::OnInvalid;

const NOW: i64 = 1_700_000_000_000;

#[track_caller]
fn check(input: &str, want: Result<&[&str], &str>) {
    let mut batch = Batch::new();
    let got = parse(input.as_bytes(), NOW, &Limits::default(), &mut batch).map(|()| batch.dump());
    match (got, want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "input {input:?}"),
        (Err(got), Err(want)) => assert_eq!(got.to_string(), want, "input {input:?}"),
        (got, want) => panic!("input {input:?}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn good_lines() {
    check("up 1\n", Ok(&["up 1.0@1700000000000"]));
    check("up 1", Ok(&["up 1.0@1700000000000"]));
    check("up 1 1000\n", Ok(&["up 1.0@1000"]));
    check("up 1 -1000\n", Ok(&["up 1.0@-1000"]));
    check(
        "up{job=\"node\",instance=\"a:9100\"} 0.5 1000\n",
        Ok(&[r#"up{instance="a:9100",job="node"} 0.5@1000"#]),
    );
    check(
        "  up { job = \"x\" , a=\"1\" , } \t 2 \t 3 \t \r\n",
        Ok(&[r#"up{a="1",job="x"} 2.0@3"#]),
    );
    check("up{} 1 5", Ok(&["up 1.0@5"]));
    check("up{a=\"1\"}7 5", Ok(&[r#"up{a="1"} 7.0@5"#]));
    check(
        "a NaN 1\nb +Inf 1\nc -Inf 1\nd -0 1\ne 1e-3 1\nf .5 1",
        Ok(&[
            "a NaN@1",
            "b +Inf@1",
            "c -Inf@1",
            "d -0.0@1",
            "e 0.001@1",
            "f 0.5@1",
        ]),
    );
    check(
        "a nan 1\nb inf 1\nc Infinity 1",
        Ok(&["a NaN@1", "b +Inf@1", "c +Inf@1"]),
    );
    check(
        r#"x{a="b\\c",q="say \"hi\"",n="l1\nl2",t="keep\t"} 1 1"#,
        Ok(&[r#"x{a="b\\c",n="l1\nl2",q="say \"hi\"",t="keep\\t"} 1.0@1"#]),
    );
    check(
        r#"x{a="é ü {}, #"} 1 1"#,
        Ok(&[r#"x{a="é ü {}, #"} 1.0@1"#]),
    );
    check(r#"x{a="",b="1"} 1 1"#, Ok(&[r#"x{b="1"} 1.0@1"#]));
    check(
        "# HELP up Whether up.\n# TYPE up gauge\n\n#comment\n   \nup 1 1\n# EOF\n",
        Ok(&["up 1.0@1"]),
    );
    check(
        "up 1 1 # {trace_id=\"abc\"} 1 1\nup 2 # {a=\"b\"} 3\n",
        Ok(&["up 1.0@1", "up 2.0@1700000000000"]),
    );
    check("a:b_c 1 1", Ok(&["a:b_c 1.0@1"]));
    check("", Ok(&[]));
}

#[test]
fn bad_lines_name_line_and_problem() {
    check(
        "ok 1\nup 1 2 3\n",
        Err(r#"line 2: unexpected text "3" after the timestamp"#),
    );
    check(
        "up{a=\"\\\"} 1",
        Err(r#"line 1: missing closing '"' in the value of label "a""#),
    );
    check(
        "up{a=\"x\\",
        Err(r#"line 1: missing closing '"' in the value of label "a""#),
    );
    check(
        "up{a=\"x\" b=\"y\"} 1",
        Err(r#"line 1: expected ',' or '}' after the value of label "a""#),
    );
    check(
        "up{a=\"x\"} 1 +5",
        Err(r#"line 1: invalid timestamp "+5": want integer milliseconds"#),
    );
    check("up 1_000", Err(r#"line 1: invalid value "1_000""#));
}

#[test]
fn an_error_leaves_the_batch_as_it_was() {
    let mut batch = Batch::new();
    parse(b"a 1 1", NOW, &Limits::default(), &mut batch).unwrap();
    parse(b"b 1 1\nc{ 1", NOW, &Limits::default(), &mut batch).unwrap_err();
    assert_eq!(batch.dump(), ["a 1.0@1"]);
}

#[test]
fn skip_policy_drops_invalid_series_only() {
    let limits = Limits {
        import_invalid_series: OnInvalid::Skip,
        ..Limits::default()
    };
    let mut batch = Batch::new();
    parse(b"a 1 1\n1b 2 2\nc 3 3", NOW, &limits, &mut batch).unwrap();
    assert_eq!(batch.dump(), ["a 1.0@1", "c 3.0@3"]);
    assert_eq!(batch.stats().series_skipped, 1);
    assert_eq!(
        batch
            .stats()
            .first_skip_reason
            .as_ref()
            .map(|e| e.to_string()),
        Some(r#"line 2: invalid metric name "1b""#.to_owned())
    );
}

#[test]
fn node_exporter_scrape_parses_completely() {
    let body = include_str!("../../../../benches/data/node_exporter.prom");
    let samples = body
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    let mut batch = Batch::new();
    parse(body.as_bytes(), NOW, &Limits::default(), &mut batch).unwrap();
    assert_eq!(batch.sample_count(), samples);
    assert_eq!(batch.len(), samples);
    assert!(batch.iter().all(|s| s.metric_name().is_some()));
}

#[test]
fn render_writes_what_parse_reads() {
    let mut batch = Batch::new();
    let input = "x{a=\"q\\\"\\\\\\n\"} -0 5\ny +Inf -3\nz 1e300 0\nw 5e-324 9\n";
    parse(input.as_bytes(), NOW, &Limits::default(), &mut batch).unwrap();
    let mut out = String::new();
    for s in batch.iter() {
        render(s, &mut out);
    }
    let mut again = Batch::new();
    parse(out.as_bytes(), NOW, &Limits::default(), &mut again).unwrap();
    assert_eq!(batch.dump(), again.dump());
    assert_eq!(batch.arena(), again.arena());
}
