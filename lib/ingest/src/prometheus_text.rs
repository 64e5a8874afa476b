//! The Prometheus text exposition format, as `/api/v1/import/prometheus` takes it.
//!
//! One sample per line: `name[{label="value",...}] value [timestamp_ms] [# ...]`.
//! - Lines that are empty or start with `#` (`# HELP`, `# TYPE`, OpenMetrics `# EOF`, any
//!   comment) are skipped; so is anything from a `#` after the value or timestamp (an
//!   OpenMetrics exemplar).
//! - Spaces and tabs may surround every token; `\r\n` line ends are accepted; a trailing comma
//!   in the label list is allowed.
//! - Label values are double-quoted; `\\`, `\"` and `\n` are unescaped, any other backslash is
//!   kept as written (as Prometheus and VictoriaMetrics do).
//! - The value is a float (`NaN`, `+Inf`, `-Inf` included); the timestamp, when present, is an
//!   integer in milliseconds. A missing timestamp becomes the caller's default (now).
//!
//! A line that does not follow this grammar fails the request. A series that parses but breaks
//! a validation rule is handled as [`Limits::import_invalid_series`] says.

use std::fmt::Write as _;

use tsdb::metric_name::Label;

use crate::batch::{Batch, Sample, Scratch, SeriesRef};
use crate::error::{IngestError, Location, quoted};
use crate::text::{self, Str, is_blank, parse_float, parse_int};
use crate::validate::Limits;

/// Parses a text-format body into `batch`; samples without a timestamp get
/// `default_timestamp_ms`.
///
/// On error the batch is left as it was before the call (stats aside).
pub fn parse(
    body: &[u8],
    default_timestamp_ms: i64,
    limits: &Limits,
    batch: &mut Batch,
) -> Result<(), IngestError> {
    let mark = batch.mark();
    let mut scratch = std::mem::take(&mut batch.scratch);
    let result = text::utf8(body).and_then(|body| {
        for (number, start, line) in text::lines(body) {
            parse_line(
                body,
                number,
                start,
                line,
                default_timestamp_ms,
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

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while b.get(i).copied().is_some_and(is_blank) {
        i += 1;
    }
    i
}

#[expect(
    clippy::too_many_arguments,
    reason = "the per-call state of one parse, passed down rather than bundled for one caller"
)]
fn parse_line(
    body: &str,
    number: usize,
    start: usize,
    line: &str,
    default_timestamp_ms: i64,
    limits: &Limits,
    batch: &mut Batch,
    scratch: &mut Scratch,
) -> Result<(), IngestError> {
    let b = line.as_bytes();
    let err = |problem: String| IngestError::syntax(number, problem);
    let mut i = skip_blanks(b, 0);
    if i >= b.len() || b[i] == b'#' {
        return Ok(());
    }
    let name_start = i;
    while i < b.len() && !matches!(b[i], b'{' | b' ' | b'\t') {
        i += 1;
    }
    if i == name_start {
        return Err(err("missing metric name before '{'".into()));
    }
    let name = Str::Body(start + name_start, start + i);
    let name_text = &line[name_start..i];
    scratch.spans.clear();
    scratch.text.clear();
    i = skip_blanks(b, i);
    if b.get(i) == Some(&b'{') {
        i = parse_labels(line, start, i + 1, number, scratch)?;
    }
    i = skip_blanks(b, i);
    let value_start = i;
    while i < b.len() && !is_blank(b[i]) {
        i += 1;
    }
    let value_text = &line[value_start..i];
    if value_text.is_empty() || value_text.starts_with('#') {
        return Err(err(format!(
            "missing value for metric {:?}",
            quoted(name_text)
        )));
    }
    let value = parse_float(value_text)
        .ok_or_else(|| err(format!("invalid value {:?}", quoted(value_text))))?;
    i = skip_blanks(b, i);
    let mut timestamp_ms = default_timestamp_ms;
    if i < b.len() && b[i] != b'#' {
        let ts_start = i;
        while i < b.len() && !is_blank(b[i]) {
            i += 1;
        }
        let ts_text = &line[ts_start..i];
        timestamp_ms = parse_int(ts_text).ok_or_else(|| {
            err(format!(
                "invalid timestamp {:?}: want integer milliseconds",
                quoted(ts_text)
            ))
        })?;
        i = skip_blanks(b, i);
        if i < b.len() && b[i] != b'#' {
            return Err(err(format!(
                "unexpected text {:?} after the timestamp",
                quoted(&line[i..])
            )));
        }
    }
    let samples_start = batch.samples_len();
    batch.push_sample(Sample {
        timestamp_ms,
        value,
    });
    let name_label = Label {
        name: "__name__",
        value: name.get(body, ""),
    };
    let labels =
        std::iter::once(name_label).chain(text::labels(&scratch.spans, body, &scratch.text));
    batch.finish_series(
        labels,
        samples_start,
        limits,
        limits.import_invalid_series,
        Location::Line(number),
    )
}

/// Parses the label list after `{` at `i`; returns the index after `}`.
fn parse_labels(
    line: &str,
    start: usize,
    mut i: usize,
    number: usize,
    scratch: &mut Scratch,
) -> Result<usize, IngestError> {
    let b = line.as_bytes();
    let err = |problem: String| IngestError::syntax(number, problem);
    loop {
        i = skip_blanks(b, i);
        match b.get(i) {
            None => return Err(err("missing '}' at the end of the label list".into())),
            Some(b'}') => return Ok(i + 1),
            _ => {}
        }
        let name_start = i;
        while i < b.len() && !matches!(b[i], b'=' | b' ' | b'\t' | b',' | b'}' | b'"') {
            i += 1;
        }
        let name = &line[name_start..i];
        if name.is_empty() {
            return Err(err(format!("expected a label name at column {}", i + 1)));
        }
        i = skip_blanks(b, i);
        if b.get(i) != Some(&b'=') {
            return Err(err(format!(
                "expected '=' after label name {:?}",
                quoted(name)
            )));
        }
        i = skip_blanks(b, i + 1);
        if b.get(i) != Some(&b'"') {
            return Err(err(format!(
                "expected '\"' to open the value of label {:?}",
                quoted(name)
            )));
        }
        let (value, end) =
            parse_quoted(line, start, i + 1, &mut scratch.text).ok_or_else(|| {
                err(format!(
                    "missing closing '\"' in the value of label {:?}",
                    quoted(name)
                ))
            })?;
        scratch.spans.push((
            Str::Body(start + name_start, start + name_start + name.len()),
            value,
        ));
        i = skip_blanks(b, end);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(i + 1),
            _ => {
                return Err(err(format!(
                    "expected ',' or '}}' after the value of label {:?}",
                    quoted(name)
                )));
            }
        }
    }
}

/// Reads a label value from `i` (just after the opening quote) to its closing quote; returns
/// its span and the index after the quote, or `None` when the line ends first.
fn parse_quoted(line: &str, start: usize, i: usize, text: &mut String) -> Option<(Str, usize)> {
    let b = line.as_bytes();
    let rest = b.get(i..)?;
    let first = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[first] == b'"' {
        return Some((Str::Body(start + i, start + i + first), i + first + 1));
    }
    let text_start = text.len();
    let mut j = i;
    loop {
        let rest = b.get(j..)?;
        let k = memchr::memchr2(b'"', b'\\', rest)?;
        text.push_str(line.get(j..j + k)?);
        j += k;
        if b[j] == b'"' {
            return Some((Str::Text(text_start, text.len()), j + 1));
        }
        match b.get(j + 1)? {
            b'\\' => text.push('\\'),
            b'"' => text.push('"'),
            b'n' => text.push('\n'),
            // Keep unknown escapes as written; the next byte is copied by the next round.
            _ => {
                text.push('\\');
                j += 1;
                continue;
            }
        }
        j += 2;
    }
}

/// Appends one line per sample of `series` in this format: `name{labels} value timestamp`.
/// Values are written so they parse back to the same number (NaN payloads aside).
pub fn render(series: SeriesRef<'_>, out: &mut String) {
    for s in series.samples {
        let _ = write!(out, "{series} ");
        write_value(s.value, out);
        let _ = writeln!(out, " {}", s.timestamp_ms);
    }
}

/// Appends `v` as this format writes floats: `NaN`, `+Inf`, `-Inf`, or the shortest decimal
/// that parses back to `v`.
pub fn write_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v:?}");
    }
}

#[cfg(test)]
mod tests;
