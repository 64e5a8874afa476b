//! Integer series: the codec under timestamps and decimal mantissas.
//!
//! A series of `i64` is stored as one of four shapes, whichever fits (all arithmetic wraps, so
//! every `i64` sequence round-trips, however wild the jumps):
//!
//! | kind | payload |
//! | --- | --- |
//! | `Const` | `varint(v0)` (every value equals `v0`) |
//! | `DeltaConst` | `varint(v0) varint(d)` (`v[i] = v0 + i*d`) |
//! | `Delta` | `varint(v0)` then `n-1` × `varint(v[i]-v[i-1])` |
//! | `DeltaOfDelta` | `varint(v0) varint(v1-v0)` then `n-2` × `varint(d[i]-d[i-1])` |
//!
//! Varints are zigzag LEB128. The count `n` is not stored: the block header has it.

use super::reader::{DecodeError, Reader};
use super::varint::{put_varint, zigzag_encode};

/// The shape an integer series was stored in; its number is the low nibble of a codec tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum IntKind {
    /// Every value is the same.
    Const = 0,
    /// Values grow by the same step.
    DeltaConst = 1,
    /// Differences of consecutive values.
    Delta = 2,
    /// Differences of consecutive differences.
    DeltaOfDelta = 3,
}

impl IntKind {
    /// The kind with number `v`, if any.
    pub fn from_u8(v: u8) -> Option<IntKind> {
        Some(match v {
            0 => IntKind::Const,
            1 => IntKind::DeltaConst,
            2 => IntKind::Delta,
            3 => IntKind::DeltaOfDelta,
            _ => return None,
        })
    }
}

#[inline]
fn varint_len(v: i64) -> usize {
    let u = zigzag_encode(v) | 1;
    (64 - u.leading_zeros() as usize).div_ceil(7)
}

/// Appends `values` in the smallest of the four shapes to `out` and returns the shape.
pub fn encode_ints(values: &[i64], out: &mut Vec<u8>) -> IntKind {
    let Some(&first) = values.first() else {
        return IntKind::Const;
    };
    if values.iter().all(|&v| v == first) {
        put_varint(out, first);
        return IntKind::Const;
    }
    // Here n >= 2. Size both candidate encodings in one pass.
    let d0 = values[1].wrapping_sub(first);
    let (mut delta_len, mut dod_len) = (varint_len(d0), varint_len(d0));
    let mut prev_d = d0;
    let mut const_step = true;
    for w in values.windows(2).skip(1) {
        let d = w[1].wrapping_sub(w[0]);
        delta_len += varint_len(d);
        dod_len += varint_len(d.wrapping_sub(prev_d));
        const_step &= d == d0;
        prev_d = d;
    }
    put_varint(out, first);
    if const_step {
        put_varint(out, d0);
        return IntKind::DeltaConst;
    }
    if delta_len <= dod_len {
        out.reserve(delta_len);
        for w in values.windows(2) {
            put_varint(out, w[1].wrapping_sub(w[0]));
        }
        IntKind::Delta
    } else {
        out.reserve(dod_len);
        put_varint(out, d0);
        let mut prev_d = d0;
        for w in values.windows(2).skip(1) {
            let d = w[1].wrapping_sub(w[0]);
            put_varint(out, d.wrapping_sub(prev_d));
            prev_d = d;
        }
        IntKind::DeltaOfDelta
    }
}

/// Decodes `n` values of shape `kind` from `r`, appending them to `out`.
pub fn decode_ints(
    r: &mut Reader<'_>,
    kind: IntKind,
    n: usize,
    out: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    if n == 0 {
        return Ok(());
    }
    out.reserve(n);
    let first = r.varint("first value")?;
    match kind {
        IntKind::Const => out.extend(std::iter::repeat_n(first, n)),
        IntKind::DeltaConst => {
            let d = r.varint("constant delta")?;
            let mut v = first;
            for _ in 0..n {
                out.push(v);
                v = v.wrapping_add(d);
            }
        }
        IntKind::Delta => {
            let mut v = first;
            out.push(v);
            r.varints(n - 1, "delta", |delta| {
                v = v.wrapping_add(delta);
                out.push(v);
            })?;
        }
        IntKind::DeltaOfDelta => {
            let mut v = first;
            out.push(v);
            if n > 1 {
                let mut d = r.varint("first delta")?;
                v = v.wrapping_add(d);
                out.push(v);
                r.varints(n - 2, "delta of delta", |dod| {
                    d = d.wrapping_add(dod);
                    v = v.wrapping_add(d);
                    out.push(v);
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn check(values: &[i64], want_kind: IntKind, want_len: usize) {
        let mut out = vec![0xAA];
        let kind = encode_ints(values, &mut out);
        assert_eq!(kind, want_kind, "{values:?}");
        assert_eq!(out.len() - 1, want_len, "{values:?}");
        let mut r = Reader::new(&out[1..]);
        let mut back = vec![42];
        decode_ints(&mut r, kind, values.len(), &mut back).unwrap();
        assert!(r.is_empty());
        assert_eq!(&back[1..], values);
    }

    #[test]
    fn picks_the_smallest_shape() {
        check(&[], IntKind::Const, 0);
        check(&[5], IntKind::Const, 1);
        check(&[7, 7, 7, 7], IntKind::Const, 1);
        check(&[1000, 1015, 1030, 1045], IntKind::DeltaConst, 3);
        check(&[1, 2, 4, 8, 16, 32], IntKind::Delta, 6);
        check(
            &[0, 15_000, 30_001, 44_998, 60_002],
            IntKind::DeltaOfDelta,
            1 + 3 + 3,
        );
        check(&[i64::MAX, i64::MIN, i64::MAX], IntKind::Delta, 10 + 1 + 1);
        check(
            &[i64::MIN, 0, i64::MAX, -1],
            IntKind::DeltaOfDelta,
            10 + 10 + 1 + 1,
        );
    }

    #[test]
    fn truncated_input_is_an_error() {
        let mut out = Vec::new();
        let kind = encode_ints(&[0, 300, 900, 1000], &mut out);
        for cut in 0..out.len() {
            let mut back = Vec::new();
            let mut r = Reader::new(&out[..cut]);
            assert!(
                decode_ints(&mut r, kind, 4, &mut back).is_err(),
                "cut {cut}"
            );
        }
    }

    proptest! {
        #[test]
        fn round_trips_any_series(values in prop::collection::vec(any::<i64>(), 0..300)) {
            let mut out = Vec::new();
            let kind = encode_ints(&values, &mut out);
            let mut back = Vec::new();
            let mut r = Reader::new(&out);
            decode_ints(&mut r, kind, values.len(), &mut back).unwrap();
            prop_assert!(r.is_empty());
            prop_assert_eq!(back, values);
        }

        #[test]
        fn round_trips_jittered_steps(start: i64, step in -100_000i64..100_000,
                jitter in prop::collection::vec(-50i64..50, 1..300)) {
            let values: Vec<i64> = jitter.iter().enumerate()
                .map(|(i, j)| start.wrapping_add(step.wrapping_mul(i as i64)).wrapping_add(*j))
                .collect();
            let mut out = Vec::new();
            let kind = encode_ints(&values, &mut out);
            let mut back = Vec::new();
            decode_ints(&mut Reader::new(&out), kind, values.len(), &mut back).unwrap();
            prop_assert_eq!(back, values);
        }
    }
}
