//! The crate's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, Error)]
pub enum Error {
    /// An I/O call failed; `op` says what was being done.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done, e.g. `"open part"` or `"append to WAL segment"`.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Persisted bytes failed a check: a checksum, a bound, a magic number or a version.
    /// `path` names the file and `location` the block or record inside it.
    #[error("corrupt data in {path} at {location}: {what}")]
    Corruption {
        /// The file (or part directory) that holds the bad bytes.
        path: PathBuf,
        /// Where in the file: e.g. `"block 17 (offset 40960)"` or `"record at byte 812"`.
        location: String,
        /// What is wrong, with the numbers that matter.
        what: String,
    },
    /// The caller passed something the engine cannot take.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A request went over a configured limit.
    #[error("{what}: over the limit of {limit} set by {setting}")]
    LimitExceeded {
        /// What went over, with the count, e.g. `"the selector {job=\"a\"} matches 1234 series"`.
        what: String,
        /// The limit.
        limit: u64,
        /// The parameter or flag that sets it, e.g. `"max_series"`.
        setting: &'static str,
    },
    /// The storage was closed, or is closing, and takes no more calls.
    #[error("storage is closed")]
    Closed,
}

impl Error {
    /// Wraps an I/O error with what was being done and where.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds a located corruption error.
    pub fn corruption(
        path: impl Into<PathBuf>,
        location: impl Into<String>,
        what: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            path: path.into(),
            location: location.into(),
            what: what.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
