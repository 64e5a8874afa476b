//! The storage node's RPC services: inserts from vminsert, selects from vmselect, both over
//! [`tsdb::Storage`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rpc::error::{ErrorCode, ServiceError};
use rpc::messages::{
    self, BytesList, NameCount, SearchDone, SearchQuery, StringList, select_request,
    select_response,
};
use rpc::row_batch;
use rpc::series_chunk::SeriesChunkWriter;
use rpc::server::{ChunkSender, InsertService, SelectService};
use service::metrics::{Counter, Registry};
use tsdb::index::{LabelMatcher, MatchKind};
use tsdb::storage::{MetricRow, Storage};
use tsdb::{Tenant, TimeRange};

/// Shared state of the node's services.
pub struct Node {
    /// The storage engine.
    pub storage: Arc<Storage>,
    /// Inserts are refused while set (low free disk).
    pub read_only: AtomicBool,
    /// Inserts are refused while set (stopping).
    pub stopping: AtomicBool,
    /// Refuse searches that select more series (0: no limit).
    pub max_unique_timeseries: u64,
    rows_inserted: Arc<Counter>,
    insert_refused: Arc<Counter>,
    search_series: Arc<Counter>,
}

impl Node {
    /// The services over `storage`.
    pub fn new(storage: Arc<Storage>, max_unique_timeseries: u64, metrics: &Registry) -> Self {
        Self {
            storage,
            read_only: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            max_unique_timeseries,
            rows_inserted: metrics.counter("vm_vminsert_rows_inserted_total"),
            insert_refused: metrics.counter("vm_vminsert_batches_refused_total"),
            search_series: metrics.counter("vm_vmselect_series_sent_total"),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(ErrorCode::Internal, e.to_string())
}

impl InsertService for Node {
    fn insert(&self, batch: &[u8]) -> Result<u64, ServiceError> {
        if self.stopping.load(Ordering::Relaxed) {
            self.insert_refused.inc();
            return Err(ServiceError::new(
                ErrorCode::ShuttingDown,
                "storage node is stopping",
            ));
        }
        if self.read_only.load(Ordering::Relaxed) {
            self.insert_refused.inc();
            return Err(ServiceError::new(
                ErrorCode::ReadOnly,
                "storage node is read-only: free disk space is below -storage.minFreeDiskSpaceBytes",
            ));
        }
        let mut rows = Vec::with_capacity(batch.len() / 16);
        row_batch::decode(batch, |tenant, name, timestamp, value| {
            rows.push(MetricRow {
                tenant,
                name,
                timestamp,
                value,
            });
        })
        .map_err(|e| ServiceError::new(ErrorCode::InvalidRequest, e))?;
        self.storage.add_rows(&rows).map_err(internal)?;
        self.rows_inserted.add(rows.len() as u64);
        Ok(rows.len() as u64)
    }
}

/// Converts wire matchers to storage matchers.
pub fn matchers_from_wire(
    q: &SearchQuery,
) -> Result<(Tenant, Vec<LabelMatcher>, TimeRange), ServiceError> {
    let tenant = q.tenant.map(Tenant::from).unwrap_or_default();
    let matchers = q
        .matchers
        .iter()
        .map(|m| {
            let kind = match messages::MatchKind::try_from(m.kind) {
                Ok(messages::MatchKind::Equal) => MatchKind::Eq,
                Ok(messages::MatchKind::NotEqual) => MatchKind::Neq,
                Ok(messages::MatchKind::Regex) => MatchKind::Re,
                Ok(messages::MatchKind::NotRegex) => MatchKind::Nre,
                Err(_) => {
                    return Err(ServiceError::new(
                        ErrorCode::InvalidRequest,
                        format!("unknown matcher kind {}", m.kind),
                    ));
                }
            };
            Ok(LabelMatcher::new(m.name.clone(), kind, m.value.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if q.end_ms < q.start_ms {
        return Err(ServiceError::new(
            ErrorCode::InvalidRequest,
            format!("time range end {} is before start {}", q.end_ms, q.start_ms),
        ));
    }
    Ok((
        tenant,
        matchers,
        TimeRange {
            min_timestamp: q.start_ms,
            max_timestamp: q.end_ms,
        },
    ))
}

fn storage_error(e: tsdb::Error) -> ServiceError {
    match e {
        tsdb::Error::InvalidArgument(msg) => ServiceError::new(ErrorCode::InvalidRequest, msg),
        tsdb::Error::LimitExceeded { what, limit, .. } => ServiceError::new(
            ErrorCode::LimitExceeded,
            format!("{what}: over the limit of {limit} set by -search.maxUniqueTimeseries"),
        ),
        tsdb::Error::Closed => ServiceError::new(ErrorCode::ShuttingDown, "storage is closed"),
        other => internal(other),
    }
}

fn check_deadline(deadline: Instant) -> Result<(), ServiceError> {
    if Instant::now() > deadline {
        return Err(ServiceError::new(
            ErrorCode::Timeout,
            "search deadline passed on the storage node (-search.maxQueryDuration)",
        ));
    }
    Ok(())
}

fn query_of(q: Option<SearchQuery>) -> SearchQuery {
    q.unwrap_or(SearchQuery {
        start_ms: i64::MIN / 2,
        end_ms: i64::MAX / 2,
        ..SearchQuery::default()
    })
}

fn limit(n: u64) -> usize {
    if n == 0 { usize::MAX } else { n as usize }
}

impl SelectService for Node {
    fn select(
        &self,
        kind: select_request::Kind,
        deadline: Instant,
        chunks: &mut ChunkSender,
    ) -> Result<select_response::Kind, ServiceError> {
        let s = &self.storage;
        match kind {
            select_request::Kind::Search(q) => {
                let (tenant, matchers, range) = matchers_from_wire(&q)?;
                let max_series = match (q.max_series, self.max_unique_timeseries) {
                    (0, 0) => usize::MAX,
                    (0, m) | (m, 0) => m as usize,
                    (a, b) => a.min(b) as usize,
                };
                let mut search = s
                    .search(tenant, &matchers, range, max_series)
                    .map_err(storage_error)?;
                let mut w = SeriesChunkWriter::new();
                while let Some(found) = search.next_series() {
                    let found = found.map_err(storage_error)?;
                    w.push_blocks(&found.name, &found.blocks);
                    if w.is_full() {
                        check_deadline(deadline)?;
                        chunks.send(w.take())?;
                    }
                }
                if !w.is_empty() {
                    chunks.send(w.take())?;
                }
                let (series, blocks) = w.totals();
                self.search_series.add(series as u64);
                Ok(select_response::Kind::SearchDone(SearchDone {
                    series: series as u64,
                    blocks: blocks as u64,
                }))
            }
            select_request::Kind::LabelNames(r) => {
                let (tenant, matchers, range) = matchers_from_wire(&query_of(r.query))?;
                let values = s
                    .label_names(tenant, &matchers, range, limit(r.limit))
                    .map_err(storage_error)?;
                Ok(select_response::Kind::Strings(StringList { values }))
            }
            select_request::Kind::LabelValues(r) => {
                let (tenant, matchers, range) = matchers_from_wire(&query_of(r.query))?;
                let values = s
                    .label_values(tenant, &r.label_name, &matchers, range, limit(r.limit))
                    .map_err(storage_error)?;
                Ok(select_response::Kind::Strings(StringList { values }))
            }
            select_request::Kind::Series(r) => {
                let (tenant, matchers, range) = matchers_from_wire(&query_of(r.query))?;
                // The index knows series by day; Prometheus answers with the series that have
                // samples in the range. Keep only those with a block in the range.
                let max = limit(r.limit);
                let mut search = s
                    .search(tenant, &matchers, range, usize::MAX)
                    .map_err(storage_error)?;
                let mut values = Vec::new();
                while let Some(found) = search.next_series() {
                    let found = found.map_err(storage_error)?;
                    if !found.blocks.is_empty() {
                        values.push(found.name);
                    }
                    if values.len() % 1024 == 0 {
                        check_deadline(deadline)?;
                    }
                }
                values.sort_unstable();
                values.truncate(max);
                Ok(select_response::Kind::Series(BytesList { values }))
            }
            select_request::Kind::TsdbStatus(r) => {
                let (tenant, matchers, range) = matchers_from_wire(&query_of(r.query))?;
                let st = s
                    .tsdb_status(tenant, &matchers, range, r.top_n.max(1) as usize)
                    .map_err(storage_error)?;
                let list = |v: Vec<(String, u64)>| {
                    v.into_iter()
                        .map(|(name, count)| NameCount { name, count })
                        .collect()
                };
                Ok(select_response::Kind::TsdbStatus(messages::TsdbStatus {
                    total_series: st.total_series,
                    total_label_value_pairs: st.total_label_value_pairs,
                    series_count_by_metric_name: list(st.series_count_by_metric_name),
                    label_value_count_by_label_name: list(st.label_value_count_by_label_name),
                    series_count_by_label_value_pair: list(st.series_count_by_label_value_pair),
                }))
            }
            select_request::Kind::DeleteSeries(q) => {
                let (tenant, matchers, _) = matchers_from_wire(&q)?;
                let n = s.delete_series(tenant, &matchers).map_err(storage_error)?;
                Ok(select_response::Kind::Deleted(n))
            }
        }
    }
}
