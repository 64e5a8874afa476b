//! File parts: an immutable directory of three files written once by [`PartWriter`] and read
//! through memory maps by [`FilePart`]. The layout is drawn in `docs/index-format.md`.
//!
//! ```text
//! items.bin      data blocks back to back (item_block stored form), each with a crc32
//! index.bin      index blocks back to back: the block headers of up to 128 data blocks each
//! metaindex.bin  magic, counts, file lengths, one entry per index block, crc32 of the file
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memmap2::Mmap;

use crate::encoding::varint::put_uvarint;
use crate::encoding::{DecodeError, Reader};
use crate::error::{Error, Result};

use super::item_block::{self, common_prefix_len};
use super::items::Items;
use super::{INDEX_FILE, ITEMS_FILE, METAINDEX_FILE};

/// First bytes of `metaindex.bin`; the last two digits are the format version.
pub const PART_MAGIC: &[u8; 8] = b"TSDBMS01";
/// Data block headers per index block.
pub const HEADERS_PER_INDEX_BLOCK: usize = 128;
/// Limits that keep a corrupt length from driving an allocation.
const MAX_STORED_LEN: u64 = 64 << 20;
const MAX_ITEM_LEN_ON_DISK: usize = 1 << 20;

/// Where a block sits and how to check and decode it. Used for data blocks (in index blocks,
/// `count` = items) and for index blocks (in the metaindex, `count` = block headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// The block's first item (for index blocks: the first item of its first data block).
    pub first_item: Vec<u8>,
    /// Offset of the stored bytes in their file.
    pub offset: u64,
    /// Length of the stored bytes.
    pub stored_len: u32,
    /// Length of the plain form.
    pub plain_len: u32,
    /// Items (data block) or headers (index block) in the block.
    pub count: u32,
    /// [`item_block::ENCODING_PLAIN`] or [`item_block::ENCODING_ZSTD`].
    pub encoding: u8,
    /// crc32 of the stored bytes.
    pub crc: u32,
}

fn encode_refs(refs: &[BlockRef], out: &mut Vec<u8>) {
    let mut prev: &[u8] = &[];
    for r in refs {
        let shared = common_prefix_len(prev, &r.first_item);
        put_uvarint(out, shared as u64);
        put_uvarint(out, (r.first_item.len() - shared) as u64);
        out.extend_from_slice(&r.first_item[shared..]);
        put_uvarint(out, r.offset);
        put_uvarint(out, u64::from(r.stored_len));
        put_uvarint(out, u64::from(r.plain_len));
        put_uvarint(out, u64::from(r.count));
        out.push(r.encoding);
        out.extend_from_slice(&r.crc.to_le_bytes());
        prev = &r.first_item;
    }
}

fn decode_refs(r: &mut Reader<'_>, n: usize) -> Result<Vec<BlockRef>, DecodeError> {
    let mut out: Vec<BlockRef> = Vec::with_capacity(n.min(1 << 16));
    let mut prev: Vec<u8> = Vec::new();
    for _ in 0..n {
        let shared = r.len(prev.len(), "first item shared length")?;
        let suffix_len = r.len(MAX_ITEM_LEN_ON_DISK, "first item suffix length")?;
        let suffix = r.bytes(suffix_len, "first item suffix")?;
        prev.truncate(shared);
        prev.extend_from_slice(suffix);
        let offset = r.uvarint("block offset")?;
        let stored_len = r.len(MAX_STORED_LEN as usize, "block stored length")? as u32;
        let plain_len = r.len(MAX_STORED_LEN as usize, "block plain length")? as u32;
        let count = r.len(u32::MAX as usize, "block count")? as u32;
        let encoding = r.u8("block encoding")?;
        let crc = r.u32_le("block crc")?;
        out.push(BlockRef {
            first_item: prev.clone(),
            offset,
            stored_len,
            plain_len,
            count,
            encoding,
            crc,
        });
    }
    Ok(out)
}

/// Counts describing a part, from its metaindex.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartStats {
    /// Items in the part.
    pub items: u64,
    /// Data blocks in the part.
    pub blocks: u64,
    /// Bytes of the three files.
    pub size_bytes: u64,
}

/// Writes a new part directory from sorted, duplicate-free blocks of items.
#[derive(Debug)]
pub struct PartWriter {
    dir: PathBuf,
    items_file: BufWriter<File>,
    index_file: BufWriter<File>,
    items_len: u64,
    index_len: u64,
    headers: Vec<BlockRef>,
    metaindex: Vec<BlockRef>,
    items_count: u64,
    blocks_count: u64,
    plain: Vec<u8>,
    stored: Vec<u8>,
}

impl PartWriter {
    /// Creates `dir` (which must not exist) and its files.
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir(dir).map_err(|e| Error::io("create part directory", dir, e))?;
        let create = |name: &str| -> Result<BufWriter<File>> {
            let p = dir.join(name);
            let f = File::create(&p).map_err(|e| Error::io("create part file", &p, e))?;
            Ok(BufWriter::with_capacity(256 << 10, f))
        };
        Ok(Self {
            dir: dir.to_owned(),
            items_file: create(ITEMS_FILE)?,
            index_file: create(INDEX_FILE)?,
            items_len: 0,
            index_len: 0,
            headers: Vec::new(),
            metaindex: Vec::new(),
            items_count: 0,
            blocks_count: 0,
            plain: Vec::new(),
            stored: Vec::new(),
        })
    }

    /// Writes `items[range]` as one data block. The caller keeps blocks in order: every item
    /// of a block is greater than every item of the blocks before it.
    pub fn write_block(&mut self, items: &Items, range: std::ops::Range<usize>) -> Result<()> {
        if range.is_empty() {
            return Ok(());
        }
        self.plain.clear();
        item_block::encode_plain(items, range.clone(), &mut self.plain);
        self.stored.clear();
        let encoding = item_block::compress(&self.plain, &mut self.stored);
        let header = BlockRef {
            first_item: items.get(range.start).to_vec(),
            offset: self.items_len,
            stored_len: self.stored.len() as u32,
            plain_len: self.plain.len() as u32,
            count: range.len() as u32,
            encoding,
            crc: crc32fast::hash(&self.stored),
        };
        let path = self.dir.join(ITEMS_FILE);
        self.items_file
            .write_all(&self.stored)
            .map_err(|e| Error::io("write part file", path, e))?;
        self.items_len += self.stored.len() as u64;
        self.items_count += range.len() as u64;
        self.blocks_count += 1;
        self.headers.push(header);
        if self.headers.len() >= HEADERS_PER_INDEX_BLOCK {
            self.flush_index_block()?;
        }
        Ok(())
    }

    fn flush_index_block(&mut self) -> Result<()> {
        let Some(first) = self.headers.first() else {
            return Ok(());
        };
        let first_item = first.first_item.clone();
        self.plain.clear();
        encode_refs(&self.headers, &mut self.plain);
        self.stored.clear();
        let encoding = item_block::compress(&self.plain, &mut self.stored);
        self.metaindex.push(BlockRef {
            first_item,
            offset: self.index_len,
            stored_len: self.stored.len() as u32,
            plain_len: self.plain.len() as u32,
            count: self.headers.len() as u32,
            encoding,
            crc: crc32fast::hash(&self.stored),
        });
        let path = self.dir.join(INDEX_FILE);
        self.index_file
            .write_all(&self.stored)
            .map_err(|e| Error::io("write part file", path, e))?;
        self.index_len += self.stored.len() as u64;
        self.headers.clear();
        Ok(())
    }

    /// Writes the metaindex, fsyncs every file and returns the part's counts. The directory is
    /// still under its temporary name; the caller publishes it.
    pub fn finish(mut self) -> Result<PartStats> {
        self.flush_index_block()?;
        for (w, name) in [
            (&mut self.items_file, ITEMS_FILE),
            (&mut self.index_file, INDEX_FILE),
        ] {
            let p = self.dir.join(name);
            w.flush().map_err(|e| Error::io("write part file", &p, e))?;
            w.get_ref()
                .sync_all()
                .map_err(|e| Error::io("fsync part file", &p, e))?;
        }
        let mut meta = Vec::new();
        meta.extend_from_slice(PART_MAGIC);
        meta.extend_from_slice(&self.items_count.to_le_bytes());
        meta.extend_from_slice(&self.blocks_count.to_le_bytes());
        meta.extend_from_slice(&self.items_len.to_le_bytes());
        meta.extend_from_slice(&self.index_len.to_le_bytes());
        meta.extend_from_slice(&(self.metaindex.len() as u32).to_le_bytes());
        encode_refs(&self.metaindex, &mut meta);
        let crc = crc32fast::hash(&meta);
        meta.extend_from_slice(&crc.to_le_bytes());
        crate::fs::write_file_synced(&self.dir.join(METAINDEX_FILE), &meta)?;
        Ok(PartStats {
            items: self.items_count,
            blocks: self.blocks_count,
            size_bytes: self.items_len + self.index_len + meta.len() as u64,
        })
    }
}

/// A read-only memory map of a whole file, or nothing for an empty file.
#[derive(Debug)]
struct Mapped(Option<Mmap>);

impl Mapped {
    fn open(path: &Path) -> Result<(Mapped, u64)> {
        let f = File::open(path).map_err(|e| Error::io("open part file", path, e))?;
        let len = f
            .metadata()
            .map_err(|e| Error::io("stat part file", path, e))?
            .len();
        if len == 0 {
            return Ok((Mapped(None), 0));
        }
        // SAFETY: part files are immutable once published: nothing in this process writes to or
        // truncates them, and the part directory is removed only after the last reader drops
        // its `Arc<Part>`. Another process changing the file under us is outside the contract
        // (as for any database file); every read goes through the bounds and crc checks below.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| Error::io("map part file", path, e))?;
        Ok((Mapped(Some(map)), len))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

/// An open file part.
#[derive(Debug)]
pub struct FilePart {
    dir: PathBuf,
    items: Mapped,
    index: Mapped,
    metaindex: Vec<BlockRef>,
    index_blocks: Vec<OnceLock<Arc<Vec<BlockRef>>>>,
    stats: PartStats,
}

impl FilePart {
    /// Opens a published part directory, checking the metaindex and the file lengths.
    pub fn open(dir: &Path) -> Result<Self> {
        let meta_path = dir.join(METAINDEX_FILE);
        let meta =
            std::fs::read(&meta_path).map_err(|e| Error::io("read part file", &meta_path, e))?;
        let corrupt = |what: String| Error::corruption(&meta_path, "metaindex", what);
        if meta.len() < PART_MAGIC.len() + 36 + 4 {
            return Err(corrupt(format!(
                "metaindex too short: {} bytes, want at least 48",
                meta.len()
            )));
        }
        let (body, crc_bytes) = meta.split_at(meta.len() - 4);
        let want_crc = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        if crc32fast::hash(body) != want_crc {
            return Err(corrupt("metaindex checksum mismatch".to_owned()));
        }
        let mut r = Reader::new(body);
        let parse = |r: &mut Reader<'_>| -> Result<_, DecodeError> {
            let magic = r.array::<8>("magic")?;
            let items = r.u64_le("items count")?;
            let blocks = r.u64_le("blocks count")?;
            let items_len = r.u64_le("items.bin length")?;
            let index_len = r.u64_le("index.bin length")?;
            let n = r.u32_le("index blocks count")? as usize;
            let refs = decode_refs(r, n)?;
            Ok((magic, items, blocks, items_len, index_len, refs))
        };
        let (magic, items, blocks, items_len, index_len, metaindex) =
            parse(&mut r).map_err(|e| corrupt(e.to_string()))?;
        if &magic != PART_MAGIC {
            return Err(corrupt(format!(
                "bad magic {magic:?}, want {PART_MAGIC:?} (unknown format version)"
            )));
        }
        if !r.is_empty() {
            return Err(corrupt(format!("{} trailing bytes", r.remaining())));
        }
        let (items_map, got_items_len) = Mapped::open(&dir.join(ITEMS_FILE))?;
        let (index_map, got_index_len) = Mapped::open(&dir.join(INDEX_FILE))?;
        for (name, got, want) in [
            (ITEMS_FILE, got_items_len, items_len),
            (INDEX_FILE, got_index_len, index_len),
        ] {
            if got != want {
                return Err(Error::corruption(
                    dir.join(name),
                    "file length",
                    format!("file has {got} bytes, metaindex says {want}"),
                ));
            }
        }
        for (i, m) in metaindex.iter().enumerate() {
            if m.offset + u64::from(m.stored_len) > index_len {
                return Err(corrupt(format!(
                    "index block {i} at offset {} + {} overruns index.bin of {index_len} bytes",
                    m.offset, m.stored_len
                )));
            }
        }
        let index_blocks = (0..metaindex.len()).map(|_| OnceLock::new()).collect();
        Ok(Self {
            dir: dir.to_owned(),
            items: items_map,
            index: index_map,
            metaindex,
            index_blocks,
            stats: PartStats {
                items,
                blocks,
                size_bytes: items_len + index_len + meta.len() as u64,
            },
        })
    }

    /// The part directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counts from the metaindex.
    pub fn stats(&self) -> PartStats {
        self.stats
    }

    /// Number of index blocks.
    pub fn index_blocks_len(&self) -> usize {
        self.metaindex.len()
    }

    /// The headers of index block `i`, decoded once and kept.
    pub fn index_block(&self, i: usize) -> Result<Arc<Vec<BlockRef>>> {
        if let Some(b) = self.index_blocks.get(i).and_then(OnceLock::get) {
            return Ok(Arc::clone(b));
        }
        let path = self.dir.join(INDEX_FILE);
        let Some(m) = self.metaindex.get(i) else {
            panic!(
                "internal invariant: index block {i} of {}",
                self.metaindex.len()
            );
        };
        let loc = || format!("index block {i} (offset {})", m.offset);
        let plain =
            read_stored(self.index.bytes(), m).map_err(|w| Error::corruption(&path, loc(), w))?;
        let mut r = Reader::new(&plain);
        let refs = decode_refs(&mut r, m.count as usize)
            .map_err(|e| Error::corruption(&path, loc(), e.to_string()))?;
        if !r.is_empty() || refs.first().map(|h| &h.first_item) != Some(&m.first_item) {
            return Err(Error::corruption(
                &path,
                loc(),
                "index block does not match its metaindex entry",
            ));
        }
        let refs = Arc::new(refs);
        let _ = self.index_blocks[i].set(Arc::clone(&refs));
        Ok(refs)
    }

    /// The first item of index block `i`.
    pub fn index_block_first_item(&self, i: usize) -> &[u8] {
        &self.metaindex[i].first_item
    }

    /// The index block that may hold the first item `>= key`: the last one whose first item is
    /// `<= key`, or 0.
    pub fn find_index_block(&self, key: &[u8]) -> usize {
        self.metaindex
            .partition_point(|m| m.first_item.as_slice() <= key)
            .saturating_sub(1)
    }

    /// Reads and decodes data block `header`, which is block `j` of index block `i`.
    pub fn read_block(&self, i: usize, j: usize, header: &BlockRef) -> Result<Items> {
        let path = self.dir.join(ITEMS_FILE);
        let loc = || format!("block {j} of index block {i} (offset {})", header.offset);
        let plain = read_stored(self.items.bytes(), header)
            .map_err(|w| Error::corruption(&path, loc(), w))?;
        let mut items = Items::new();
        item_block::decode_plain(&plain, header.count as usize, &mut items)
            .map_err(|e| Error::corruption(&path, loc(), e.to_string()))?;
        if items.first() != Some(header.first_item.as_slice()) {
            return Err(Error::corruption(
                &path,
                loc(),
                "first item differs from the block header",
            ));
        }
        Ok(items)
    }
}

/// Slices, checks and decompresses the stored bytes of `r` in `file`.
fn read_stored(file: &[u8], r: &BlockRef) -> Result<Vec<u8>, String> {
    let start = usize::try_from(r.offset).map_err(|_| format!("offset {} too large", r.offset))?;
    let end = start
        .checked_add(r.stored_len as usize)
        .filter(|&e| e <= file.len())
        .ok_or_else(|| {
            format!(
                "block of {} bytes at {start} overruns the file of {} bytes",
                r.stored_len,
                file.len()
            )
        })?;
    let stored = &file[start..end];
    let crc = crc32fast::hash(stored);
    if crc != r.crc {
        return Err(format!(
            "checksum mismatch: got {crc:#010x}, want {:#010x}",
            r.crc
        ));
    }
    item_block::decompress(stored, r.encoding, r.plain_len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `encode_refs` once compressed each first item against a `prev` it never
    /// updated, so index blocks with more than one header decoded wrongly.
    #[test]
    fn regression_block_refs_prefix_compress_against_the_previous_ref() {
        let refs: Vec<BlockRef> = ["metric_a", "metric_ab", "metric_b", "n"]
            .iter()
            .enumerate()
            .map(|(i, f)| BlockRef {
                first_item: f.as_bytes().to_vec(),
                offset: i as u64 * 100,
                stored_len: 100,
                plain_len: 300,
                count: 7,
                encoding: item_block::ENCODING_ZSTD,
                crc: 0xdead_beef,
            })
            .collect();
        let mut buf = Vec::new();
        encode_refs(&refs, &mut buf);
        let mut r = Reader::new(&buf);
        assert_eq!(decode_refs(&mut r, refs.len()).unwrap(), refs);
        assert!(r.is_empty());
    }

    #[test]
    fn a_written_part_reads_back_block_by_block() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p");
        let mut w = PartWriter::create(&p).unwrap();
        let all: Vec<Vec<u8>> = (0..10_000u32)
            .map(|i| format!("k{i:06}").into_bytes())
            .collect();
        for chunk in all.chunks(37) {
            let items: Items = chunk.iter().map(|v| v.as_slice()).collect();
            w.write_block(&items, 0..items.len()).unwrap();
        }
        let stats = w.finish().unwrap();
        assert_eq!((stats.items, stats.blocks), (10_000, 271));
        let fp = FilePart::open(&p).unwrap();
        assert_eq!(fp.index_blocks_len(), 3);
        let mut got = Vec::new();
        for i in 0..fp.index_blocks_len() {
            for (j, h) in fp.index_block(i).unwrap().iter().enumerate() {
                got.extend(fp.read_block(i, j, h).unwrap().iter().map(|x| x.to_vec()));
            }
        }
        assert_eq!(got, all);
        assert_eq!(fp.find_index_block(b"k005000"), 1);
        assert_eq!(fp.find_index_block(b"a"), 0);
    }
}
