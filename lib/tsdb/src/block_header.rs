//! What one block is: its series, time span, row count, codecs, where its bytes are and their
//! checksum. Block headers are stored back to back, in (tsid, min_timestamp) order, in the
//! zstd-compressed index blocks of `index.bin`.
//!
//! ```text
//! offset size field
//!      0   32 tsid                (Tsid::encode, big-endian fields)
//!     32    8 min_timestamp       i64 LE, ms
//!     40    8 max_timestamp       i64 LE, ms, >= min_timestamp
//!     48    8 timestamps_offset   u64 LE, into timestamps.bin
//!     56    8 values_offset       u64 LE, into values.bin
//!     64    4 timestamps_size     u32 LE
//!     68    4 values_size         u32 LE
//!     72    4 rows_count          u32 LE, 1..=MAX_ROWS_PER_BLOCK_DECODE
//!     76    1 timestamps_codec    tag byte (encoding::timestamps)
//!     77    1 values_codec        tag byte (encoding::values)
//!     78    2 reserved            zero
//!     80    4 checksum            crc32 of the header fields but offsets and reserved,
//!                                 then the timestamps and values bytes (block::checksum)
//!     84
//! ```

use crate::encoding::reader::{DecodeError, Reader};
use crate::tsid::Tsid;

/// Encoded size of a [`BlockHeader`].
pub const BLOCK_HEADER_LEN: usize = 84;
/// The most rows a writer puts in one block. Measured on the node_exporter-like set (see
/// `docs/benchmarks.md`): bigger blocks compress better, with diminishing returns past this.
pub const MAX_ROWS_PER_BLOCK: usize = 8192;
/// The most rows a reader accepts in one block; leaves room to change the writer's size.
pub const MAX_ROWS_PER_BLOCK_DECODE: u32 = 1 << 16;
/// The largest encoded column a reader accepts, in bytes (10-byte varints or 18-byte
/// exceptions per row, plus slack).
pub const MAX_COLUMN_SIZE: u32 = MAX_ROWS_PER_BLOCK_DECODE * 20 + 64;

/// The header of one block of one series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockHeader {
    /// The series.
    pub tsid: Tsid,
    /// Smallest timestamp in the block, ms.
    pub min_timestamp: i64,
    /// Largest timestamp in the block, ms.
    pub max_timestamp: i64,
    /// Where the encoded timestamps start in `timestamps.bin` (several blocks may share them).
    pub timestamps_offset: u64,
    /// Where the encoded values start in `values.bin`.
    pub values_offset: u64,
    /// Length of the encoded timestamps.
    pub timestamps_size: u32,
    /// Length of the encoded values.
    pub values_size: u32,
    /// Number of samples.
    pub rows_count: u32,
    /// Timestamps codec tag.
    pub timestamps_codec: u8,
    /// Values codec tag.
    pub values_codec: u8,
    /// See [`crate::block::checksum`].
    pub checksum: u32,
}

impl BlockHeader {
    /// Appends the fixed-size encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.tsid.encode(out);
        out.extend_from_slice(&self.min_timestamp.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp.to_le_bytes());
        out.extend_from_slice(&self.timestamps_offset.to_le_bytes());
        out.extend_from_slice(&self.values_offset.to_le_bytes());
        out.extend_from_slice(&self.timestamps_size.to_le_bytes());
        out.extend_from_slice(&self.values_size.to_le_bytes());
        out.extend_from_slice(&self.rows_count.to_le_bytes());
        out.push(self.timestamps_codec);
        out.push(self.values_codec);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.checksum.to_le_bytes());
    }

    /// Reads one header and checks its invariants.
    pub fn decode(r: &mut Reader<'_>) -> Result<BlockHeader, DecodeError> {
        let start = r.position();
        let tsid_bytes = r.bytes(Tsid::ENCODED_LEN, "block header tsid")?;
        let tsid = Tsid::decode(tsid_bytes).unwrap_or_default();
        let h = BlockHeader {
            tsid,
            min_timestamp: r.i64_le("block header min_timestamp")?,
            max_timestamp: r.i64_le("block header max_timestamp")?,
            timestamps_offset: r.u64_le("block header timestamps_offset")?,
            values_offset: r.u64_le("block header values_offset")?,
            timestamps_size: r.u32_le("block header timestamps_size")?,
            values_size: r.u32_le("block header values_size")?,
            rows_count: r.u32_le("block header rows_count")?,
            timestamps_codec: r.u8("block header timestamps_codec")?,
            values_codec: r.u8("block header values_codec")?,
            checksum: {
                r.bytes(2, "block header reserved bytes")?;
                r.u32_le("block header checksum")?
            },
        };
        h.validate().map_err(|problem| DecodeError {
            what: "block header",
            offset: start,
            problem,
        })?;
        Ok(h)
    }

    /// Checks the invariants a header must hold whatever the files around it say.
    pub fn validate(&self) -> Result<(), String> {
        if self.rows_count == 0 || self.rows_count > MAX_ROWS_PER_BLOCK_DECODE {
            return Err(format!(
                "rows_count {} outside 1..={MAX_ROWS_PER_BLOCK_DECODE}",
                self.rows_count
            ));
        }
        if self.min_timestamp > self.max_timestamp {
            return Err(format!(
                "min_timestamp {} > max_timestamp {}",
                self.min_timestamp, self.max_timestamp
            ));
        }
        if self.timestamps_size > MAX_COLUMN_SIZE || self.values_size > MAX_COLUMN_SIZE {
            return Err(format!(
                "column sizes {} and {} exceed {MAX_COLUMN_SIZE}",
                self.timestamps_size, self.values_size
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsid::Tenant;

    fn sample() -> BlockHeader {
        BlockHeader {
            tsid: Tsid {
                tenant: Tenant::new(1, 2),
                metric_group_id: 3,
                job_id: 4,
                instance_id: 5,
                metric_id: 6,
            },
            min_timestamp: -5,
            max_timestamp: 10,
            timestamps_offset: 100,
            values_offset: 200,
            timestamps_size: 7,
            values_size: 9,
            rows_count: 3,
            timestamps_codec: 0x83,
            values_codec: 0x01,
            checksum: 0xdead_beef,
        }
    }

    #[test]
    fn round_trips_at_fixed_size() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        assert_eq!(out.len(), BLOCK_HEADER_LEN);
        let mut r = Reader::new(&out);
        assert_eq!(BlockHeader::decode(&mut r).unwrap(), sample());
        assert!(r.is_empty());
    }

    #[test]
    fn broken_invariants_are_refused() {
        #[track_caller]
        fn check(h: BlockHeader, want: &str) {
            let mut out = Vec::new();
            h.encode(&mut out);
            let err = BlockHeader::decode(&mut Reader::new(&out)).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
        check(
            BlockHeader {
                rows_count: 0,
                ..sample()
            },
            "rows_count 0",
        );
        check(
            BlockHeader {
                min_timestamp: 11,
                ..sample()
            },
            "min_timestamp 11 > max_timestamp 10",
        );
        check(
            BlockHeader {
                values_size: u32::MAX,
                ..sample()
            },
            "column sizes",
        );
        let mut out = Vec::new();
        sample().encode(&mut out);
        let err = BlockHeader::decode(&mut Reader::new(&out[..50])).unwrap_err();
        assert!(err.to_string().contains("need 8 bytes"), "{err}");
    }
}
