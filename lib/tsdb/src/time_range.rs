//! Spans of time and the UTC months that partition them.

/// A closed span of timestamps in ms: both ends inclusive. The one range type of the crate:
/// the sample table trims samples to it exactly; the series index selects series by the UTC
/// days it touches (a series is in the range if it had a row on one of those days, and a
/// range over more than [`crate::index::IndexConfig::max_days_per_search`] days selects every
/// live series), so a series may be selected and still have no sample in the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeRange {
    /// First timestamp included.
    pub min_timestamp: i64,
    /// Last timestamp included.
    pub max_timestamp: i64,
}

impl TimeRange {
    /// Every representable timestamp.
    pub const ALL: TimeRange = TimeRange {
        min_timestamp: i64::MIN,
        max_timestamp: i64::MAX,
    };

    /// A range from `min` to `max`, both inclusive.
    pub const fn new(min_timestamp: i64, max_timestamp: i64) -> Self {
        TimeRange {
            min_timestamp,
            max_timestamp,
        }
    }

    /// Whether `ts` is inside.
    #[inline]
    pub fn contains(&self, ts: i64) -> bool {
        self.min_timestamp <= ts && ts <= self.max_timestamp
    }

    /// Whether the range shares a timestamp with `[min, max]`.
    #[inline]
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.min_timestamp <= max && min <= self.max_timestamp
    }

    /// Whether no timestamp is inside.
    pub fn is_empty(&self) -> bool {
        self.min_timestamp > self.max_timestamp
    }
}

impl Default for TimeRange {
    /// [`TimeRange::ALL`].
    fn default() -> Self {
        TimeRange::ALL
    }
}

const MS_PER_DAY: i64 = 86_400_000;

/// A UTC calendar month, the unit of partitioning: `YYYY_MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Year (proleptic Gregorian; may be negative for timestamps before year 0).
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
}

impl Month {
    /// The month holding `ts` (ms since the Unix epoch, UTC).
    pub fn of_timestamp(ts: i64) -> Month {
        let (year, month, _) = civil_from_days(ts.div_euclid(MS_PER_DAY));
        Month { year, month }
    }

    /// The first millisecond of the month (saturating at the ends of `i64`).
    pub fn start_ms(&self) -> i64 {
        days_from_civil(self.year, self.month, 1).saturating_mul(MS_PER_DAY)
    }

    /// The next month.
    pub fn next(&self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The month's timestamps.
    pub fn range(&self) -> TimeRange {
        let n = self.next();
        let end = days_from_civil(n.year, n.month, 1)
            .checked_mul(MS_PER_DAY)
            .map_or(i64::MAX, |s| s - 1);
        TimeRange::new(self.start_ms(), end)
    }

    /// The partition directory name, `YYYY_MM`.
    pub fn dir_name(&self) -> String {
        format!("{:04}_{:02}", self.year, self.month)
    }

    /// Parses a name written by [`Month::dir_name`].
    pub fn parse_dir_name(name: &str) -> Option<Month> {
        let (y, m) = name.rsplit_once('_')?;
        let year: i64 = y.parse().ok()?;
        let month: u32 = m.parse().ok()?;
        let parsed = Month { year, month };
        ((1..=12).contains(&month) && parsed.dir_name() == name).then_some(parsed)
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01; Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(ts: i64, name: &str, start: i64) {
        let m = Month::of_timestamp(ts);
        assert_eq!(m.dir_name(), name);
        assert_eq!(m.start_ms(), start);
        assert!(m.range().contains(ts));
        assert_eq!(Month::parse_dir_name(name), Some(m));
    }

    #[test]
    fn months_of_timestamps() {
        check(0, "1970_01", 0);
        check(-1, "1969_12", -31 * MS_PER_DAY);
        check(1_709_251_199_999, "2024_02", 1_706_745_600_000); // last ms of Feb 2024 (leap)
        check(1_709_251_200_000, "2024_03", 1_709_251_200_000);
        check(951_782_400_000, "2000_02", 949_363_200_000); // 2000-02-29
        assert_eq!(
            Month::of_timestamp(i64::MAX).range().max_timestamp,
            i64::MAX
        );
        let min = Month::of_timestamp(i64::MIN);
        assert!(min.range().contains(i64::MIN));
        for bad in ["2024_13", "2024_00", "2024-01", "24_1", "x_01", "2024_1"] {
            assert_eq!(Month::parse_dir_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges() {
        let r = TimeRange::new(10, 20);
        assert!(r.contains(10) && r.contains(20) && !r.contains(21));
        assert!(r.overlaps(20, 30) && !r.overlaps(21, 30) && r.overlaps(0, 10));
        assert!(TimeRange::new(5, 4).is_empty());
    }
}
