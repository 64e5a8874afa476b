//! The storage engine: codecs, the mergeset series index, columnar data parts, the write-ahead
//! log, background merges, retention, deduplication and search. No networking.

pub mod block;
pub mod block_header;
pub mod block_stream_reader;
pub mod block_stream_writer;
pub mod clock;
pub mod dedup;
pub mod encoding;
pub mod error;
pub mod filenames;
pub mod fs;
pub mod index;
pub mod inmemory_part;
pub mod merge;
pub mod merge_policy;
pub mod mergeset;
pub mod metric_name;
pub mod part;
pub mod part_search;
pub mod partition;
pub mod raw_rows;
pub mod retention;
pub mod row_buf;
pub mod storage;
pub mod table;
pub mod table_search;
pub mod time_range;
pub mod tsid;
pub mod wal;

#[cfg(test)]
mod testutil;

pub use block::Block;
pub use dedup::dedup;
pub use error::{Error, Result};
pub use merge::merge_series_blocks;
pub use raw_rows::Row;
pub use table::{IsDeleted, Table, TableConfig, TableStats};
pub use table_search::{SeriesBlocks, TableSearch};
pub use time_range::TimeRange;
pub use tsid::{Tenant, Tsid};
pub use wal::FsyncMode;
