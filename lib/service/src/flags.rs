//! Flags spelled as VictoriaMetrics spells them, and the value formats it accepts.
//!
//! VictoriaMetrics uses Go's single-dash long flags (`-storageDataPath=/data`); clap wants two
//! dashes. [`normalize_args`] rewrites the first into the second so that existing manifests work
//! unchanged, and the parsers here read VictoriaMetrics's durations (`30d`, `1y`) and sizes
//! (`10GB`, `512MiB`).

use std::time::Duration;

/// Rewrites `-name[=value]` to `--name[=value]` for every argument after the program name that
/// starts with one dash followed by a letter and is longer than a short flag (`-h` stays).
/// Everything after a bare `--` is left alone.
pub fn normalize_args<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest_verbatim = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || rest_verbatim {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            rest_verbatim = true;
            out.push(arg);
            continue;
        }
        let bytes = arg.as_bytes();
        let single_dash_long =
            bytes.len() > 2 && bytes[0] == b'-' && bytes[1].is_ascii_alphabetic();
        if single_dash_long {
            out.push(format!("-{arg}"));
        } else {
            out.push(arg);
        }
    }
    out
}

/// Parses a duration such as `500ms`, `15s`, `5m`, `2h`, `1d`, `1w`, `1y` or a combination
/// (`1h30m`). A bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    parse_duration_ms(s, 1000).map(|ms| Duration::from_millis(ms as u64))
}

/// Parses `-retentionPeriod`: as VictoriaMetrics, a bare number means months (31 days each);
/// otherwise a duration with a unit (`h`, `d`, `w`, `y`). The minimum is one day.
pub fn parse_retention(s: &str) -> Result<Duration, String> {
    const MONTH_MS: u128 = 31 * 24 * 3600 * 1000;
    let ms = parse_duration_ms(s, MONTH_MS)?;
    if ms < 24 * 3600 * 1000 {
        return Err(format!(
            "retention period {s:?} is shorter than the minimum of 1d"
        ));
    }
    Ok(Duration::from_millis(ms as u64))
}

fn parse_duration_ms(s: &str, bare_unit_ms: u128) -> Result<u128, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".to_owned());
    }
    if let Ok(n) = t.parse::<f64>() {
        if !(n >= 0.0 && n.is_finite()) {
            return Err(format!("duration {s:?} must be a non-negative number"));
        }
        return Ok((n * bare_unit_ms as f64) as u128);
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "cannot parse duration {s:?}: expected a number at {rest:?}"
            ));
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| {
            format!(
                "cannot parse duration {s:?}: bad number {:?}",
                &rest[..num_len]
            )
        })?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_ms: f64 = match &rest[..unit_len] {
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            "d" => 86400e3,
            "w" => 7.0 * 86400e3,
            "y" => 365.0 * 86400e3,
            u => {
                return Err(format!(
                    "cannot parse duration {s:?}: unknown unit {u:?} (want ms, s, m, h, d, w or y)"
                ));
            }
        };
        rest = &rest[unit_len..];
        total += (n * unit_ms) as u128;
    }
    Ok(total)
}

/// Parses a byte size: a plain number, or a number with `KB`, `MB`, `GB`, `TB` (powers of
/// 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("cannot parse size {s:?}: bad number"))?;
    let mul: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("cannot parse size {s:?}: unknown unit {u:?}")),
    };
    if !(n >= 0.0 && n.is_finite()) {
        return Err(format!("size {s:?} must be a non-negative number"));
    }
    Ok((n * mul) as u64)
}

/// Parses a listen address as VictoriaMetrics writes it: `:8482` means all interfaces.
pub fn parse_listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    full.parse()
        .map_err(|e| format!("cannot parse listen address {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let args = [
            "bin",
            "-storageDataPath=/d",
            "--x=1",
            "-h",
            "-dedup.minScrapeInterval",
            "1s",
            "--",
            "-keep",
        ];
        let got = normalize_args(args.iter().map(|s| s.to_string()));
        assert_eq!(
            got,
            [
                "bin",
                "--storageDataPath=/d",
                "--x=1",
                "-h",
                "--dedup.minScrapeInterval",
                "1s",
                "--",
                "-keep"
            ]
        );
    }

    #[test]
    fn durations() {
        #[track_caller]
        fn check(s: &str, want_ms: Option<u64>) {
            assert_eq!(
                parse_duration(s).ok().map(|d| d.as_millis() as u64),
                want_ms,
                "{s}"
            );
        }
        check("15s", Some(15_000));
        check("1h30m", Some(5_400_000));
        check("500ms", Some(500));
        check("2", Some(2_000));
        check("1.5m", Some(90_000));
        check("1d", Some(86_400_000));
        check("1x", None);
        check("", None);
        check("-5s", None);
        check("s", None);
    }

    #[test]
    fn retention_bare_numbers_are_months() {
        assert_eq!(parse_retention("1").unwrap().as_millis(), 31 * 86_400_000);
        assert_eq!(parse_retention("30d").unwrap().as_millis(), 30 * 86_400_000);
        assert_eq!(parse_retention("1y").unwrap().as_millis(), 365 * 86_400_000);
        assert!(parse_retention("1h").is_err());
    }

    #[test]
    fn sizes_and_addresses() {
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("42"), Ok(42));
        assert!(parse_bytes("1XB").is_err());
        assert_eq!(parse_listen_addr(":8482").unwrap().port(), 8482);
        assert_eq!(
            parse_listen_addr("127.0.0.1:1").unwrap().to_string(),
            "127.0.0.1:1"
        );
        assert!(parse_listen_addr("nope").is_err());
    }
}
