//! Rendering answers in the JSON shapes of the Prometheus HTTP API.

use std::fmt::Write;

use promql::{Annotations, Labels, QueryValue};

use crate::times::format_seconds;

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a sample value as Prometheus writes it: a string, shortest round-trip decimal
/// without exponent, `NaN`, `+Inf`, `-Inf`.
pub fn write_value(out: &mut String, v: f64) {
    out.push('"');
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
    out.push('"');
}

/// Appends `[<seconds>,"<value>"]`.
pub fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    format_seconds(t, out);
    out.push(',');
    write_value(out, v);
    out.push(']');
}

/// Appends a label set as a JSON object.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, l.name);
        out.push(':');
        write_str(out, l.value);
    }
    out.push('}');
}

/// Appends `"isPartial":..` and, when present, `"warnings"` and `"infos"`.
fn write_envelope_tail(out: &mut String, is_partial: bool, annotations: &Annotations) {
    let _ = write!(out, ",\"isPartial\":{is_partial}");
    for (key, list) in [
        ("warnings", &annotations.warnings),
        ("infos", &annotations.infos),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(out, ",\"{key}\":[");
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, w);
        }
        out.push(']');
    }
}

/// Renders a query answer: `{"status":"success","data":{"resultType":..,"result":..},...}`.
pub fn render_query(value: &QueryValue, is_partial: bool, annotations: &Annotations) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"status\":\"success\",\"data\":{\"resultType\":");
    match value {
        QueryValue::Scalar { t, v } => {
            out.push_str("\"scalar\",\"result\":");
            write_point(&mut out, *t, *v);
        }
        QueryValue::String { t, v } => {
            out.push_str("\"string\",\"result\":[");
            format_seconds(*t, &mut out);
            out.push(',');
            write_str(&mut out, v);
            out.push(']');
        }
        QueryValue::Vector(samples) => {
            out.push_str("\"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                write_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        QueryValue::Matrix(series) => {
            out.push_str("\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, &(t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(&mut out, t, v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    write_envelope_tail(&mut out, is_partial, annotations);
    out.push('}');
    out
}

/// Renders `{"status":"success","data":[..strings..]}` (label names and values).
pub fn render_strings(values: &[String], is_partial: bool) -> String {
    let mut out = String::with_capacity(64 + values.len() * 16);
    out.push_str("{\"status\":\"success\",\"data\":[");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(&mut out, v);
    }
    out.push(']');
    write_envelope_tail(&mut out, is_partial, &Annotations::default());
    out.push('}');
    out
}

/// Renders `{"status":"success","data":[{..labels..},..]}` (series lookups).
pub fn render_series(series: &[Labels], is_partial: bool) -> String {
    let mut out = String::with_capacity(64 + series.len() * 64);
    out.push_str("{\"status\":\"success\",\"data\":[");
    for (i, l) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_labels(&mut out, l);
    }
    out.push(']');
    write_envelope_tail(&mut out, is_partial, &Annotations::default());
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql::{RangeSeries, Sample};

    #[test]
    fn renders_prometheus_shapes() {
        let labels = Labels::from_pairs(&[("__name__", "up"), ("job", "a\"b\n")]);
        let v = QueryValue::Vector(vec![Sample {
            labels: labels.clone(),
            t: 1_500,
            v: f64::NAN,
        }]);
        let mut ann = Annotations::default();
        ann.add_warning("PromQL warning: careful".into());
        assert_eq!(
            render_query(&v, false, &ann),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b\n"},"value":[1.5,"NaN"]}]},"isPartial":false,"warnings":["PromQL warning: careful"]}"#
        );
        let m = QueryValue::Matrix(vec![RangeSeries {
            labels,
            points: vec![(0, 1.0), (60_000, f64::NEG_INFINITY)],
        }]);
        assert!(
            render_query(&m, true, &Annotations::default())
                .ends_with(r#""values":[[0,"1"],[60,"-Inf"]]}]},"isPartial":true}"#)
        );
        let s = QueryValue::Scalar { t: 1, v: 1e21 };
        assert_eq!(
            render_query(&s, false, &Annotations::default()),
            r#"{"status":"success","data":{"resultType":"scalar","result":[0.001,"1000000000000000000000"]},"isPartial":false}"#
        );
        assert_eq!(
            render_strings(&["a".into(), "b".into()], false),
            r#"{"status":"success","data":["a","b"],"isPartial":false}"#
        );
        let mut out = String::new();
        write_value(&mut out, -0.0);
        write_value(&mut out, 0.1);
        write_value(&mut out, 1e-7);
        assert_eq!(out, r#""-0""0.1""0.0000001""#);
        let mut out = String::new();
        write_str(&mut out, "\u{1}é");
        assert_eq!(out, "\"\\u0001é\"");
    }
}
