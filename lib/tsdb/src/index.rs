//! The series index: a mergeset of items that map canonical names to series ids and back, and
//! label pairs to series ids, all time and per day. On it: registration (the per-row hot path),
//! label matching with Prometheus semantics, lookups for the query API, tsdb status, deletes.
//!
//! | module | question it answers |
//! | --- | --- |
//! | [`keys`] | how is each kind of item laid out? |
//! | [`matcher`] | what does a label matcher match? |
//! | [`regex_opt`] | which values must a regex look at? |
//! | [`id_set`] | how are sets of series ids combined? |
//! | [`tsid_cache`] | how does a known series cost one hash lookup? |
//! | [`deletes`] | which series are deleted, durably? |
//! | [`merge_hook`] | what do merges do to the index's items? |
//! | [`registration`] | how are new series registered by many threads at once? |
//! | [`index_db`] | how is the index opened, closed, and the hot path served? |
//! | [`search`] | how are matchers resolved to series and labels? |
//! | [`status`] | what is behind `/api/v1/status/tsdb`? |
//!
//! ## Using it from the storage
//! Per insert batch: [`IndexDb::get_or_create_tsids`] first (it appends new series to the
//! index's own WAL before it returns, so every Tsid it hands out survives a crash), then the
//! data WAL append of `(Tsid, timestamp, value)` rows, then the in-memory buffers. The index
//! flushes and trims its WAL on its own schedule; nothing ties it to the data WAL. Queries call
//! [`IndexDb::search_tsids`] with the query's time range and read the data of those Tsids
//! only (deleted series are already left out). Data merges hold [`IndexDb::deleted_ids`] and
//! drop rows whose `metric_id` it contains.

pub mod deletes;
pub mod id_set;
pub mod index_db;
pub mod keys;
pub mod matcher;
pub mod merge_hook;
pub mod regex_opt;
pub mod registration;
pub mod search;
pub mod status;
pub mod tsid_cache;

pub use index_db::{CachedLookup, IndexConfig, IndexDb, IndexStats, Row};
pub use matcher::{LabelMatcher, MatchKind};
pub use status::TsdbStatus;
