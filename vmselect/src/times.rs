//! Time and duration parameters of the Prometheus HTTP API.

/// Parses a timestamp parameter: Unix seconds with an optional fraction (`1435781451.781`) or
/// RFC 3339 (`2015-07-01T20:10:51.781Z`, `2015-07-01T22:10:51+02:00`). Returns milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        let ms = (secs * 1000.0).round();
        if ms.abs() > 9.2e18 {
            return Err(format!(
                "cannot parse {s:?} to a valid timestamp: out of range"
            ));
        }
        return Ok(ms as i64);
    }
    parse_rfc3339(t).ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a duration parameter: seconds with an optional fraction (`15`, `0.5`) or a
/// Prometheus duration (`1m30s`). Returns milliseconds.
pub fn parse_duration_param(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() || secs.abs() > 9.2e15 {
            return Err(format!("cannot parse {s:?} to a valid duration"));
        }
        return Ok((secs * 1000.0).round() as i64);
    }
    promql::lexer::parse_duration(t)
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0i64;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return None;
        }
        let frac = &s[start..pos];
        let mut digits: String = frac.chars().take(3).collect();
        while digits.len() < 3 {
            digits.push('0');
        }
        millis = digits.parse().ok()?;
    }
    let offset_min = match b.get(pos)? {
        b'Z' | b'z' if pos + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if pos + 6 == b.len() && b[pos + 3] == b':' => {
            let (h, m) = (num(pos + 1, 2)?, num(pos + 4, 2)?);
            let off = h * 60 + m;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    Some(secs * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats milliseconds as Prometheus renders timestamps in JSON: seconds with up to three
/// decimals, trailing zeros dropped (`1435781451.781`, `1435781451`).
pub fn format_seconds(ms: i64, out: &mut String) {
    use std::fmt::Write;
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    if frac == 0 {
        let _ = write!(out, "{secs}");
        return;
    }
    // Negative times with a fraction: -1.5 s is secs = -2, frac = 500.
    let (sign, whole, frac) = if ms < 0 {
        ("-", -(secs + 1), 1000 - frac)
    } else {
        ("", secs, frac)
    };
    let mut f = format!("{frac:03}");
    while f.ends_with('0') {
        f.pop();
    }
    let _ = write!(out, "{sign}{whole}.{f}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        #[track_caller]
        fn check(s: &str, want: Option<i64>) {
            assert_eq!(parse_time(s).ok(), want, "{s}");
        }
        check("1435781451.781", Some(1_435_781_451_781));
        check("1435781451", Some(1_435_781_451_000));
        check("-1.5", Some(-1_500));
        check("2015-07-01T20:10:51.781Z", Some(1_435_781_451_781));
        check("2015-07-01T22:10:51.781+02:00", Some(1_435_781_451_781));
        check("1970-01-01T00:00:00Z", Some(0));
        check("1970-01-01T00:00:00.123456789Z", Some(123));
        check("2000-02-29T12:00:00-01:30", Some(951_831_000_000));
        check("yesterday", None);
        check("2015-13-01T00:00:00Z", None);
        check("2015-07-01T20:10:51", None);
        check("NaN", None);
        check("Inf", None);
    }

    #[test]
    fn durations_and_rendering() {
        assert_eq!(parse_duration_param("15"), Ok(15_000));
        assert_eq!(parse_duration_param("0.5"), Ok(500));
        assert_eq!(parse_duration_param("1m30s"), Ok(90_000));
        assert!(parse_duration_param("abc").is_err());
        let render = |ms| {
            let mut s = String::new();
            format_seconds(ms, &mut s);
            s
        };
        assert_eq!(render(1_435_781_451_781), "1435781451.781");
        assert_eq!(render(1_435_781_451_000), "1435781451");
        assert_eq!(render(1_500), "1.5");
        assert_eq!(render(-1_500), "-1.5");
        assert_eq!(render(-1), "-0.001");
        assert_eq!(render(10), "0.01");
    }
}
