//! The storage engine: codecs, the mergeset series index, columnar data parts, the write-ahead
//! log, background merges, retention, deduplication and search. No networking.

pub mod metric_name;
pub mod tsid;

pub use tsid::{Tenant, Tsid};
