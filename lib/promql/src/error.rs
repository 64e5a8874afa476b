//! Query errors: what went wrong while running a query, and how the HTTP layer should report it.

use crate::parser::ParseError;

/// A query limit from [`crate::EngineConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `max_series`: series selected by all selectors of one query (`-search.maxSeries`).
    MaxSeries,
    /// `max_samples`: raw samples loaded by one query (`-search.maxSamplesPerQuery`).
    MaxSamples,
    /// `max_points_per_series`: points per output series of a range query or subquery
    /// (`-search.maxPointsPerTimeseries`).
    MaxPointsPerSeries,
    /// `max_memory_bytes`: estimated memory one query may hold (`-search.maxMemoryPerQuery`).
    MaxMemory,
}

impl Limit {
    /// The configuration field that sets this limit.
    pub fn name(self) -> &'static str {
        match self {
            Limit::MaxSeries => "max_series",
            Limit::MaxSamples => "max_samples",
            Limit::MaxPointsPerSeries => "max_points_per_series",
            Limit::MaxMemory => "max_memory_bytes",
        }
    }
}

/// How the HTTP layer should classify an error (Prometheus `errorType` and status code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The query text or its parameters are invalid: `bad_data`, HTTP 400.
    BadData,
    /// The query is valid but cannot be evaluated (duplicate label sets, many-to-many matching,
    /// invalid function arguments at run time): `execution`, HTTP 422.
    Execution,
    /// The deadline passed: `timeout`, HTTP 503.
    Timeout,
    /// A resource limit was hit: `execution`, HTTP 422 (Prometheus reports too many samples so).
    Limit,
    /// The data source failed: `internal`, HTTP 500 (503 when a storage node is unavailable).
    Storage,
}

/// Everything that can make a query fail.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query does not parse or fails the parser's type checks.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Invalid query parameters (step, time range, expression type for a range query).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed with Prometheus's error text.
    #[error("{0}")]
    Execution(String),
    /// The query ran past its deadline.
    #[error("query timed out in {stage} (timeout {timeout_ms} ms)")]
    Timeout {
        /// What was running when the deadline passed.
        stage: &'static str,
        /// The configured timeout.
        timeout_ms: u64,
    },
    /// A configured limit was exceeded; the message names the limit.
    #[error("query exceeds limit {}={max}: {what}", .limit.name())]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The configured maximum.
        max: u64,
        /// What was being counted, with the number reached.
        what: String,
    },
    /// The data source returned an error.
    #[error("storage error: {0}")]
    Storage(String),
}

impl QueryError {
    /// The HTTP classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            QueryError::Parse(_) | QueryError::BadData(_) => ErrorKind::BadData,
            QueryError::Execution(_) => ErrorKind::Execution,
            QueryError::Timeout { .. } => ErrorKind::Timeout,
            QueryError::LimitExceeded { .. } => ErrorKind::Limit,
            QueryError::Storage(_) => ErrorKind::Storage,
        }
    }

    /// An execution error with Prometheus's message text.
    pub fn exec(msg: impl Into<String>) -> Self {
        QueryError::Execution(msg.into())
    }
}
