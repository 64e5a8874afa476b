//! The one k-way block merger. Background merges (parts → a part), flushes (in-memory parts →
//! a file part) and queries (one series' blocks from several parts or nodes → samples) all run
//! [`merge_blocks`]; retention, deletes and dedup are plain functions it calls.
//!
//! Laws, for sources that each yield blocks in (tsid, min_timestamp) order with the blocks of a
//! series not overlapping within a source:
//! - the sink receives series in ascending tsid order, and within a series samples in strictly
//!   ascending timestamp order, in blocks that do not overlap;
//! - the samples of a series are exactly the deduplicated ([`crate::dedup::dedup`]) union of its
//!   input samples inside `range`, or nothing when `is_deleted(metric_id)`;
//! - a block is passed through without decoding only when that changes nothing: it is in range,
//!   large, already deduplicated to a compatible interval, and overlaps no neighbour (nor shares
//!   a dedup bucket with one).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::block::{Block, MAX_ROWS_PER_BLOCK};
use crate::block_stream_reader::BlockStreamReader;
use crate::block_stream_writer::BlockStreamWriter;
use crate::dedup::{dedup, dedup_bucket};
use crate::error::{Error, Result};
use crate::time_range::TimeRange;
use crate::tsid::Tsid;

/// A stream of blocks in (tsid, min_timestamp) order.
pub trait BlockSource {
    /// The next block, or `None` at the end.
    fn next_block(&mut self) -> Result<Option<Block>>;
    /// The dedup interval every block is already deduplicated to, when known.
    fn deduplicated_to(&self) -> Option<i64>;
}

impl BlockSource for BlockStreamReader {
    fn next_block(&mut self) -> Result<Option<Block>> {
        BlockStreamReader::next_block(self)
    }
    fn deduplicated_to(&self) -> Option<i64> {
        Some(self.part().metadata().dedup_interval_ms)
    }
}

/// Blocks held in memory, e.g. one series' blocks received from several storage nodes.
#[derive(Debug)]
pub struct BlockListSource {
    blocks: std::vec::IntoIter<Block>,
}

impl BlockListSource {
    /// A source over `blocks`, sorted here by (tsid, min_timestamp).
    pub fn new(mut blocks: Vec<Block>) -> Self {
        blocks.sort_by_key(|b| (b.tsid(), b.header().min_timestamp));
        BlockListSource {
            blocks: blocks.into_iter(),
        }
    }
}

impl BlockSource for BlockListSource {
    fn next_block(&mut self) -> Result<Option<Block>> {
        Ok(self.blocks.next())
    }
    fn deduplicated_to(&self) -> Option<i64> {
        None
    }
}

/// Where merged output goes.
pub trait BlockSink {
    /// Takes a block that needs no change.
    fn write_block(&mut self, block: Block) -> Result<()>;
    /// Takes sorted, deduplicated samples of one series (at most [`MAX_ROWS_PER_BLOCK`]).
    fn write_samples(&mut self, tsid: Tsid, timestamps: &[i64], values: &[f64]) -> Result<()>;
}

/// Encodes merged output into a part.
#[derive(Debug)]
pub struct PartSink<W: Write> {
    /// The part being written.
    pub writer: BlockStreamWriter<W>,
    /// zstd level for new blocks.
    pub zstd_level: i32,
}

impl<W: Write> BlockSink for PartSink<W> {
    fn write_block(&mut self, mut block: Block) -> Result<()> {
        self.writer.write_block(&mut block)
    }
    fn write_samples(&mut self, tsid: Tsid, timestamps: &[i64], values: &[f64]) -> Result<()> {
        let mut block = Block::encode(tsid, timestamps, values, self.zstd_level);
        self.writer.write_block(&mut block)
    }
}

/// Collects merged samples (of one series, for queries).
#[derive(Debug)]
pub struct SampleSink<'a> {
    /// Timestamps out.
    pub timestamps: &'a mut Vec<i64>,
    /// Values out.
    pub values: &'a mut Vec<f64>,
}

impl BlockSink for SampleSink<'_> {
    fn write_block(&mut self, block: Block) -> Result<()> {
        block.decode_into(self.timestamps, self.values)
    }
    fn write_samples(&mut self, _tsid: Tsid, timestamps: &[i64], values: &[f64]) -> Result<()> {
        self.timestamps.extend_from_slice(timestamps);
        self.values.extend_from_slice(values);
        Ok(())
    }
}

/// What a merge keeps.
#[derive(Clone, Copy, Default)]
pub struct MergeParams<'a> {
    /// Samples outside are dropped (retention, or a query's range).
    pub range: TimeRange,
    /// Dedup interval; 0 collapses exact duplicate timestamps only.
    pub dedup_interval_ms: i64,
    /// Series whose `metric_id` this returns true for are dropped whole.
    pub is_deleted: Option<&'a (dyn Fn(u64) -> bool + Send + Sync)>,
    /// When set, the merge stops with [`Error::Closed`].
    pub stop: Option<&'a AtomicBool>,
}

/// What a merge did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Blocks read.
    pub blocks_in: u64,
    /// Samples read (decoded or passed through).
    pub rows_in: u64,
    /// Samples written.
    pub rows_out: u64,
    /// Blocks passed through without re-encoding.
    pub blocks_passed_through: u64,
    /// Samples dropped because their series is deleted.
    pub rows_deleted: u64,
    /// Samples dropped for lying outside the range.
    pub rows_outside_range: u64,
    /// Samples removed by deduplication.
    pub rows_deduplicated: u64,
}

#[derive(Default)]
struct Pending {
    tsid: Option<Tsid>,
    ts: Vec<i64>,
    vs: Vec<f64>,
    dec_ts: Vec<i64>,
    dec_vs: Vec<f64>,
    merged_ts: Vec<i64>,
    merged_vs: Vec<f64>,
}

impl Pending {
    /// Adds a decoded block's in-range samples.
    fn add(&mut self, block: &Block, p: &MergeParams<'_>, stats: &mut MergeStats) -> Result<()> {
        self.dec_ts.clear();
        self.dec_vs.clear();
        block.decode_into(&mut self.dec_ts, &mut self.dec_vs)?;
        let lo = self.dec_ts.partition_point(|&t| t < p.range.min_timestamp);
        let hi = self
            .dec_ts
            .partition_point(|&t| t <= p.range.max_timestamp)
            .max(lo);
        stats.rows_outside_range += (self.dec_ts.len() - (hi - lo)) as u64;
        let (ts, vs) = (&self.dec_ts[lo..hi], &self.dec_vs[lo..hi]);
        if ts.is_empty() {
            return Ok(());
        }
        if self.ts.last().is_none_or(|&last| last < ts[0]) {
            self.ts.extend_from_slice(ts);
            self.vs.extend_from_slice(vs);
        } else {
            merge_sorted(
                (&self.ts, &self.vs),
                (ts, vs),
                &mut self.merged_ts,
                &mut self.merged_vs,
            );
            std::mem::swap(&mut self.ts, &mut self.merged_ts);
            std::mem::swap(&mut self.vs, &mut self.merged_vs);
        }
        stats.rows_deduplicated += dedup(&mut self.ts, &mut self.vs, p.dedup_interval_ms) as u64;
        Ok(())
    }

    /// Writes full blocks of samples in buckets before `limit` (everything when `None`; then the
    /// tail may be a short block).
    fn emit(
        &mut self,
        limit: Option<i64>,
        interval: i64,
        sink: &mut dyn BlockSink,
        stats: &mut MergeStats,
    ) -> Result<()> {
        let Some(tsid) = self.tsid else {
            return Ok(());
        };
        let ready = match limit {
            None => self.ts.len(),
            Some(l) => self.ts.partition_point(|&t| dedup_bucket(t, interval) < l),
        };
        let mut done = 0;
        while ready - done >= MAX_ROWS_PER_BLOCK || (limit.is_none() && done < ready) {
            let n = (ready - done).min(MAX_ROWS_PER_BLOCK);
            sink.write_samples(tsid, &self.ts[done..done + n], &self.vs[done..done + n])?;
            stats.rows_out += n as u64;
            done += n;
        }
        self.ts.drain(..done);
        self.vs.drain(..done);
        Ok(())
    }
}

/// Merges two sorted runs into `out_ts`/`out_vs` (cleared first); equal timestamps keep both.
fn merge_sorted(
    a: (&[i64], &[f64]),
    b: (&[i64], &[f64]),
    out_ts: &mut Vec<i64>,
    out_vs: &mut Vec<f64>,
) {
    out_ts.clear();
    out_vs.clear();
    out_ts.reserve(a.0.len() + b.0.len());
    out_vs.reserve(a.0.len() + b.0.len());
    let (mut i, mut j) = (0, 0);
    while i < a.0.len() && j < b.0.len() {
        if a.0[i] <= b.0[j] {
            out_ts.push(a.0[i]);
            out_vs.push(a.1[i]);
            i += 1;
        } else {
            out_ts.push(b.0[j]);
            out_vs.push(b.1[j]);
            j += 1;
        }
    }
    out_ts.extend_from_slice(&a.0[i..]);
    out_vs.extend_from_slice(&a.1[i..]);
    out_ts.extend_from_slice(&b.0[j..]);
    out_vs.extend_from_slice(&b.1[j..]);
}

fn compatible_dedup(source: Option<i64>, wanted: i64) -> bool {
    match source {
        None => false,
        Some(_) if wanted <= 0 => true,
        Some(s) => s > 0 && s % wanted == 0,
    }
}

/// Merges `sources` into `sink` (see the module laws).
pub fn merge_blocks(
    sources: &mut [&mut dyn BlockSource],
    sink: &mut dyn BlockSink,
    p: &MergeParams<'_>,
) -> Result<MergeStats> {
    let mut stats = MergeStats::default();
    let mut heads: Vec<Option<Block>> = Vec::with_capacity(sources.len());
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, src) in sources.iter_mut().enumerate() {
        let head = src.next_block()?;
        if let Some(b) = &head {
            heap.push(Reverse((b.tsid(), b.header().min_timestamp, i)));
        }
        heads.push(head);
    }
    let interval = p.dedup_interval_ms.max(0);
    let mut pending = Pending::default();
    let mut deleted: Option<(Tsid, bool)> = None;
    while let Some(Reverse((tsid, _, i))) = heap.pop() {
        if p.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(Error::Closed);
        }
        let Some(block) = heads[i].take() else {
            panic!("internal invariant: heap entry without a head block");
        };
        heads[i] = sources[i].next_block()?;
        if let Some(b) = &heads[i] {
            let key = (b.tsid(), b.header().min_timestamp);
            if key < (tsid, block.header().min_timestamp) {
                return Err(block.corruption(format!(
                    "blocks out of order: {:?} at {} follows {:?} at {}",
                    key.0,
                    key.1,
                    tsid,
                    block.header().min_timestamp
                )));
            }
            heap.push(Reverse((key.0, key.1, i)));
        }
        let h = *block.header();
        stats.blocks_in += 1;
        stats.rows_in += u64::from(h.rows_count);

        let is_deleted = match deleted {
            Some((t, d)) if t == tsid => d,
            _ => {
                let d = p.is_deleted.is_some_and(|f| f(tsid.metric_id));
                deleted = Some((tsid, d));
                d
            }
        };
        if is_deleted {
            stats.rows_deleted += u64::from(h.rows_count);
            continue;
        }
        if pending.tsid != Some(tsid) {
            pending.emit(None, interval, sink, &mut stats)?;
            pending.tsid = Some(tsid);
        }
        if !p.range.overlaps(h.min_timestamp, h.max_timestamp) {
            stats.rows_outside_range += u64::from(h.rows_count);
            continue;
        }
        let next_min = heap
            .peek()
            .filter(|Reverse((t, _, _))| *t == tsid)
            .map(|Reverse((_, min, _))| *min);
        let pass_through = pending.ts.is_empty()
            && h.rows_count as usize >= MAX_ROWS_PER_BLOCK / 2
            && p.range.contains(h.min_timestamp)
            && p.range.contains(h.max_timestamp)
            && compatible_dedup(sources[i].deduplicated_to(), interval)
            && next_min.is_none_or(|m| {
                dedup_bucket(m, interval) > dedup_bucket(h.max_timestamp, interval)
            });
        if pass_through {
            stats.rows_out += u64::from(h.rows_count);
            stats.blocks_passed_through += 1;
            sink.write_block(block)?;
            continue;
        }
        pending.add(&block, p, &mut stats)?;
        // Every later block of this series starts at or after `next_min` (each source is sorted
        // and its next block is already in the heap). Without one, the series is complete.
        let limit = next_min.map(|m| dedup_bucket(m, interval));
        pending.emit(limit, interval, sink, &mut stats)?;
    }
    pending.emit(None, interval, sink, &mut stats)?;
    Ok(stats)
}

/// Merges blocks of one series (from several parts or several storage nodes, possibly
/// overlapping) into sorted, deduplicated samples in `range`, appended to `timestamps` and
/// `values`. The same code as background merges.
pub fn merge_series_blocks(
    blocks: Vec<Block>,
    range: TimeRange,
    dedup_interval_ms: i64,
    timestamps: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<MergeStats> {
    if let Some(first) = blocks.first()
        && let Some(other) = blocks.iter().find(|b| b.tsid() != first.tsid())
    {
        return Err(Error::InvalidArgument(format!(
            "merge_series_blocks takes blocks of one series, got {:?} and {:?}",
            first.tsid(),
            other.tsid()
        )));
    }
    let mut source = BlockListSource::new(blocks);
    let mut sink = SampleSink { timestamps, values };
    let params = MergeParams {
        range,
        dedup_interval_ms,
        ..MergeParams::default()
    };
    merge_blocks(&mut [&mut source], &mut sink, &params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::STALE_NAN_BITS;
    use crate::inmemory_part::{
        finish_inmemory_part, inmemory_part_from_rows, inmemory_part_writer,
    };
    use crate::raw_rows::Row;
    use crate::testutil::{row, samples, tsid};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// Merges `parts` into an in-memory part.
    fn merge_parts(
        parts: &[Arc<crate::part::Part>],
        p: &MergeParams<'_>,
    ) -> (Arc<crate::part::Part>, MergeStats) {
        let mut readers: Vec<BlockStreamReader> = parts
            .iter()
            .map(|p| BlockStreamReader::new(Arc::clone(p)))
            .collect();
        let mut sources: Vec<&mut dyn BlockSource> = readers
            .iter_mut()
            .map(|r| r as &mut dyn BlockSource)
            .collect();
        let mut sink = PartSink {
            writer: inmemory_part_writer(99, p.dedup_interval_ms),
            zstd_level: 1,
        };
        let stats = merge_blocks(&mut sources, &mut sink, p).unwrap();
        (
            Arc::new(finish_inmemory_part(99, sink.writer).unwrap()),
            stats,
        )
    }

    fn model(inputs: &[Vec<Row>], p: &MergeParams<'_>) -> Vec<(u64, i64, u64)> {
        let mut by_series: std::collections::BTreeMap<Tsid, (Vec<i64>, Vec<f64>)> =
            Default::default();
        let mut all: Vec<Row> = inputs.iter().flatten().copied().collect();
        all.sort_by_key(|r| (r.tsid, r.timestamp));
        for r in all {
            if p.is_deleted.is_some_and(|f| f(r.tsid.metric_id)) || !p.range.contains(r.timestamp) {
                continue;
            }
            let e = by_series.entry(r.tsid).or_default();
            e.0.push(r.timestamp);
            e.1.push(r.value);
        }
        let mut out = Vec::new();
        for (tsid, (mut ts, mut vs)) in by_series {
            dedup(&mut ts, &mut vs, p.dedup_interval_ms);
            out.extend(
                ts.iter()
                    .zip(&vs)
                    .map(|(t, v)| (tsid.metric_id, *t, v.to_bits())),
            );
        }
        out
    }

    #[test]
    fn overlapping_parts_merge_sorted_and_deduplicated() {
        let a = vec![row(1, 10, 1.0), row(1, 30, 3.0), row(2, 10, 5.0)];
        let b = vec![row(1, 20, 2.0), row(1, 30, 4.0), row(3, 5, 7.0)];
        let parts: Vec<_> = [a.clone(), b.clone()]
            .iter()
            .enumerate()
            .map(|(i, rows)| {
                Arc::new(inmemory_part_from_rows(i as u64, &mut rows.clone(), 0).unwrap())
            })
            .collect();
        let deleted = |m: u64| m == 3;
        let p = MergeParams {
            is_deleted: Some(&deleted),
            ..MergeParams::default()
        };
        let (merged, stats) = merge_parts(&parts, &p);
        assert_eq!(
            samples(&merged),
            vec![
                (1, 10, 1f64.to_bits()),
                (1, 20, 2f64.to_bits()),
                (1, 30, 4f64.to_bits()),
                (2, 10, 5f64.to_bits())
            ]
        );
        assert_eq!(stats.rows_deleted, 1);
        assert_eq!(stats.rows_deduplicated, 1);
        assert_eq!(stats.rows_out, 4);
    }

    #[test]
    fn large_disjoint_blocks_pass_through_and_small_ones_are_combined() {
        let n = MAX_ROWS_PER_BLOCK as i64;
        let mut old: Vec<Row> = (0..n).map(|i| row(1, i * 10, i as f64)).collect();
        let mut new: Vec<Row> = (n..n + 10).map(|i| row(1, i * 10, i as f64)).collect();
        let mut newer: Vec<Row> = (n + 10..n + 20).map(|i| row(1, i * 10, i as f64)).collect();
        let parts = [
            Arc::new(inmemory_part_from_rows(1, &mut old, 0).unwrap()),
            Arc::new(inmemory_part_from_rows(2, &mut new, 0).unwrap()),
            Arc::new(inmemory_part_from_rows(3, &mut newer, 0).unwrap()),
        ];
        let (merged, stats) = merge_parts(&parts, &MergeParams::default());
        assert_eq!(stats.blocks_passed_through, 1);
        assert_eq!(stats.rows_out as i64, n + 20);
        assert_eq!(
            merged.metadata().blocks_count,
            2,
            "the two small blocks become one"
        );
        assert_eq!(samples(&merged).len() as i64, n + 20);
        // With a dedup interval the parts were not deduplicated to, everything is decoded.
        let p = MergeParams {
            dedup_interval_ms: 20,
            ..MergeParams::default()
        };
        let (merged, stats) = merge_parts(&parts, &p);
        assert_eq!(stats.blocks_passed_through, 0);
        assert_eq!(samples(&merged).len() as i64, (n + 20) / 2);
    }

    #[test]
    fn merge_series_blocks_refuses_mixed_series_and_merges_one() {
        let b1 = Block::encode(tsid(1), &[1, 2, 3], &[1.0, 2.0, 3.0], 0);
        let b2 = Block::encode(tsid(1), &[3, 4], &[9.0, 4.0], 0);
        let b3 = Block::encode(tsid(2), &[1], &[1.0], 0);
        let (mut ts, mut vs) = (vec![], vec![]);
        merge_series_blocks(
            vec![b2.clone(), b1.clone()],
            TimeRange::new(2, 10),
            0,
            &mut ts,
            &mut vs,
        )
        .unwrap();
        assert_eq!(ts, vec![2, 3, 4]);
        assert_eq!(vs, vec![2.0, 9.0, 4.0]);
        let err =
            merge_series_blocks(vec![b1, b3], TimeRange::ALL, 0, &mut ts, &mut vs).unwrap_err();
        assert!(err.to_string().contains("one series"), "{err}");
    }

    fn arb_value() -> impl Strategy<Value = f64> {
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            2.5,
            f64::NAN,
            f64::from_bits(STALE_NAN_BITS),
            1e300,
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn merge_equals_the_deduplicated_union(
            inputs in prop::collection::vec(
                prop::collection::vec((0u64..5, -100i64..100, arb_value()), 0..60), 1..5),
            range in (-120i64..60, -40i64..120),
            interval in prop::sample::select(vec![0i64, 1, 7, 10]),
            delete in any::<bool>(),
        ) {
            let inputs: Vec<Vec<Row>> = inputs.iter()
                .map(|rs| rs.iter().map(|&(m, t, v)| row(m, t, v)).collect())
                .collect();
            let parts: Vec<_> = inputs.iter().enumerate()
                .map(|(i, rs)| Arc::new(inmemory_part_from_rows(i as u64, &mut rs.clone(), 0).unwrap()))
                .collect();
            let deleted = |m: u64| m == 4;
            let p = MergeParams {
                range: TimeRange::new(range.0, range.1),
                dedup_interval_ms: interval,
                is_deleted: if delete { Some(&deleted) } else { None },
                stop: None,
            };
            let (merged, stats) = merge_parts(&parts, &p);
            let want = model(&inputs, &p);
            prop_assert_eq!(stats.rows_out as usize, want.len());
            prop_assert_eq!(samples(&merged), want);
        }
    }
}
