//! JSON lines as VictoriaMetrics's `/api/v1/export` writes them and `/api/v1/import` reads
//! them: one object per line,
//!
//! ```text
//! {"metric":{"__name__":"up","job":"x"},"values":[1,2],"timestamps":[1000,2000]}
//! ```
//!
//! - `metric` is an object of string values; `values` and `timestamps` are arrays of equal,
//!   non-zero length. Keys may come in any order; other keys are skipped (any JSON value, nested
//!   at most [`MAX_DEPTH`] deep); a repeated key fails the line.
//! - A value is a JSON number; a bare `NaN`, `Inf`, `+Inf`, `-Inf` (any case, also `infinity`)
//!   as `/api/v1/export` writes them; `null` (NaN); or a string spelling one of those
//!   specials, as newer VictoriaMetrics versions accept.
//! - A timestamp is an integer in milliseconds (no fraction, exponent or string).
//! - Empty (or blank) lines are skipped, `\r\n` is accepted, and only blanks may follow the
//!   object on its line.
//!
//! Any other deviation fails the request, naming the line and what was expected. A series that
//! parses but breaks a validation rule is handled as [`Limits::import_invalid_series`] says.

use crate::batch::{Batch, Sample, Scratch};
use crate::error::{IngestError, Location, quoted};
use crate::text::{self, Str, parse_float, parse_int};
use crate::validate::Limits;

/// How deep skipped values may nest.
pub const MAX_DEPTH: usize = 64;

/// Parses a JSON-lines body into `batch`.
///
/// On error the batch is left as it was before the call (stats aside).
pub fn parse(body: &[u8], limits: &Limits, batch: &mut Batch) -> Result<(), IngestError> {
    let mark = batch.mark();
    let mut scratch = std::mem::take(&mut batch.scratch);
    let result = text::utf8(body).and_then(|body| {
        for (number, start, line) in text::lines(body) {
            if line.bytes().all(is_ws) {
                continue;
            }
            let mut p = Parser {
                body,
                line: line.as_bytes(),
                start,
                pos: 0,
                number,
                scratch: &mut scratch,
            };
            p.object()?;
            let s = &*p.scratch;
            let samples_start = batch.samples_len();
            for (&timestamp_ms, &value) in s.timestamps.iter().zip(&s.values) {
                batch.push_sample(Sample {
                    timestamp_ms,
                    value,
                });
            }
            batch.finish_series(
                text::labels(&s.spans, body, &s.text),
                samples_start,
                limits,
                limits.import_invalid_series,
                Location::Line(number),
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

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Which keys a line has had.
#[derive(Default)]
struct Seen {
    metric: bool,
    values: bool,
    timestamps: bool,
    other: bool,
}

/// The keys the format knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Metric,
    Values,
    Timestamps,
    Other,
}

struct Parser<'a, 's> {
    body: &'a str,
    line: &'a [u8],
    /// Offset of the line in the body.
    start: usize,
    pos: usize,
    number: usize,
    scratch: &'s mut Scratch,
}

impl<'a> Parser<'a, '_> {
    fn err(&self, problem: String) -> IngestError {
        IngestError::syntax(self.number, problem)
    }

    /// What is at the cursor, for "found ..." in messages: `'x' at column 7`.
    fn found(&self) -> String {
        let end = self.start + self.line.len();
        let c = self
            .body
            .get(self.start + self.pos..end)
            .and_then(|rest| rest.chars().next());
        match c {
            None => "the end of the line".into(),
            Some(c) => format!("{c:?} at column {}", self.pos + 1),
        }
    }

    fn ws(&mut self) {
        while self.line.get(self.pos).copied().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8, what: &str) -> Result<(), IngestError> {
        self.ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            return Ok(());
        }
        Err(self.err(format!("expected {what}, found {}", self.found())))
    }

    fn object(&mut self) -> Result<(), IngestError> {
        self.scratch.spans.clear();
        self.scratch.text.clear();
        self.scratch.values.clear();
        self.scratch.timestamps.clear();
        let mut seen = Seen::default();
        self.expect(b'{', "'{' to open the line's object")?;
        self.ws();
        if self.peek() != Some(b'}') {
            loop {
                self.ws();
                if self.peek() != Some(b'"') {
                    return Err(self.err(format!("expected a key, found {}", self.found())));
                }
                let key_span = self.string()?;
                self.expect(b':', "':' after a key")?;
                self.ws();
                let key = match key_span.get(self.body, &self.scratch.text) {
                    "metric" => Key::Metric,
                    "values" => Key::Values,
                    "timestamps" => Key::Timestamps,
                    _ => Key::Other,
                };
                let flag = match key {
                    Key::Metric => &mut seen.metric,
                    Key::Values => &mut seen.values,
                    Key::Timestamps => &mut seen.timestamps,
                    Key::Other => &mut seen.other,
                };
                if *flag && key != Key::Other {
                    let name = key_span.get(self.body, &self.scratch.text);
                    return Err(self.err(format!("duplicate key {name:?}")));
                }
                *flag = true;
                match key {
                    Key::Metric => self.metric()?,
                    Key::Values => self.values()?,
                    Key::Timestamps => self.timestamps()?,
                    Key::Other => self.skip_value(0)?,
                }
                self.ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => break,
                    _ => {
                        let name = quoted(key_span.get(self.body, &self.scratch.text));
                        return Err(self.err(format!(
                            "expected ',' or '}}' after the value of {name:?}, found {}",
                            self.found()
                        )));
                    }
                }
            }
        }
        self.pos += 1;
        self.ws();
        if self.pos < self.line.len() {
            return Err(self.err(format!(
                "unexpected text after the object: {}",
                self.found()
            )));
        }
        let s = &self.scratch;
        for (ok, what) in [
            (seen.metric, "missing \"metric\" object"),
            (seen.values, "missing \"values\" array"),
            (seen.timestamps, "missing \"timestamps\" array"),
        ] {
            if !ok {
                return Err(self.err(what.into()));
            }
        }
        if s.values.len() != s.timestamps.len() {
            return Err(self.err(format!(
                "\"values\" has {} entries but \"timestamps\" has {}",
                s.values.len(),
                s.timestamps.len()
            )));
        }
        if s.values.is_empty() {
            return Err(self.err("empty \"values\" and \"timestamps\" arrays".into()));
        }
        Ok(())
    }

    fn metric(&mut self) -> Result<(), IngestError> {
        self.expect(b'{', "'{' to open \"metric\"")?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err(format!(
                    "expected a label name in \"metric\", found {}",
                    self.found()
                )));
            }
            let name = self.string()?;
            self.expect(b':', "':' after a label name")?;
            self.ws();
            if self.peek() != Some(b'"') {
                let name = name.get(self.body, &self.scratch.text);
                return Err(self.err(format!(
                    "value of label {:?} must be a string, found {}",
                    quoted(name),
                    self.found()
                )));
            }
            let value = self.string()?;
            self.scratch.spans.push((name, value));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => {
                    return Err(self.err(format!(
                        "expected ',' or '}}' in \"metric\", found {}",
                        self.found()
                    )));
                }
            }
        }
    }

    /// Calls `item` for each element of an array named `what`.
    fn array(
        &mut self,
        what: &str,
        mut item: impl FnMut(&mut Self, usize) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        self.expect(b'[', &format!("'[' to open {what:?}"))?;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        let mut i = 0;
        loop {
            self.ws();
            item(self, i)?;
            i += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => {
                    return Err(self.err(format!(
                        "expected ',' or ']' in {what:?}, found {}",
                        self.found()
                    )));
                }
            }
        }
    }

    fn values(&mut self) -> Result<(), IngestError> {
        self.array("values", |p, i| {
            let v = if p.peek() == Some(b'"') {
                let s = p.string()?;
                let s = s.get(p.body, &p.scratch.text);
                special(s).ok_or_else(|| {
                    p.err(format!("values[{i}]: unsupported string {:?}", quoted(s)))
                })?
            } else {
                let tok = p.token();
                if tok == "null" {
                    f64::NAN
                } else {
                    parse_float(tok).ok_or_else(|| {
                        p.err(format!("values[{i}]: invalid number {:?}", quoted(tok)))
                    })?
                }
            };
            p.scratch.values.push(v);
            Ok(())
        })
    }

    fn timestamps(&mut self) -> Result<(), IngestError> {
        self.array("timestamps", |p, i| {
            let tok = p.token();
            let ts = parse_int(tok).ok_or_else(|| {
                let tok = if tok.is_empty() {
                    p.found()
                } else {
                    format!("{:?}", quoted(tok))
                };
                p.err(format!(
                    "timestamps[{i}]: invalid timestamp {tok}: want integer milliseconds"
                ))
            })?;
            p.scratch.timestamps.push(ts);
            Ok(())
        })
    }

    /// A bare token: the longest run of letters, digits, `+`, `-` and `.`.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            self.pos += 1;
        }
        // The run is ASCII, so these are char boundaries of the line.
        self.body
            .get(self.start + start..self.start + self.pos)
            .unwrap_or_default()
    }

    /// A JSON string at the cursor (which is on its opening quote).
    fn string(&mut self) -> Result<Str, IngestError> {
        self.pos += 1;
        let begin = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string".into())),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Str::Body(self.start + begin, self.start + self.pos - 1));
                }
                Some(b'\\') => break,
                Some(b) if b < 0x20 => {
                    return Err(self.err(format!(
                        "control character {b:#04x} in a string at column {}",
                        self.pos + 1
                    )));
                }
                Some(_) => self.pos += 1,
            }
        }
        // Slow path: unescape into the scratch text.
        let text_start = self.scratch.text.len();
        let copied = self
            .body
            .get(self.start + begin..self.start + self.pos)
            .unwrap_or_default();
        self.scratch.text.push_str(copied);
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("unterminated string".into()));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(Str::Text(text_start, self.scratch.text.len()));
                }
                b'\\' => {
                    let c = self.escape()?;
                    self.scratch.text.push(c);
                }
                b if b < 0x20 => {
                    return Err(self.err(format!(
                        "control character {b:#04x} in a string at column {}",
                        self.pos + 1
                    )));
                }
                _ => {
                    // Copy one whole UTF-8 character.
                    let at = self.start + self.pos;
                    let c = self.body.get(at..).and_then(|s| s.chars().next());
                    let Some(c) = c else {
                        return Err(self.err("unterminated string".into()));
                    };
                    self.scratch.text.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    /// An escape sequence at the cursor (on the backslash).
    fn escape(&mut self) -> Result<char, IngestError> {
        let at = self.pos + 1;
        self.pos += 2;
        let c = match self.line.get(at) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = self.hex4()?;
                let code =
                    if (0xD800..0xDC00).contains(&hi) {
                        if self.line.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self
                                .err(format!("unpaired surrogate \\u{hi:04x} at column {}", at)));
                        }
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(self
                                .err(format!("unpaired surrogate \\u{hi:04x} at column {}", at)));
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        hi
                    };
                return char::from_u32(code).ok_or_else(|| {
                    self.err(format!("unpaired surrogate \\u{code:04x} at column {at}"))
                });
            }
            _ => {
                return Err(self.err(format!("invalid escape in a string at column {at}")));
            }
        };
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, IngestError> {
        let digits = self
            .line
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        let Some(v) = digits else {
            return Err(self.err(format!(
                "invalid \\u escape at column {}: want 4 hex digits",
                self.pos - 1
            )));
        };
        self.pos += 4;
        Ok(v)
    }

    /// Skips any JSON value at the cursor, nested at most [`MAX_DEPTH`] deep.
    fn skip_value(&mut self, depth: usize) -> Result<(), IngestError> {
        if depth >= MAX_DEPTH {
            return Err(self.err(format!("values nested more than {MAX_DEPTH} deep")));
        }
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.err(format!("expected a key, found {}", self.found())));
                    }
                    self.string()?;
                    self.expect(b':', "':' after a key")?;
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => {
                            return Err(self.err(format!(
                                "expected ',' or '}}' in an object, found {}",
                                self.found()
                            )));
                        }
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => {
                            return Err(self.err(format!(
                                "expected ',' or ']' in an array, found {}",
                                self.found()
                            )));
                        }
                    }
                }
            }
            _ => {
                let tok = self.token();
                if matches!(tok, "true" | "false" | "null") || parse_float(tok).is_some() {
                    Ok(())
                } else {
                    let found = if tok.is_empty() {
                        self.found()
                    } else {
                        format!("{:?}", quoted(tok))
                    };
                    Err(self.err(format!("expected a JSON value, found {found}")))
                }
            }
        }
    }
}

/// The value a string spells: `NaN`, `Inf`, `infinity`, `null` in any case, with an optional
/// sign.
fn special(s: &str) -> Option<f64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if rest.eq_ignore_ascii_case("nan") || rest.eq_ignore_ascii_case("null") {
        f64::NAN
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests;
