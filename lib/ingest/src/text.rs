//! What the line-oriented formats share: UTF-8 checking with a line number, numbered lines,
//! spans for strings that are either borrowed from the body or unescaped into scratch text, and
//! strict number parsing.

use tsdb::metric_name::Label;

use crate::error::IngestError;

/// The body as UTF-8, or a syntax error naming the first line that is not.
pub(crate) fn utf8(body: &[u8]) -> Result<&str, IngestError> {
    std::str::from_utf8(body).map_err(|e| {
        let upto = body.get(..e.valid_up_to()).unwrap_or_default();
        let line = memchr::memchr_iter(b'\n', upto).count() + 1;
        IngestError::syntax(line, "invalid UTF-8")
    })
}

/// The lines of a body: `(1-based number, byte offset of the line in the body, line)`, without
/// the `\n` and without one trailing `\r`.
pub(crate) fn lines(body: &str) -> impl Iterator<Item = (usize, usize, &str)> + '_ {
    let mut pos = 0;
    let mut number = 0;
    std::iter::from_fn(move || {
        if pos >= body.len() {
            return None;
        }
        let rest = body.get(pos..)?;
        let len = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
        let mut line = rest.get(..len)?;
        if let Some(l) = line.strip_suffix('\r') {
            line = l;
        }
        let start = pos;
        pos += len + 1;
        number += 1;
        Some((number, start, line))
    })
}

/// A string of the line being parsed: a range of the body, or of the scratch text where
/// unescaped strings go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Str {
    /// `body[start..end]`.
    Body(usize, usize),
    /// `text[start..end]`.
    Text(usize, usize),
}

impl Str {
    /// The string itself. Spans are made by the parsers from valid char boundaries.
    pub(crate) fn get<'a>(self, body: &'a str, text: &'a str) -> &'a str {
        match self {
            Str::Body(s, e) => body.get(s..e).unwrap_or_default(),
            Str::Text(s, e) => text.get(s..e).unwrap_or_default(),
        }
    }
}

/// The labels named by `spans`.
pub(crate) fn labels<'a>(
    spans: &'a [(Str, Str)],
    body: &'a str,
    text: &'a str,
) -> impl Iterator<Item = Label<'a>> + 'a {
    spans.iter().map(move |&(n, v)| Label {
        name: n.get(body, text),
        value: v.get(body, text),
    })
}

/// A float in Rust's `f64` syntax: decimal with optional sign, fraction and exponent, or
/// `inf`, `infinity`, `nan` in any case with an optional sign (so `+Inf`, `-Inf`, `NaN`).
pub(crate) fn parse_float(tok: &str) -> Option<f64> {
    tok.parse().ok()
}

/// An integer: an optional `-` and decimal digits, within `i64`.
pub(crate) fn parse_int(tok: &str) -> Option<i64> {
    if tok.starts_with('+') {
        return None;
    }
    tok.parse().ok()
}

/// Whether `b` is a space or a tab, the whitespace of the Prometheus text format.
#[inline]
pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_numbered_and_lose_crlf() {
        let got: Vec<_> = lines("a\r\n\nb\r\r\nc").collect();
        assert_eq!(
            got,
            vec![(1, 0, "a"), (2, 3, ""), (3, 4, "b\r"), (4, 8, "c")]
        );
        assert_eq!(lines("").count(), 0);
        assert_eq!(lines("x\n").count(), 1);
    }

    #[test]
    fn bad_utf8_names_its_line() {
        assert_eq!(
            utf8(b"ok\nok\n\xff").unwrap_err().to_string(),
            "line 3: invalid UTF-8"
        );
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("-Inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_float("1e3"), Some(1000.0));
        assert_eq!(parse_float("0x10"), None);
        assert_eq!(parse_float("1_000"), None);
        assert_eq!(parse_float(""), None);
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int("+12"), None);
        assert_eq!(parse_int("1.5"), None);
        assert_eq!(parse_int("1e3"), None);
        assert_eq!(parse_int("9223372036854775808"), None);
    }
}
