//! A mergeset: a log-structured merge tree of sorted byte items that knows nothing about
//! metrics. The series index is built on it.
//!
//! Items are added to a WAL and a pending buffer, become sorted in-memory parts, then immutable
//! file parts (blocks of prefix-compressed, zstd-compressed items with a block index and a
//! metaindex, every block checksummed) that background merges combine. A merge passes every
//! block through an optional [`PrepareBlock`] hook, the only plug-in point. Searches seek and
//! scan by prefix over a snapshot of the parts. The file format is in `docs/index-format.md`.
//!
//! | module | question it answers |
//! | --- | --- |
//! | [`items`] | how is a run of items held in memory? |
//! | [`item_block`] | how is a block of sorted items compressed? |
//! | [`part`] | how is a file part written and read? |
//! | [`part_search`] | how does one walk a part in order? |
//! | [`table_search`] | how does one search all parts at once? |
//! | [`merge`] | how are parts merged, and where does the hook run? |
//! | [`table`] | how do items flow from `add_items` to merged file parts, crash-safely? |

pub mod block_cache;
pub mod item_block;
pub mod items;
pub mod manifest;
pub mod merge;
pub mod part;
pub mod part_search;
pub mod table;
pub mod table_search;

pub use items::Items;
pub use merge::PrepareBlock;
pub use table::{Config, Table, TableStats};
pub use table_search::TableSearch;

/// Data blocks of a part.
pub const ITEMS_FILE: &str = "items.bin";
/// Index blocks (block headers) of a part.
pub const INDEX_FILE: &str = "index.bin";
/// The metaindex of a part: counts, file lengths and one entry per index block.
pub const METAINDEX_FILE: &str = "metaindex.bin";
/// The list of a table's file parts.
pub const MANIFEST_FILE: &str = "parts.bin";
/// The table's write-ahead log directory.
pub const WAL_DIR: &str = "wal";
