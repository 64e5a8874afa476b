//! The storage engine: codecs, the mergeset series index, columnar data parts, the write-ahead
//! log, background merges, retention, deduplication and search. No networking.

pub mod clock;
pub mod encoding;
pub mod error;
pub mod fs;
pub mod index;
pub mod mergeset;
pub mod metric_name;
pub mod tsid;
pub mod wal;

pub use error::{Error, Result};
pub use tsid::{Tenant, Tsid};
