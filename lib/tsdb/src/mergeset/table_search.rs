//! Searching a table: a k-way merge of part cursors that yields every distinct item once, in
//! order, with `seek`. The same merge feeds background merges.

use std::sync::Arc;

use crate::error::Result;

use super::block_cache::BlockCache;
use super::part_search::{Part, PartCursor};

/// A k-way merge over part cursors (a binary min-heap of cursor indexes).
#[derive(Debug)]
pub struct MergeIter {
    cursors: Vec<PartCursor>,
    heap: Vec<usize>,
    /// The top cursor was returned by `peek` and must move before the next item.
    advance_top: bool,
}

impl MergeIter {
    /// A merge over `parts`, unpositioned until [`MergeIter::seek`].
    pub fn new(parts: &[Arc<Part>]) -> Self {
        Self {
            cursors: parts
                .iter()
                .map(|p| PartCursor::new(Arc::clone(p)))
                .collect(),
            heap: Vec::new(),
            advance_top: false,
        }
    }

    /// Positions every cursor at its first item `>= key`.
    pub fn seek(&mut self, key: &[u8], cache: Option<&BlockCache>) -> Result<()> {
        for c in &mut self.cursors {
            c.seek(key, cache)?;
        }
        self.heap = (0..self.cursors.len())
            .filter(|&i| self.cursors[i].current().is_some())
            .collect();
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
        self.advance_top = false;
        Ok(())
    }

    /// The next item in order (duplicates across parts come out once per part).
    pub fn next_item(&mut self, cache: Option<&BlockCache>) -> Result<Option<&[u8]>> {
        if self.advance_top {
            self.advance_top = false;
            if let Some(&top) = self.heap.first() {
                self.cursors[top].advance(cache)?;
                if self.cursors[top].current().is_none() {
                    let last = self.heap.len() - 1;
                    self.heap.swap(0, last);
                    self.heap.pop();
                }
                self.sift_down(0);
            }
        }
        let Some(&top) = self.heap.first() else {
            return Ok(None);
        };
        self.advance_top = true;
        Ok(self.cursors[top].current())
    }

    fn less(&self, a: usize, b: usize) -> bool {
        self.cursors[self.heap[a]].current() < self.cursors[self.heap[b]].current()
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                return;
            }
            let r = l + 1;
            let m = if r < n && self.less(r, l) { r } else { l };
            if !self.less(m, i) {
                return;
            }
            self.heap.swap(i, m);
            i = m;
        }
    }
}

/// A search over a snapshot of a table's parts: items added after the search began are not
/// seen. Yields each distinct item once, in byte order.
///
/// ```
/// # fn main() -> tsdb::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let table = tsdb::mergeset::Table::open(dir.path(), tsdb::mergeset::Config::default())?;
/// table.add_items(&[b"b".as_slice(), b"a2", b"a1"])?;
/// let mut s = table.search();
/// s.seek(b"a")?;
/// let mut got = Vec::new();
/// while let Some(item) = s.next_with_prefix(b"a")? {
///     got.push(item.to_vec());
/// }
/// assert_eq!(got, vec![b"a1".to_vec(), b"a2".to_vec()]);
/// # table.close()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TableSearch {
    iter: MergeIter,
    cache: Arc<BlockCache>,
    last: Vec<u8>,
    has_last: bool,
}

impl TableSearch {
    pub(crate) fn new(parts: &[Arc<Part>], cache: Arc<BlockCache>) -> Self {
        Self {
            iter: MergeIter::new(parts),
            cache,
            last: Vec::new(),
            has_last: false,
        }
    }

    /// Positions the search at the first item `>= key`.
    pub fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.has_last = false;
        self.iter.seek(key, Some(&self.cache))
    }

    /// The next distinct item, or `None` at the end. Call [`TableSearch::seek`] first.
    pub fn next_item(&mut self) -> Result<Option<&[u8]>> {
        loop {
            let Some(item) = self.iter.next_item(Some(&self.cache))? else {
                return Ok(None);
            };
            if self.has_last && item == self.last.as_slice() {
                continue;
            }
            self.last.clear();
            self.last.extend_from_slice(item);
            self.has_last = true;
            return Ok(Some(&self.last));
        }
    }

    /// The next distinct item if it starts with `prefix`, else `None`.
    pub fn next_with_prefix(&mut self, prefix: &[u8]) -> Result<Option<&[u8]>> {
        match self.next_item()? {
            Some(item) if item.starts_with(prefix) => Ok(Some(item)),
            _ => Ok(None),
        }
    }

    /// Seeks to `key` and returns the first item `>= key` that starts with `prefix`, if any.
    pub fn seek_first(&mut self, key: &[u8], prefix: &[u8]) -> Result<Option<&[u8]>> {
        self.seek(key)?;
        self.next_with_prefix(prefix)
    }
}
