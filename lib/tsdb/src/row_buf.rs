//! Buffers of raw rows on their own anonymous mappings, backed by transparent huge pages where
//! the kernel offers them for the asking (`/sys/kernel/mm/transparent_hugepage/enabled` set to
//! `madvise` or `always`).
//!
//! A shard's buffer (6 MiB) is filled once and handed on whole, so each one is fresh memory:
//! in 4 KiB pages that was 1,536 page faults per buffer, each zeroing a page, about a tenth of a
//! storage node's ingestion CPU. In 2 MiB pages it is three faults. Unlike keeping emptied
//! buffers for reuse, this keeps nothing resident that is not filled (to within one huge page),
//! and a dropped buffer goes back to the kernel at once.

use std::alloc::Layout;
use std::mem::size_of;

use memmap2::{Advice, MmapMut};

use crate::raw_rows::Row;

/// The size of a transparent huge page on x86-64 and (4 KiB-page) arm64.
const HUGE_PAGE: usize = 2 << 20;

/// A growable buffer of rows, like a `Vec<Row>`, whose rows start on a huge-page boundary of
/// an anonymous mapping advised for huge pages.
pub struct RowBuf {
    /// The mapping: `HUGE_PAGE` bytes more than the rows need, so that they can start on a
    /// boundary. The slack before the boundary is never touched, so never resident.
    map: Option<MmapMut>,
    /// Byte offset of the first row in `map`.
    start: usize,
    /// Rows written.
    len: usize,
    /// Rows that fit.
    cap: usize,
}

impl RowBuf {
    /// An empty buffer that maps nothing until the first row.
    pub const fn new() -> Self {
        Self {
            map: None,
            start: 0,
            len: 0,
            cap: 0,
        }
    }

    /// An empty buffer with room for `cap` rows. Like `Vec::with_capacity`, aborts the process
    /// (through [`std::alloc::handle_alloc_error`]) when the memory cannot be had.
    pub fn with_capacity(cap: usize) -> Self {
        let mut buf = Self::new();
        buf.grow_to(cap);
        buf
    }

    /// Rows in the buffer.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows that fit without growing.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Appends a row, growing (to twice the size, in a new mapping) when full.
    #[inline]
    pub fn push(&mut self, row: Row) {
        if self.len == self.cap {
            self.grow_to((self.cap * 2).max(1024));
        }
        // SAFETY: `len < cap` here, and `base()` points at room for `cap` rows (see
        // `grow_to`), aligned for `Row`; the write initialises slot `len`.
        unsafe { self.base().add(self.len).write(row) };
        self.len += 1;
    }

    /// Makes room for at least `additional` more rows.
    pub fn reserve(&mut self, additional: usize) {
        if self.cap - self.len < additional {
            self.grow_to((self.len + additional).max(self.cap * 2));
        }
    }

    /// Appends every row of `rows`.
    pub fn extend_from_slice(&mut self, rows: &[Row]) {
        self.reserve(rows.len());
        // SAFETY: the room after `len` holds at least `rows.len()` rows (just ensured), and
        // a mapping never overlaps the caller's slice, which lives elsewhere.
        unsafe {
            std::ptr::copy_nonoverlapping(rows.as_ptr(), self.base().add(self.len), rows.len())
        };
        self.len += rows.len();
    }

    /// Forgets the rows, keeping the memory.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The rows.
    pub fn as_slice(&self) -> &[Row] {
        match &self.map {
            // SAFETY: the first `len` slots from `start` are initialised rows (written by
            // `push` or `extend_from_slice`), aligned, inside the mapping, which lives as
            // long as `self`; shared access to `self` gives shared access to them.
            Some(map) => unsafe {
                std::slice::from_raw_parts(map.as_ptr().add(self.start).cast::<Row>(), self.len)
            },
            None => &[],
        }
    }

    /// The rows, to sort or change in place.
    pub fn as_mut_slice(&mut self) -> &mut [Row] {
        let len = self.len;
        if self.map.is_none() {
            return &mut [];
        }
        // SAFETY: as in `as_slice`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.base(), len) }
    }

    /// Where the first row goes; dangling (but never written through) while nothing is mapped.
    fn base(&mut self) -> *mut Row {
        match &mut self.map {
            // SAFETY: `start` is within the mapping (see `grow_to`).
            Some(map) => unsafe { map.as_mut_ptr().add(self.start).cast::<Row>() },
            None => std::ptr::NonNull::dangling().as_ptr(),
        }
    }

    /// Moves the rows to a new mapping with room for `cap` rows (at least `len`).
    fn grow_to(&mut self, cap: usize) {
        let cap = cap.max(self.len);
        let bytes = cap.saturating_mul(size_of::<Row>());
        let map = match bytes.checked_add(HUGE_PAGE) {
            Some(len) if bytes < isize::MAX as usize / 2 => MmapMut::map_anon(len).ok(),
            _ => None,
        };
        let Some(mut map) = map else {
            // What `Vec` does when its allocator fails. The layout only reports the size.
            std::alloc::handle_alloc_error(
                Layout::from_size_align(bytes.min(isize::MAX as usize / 2), HUGE_PAGE)
                    .unwrap_or(Layout::new::<Row>()),
            );
        };
        let addr = map.as_ptr() as usize;
        let start = addr.next_multiple_of(HUGE_PAGE) - addr;
        // The rows need `bytes`; whole huge pages only (the kernel backs just those).
        let advised = bytes.next_multiple_of(HUGE_PAGE).min(map.len() - start);
        // Best effort: without huge pages the buffer works the same, in small pages.
        let _ = map.advise_range(Advice::HugePage, start, advised);
        if self.len > 0 {
            let old = self.as_slice();
            // SAFETY: the new mapping has room for `cap >= len` rows from `start`, aligned
            // (a page boundary plus a multiple of `HUGE_PAGE`), and does not overlap the old.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    old.as_ptr(),
                    map.as_mut_ptr().add(start).cast::<Row>(),
                    old.len(),
                )
            };
        }
        self.map = Some(map);
        self.start = start;
        self.cap = cap;
    }
}

impl Default for RowBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RowBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowBuf")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::row;

    /// Pushes and slice copies from empty, across growth, read back equal to a `Vec` fed the
    /// same rows; the rows start on a huge-page boundary.
    #[test]
    fn behaves_like_a_vec_across_growth() {
        let mut buf = RowBuf::new();
        let mut want: Vec<Row> = Vec::new();
        assert!(buf.is_empty() && buf.as_slice().is_empty() && buf.as_mut_slice().is_empty());
        for i in 0..5_000u64 {
            let r = row(i % 37, i as i64 * 15_000, i as f64 * 0.25);
            if i % 3 == 0 {
                buf.extend_from_slice(&[r, r]);
                want.extend_from_slice(&[r, r]);
            } else {
                buf.push(r);
                want.push(r);
            }
        }
        assert_eq!(buf.len(), want.len());
        assert!(buf.capacity() >= buf.len());
        assert_eq!(buf.as_slice(), want.as_slice());
        assert_eq!(buf.as_slice().as_ptr() as usize % HUGE_PAGE, 0);
        buf.as_mut_slice().reverse();
        want.reverse();
        assert_eq!(buf.as_slice(), want.as_slice());
        buf.clear();
        assert!(buf.is_empty());
        buf.push(want[0]);
        assert_eq!(buf.as_slice(), &want[..1]);
    }

    #[test]
    fn with_capacity_holds_that_many_without_moving() {
        let mut buf = RowBuf::with_capacity(100_000);
        let at = buf.as_mut_slice().as_ptr();
        for i in 0..100_000u64 {
            buf.push(row(i, i as i64, 1.0));
        }
        assert_eq!(buf.capacity(), 100_000);
        assert_eq!(buf.as_slice().as_ptr(), at);
        assert_eq!(buf.as_slice()[99_999].tsid.metric_id, 99_999);
    }
}
