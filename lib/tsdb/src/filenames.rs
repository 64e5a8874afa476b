//! Every file and directory name of the data path, in one place.
//!
//! ```text
//! <table dir>/
//!   flock.lock                 held while the table is open
//!   wal/<16 hex>.wal           write-ahead log segments (crate::wal)
//!   data/YYYY_MM/              one partition per UTC month
//!     parts.manifest           the parts that make up the partition
//!     <16 hex part id>/        one immutable part
//!       metadata.bin timestamps.bin values.bin index.bin metaindex.bin
//! ```

/// Lock file in the table directory: one process at a time.
pub const LOCK_FILE: &str = "flock.lock";
/// Directory of the table's write-ahead log.
pub const WAL_DIR: &str = "wal";
/// Directory holding the partitions.
pub const DATA_DIR: &str = "data";
/// The partition manifest: which part directories are live.
pub const MANIFEST_FILE: &str = "parts.manifest";
/// Part file: fixed-size part metadata with a checksum.
pub const METADATA_FILE: &str = "metadata.bin";
/// Part file: encoded timestamps of every block.
pub const TIMESTAMPS_FILE: &str = "timestamps.bin";
/// Part file: encoded values of every block.
pub const VALUES_FILE: &str = "values.bin";
/// Part file: zstd-compressed blocks of block headers.
pub const INDEX_FILE: &str = "index.bin";
/// Part file: one row per index block, zstd-compressed, read whole at open.
pub const METAINDEX_FILE: &str = "metaindex.bin";
/// Files of a part, in the order they are written.
pub const PART_FILES: [&str; 5] = [
    TIMESTAMPS_FILE,
    VALUES_FILE,
    INDEX_FILE,
    METAINDEX_FILE,
    METADATA_FILE,
];

/// The directory name of part `id`: 16 lowercase hex digits, so names sort by id.
pub fn part_dir_name(id: u64) -> String {
    format!("{id:016x}")
}

/// Parses a part directory name written by [`part_dir_name`].
pub fn parse_part_dir_name(name: &str) -> Option<u64> {
    if name.len() != 16 {
        return None;
    }
    u64::from_str_radix(name, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip_and_sort_by_id() {
        assert_eq!(part_dir_name(0x2a), "000000000000002a");
        assert_eq!(parse_part_dir_name("000000000000002a"), Some(42));
        assert_eq!(parse_part_dir_name("2a"), None);
        assert_eq!(parse_part_dir_name("000000000000002a.tmp"), None);
        assert!(part_dir_name(9) < part_dir_name(10));
    }
}
