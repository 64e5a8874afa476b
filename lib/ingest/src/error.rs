//! The crate's error type: every message names the problem and where it is.

use std::fmt;

use thiserror::Error;

/// Where in a request a problem was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of a line-oriented format (JSON lines, Prometheus text, Influx).
    Line(usize),
    /// The 0-based index of a `TimeSeries` in a remote_write `WriteRequest`.
    TimeSeries(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::TimeSeries(i) => write!(f, "WriteRequest.timeseries[{i}]"),
        }
    }
}

/// Why a well-formed series breaks a validation rule (see [`crate::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Invalid {
    /// The `__name__` value does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name {0:?}")]
    MetricName(String),
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid label name {0:?}")]
    LabelName(String),
    /// The same label name appears twice (after empty values were dropped).
    #[error("duplicate label name {0:?}")]
    DuplicateLabel(String),
    /// No label is left once labels with empty values are dropped.
    #[error("empty label set")]
    EmptyLabelSet,
    /// More labels than [`crate::Limits::max_labels_per_series`].
    #[error("{count} labels exceed the limit of {limit} labels per series")]
    TooManyLabels {
        /// Labels in the series, empty values not counted.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A label name longer than [`crate::Limits::max_label_name_len`].
    #[error("label name {name:?} is {len} bytes long, over the limit of {limit}")]
    LabelNameTooLong {
        /// The start of the name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A label value longer than [`crate::Limits::max_label_value_len`].
    #[error("value of label {name:?} is {len} bytes long, over the limit of {limit}")]
    LabelValueTooLong {
        /// The label's name.
        name: String,
        /// The value's length in bytes.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// Every way a request can fail to parse or validate.
///
/// Messages carry the location and the offending text (cut to [`MAX_QUOTED`] bytes), e.g.
/// `line 3: invalid label name "1abc"` or
/// `protobuf: truncated varint at byte 17 in WriteRequest.timeseries[2].labels[0]`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum IngestError {
    /// The snappy header announces more bytes than the configured limit; nothing was allocated.
    #[error("snappy: decoded length {len} exceeds limit {limit}")]
    DecodedTooLarge {
        /// The length in the snappy header.
        len: usize,
        /// [`crate::Limits::max_decoded_size`].
        limit: usize,
    },
    /// The body is not valid snappy block format.
    #[error("snappy: {reason}")]
    Snappy {
        /// What the decoder reported.
        reason: String,
    },
    /// The decompressed body is not a valid protobuf `WriteRequest`.
    #[error("protobuf: {problem} at byte {offset} in {path}")]
    Protobuf {
        /// What is wrong, e.g. `truncated varint`.
        problem: String,
        /// Offset in the decompressed message where the problem was seen.
        offset: usize,
        /// The message being read, e.g. `WriteRequest.timeseries[2].labels[0]`.
        path: String,
    },
    /// A line of a text format does not follow the format's grammar.
    #[error("line {line}: {problem}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the offending text.
        problem: String,
    },
    /// A series breaks a validation rule.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where the series is.
        at: Location,
        /// Which rule it breaks.
        problem: Invalid,
    },
    /// The Influx `precision` argument is not one Influx defines.
    #[error("unknown precision {0:?}; want one of ns, u, us, µ, ms, s, m, h")]
    UnknownPrecision(String),
}

impl IngestError {
    /// A syntax error on `line` (1-based).
    pub(crate) fn syntax(line: usize, problem: impl Into<String>) -> Self {
        IngestError::Syntax {
            line,
            problem: problem.into(),
        }
    }
}

/// The most bytes of input text quoted in an error message; longer text is cut and marked `…`.
pub const MAX_QUOTED: usize = 128;

/// `s` cut to at most [`MAX_QUOTED`] bytes at a character boundary, `…` appended when cut.
pub(crate) fn quoted(s: &str) -> String {
    if s.len() <= MAX_QUOTED {
        return s.to_owned();
    }
    let mut end = MAX_QUOTED;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_problem_and_place() {
        let e = IngestError::Invalid {
            at: Location::Line(3),
            problem: Invalid::LabelName("1abc".into()),
        };
        assert_eq!(e.to_string(), r#"line 3: invalid label name "1abc""#);
        let e = IngestError::DecodedTooLarge {
            len: 300_000_000,
            limit: 67_108_864,
        };
        assert_eq!(
            e.to_string(),
            "snappy: decoded length 300000000 exceeds limit 67108864"
        );
        let e = IngestError::Protobuf {
            problem: "truncated varint".into(),
            offset: 17,
            path: "WriteRequest.timeseries[2].labels[0]".into(),
        };
        assert_eq!(
            e.to_string(),
            "protobuf: truncated varint at byte 17 in WriteRequest.timeseries[2].labels[0]"
        );
    }

    #[test]
    fn long_text_is_cut_at_a_char_boundary() {
        assert_eq!(quoted("abc"), "abc");
        let long = "é".repeat(100);
        let q = quoted(&long);
        assert!(q.ends_with('…'));
        assert!(q.len() <= MAX_QUOTED + '…'.len_utf8());
    }
}
