//! Merging parts: one k-way merge of sorted parts into blocks, each passed through the table's
//! [`PrepareBlock`] hook (the only plug-in point), into an in-memory run or a new file part.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

use super::items::Items;
use super::part::PartWriter;
use super::part_search::Part;
use super::table_search::MergeIter;

/// The per-block hook of merges. It gets a sorted, duplicate-free block of items and writes
/// its replacement into the second argument (cleared beforehand), e.g. to combine posting
/// lists or drop items of deleted series.
///
/// Laws the replacement must keep, or the table ignores it and keeps the block as it was:
/// it is non-empty, strictly increasing, and its first and last items equal the block's first
/// and last items (so that the order across blocks holds). It must mean the same set to the
/// reader that owns the items: the table cannot check that.
pub type PrepareBlock = Arc<dyn Fn(&Items, &mut Items) + Send + Sync>;

/// Raw bytes of items collected before a block is cut.
pub const MERGE_BLOCK_RAW_LEN: usize = 64 << 10;

/// Where merged blocks go.
pub trait BlockSink {
    /// Takes one block, in order.
    fn put_block(&mut self, items: &Items) -> Result<()>;
}

impl BlockSink for Items {
    fn put_block(&mut self, items: &Items) -> Result<()> {
        for item in items.iter() {
            self.push(item);
        }
        Ok(())
    }
}

impl BlockSink for PartWriter {
    fn put_block(&mut self, items: &Items) -> Result<()> {
        self.write_block(items, 0..items.len())
    }
}

/// What a merge did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergeStats {
    /// Items read from the source parts (duplicates included).
    pub items_in: u64,
    /// Items written.
    pub items_out: u64,
    /// Blocks whose hook output broke a law and was ignored.
    pub hook_rejected: u64,
}

/// Merges `parts` into `sink`. Stops with [`Error::Closed`] when `stop` is set.
pub fn merge_parts(
    parts: &[Arc<Part>],
    hook: Option<&PrepareBlock>,
    stop: &AtomicBool,
    sink: &mut dyn BlockSink,
) -> Result<MergeStats> {
    let mut iter = MergeIter::new(parts);
    iter.seek(b"", None)?;
    let mut stats = MergeStats::default();
    let mut block = Items::new();
    let mut out = Items::new();
    let mut emit = |block: &mut Items, stats: &mut MergeStats| -> Result<()> {
        if block.is_empty() {
            return Ok(());
        }
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let chosen = match hook {
            Some(h) => {
                out.clear();
                h(block, &mut out);
                if keeps_laws(block, &out) {
                    &out
                } else {
                    stats.hook_rejected += 1;
                    &*block
                }
            }
            None => &*block,
        };
        stats.items_out += chosen.len() as u64;
        sink.put_block(chosen)?;
        block.clear();
        Ok(())
    };
    while let Some(item) = iter.next_item(None)? {
        stats.items_in += 1;
        if block.last() == Some(item) {
            continue;
        }
        block.push(item);
        if block.data_len() >= MERGE_BLOCK_RAW_LEN {
            emit(&mut block, &mut stats)?;
        }
    }
    emit(&mut block, &mut stats)?;
    Ok(stats)
}

/// Whether a hook's output keeps the laws of [`PrepareBlock`].
fn keeps_laws(input: &Items, output: &Items) -> bool {
    !output.is_empty()
        && output.first() == input.first()
        && output.last() == input.last()
        && (1..output.len()).all(|i| output.get(i - 1) < output.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(id: u64, items: &[&[u8]]) -> Arc<Part> {
        let items: Items = items.iter().copied().collect();
        Arc::new(Part::mem(id, items.sorted_dedup()))
    }

    #[test]
    fn merge_dedups_and_applies_lawful_hooks_only() {
        let parts = [mem(1, &[b"a", b"c", b"e"]), mem(2, &[b"b", b"c", b"d"])];
        let stop = AtomicBool::new(false);
        let mut out = Items::new();
        let st = merge_parts(&parts, None, &stop, &mut out).unwrap();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            vec![&b"a"[..], b"b", b"c", b"d", b"e"]
        );
        assert_eq!((st.items_in, st.items_out), (6, 5));

        // Drops the middle items: lawful.
        let drop_middle: PrepareBlock = Arc::new(|inp: &Items, out: &mut Items| {
            out.push(inp.get(0));
            out.push(inp.get(inp.len() - 1));
        });
        let mut out = Items::new();
        merge_parts(&parts, Some(&drop_middle), &stop, &mut out).unwrap();
        assert_eq!(out.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"e"]);

        // Changes the first item: unlawful, so ignored.
        let bad: PrepareBlock = Arc::new(|inp: &Items, out: &mut Items| {
            for item in inp.iter().skip(1) {
                out.push(item);
            }
        });
        let mut out = Items::new();
        let st = merge_parts(&parts, Some(&bad), &stop, &mut out).unwrap();
        assert_eq!(out.len(), 5);
        assert_eq!(st.hook_rejected, 1);

        stop.store(true, Ordering::Relaxed);
        assert!(matches!(
            merge_parts(&parts, None, &stop, &mut Items::new()),
            Err(Error::Closed)
        ));
    }
}
