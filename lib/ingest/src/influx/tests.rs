use super::*;

const NOW: i64 = 1_700_000_123_456;

#[track_caller]
fn check_with(options: &Options<'_>, input: &str, want: Result<&[&str], &str>) {
    let mut batch = Batch::new();
    let got =
        parse(input.as_bytes(), options, &Limits::default(), &mut batch).map(|()| batch.dump());
    match (got, want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "input {input:?}"),
        (Err(got), Err(want)) => assert_eq!(got.to_string(), want, "input {input:?}"),
        (got, want) => panic!("input {input:?}: got {got:?}, want {want:?}"),
    }
}

#[track_caller]
fn check(input: &str, want: Result<&[&str], &str>) {
    check_with(&Options::new(NOW), input, want);
}

#[test]
fn naming_and_types_as_victoriametrics() {
    // The same line VictoriaMetrics 1.79.5 turned into i1_value, i1_temp, i1_cnt, i1_u, i1_ok
    // (and i1_s = 0, where we skip the string).
    check(
        "i1,host=a,region=b value=1,temp=2.5,cnt=3i,u=4u,ok=true,s=\"str\" 1700000000000000000",
        Ok(&[
            r#"i1_value{host="a",region="b"} 1.0@1700000000000"#,
            r#"i1_temp{host="a",region="b"} 2.5@1700000000000"#,
            r#"i1_cnt{host="a",region="b"} 3.0@1700000000000"#,
            r#"i1_u{host="a",region="b"} 4.0@1700000000000"#,
            r#"i1_ok{host="a",region="b"} 1.0@1700000000000"#,
        ]),
    );
    check(" f=1 5000000", Ok(&["f 1.0@5"]));
    check(
        "m a=t,b=T,c=True,d=TRUE,e=f,g=F,h=False,i=FALSE,j=-1i,k=18446744073709551615u,l=-1.5e3,n=NaN,o=-Inf 0",
        Ok(&[
            "m_a 1.0@0",
            "m_b 1.0@0",
            "m_c 1.0@0",
            "m_d 1.0@0",
            "m_e 0.0@0",
            "m_g 0.0@0",
            "m_h 0.0@0",
            "m_i 0.0@0",
            "m_j -1.0@0",
            "m_k 1.8446744073709552e19@0",
            "m_l -1500.0@0",
            "m_n NaN@0",
            "m_o -Inf@0",
        ]),
    );
}

#[test]
fn escapes_tags_and_whitespace() {
    check(
        r#"cpu,host=a\ b\,c\=d\\,e=x\y f=1 1000000"#,
        Ok(&[r#"cpu_f{e="x\\y",host="a b,c=d\\"} 1.0@1"#]),
    );
    check(
        "cpu,empty=,host=a f=1,s=\"a \\\"q\\\" b, c=d\",g=2   3000000  \r\n",
        Ok(&[r#"cpu_f{host="a"} 1.0@3"#, r#"cpu_g{host="a"} 2.0@3"#]),
    );
    check("# comment\n\ncpu f=1 1000000\n", Ok(&["cpu_f 1.0@1"]));
    check("cpu s=\"only strings\" 1", Ok(&[]));
}

#[test]
fn timestamps_and_precision() {
    check("cpu f=1", Ok(&["cpu_f 1.0@1700000123456"]));
    check("cpu f=1 -1", Ok(&["cpu_f 1.0@-1"]));
    let mut o = Options::new(NOW);
    for (precision, ts, want) in [
        ("ns", "1999999", "1"),
        ("u", "1999", "1"),
        ("us", "1999", "1"),
        ("µ", "1999", "1"),
        ("ms", "1999", "1999"),
        ("s", "2", "2000"),
        ("m", "2", "120000"),
        ("h", "472222", "1699999200000"),
    ] {
        o.precision = precision.parse().unwrap();
        let want = format!("cpu_f 1.0@{want}");
        check_with(&o, &format!("cpu f=1 {ts}"), Ok(&[&want]));
    }
    o.precision = Precision::Seconds;
    check_with(&o, "cpu f=1", Ok(&["cpu_f 1.0@1700000123000"]));
    o.precision = Precision::Hours;
    check_with(&o, "cpu f=1", Ok(&["cpu_f 1.0@1699999200000"]));
    check_with(
        &o,
        "cpu f=1 -9223372036854775807",
        Err("line 1: timestamp -9223372036854775807 overflows milliseconds at precision h"),
    );
    assert_eq!("".parse(), Ok(Precision::Nanoseconds));
}

#[test]
fn db_and_naming_options() {
    let mut o = Options::new(NOW);
    o.db = "telegraf";
    check_with(&o, "cpu f=1 0", Ok(&[r#"cpu_f{db="telegraf"} 1.0@0"#]));
    check_with(&o, "cpu,db=mine f=1 0", Ok(&[r#"cpu_f{db="mine"} 1.0@0"#]));
    o.skip_single_field = true;
    check_with(&o, "cpu value=1 0", Ok(&[r#"cpu{db="telegraf"} 1.0@0"#]));
    check_with(
        &o,
        "cpu a=1,b=2 0",
        Ok(&[
            r#"cpu_a{db="telegraf"} 1.0@0"#,
            r#"cpu_b{db="telegraf"} 2.0@0"#,
        ]),
    );
    o.skip_single_field = false;
    o.skip_measurement = true;
    o.measurement_field_separator = ":";
    check_with(&o, "cpu a=1 0", Ok(&[r#"a{db="telegraf"} 1.0@0"#]));
    o.skip_measurement = false;
    check_with(&o, "cpu a=1 0", Ok(&[r#"cpu:a{db="telegraf"} 1.0@0"#]));
}

#[test]
fn render_writes_what_parse_reads() {
    let mut out = String::new();
    render(
        "disk io",
        &[("path", "/var/a b,c=d\\"), ("host", "h")],
        &[("used", 1.5), ("free", -0.0), ("n", f64::INFINITY)],
        1_700_000_000_123_456_789,
        &mut out,
    );
    let mut o = Options::new(NOW);
    o.skip_measurement = true;
    check_with(
        &o,
        &out,
        Ok(&[
            r#"used{host="h",path="/var/a b,c=d\\"} 1.5@1700000000123"#,
            r#"free{host="h",path="/var/a b,c=d\\"} -0.0@1700000000123"#,
            r#"n{host="h",path="/var/a b,c=d\\"} +Inf@1700000000123"#,
        ]),
    );
}
