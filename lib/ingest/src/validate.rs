//! Which label sets are accepted: the limits, the name rules and the canonical form.
//!
//! Names follow the classic Prometheus rules: metric names (`__name__` values) match
//! `[a-zA-Z_:][a-zA-Z0-9_:]*` and label names match `[a-zA-Z_][a-zA-Z0-9_]*`. Values are any
//! UTF-8. Labels with empty values are dropped (an empty value means "no such label"); what is
//! left is sorted by name, must not repeat a name and must not be empty. The limits below are
//! checked on what is left.

use tsdb::metric_name::{self, Label, MetricNameError};

use crate::error::{Invalid, quoted};

/// What to do with a series that parses but breaks a validation rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnInvalid {
    /// Fail the whole request with [`crate::IngestError::Invalid`] (an HTTP 400).
    Reject,
    /// Drop the series and its samples, count it in [`crate::Stats`], and go on.
    Skip,
}

/// Limits and policies for accepted series. `Default` gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most labels in one series, `__name__` included and empty values not counted.
    /// Default 30, as VictoriaMetrics's `-maxLabelsPerTimeseries`.
    pub max_labels_per_series: usize,
    /// Longest label name in bytes. Default 256, as VictoriaMetrics's `-maxLabelNameLen`.
    pub max_label_name_len: usize,
    /// Longest label value in bytes. Default 16 KiB, as VictoriaMetrics's `-maxLabelValueLen`.
    pub max_label_value_len: usize,
    /// Largest decompressed remote_write body in bytes, checked against the snappy header
    /// before anything is allocated. Default 64 MiB.
    pub max_decoded_size: usize,
    /// What remote_write does with an invalid series. Default [`OnInvalid::Reject`]: the
    /// request fails with a 400 that names the series and the problem, so a misconfigured
    /// sender is noticed (Prometheus drops a batch answered 400 and logs the message).
    /// [`OnInvalid::Skip`] drops just the series and counts it, as the Prometheus 2.42
    /// receiver does (vminsert's `-remoteWrite.skipInvalidSeries`).
    pub remote_write_invalid_series: OnInvalid,
    /// What the import formats (JSON lines, Prometheus text, Influx) do with an invalid series.
    /// Default [`OnInvalid::Reject`]: a person or script gets a 400 naming the line.
    pub import_invalid_series: OnInvalid,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_labels_per_series: 30,
            max_label_name_len: 256,
            max_label_value_len: 16 * 1024,
            max_decoded_size: 64 * 1024 * 1024,
            remote_write_invalid_series: OnInvalid::Reject,
            import_invalid_series: OnInvalid::Reject,
        }
    }
}

const LABEL_START: u8 = 1;
const LABEL_CONT: u8 = 2;
const METRIC_START: u8 = 4;
const METRIC_CONT: u8 = 8;

/// Per byte: which name positions it may take.
static NAME_CHARS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut bits = 0;
        if alpha {
            bits |= LABEL_START | LABEL_CONT | METRIC_START | METRIC_CONT;
        }
        if digit {
            bits |= LABEL_CONT | METRIC_CONT;
        }
        if b == b':' {
            bits |= METRIC_START | METRIC_CONT;
        }
        t[c] = bits;
        c += 1;
    }
    t
};

fn matches(s: &str, start: u8, cont: u8) -> bool {
    matches_bytes(s.as_bytes(), start, cont)
}

fn matches_bytes(s: &[u8], start: u8, cont: u8) -> bool {
    match s.first() {
        None => false,
        // Every start character is also a continuation character: the first byte is checked
        // once more with the rest, which costs nothing in a word-at-a-time check.
        Some(first) => {
            NAME_CHARS[usize::from(*first)] & start != 0 && all_name_chars(s, cont == METRIC_CONT)
        }
    }
}

/// Each byte, in every lane of a word.
const LANES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every lane.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether every byte of `s` is `[a-zA-Z0-9_]`, or `[a-zA-Z0-9_:]` with `colon`. Eight bytes
/// at a time: a byte-by-byte table loop ended in a mispredicted branch per name and was a
/// sixth of remote_write decoding, which checks every label name of every series.
#[inline]
fn all_name_chars(s: &[u8], colon: bool) -> bool {
    let word = |w: &[u8]| {
        let mut lanes = [0u8; 8];
        lanes.copy_from_slice(w);
        u64::from_le_bytes(lanes)
    };
    let quarter = |w: &[u8]| {
        let mut lanes = [0u8; 4];
        lanes.copy_from_slice(w);
        u64::from(u32::from_le_bytes(lanes))
    };
    let len = s.len();
    if len >= 8 {
        // Whole words, then the last eight bytes (overlapping the last word checked).
        let mut words = s.chunks_exact(8);
        if !words.all(|w| word_is_name_chars(word(w), colon)) {
            return false;
        }
        return len.is_multiple_of(8) || word_is_name_chars(word(&s[len - 8..]), colon);
    }
    // Fixed-size loads only (a copy of variable length is a call to `memcpy`): the first
    // and last four bytes, or the first, middle and last byte, which cover short names.
    let w = if len >= 4 {
        quarter(&s[..4]) | (quarter(&s[len - 4..]) << 32)
    } else if len > 0 {
        u64::from_le_bytes([s[0], s[len / 2], s[len - 1], b'a', b'a', b'a', b'a', b'a'])
    } else {
        return true;
    };
    word_is_name_chars(w, colon)
}

/// Whether all eight bytes of `w` are name characters ([`all_name_chars`]).
#[inline(always)]
fn word_is_name_chars(w: u64, colon: bool) -> bool {
    if w & HIGH_BITS != 0 {
        return false;
    }
    // Every lane is below 0x80, so adding up to 0x80 never carries into the next lane: the
    // high bit of `lane + 0x80 - c` says `lane >= c`, and that of `(lane ^ c) + 0x7f` says
    // `lane != c`.
    let at_least = |x: u64, c: u8| x.wrapping_add(LANES * u64::from(0x80 - c)) & HIGH_BITS;
    let equal =
        |x: u64, c: u8| !((x ^ (LANES * u64::from(c))).wrapping_add(LANES * 0x7f)) & HIGH_BITS;
    let digit = at_least(w, b'0') & !at_least(w, b'9' + 1);
    // Setting bit 5 folds A-Z onto a-z and nothing else into a-z.
    let folded = w | (LANES * 0x20);
    let letter = at_least(folded, b'a') & !at_least(folded, b'z' + 1);
    let mut ok = digit | letter | equal(w, b'_');
    if colon {
        ok |= equal(w, b':');
    }
    ok == HIGH_BITS
}

/// Whether `s` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(s: &str) -> bool {
    matches(s, METRIC_START, METRIC_CONT)
}

/// Whether `s` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(s: &str) -> bool {
    matches(s, LABEL_START, LABEL_CONT)
}

/// Whether `name: value`, given as bytes, passes the per-label checks of [`canonicalize`]
/// (lengths, name rules; `__name__` a valid metric name) and has a non-empty value. UTF-8
/// is the caller's to check.
#[inline]
pub(crate) fn is_valid_nonempty_label(name: &[u8], value: &[u8], limits: &Limits) -> bool {
    !value.is_empty()
        && name.len() <= limits.max_label_name_len
        && value.len() <= limits.max_label_value_len
        && matches_bytes(name, LABEL_START, LABEL_CONT)
        && (name != b"__name__" || matches_bytes(value, METRIC_START, METRIC_CONT))
}

/// `a < b` on bytes, deciding on the first byte when it differs (as it mostly does between
/// the names of one series) without a call to `memcmp`.
#[inline]
pub(crate) fn less_bytes(a: &[u8], b: &[u8]) -> bool {
    match (a.first(), b.first()) {
        (Some(x), Some(y)) if x != y => x < y,
        _ => a < b,
    }
}

/// `a < b`, deciding on the first byte when it differs (as it mostly does between the names of
/// one series) without a call to `memcmp`.
#[inline]
fn less(a: &str, b: &str) -> bool {
    less_bytes(a.as_bytes(), b.as_bytes())
}

/// Checks every label against `limits` and the name rules, then puts `labels` in canonical
/// form in place (see [`tsdb::metric_name::canonicalize`]).
pub fn canonicalize(labels: &mut Vec<Label<'_>>, limits: &Limits) -> Result<(), Invalid> {
    // Senders like Prometheus send labels sorted, without empty values; then the canonical
    // form is the input and the sort-and-dedup pass can be skipped.
    let mut canonical = true;
    let mut prev = "";
    for (i, l) in labels.iter().enumerate() {
        canonical &= !l.value.is_empty() && (i == 0 || less(prev, l.name));
        prev = l.name;
        if l.name.len() > limits.max_label_name_len {
            return Err(Invalid::LabelNameTooLong {
                name: quoted(l.name),
                len: l.name.len(),
                limit: limits.max_label_name_len,
            });
        }
        if l.value.len() > limits.max_label_value_len {
            return Err(Invalid::LabelValueTooLong {
                name: quoted(l.name),
                len: l.value.len(),
                limit: limits.max_label_value_len,
            });
        }
        if !is_valid_label_name(l.name) {
            return Err(Invalid::LabelName(quoted(l.name)));
        }
        if l.name == "__name__" && !l.value.is_empty() && !is_valid_metric_name(l.value) {
            return Err(Invalid::MetricName(quoted(l.value)));
        }
    }
    if canonical && !labels.is_empty() {
        // Strictly ascending names: sorted and without duplicates.
    } else {
        metric_name::canonicalize(labels).map_err(|e| match e {
            MetricNameError::DuplicateLabel { name } => Invalid::DuplicateLabel(quoted(&name)),
            // `canonicalize` reports nothing else, but stay total.
            _ => Invalid::EmptyLabelSet,
        })?;
    }
    if labels.len() > limits.max_labels_per_series {
        return Err(Invalid::TooManyLabels {
            count: labels.len(),
            limit: limits.max_labels_per_series,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(labels: &[(&str, &str)], want: Result<&[(&str, &str)], &str>) {
        let limits = Limits {
            max_labels_per_series: 3,
            max_label_name_len: 10,
            max_label_value_len: 5,
            ..Limits::default()
        };
        let mut v: Vec<Label<'_>> = labels
            .iter()
            .map(|&(name, value)| Label { name, value })
            .collect();
        let got = canonicalize(&mut v, &limits)
            .map(|()| v.iter().map(|l| (l.name, l.value)).collect::<Vec<_>>());
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert_eq!(got.to_string(), want),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn rules() {
        check(
            &[("job", "x"), ("__name__", "up"), ("a", "")],
            Ok(&[("__name__", "up"), ("job", "x")]),
        );
        check(&[("__name__", "a:b_1")], Ok(&[("__name__", "a:b_1")]));
        check(&[("_", "v")], Ok(&[("_", "v")]));
        check(&[("__name__", "1up")], Err(r#"invalid metric name "1up""#));
        check(&[("__name__", "a-b")], Err(r#"invalid metric name "a-b""#));
        check(&[("1abc", "v")], Err(r#"invalid label name "1abc""#));
        check(&[("a:b", "v")], Err(r#"invalid label name "a:b""#));
        check(&[("", "v")], Err(r#"invalid label name """#));
        check(&[("é", "v")], Err(r#"invalid label name "é""#));
        check(
            &[("a", "1"), ("a", "2")],
            Err(r#"duplicate label name "a""#),
        );
        check(&[("a", "")], Err("empty label set"));
        check(&[], Err("empty label set"));
        check(
            &[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")],
            Err("4 labels exceed the limit of 3 labels per series"),
        );
        check(
            &[("a", "1"), ("b", "1"), ("c", "1"), ("d", "")],
            Ok(&[("a", "1"), ("b", "1"), ("c", "1")]),
        );
        check(
            &[("abcdefghijk", "1")],
            Err(r#"label name "abcdefghijk" is 11 bytes long, over the limit of 10"#),
        );
        check(
            &[("a", "123456")],
            Err(r#"value of label "a" is 6 bytes long, over the limit of 5"#),
        );
        check(&[("a", "1\n\"é")], Ok(&[("a", "1\n\"é")]));
    }

    #[test]
    fn name_predicates() {
        assert!(is_valid_metric_name(":a"));
        assert!(!is_valid_label_name(":a"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_metric_name("a b"));
        assert!(is_valid_label_name("__name__"));
    }

    /// The word-at-a-time check answers what the byte table answers, for every byte in every
    /// position of names of every length up to a few words.
    #[test]
    fn word_check_equals_the_byte_table() {
        let by_table =
            |s: &[u8], cont: u8| s.iter().all(|b| NAME_CHARS[usize::from(*b)] & cont != 0);
        for len in 1..=19 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'x'; len];
                    s[at] = b;
                    for (cont, colon) in [(LABEL_CONT, false), (METRIC_CONT, true)] {
                        assert_eq!(
                            all_name_chars(&s, colon),
                            by_table(&s, cont),
                            "{s:?} {colon}"
                        );
                    }
                }
            }
        }
        assert!(all_name_chars(b"", false));
    }

    proptest::proptest! {
        #[test]
        fn names_match_the_byte_table(s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
                                      pick in proptest::collection::vec(0usize..64, 0..40)) {
            // Mostly name characters, with arbitrary bytes mixed in.
            const ALPHABET: &[u8] = b"abcxyzABCXYZ0189_:@[`{/ \x7f";
            let s: Vec<u8> = s.iter().zip(pick.iter().chain(std::iter::repeat(&99)))
                .map(|(&b, &p)| ALPHABET.get(p).copied().unwrap_or(b))
                .collect();
            for (start, cont) in [(LABEL_START, LABEL_CONT), (METRIC_START, METRIC_CONT)] {
                let want = s.first().is_some_and(|f| NAME_CHARS[usize::from(*f)] & start != 0)
                    && s.iter().all(|b| NAME_CHARS[usize::from(*b)] & cont != 0);
                proptest::prop_assert_eq!(matches_bytes(&s, start, cont), want);
            }
        }
    }
}
