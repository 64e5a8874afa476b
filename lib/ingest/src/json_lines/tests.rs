use super::*;

#[track_caller]
fn check(input: &str, want: Result<&[&str], &str>) {
    let mut batch = Batch::new();
    let got = parse(input.as_bytes(), &Limits::default(), &mut batch).map(|()| batch.dump());
    match (got, want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "input {input:?}"),
        (Err(got), Err(want)) => assert_eq!(got.to_string(), want, "input {input:?}"),
        (got, want) => panic!("input {input:?}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn good_lines() {
    check(
        r#"{"metric":{"__name__":"up","job":"x"},"values":[1,2],"timestamps":[1000,2000]}"#,
        Ok(&[r#"up{job="x"} 1.0@1000 2.0@2000"#]),
    );
    // As VictoriaMetrics 1.79.5 exports them: bare +Inf, -Inf and escaped label values.
    check(
        r#"{"metric":{"__name__":"t1_inf","a":"1"},"values":[+Inf,-Inf,NaN],"timestamps":[1,2,3]}"#,
        Ok(&[r#"t1_inf{a="1"} +Inf@1 -Inf@2 NaN@3"#]),
    );
    check(
        r#"{"metric":{"__name__":"t3","a":"x\\y","b":"q\"z","c":"n\nl","d":"t\\tt"},"values":[7],"timestamps":[1700000000000]}"#,
        Ok(&[r#"t3{a="x\\y",b="q\"z",c="n\nl",d="t\\tt"} 7.0@1700000000000"#]),
    );
    check(
        r#" { "timestamps" : [ 5 , -6 ] , "extra" : {"a":[1,{"b":null}],"c":"}"}, "values" : [ null , "-Inf" ] , "metric" : { "job" : "x" } } "#,
        Ok(&[r#"{job="x"} NaN@5 -Inf@-6"#]),
    );
    check(
        r#"{"metric":{"__name__":"u","a":"\u00e9\ud83d\ude00\/\t"},"values":["NaN","inf","Infinity","null",1e3,-0.0],"timestamps":[1,2,3,4,5,6]}"#,
        Ok(&["u{a=\"é😀/\t\"} NaN@1 +Inf@2 +Inf@3 NaN@4 1000.0@5 -0.0@6"]),
    );
    check(
        "\n{\"metric\":{\"__name__\":\"a\"},\"values\":[1],\"timestamps\":[1]}\r\n  \r\n{\"metric\":{\"__name__\":\"b\",\"e\":\"\"},\"values\":[2],\"timestamps\":[2]}",
        Ok(&["a 1.0@1", "b 2.0@2"]),
    );
    check(
        r#"{"metric":{"__name__":"a"},"values":[1],"timestamps":[1],"more":[true,false,null,"s",-1.5e-3,{}]}"#,
        Ok(&["a 1.0@1"]),
    );
    check("", Ok(&[]));
}

#[test]
fn bad_lines_name_line_and_problem() {
    check(
        r#"{"metric":{"__name__":"a"},"values":[1,],"timestamps":[1]}"#,
        Err(r#"line 1: values[1]: invalid number """#),
    );
    check(
        r#"{"metric":{"__name__":"a"},"values":[1],"timestamps":[9223372036854775808]}"#,
        Err(
            r#"line 1: timestamps[0]: invalid timestamp "9223372036854775808": want integer milliseconds"#,
        ),
    );
    check(
        r#"{"metric":["a"],"values":[1],"timestamps":[1]}"#,
        Err(r#"line 1: expected '{' to open "metric", found '[' at column 11"#),
    );
    check(
        r#"{"metric":{"__name__":"a"},"values":1,"timestamps":[1]}"#,
        Err(r#"line 1: expected '[' to open "values", found '1' at column 37"#),
    );
    check(
        r#"{"metric":{"__name__":"a"},"values":[1],"timestamps":[1]"#,
        Err(
            r#"line 1: expected ',' or '}' after the value of "timestamps", found the end of the line"#,
        ),
    );
    check(
        r#"{"metric":{"a":"\ud800\u0041"}}"#,
        Err(r#"line 1: unpaired surrogate \ud800 at column 17"#),
    );
    check(
        r#"{1:2}"#,
        Err("line 1: expected a key, found '1' at column 2"),
    );
}

#[test]
fn an_error_leaves_the_batch_as_it_was() {
    let mut batch = Batch::new();
    let good = r#"{"metric":{"__name__":"a"},"values":[1],"timestamps":[1]}"#;
    parse(good.as_bytes(), &Limits::default(), &mut batch).unwrap();
    let body = format!("{good}\n{{");
    parse(body.as_bytes(), &Limits::default(), &mut batch).unwrap_err();
    assert_eq!(batch.dump(), ["a 1.0@1"]);
}
