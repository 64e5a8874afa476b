//! Finds the blocks of given series in one part: metaindex → index blocks → only the data
//! blocks that overlap the time range. Nothing else of the part is read.

use std::sync::Arc;

use crate::block::Block;
use crate::block_header::BlockHeader;
use crate::error::Result;
use crate::part::Part;
use crate::time_range::TimeRange;
use crate::tsid::Tsid;

/// A cursor over one part for a search; series must be asked for in ascending tsid order.
#[derive(Debug)]
pub struct PartSearch {
    part: Arc<Part>,
    range: TimeRange,
    next_row: usize,
    cached: Option<usize>,
    headers: Vec<BlockHeader>,
}

impl PartSearch {
    /// A search of `part` for blocks overlapping `range`.
    pub fn new(part: Arc<Part>, range: TimeRange) -> Self {
        PartSearch {
            part,
            range,
            next_row: 0,
            cached: None,
            headers: Vec::new(),
        }
    }

    /// Appends the blocks of `tsid` that overlap the range to `out`, in time order. `tsid` must
    /// not be smaller than the one of the previous call.
    pub fn blocks_for(&mut self, tsid: &Tsid, out: &mut Vec<Block>) -> Result<()> {
        if !self
            .part
            .overlaps(self.range.min_timestamp, self.range.max_timestamp)
        {
            return Ok(());
        }
        let rows = self.part.metaindex();
        // The first index block that may hold `tsid`: the last one starting before it (a series
        // may continue from it), or the first one starting at it.
        let from = self.next_row.min(rows.len());
        let after = from + rows[from..].partition_point(|r| r.first_tsid < *tsid);
        let start = after.saturating_sub(1).max(from);
        self.next_row = start;
        for (i, row) in rows.iter().enumerate().skip(start) {
            if row.first_tsid > *tsid {
                break;
            }
            if !self.range.overlaps(row.min_timestamp, row.max_timestamp) {
                continue;
            }
            if self.cached != Some(i) {
                self.cached = None;
                self.part.read_index_block(i, &mut self.headers)?;
                self.cached = Some(i);
            }
            let lo = self.headers.partition_point(|h| h.tsid < *tsid);
            for (j, h) in self.headers.iter().enumerate().skip(lo) {
                if h.tsid != *tsid {
                    break;
                }
                if self.range.overlaps(h.min_timestamp, h.max_timestamp) {
                    out.push(self.part.block(h, i, j));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inmemory_part::inmemory_part_from_rows;
    use crate::testutil::{row, tsid};

    #[test]
    fn finds_only_overlapping_blocks_of_asked_series_across_index_blocks() {
        // 600 series, one block each: three index blocks of up to 256 headers.
        let mut rows = Vec::new();
        for m in 0..600u64 {
            for i in 0..3 * crate::block::MAX_ROWS_PER_BLOCK as i64 / 1000 {
                rows.push(row(m, i * 1000, i as f64));
            }
        }
        let part = Arc::new(inmemory_part_from_rows(1, &mut rows, 0).unwrap());
        assert!(part.metaindex().len() > 1);
        let mut ids: Vec<Tsid> = [0u64, 5, 255, 256, 257, 599, 1000]
            .iter()
            .map(|&m| tsid(m))
            .collect();
        ids.sort();
        let mut s = PartSearch::new(Arc::clone(&part), TimeRange::new(5_000, 7_000));
        for id in &ids {
            let mut out = Vec::new();
            s.blocks_for(id, &mut out).unwrap();
            if id.metric_id == 1000 {
                assert!(out.is_empty());
                continue;
            }
            assert_eq!(out.len(), 1, "{id:?}");
            let (mut ts, mut vs) = (vec![], vec![]);
            out[0].decode_into(&mut ts, &mut vs).unwrap();
            assert!(ts.contains(&5_000) && ts.contains(&7_000));
            assert_eq!(out[0].tsid(), *id);
        }
        let mut none = PartSearch::new(part, TimeRange::new(-10, -1));
        let mut out = Vec::new();
        none.blocks_for(&tsid(5), &mut out).unwrap();
        assert!(out.is_empty());
    }
}
