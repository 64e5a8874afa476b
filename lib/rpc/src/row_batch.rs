//! The insert payload: rows grouped by series, in a compact binary form.
//!
//! ```text
//! batch  := series*                       (until the payload ends)
//! series := account_id u32 LE | project_id u32 LE
//!         | name_len uvarint | name (canonical label set, tsdb::metric_name encoding)
//!         | sample_count uvarint (≥ 1)
//!         | sample_count × ( ts_delta zigzag-varint | value u64 LE (f64 bits) )
//! ```
//! `ts_delta` of the first sample is its timestamp in ms; of the others, the difference from
//! the previous sample of the same series (wrapping arithmetic, so any i64 round-trips).
//! Values are sent bit-exactly (NaN payloads such as the stale marker survive).

use tsdb::Tenant;
use tsdb::encoding::Reader;
use tsdb::encoding::varint::{put_uvarint, put_varint};

/// Builds a row batch.
#[derive(Debug, Default, Clone)]
pub struct RowBatchWriter {
    buf: Vec<u8>,
    rows: usize,
}

impl RowBatchWriter {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one series with its `(timestamp ms, value)` samples (an empty series is
    /// skipped).
    pub fn push_series<I>(&mut self, tenant: Tenant, name: &[u8], samples: I)
    where
        I: IntoIterator<Item = (i64, f64)>,
        I::IntoIter: ExactSizeIterator,
    {
        let samples = samples.into_iter();
        if samples.len() == 0 {
            return;
        }
        self.buf.extend_from_slice(&tenant.account_id.to_le_bytes());
        self.buf.extend_from_slice(&tenant.project_id.to_le_bytes());
        put_uvarint(&mut self.buf, name.len() as u64);
        self.buf.extend_from_slice(name);
        put_uvarint(&mut self.buf, samples.len() as u64);
        let mut prev = 0i64;
        let count = samples.len();
        for (ts, v) in samples {
            put_varint(&mut self.buf, ts.wrapping_sub(prev));
            prev = ts;
            self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        self.rows += count;
    }

    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Encoded size so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the batch holds no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The encoded batch.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the encoded batch, leaving this writer empty.
    pub fn take(&mut self) -> Vec<u8> {
        self.rows = 0;
        std::mem::take(&mut self.buf)
    }

    /// Takes the encoded batch and continues in `buf` (cleared first): a sender that hands
    /// back the buffer of its last sent batch spares the next batch growing from empty, which
    /// copies it on every doubling.
    pub fn take_into(&mut self, mut buf: Vec<u8>) -> Vec<u8> {
        buf.clear();
        self.rows = 0;
        std::mem::replace(&mut self.buf, buf)
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.rows = 0;
        self.buf.clear();
    }
}

/// Decodes a batch, calling `row(tenant, name, timestamp_ms, value)` for every row in order.
/// Returns the number of rows; a malformed batch is an error that says where.
pub fn decode<'a>(
    batch: &'a [u8],
    mut row: impl FnMut(Tenant, &'a [u8], i64, f64),
) -> Result<u64, String> {
    let mut r = Reader::new(batch);
    let mut rows = 0u64;
    let fail = |e: tsdb::encoding::DecodeError| format!("malformed row batch: {e}");
    while !r.is_empty() {
        let account = r.u32_le("account_id").map_err(fail)?;
        let project = r.u32_le("project_id").map_err(fail)?;
        let tenant = Tenant::new(account, project);
        let name = r.len_prefixed("series name").map_err(fail)?;
        // Each sample takes at least 9 bytes: bound the count by what is left.
        let count = r.len(r.remaining() / 9, "sample count").map_err(fail)?;
        if count == 0 {
            return Err(format!(
                "malformed row batch: series at byte {} has no samples",
                r.position()
            ));
        }
        let mut ts = 0i64;
        for _ in 0..count {
            ts = ts.wrapping_add(r.varint("timestamp").map_err(fail)?);
            let v = f64::from_bits(r.u64_le("value").map_err(fail)?);
            row(tenant, name, ts, v);
        }
        rows += count as u64;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn take_into_hands_out_the_batch_and_continues_in_the_given_buffer() {
        let mut w = RowBatchWriter::new();
        w.push_series(Tenant::new(1, 2), b"a", [(5, 1.0)]);
        let first = w.as_bytes().to_vec();
        let spare = Vec::with_capacity(4096);
        let spare_ptr = spare.as_ptr();
        let mut dirty = spare;
        dirty.extend_from_slice(b"stale bytes of an earlier batch");
        assert_eq!(w.take_into(dirty), first);
        assert!(w.is_empty() && w.as_bytes().is_empty());
        w.push_series(Tenant::new(1, 2), b"b", [(6, 2.0)]);
        assert_eq!(
            w.as_bytes().as_ptr(),
            spare_ptr,
            "the spare buffer is reused"
        );
        let mut rows = Vec::new();
        decode(w.as_bytes(), |t, name, ts, v| {
            rows.push((t, name.to_vec(), ts, v))
        })
        .unwrap();
        assert_eq!(rows, vec![(Tenant::new(1, 2), b"b".to_vec(), 6, 2.0)]);
    }

    proptest! {
        #[test]
        fn batches_round_trip_bit_exactly(
            series in proptest::collection::vec(
                (any::<u32>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40),
                 proptest::collection::vec((any::<i64>(), any::<u64>()), 1..20)),
                0..10)
        ) {
            let mut w = RowBatchWriter::new();
            let mut want = Vec::new();
            for (a, p, name, samples) in &series {
                let samples: Vec<(i64, f64)> = samples.iter().map(|&(t, v)| (t, f64::from_bits(v))).collect();
                w.push_series(Tenant::new(*a, *p), name, samples.iter().copied());
                for &(t, v) in &samples {
                    want.push((*a, *p, name.clone(), t, v.to_bits()));
                }
            }
            let mut got = Vec::new();
            let n = decode(w.as_bytes(), |tenant, name, t, v| {
                got.push((tenant.account_id, tenant.project_id, name.to_vec(), t, v.to_bits()));
            }).unwrap();
            prop_assert_eq!(n as usize, want.len());
            prop_assert_eq!(w.rows(), want.len());
            prop_assert_eq!(got, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes, |_, _, _, _| {});
        }
    }

    #[test]
    fn truncation_is_an_error_that_says_where() {
        let mut w = RowBatchWriter::new();
        w.push_series(
            Tenant::new(1, 2),
            b"\x01a\x01b",
            [(1000, 1.5), (2000, f64::from_bits(0x7ff0000000000002))],
        );
        let bytes = w.take();
        for cut in 1..bytes.len() {
            let err = decode(&bytes[..cut], |_, _, _, _| {}).unwrap_err();
            assert!(err.starts_with("malformed row batch"), "{err}");
        }
        assert!(w.is_empty());
    }
}
