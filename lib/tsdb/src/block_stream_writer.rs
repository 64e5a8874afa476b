//! Writes a sorted stream of blocks as a part's columns.
//!
//! Blocks must arrive in (tsid, min_timestamp) order, and the blocks of one series must not
//! overlap in time: every part keeps that invariant, which lets merges pass whole blocks through.
//! Identical encoded timestamp columns (the series of one scrape target share their timestamps)
//! are written once and shared by several block headers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::block::Block;
use crate::block_header::BlockHeader;
use crate::error::{Error, Result};
use crate::filenames::{INDEX_FILE, METADATA_FILE, METAINDEX_FILE, TIMESTAMPS_FILE, VALUES_FILE};
use crate::part::{MAX_HEADERS_PER_INDEX_BLOCK, MetaindexRow, PartMetadata, pack};
use crate::tsid::Tsid;

/// Memory the writer may spend remembering timestamp columns it can share; past it, it forgets.
const TIMESTAMPS_DEDUP_BYTES: usize = 32 << 20;

/// What a finished writer hands back.
#[derive(Debug)]
pub struct FinishedPart<W> {
    /// The timestamps column sink.
    pub timestamps: W,
    /// The values column sink.
    pub values: W,
    /// The index sink.
    pub index: W,
    /// Contents of `metaindex.bin`.
    pub metaindex: Vec<u8>,
    /// Contents of `metadata.bin`, decoded.
    pub metadata: PartMetadata,
}

/// Writes blocks to three sinks (timestamps, values, index) and builds the metaindex.
#[derive(Debug)]
pub struct BlockStreamWriter<W: Write> {
    path: Arc<Path>,
    timestamps: W,
    values: W,
    index: W,
    index_level: i32,
    meta: PartMetadata,
    headers: Vec<BlockHeader>,
    metaindex: Vec<MetaindexRow>,
    scratch: Vec<u8>,
    packed: Vec<u8>,
    last: Option<(Tsid, i64)>,
    shared_timestamps: FxHashMap<Box<[u8]>, u64>,
    shared_bytes: usize,
    key: Vec<u8>,
}

impl<W: Write> BlockStreamWriter<W> {
    /// A writer to the given sinks; `path` names the part in errors, `index_level` is the zstd
    /// level for index blocks and the metaindex, `dedup_interval_ms` is recorded in the metadata.
    pub fn new(
        path: Arc<Path>,
        timestamps: W,
        values: W,
        index: W,
        index_level: i32,
        dedup_interval_ms: i64,
    ) -> Self {
        BlockStreamWriter {
            path,
            timestamps,
            values,
            index,
            index_level,
            meta: PartMetadata {
                min_timestamp: i64::MAX,
                max_timestamp: i64::MIN,
                dedup_interval_ms,
                ..PartMetadata::default()
            },
            headers: Vec::with_capacity(MAX_HEADERS_PER_INDEX_BLOCK),
            metaindex: Vec::new(),
            scratch: Vec::new(),
            packed: Vec::new(),
            last: None,
            shared_timestamps: FxHashMap::default(),
            shared_bytes: 0,
            key: Vec::new(),
        }
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io("write part", self.path.to_path_buf(), e)
    }

    /// Samples written so far.
    pub fn rows_written(&self) -> u64 {
        self.meta.rows_count
    }

    /// Appends one block.
    pub fn write_block(&mut self, block: &mut Block) -> Result<()> {
        let h = *block.header();
        if let Some((tsid, max_ts)) = self.last
            && (h.tsid < tsid || (h.tsid == tsid && h.min_timestamp <= max_ts))
        {
            return Err(Error::InvalidArgument(format!(
                "internal: block of {:?} at {}..={} written after one ending at {max_ts} of {:?} in {}",
                h.tsid,
                h.min_timestamp,
                h.max_timestamp,
                tsid,
                self.path.display()
            )));
        }
        self.last = Some((h.tsid, h.max_timestamp));

        // Timestamps: reuse an identical column written earlier in this part.
        self.key.clear();
        self.key.push(h.timestamps_codec);
        self.key.extend_from_slice(&h.rows_count.to_le_bytes());
        self.key.extend_from_slice(block.timestamps_data());
        let ts_offset = match self.shared_timestamps.get(self.key.as_slice()) {
            Some(&off) => off,
            None => {
                let off = self.meta.timestamps_size;
                self.timestamps
                    .write_all(block.timestamps_data())
                    .map_err(|e| self.io(e))?;
                self.meta.timestamps_size += u64::from(h.timestamps_size);
                if self.shared_bytes + self.key.len() > TIMESTAMPS_DEDUP_BYTES {
                    self.shared_timestamps.clear();
                    self.shared_bytes = 0;
                }
                self.shared_bytes += self.key.len() + 32;
                self.shared_timestamps
                    .insert(self.key.as_slice().into(), off);
                off
            }
        };
        let vs_offset = self.meta.values_size;
        self.values
            .write_all(block.values_data())
            .map_err(|e| self.io(e))?;
        self.meta.values_size += u64::from(h.values_size);
        block.set_offsets(ts_offset, vs_offset);

        self.meta.rows_count += u64::from(h.rows_count);
        self.meta.blocks_count += 1;
        self.meta.min_timestamp = self.meta.min_timestamp.min(h.min_timestamp);
        self.meta.max_timestamp = self.meta.max_timestamp.max(h.max_timestamp);
        self.headers.push(*block.header());
        if self.headers.len() >= MAX_HEADERS_PER_INDEX_BLOCK {
            self.flush_index_block()?;
        }
        Ok(())
    }

    fn flush_index_block(&mut self) -> Result<()> {
        let Some(first) = self.headers.first() else {
            return Ok(());
        };
        let mut row = MetaindexRow {
            first_tsid: first.tsid,
            min_timestamp: i64::MAX,
            max_timestamp: i64::MIN,
            index_offset: self.meta.index_size,
            headers_count: self.headers.len() as u32,
            ..MetaindexRow::default()
        };
        self.scratch.clear();
        for h in &self.headers {
            row.min_timestamp = row.min_timestamp.min(h.min_timestamp);
            row.max_timestamp = row.max_timestamp.max(h.max_timestamp);
            h.encode(&mut self.scratch);
        }
        self.packed.clear();
        pack(&self.scratch, self.index_level.max(1), &mut self.packed);
        row.index_size = self.packed.len() as u32;
        row.index_checksum = crc32fast::hash(&self.packed);
        self.index.write_all(&self.packed).map_err(|e| self.io(e))?;
        self.meta.index_size += self.packed.len() as u64;
        self.metaindex.push(row);
        self.headers.clear();
        Ok(())
    }

    /// Writes the last index block, flushes the sinks and returns them with the metaindex and
    /// metadata.
    pub fn finish(mut self) -> Result<FinishedPart<W>> {
        self.flush_index_block()?;
        self.scratch.clear();
        for row in &self.metaindex {
            row.encode(&mut self.scratch);
        }
        let mut metaindex = Vec::new();
        pack(&self.scratch, self.index_level.max(1), &mut metaindex);
        self.meta.index_blocks_count = self.metaindex.len() as u64;
        self.meta.metaindex_size = metaindex.len() as u64;
        self.meta.metaindex_checksum = crc32fast::hash(&metaindex);
        for w in [&mut self.timestamps, &mut self.values, &mut self.index] {
            w.flush()
                .map_err(|e| Error::io("flush part", self.path.to_path_buf(), e))?;
        }
        Ok(FinishedPart {
            timestamps: self.timestamps,
            values: self.values,
            index: self.index,
            metaindex,
            metadata: self.meta,
        })
    }
}

/// A writer of a new file part in `dir` (a temporary directory, created here).
pub fn create_file_part(
    dir: &Path,
    index_level: i32,
    dedup_interval_ms: i64,
) -> Result<BlockStreamWriter<BufWriter<File>>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create part directory", dir, e))?;
    let open = |name: &str| -> Result<BufWriter<File>> {
        let p = dir.join(name);
        let f = File::create(&p).map_err(|e| Error::io("create part file", &p, e))?;
        Ok(BufWriter::with_capacity(256 << 10, f))
    };
    Ok(BlockStreamWriter::new(
        Arc::from(dir),
        open(TIMESTAMPS_FILE)?,
        open(VALUES_FILE)?,
        open(INDEX_FILE)?,
        index_level,
        dedup_interval_ms,
    ))
}

/// Finishes a file part: writes `metaindex.bin` and `metadata.bin` (fsyncing is left to
/// [`crate::fs::publish_dir`]). Returns the metadata.
pub fn finish_file_part(w: BlockStreamWriter<BufWriter<File>>, dir: &Path) -> Result<PartMetadata> {
    let done = w.finish()?;
    for sink in [done.timestamps, done.values, done.index] {
        sink.into_inner()
            .map_err(|e| Error::io("flush part file", dir, e.into_error()))?;
    }
    let write = |name: &str, data: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, data).map_err(|e| Error::io("write part file", &p, e))
    };
    write(METAINDEX_FILE, &done.metaindex)?;
    write(METADATA_FILE, &done.metadata.encode())?;
    Ok(done.metadata)
}
