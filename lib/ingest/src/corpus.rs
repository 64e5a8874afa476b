//! Bad inputs for every format, each with the outcome it must have under [`Limits::default`]:
//! this crate's tests run them through the parsers, and the cluster tests replay them over
//! HTTP (post [`Case::body`] to the case's path with [`Case::query`] and
//! [`Format::content_encoding`]; a [`Expect::Reject`] case must answer 400 with a body
//! containing the message, a [`Expect::Skip`] case must answer 2xx and store nothing).

use std::str::FromStr;

use crate::batch::Batch;
use crate::error::IngestError;
use crate::influx::{self, Precision};
use crate::protobuf::{WireType, put_bytes, put_key, put_varint};
use crate::validate::Limits;
use crate::{json_lines, prometheus_text, remote_write, snappy};

/// An ingestion format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus remote_write 1.0.
    RemoteWrite,
    /// VictoriaMetrics JSON lines.
    JsonLines,
    /// Prometheus text exposition.
    PrometheusText,
    /// Influx line protocol.
    Influx,
}

impl Format {
    /// The path under a tenant prefix (`/insert/<tenant>/prometheus`) that takes this format,
    /// as VictoriaMetrics names it.
    pub fn path(self) -> &'static str {
        match self {
            Format::RemoteWrite => "/api/v1/write",
            Format::JsonLines => "/api/v1/import",
            Format::PrometheusText => "/api/v1/import/prometheus",
            Format::Influx => "/influx/write",
        }
    }

    /// The `Content-Encoding` a request of this format carries, if any.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Format::RemoteWrite => Some("snappy"),
            _ => None,
        }
    }
}

/// What must become of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The request fails with exactly this message (an HTTP 400 whose body contains it).
    Reject(&'static str),
    /// The request succeeds but the series is skipped, for exactly this reason
    /// ([`crate::Stats::first_skip_reason`]); nothing is stored.
    Skip(&'static str),
}

/// One bad input.
#[derive(Clone, Debug)]
pub struct Case {
    /// A unique name, e.g. `text_invalid_label_name`.
    pub name: &'static str,
    /// The format of `body`.
    pub format: Format,
    /// URL query arguments to send, e.g. `precision=h` (may be empty).
    pub query: &'static str,
    /// The request body, as sent (remote_write bodies are snappy-compressed).
    pub body: Vec<u8>,
    /// The outcome.
    pub expect: Expect,
}

/// The timestamp [`parse`] gives samples without one.
pub const DEFAULT_TIMESTAMP_MS: i64 = 1_700_000_000_000;

/// Parses `body` as vminsert would for `format` and `query` (Influx `precision` and `db`),
/// with `limits` and [`DEFAULT_TIMESTAMP_MS`] as now.
pub fn parse(
    format: Format,
    query: &str,
    body: &[u8],
    limits: &Limits,
    batch: &mut Batch,
) -> Result<(), IngestError> {
    match format {
        Format::RemoteWrite => remote_write::decode(body, limits, batch),
        Format::JsonLines => json_lines::parse(body, limits, batch),
        Format::PrometheusText => prometheus_text::parse(body, DEFAULT_TIMESTAMP_MS, limits, batch),
        Format::Influx => {
            let mut options = influx::Options::new(DEFAULT_TIMESTAMP_MS);
            for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
                match k {
                    "precision" => options.precision = Precision::from_str(v)?,
                    "db" => options.db = v,
                    _ => {}
                }
            }
            influx::parse(body, &options, limits, batch)
        }
    }
}

/// Every bad input, at least 40 of them rejected.
pub fn bad_inputs() -> Vec<Case> {
    let mut cases = remote_write_cases();
    cases.extend(text_cases(Format::PrometheusText, TEXT));
    cases.extend(text_cases(Format::JsonLines, JSON));
    cases.extend(text_cases(Format::Influx, INFLUX));
    cases.push(Case {
        name: "text_bad_utf8",
        format: Format::PrometheusText,
        query: "",
        body: b"up 1\nup{a=\"\xff\"} 1\n".to_vec(),
        expect: Expect::Reject("line 2: invalid UTF-8"),
    });
    cases.push(Case {
        name: "influx_bad_utf8",
        format: Format::Influx,
        query: "",
        body: b"cpu,host=\xc3 f=1\n".to_vec(),
        expect: Expect::Reject("line 1: invalid UTF-8"),
    });
    cases
}

type TextCase = (&'static str, &'static str, &'static str, Expect);

fn text_cases(format: Format, table: &[TextCase]) -> impl Iterator<Item = Case> + '_ {
    table.iter().map(move |&(name, query, body, expect)| Case {
        name,
        format,
        query,
        body: body.as_bytes().to_vec(),
        expect,
    })
}

use Expect::Reject;

/// `(name, query, body, outcome)`.
#[rustfmt::skip]
const TEXT: &[TextCase] = &[
    ("text_missing_value", "", "up\n", Reject(r#"line 1: missing value for metric "up""#)),
    ("text_missing_value_after_labels", "", "up{a=\"1\"} # x\n", Reject(r#"line 1: missing value for metric "up""#)),
    ("text_invalid_value", "", "up abc\n", Reject(r#"line 1: invalid value "abc""#)),
    ("text_hex_value", "", "up 0x10\n", Reject(r#"line 1: invalid value "0x10""#)),
    ("text_float_timestamp", "", "up 1 1.5e12\n", Reject(r#"line 1: invalid timestamp "1.5e12": want integer milliseconds"#)),
    ("text_timestamp_overflow", "", "up 1 99999999999999999999\n", Reject(r#"line 1: invalid timestamp "99999999999999999999": want integer milliseconds"#)),
    ("text_text_after_timestamp", "", "up 1 1000 extra\n", Reject(r#"line 1: unexpected text "extra" after the timestamp"#)),
    ("text_unterminated_labels", "", "up{job=\"x\"\n", Reject(r#"line 1: expected ',' or '}' after the value of label "job""#)),
    ("text_unterminated_label_list", "", "up{job=\"x\",\n", Reject("line 1: missing '}' at the end of the label list")),
    ("text_unquoted_value", "", "up{job=x} 1\n", Reject(r#"line 1: expected '"' to open the value of label "job""#)),
    ("text_unterminated_value", "", "up{job=\"x} 1\n", Reject(r#"line 1: missing closing '"' in the value of label "job""#)),
    ("text_missing_eq", "", "up{job} 1\n", Reject(r#"line 1: expected '=' after label name "job""#)),
    ("text_missing_metric_name", "", "{job=\"x\"} 1\n", Reject("line 1: missing metric name before '{'")),
    ("text_empty_label_name", "", "up{=\"x\"} 1\n", Reject("line 1: expected a label name at column 4")),
    ("text_invalid_label_name", "", "# HELP up x\nup 1\nup{1abc=\"x\"} 1\n", Reject(r#"line 3: invalid label name "1abc""#)),
    ("text_invalid_metric_name", "", "up-time 1\n", Reject(r#"line 1: invalid metric name "up-time""#)),
    ("text_duplicate_label", "", "up{a=\"1\",a=\"2\"} 1\n", Reject(r#"line 1: duplicate label name "a""#)),
    ("text_reserved_chars_in_label_name", "", "up{a.b=\"1\"} 1\n", Reject(r#"line 1: invalid label name "a.b""#)),
];

/// `(name, query, body, outcome)`.
#[rustfmt::skip]
const JSON: &[TextCase] = &[
    ("json_not_json", "", "up 1\n", Reject(r#"line 1: expected '{' to open the line's object, found 'u' at column 1"#)),
    ("json_missing_metric", "", r#"{"values":[1],"timestamps":[1]}"#, Reject(r#"line 1: missing "metric" object"#)),
    ("json_missing_values", "", r#"{"metric":{"__name__":"up"},"timestamps":[1]}"#, Reject(r#"line 1: missing "values" array"#)),
    ("json_missing_timestamps", "", r#"{"metric":{"__name__":"up"},"values":[1]}"#, Reject(r#"line 1: missing "timestamps" array"#)),
    ("json_length_mismatch", "", r#"{"metric":{"__name__":"up"},"values":[1,2],"timestamps":[1]}"#, Reject(r#"line 1: "values" has 2 entries but "timestamps" has 1"#)),
    ("json_empty_arrays", "", r#"{"metric":{"__name__":"up"},"values":[],"timestamps":[]}"#, Reject(r#"line 1: empty "values" and "timestamps" arrays"#)),
    ("json_label_not_string", "", r#"{"metric":{"__name__":"up","a":1},"values":[1],"timestamps":[1]}"#, Reject(r#"line 1: value of label "a" must be a string, found '1' at column 32"#)),
    ("json_float_timestamp", "", r#"{"metric":{"__name__":"up"},"values":[1],"timestamps":[1.5]}"#, Reject(r#"line 1: timestamps[0]: invalid timestamp "1.5": want integer milliseconds"#)),
    ("json_string_timestamp", "", r#"{"metric":{"__name__":"up"},"values":[1],"timestamps":["1"]}"#, Reject(r#"line 1: timestamps[0]: invalid timestamp '"' at column 56: want integer milliseconds"#)),
    ("json_bool_value", "", r#"{"metric":{"__name__":"up"},"values":[true],"timestamps":[1]}"#, Reject(r#"line 1: values[0]: invalid number "true""#)),
    ("json_string_value", "", r#"{"metric":{"__name__":"up"},"values":[1,"abc"],"timestamps":[1,2]}"#, Reject(r#"line 1: values[1]: unsupported string "abc""#)),
    ("json_duplicate_key", "", r#"{"metric":{"__name__":"up"},"values":[1],"values":[2],"timestamps":[1]}"#, Reject(r#"line 1: duplicate key "values""#)),
    ("json_text_after_object", "", r#"{"metric":{"__name__":"up"},"values":[1],"timestamps":[1]} x"#, Reject(r#"line 1: unexpected text after the object: 'x' at column 60"#)),
    ("json_unterminated_string", "", r#"{"metric":{"__name__":"up"#, Reject("line 1: unterminated string")),
    ("json_bad_escape", "", r#"{"metric":{"__name__":"u\q"},"values":[1],"timestamps":[1]}"#, Reject("line 1: invalid escape in a string at column 25")),
    ("json_lone_surrogate", "", r#"{"metric":{"__name__":"\ud800"},"values":[1],"timestamps":[1]}"#, Reject(r#"line 1: unpaired surrogate \ud800 at column 24"#)),
    ("json_short_unicode_escape", "", r#"{"metric":{"__name__":"\u12"},"values":[1],"timestamps":[1]}"#, Reject(r#"line 1: invalid \u escape at column 24: want 4 hex digits"#)),
    ("json_control_char", "", "{\"metric\":{\"__name__\":\"u\tp\"},\"values\":[1],\"timestamps\":[1]}", Reject("line 1: control character 0x09 in a string at column 25")),
    ("json_missing_comma", "", r#"{"metric":{"__name__":"up"} "values":[1],"timestamps":[1]}"#, Reject(r#"line 1: expected ',' or '}' after the value of "metric", found '"' at column 29"#)),
    ("json_too_deep", "", concat!(r#"{"x":"#, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", r#"}"#), Reject("line 1: values nested more than 64 deep")),
    ("json_bad_skipped_value", "", r#"{"x":[1,},"metric":{"__name__":"up"},"values":[1],"timestamps":[1]}"#, Reject("line 1: expected a JSON value, found '}' at column 9")),
    ("json_invalid_label_name", "", concat!(r#"{"metric":{"__name__":"up"},"values":[1],"timestamps":[1]}"#, "\n", r#"{"metric":{"__name__":"up","1abc":"x"},"values":[1],"timestamps":[1]}"#), Reject(r#"line 2: invalid label name "1abc""#)),
    ("json_empty_metric", "", r#"{"metric":{},"values":[1],"timestamps":[1]}"#, Reject("line 1: empty label set")),
    ("json_empty_label_name", "", r#"{"metric":{"":"x"},"values":[1],"timestamps":[1]}"#, Reject(r#"line 1: invalid label name """#)),
];

/// `(name, query, body, outcome)`.
#[rustfmt::skip]
const INFLUX: &[TextCase] = &[
    ("influx_no_fields", "", "cpu\n", Reject(r#"line 1: missing fields after "cpu""#)),
    ("influx_no_fields_after_space", "", "cpu,host=a \n", Reject("line 1: missing fields after the measurement and tags")),
    ("influx_tag_without_eq", "", "cpu,host f=1\n", Reject(r#"line 1: tag "host" has no '='"#)),
    ("influx_tag_empty_key", "", "cpu,=x f=1\n", Reject(r#"line 1: tag "=x" has an empty key"#)),
    ("influx_field_without_eq", "", "cpu f\n", Reject(r#"line 1: field "f" has no '='"#)),
    ("influx_empty_field_key", "", "cpu =1\n", Reject("line 1: empty field key")),
    ("influx_empty_field_value", "", "cpu f=\n", Reject(r#"line 1: empty value of field "f""#)),
    ("influx_bad_float", "", "cpu f=abc\n", Reject(r#"line 1: invalid value "abc" of field "f""#)),
    ("influx_bad_integer", "", "cpu f=1.5i\n", Reject(r#"line 1: invalid integer value "1.5i" of field "f""#)),
    ("influx_negative_unsigned", "", "cpu f=-1u\n", Reject(r#"line 1: invalid unsigned value "-1u" of field "f""#)),
    ("influx_unterminated_string", "", "cpu s=\"abc\n", Reject(r#"line 1: missing closing '"' in the value of field "s""#)),
    ("influx_text_after_string", "", "cpu s=\"a\"x 1\n", Reject(r#"line 1: unexpected text "x 1" after the value of field "s""#)),
    ("influx_bad_timestamp", "", "cpu f=1 12x\n", Reject(r#"line 1: invalid timestamp "12x""#)),
    ("influx_text_after_timestamp", "", "cpu f=1 1000 extra\n", Reject(r#"line 1: unexpected text "extra" after the timestamp"#)),
    ("influx_timestamp_overflow", "precision=h", "cpu f=1 9223372036854775807\n", Reject("line 1: timestamp 9223372036854775807 overflows milliseconds at precision h")),
    ("influx_unknown_precision", "precision=xx", "cpu f=1\n", Reject(r#"unknown precision "xx"; want one of ns, u, us, µ, ms, s, m, h"#)),
    ("influx_invalid_metric_name", "", "cpu\\ load f=1\n", Reject(r#"line 1: invalid metric name "cpu load_f""#)),
    ("influx_invalid_field_name", "", "cpu f-x=1\n", Reject(r#"line 1: invalid metric name "cpu_f-x""#)),
    ("influx_invalid_tag_key", "", "cpu,1abc=x f=1\n", Reject(r#"line 1: invalid label name "1abc""#)),
    ("influx_duplicate_tag", "", "cpu,a=1,a=2 f=1\n", Reject(r#"line 1: duplicate label name "a""#)),
];

fn label(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    put_bytes(&mut m, 1, name);
    put_bytes(&mut m, 2, value);
    m
}

fn sample(value: f64, timestamp_ms: i64) -> Vec<u8> {
    let mut m = Vec::new();
    put_key(&mut m, 1, WireType::Fixed64);
    m.extend_from_slice(&value.to_bits().to_le_bytes());
    put_key(&mut m, 2, WireType::Varint);
    put_varint(&mut m, timestamp_ms as u64);
    m
}

/// A `TimeSeries` payload from raw label and sample payloads.
fn series(labels: &[Vec<u8>], samples: &[Vec<u8>]) -> Vec<u8> {
    let mut m = Vec::new();
    for l in labels {
        put_bytes(&mut m, 1, l);
    }
    for s in samples {
        put_bytes(&mut m, 2, s);
    }
    m
}

/// A `WriteRequest` from `TimeSeries` payloads.
fn request(series: &[Vec<u8>]) -> Vec<u8> {
    let mut m = Vec::new();
    for s in series {
        put_bytes(&mut m, 1, s);
    }
    m
}

fn good_series() -> Vec<u8> {
    series(
        &[label(b"__name__", b"up"), label(b"job", b"x")],
        &[sample(1.0, 1000)],
    )
}

fn with_labels(labels: &[(&str, &str)]) -> Vec<u8> {
    let labels: Vec<_> = labels
        .iter()
        .map(|(n, v)| label(n.as_bytes(), v.as_bytes()))
        .collect();
    snappy::compress(&request(&[series(&labels, &[sample(1.0, 1000)])]))
}

#[rustfmt::skip]
fn remote_write_cases() -> Vec<Case> {
    let rw = |name, body: Vec<u8>, expect| Case {
        name,
        format: Format::RemoteWrite,
        query: "",
        body,
        expect,
    };
    let packed = |raw: &[u8]| snappy::compress(raw);
    let g = good_series;
    let mut too_large = Vec::new();
    put_varint(&mut too_large, 300_000_000);
    too_large.extend_from_slice(&[0; 8]);
    let many: Vec<(String, String)> = (0..31).map(|i| (format!("l{i:02}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let long = "v".repeat(16 * 1024 + 1);
    vec![
        rw("rw_empty_body", Vec::new(), Reject("snappy: corrupt input (empty)")),
        rw("rw_not_snappy", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(), Reject("snappy: cannot read the decoded length: corrupt input (invalid header)")),
        rw("rw_decoded_too_large", too_large, Reject("snappy: decoded length 300000000 exceeds limit 67108864")),
        rw("rw_corrupt_block", vec![0x0a, 0xff, 0xff, 0xff, 0xff], Reject("snappy: corrupt input (expected copy read of length 4; remaining src: 3)")),
        rw("rw_truncated_key", packed(&[0x80]), Reject("protobuf: truncated varint at byte 0 in WriteRequest")),
        rw("rw_series_past_end", packed(&[0x0a, 0x10, 0x0a, 0x00]), Reject("protobuf: field needs 16 bytes but only 2 are left at byte 2 in WriteRequest")),
        rw("rw_series_wrong_wire_type", packed(&[0x08, 0x01]), Reject("protobuf: field 1 has wire type varint, want length-delimited at byte 0 in WriteRequest")),
        rw("rw_invalid_wire_type", packed(&[0x0f]), Reject("protobuf: invalid wire type 7 at byte 0 in WriteRequest")),
        rw("rw_field_zero", packed(&[0x00]), Reject("protobuf: invalid field number 0 at byte 0 in WriteRequest")),
        rw("rw_unterminated_group", packed(&[0x0a, 0x00, 0x2b]), Reject("protobuf: group of field 5 is not closed at byte 3 in WriteRequest")),
        rw("rw_label_truncated_varint", packed(&request(&[g(), g(), vec![0x0a, 0x02, 0x0a, 0x80]])), Reject("protobuf: truncated varint at byte 89 in WriteRequest.timeseries[2].labels[0]")),
        rw("rw_label_name_not_utf8", packed(&request(&[series(&[label(b"\xff", b"v")], &[sample(1.0, 1)])])), Reject("protobuf: label name is not valid UTF-8 at byte 6 in WriteRequest.timeseries[0].labels[0]")),
        rw("rw_label_value_not_utf8", packed(&request(&[series(&[label(b"a", b"b"), label(b"n", b"ok\xc3")], &[sample(1.0, 1)])])), Reject("protobuf: label value is not valid UTF-8 at byte 19 in WriteRequest.timeseries[0].labels[1]")),
        rw("rw_sample_value_wrong_wire_type", packed(&request(&[series(&[label(b"a", b"b")], &[vec![0x08, 0x01]])])), Reject("protobuf: field 1 has wire type varint, want fixed64 at byte 12 in WriteRequest.timeseries[0].samples[0]")),
        rw("rw_sample_value_truncated", packed(&request(&[series(&[label(b"a", b"b")], &[vec![0x09, 1, 2, 3]])])), Reject("protobuf: field needs 8 bytes but only 3 are left at byte 13 in WriteRequest.timeseries[0].samples[0]")),
        rw("rw_timestamp_overflow", packed(&request(&[series(&[label(b"a", b"b")], &[vec![0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]])])), Reject("protobuf: varint longer than 10 bytes or over 64 bits at byte 13 in WriteRequest.timeseries[0].samples[0]")),
        rw("rw_exemplar_past_end", packed(&request(&[[g(), vec![0x1a, 0x05, 0x00]].concat()])), Reject("protobuf: field needs 5 bytes but only 1 are left at byte 44 in WriteRequest.timeseries[0]")),
        rw("rw_invalid_label_name", with_labels(&[("__name__", "up"), ("1abc", "x")]), Reject(r#"WriteRequest.timeseries[0]: invalid label name "1abc""#)),
        rw("rw_invalid_metric_name", with_labels(&[("__name__", "up-time")]), Reject(r#"WriteRequest.timeseries[0]: invalid metric name "up-time""#)),
        rw("rw_duplicate_label", with_labels(&[("__name__", "up"), ("job", "a"), ("job", "b")]), Reject(r#"WriteRequest.timeseries[0]: duplicate label name "job""#)),
        rw("rw_empty_label_set", with_labels(&[("job", "")]), Reject("WriteRequest.timeseries[0]: empty label set")),
        rw("rw_too_many_labels", with_labels(&many), Reject("WriteRequest.timeseries[0]: 31 labels exceed the limit of 30 labels per series")),
        rw("rw_label_value_too_long", with_labels(&[("__name__", "up"), ("big", &long)]), Reject(r#"WriteRequest.timeseries[0]: value of label "big" is 16385 bytes long, over the limit of 16384"#)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_has_its_outcome() {
        let cases = bad_inputs();
        let rejected = cases
            .iter()
            .filter(|c| matches!(c.expect, Expect::Reject(_)))
            .count();
        assert!(rejected >= 40, "only {rejected} rejected cases");
        let mut names = std::collections::HashSet::new();
        let mut failures = Vec::new();
        for case in &cases {
            assert!(names.insert(case.name), "duplicate case {}", case.name);
            let mut batch = Batch::new();
            let got = parse(
                case.format,
                case.query,
                &case.body,
                &Limits::default(),
                &mut batch,
            );
            let ok = match (case.expect, &got) {
                (Expect::Reject(want), Err(e)) => e.to_string() == want,
                (Expect::Skip(want), Ok(())) => {
                    batch.is_empty()
                        && batch.stats().series_skipped == 1
                        && batch
                            .stats()
                            .first_skip_reason
                            .as_ref()
                            .is_some_and(|e| e.to_string() == want)
                }
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{}: got {:?} (skipped: {:?}), want {:?}",
                    case.name,
                    got.map_err(|e| e.to_string()),
                    batch
                        .stats()
                        .first_skip_reason
                        .as_ref()
                        .map(|e| e.to_string()),
                    case.expect
                ));
            }
            assert!(batch.is_empty(), "{}: batch not empty", case.name);
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
