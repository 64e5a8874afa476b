//! Rows as callers hand them in, and their write-ahead log record.
//!
//! A WAL record of rows (the payload inside a `crate::wal` frame):
//! ```text
//! u8 kind = 1 (rows, version 1)
//! uvarint row count
//! per row:
//!   u8 flags: which tsid fields differ from the previous row's (all, for the first row)
//!             bit 0 tenant, bit 1 metric_group_id, bit 2 job_id, bit 3 instance_id,
//!             bit 4 metric_id; bits 5-7 zero
//!   [u32 BE account_id, u32 BE project_id]   if bit 0
//!   [u64 BE metric_group_id]                 if bit 1
//!   [u32 BE job_id]                          if bit 2
//!   [u32 BE instance_id]                     if bit 3
//!   [varint(metric_id - previous metric_id)] if bit 4 (wrapping)
//!   varint(timestamp - previous row's timestamp)   (wrapping; the first row counts from 0)
//!   u64 LE value bits
//! ```
//! Rows of one scrape (one job and instance, many metrics) cost about 20 bytes each instead of
//! 48; consecutive samples of one series about 10.

use crate::encoding::reader::{DecodeError, Reader};
use crate::encoding::varint::{put_uvarint, put_varint};
use crate::tsid::Tsid;

/// One sample of one series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// The series.
    pub tsid: Tsid,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The value; every bit pattern is stored as it is.
    pub value: f64,
}

/// Kind byte of a rows record.
pub const WAL_ROWS_KIND: u8 = 1;
const F_TENANT: u8 = 1;
const F_GROUP: u8 = 2;
const F_JOB: u8 = 4;
const F_INSTANCE: u8 = 8;
const F_METRIC: u8 = 16;
const F_ALL: u8 = 31;
/// Smallest encoded row: flags, one-byte timestamp delta, value.
const MIN_ROW_LEN: usize = 10;

/// Encodes the rows `keep` accepts into `out` (cleared first) as one WAL record. Returns how
/// many rows were encoded.
pub fn encode_wal_record(
    rows: &[Row],
    mut keep: impl FnMut(&Row) -> bool,
    out: &mut Vec<u8>,
) -> usize {
    out.clear();
    out.push(WAL_ROWS_KIND);
    let count = rows.iter().filter(|r| keep(r)).count();
    put_uvarint(out, count as u64);
    out.reserve(count * 24);
    let mut prev: Option<Tsid> = None;
    let mut prev_ts = 0i64;
    for r in rows.iter().filter(|r| keep(r)) {
        let t = &r.tsid;
        let flags = match &prev {
            None => F_ALL,
            Some(p) => {
                let bit = |differs: bool, flag: u8| if differs { flag } else { 0 };
                bit(p.tenant != t.tenant, F_TENANT)
                    | bit(p.metric_group_id != t.metric_group_id, F_GROUP)
                    | bit(p.job_id != t.job_id, F_JOB)
                    | bit(p.instance_id != t.instance_id, F_INSTANCE)
                    | bit(p.metric_id != t.metric_id, F_METRIC)
            }
        };
        out.push(flags);
        if flags & F_TENANT != 0 {
            out.extend_from_slice(&t.tenant.account_id.to_be_bytes());
            out.extend_from_slice(&t.tenant.project_id.to_be_bytes());
        }
        if flags & F_GROUP != 0 {
            out.extend_from_slice(&t.metric_group_id.to_be_bytes());
        }
        if flags & F_JOB != 0 {
            out.extend_from_slice(&t.job_id.to_be_bytes());
        }
        if flags & F_INSTANCE != 0 {
            out.extend_from_slice(&t.instance_id.to_be_bytes());
        }
        if flags & F_METRIC != 0 {
            let base = prev.map_or(0, |p| p.metric_id);
            put_varint(out, t.metric_id.wrapping_sub(base) as i64);
        }
        prev = Some(*t);
        put_varint(out, r.timestamp.wrapping_sub(prev_ts));
        prev_ts = r.timestamp;
        out.extend_from_slice(&r.value.to_bits().to_le_bytes());
    }
    count
}

/// Decodes a record written by [`encode_wal_record`], appending its rows to `out`.
pub fn decode_wal_record(src: &[u8], out: &mut Vec<Row>) -> Result<(), DecodeError> {
    let mut r = Reader::new(src);
    let kind = r.u8("WAL record kind")?;
    if kind != WAL_ROWS_KIND {
        return Err(DecodeError {
            what: "WAL record kind",
            offset: 0,
            problem: format!("unknown kind {kind}"),
        });
    }
    let count = r.len(src.len() / MIN_ROW_LEN, "WAL row count")?;
    out.reserve(count);
    let mut t = Tsid::default();
    let mut prev_ts = 0i64;
    for i in 0..count {
        let at = r.position();
        let flags = r.u8("WAL row flags")?;
        if flags & !F_ALL != 0 || (i == 0 && flags != F_ALL) {
            return Err(DecodeError {
                what: "WAL row flags",
                offset: at,
                problem: format!("flags {flags:#04x} invalid for row {i}"),
            });
        }
        if flags & F_TENANT != 0 {
            t.tenant.account_id = r.u32_be("WAL row account_id")?;
            t.tenant.project_id = r.u32_be("WAL row project_id")?;
        }
        if flags & F_GROUP != 0 {
            t.metric_group_id = r.u64_be("WAL row metric_group_id")?;
        }
        if flags & F_JOB != 0 {
            t.job_id = r.u32_be("WAL row job_id")?;
        }
        if flags & F_INSTANCE != 0 {
            t.instance_id = r.u32_be("WAL row instance_id")?;
        }
        if flags & F_METRIC != 0 {
            t.metric_id = t
                .metric_id
                .wrapping_add(r.varint("WAL row metric_id delta")? as u64);
        }
        prev_ts = prev_ts.wrapping_add(r.varint("WAL row timestamp delta")?);
        let value = f64::from_bits(r.u64_le("WAL row value")?);
        out.push(Row {
            tsid: t,
            timestamp: prev_ts,
            value,
        });
    }
    if !r.is_empty() {
        return Err(DecodeError {
            what: "WAL record",
            offset: r.position(),
            problem: format!("{} trailing bytes", r.remaining()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::row;
    use proptest::prelude::*;

    #[test]
    fn scrape_rows_are_compact_and_filtered_rows_are_left_out() {
        // One scrape: one job and instance, many metric groups.
        let rows: Vec<Row> = (0..100u64)
            .map(|m| Row {
                tsid: Tsid {
                    metric_group_id: m / 4 * 0x9e37_79b9,
                    instance_id: 1,
                    ..row(m, 0, 0.0).tsid
                },
                timestamp: 1_700_000_000_000,
                value: m as f64,
            })
            .collect();
        let mut out = Vec::new();
        assert_eq!(encode_wal_record(&rows, |_| true, &mut out), 100);
        assert!(out.len() < 100 * 14, "{} bytes", out.len());
        let mut back = Vec::new();
        decode_wal_record(&out, &mut back).unwrap();
        assert_eq!(back, rows);

        assert_eq!(encode_wal_record(&rows, |r| r.value >= 50.0, &mut out), 50);
        back.clear();
        decode_wal_record(&out, &mut back).unwrap();
        assert_eq!(back, rows[50..]);
    }

    #[test]
    fn corrupt_records_are_errors() {
        let rows = vec![row(1, 5, 1.0), row(1, 6, 2.0), row(2, i64::MIN, f64::NAN)];
        let mut out = Vec::new();
        encode_wal_record(&rows, |_| true, &mut out);
        let mut back = Vec::new();
        for cut in 0..out.len() {
            assert!(
                decode_wal_record(&out[..cut], &mut back).is_err(),
                "cut {cut}"
            );
        }
        assert!(
            decode_wal_record(&[WAL_ROWS_KIND, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &mut back)
                .is_err()
        );
        assert!(decode_wal_record(&[9], &mut back).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(raw in prop::collection::vec((0u64..4, any::<u64>(), any::<i64>(), any::<u64>()), 0..50)) {
            let rows: Vec<Row> = raw.iter().map(|&(g, m, t, v)| Row {
                tsid: Tsid { metric_group_id: g, metric_id: (m % 5).wrapping_add(if g == 3 { u64::MAX - 2 } else { 0 }), ..row(0, 0, 0.0).tsid },
                timestamp: t,
                value: f64::from_bits(v),
            }).collect();
            let mut out = Vec::new();
            encode_wal_record(&rows, |_| true, &mut out);
            let mut back = Vec::new();
            decode_wal_record(&out, &mut back).unwrap();
            let bits = |rs: &[Row]| rs.iter().map(|r| (r.tsid, r.timestamp, r.value.to_bits())).collect::<Vec<_>>();
            prop_assert_eq!(bits(&back), bits(&rows));
        }
    }
}
