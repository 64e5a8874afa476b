//! Parts as the table sees them (in memory or on disk) and a cursor that walks one part in
//! order, seeking by key.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Result;

use super::block_cache::BlockCache;
use super::items::Items;
use super::part::{BlockRef, FilePart};

/// Where a part's items live.
#[derive(Debug)]
pub enum PartData {
    /// Sorted items in memory, not yet written to a file part.
    Mem(Items),
    /// An immutable part directory.
    File(FilePart),
}

/// One immutable sorted run of items of a table.
#[derive(Debug)]
pub struct Part {
    /// Unique within the table; also the directory name of a file part.
    pub id: u64,
    /// The items.
    pub data: PartData,
    /// Number of items.
    pub items: u64,
    /// Bytes in memory or on disk.
    pub size_bytes: u64,
    /// Taken by a merge (set and cleared under the table's parts lock).
    pub in_merge: AtomicBool,
    /// Replaced by a merge: its directory goes away with the last reference.
    pub obsolete: AtomicBool,
}

impl Part {
    /// Wraps sorted, duplicate-free items as an in-memory part.
    pub fn mem(id: u64, items: Items) -> Part {
        Part {
            id,
            items: items.len() as u64,
            size_bytes: items.heap_bytes() as u64,
            data: PartData::Mem(items),
            in_merge: AtomicBool::new(false),
            obsolete: AtomicBool::new(false),
        }
    }

    /// Opens a file part.
    pub fn open_file(id: u64, dir: &Path) -> Result<Part> {
        let fp = FilePart::open(dir)?;
        let s = fp.stats();
        Ok(Part {
            id,
            items: s.items,
            size_bytes: s.size_bytes,
            data: PartData::File(fp),
            in_merge: AtomicBool::new(false),
            obsolete: AtomicBool::new(false),
        })
    }

    /// Whether the part lives in memory.
    pub fn is_mem(&self) -> bool {
        matches!(self.data, PartData::Mem(_))
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if let PartData::File(fp) = &self.data
            && self.obsolete.load(Ordering::Acquire)
        {
            // Best effort: a directory left behind is not in the manifest and is removed at
            // the next open.
            let _ = crate::fs::remove_dir_durable(fp.dir());
        }
    }
}

/// Walks one part in item order. Unpositioned until the first [`PartCursor::seek`].
#[derive(Debug)]
pub struct PartCursor {
    part: Arc<Part>,
    headers: Option<Arc<Vec<BlockRef>>>,
    block: Option<Arc<Items>>,
    bi: usize,
    bj: usize,
    pos: usize,
    done: bool,
}

impl PartCursor {
    /// A cursor over `part`.
    pub fn new(part: Arc<Part>) -> Self {
        Self {
            part,
            headers: None,
            block: None,
            bi: 0,
            bj: 0,
            pos: 0,
            done: true,
        }
    }

    /// The item under the cursor, `None` once past the end.
    #[inline]
    pub fn current(&self) -> Option<&[u8]> {
        if self.done {
            return None;
        }
        match &self.part.data {
            PartData::Mem(items) => Some(items.get(self.pos)),
            PartData::File(_) => self.block.as_deref().map(|b| b.get(self.pos)),
        }
    }

    /// Positions the cursor at the first item `>= key`.
    pub fn seek(&mut self, key: &[u8], cache: Option<&BlockCache>) -> Result<()> {
        let part = Arc::clone(&self.part);
        match &part.data {
            PartData::Mem(items) => {
                self.pos = items.lower_bound(key);
                self.done = self.pos >= items.len();
            }
            PartData::File(fp) => {
                // Fast paths within the loaded block: the cursor already stands on the first
                // item >= key (its predecessor in the block is < key), or key lies ahead in
                // this block.
                if !self.done
                    && let Some(b) = &self.block
                {
                    let cur = b.get(self.pos);
                    if cur >= key && self.pos > 0 && b.get(self.pos - 1) < key {
                        return Ok(());
                    }
                    if cur <= key && b.last().is_some_and(|last| key <= last) {
                        self.pos = b.lower_bound_from(self.pos, key);
                        return Ok(());
                    }
                }
                if fp.index_blocks_len() == 0 {
                    self.done = true;
                    return Ok(());
                }
                self.bi = fp.find_index_block(key);
                let headers = fp.index_block(self.bi)?;
                self.bj = headers
                    .partition_point(|h| h.first_item.as_slice() <= key)
                    .saturating_sub(1);
                self.headers = Some(headers);
                self.load_block(fp, cache)?;
                let b = self.block.as_deref().map_or(0, |b| b.lower_bound(key));
                self.pos = b;
                self.done = false;
                if self.block.as_ref().is_some_and(|blk| b >= blk.len()) {
                    self.next_block(fp, cache)?;
                }
            }
        }
        Ok(())
    }

    /// Moves to the next item.
    pub fn advance(&mut self, cache: Option<&BlockCache>) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.pos += 1;
        let part = Arc::clone(&self.part);
        match &part.data {
            PartData::Mem(items) => self.done = self.pos >= items.len(),
            PartData::File(fp) => {
                if self.block.as_ref().is_none_or(|b| self.pos >= b.len()) {
                    self.next_block(fp, cache)?;
                }
            }
        }
        Ok(())
    }

    fn next_block(&mut self, fp: &FilePart, cache: Option<&BlockCache>) -> Result<()> {
        self.bj += 1;
        if self.headers.as_ref().is_none_or(|h| self.bj >= h.len()) {
            self.bi += 1;
            self.bj = 0;
            if self.bi >= fp.index_blocks_len() {
                self.done = true;
                self.block = None;
                return Ok(());
            }
            self.headers = Some(fp.index_block(self.bi)?);
        }
        self.load_block(fp, cache)?;
        self.pos = 0;
        self.done = false;
        Ok(())
    }

    fn load_block(&mut self, fp: &FilePart, cache: Option<&BlockCache>) -> Result<()> {
        let Some(headers) = &self.headers else {
            panic!("internal invariant: block loaded before its index block");
        };
        let key = (self.part.id, self.bi as u32, self.bj as u32);
        if let Some(b) = cache.and_then(|c| c.get(&key)) {
            self.block = Some(b);
            return Ok(());
        }
        let items = Arc::new(fp.read_block(self.bi, self.bj, &headers[self.bj])?);
        if let Some(c) = cache {
            c.insert(key, Arc::clone(&items));
        }
        self.block = Some(items);
        Ok(())
    }
}
