//! Numeric helpers shared by functions and aggregations, with Go's semantics where they differ
//! from Rust's (NaN propagation in min/max, Neumaier-Kahan summation, Prometheus's quantile).

use std::cmp::Ordering;

/// Degrees from radians.
pub fn deg(v: f64) -> f64 {
    v * 180.0 / std::f64::consts::PI
}

/// Radians from degrees.
pub fn rad(v: f64) -> f64 {
    v * std::f64::consts::PI / 180.0
}

/// Sign: -1, 0 or 1 (NaN and ±0 unchanged).
pub fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// Go's `math.Min`: NaN if either is NaN.
pub fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() { a } else { b }
    } else {
        a.min(b)
    }
}

/// Go's `math.Max`: NaN if either is NaN.
pub fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_positive() { a } else { b }
    } else {
        a.max(b)
    }
}

/// One step of Neumaier's improved Kahan summation: adds `inc` to `(sum, c)`.
#[inline]
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Orders floats with NaN first (smallest), as Prometheus's `vectorByValueHeap`.
pub fn nan_first(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// Prometheus's `quantile`: linear interpolation between the closest ranks; sorts `values`.
/// NaN for no values or a NaN `q`; -Inf for q < 0 and +Inf for q > 1.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Relative comparison with `epsilon`, as Prometheus's `almost.Equal` (NaN equals NaN).
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        }
    } else {
        format!("{v}")
    }
}

/// Parses a float the way Go's `strconv.ParseFloat` accepts it in label values and test
/// scripts (`Inf`, `+Inf`, `-inf`, `NaN`, decimal and scientific notation).
pub fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => return Some(f64::NAN),
        _ => {}
    }
    if lower.starts_with("0x") || lower.starts_with("-0x") || lower.starts_with("+0x") {
        let (neg, digits) = match lower.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, lower.trim_start_matches('+')),
        };
        let v = i64::from_str_radix(digits.trim_start_matches("0x").trim_start_matches("0X"), 16)
            .ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    if lower.contains(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))) {
        return None;
    }
    lower.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_quantile(q: f64, mut vals: Vec<f64>, want: f64) {
        let got = quantile(q, &mut vals);
        assert!(
            got == want || (got.is_nan() && want.is_nan()),
            "quantile({q}) = {got}, want {want}"
        );
    }

    #[test]
    fn quantiles() {
        check_quantile(0.5, vec![1.0, 3.0, 2.0], 2.0);
        check_quantile(0.25, vec![0.0, 10.0], 2.5);
        check_quantile(1.5, vec![1.0], f64::INFINITY);
        check_quantile(-1.0, vec![1.0], f64::NEG_INFINITY);
        check_quantile(0.5, vec![], f64::NAN);
        check_quantile(0.0, vec![f64::NAN, 1.0], f64::NAN);
    }

    #[test]
    fn kahan_recovers_lost_bits() {
        let (mut s, mut c) = (0.0, 0.0);
        for v in [1.0, 1e100, 1.0, -1e100] {
            (s, c) = kahan_inc(v, s, c);
        }
        assert_eq!(s + c, 2.0);
    }

    #[test]
    fn go_float_formats() {
        for (v, want) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (f64::INFINITY, "+Inf"),
            (1e21, "1000000000000000000000"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_go_float(v), want);
        }
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("abc"), None);
    }

    #[test]
    fn almost_equal_is_relative() {
        assert!(almost_equal(1.0, 1.0 + 1e-9, 1e-6));
        assert!(!almost_equal(1.0, 1.1, 1e-6));
        assert!(!almost_equal(0.0, 1e-300, 1e-6));
        assert!(almost_equal(f64::NAN, f64::NAN, 1e-6));
    }
}
