//! A block: up to [`MAX_ROWS_PER_BLOCK`] samples of one series, encoded, with its header.
//!
//! Blocks are what parts store, what merges move and what a storage node ships to a query node:
//! [`Block::to_bytes`] is a self-contained, checksummed serialization that
//! [`Block::from_bytes`] validates, so a block can cross the network as it sits on disk and be
//! decoded only where its samples are needed.
//!
//! ```text
//! serialized block
//! ┌──────────────┬────────────┬──────────────────────┬──────────────────┬────────────────┐
//! │ magic "TSBK" │ version u8 │ block header (84 B)  │ timestamps bytes │ values bytes   │
//! │ 4 B          │ = 1        │ see block_header.rs  │ timestamps_size  │ values_size    │
//! └──────────────┴────────────┴──────────────────────┴──────────────────┴────────────────┘
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block_header::{BLOCK_HEADER_LEN, BlockHeader, MAX_ROWS_PER_BLOCK_DECODE};
use crate::encoding::reader::Reader;
use crate::encoding::timestamps::{decode_timestamps, encode_timestamps, with_decoded_timestamps};
use crate::encoding::values::{decode_values, encode_values};
use crate::error::{Error, Result};
use crate::time_range::TimeRange;
use crate::tsid::Tsid;

pub use crate::block_header::MAX_ROWS_PER_BLOCK;

/// First bytes of a serialized block.
pub const BLOCK_MAGIC: &[u8; 4] = b"TSBK";
/// Version of the serialized block format.
pub const BLOCK_FORMAT_VERSION: u8 = 1;
const SERIALIZED_PREFIX_LEN: usize = BLOCK_MAGIC.len() + 1;

/// Where a block came from, for error messages.
#[derive(Clone, Debug, Default)]
struct Origin {
    path: Option<Arc<Path>>,
    ordinal: u64,
}

/// One encoded block of one series: a header and the encoded timestamps followed by the encoded
/// values.
#[derive(Clone, Debug)]
pub struct Block {
    header: BlockHeader,
    data: Vec<u8>,
    origin: Origin,
}

impl Block {
    /// Encodes samples of one series. `timestamps` must be sorted ascending, with as many entries
    /// as `values`, between 1 and [`MAX_ROWS_PER_BLOCK_DECODE`]; `zstd_level` 0 disables
    /// compression.
    ///
    /// # Panics
    /// On an empty or mismatched input: callers build blocks from their own sorted buffers, so
    /// this is a broken internal invariant.
    pub fn encode(tsid: Tsid, timestamps: &[i64], values: &[f64], zstd_level: i32) -> Block {
        assert!(
            !timestamps.is_empty()
                && timestamps.len() == values.len()
                && timestamps.len() <= MAX_ROWS_PER_BLOCK_DECODE as usize,
            "internal invariant: a block needs 1..={MAX_ROWS_PER_BLOCK_DECODE} samples, got {} timestamps and {} values",
            timestamps.len(),
            values.len()
        );
        debug_assert!(timestamps.windows(2).all(|w| w[0] <= w[1]));
        let mut data = Vec::with_capacity(timestamps.len() * 2 + 16);
        let timestamps_codec = encode_timestamps(timestamps, &mut data, zstd_level);
        let timestamps_size = data.len();
        let values_codec = encode_values(values, &mut data, zstd_level);
        let header = BlockHeader {
            tsid,
            min_timestamp: timestamps[0],
            max_timestamp: timestamps[timestamps.len() - 1],
            timestamps_offset: 0,
            values_offset: 0,
            timestamps_size: timestamps_size as u32,
            values_size: (data.len() - timestamps_size) as u32,
            rows_count: timestamps.len() as u32,
            timestamps_codec,
            values_codec,
            checksum: 0,
        };
        let header = BlockHeader {
            checksum: checksum(&header, &data),
            ..header
        };
        Block {
            header,
            data,
            origin: Origin::default(),
        }
    }

    /// Assembles a block read from a part; the checksum is verified when it is decoded.
    pub(crate) fn from_part(
        header: BlockHeader,
        timestamps: &[u8],
        values: &[u8],
        path: &Arc<Path>,
        ordinal: u64,
    ) -> Block {
        let mut data = Vec::with_capacity(timestamps.len() + values.len());
        data.extend_from_slice(timestamps);
        data.extend_from_slice(values);
        Block {
            header,
            data,
            origin: Origin {
                path: Some(Arc::clone(path)),
                ordinal,
            },
        }
    }

    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// The series.
    pub fn tsid(&self) -> Tsid {
        self.header.tsid
    }

    /// Number of samples.
    pub fn rows_count(&self) -> usize {
        self.header.rows_count as usize
    }

    /// The encoded timestamps.
    pub fn timestamps_data(&self) -> &[u8] {
        &self.data[..self.header.timestamps_size as usize]
    }

    /// The encoded values.
    pub fn values_data(&self) -> &[u8] {
        &self.data[self.header.timestamps_size as usize..]
    }

    /// Encoded size in bytes, header excluded.
    pub fn encoded_len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn set_offsets(&mut self, timestamps_offset: u64, values_offset: u64) {
        self.header.timestamps_offset = timestamps_offset;
        self.header.values_offset = values_offset;
    }

    /// A located corruption error about this block.
    pub fn corruption(&self, what: impl Into<String>) -> Error {
        let path = self
            .origin
            .path
            .as_deref()
            .map_or_else(|| PathBuf::from("<block bytes>"), Path::to_path_buf);
        Error::corruption(
            path,
            format!(
                "block {} (metric_id {}, timestamps offset {}, values offset {})",
                self.origin.ordinal,
                self.header.tsid.metric_id,
                self.header.timestamps_offset,
                self.header.values_offset
            ),
            what,
        )
    }

    /// Verifies the checksum and decodes the samples, appending them to `timestamps` and
    /// `values` (which are not cleared).
    pub fn decode_into(&self, timestamps: &mut Vec<i64>, values: &mut Vec<f64>) -> Result<()> {
        let h = &self.header;
        let got = checksum(h, &self.data);
        if got != h.checksum {
            return Err(self.corruption(format!(
                "checksum mismatch: got {got:#010x}, want {:#010x}",
                h.checksum
            )));
        }
        decode_verified(h, &self.data, timestamps, values).map_err(|e| self.corruption(e))
    }

    /// Re-labels the block as belonging to `tsid`, keeping its checksum valid. Storage nodes
    /// number series independently, so vmselect gives one series' blocks from several nodes a
    /// common id before merging them.
    pub fn retag(&mut self, tsid: Tsid) {
        self.header.tsid = tsid;
        self.header.checksum = checksum(&self.header, &self.data);
    }

    /// Length of [`Block::to_bytes`]'s output.
    pub fn serialized_len(&self) -> usize {
        SERIALIZED_PREFIX_LEN + BLOCK_HEADER_LEN + self.data.len()
    }

    /// Appends the self-contained serialization (see the module docs).
    pub fn to_bytes(&self, out: &mut Vec<u8>) {
        out.reserve(self.serialized_len());
        out.extend_from_slice(BLOCK_MAGIC);
        out.push(BLOCK_FORMAT_VERSION);
        self.header.encode(out);
        out.extend_from_slice(&self.data);
    }

    /// Reads one serialized block from the start of `src`; returns it and the bytes it took.
    /// The checksum is verified here, so a block that crossed the network intact decodes.
    pub fn from_bytes(src: &[u8]) -> Result<(Block, usize)> {
        let (header, data, used) = parse_serialized(src)?;
        let block = Block {
            header,
            data: data.to_vec(),
            origin: Origin::default(),
        };
        Ok((block, used))
    }

    /// Decodes one serialized block (as [`Block::from_bytes`] reads it, checksum verified once)
    /// without copying its bytes into a [`Block`], appending only its samples with timestamps
    /// in `[min_timestamp, max_timestamp]` to `timestamps` and `values`. Returns the bytes it
    /// took. For a query node's common case, one block of a series of which the query needs a
    /// time range: the timestamps column is lent by the decoder's cache and only the range is
    /// copied out.
    pub fn decode_serialized_range(
        src: &[u8],
        range: TimeRange,
        timestamps: &mut Vec<i64>,
        values: &mut Vec<f64>,
    ) -> Result<usize> {
        let (header, data, used) = parse_serialized(src)?;
        decode_range_verified(&header, data, range, timestamps, values)
            .map_err(|e| serialized_error(SERIALIZED_PREFIX_LEN, e))?;
        Ok(used)
    }
}

thread_local! {
    /// A block's values decoded whole, before a time range of them is copied out.
    static VALUES_SCRATCH: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`decode_verified`] for the samples in `range` only. The timestamps are always decoded and
/// checked against the header; the values only when some sample is in range. On error nothing
/// is appended.
fn decode_range_verified(
    h: &BlockHeader,
    data: &[u8],
    range: TimeRange,
    timestamps: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> std::result::Result<(), String> {
    let n = h.rows_count as usize;
    let (ts_data, vals_data) = data.split_at((h.timestamps_size as usize).min(data.len()));
    with_decoded_timestamps(ts_data, h.timestamps_codec, n, |ts| {
        let (first, last) = (ts[0], ts[ts.len() - 1]);
        if first != h.min_timestamp || last != h.max_timestamp {
            return Err(format!(
                "decoded timestamps span {first}..={last}, header says {}..={}",
                h.min_timestamp, h.max_timestamp
            ));
        }
        let lo = ts.partition_point(|&t| t < range.min_timestamp);
        let hi = ts.partition_point(|&t| t <= range.max_timestamp).max(lo);
        if lo == hi {
            return Ok(());
        }
        VALUES_SCRATCH.with_borrow_mut(|vs| {
            vs.clear();
            decode_values(vals_data, h.values_codec, n, vs).map_err(|e| e.to_string())?;
            timestamps.extend_from_slice(&ts[lo..hi]);
            values.extend_from_slice(&vs[lo..hi]);
            Ok(())
        })
    })
    .map_err(|e| e.to_string())?
}

fn serialized_error(location: usize, what: String) -> Error {
    Error::corruption("<block bytes>", format!("byte {location}"), what)
}

/// Reads the prefix, header and data of one serialized block from the start of `src` and
/// verifies its checksum. Returns the header, the encoded columns and the bytes taken.
fn parse_serialized(src: &[u8]) -> Result<(BlockHeader, &[u8], usize)> {
    let bad = serialized_error;
    let mut r = Reader::new(src);
    let magic = r
        .array::<4>("block magic")
        .map_err(|e| bad(0, e.to_string()))?;
    if &magic != BLOCK_MAGIC {
        return Err(bad(
            0,
            format!("bad block magic {magic:?}, want {BLOCK_MAGIC:?}"),
        ));
    }
    let version = r.u8("block version").map_err(|e| bad(4, e.to_string()))?;
    if version != BLOCK_FORMAT_VERSION {
        return Err(bad(
            4,
            format!("unsupported block format version {version}, want {BLOCK_FORMAT_VERSION}"),
        ));
    }
    let header = BlockHeader::decode(&mut r).map_err(|e| bad(e.offset, e.to_string()))?;
    let len = header.timestamps_size as usize + header.values_size as usize;
    let data = r
        .bytes(len, "block data")
        .map_err(|e| bad(e.offset, e.to_string()))?;
    let got = checksum(&header, data);
    if got != header.checksum {
        return Err(bad(
            SERIALIZED_PREFIX_LEN,
            format!(
                "checksum mismatch: got {got:#010x}, want {:#010x}",
                header.checksum
            ),
        ));
    }
    Ok((header, data, r.position()))
}

/// Decodes a block whose checksum is verified: both columns, then the header's time span
/// checked against them. On error nothing is appended.
fn decode_verified(
    h: &BlockHeader,
    data: &[u8],
    timestamps: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> std::result::Result<(), String> {
    let n = h.rows_count as usize;
    let ts_start = timestamps.len();
    let vals_start = values.len();
    let ts_len = h.timestamps_size as usize;
    let (ts_data, vals_data) = data.split_at(ts_len.min(data.len()));
    let res = decode_timestamps(ts_data, h.timestamps_codec, n, timestamps)
        .and_then(|()| decode_values(vals_data, h.values_codec, n, values));
    if let Err(e) = res {
        timestamps.truncate(ts_start);
        values.truncate(vals_start);
        return Err(e.to_string());
    }
    let decoded = &timestamps[ts_start..];
    let (first, last) = (decoded[0], decoded[decoded.len() - 1]);
    if first != h.min_timestamp || last != h.max_timestamp {
        timestamps.truncate(ts_start);
        values.truncate(vals_start);
        return Err(format!(
            "decoded timestamps span {first}..={last}, header says {}..={}",
            h.min_timestamp, h.max_timestamp
        ));
    }
    Ok(())
}

/// The block checksum: crc32 over every header field but the offsets (which change when a
/// block moves to another part), then the encoded timestamps and values.
pub fn checksum(h: &BlockHeader, data: &[u8]) -> u32 {
    // The header fields are laid out in one stack buffer and hashed with one call: the same
    // bytes as one update per field, without an allocation per block or the slow path crc32
    // takes for short updates.
    let mut fields = [0u8; CHECKSUMMED_HEADER_LEN];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        fields[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&h.tsid.to_bytes());
    put(&h.min_timestamp.to_le_bytes());
    put(&h.max_timestamp.to_le_bytes());
    put(&h.timestamps_size.to_le_bytes());
    put(&h.values_size.to_le_bytes());
    put(&h.rows_count.to_le_bytes());
    put(&[h.timestamps_codec, h.values_codec]);
    let mut c = crc32fast::Hasher::new();
    c.update(&fields);
    c.update(data);
    c.finalize()
}

/// Bytes of header fields under the checksum: the encoded tsid, two timestamps, three sizes
/// and the two codec tags.
const CHECKSUMMED_HEADER_LEN: usize = Tsid::ENCODED_LEN + 8 + 8 + 4 + 4 + 4 + 2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsid::Tenant;

    /// The checksum as docs/on-disk-format.md defines it, one field at a time: parts written
    /// before the one-buffer version must still verify.
    fn checksum_field_by_field(h: &BlockHeader, data: &[u8]) -> u32 {
        let mut c = crc32fast::Hasher::new();
        let mut tsid = Vec::new();
        h.tsid.encode(&mut tsid);
        c.update(&tsid);
        c.update(&h.min_timestamp.to_le_bytes());
        c.update(&h.max_timestamp.to_le_bytes());
        c.update(&h.timestamps_size.to_le_bytes());
        c.update(&h.values_size.to_le_bytes());
        c.update(&h.rows_count.to_le_bytes());
        c.update(&[h.timestamps_codec, h.values_codec]);
        c.update(data);
        c.finalize()
    }

    #[test]
    fn checksum_equals_the_field_by_field_definition() {
        let t = Tsid {
            tenant: Tenant::new(0xdead_beef, 7),
            metric_group_id: u64::MAX - 3,
            job_id: 11,
            instance_id: 0x8000_0001,
            metric_id: 1_700_000_000_000_000_123,
        };
        for n in [1usize, 3, 500] {
            let ts: Vec<i64> = (0..n as i64).map(|i| -5_000 + i * 15_001).collect();
            let vs: Vec<f64> = (0..n).map(|i| i as f64 * 1.5).collect();
            let b = Block::encode(t, &ts, &vs, 1);
            assert_eq!(
                b.header().checksum,
                checksum_field_by_field(b.header(), &b.data)
            );
            assert_eq!(
                checksum(b.header(), &b.data),
                checksum_field_by_field(b.header(), &b.data)
            );
        }
    }

    fn tsid(metric_id: u64) -> Tsid {
        Tsid {
            tenant: Tenant::new(1, 0),
            metric_group_id: 77,
            job_id: 1,
            instance_id: 2,
            metric_id,
        }
    }

    fn decode(b: &Block) -> Result<(Vec<i64>, Vec<f64>)> {
        let (mut ts, mut vs) = (vec![], vec![]);
        b.decode_into(&mut ts, &mut vs)?;
        Ok((ts, vs))
    }

    #[test]
    fn encodes_decodes_and_serializes() {
        let ts: Vec<i64> = (0..1000)
            .map(|i| 1_700_000_000_000 + i * 15_000 + i % 3)
            .collect();
        let vs: Vec<f64> = (0..1000).map(|i| f64::from(i) * 0.5).collect();
        let b = Block::encode(tsid(9), &ts, &vs, 1);
        assert_eq!(b.rows_count(), 1000);
        assert_eq!(b.header().min_timestamp, ts[0]);
        assert_eq!(b.header().max_timestamp, ts[999]);
        assert_eq!(decode(&b).unwrap(), (ts.clone(), vs.clone()));

        let mut wire = vec![0xee];
        b.to_bytes(&mut wire);
        b.to_bytes(&mut wire);
        let (b1, n1) = Block::from_bytes(&wire[1..]).unwrap();
        let (b2, n2) = Block::from_bytes(&wire[1 + n1..]).unwrap();
        assert_eq!(1 + n1 + n2, wire.len());
        assert_eq!(b1.header(), b.header());
        assert_eq!(decode(&b2).unwrap(), (ts, vs));
    }

    #[test]
    fn corrupt_bytes_are_located_errors() {
        let ts: Vec<i64> = (0..100).collect();
        let vs: Vec<f64> = (0..100).map(f64::from).collect();
        let b = Block::encode(tsid(5), &ts, &vs, 0);
        let mut wire = Vec::new();
        b.to_bytes(&mut wire);
        for i in 0..wire.len() {
            let mut bad = wire.clone();
            bad[i] ^= 0x55;
            // Only the offsets (meaningless off disk) and reserved bytes are outside the
            // checksum; flipping them changes nothing else.
            if let Ok((blk, _)) = Block::from_bytes(&bad) {
                let h = 5 + 48..5 + 64;
                assert!(
                    h.contains(&i) || (5 + 78..5 + 80).contains(&i),
                    "flip at {i} accepted"
                );
                assert_eq!(decode(&blk).unwrap(), (ts.clone(), vs.clone()));
            }
        }
        for cut in 0..wire.len() {
            assert!(Block::from_bytes(&wire[..cut]).is_err(), "cut {cut}");
        }
        // A bad checksum inside a part names the part and the block.
        let path: Arc<Path> = Arc::from(Path::new("/data/2024_01/0000000000000001"));
        let mut data = b.timestamps_data().to_vec();
        data[0] ^= 1;
        let blk = Block::from_part(*b.header(), &data, b.values_data(), &path, 17);
        let err = decode(&blk).unwrap_err().to_string();
        assert!(err.contains("/data/2024_01/0000000000000001"), "{err}");
        assert!(err.contains("block 17"), "{err}");
        assert!(err.contains("checksum mismatch"), "{err}");
    }

    /// Decoding a time range of a serialized block gives the full decoding cut to that range,
    /// for columns the timestamps cache keeps (regular scrapes) and ones it does not (short or
    /// irregular), and a damaged or truncated block is an error that appends nothing.
    #[test]
    fn range_decoding_equals_the_full_decoding_cut_to_the_range() {
        let regular: Vec<i64> = (0..600).map(|i| 1_000_000 + i * 15_000).collect();
        let jittered: Vec<i64> = (0..600)
            .map(|i| 1_000_000 + i * 15_000 + i * i % 13)
            .collect();
        let short: Vec<i64> = (0..7).map(|i| 1_000_000 + i * 15_000).collect();
        for ts in [&regular, &jittered, &short] {
            let vs: Vec<f64> = (0..ts.len()).map(|i| (i as f64).sqrt()).collect();
            let mut wire = Vec::new();
            Block::encode(tsid(3), ts, &vs, 1).to_bytes(&mut wire);
            let (first, last) = (ts[0], ts[ts.len() - 1]);
            let ranges = [
                (i64::MIN, i64::MAX),
                (first, last),
                (first - 1, first - 1),
                (last + 1, last + 1),
                (first + 20_000, first + 60_000),
                (last - 300_000, last - 1),
                (ts[3], ts[3]),
                (last, last),
            ];
            for (min_timestamp, max_timestamp) in ranges {
                let range = TimeRange {
                    min_timestamp,
                    max_timestamp,
                };
                // Twice: the second time the timestamps come from the cache.
                for _ in 0..2 {
                    let (mut got_ts, mut got_vs) = (vec![-1], vec![-1.0]);
                    let used =
                        Block::decode_serialized_range(&wire, range, &mut got_ts, &mut got_vs)
                            .unwrap();
                    assert_eq!(used, wire.len());
                    let want: Vec<(i64, f64)> = ts
                        .iter()
                        .zip(&vs)
                        .filter(|(t, _)| (min_timestamp..=max_timestamp).contains(*t))
                        .map(|(t, v)| (*t, *v))
                        .collect();
                    let got: Vec<(i64, f64)> = got_ts[1..]
                        .iter()
                        .copied()
                        .zip(got_vs[1..].iter().copied())
                        .collect();
                    assert_eq!(got, want, "range {min_timestamp}..={max_timestamp}");
                    assert_eq!((got_ts[0], got_vs[0]), (-1, -1.0), "kept what was there");
                }
            }
            let (mut got_ts, mut got_vs) = (Vec::new(), Vec::new());
            for cut in 0..wire.len() {
                assert!(
                    Block::decode_serialized_range(
                        &wire[..cut],
                        TimeRange::ALL,
                        &mut got_ts,
                        &mut got_vs
                    )
                    .is_err()
                );
            }
            let mut bad = wire.clone();
            let at = bad.len() - 2;
            bad[at] ^= 0x10;
            assert!(
                Block::decode_serialized_range(&bad, TimeRange::ALL, &mut got_ts, &mut got_vs)
                    .is_err()
            );
            assert!(got_ts.is_empty() && got_vs.is_empty());
        }
    }
}
