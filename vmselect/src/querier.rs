//! The query engine's view of the cluster: `promql::Querier` over a fan-out search, merging
//! each series' blocks from every node and de-duplicating samples.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use promql::{LabelMatcher, Labels, MatchKind, Querier, QueryError, SelectHints, Series};
use rpc::messages::{self, SearchQuery, select_request};
use rpc::{ErrorCode, RpcError};
use tsdb::Tenant;

use crate::cluster::{Cluster, FanoutError};
use crate::search::{SearchChunks, SeriesSet};

/// One query's access to the cluster. Remembers whether any select was partial.
pub struct ClusterQuerier<'a> {
    /// The storage nodes.
    pub cluster: &'a Cluster,
    /// Whose data.
    pub tenant: Tenant,
    /// Runtime that drives the node calls (the querier runs on a blocking thread).
    pub handle: tokio::runtime::Handle,
    /// When the query must be done.
    pub deadline: Instant,
    /// Fail instead of answering partially.
    pub deny_partial: bool,
    /// Query-time de-duplication interval (0: exact duplicates only).
    pub dedup_interval_ms: i64,
    /// Series limit passed to storage nodes (0: none).
    pub max_series: u64,
    /// Set when a select was answered without some nodes.
    pub partial: AtomicBool,
}

impl ClusterQuerier<'_> {
    /// Whether some answer was built without all nodes.
    pub fn is_partial(&self) -> bool {
        self.partial.load(Ordering::Relaxed)
    }

    fn remaining(&self) -> Result<Duration, QueryError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(QueryError::Timeout {
                stage: "storage search",
                timeout_ms: 0,
            });
        }
        Ok(left)
    }

    /// Fetches the raw blocks of every matching series from every node ([`SearchChunks`]
    /// sorts each chunk as it arrives, [`SearchChunks::into_set`] merges them).
    pub fn search_blocks(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<SearchChunks, QueryError> {
        let query = search_query(self.tenant, matchers, start_ms, end_ms, self.max_series);
        let request = Cluster::request(select_request::Kind::Search(query));
        let collected: Mutex<SearchChunks> = Mutex::new(SearchChunks::default());
        let on_chunk = |_node: usize, chunk: Vec<u8>| -> Result<(), RpcError> {
            collected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(chunk)
                .map_err(|message| RpcError::Protocol {
                    node: "storage".into(),
                    message,
                })
        };
        let timeout = self.remaining()?;
        let fanout = self
            .handle
            .block_on(
                self.cluster
                    .call(&request, timeout, self.deny_partial, &on_chunk),
            )
            .map_err(fanout_error)?;
        if fanout.is_partial {
            self.partial.store(true, Ordering::Relaxed);
        }
        Ok(collected.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Querier for ClusterQuerier<'_> {
    fn select<'a>(
        &'a self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
        _hints: &SelectHints,
        sink: &mut dyn FnMut(Series<'a>) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let mut set = self.search_blocks(matchers, start_ms, end_ms)?.into_set();
        // Step by step, so that a limit the sink enforces stops the select early and each
        // step's raw blocks are freed before the next: the query never holds all raw blocks
        // and all decoded samples at once.
        for first in (0..set.len()).step_by(DECODE_STEP_SERIES) {
            let step = first..set.len().min(first + DECODE_STEP_SERIES);
            let decoded =
                decode_series(&set, step.clone(), start_ms, end_ms, self.dedup_interval_ms)?;
            set.release_before(step.end);
            for (labels, timestamps, values) in decoded.into_iter().flatten() {
                sink(Series {
                    labels,
                    timestamps: timestamps.into(),
                    values: values.into(),
                })?;
            }
        }
        Ok(())
    }
}

/// One series decoded: labels and samples, or `None` when no sample falls in the range.
type DecodedSeries = Option<(Labels, Vec<i64>, Vec<f64>)>;

/// Series decoded per step of a select.
const DECODE_STEP_SERIES: usize = 4096;

/// Series below this are decoded on the calling thread: starting threads would cost more.
const MIN_SERIES_PER_THREAD: usize = 256;

/// Decodes the labels and blocks of the series `which` of `set` into samples in
/// `[start_ms, end_ms]`, in name order, spread over the machine's cores (block decoding is
/// most of a heavy select's time).
fn decode_series(
    set: &SeriesSet,
    which: std::ops::Range<usize>,
    start_ms: i64,
    end_ms: i64,
    dedup_interval_ms: i64,
) -> Result<Vec<DecodedSeries>, QueryError> {
    let decode_one = |i: usize| -> Result<DecodedSeries, QueryError> {
        let mut blocks = set.blocks(i);
        let (timestamps, values) = match (blocks.len(), blocks.next()) {
            (1, Some(one)) => merge_blocks(&[one], start_ms, end_ms, dedup_interval_ms)?,
            (_, first) => {
                let all: Vec<&[u8]> = first.into_iter().chain(blocks).collect();
                merge_blocks(&all, start_ms, end_ms, dedup_interval_ms)?
            }
        };
        let name = set.name(i);
        if timestamps.is_empty() {
            return Ok(None);
        }
        Ok(Some((decode_labels(name)?, timestamps, values)))
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(which.len() / MIN_SERIES_PER_THREAD)
        .max(1);
    if threads == 1 {
        return which.map(decode_one).collect();
    }
    let per_thread = which.len().div_ceil(threads);
    let parts: Vec<Result<Vec<DecodedSeries>, QueryError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (which.start..which.end)
            .step_by(per_thread)
            .map(|first| {
                let part = first..which.end.min(first + per_thread);
                s.spawn(move || part.map(decode_one).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(QueryError::Storage(
                        "a block decoding thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(which.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// Maps a fan-out failure to a query error: refusals (limits) are execution errors (422),
/// unavailability is a storage error (503).
pub fn fanout_error(e: FanoutError) -> QueryError {
    match e {
        FanoutError::Refused(msg, ErrorCode::InvalidRequest) => QueryError::BadData(msg),
        FanoutError::Refused(msg, _) => QueryError::Execution(msg),
        FanoutError::Unavailable(msg) => QueryError::Storage(msg),
        FanoutError::Timeout(_) => QueryError::Timeout {
            stage: "storage search",
            timeout_ms: 0,
        },
    }
}

/// Builds the wire form of a selector.
pub fn search_query(
    tenant: Tenant,
    matchers: &[LabelMatcher],
    start_ms: i64,
    end_ms: i64,
    max_series: u64,
) -> SearchQuery {
    SearchQuery {
        tenant: Some(tenant.into()),
        matchers: matchers
            .iter()
            .map(|m| messages::Matcher {
                name: m.name.clone(),
                kind: match m.kind {
                    MatchKind::Eq => messages::MatchKind::Equal,
                    MatchKind::Neq => messages::MatchKind::NotEqual,
                    MatchKind::Re => messages::MatchKind::Regex,
                    MatchKind::Nre => messages::MatchKind::NotRegex,
                } as i32,
                value: m.value.clone(),
            })
            .collect(),
        start_ms,
        end_ms,
        max_series,
    }
}

/// Decodes a canonical label-set encoding into engine labels.
pub fn decode_labels(raw: &[u8]) -> Result<Labels, QueryError> {
    let labels = tsdb::metric_name::decode(raw)
        .map_err(|e| QueryError::Storage(format!("storage sent a malformed series name: {e}")))?;
    Ok(Labels::from_sorted_pairs(
        labels.iter().map(|l| (l.name, l.value)),
    ))
}

/// Decodes the blocks of one series (from any nodes, in any order, possibly overlapping) into
/// sorted samples in `[start_ms, end_ms]`, de-duplicated to `dedup_interval_ms`.
pub fn merge_blocks<B: AsRef<[u8]>>(
    blocks: &[B],
    start_ms: i64,
    end_ms: i64,
    dedup_interval_ms: i64,
) -> Result<(Vec<i64>, Vec<f64>), QueryError> {
    let range = tsdb::TimeRange {
        min_timestamp: start_ms,
        max_timestamp: end_ms,
    };
    if let [raw] = blocks {
        // One block (one node, one part): copy out only the samples in range.
        let (mut timestamps, mut values) = (Vec::new(), Vec::new());
        tsdb::Block::decode_serialized_range(raw.as_ref(), range, &mut timestamps, &mut values)
            .map_err(|e| QueryError::Storage(format!("storage sent a bad block: {e}")))?;
        tsdb::dedup(&mut timestamps, &mut values, dedup_interval_ms);
        return Ok((timestamps, values));
    }
    let mut decoded = Vec::with_capacity(blocks.len());
    for raw in blocks {
        let (mut block, _) = tsdb::Block::from_bytes(raw.as_ref())
            .map_err(|e| QueryError::Storage(format!("storage sent a bad block: {e}")))?;
        // Nodes number series independently: give every copy the same id before merging.
        block.retag(tsdb::Tsid::default());
        decoded.push(block);
    }
    let (mut timestamps, mut values) = (Vec::new(), Vec::new());
    tsdb::merge_series_blocks(
        decoded,
        range,
        dedup_interval_ms,
        &mut timestamps,
        &mut values,
    )
    .map_err(|e| QueryError::Storage(format!("cannot merge blocks: {e}")))?;
    Ok((timestamps, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serialized(timestamps: &[i64], values: &[f64]) -> Vec<u8> {
        let block = tsdb::Block::encode(tsdb::Tsid::default(), timestamps, values, 1);
        let mut out = Vec::new();
        block.to_bytes(&mut out);
        out
    }

    /// One block takes the in-place path, two copies of it the general merge: both give the
    /// same samples for every range and dedup interval, and a damaged block is an error.
    #[test]
    fn one_block_fast_path_equals_the_general_merge() {
        let timestamps: Vec<i64> = (0..500).map(|i| 1_000 + i * 15_000 + i % 7).collect();
        let values: Vec<f64> = (0..500).map(|i| f64::from(i) * 1.5).collect();
        let raw = serialized(&timestamps, &values);
        let two = [raw.clone(), raw.clone()];
        for (start, end) in [
            (i64::MIN, i64::MAX),
            (0, 1_000),
            (1_000, 1_000),
            (100_000, 3_000_000),
            (5_000_000, 9_000_000),
            (9_000_000, 10_000_000),
        ] {
            for dedup in [0, 20_000, 60_000] {
                let fast = merge_blocks(std::slice::from_ref(&raw), start, end, dedup).unwrap();
                let general = merge_blocks(&two, start, end, dedup).unwrap();
                assert_eq!(fast, general, "range {start}..={end}, dedup {dedup}");
                assert!(fast.0.iter().all(|t| (start..=end).contains(t)));
            }
        }
        let mut bad = raw.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        assert!(merge_blocks(&[bad], i64::MIN, i64::MAX, 0).is_err());
        assert!(merge_blocks(&[raw[..raw.len() - 3].to_vec()], i64::MIN, i64::MAX, 0).is_err());
    }
}
