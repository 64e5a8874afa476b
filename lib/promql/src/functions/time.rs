//! Calendar functions (`year`, `month`, `day_of_week`, ...) on Unix seconds, in UTC.

/// Which calendar field a date function returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatePart {
    /// `day_of_month`: 1..=31.
    DayOfMonth,
    /// `day_of_week`: 0 (Sunday)..=6.
    DayOfWeek,
    /// `day_of_year`: 1..=366.
    DayOfYear,
    /// `days_in_month`: 28..=31.
    DaysInMonth,
    /// `hour`: 0..=23.
    Hour,
    /// `minute`: 0..=59.
    Minute,
    /// `month`: 1..=12.
    Month,
    /// `year`.
    Year,
}

impl DatePart {
    /// The date part computed by the function `name`.
    pub fn from_function(name: &str) -> Option<DatePart> {
        Some(match name {
            "day_of_month" => DatePart::DayOfMonth,
            "day_of_week" => DatePart::DayOfWeek,
            "day_of_year" => DatePart::DayOfYear,
            "days_in_month" => DatePart::DaysInMonth,
            "hour" => DatePart::Hour,
            "minute" => DatePart::Minute,
            "month" => DatePart::Month,
            "year" => DatePart::Year,
            _ => return None,
        })
    }
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The `part` of the UTC time `secs` seconds after the epoch (the fraction is truncated, as Go's
/// `time.Unix(int64(v), 0)`). NaN for a non-finite input.
pub fn date_part(secs: f64, part: DatePart) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let s = secs.trunc() as i64;
    let days = s.div_euclid(86_400);
    let in_day = s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (match part {
        DatePart::DayOfMonth => d,
        DatePart::DayOfWeek => (days + 4).rem_euclid(7),
        DatePart::DayOfYear => (1..m).map(|mm| days_in_month(y, mm)).sum::<i64>() + d,
        DatePart::DaysInMonth => days_in_month(y, m),
        DatePart::Hour => in_day / 3600,
        DatePart::Minute => in_day % 3600 / 60,
        DatePart::Month => m,
        DatePart::Year => y,
    }) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        // 2024-02-29T13:45:00Z = 1709214300
        let t = 1_709_214_300.0;
        for (part, want) in [
            (DatePart::Year, 2024.0),
            (DatePart::Month, 2.0),
            (DatePart::DayOfMonth, 29.0),
            (DatePart::DaysInMonth, 29.0),
            (DatePart::DayOfYear, 60.0),
            (DatePart::DayOfWeek, 4.0),
            (DatePart::Hour, 13.0),
            (DatePart::Minute, 45.0),
        ] {
            assert_eq!(date_part(t, part), want, "{part:?}");
        }
        assert_eq!(date_part(0.0, DatePart::DayOfWeek), 4.0); // Thursday
        assert_eq!(date_part(-1.0, DatePart::Year), 1969.0);
        assert!(date_part(f64::NAN, DatePart::Year).is_nan());
    }
}
