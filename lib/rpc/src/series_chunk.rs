//! The search payload: series with their raw blocks, in a compact binary form.
//!
//! ```text
//! chunk  := series*                            (until the payload ends)
//! series := name_len uvarint | name (canonical label set, tsdb::metric_name encoding)
//!         | block_count uvarint
//!         | block_count × ( block_len uvarint | block (tsdb portable block encoding) )
//! ```
//! A series may appear in several chunks of one answer and on several nodes; the receiver
//! merges blocks by name.

use tsdb::encoding::Reader;
use tsdb::encoding::varint::put_uvarint;

/// Target uncompressed size of one chunk before it is sent.
pub const CHUNK_TARGET_LEN: usize = 1 << 20;

/// Builds a chunk.
#[derive(Debug, Default)]
pub struct SeriesChunkWriter {
    buf: Vec<u8>,
    series: usize,
    blocks: usize,
}

impl SeriesChunkWriter {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one series and its blocks.
    pub fn push_series<'a>(
        &mut self,
        name: &[u8],
        blocks: impl ExactSizeIterator<Item = &'a [u8]>,
    ) {
        put_uvarint(&mut self.buf, name.len() as u64);
        self.buf.extend_from_slice(name);
        put_uvarint(&mut self.buf, blocks.len() as u64);
        for b in blocks {
            put_uvarint(&mut self.buf, b.len() as u64);
            self.buf.extend_from_slice(b);
            self.blocks += 1;
        }
        self.series += 1;
    }

    /// Appends one series and its blocks, serializing each block straight into the chunk
    /// ([`tsdb::Block::to_bytes`]): what [`Self::push_series`] of the blocks' bytes gives,
    /// without a copy of every block in between.
    pub fn push_blocks(&mut self, name: &[u8], blocks: &[tsdb::Block]) {
        put_uvarint(&mut self.buf, name.len() as u64);
        self.buf.extend_from_slice(name);
        put_uvarint(&mut self.buf, blocks.len() as u64);
        for b in blocks {
            put_uvarint(&mut self.buf, b.serialized_len() as u64);
            b.to_bytes(&mut self.buf);
            self.blocks += 1;
        }
        self.series += 1;
    }

    /// Whether the chunk reached [`CHUNK_TARGET_LEN`] and should be sent.
    pub fn is_full(&self) -> bool {
        self.buf.len() >= CHUNK_TARGET_LEN
    }

    /// Whether nothing was added since the last take.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Series and blocks added over the writer's life.
    pub fn totals(&self) -> (usize, usize) {
        (self.series, self.blocks)
    }

    /// Takes the encoded chunk, leaving the writer empty (totals are kept).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Decodes a chunk, calling `series(name, blocks)` for each series (`blocks` is reused between
/// calls: one allocation per chunk, not per series).
pub fn decode<'a>(
    chunk: &'a [u8],
    mut series: impl FnMut(&'a [u8], &[&'a [u8]]) -> Result<(), String>,
) -> Result<(), String> {
    let mut r = Reader::new(chunk);
    let fail = |e: tsdb::encoding::DecodeError| format!("malformed series chunk: {e}");
    let mut blocks = Vec::new();
    while !r.is_empty() {
        let name = r.len_prefixed("series name").map_err(fail)?;
        let count = r.len(r.remaining(), "block count").map_err(fail)?;
        blocks.clear();
        for _ in 0..count {
            blocks.push(r.len_prefixed("block").map_err(fail)?);
        }
        series(name, &blocks)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks pushed as blocks give the same chunk as their serialized bytes pushed as bytes.
    #[test]
    fn pushing_blocks_equals_pushing_their_bytes() {
        let blocks: Vec<tsdb::Block> = (1..4)
            .map(|n: i64| {
                let ts: Vec<i64> = (0..n * 50).map(|i| 1_000 + i * 15_000).collect();
                let vs: Vec<f64> = ts.iter().map(|&t| t as f64 / 7.0).collect();
                tsdb::Block::encode(tsdb::Tsid::default(), &ts, &vs, 1)
            })
            .collect();
        let bytes: Vec<Vec<u8>> = blocks
            .iter()
            .map(|b| {
                let mut out = Vec::new();
                b.to_bytes(&mut out);
                assert_eq!(out.len(), b.serialized_len());
                out
            })
            .collect();
        let mut by_bytes = SeriesChunkWriter::new();
        by_bytes.push_series(b"s1", bytes.iter().map(Vec::as_slice));
        by_bytes.push_series(
            b"s2",
            std::iter::empty::<&[u8]>().collect::<Vec<_>>().into_iter(),
        );
        let mut by_blocks = SeriesChunkWriter::new();
        by_blocks.push_blocks(b"s1", &blocks);
        by_blocks.push_blocks(b"s2", &[]);
        assert_eq!(by_blocks.totals(), by_bytes.totals());
        assert_eq!(by_blocks.take(), by_bytes.take());
    }

    #[test]
    fn chunks_round_trip_and_truncations_fail() {
        let mut w = SeriesChunkWriter::new();
        w.push_series(
            b"name-a",
            [b"b1".as_slice(), b"block-2".as_slice()].into_iter(),
        );
        w.push_series(
            b"",
            std::iter::empty::<&[u8]>().collect::<Vec<_>>().into_iter(),
        );
        assert_eq!(w.totals(), (2, 2));
        let bytes = w.take();
        assert!(w.is_empty());
        let mut got = Vec::new();
        decode(&bytes, |n, b| {
            got.push((n.to_vec(), b.iter().map(|x| x.to_vec()).collect::<Vec<_>>()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                (
                    b"name-a".to_vec(),
                    vec![b"b1".to_vec(), b"block-2".to_vec()]
                ),
                (vec![], vec![])
            ]
        );
        // The first series takes 19 bytes: a cut there is a valid, shorter chunk; any other
        // cut ends inside a series.
        assert_eq!(bytes.len(), 21);
        for cut in 1..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut], |_, _| Ok(())).is_ok(),
                cut == 19,
                "cut {cut}"
            );
        }
    }
}
