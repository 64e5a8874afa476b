//! Reads every block of a part in order: the input side of a merge.

use std::sync::Arc;

use crate::block::Block;
use crate::block_header::BlockHeader;
use crate::error::Result;
use crate::part::Part;

/// Iterates a part's blocks in (tsid, min_timestamp) order, one index block in memory at a time.
#[derive(Debug)]
pub struct BlockStreamReader {
    part: Arc<Part>,
    index_block: usize,
    headers: Vec<BlockHeader>,
    pos: usize,
}

impl BlockStreamReader {
    /// Starts at the first block of `part`.
    pub fn new(part: Arc<Part>) -> Self {
        BlockStreamReader {
            part,
            index_block: 0,
            headers: Vec::new(),
            pos: 0,
        }
    }

    /// The part being read.
    pub fn part(&self) -> &Arc<Part> {
        &self.part
    }

    /// The next block, or `None` at the end.
    pub fn next_block(&mut self) -> Result<Option<Block>> {
        while self.pos >= self.headers.len() {
            if self.index_block >= self.part.metaindex().len() {
                return Ok(None);
            }
            self.part
                .read_index_block(self.index_block, &mut self.headers)?;
            self.index_block += 1;
            self.pos = 0;
        }
        let block = self
            .part
            .block(&self.headers[self.pos], self.index_block - 1, self.pos);
        self.pos += 1;
        Ok(Some(block))
    }
}
