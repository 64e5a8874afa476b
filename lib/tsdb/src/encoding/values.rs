//! Values codec: exact decimals where possible, XOR otherwise, then zstd where it pays.
//!
//! Tag byte: bits 0-3 the [`IntKind`] of the mantissas (0 for XOR), bits 4-6 the
//! [`ValueKind`], bit 7 set when the payload is zstd-compressed (`uvarint(raw_len)` + one zstd
//! frame over the whole payload below).
//!
//! Decimal payload:
//! ```text
//! varint(exponent e, |e| <= 22)
//! mantissas M[0..n] as an integer series (super::ints)
//! uvarint(exception count x)
//! x × ( uvarint(index - previous index - 1, the first counted from -1) ; u64 LE raw bits )
//! ```
//! `value[i] = M[i] × 10^e` (see [`super::decimal`]) except at the listed indexes, whose raw bits
//! are stored as they are: NaNs (the Prometheus stale marker among them), ±Inf, -0.0 and values
//! without a short decimal form. An exception's mantissa slot continues the previous step (`M[i-1] + (M[i-1] - M[i-2])`)
//! so that it costs nothing in the series. A block with more than `n/8` exceptions uses XOR.
//!
//! XOR payload: [`super::xor`].

use std::cell::RefCell;

use super::compress::{compress_tail_if_pays, decompress};
use super::decimal::{MAX_EXPONENT, from_decimal, scale_mantissa, to_decimal};
use super::ints::{IntKind, decode_ints, encode_ints};
use super::reader::{DecodeError, Reader};
use super::timestamps::{MAX_BYTES_PER_INT, ZSTD_FLAG};
use super::varint::{put_uvarint, put_varint};
use super::xor::{decode_xor, encode_xor};

/// How values were stored; bits 4-6 of the tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueKind {
    /// Integer mantissas with one exponent, plus raw exceptions.
    Decimal = 0,
    /// XOR of consecutive bit patterns.
    Xor = 1,
}

/// Above this many encoded bytes per value, XOR is tried as well and the smaller kept.
const TRY_XOR_ABOVE_BYTES_PER_VALUE: usize = 5;

#[derive(Default)]
struct Scratch {
    mantissas: Vec<i64>,
    exponents: Vec<i16>,
    exceptions: Vec<usize>,
    xor: Vec<u8>,
    raw: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Appends the encoding of `values` to `out` and returns the tag byte. `zstd_level` 0
/// disables compression.
pub fn encode_values(values: &[f64], out: &mut Vec<u8>, zstd_level: i32) -> u8 {
    let start = out.len();
    let tag = SCRATCH.with_borrow_mut(|s| {
        let Some(kind) = encode_decimal(values, out, s) else {
            encode_xor(values, out);
            return (ValueKind::Xor as u8) << 4;
        };
        let decimal_len = out.len() - start;
        if decimal_len > values.len() * TRY_XOR_ABOVE_BYTES_PER_VALUE {
            s.xor.clear();
            encode_xor(values, &mut s.xor);
            if s.xor.len() < decimal_len {
                out.truncate(start);
                out.extend_from_slice(&s.xor);
                return (ValueKind::Xor as u8) << 4;
            }
        }
        kind as u8
    });
    let zstd = compress_tail_if_pays(out, start, zstd_level);
    tag | if zstd { ZSTD_FLAG } else { 0 }
}

/// Writes the decimal payload, or returns `None` (writing nothing) when too many values are
/// exceptions.
fn encode_decimal(values: &[f64], out: &mut Vec<u8>, s: &mut Scratch) -> Option<IntKind> {
    const NONE: i16 = i16::MAX;
    s.mantissas.clear();
    s.exponents.clear();
    let max_exceptions = values.len() / 8;
    let mut not_decimal = 0;
    for &v in values {
        let (m, e) = to_decimal(v).unwrap_or((0, NONE));
        not_decimal += usize::from(e == NONE);
        if not_decimal > max_exceptions {
            return None;
        }
        s.mantissas.push(m);
        s.exponents.push(e);
    }
    // The shared exponent: the smallest one present, unless rescaling to it would push too many
    // values out of the exact range; then the next smallest, the values with more fraction
    // digits becoming exceptions.
    let mut candidates: Vec<i16> = s.exponents.iter().copied().filter(|&e| e != NONE).collect();
    candidates.sort_unstable();
    candidates.dedup();
    if candidates.is_empty() {
        candidates.push(0);
    }
    let exp = candidates.into_iter().find(|&c| {
        let fails = s
            .mantissas
            .iter()
            .zip(&s.exponents)
            .filter(|&(&m, &e)| e == NONE || e < c || scale_mantissa(m, (e - c) as u16).is_none())
            .count();
        fails <= max_exceptions
    })?;
    // Rescale; an exception's slot continues the previous step, so that it costs nothing in any
    // of the integer shapes.
    s.exceptions.clear();
    let (mut prev, mut step) = (0i64, 0i64);
    for (i, (m, &e)) in s.mantissas.iter_mut().zip(&s.exponents).enumerate() {
        let scaled = if e == NONE || e < exp {
            None
        } else {
            scale_mantissa(*m, (e - exp) as u16)
        };
        match scaled {
            Some(v) => {
                *m = v;
                step = if i == 0 { 0 } else { v.wrapping_sub(prev) };
                prev = v;
            }
            None => {
                prev = prev.wrapping_add(step);
                *m = prev;
                s.exceptions.push(i);
            }
        }
    }
    put_varint(out, i64::from(exp));
    let kind = encode_ints(&s.mantissas, out);
    put_uvarint(out, s.exceptions.len() as u64);
    let mut last: i64 = -1;
    for &i in &s.exceptions {
        put_uvarint(out, (i as i64 - last - 1) as u64);
        out.extend_from_slice(&values[i].to_bits().to_le_bytes());
        last = i as i64;
    }
    Some(kind)
}

/// Decodes `n` values encoded with `tag` from `src` (which must be consumed exactly), appending
/// them to `out`.
pub fn decode_values(src: &[u8], tag: u8, n: usize, out: &mut Vec<f64>) -> Result<(), DecodeError> {
    let bad_tag = || DecodeError {
        what: "values codec tag",
        offset: 0,
        problem: format!("unknown tag {tag:#04x}"),
    };
    let value_kind = match (tag >> 4) & 0x7 {
        0 => ValueKind::Decimal,
        1 if tag & 0x0f == 0 => ValueKind::Xor,
        _ => return Err(bad_tag()),
    };
    let int_kind = IntKind::from_u8(tag & 0x0f).ok_or_else(bad_tag)?;
    SCRATCH.with_borrow_mut(|s| {
        let payload: &[u8] = if tag & ZSTD_FLAG != 0 {
            // Decimal payloads hold at most n varints plus n exceptions of 18 bytes.
            let max = n.saturating_mul(MAX_BYTES_PER_INT + 18) + 32;
            decompress(src, max, &mut s.raw)?;
            &s.raw
        } else {
            src
        };
        match value_kind {
            ValueKind::Xor => decode_xor(payload, n, out),
            ValueKind::Decimal => decode_decimal(payload, int_kind, n, out, &mut s.mantissas),
        }
    })
}

fn decode_decimal(
    src: &[u8],
    kind: IntKind,
    n: usize,
    out: &mut Vec<f64>,
    mantissas: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(src);
    let exp_at = r.position();
    let exp = r.varint("decimal exponent")?;
    if exp.unsigned_abs() > MAX_EXPONENT as u64 {
        return Err(DecodeError {
            what: "decimal exponent",
            offset: exp_at,
            problem: format!("{exp} is outside ±{MAX_EXPONENT}"),
        });
    }
    let exp = exp as i16;
    mantissas.clear();
    decode_ints(&mut r, kind, n, mantissas)?;
    let base = out.len();
    if exp == 0 {
        out.extend(mantissas.iter().map(|&m| m as f64));
    } else {
        out.extend(mantissas.iter().map(|&m| from_decimal(m, exp)));
    }
    let count = r.len(n, "exception count")?;
    let mut idx: i64 = -1;
    for _ in 0..count {
        let at = r.position();
        let gap = r.len(n, "exception index")?;
        idx += gap as i64 + 1;
        let bits = r.u64_le("exception value")?;
        match out.get_mut(base + idx as usize) {
            Some(slot) if (idx as usize) < n => *slot = f64::from_bits(bits),
            _ => {
                return Err(DecodeError {
                    what: "exception index",
                    offset: at,
                    problem: format!("index {idx} is past the {n} values"),
                });
            }
        }
    }
    if !r.is_empty() {
        return Err(DecodeError {
            what: "values",
            offset: r.position(),
            problem: format!("{} trailing bytes", r.remaining()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STALE: u64 = 0x7ff0_0000_0000_0002;

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    #[track_caller]
    fn check(values: &[f64], level: i32, want_tag: u8) -> usize {
        let mut out = Vec::new();
        let tag = encode_values(values, &mut out, level);
        assert_eq!(tag, want_tag, "{values:?}");
        let mut back = Vec::new();
        decode_values(&out, tag, values.len(), &mut back).unwrap();
        assert_eq!(bits(&back), bits(values));
        out.len()
    }

    #[test]
    fn chooses_decimal_xor_and_zstd() {
        let dec = |k: IntKind| k as u8;
        let xor = (ValueKind::Xor as u8) << 4;
        assert_eq!(check(&[1.0; 100], 3, dec(IntKind::Const)), 3);
        let counter: Vec<f64> = (0..100).map(|i| 1000.0 + f64::from(i) * 0.25).collect();
        check(&counter, 0, dec(IntKind::DeltaConst));
        let mut level = 5000i64;
        let gauge: Vec<f64> = (0..400)
            .map(|i| {
                level += (i * 7919 % 21) - 10;
                level as f64 / 100.0
            })
            .collect();
        check(&gauge, 0, dec(IntKind::Delta));
        check(&gauge, 3, dec(IntKind::Delta) | ZSTD_FLAG);
        let mut ended = counter.clone();
        ended.push(f64::from_bits(STALE));
        check(&ended, 0, dec(IntKind::DeltaConst));
        let thirds: Vec<f64> = (1..50).map(|i| f64::from(i) / 3.0 + 0.1).collect();
        check(&thirds, 0, xor);
        check(&[f64::from_bits(STALE); 3], 0, xor);
        check(&[], 3, xor);
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        let specials = [
            f64::from_bits(STALE),
            f64::NAN,
            f64::from_bits(0xfff8_0000_0000_1234),
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::from_bits(1),
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1e22,
            1e-22,
        ];
        // Alone (XOR) and sprinkled into decimals (exceptions).
        for level in [0, 3] {
            let mut out = Vec::new();
            let tag = encode_values(&specials, &mut out, level);
            let mut back = Vec::new();
            decode_values(&out, tag, specials.len(), &mut back).unwrap();
            assert_eq!(bits(&back), bits(&specials));
        }
        let mut mixed: Vec<f64> = (0..200).map(f64::from).collect();
        for (i, s) in specials.iter().enumerate() {
            mixed[i * 15] = *s;
        }
        let mut out = Vec::new();
        let tag = encode_values(&mixed, &mut out, 0);
        assert_eq!(tag >> 4, ValueKind::Decimal as u8);
        let mut back = Vec::new();
        decode_values(&out, tag, mixed.len(), &mut back).unwrap();
        assert_eq!(bits(&back), bits(&mixed));
    }

    #[test]
    fn corrupt_payloads_are_errors() {
        let values: Vec<f64> = (0..100).map(|i| f64::from(i) * 1.5).collect();
        let mut vals = values.clone();
        vals[50] = f64::NAN;
        let mut out = Vec::new();
        let tag = encode_values(&vals, &mut out, 0);
        let mut back = Vec::new();
        for cut in 0..out.len() {
            assert!(
                decode_values(&out[..cut], tag, 100, &mut back).is_err(),
                "cut {cut}"
            );
        }
        assert!(decode_values(&out, 0x2f, 100, &mut back).is_err());
        assert!(decode_values(&out, 0x13, 100, &mut back).is_err());
        // Exponent out of range.
        assert!(decode_values(&[46, 0, 0], 0, 1, &mut back).is_err());
        // Exception index past the end.
        assert!(decode_values(&[0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0], 0, 2, &mut back).is_err());
    }

    proptest! {
        #[test]
        fn round_trips_any_bits(raw in prop::collection::vec(any::<u64>(), 0..200), level in 0..3i32) {
            let values: Vec<f64> = raw.iter().map(|b| f64::from_bits(*b)).collect();
            let mut out = Vec::new();
            let tag = encode_values(&values, &mut out, level);
            let mut back = Vec::new();
            decode_values(&out, tag, values.len(), &mut back).unwrap();
            prop_assert_eq!(bits(&back), raw);
        }

        #[test]
        fn round_trips_decimals_with_specials(
            ms in prop::collection::vec(-10_000_000i64..10_000_000, 1..300),
            k in 0i16..8,
            specials in prop::collection::vec((0usize..300, prop::sample::select(vec![
                STALE, 0x7ff8_0000_0000_0001, 0x8000_0000_0000_0000, 0x7ff0_0000_0000_0000, 1, 0x3fd5_5555_5555_5555,
            ])), 0..10),
            level in 0..3i32,
        ) {
            let mut values: Vec<f64> = ms.iter().map(|&m| from_decimal(m, -k)).collect();
            for (i, b) in specials {
                if let Some(v) = values.get_mut(i) { *v = f64::from_bits(b); }
            }
            let mut out = Vec::new();
            let tag = encode_values(&values, &mut out, level);
            let mut back = Vec::new();
            decode_values(&out, tag, values.len(), &mut back).unwrap();
            prop_assert_eq!(bits(&back), bits(&values));
        }
    }
}
