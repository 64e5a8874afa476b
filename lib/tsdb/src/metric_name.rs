//! The canonical form of a series' label set and its byte encoding.
//!
//! Canonical: labels sorted by name (bytewise), no empty values, no duplicate names. The
//! encoding is a sequence of `varint(len(name)) name varint(len(value)) value` for each label
//! in canonical order, with LEB128 varints. Equal label sets have equal encodings, so the bytes
//! serve as a cache key, a hash input and an index key. The tenant is never part of it.

use thiserror::Error;

/// One label of a series, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label<'a> {
    /// The label name, e.g. `__name__` or `job`.
    pub name: &'a str,
    /// The label value; labels with empty values are dropped by [`canonicalize`].
    pub value: &'a str,
}

/// Why a label set has no canonical form, or why bytes are not a valid encoding.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MetricNameError {
    /// The same label name appears twice.
    #[error("duplicate label name {name:?}")]
    DuplicateLabel {
        /// The repeated name.
        name: String,
    },
    /// Nothing is left once empty values are dropped.
    #[error("empty label set")]
    Empty,
    /// The encoded bytes end inside a label or hold a malformed length.
    #[error("truncated or malformed metric name encoding at byte {offset}")]
    Malformed {
        /// Where decoding stopped.
        offset: usize,
    },
    /// A name or value is not UTF-8.
    #[error("label {what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// `"name"` or `"value"`.
        what: &'static str,
        /// Where the bad string starts.
        offset: usize,
    },
}

/// Puts `labels` into canonical form in place: drops empty values, sorts by name, and rejects
/// duplicate names and sets left empty.
pub fn canonicalize(labels: &mut Vec<Label<'_>>) -> Result<(), MetricNameError> {
    labels.retain(|l| !l.value.is_empty());
    if labels.is_empty() {
        return Err(MetricNameError::Empty);
    }
    labels.sort_unstable_by(|a, b| a.name.cmp(b.name));
    if let Some(w) = labels.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(MetricNameError::DuplicateLabel {
            name: w[0].name.to_owned(),
        });
    }
    Ok(())
}

/// Appends the encoding of `labels`, which must already be canonical, to `out`.
pub fn encode(labels: &[Label<'_>], out: &mut Vec<u8>) {
    for l in labels {
        put_varint(out, l.name.len() as u64);
        out.extend_from_slice(l.name.as_bytes());
        put_varint(out, l.value.len() as u64);
        out.extend_from_slice(l.value.as_bytes());
    }
}

/// Decodes an encoded label set, checking bounds and UTF-8. The labels borrow from `raw`.
pub fn decode(raw: &[u8]) -> Result<Vec<Label<'_>>, MetricNameError> {
    let mut labels = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let name = take_str(raw, &mut pos, "name")?;
        let value = take_str(raw, &mut pos, "value")?;
        labels.push(Label { name, value });
    }
    Ok(labels)
}

/// Returns the value of label `name` in an encoded label set, without allocating.
pub fn find_value<'a>(raw: &'a [u8], name: &str) -> Result<Option<&'a str>, MetricNameError> {
    let mut pos = 0;
    while pos < raw.len() {
        let n = take_str(raw, &mut pos, "name")?;
        let v = take_str(raw, &mut pos, "value")?;
        if n == name {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

fn take_str<'a>(
    raw: &'a [u8],
    pos: &mut usize,
    what: &'static str,
) -> Result<&'a str, MetricNameError> {
    let start = *pos;
    let len = get_varint(raw, pos).ok_or(MetricNameError::Malformed { offset: start })?;
    let len = usize::try_from(len).map_err(|_| MetricNameError::Malformed { offset: start })?;
    let end = pos
        .checked_add(len)
        .ok_or(MetricNameError::Malformed { offset: start })?;
    let bytes = raw
        .get(*pos..end)
        .ok_or(MetricNameError::Malformed { offset: start })?;
    let s = std::str::from_utf8(bytes)
        .map_err(|_| MetricNameError::InvalidUtf8 { what, offset: *pos })?;
    *pos = end;
    Ok(s)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(raw: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *raw.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l<'a>(name: &'a str, value: &'a str) -> Label<'a> {
        Label { name, value }
    }

    #[test]
    fn canonical_form_sorts_drops_empty_and_rejects_duplicates() {
        let mut a = vec![
            l("job", "x"),
            l("__name__", "up"),
            l("Zone", "1"),
            l("empty", ""),
        ];
        canonicalize(&mut a).unwrap();
        assert_eq!(a, vec![l("Zone", "1"), l("__name__", "up"), l("job", "x")]);

        let mut dup = vec![l("a", "1"), l("b", "2"), l("a", "3")];
        assert_eq!(
            canonicalize(&mut dup),
            Err(MetricNameError::DuplicateLabel { name: "a".into() })
        );
        let mut empty = vec![l("a", "")];
        assert_eq!(canonicalize(&mut empty), Err(MetricNameError::Empty));
    }

    #[test]
    fn encoding_round_trips_and_finds_values() {
        let long = "v".repeat(300);
        let labels = vec![l("__name__", "up"), l("instance", &long), l("job", "")];
        let mut raw = Vec::new();
        encode(&labels, &mut raw);
        assert_eq!(decode(&raw).unwrap(), labels);
        assert_eq!(find_value(&raw, "instance").unwrap(), Some(long.as_str()));
        assert_eq!(find_value(&raw, "nope").unwrap(), None);
    }

    #[test]
    fn malformed_encodings_are_errors() {
        let mut raw = Vec::new();
        encode(&[l("name", "value")], &mut raw);
        for cut in 1..raw.len() {
            assert!(
                decode(&raw[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        assert!(matches!(
            decode(&[0xff; 11]),
            Err(MetricNameError::Malformed { .. })
        ));
        assert!(matches!(
            decode(&[1, 0xff, 0]),
            Err(MetricNameError::InvalidUtf8 { .. })
        ));
    }
}
