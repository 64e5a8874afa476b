//! [`Items`]: a run of byte items stored back to back, the unit every mergeset layer passes
//! around (pending shards, in-memory parts, decoded blocks, merge output).

use std::cmp::Ordering;

/// Items stored contiguously: item `i` is `data[ends[i-1]..ends[i]]`. Sorted or not, as the
/// owner says; the mergeset keeps every `Items` it publishes sorted.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Items {
    data: Vec<u8>,
    ends: Vec<u32>,
}

impl Items {
    /// An empty run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Total bytes of all items.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Heap bytes held (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.ends.capacity() * 4
    }

    /// Item `i`.
    ///
    /// # Panics
    /// When `i >= len()`: callers index only within bounds they checked (an internal invariant).
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }

    /// The first item, if any.
    pub fn first(&self) -> Option<&[u8]> {
        (!self.is_empty()).then(|| self.get(0))
    }

    /// The last item, if any.
    pub fn last(&self) -> Option<&[u8]> {
        (!self.is_empty()).then(|| self.get(self.len() - 1))
    }

    /// Appends an item.
    ///
    /// # Panics
    /// When the run would exceed 4 GiB; the mergeset caps runs far below that.
    #[inline]
    pub fn push(&mut self, item: &[u8]) {
        self.data.extend_from_slice(item);
        let end = u32::try_from(self.data.len())
            .unwrap_or_else(|_| panic!("internal invariant: an item run exceeds 4 GiB"));
        self.ends.push(end);
    }

    /// Appends an item built from parts, without a temporary buffer.
    pub fn push_parts(&mut self, parts: &[&[u8]]) {
        for p in parts {
            self.data.extend_from_slice(p);
        }
        let end = u32::try_from(self.data.len())
            .unwrap_or_else(|_| panic!("internal invariant: an item run exceeds 4 GiB"));
        self.ends.push(end);
    }

    /// Removes every item, keeping the allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// Iterates over the items in stored order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Whether the items are in non-decreasing byte order.
    pub fn is_sorted(&self) -> bool {
        (1..self.len()).all(|i| self.get(i - 1) <= self.get(i))
    }

    /// Whether the items are in strictly increasing byte order (sorted, no duplicates).
    pub fn is_strictly_sorted(&self) -> bool {
        (1..self.len()).all(|i| self.get(i - 1) < self.get(i))
    }

    /// Returns the items sorted bytewise with duplicates removed.
    pub fn sorted_dedup(&self) -> Items {
        let mut idx: Vec<u32> = (0..self.len() as u32).collect();
        idx.sort_unstable_by(|&a, &b| self.get(a as usize).cmp(self.get(b as usize)));
        let mut out = Items {
            data: Vec::with_capacity(self.data.len()),
            ends: Vec::with_capacity(self.len()),
        };
        let mut prev: Option<&[u8]> = None;
        for i in idx {
            let item = self.get(i as usize);
            if prev != Some(item) {
                out.push(item);
            }
            prev = Some(item);
        }
        out
    }

    /// The index of the first item `>= key` (items must be sorted); `len()` when none is.
    pub fn lower_bound(&self, key: &[u8]) -> usize {
        self.lower_bound_from(0, key)
    }

    /// Like [`Items::lower_bound`], searching only from index `from` on.
    pub fn lower_bound_from(&self, from: usize, key: &[u8]) -> usize {
        let (mut lo, mut hi) = (from, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(key) {
                Ordering::Less => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }
}

impl<'a> FromIterator<&'a [u8]> for Items {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> Self {
        let mut out = Items::new();
        for item in iter {
            out.push(item);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_sort_and_search() {
        let items: Items = [&b"b"[..], b"", b"ab", b"b", b"a"].into_iter().collect();
        assert_eq!(items.len(), 5);
        assert_eq!(items.get(2), b"ab");
        assert!(!items.is_sorted());
        let s = items.sorted_dedup();
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![&b""[..], b"a", b"ab", b"b"]
        );
        assert!(s.is_sorted());
        #[track_caller]
        fn check(s: &Items, key: &[u8], want: usize) {
            assert_eq!(s.lower_bound(key), want, "key {key:?}");
        }
        check(&s, b"", 0);
        check(&s, b"a", 1);
        check(&s, b"aa", 2);
        check(&s, b"b", 3);
        check(&s, b"c", 4);
        assert_eq!(s.first(), Some(&b""[..]));
        assert_eq!(s.last(), Some(&b"b"[..]));
    }
}
