//! Exact decimal conversion of floats: `v == M × 10^e` bit for bit.
//!
//! Most metric values are integers or short decimals (`12.5`, `0.001`) written by a program
//! that printed them in base 10. Stored as integer mantissas with one exponent per block, they
//! compress like integers. The conversion is used only where it is exact:
//!
//! `from_decimal(M, e)` is the correctly rounded value of the real number `M × 10^e`, computed as
//! `M as f64 * 10^e` or `M as f64 / 10^-e`. Both operands are exact when `|M| <= 2^53` and
//! `|e| <= 22` (powers of ten up to `10^22` are exact doubles), and IEEE multiplication and
//! division round correctly, so any `(M, e)` within those bounds that represents the same real
//! number as a verified pair decodes to the same bits. [`to_decimal`] verifies every pair it
//! returns by decoding it.

/// Largest mantissa magnitude for which the conversion is exact: 2^53.
pub const MAX_MANTISSA: i64 = 1 << 53;
/// Largest exponent magnitude for which the conversion is exact.
pub const MAX_EXPONENT: i16 = 22;

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
const POW10_INT: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// `M × 10^e` as the nearest double. `e` must be within `±MAX_EXPONENT` (callers validate
/// untrusted exponents first; out-of-range exponents are clamped, never a panic).
#[inline]
pub fn from_decimal(m: i64, e: i16) -> f64 {
    let k = e.unsigned_abs().min(MAX_EXPONENT as u16) as usize;
    if e >= 0 {
        m as f64 * POW10[k]
    } else {
        m as f64 / POW10[k]
    }
}

/// The exact decimal form of `v` with `|M| <= 2^53`, `|e| <= 22` and the largest `e` possible
/// for non-integers' fraction digits, or `None` (NaN, ±Inf, -0.0, and values with no short
/// decimal form such as `1.0/3.0`).
pub fn to_decimal(v: f64) -> Option<(i64, i16)> {
    if !v.is_finite() || v.to_bits() == (-0.0f64).to_bits() {
        return None;
    }
    let limit = MAX_MANTISSA as f64;
    if v.fract() == 0.0 {
        if v.abs() <= limit {
            return Some((v as i64, 0));
        }
        for e in 1..=MAX_EXPONENT {
            let m = (v / POW10[e as usize]).round();
            if m.abs() <= limit && from_decimal(m as i64, e).to_bits() == v.to_bits() {
                return Some((m as i64, e));
            }
        }
        return None;
    }
    for k in 1..=MAX_EXPONENT {
        let m = (v * POW10[k as usize]).round();
        if m.abs() > limit {
            return None;
        }
        if m / POW10[k as usize] == v {
            return Some((m as i64, -k));
        }
    }
    None
}

/// `m × 10^shift` if it stays within `±MAX_MANTISSA`.
#[inline]
pub fn scale_mantissa(m: i64, shift: u16) -> Option<i64> {
    let p = *POW10_INT.get(shift as usize)?;
    m.checked_mul(p).filter(|s| s.abs() <= MAX_MANTISSA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn check(v: f64, want: Option<(i64, i16)>) {
        let got = to_decimal(v);
        assert_eq!(got, want, "{v:e}");
        if let Some((m, e)) = got {
            assert_eq!(from_decimal(m, e).to_bits(), v.to_bits(), "{v:e}");
        }
    }

    #[test]
    fn exact_decimals_and_refusals() {
        check(0.0, Some((0, 0)));
        check(-0.0, None);
        check(42.0, Some((42, 0)));
        check(-7.0, Some((-7, 0)));
        check(12.5, Some((125, -1)));
        check(0.1, Some((1, -1)));
        check(0.001, Some((1, -3)));
        check(1.2345678e-5, Some((12_345_678, -12)));
        check(1.5e9, Some((1_500_000_000, 0)));
        check(1e20, Some((1_000_000_000_000_000, 5)));
        check(
            9_007_199_254_740_992.0 * 10.0,
            Some((9_007_199_254_740_992, 1)),
        );
        check(1.0 / 3.0, Some((3_333_333_333_333_333, -16)));
        check(0.1 + 0.2, None); // 0.30000000000000004: 17 digits
        check(f64::NAN, None);
        check(f64::INFINITY, None);
        check(f64::NEG_INFINITY, None);
        check(f64::from_bits(1), None); // smallest subnormal
        check(f64::MAX, None);
        check(f64::from_bits(0x7ff0_0000_0000_0002), None); // Prometheus stale marker
    }

    #[test]
    fn shared_exponent_scaling_stays_exact() {
        assert_eq!(scale_mantissa(125, 2), Some(12_500));
        assert_eq!(scale_mantissa(MAX_MANTISSA, 1), None);
        assert_eq!(scale_mantissa(1, 19), None);
        assert_eq!(scale_mantissa(i64::MIN, 1), None);
    }

    proptest! {
        #[test]
        fn every_returned_pair_is_exact(bits: u64) {
            let v = f64::from_bits(bits);
            if let Some((m, e)) = to_decimal(v) {
                prop_assert!(m.abs() <= MAX_MANTISSA && e.abs() <= MAX_EXPONENT);
                prop_assert_eq!(from_decimal(m, e).to_bits(), bits);
            }
        }

        #[test]
        fn short_decimals_convert(m in -1_000_000_000i64..1_000_000_000, k in 0i16..10) {
            let v = from_decimal(m, -k);
            let (m2, e2) = to_decimal(v).unwrap();
            prop_assert_eq!(from_decimal(m2, e2).to_bits(), v.to_bits());
            prop_assert!(e2 >= -k);
        }

        #[test]
        fn rescaled_pairs_decode_the_same(m in -1_000_000_000i64..1_000_000_000, k in 0i16..6, extra in 0u16..6) {
            let v = from_decimal(m, -k);
            if let Some((m2, e2)) = to_decimal(v) {
                let scaled = scale_mantissa(m2, extra).unwrap();
                prop_assert_eq!(from_decimal(scaled, e2 - extra as i16).to_bits(), v.to_bits());
            }
        }
    }
}
