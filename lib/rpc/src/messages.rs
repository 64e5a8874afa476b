//! Control messages, encoded with protobuf (prost). Bulk data (rows, series blocks) uses the
//! compact binary encodings of [`crate::row_batch`] and [`crate::series_chunk`] instead.

use prost::Message;

/// Acknowledges an insert request: every row is in the storage node's WAL.
#[derive(Clone, PartialEq, Message)]
pub struct InsertAck {
    /// Rows accepted.
    #[prost(uint64, tag = "1")]
    pub rows: u64,
}

/// An error answer; ends the call.
#[derive(Clone, PartialEq, Message)]
pub struct ErrorMessage {
    /// An [`crate::ErrorCode`] as a number.
    #[prost(uint32, tag = "1")]
    pub code: u32,
    /// What went wrong, for humans.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// A tenant.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Tenant {
    /// accountID.
    #[prost(uint32, tag = "1")]
    pub account_id: u32,
    /// projectID.
    #[prost(uint32, tag = "2")]
    pub project_id: u32,
}

/// The kind of a label matcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MatchKind {
    /// `=`
    Equal = 0,
    /// `!=`
    NotEqual = 1,
    /// `=~` (fully anchored)
    Regex = 2,
    /// `!~` (fully anchored)
    NotRegex = 3,
}

/// A label matcher.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Matcher {
    /// Label name (`__name__` for the metric name).
    #[prost(string, tag = "1")]
    pub name: String,
    /// A [`MatchKind`].
    #[prost(enumeration = "MatchKind", tag = "2")]
    pub kind: i32,
    /// The value or regex.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// A series filter: tenant, the matchers of one selector, and a time range (inclusive, ms).
#[derive(Clone, PartialEq, Message)]
pub struct SearchQuery {
    /// The tenant searched.
    #[prost(message, optional, tag = "1")]
    pub tenant: Option<Tenant>,
    /// All must match.
    #[prost(message, repeated, tag = "2")]
    pub matchers: Vec<Matcher>,
    /// Range start, ms.
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    /// Range end, ms.
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    /// Refuse with `LimitExceeded` when more series match (0 = no limit).
    #[prost(uint64, tag = "5")]
    pub max_series: u64,
}

/// A select call.
#[derive(Clone, PartialEq, Message)]
pub struct SelectRequest {
    /// Time the server may spend, in ms from receipt; 0 = the server's default.
    #[prost(uint64, tag = "1")]
    pub timeout_ms: u64,
    /// What to do.
    #[prost(oneof = "select_request::Kind", tags = "2, 3, 4, 5, 6, 7")]
    pub kind: Option<select_request::Kind>,
}

/// The kinds of select calls.
pub mod select_request {
    /// What a select call asks for.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// Series with their raw blocks: answered with series chunks then a `SelectResponse`
        /// with `search_done`.
        #[prost(message, tag = "2")]
        Search(super::SearchQuery),
        /// Label names.
        #[prost(message, tag = "3")]
        LabelNames(super::LabelNamesRequest),
        /// Values of one label.
        #[prost(message, tag = "4")]
        LabelValues(super::LabelValuesRequest),
        /// Series names (canonical encodings) without samples.
        #[prost(message, tag = "5")]
        Series(super::SeriesRequest),
        /// Cardinality statistics.
        #[prost(message, tag = "6")]
        TsdbStatus(super::TsdbStatusRequest),
        /// Delete matching series.
        #[prost(message, tag = "7")]
        DeleteSeries(super::SearchQuery),
    }
}

/// Label names of the series that match.
#[derive(Clone, PartialEq, Message)]
pub struct LabelNamesRequest {
    /// Filter; no matchers means every series of the tenant in the range.
    #[prost(message, optional, tag = "1")]
    pub query: Option<SearchQuery>,
    /// At most this many names (0 = no limit).
    #[prost(uint64, tag = "2")]
    pub limit: u64,
}

/// Values of one label over the series that match.
#[derive(Clone, PartialEq, Message)]
pub struct LabelValuesRequest {
    /// Filter.
    #[prost(message, optional, tag = "1")]
    pub query: Option<SearchQuery>,
    /// The label.
    #[prost(string, tag = "2")]
    pub label_name: String,
    /// At most this many values (0 = no limit).
    #[prost(uint64, tag = "3")]
    pub limit: u64,
}

/// Series names that match.
#[derive(Clone, PartialEq, Message)]
pub struct SeriesRequest {
    /// Filter.
    #[prost(message, optional, tag = "1")]
    pub query: Option<SearchQuery>,
    /// At most this many series (0 = no limit).
    #[prost(uint64, tag = "2")]
    pub limit: u64,
}

/// Cardinality statistics.
#[derive(Clone, PartialEq, Message)]
pub struct TsdbStatusRequest {
    /// Filter (the range selects the days counted).
    #[prost(message, optional, tag = "1")]
    pub query: Option<SearchQuery>,
    /// How many top entries per list.
    #[prost(uint64, tag = "2")]
    pub top_n: u64,
}

/// A name and a count.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct NameCount {
    /// The name (a metric name, a label name, or `name=value`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// The count.
    #[prost(uint64, tag = "2")]
    pub count: u64,
}

/// Cardinality statistics as `/api/v1/status/tsdb` reports them.
#[derive(Clone, PartialEq, Message)]
pub struct TsdbStatus {
    /// Series in the range.
    #[prost(uint64, tag = "1")]
    pub total_series: u64,
    /// Top metric names by series count.
    #[prost(message, repeated, tag = "2")]
    pub series_count_by_metric_name: Vec<NameCount>,
    /// Top label names by number of distinct values.
    #[prost(message, repeated, tag = "3")]
    pub label_value_count_by_label_name: Vec<NameCount>,
    /// Top `name=value` pairs by series count.
    #[prost(message, repeated, tag = "4")]
    pub series_count_by_label_value_pair: Vec<NameCount>,
    /// Total label-value pairs.
    #[prost(uint64, tag = "5")]
    pub total_label_value_pairs: u64,
}

/// The final answer of a select call.
#[derive(Clone, PartialEq, Message)]
pub struct SelectResponse {
    /// The answer, by kind of call.
    #[prost(oneof = "select_response::Kind", tags = "1, 2, 3, 4, 5")]
    pub kind: Option<select_response::Kind>,
}

/// The kinds of select answers.
pub mod select_response {
    /// A select answer.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// End of a search: totals of what was streamed.
        #[prost(message, tag = "1")]
        SearchDone(super::SearchDone),
        /// Label names or label values.
        #[prost(message, tag = "2")]
        Strings(super::StringList),
        /// Series names: canonical label-set encodings.
        #[prost(message, tag = "3")]
        Series(super::BytesList),
        /// Cardinality statistics.
        #[prost(message, tag = "4")]
        TsdbStatus(super::TsdbStatus),
        /// Series deleted.
        #[prost(uint64, tag = "5")]
        Deleted(u64),
    }
}

/// Totals of a search.
#[derive(Clone, PartialEq, Message)]
pub struct SearchDone {
    /// Series sent.
    #[prost(uint64, tag = "1")]
    pub series: u64,
    /// Blocks sent.
    #[prost(uint64, tag = "2")]
    pub blocks: u64,
}

/// A list of strings.
#[derive(Clone, PartialEq, Message)]
pub struct StringList {
    /// The strings.
    #[prost(string, repeated, tag = "1")]
    pub values: Vec<String>,
}

/// A list of byte strings.
#[derive(Clone, PartialEq, Message)]
pub struct BytesList {
    /// The byte strings.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub values: Vec<Vec<u8>>,
}

/// Decodes a protobuf message, mapping the error to a protocol message.
pub fn decode<M: Message + Default>(bytes: &[u8], what: &str) -> Result<M, String> {
    M::decode(bytes).map_err(|e| format!("cannot decode {what}: {e}"))
}

impl From<tsdb::Tenant> for Tenant {
    fn from(t: tsdb::Tenant) -> Self {
        Tenant {
            account_id: t.account_id,
            project_id: t.project_id,
        }
    }
}

impl From<Tenant> for tsdb::Tenant {
    fn from(t: Tenant) -> Self {
        tsdb::Tenant::new(t.account_id, t.project_id)
    }
}
