//! Which timestamps the table keeps: rows older than the retention or too far in the future are
//! refused at ingestion, trimmed by merges, hidden from searches, and whole partitions past the
//! retention are dropped.

use crate::time_range::{Month, TimeRange};

/// Why a row was dropped at ingestion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Older than `now - retention`.
    TooOld,
    /// Newer than `now + future_limit`.
    TooNew,
}

/// The timestamps kept at `now_ms`: `[now - retention, now + future_limit]` (saturating).
pub fn accepted_range(now_ms: i64, retention_ms: i64, future_limit_ms: i64) -> TimeRange {
    TimeRange::new(
        now_ms.saturating_sub(retention_ms.max(0)),
        now_ms.saturating_add(future_limit_ms.max(0)),
    )
}

/// Whether a row with timestamp `ts` is kept, and why not.
#[inline]
pub fn check_timestamp(ts: i64, accepted: &TimeRange) -> Result<(), DropReason> {
    if ts < accepted.min_timestamp {
        Err(DropReason::TooOld)
    } else if ts > accepted.max_timestamp {
        Err(DropReason::TooNew)
    } else {
        Ok(())
    }
}

/// Whether every timestamp of `month` is older than the retention allows at `now_ms`: its
/// partition can go.
pub fn month_expired(month: Month, now_ms: i64, retention_ms: i64) -> bool {
    month.range().max_timestamp < now_ms.saturating_sub(retention_ms.max(0))
}

/// The part of `range` a search may show at `now_ms`: nothing older than the retention.
pub fn visible_range(range: TimeRange, now_ms: i64, retention_ms: i64) -> TimeRange {
    TimeRange::new(
        range
            .min_timestamp
            .max(now_ms.saturating_sub(retention_ms.max(0))),
        range.max_timestamp,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_expiry() {
        let day = 86_400_000;
        let now = 1_709_251_200_000; // 2024-03-01T00:00:00Z
        let acc = accepted_range(now, 30 * day, 2 * day);
        assert_eq!(check_timestamp(now, &acc), Ok(()));
        assert_eq!(check_timestamp(now - 30 * day, &acc), Ok(()));
        assert_eq!(
            check_timestamp(now - 30 * day - 1, &acc),
            Err(DropReason::TooOld)
        );
        assert_eq!(
            check_timestamp(now + 2 * day + 1, &acc),
            Err(DropReason::TooNew)
        );
        assert_eq!(
            accepted_range(0, i64::MAX, i64::MAX),
            TimeRange::new(-i64::MAX, i64::MAX)
        );

        let dec = Month::of_timestamp(now - 70 * day);
        let feb = Month::of_timestamp(now - day);
        assert!(month_expired(dec, now, 30 * day));
        assert!(!month_expired(
            Month::of_timestamp(now - 40 * day),
            now,
            30 * day
        )); // Jan ends after now - 30 d
        assert!(!month_expired(feb, now, 30 * day));
        assert!(!month_expired(dec, now, i64::MAX));

        let r = visible_range(TimeRange::ALL, now, day);
        assert_eq!(r, TimeRange::new(now - day, i64::MAX));
    }
}
