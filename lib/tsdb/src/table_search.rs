//! Streams the blocks of requested series, in tsid order, from every part of every partition
//! that overlaps the time range, without loading whole parts.

use std::sync::Arc;

use crate::block::Block;
use crate::error::Result;
use crate::merge::{MergeStats, merge_series_blocks};
use crate::part::Part;
use crate::part_search::PartSearch;
use crate::table::TableConfig;
use crate::time_range::TimeRange;
use crate::tsid::Tsid;

/// The blocks of one series overlapping a search's range: raw, possibly overlapping (from
/// several parts), in no particular order. Ship them as they are ([`Block::to_bytes`]) or turn
/// them into samples with [`SeriesBlocks::merge_into`].
#[derive(Clone, Debug)]
pub struct SeriesBlocks {
    /// The series.
    pub tsid: Tsid,
    /// Its blocks.
    pub blocks: Vec<Block>,
}

impl SeriesBlocks {
    /// Merges the blocks into sorted samples in `range`, deduplicated to `dedup_interval_ms`
    /// (the merge used by background merges), appending them to `timestamps` and `values`.
    pub fn merge_into(
        self,
        range: TimeRange,
        dedup_interval_ms: i64,
        timestamps: &mut Vec<i64>,
        values: &mut Vec<f64>,
    ) -> Result<MergeStats> {
        merge_series_blocks(self.blocks, range, dedup_interval_ms, timestamps, values)
    }
}

/// A search over a table: [`TableSearch::next_series`] yields each requested series that has
/// samples in the range, in ascending tsid order; series without blocks are skipped.
#[derive(Debug)]
pub struct TableSearch<'a> {
    config: &'a TableConfig,
    tsids: std::vec::IntoIter<Tsid>,
    range: TimeRange,
    parts: Vec<PartSearch>,
}

impl<'a> TableSearch<'a> {
    pub(crate) fn new(
        config: &'a TableConfig,
        tsids: Vec<Tsid>,
        range: TimeRange,
        parts: Vec<Arc<Part>>,
    ) -> Self {
        let parts = parts
            .into_iter()
            .map(|p| PartSearch::new(p, range))
            .collect();
        TableSearch {
            config,
            tsids: tsids.into_iter(),
            range,
            parts,
        }
    }

    /// The range searched: the requested one, less what the retention hides.
    pub fn range(&self) -> TimeRange {
        self.range
    }

    /// The table's dedup interval, to pass to [`SeriesBlocks::merge_into`].
    pub fn dedup_interval_ms(&self) -> i64 {
        self.config.dedup_interval_ms
    }

    /// Parts the search reads.
    pub fn parts_count(&self) -> usize {
        self.parts.len()
    }

    /// The next series with blocks in the range, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next_series(&mut self) -> Option<Result<SeriesBlocks>> {
        for tsid in self.tsids.by_ref() {
            if self
                .config
                .is_deleted
                .as_ref()
                .is_some_and(|f| f(tsid.metric_id))
            {
                continue;
            }
            let mut blocks = Vec::new();
            for p in &mut self.parts {
                if let Err(e) = p.blocks_for(&tsid, &mut blocks) {
                    return Some(Err(e));
                }
            }
            if !blocks.is_empty() {
                return Some(Ok(SeriesBlocks { tsid, blocks }));
            }
        }
        None
    }

    /// The next series' samples, merged and deduplicated, appended to `timestamps` and `values`
    /// (cleared first). Series whose blocks hold no sample in the range are skipped.
    pub fn next_samples(
        &mut self,
        timestamps: &mut Vec<i64>,
        values: &mut Vec<f64>,
    ) -> Option<Result<Tsid>> {
        loop {
            timestamps.clear();
            values.clear();
            let series = match self.next_series()? {
                Ok(s) => s,
                Err(e) => return Some(Err(e)),
            };
            let tsid = series.tsid;
            if let Err(e) = series.merge_into(
                self.range,
                self.config.dedup_interval_ms,
                timestamps,
                values,
            ) {
                return Some(Err(e));
            }
            if !timestamps.is_empty() {
                return Some(Ok(tsid));
            }
        }
    }
}
