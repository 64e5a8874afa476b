//! The Influx line protocol, as `/influx/write` (and `/write`) take it.
//!
//! `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, one point per line.
//! - A backslash escapes the next byte in the measurement, tag keys, tag values and field keys;
//!   `\ `, `\,`, `\=` and `\\` unescape to the escaped byte, any other escape is kept as
//!   written (as VictoriaMetrics does).
//! - Field values: floats (Rust `f64` syntax, `NaN` and `Inf` included), integers `12i`,
//!   unsigned `12u`, booleans (`t`, `T`, `true`, `True`, `TRUE`, and the same for false) as 1
//!   and 0, and double-quoted strings, which have no numeric value and are skipped and counted
//!   in [`crate::Stats::influx_string_fields_skipped`].
//! - The timestamp is an integer in the request's [`Precision`] (ns by default), converted to
//!   milliseconds rounding down; a missing one becomes the caller's default (now), truncated to
//!   the precision for `s`, `m` and `h` as VictoriaMetrics does.
//! - Empty lines and lines starting with `#` are skipped; `\r\n` is accepted; blanks after the
//!   timestamp are ignored. A tag with an empty value is dropped.
//!
//! Each numeric field becomes a series named as VictoriaMetrics names it with its default
//! flags: `{measurement}_{field}` (`-influxMeasurementFieldSeparator=_`), also when the field is
//! `value` (`-influxSkipSingleField=false`), or just `{field}` when the measurement is empty.
//! The tags become labels, plus `db` with the request's `db` argument unless a tag is named
//! `db`. The name must then be a valid metric name; a series that breaks a validation rule is
//! handled as [`Limits::import_invalid_series`] says. Any syntax error fails the request.

use std::str::FromStr;

use tsdb::metric_name::Label;

use crate::batch::{Batch, Sample, Scratch};
use crate::error::{IngestError, Location, quoted};
use crate::text::{self, Str, parse_float, parse_int};
use crate::validate::Limits;

/// The unit of Influx timestamps, from the `precision` query argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// `ns` (or `n`, or no argument): nanoseconds, the default.
    #[default]
    Nanoseconds,
    /// `u`, `us` or `µ`: microseconds.
    Microseconds,
    /// `ms`: milliseconds.
    Milliseconds,
    /// `s`: seconds.
    Seconds,
    /// `m`: minutes.
    Minutes,
    /// `h`: hours.
    Hours,
}

impl FromStr for Precision {
    type Err = IngestError;

    /// Parses a `precision` argument; the empty string is the default, nanoseconds.
    fn from_str(s: &str) -> Result<Self, IngestError> {
        Ok(match s {
            "" | "n" | "ns" => Precision::Nanoseconds,
            "u" | "us" | "µ" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" => Precision::Minutes,
            "h" => Precision::Hours,
            other => return Err(IngestError::UnknownPrecision(quoted(other))),
        })
    }
}

impl Precision {
    /// `ts` in this unit as milliseconds, rounding down; `None` when it overflows `i64`.
    pub fn to_millis(self, ts: i64) -> Option<i64> {
        match self {
            Precision::Nanoseconds => Some(ts.div_euclid(1_000_000)),
            Precision::Microseconds => Some(ts.div_euclid(1_000)),
            Precision::Milliseconds => Some(ts),
            Precision::Seconds => ts.checked_mul(1_000),
            Precision::Minutes => ts.checked_mul(60_000),
            Precision::Hours => ts.checked_mul(3_600_000),
        }
    }

    fn unit_ms(self) -> i64 {
        match self {
            Precision::Seconds => 1_000,
            Precision::Minutes => 60_000,
            Precision::Hours => 3_600_000,
            _ => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "ns",
            Precision::Microseconds => "us",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
            Precision::Minutes => "m",
            Precision::Hours => "h",
        }
    }
}

/// How one request is read and named; [`Options::new`] gives VictoriaMetrics's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options<'o> {
    /// Unit of the timestamps (`precision` query argument).
    pub precision: Precision,
    /// Milliseconds given to points without a timestamp: the time the request arrived.
    pub default_timestamp_ms: i64,
    /// The `db` query argument, added as label `db` unless the line has a `db` tag; empty adds
    /// nothing.
    pub db: &'o str,
    /// Between measurement and field in metric names (`-influxMeasurementFieldSeparator`,
    /// default `_`).
    pub measurement_field_separator: &'o str,
    /// Name a line's only field `{measurement}` (`-influxSkipSingleField`, default false).
    pub skip_single_field: bool,
    /// Name every field `{field}`, ignoring the measurement (`-influxSkipMeasurement`, default
    /// false).
    pub skip_measurement: bool,
}

impl Options<'static> {
    /// Nanosecond precision, no `db`, VictoriaMetrics's naming defaults.
    pub fn new(default_timestamp_ms: i64) -> Self {
        Options {
            precision: Precision::Nanoseconds,
            default_timestamp_ms,
            db: "",
            measurement_field_separator: "_",
            skip_single_field: false,
            skip_measurement: false,
        }
    }
}

/// Parses an Influx line-protocol body into `batch`.
///
/// On error the batch is left as it was before the call (stats aside).
pub fn parse(
    body: &[u8],
    options: &Options<'_>,
    limits: &Limits,
    batch: &mut Batch,
) -> Result<(), IngestError> {
    let mark = batch.mark();
    let mut scratch = std::mem::take(&mut batch.scratch);
    let default_ts = options.default_timestamp_ms
        - options
            .default_timestamp_ms
            .rem_euclid(options.precision.unit_ms());
    let result = text::utf8(body).and_then(|body| {
        for (number, start, line) in text::lines(body) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (measurement, ts) =
                parse_line(number, start, line, options, default_ts, &mut scratch)?;
            emit(
                body,
                number,
                measurement,
                ts,
                options,
                limits,
                batch,
                &mut scratch,
            )?;
        }
        Ok(())
    });
    batch.scratch = scratch;
    if result.is_err() {
        batch.rollback(mark);
    }
    result
}

/// Index of the first byte of `b[from..]` in `stops` that no backslash escapes, or `b.len()`.
fn find_unescaped(b: &[u8], mut i: usize, stops: &[u8]) -> usize {
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if stops.contains(&c) {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// `line[from..to]` unescaped: a body span when it has no backslash, else scratch text.
fn unescape(line: &str, start: usize, from: usize, to: usize, text: &mut String) -> Str {
    let s = line.get(from..to).unwrap_or_default();
    if !s.contains('\\') {
        return Str::Body(start + from, start + to);
    }
    let text_start = text.len();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.clone().next() {
            Some(n @ (' ' | ',' | '=' | '\\')) => {
                text.push(n);
                chars.next();
            }
            _ => text.push('\\'),
        }
    }
    Str::Text(text_start, text.len())
}

/// Parses one line: tags into the scratch spans, fields into the scratch fields. Returns the
/// measurement and the timestamp in milliseconds.
fn parse_line(
    number: usize,
    start: usize,
    line: &str,
    options: &Options<'_>,
    default_ts: i64,
    s: &mut Scratch,
) -> Result<(Str, i64), IngestError> {
    let b = line.as_bytes();
    let err = |problem: String| IngestError::syntax(number, problem);
    s.spans.clear();
    s.fields.clear();
    s.text.clear();
    let key_end = find_unescaped(b, 0, b" ");
    if key_end == b.len() {
        return Err(err(format!("missing fields after {:?}", quoted(line))));
    }
    let m_end = find_unescaped(b, 0, b", ");
    let measurement = unescape(line, start, 0, m_end, &mut s.text);
    let mut i = m_end;
    while i < key_end {
        // b[i] is ','.
        let tag_start = i + 1;
        let tag_end = find_unescaped(b, tag_start, b", ");
        let eq = find_unescaped(&b[..tag_end], tag_start, b"=");
        let tag_text = &line[tag_start..tag_end];
        if eq == tag_end {
            return Err(err(format!("tag {:?} has no '='", quoted(tag_text))));
        }
        if eq == tag_start {
            return Err(err(format!("tag {:?} has an empty key", quoted(tag_text))));
        }
        let key = unescape(line, start, tag_start, eq, &mut s.text);
        let value = unescape(line, start, eq + 1, tag_end, &mut s.text);
        if eq + 1 < tag_end {
            s.spans.push((key, value));
        }
        i = tag_end;
    }
    i = key_end;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    if i >= b.len() {
        return Err(err("missing fields after the measurement and tags".into()));
    }
    loop {
        let key_start = i;
        let eq = find_unescaped(b, i, b"=, ");
        let key_text = &line[key_start..eq];
        if b.get(eq) != Some(&b'=') {
            return Err(err(format!("field {:?} has no '='", quoted(key_text))));
        }
        if eq == key_start {
            return Err(err("empty field key".into()));
        }
        let key = unescape(line, start, key_start, eq, &mut s.text);
        i = eq + 1;
        let value = if b.get(i) == Some(&b'"') {
            i = string_end(b, i + 1).ok_or_else(|| {
                err(format!(
                    "missing closing '\"' in the value of field {:?}",
                    quoted(key_text)
                ))
            })?;
            None
        } else {
            let v_start = i;
            while i < b.len() && b[i] != b',' && b[i] != b' ' {
                i += 1;
            }
            Some(
                field_value(&line[v_start..i])
                    .map_err(|what| err(format!("{what} of field {:?}", quoted(key_text))))?,
            )
        };
        s.fields.push((key, value));
        match b.get(i) {
            Some(b',') => i += 1,
            None | Some(b' ') => break,
            Some(_) => {
                return Err(err(format!(
                    "unexpected text {:?} after the value of field {:?}",
                    quoted(&line[i..]),
                    quoted(key_text)
                )));
            }
        }
    }
    while b.get(i).copied().is_some_and(text::is_blank) {
        i += 1;
    }
    if i >= b.len() {
        return Ok((measurement, default_ts));
    }
    let ts_start = i;
    while i < b.len() && !text::is_blank(b[i]) {
        i += 1;
    }
    let ts_text = &line[ts_start..i];
    while b.get(i).copied().is_some_and(text::is_blank) {
        i += 1;
    }
    if i < b.len() {
        return Err(err(format!(
            "unexpected text {:?} after the timestamp",
            quoted(&line[i..])
        )));
    }
    let ts = parse_int(ts_text)
        .ok_or_else(|| err(format!("invalid timestamp {:?}", quoted(ts_text))))?;
    let ms = options.precision.to_millis(ts).ok_or_else(|| {
        err(format!(
            "timestamp {ts} overflows milliseconds at precision {}",
            options.precision.name()
        ))
    })?;
    Ok((measurement, ms))
}

/// Index after the closing quote of a string field whose content starts at `i`.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The numeric value of an unquoted field value, or what is wrong with it.
fn field_value(v: &str) -> Result<f64, String> {
    if v.is_empty() {
        return Err("empty value".into());
    }
    match v {
        "t" | "T" | "true" | "True" | "TRUE" => return Ok(1.0),
        "f" | "F" | "false" | "False" | "FALSE" => return Ok(0.0),
        _ => {}
    }
    if let Some(int) = v.strip_suffix('i') {
        return parse_int(int)
            .map(|n| n as f64)
            .ok_or_else(|| format!("invalid integer value {:?}", quoted(v)));
    }
    if let Some(uint) = v.strip_suffix('u') {
        return uint
            .parse::<u64>()
            .ok()
            .filter(|_| !uint.starts_with('+'))
            .map(|n| n as f64)
            .ok_or_else(|| format!("invalid unsigned value {:?}", quoted(v)));
    }
    parse_float(v).ok_or_else(|| format!("invalid value {:?}", quoted(v)))
}

/// Adds one series per numeric field of the parsed line.
#[expect(
    clippy::too_many_arguments,
    reason = "the per-call state of one parse, passed down rather than bundled for one caller"
)]
fn emit(
    body: &str,
    number: usize,
    measurement: Str,
    timestamp_ms: i64,
    options: &Options<'_>,
    limits: &Limits,
    batch: &mut Batch,
    s: &mut Scratch,
) -> Result<(), IngestError> {
    let tags = &s.spans[..];
    let measurement = if options.skip_measurement {
        ""
    } else {
        measurement.get(body, &s.text)
    };
    let skip_field_key =
        !measurement.is_empty() && s.fields.len() == 1 && options.skip_single_field;
    s.name.clear();
    s.name.push_str(measurement);
    if !s.name.is_empty() && !skip_field_key {
        s.name.push_str(options.measurement_field_separator);
    }
    let prefix = s.name.len();
    let has_db = text::labels(tags, body, &s.text).any(|l| l.name == "db");
    let db = (!has_db && !options.db.is_empty()).then_some(Label {
        name: "db",
        value: options.db,
    });
    for &(key, value) in &s.fields {
        let Some(value) = value else {
            batch.stats_mut().influx_string_fields_skipped += 1;
            continue;
        };
        s.name.truncate(prefix);
        if !skip_field_key {
            s.name.push_str(key.get(body, &s.text));
        }
        let samples_start = batch.samples_len();
        batch.push_sample(Sample {
            timestamp_ms,
            value,
        });
        let name = Label {
            name: "__name__",
            value: &s.name,
        };
        let labels = text::labels(tags, body, &s.text)
            .chain(db)
            .chain(std::iter::once(name));
        batch.finish_series(
            labels,
            samples_start,
            limits,
            limits.import_invalid_series,
            Location::Line(number),
        )?;
    }
    Ok(())
}

/// Appends one line in this format: measurement, tags and fields escaped, timestamp in `ns`.
/// For tests and load generators; the inverse of [`parse`] for numeric fields.
pub fn render(
    measurement: &str,
    tags: &[(&str, &str)],
    fields: &[(&str, f64)],
    timestamp_ns: i64,
    out: &mut String,
) {
    escape(measurement, b", ", out);
    for (k, v) in tags {
        out.push(',');
        escape(k, b",= ", out);
        out.push('=');
        escape(v, b",= ", out);
    }
    for (i, (k, v)) in fields.iter().enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        escape(k, b",= ", out);
        out.push('=');
        crate::prometheus_text::write_value(*v, out);
    }
    out.push(' ');
    out.push_str(&timestamp_ns.to_string());
    out.push('\n');
}

fn escape(s: &str, special: &[u8], out: &mut String) {
    for c in s.chars() {
        if c == '\\' || (c.is_ascii() && special.contains(&(c as u8))) {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests;
