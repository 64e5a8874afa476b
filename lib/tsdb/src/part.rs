//! A part: an immutable set of blocks, sorted by (tsid, min_timestamp), stored as columns.
//!
//! On disk a part is a directory of five files (see `docs/on-disk-format.md`):
//! `timestamps.bin` and `values.bin` hold encoded columns of every block; `index.bin` holds
//! compressed runs of block headers ("index blocks"); `metaindex.bin` has one row per index
//! block and is read whole at open; `metadata.bin` sums the part up and lists every file's size,
//! so a truncated file is caught at open. The three big files are read through `memmap2`.
//! An in-memory part has the same bytes in `Vec`s and is searched by the same code.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block::Block;
use crate::block_header::{BLOCK_HEADER_LEN, BlockHeader};
use crate::encoding::compress::decompress;
use crate::encoding::reader::{DecodeError, Reader};
use crate::error::{Error, Result};
use crate::filenames::{INDEX_FILE, METADATA_FILE, METAINDEX_FILE, TIMESTAMPS_FILE, VALUES_FILE};
use crate::tsid::Tsid;

/// First bytes of `metadata.bin`.
pub const PART_MAGIC: &[u8; 8] = b"TSDBPART";
/// The part format version this code writes and reads.
pub const PART_FORMAT_VERSION: u32 = 1;
/// Encoded size of [`PartMetadata`].
pub const METADATA_LEN: usize = 100;
/// Encoded size of a [`MetaindexRow`].
pub const METAINDEX_ROW_LEN: usize = 68;
/// The most block headers per index block.
pub const MAX_HEADERS_PER_INDEX_BLOCK: usize = 256;

/// `metadata.bin`: what a part holds and how big each file must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartMetadata {
    /// Samples in the part.
    pub rows_count: u64,
    /// Blocks in the part.
    pub blocks_count: u64,
    /// Index blocks (rows of `metaindex.bin`).
    pub index_blocks_count: u64,
    /// Smallest timestamp (ms); `i64::MAX` for an empty part.
    pub min_timestamp: i64,
    /// Largest timestamp (ms); `i64::MIN` for an empty part.
    pub max_timestamp: i64,
    /// The dedup interval the part's samples were deduplicated to (0: exact duplicates only).
    pub dedup_interval_ms: i64,
    /// Size of `timestamps.bin`.
    pub timestamps_size: u64,
    /// Size of `values.bin`.
    pub values_size: u64,
    /// Size of `index.bin`.
    pub index_size: u64,
    /// Size of `metaindex.bin`.
    pub metaindex_size: u64,
    /// crc32 of `metaindex.bin`.
    pub metaindex_checksum: u32,
}

impl PartMetadata {
    /// The fixed-size encoding, ending with a crc32 of the bytes before it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(METADATA_LEN);
        out.extend_from_slice(PART_MAGIC);
        out.extend_from_slice(&PART_FORMAT_VERSION.to_le_bytes());
        for v in [self.rows_count, self.blocks_count, self.index_blocks_count] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            self.min_timestamp,
            self.max_timestamp,
            self.dedup_interval_ms,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            self.timestamps_size,
            self.values_size,
            self.index_size,
            self.metaindex_size,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.metaindex_checksum.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks `metadata.bin`.
    pub fn decode(src: &[u8]) -> Result<PartMetadata, DecodeError> {
        let mut r = Reader::new(src);
        if src.len() != METADATA_LEN {
            return Err(DecodeError {
                what: "part metadata",
                offset: 0,
                problem: format!("got {} bytes, want {METADATA_LEN}", src.len()),
            });
        }
        let want = u32::from_le_bytes([src[96], src[97], src[98], src[99]]);
        let got = crc32fast::hash(&src[..96]);
        if got != want {
            return Err(DecodeError {
                what: "part metadata",
                offset: 96,
                problem: format!("checksum mismatch: got {got:#010x}, want {want:#010x}"),
            });
        }
        let magic = r.array::<8>("part magic")?;
        if &magic != PART_MAGIC {
            return Err(DecodeError {
                what: "part magic",
                offset: 0,
                problem: format!("got {magic:?}, want {PART_MAGIC:?}"),
            });
        }
        let version = r.u32_le("part format version")?;
        if version != PART_FORMAT_VERSION {
            return Err(DecodeError {
                what: "part format version",
                offset: 8,
                problem: format!(
                    "unsupported version {version}, this build reads {PART_FORMAT_VERSION}"
                ),
            });
        }
        Ok(PartMetadata {
            rows_count: r.u64_le("rows_count")?,
            blocks_count: r.u64_le("blocks_count")?,
            index_blocks_count: r.u64_le("index_blocks_count")?,
            min_timestamp: r.i64_le("min_timestamp")?,
            max_timestamp: r.i64_le("max_timestamp")?,
            dedup_interval_ms: r.i64_le("dedup_interval_ms")?,
            timestamps_size: r.u64_le("timestamps_size")?,
            values_size: r.u64_le("values_size")?,
            index_size: r.u64_le("index_size")?,
            metaindex_size: r.u64_le("metaindex_size")?,
            metaindex_checksum: r.u32_le("metaindex_checksum")?,
        })
    }

    /// Bytes on disk of the part's files.
    pub fn total_size(&self) -> u64 {
        self.timestamps_size
            + self.values_size
            + self.index_size
            + self.metaindex_size
            + METADATA_LEN as u64
    }
}

/// One row of `metaindex.bin`: where an index block is and what it covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaindexRow {
    /// The tsid of the first block header in the index block.
    pub first_tsid: Tsid,
    /// Smallest block min_timestamp in the index block.
    pub min_timestamp: i64,
    /// Largest block max_timestamp in the index block.
    pub max_timestamp: i64,
    /// Offset of the index block in `index.bin`.
    pub index_offset: u64,
    /// Size of the index block.
    pub index_size: u32,
    /// Block headers in the index block, 1..=[`MAX_HEADERS_PER_INDEX_BLOCK`].
    pub headers_count: u32,
    /// crc32 of the index block's bytes.
    pub index_checksum: u32,
}

impl MetaindexRow {
    /// Appends the fixed-size encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.first_tsid.encode(out);
        out.extend_from_slice(&self.min_timestamp.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp.to_le_bytes());
        out.extend_from_slice(&self.index_offset.to_le_bytes());
        out.extend_from_slice(&self.index_size.to_le_bytes());
        out.extend_from_slice(&self.headers_count.to_le_bytes());
        out.extend_from_slice(&self.index_checksum.to_le_bytes());
    }

    /// Reads one row.
    pub fn decode(r: &mut Reader<'_>) -> Result<MetaindexRow, DecodeError> {
        let at = r.position();
        let tsid =
            Tsid::decode(r.bytes(Tsid::ENCODED_LEN, "metaindex first_tsid")?).unwrap_or_default();
        let row = MetaindexRow {
            first_tsid: tsid,
            min_timestamp: r.i64_le("metaindex min_timestamp")?,
            max_timestamp: r.i64_le("metaindex max_timestamp")?,
            index_offset: r.u64_le("metaindex index_offset")?,
            index_size: r.u32_le("metaindex index_size")?,
            headers_count: r.u32_le("metaindex headers_count")?,
            index_checksum: r.u32_le("metaindex index_checksum")?,
        };
        if row.headers_count == 0 || row.headers_count as usize > MAX_HEADERS_PER_INDEX_BLOCK {
            return Err(DecodeError {
                what: "metaindex row",
                offset: at,
                problem: format!(
                    "headers_count {} outside 1..={MAX_HEADERS_PER_INDEX_BLOCK}",
                    row.headers_count
                ),
            });
        }
        Ok(row)
    }
}

/// Packs an index block or the metaindex: `0x00` + raw bytes, or `0x01` + a compressed payload
/// (`encoding::compress`) when zstd pays.
pub fn pack(raw: &[u8], level: i32, out: &mut Vec<u8>) {
    let start = out.len();
    out.push(1);
    out.extend_from_slice(raw);
    if !crate::encoding::compress::compress_tail_if_pays(out, start + 1, level) {
        out[start] = 0;
    }
}

/// Inverse of [`pack`]; `max_len` bounds the unpacked size.
pub fn unpack<'a>(
    src: &'a [u8],
    max_len: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], DecodeError> {
    let mut r = Reader::new(src);
    match r.u8("packing flag")? {
        0 => Ok(r.rest()),
        1 => {
            decompress(r.rest(), max_len, scratch)?;
            Ok(scratch)
        }
        f => Err(DecodeError {
            what: "packing flag",
            offset: 0,
            problem: format!("unknown flag {f}"),
        }),
    }
}

/// A part's column bytes: a read-only map of an immutable file, or a buffer.
#[derive(Debug)]
pub enum PartBytes {
    /// Bytes of an in-memory part.
    Owned(Vec<u8>),
    /// A mapped file of a published part.
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for PartBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            PartBytes::Owned(v) => v,
            PartBytes::Mapped(m) => m,
        }
    }
}

impl PartBytes {
    /// Maps `path` read-only; an empty file becomes an empty buffer (empty maps are refused by
    /// the OS).
    fn map(path: &Path, want_len: u64) -> Result<PartBytes> {
        let file = File::open(path).map_err(|e| Error::io("open part file", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat part file", path, e))?
            .len();
        if len != want_len {
            return Err(Error::corruption(
                path,
                "file size",
                format!("file is {len} bytes, metadata says {want_len}"),
            ));
        }
        if len == 0 {
            return Ok(PartBytes::Owned(Vec::new()));
        }
        // SAFETY: parts are immutable once published: no code path writes to, truncates or
        // renames a file of a published part (merges write new parts; removal unlinks whole
        // directories, which keeps existing maps valid). The map is read-only, and every access
        // goes through bounds-checked slicing of the `Mmap` length. A process outside this
        // engine truncating the file would be a SIGBUS, as for any mmap-based database.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::io("map part file", path, e))?;
        Ok(PartBytes::Mapped(map))
    }
}

/// An open part, on disk or in memory.
#[derive(Debug)]
pub struct Part {
    path: Arc<Path>,
    meta: PartMetadata,
    metaindex: Vec<MetaindexRow>,
    timestamps: PartBytes,
    values: PartBytes,
    index: PartBytes,
}

impl Part {
    /// Opens the part directory `dir`, checking its metadata, file sizes and metaindex.
    pub fn open(dir: &Path) -> Result<Part> {
        let meta_path = dir.join(METADATA_FILE);
        let raw = std::fs::read(&meta_path)
            .map_err(|e| Error::io("read part metadata", &meta_path, e))?;
        let meta = PartMetadata::decode(&raw).map_err(|e| {
            Error::corruption(&meta_path, format!("byte {}", e.offset), e.to_string())
        })?;
        let mi_path = dir.join(METAINDEX_FILE);
        let mi =
            std::fs::read(&mi_path).map_err(|e| Error::io("read part metaindex", &mi_path, e))?;
        let timestamps = PartBytes::map(&dir.join(TIMESTAMPS_FILE), meta.timestamps_size)?;
        let values = PartBytes::map(&dir.join(VALUES_FILE), meta.values_size)?;
        let index = PartBytes::map(&dir.join(INDEX_FILE), meta.index_size)?;
        Part::from_parts(Arc::from(dir), meta, &mi, timestamps, values, index)
    }

    /// Assembles a part from its files' contents; `path` names it in errors.
    pub(crate) fn from_parts(
        path: Arc<Path>,
        meta: PartMetadata,
        metaindex_bytes: &[u8],
        timestamps: PartBytes,
        values: PartBytes,
        index: PartBytes,
    ) -> Result<Part> {
        let mi_err = |location: String, what: String| {
            Error::corruption(path.join(METAINDEX_FILE), location, what)
        };
        if metaindex_bytes.len() as u64 != meta.metaindex_size {
            return Err(mi_err(
                "file size".into(),
                format!(
                    "file is {} bytes, metadata says {}",
                    metaindex_bytes.len(),
                    meta.metaindex_size
                ),
            ));
        }
        let got = crc32fast::hash(metaindex_bytes);
        if got != meta.metaindex_checksum {
            return Err(mi_err(
                "whole file".into(),
                format!(
                    "checksum mismatch: got {got:#010x}, want {:#010x}",
                    meta.metaindex_checksum
                ),
            ));
        }
        let rows = usize::try_from(meta.index_blocks_count).unwrap_or(usize::MAX);
        let max = rows.saturating_mul(METAINDEX_ROW_LEN);
        if max > 1 << 32 {
            return Err(mi_err(
                "metadata".into(),
                format!("{rows} index blocks is implausible"),
            ));
        }
        let mut scratch = Vec::new();
        let raw = unpack(metaindex_bytes, max, &mut scratch)
            .map_err(|e| mi_err(format!("byte {}", e.offset), e.to_string()))?;
        if raw.len() != max {
            return Err(mi_err(
                "whole file".into(),
                format!(
                    "{} bytes of rows, want {rows} rows of {METAINDEX_ROW_LEN}",
                    raw.len()
                ),
            ));
        }
        let mut r = Reader::new(raw);
        let mut metaindex = Vec::with_capacity(rows);
        for i in 0..rows {
            let row = MetaindexRow::decode(&mut r)
                .map_err(|e| mi_err(format!("row {i}"), e.to_string()))?;
            if let Some(prev) = metaindex.last() {
                let prev: &MetaindexRow = prev;
                if prev.first_tsid > row.first_tsid {
                    return Err(mi_err(format!("row {i}"), "rows out of tsid order".into()));
                }
            }
            if row.index_offset.saturating_add(u64::from(row.index_size)) > index.len() as u64 {
                return Err(mi_err(
                    format!("row {i}"),
                    format!(
                        "index block {}+{} is past the end of index.bin ({} bytes)",
                        row.index_offset,
                        row.index_size,
                        index.len()
                    ),
                ));
            }
            metaindex.push(row);
        }
        Ok(Part {
            path,
            meta,
            metaindex,
            timestamps,
            values,
            index,
        })
    }

    /// The part directory (or a name for an in-memory part).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The part's metadata.
    pub fn metadata(&self) -> &PartMetadata {
        &self.meta
    }

    /// The metaindex rows.
    pub fn metaindex(&self) -> &[MetaindexRow] {
        &self.metaindex
    }

    /// Bytes held by the part's files (or buffers).
    pub fn size_bytes(&self) -> u64 {
        self.meta.total_size()
    }

    /// Reads index block `i` into `out` (cleared first), checking its checksum, bounds and order.
    pub fn read_index_block(&self, i: usize, out: &mut Vec<BlockHeader>) -> Result<()> {
        out.clear();
        let index_path = || self.path.join(INDEX_FILE);
        let row = self.metaindex.get(i).ok_or_else(|| {
            Error::corruption(
                index_path(),
                format!("index block {i}"),
                "no such index block",
            )
        })?;
        let loc = || format!("index block {i} (offset {})", row.index_offset);
        let start = row.index_offset as usize;
        let bytes = &self.index[start..start + row.index_size as usize];
        let got = crc32fast::hash(bytes);
        if got != row.index_checksum {
            return Err(Error::corruption(
                index_path(),
                loc(),
                format!(
                    "checksum mismatch: got {got:#010x}, want {:#010x}",
                    row.index_checksum
                ),
            ));
        }
        let n = row.headers_count as usize;
        let mut scratch = Vec::new();
        let raw = unpack(bytes, n * BLOCK_HEADER_LEN, &mut scratch)
            .map_err(|e| Error::corruption(index_path(), loc(), e.to_string()))?;
        let mut r = Reader::new(raw);
        for j in 0..n {
            let h = BlockHeader::decode(&mut r).map_err(|e| {
                Error::corruption(
                    index_path(),
                    format!("{}, header {j}", loc()),
                    e.to_string(),
                )
            })?;
            let bad = |what: String| {
                Error::corruption(index_path(), format!("{}, header {j}", loc()), what)
            };
            if h.timestamps_offset
                .saturating_add(u64::from(h.timestamps_size))
                > self.timestamps.len() as u64
                || h.values_offset.saturating_add(u64::from(h.values_size))
                    > self.values.len() as u64
            {
                return Err(bad(format!(
                    "block bytes past the end of the columns (timestamps {}+{} of {}, values {}+{} of {})",
                    h.timestamps_offset,
                    h.timestamps_size,
                    self.timestamps.len(),
                    h.values_offset,
                    h.values_size,
                    self.values.len()
                )));
            }
            if let Some(prev) = out.last() {
                let prev: &BlockHeader = prev;
                if (prev.tsid, prev.min_timestamp) > (h.tsid, h.min_timestamp) {
                    return Err(bad(
                        "block headers out of (tsid, min_timestamp) order".into()
                    ));
                }
            }
            if j == 0 && h.tsid != row.first_tsid {
                return Err(bad(
                    "first header's tsid differs from the metaindex row".into()
                ));
            }
            out.push(h);
        }
        if !r.is_empty() {
            return Err(Error::corruption(
                index_path(),
                loc(),
                format!("{} trailing bytes", r.remaining()),
            ));
        }
        Ok(())
    }

    /// The block described by `header`, read from index block `index_block`, position `pos`
    /// (which name it in errors). `header` must come from [`Part::read_index_block`], which checked
    /// its bounds.
    pub fn block(&self, header: &BlockHeader, index_block: usize, pos: usize) -> Block {
        let ts = header.timestamps_offset as usize;
        let vs = header.values_offset as usize;
        let ordinal = (index_block * MAX_HEADERS_PER_INDEX_BLOCK + pos) as u64;
        Block::from_part(
            *header,
            &self.timestamps[ts..ts + header.timestamps_size as usize],
            &self.values[vs..vs + header.values_size as usize],
            &self.path,
            ordinal,
        )
    }

    /// Whether the part may hold samples in `[min, max]`.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.meta.rows_count > 0 && self.meta.min_timestamp <= max && self.meta.max_timestamp >= min
    }
}

/// A path standing for an in-memory part in error messages.
pub fn inmemory_part_path(id: u64) -> PathBuf {
    PathBuf::from(format!("<in-memory part {id}>"))
}
