//! In-memory parts: rows made searchable before they reach disk. Same bytes as a file part,
//! held in buffers, searched and merged by the same code.

use std::path::Path;
use std::sync::Arc;

use crate::block::{Block, MAX_ROWS_PER_BLOCK};
use crate::block_stream_writer::BlockStreamWriter;
use crate::dedup::dedup;
use crate::error::Result;
use crate::part::{Part, PartBytes, inmemory_part_path};
use crate::raw_rows::Row;

/// A writer whose output becomes an in-memory part through [`finish_inmemory_part`].
pub fn inmemory_part_writer(id: u64, dedup_interval_ms: i64) -> BlockStreamWriter<Vec<u8>> {
    let path: Arc<Path> = Arc::from(inmemory_part_path(id).as_path());
    BlockStreamWriter::new(
        path,
        Vec::new(),
        Vec::new(),
        Vec::new(),
        1,
        dedup_interval_ms,
    )
}

/// Turns a finished writer's buffers into a searchable part.
pub fn finish_inmemory_part(id: u64, w: BlockStreamWriter<Vec<u8>>) -> Result<Part> {
    let done = w.finish()?;
    let path: Arc<Path> = Arc::from(inmemory_part_path(id).as_path());
    Part::from_parts(
        path,
        done.metadata,
        &done.metaindex,
        PartBytes::Owned(done.timestamps),
        PartBytes::Owned(done.values),
        PartBytes::Owned(done.index),
    )
}

/// Writes rows as blocks: sorts them by (tsid, timestamp), deduplicates each series to
/// `dedup_interval_ms` and cuts blocks of at most [`MAX_ROWS_PER_BLOCK`] samples.
pub fn write_rows<W: std::io::Write>(
    rows: &mut [Row],
    dedup_interval_ms: i64,
    zstd_level: i32,
    w: &mut BlockStreamWriter<W>,
) -> Result<()> {
    rows.sort_unstable_by_key(|r| (r.tsid, r.timestamp));
    let mut ts = Vec::new();
    let mut vs = Vec::new();
    for series in rows.chunk_by(|a, b| a.tsid == b.tsid) {
        ts.clear();
        vs.clear();
        ts.extend(series.iter().map(|r| r.timestamp));
        vs.extend(series.iter().map(|r| r.value));
        dedup(&mut ts, &mut vs, dedup_interval_ms);
        for (t, v) in ts
            .chunks(MAX_ROWS_PER_BLOCK)
            .zip(vs.chunks(MAX_ROWS_PER_BLOCK))
        {
            let mut block = Block::encode(series[0].tsid, t, v, zstd_level);
            w.write_block(&mut block)?;
        }
    }
    Ok(())
}

/// An in-memory part holding `rows` (sorted here).
pub fn inmemory_part_from_rows(id: u64, rows: &mut [Row], dedup_interval_ms: i64) -> Result<Part> {
    let mut w = inmemory_part_writer(id, dedup_interval_ms);
    write_rows(rows, dedup_interval_ms, 1, &mut w)?;
    finish_inmemory_part(id, w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block_stream_writer::{create_file_part, finish_file_part};
    use crate::testutil::{blocks, row, samples};

    fn rows() -> Vec<Row> {
        let mut rows = Vec::new();
        for m in (0..20u64).rev() {
            for i in (0..300i64).rev() {
                rows.push(row(
                    m,
                    1_000 + i * 15_000 + (i % 3),
                    (m * 1000) as f64 + i as f64 * 0.5,
                ));
            }
        }
        rows.push(row(3, 1_000, -1.0)); // an exact duplicate timestamp: 0.0*0.5+3000 wins
        rows
    }

    #[test]
    fn rows_become_sorted_deduplicated_blocks() {
        let mut input = rows();
        let part = Arc::new(inmemory_part_from_rows(1, &mut input, 0).unwrap());
        let got = samples(&part);
        assert_eq!(got.len(), 20 * 300);
        let mut want: Vec<(u64, i64, u64)> = rows()
            .iter()
            .filter(|r| r.value >= 0.0)
            .map(|r| (r.tsid.metric_id, r.timestamp, r.value.to_bits()))
            .collect();
        want.sort_by_key(|s| (crate::testutil::tsid(s.0), s.1));
        assert_eq!(got, want);
        let meta = part.metadata();
        assert_eq!((meta.rows_count, meta.blocks_count), (6000, 20));
        assert_eq!(meta.min_timestamp, 1_000);
        // Series with equal timestamps share one timestamps column.
        let offsets: std::collections::BTreeSet<u64> = blocks(&part)
            .iter()
            .map(|b| b.header().timestamps_offset)
            .collect();
        assert_eq!(
            offsets.len(),
            1,
            "every series has the same timestamps here"
        );
    }

    #[test]
    fn file_parts_hold_the_same_bytes_as_in_memory_parts_and_are_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let pdir = dir.path().join("0000000000000001");
        let mut w = create_file_part(&pdir, 1, 0).unwrap();
        write_rows(&mut rows(), 0, 1, &mut w).unwrap();
        let meta = finish_file_part(w, &pdir).unwrap();
        let file_part = Arc::new(Part::open(&pdir).unwrap());
        let mem_part = Arc::new(inmemory_part_from_rows(2, &mut rows(), 0).unwrap());
        assert_eq!(file_part.metadata(), &meta);
        assert_eq!(file_part.metadata(), mem_part.metadata());
        assert_eq!(samples(&file_part), samples(&mem_part));
        // The map reads the published bytes, and stays valid after the directory is unlinked,
        // as it is when a merge replaces the part while a search still reads it.
        std::fs::remove_dir_all(&pdir).unwrap();
        assert_eq!(samples(&file_part).len(), 6000);
    }

    #[test]
    fn an_empty_part_opens_and_yields_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let pdir = dir.path().join("p");
        let w = create_file_part(&pdir, 1, 0).unwrap();
        finish_file_part(w, &pdir).unwrap();
        let part = Arc::new(Part::open(&pdir).unwrap());
        assert_eq!(part.metadata().rows_count, 0);
        assert!(samples(&part).is_empty());
        assert!(!part.overlaps(i64::MIN, i64::MAX));
    }
}
