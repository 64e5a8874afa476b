//! One search's answer, gathered from the series chunks the storage nodes sent, for decoding
//! in name order with the copies of a series (from several nodes or chunks) brought together.
//!
//! As each chunk arrives (while the nodes are still searching) its series are sorted by name;
//! their names are copied, in that order, into one buffer per chunk and their blocks into
//! pieces of about [`PIECE_LEN`] bytes; the chunk is then dropped. [`SearchChunks::into_set`]
//! merges the chunks' sorted runs into one order. Decoding in that order reads every piece front to back,
//! so a select frees each piece once it has passed it ([`SeriesSet::release_before`]): the
//! query node never holds all raw blocks and many decoded samples at once, yet pays one
//! allocation per piece instead of one per series and per block. The names stay (a few
//! percent of the bytes): merging the runs reads each run's names one after the other, where
//! names spread among the blocks cost a cache miss per comparison (16 of the heaviest query's
//! ~125 ms, against ~3 ms).

/// Target size of a piece. Small enough that the pieces a select has not finished with waste
/// little (one partly used piece per chunk), large enough to cost few allocations.
pub const PIECE_LEN: usize = 64 << 10;

/// Where some bytes sit: which piece (or, for a name, which chunk's name buffer), and where in
/// it.
#[derive(Clone, Copy, Debug)]
struct At {
    piece: u32,
    start: u32,
    len: u32,
}

/// One series: its name and a run of `blocks`.
#[derive(Clone, Copy, Debug)]
struct SeriesAt {
    name: At,
    first_block: usize,
    block_count: usize,
}

/// The series chunks of one search (or of several, appended), each sorted and repacked as it
/// arrived.
#[derive(Debug, Default)]
pub struct SearchChunks {
    /// Per chunk, its series names in sorted order.
    names: Vec<Vec<u8>>,
    /// Block bytes, in pieces that a select frees as it passes them.
    pieces: Vec<Vec<u8>>,
    /// Every block, located in `pieces`.
    blocks: Vec<At>,
    /// Every chunk's series, each chunk's run sorted by name.
    series: Vec<SeriesAt>,
}

impl SearchChunks {
    /// Adds one chunk as a node sent it: validates it, sorts its series by name and copies
    /// their names and blocks. A malformed chunk is an error and adds nothing.
    pub fn push(&mut self, chunk: Vec<u8>) -> Result<(), String> {
        if chunk.is_empty() {
            return Ok(());
        }
        let mut series: Vec<(&[u8], usize, usize)> = Vec::new();
        let mut blocks: Vec<&[u8]> = Vec::new();
        rpc::series_chunk::decode(&chunk, |name, bs| {
            series.push((name, blocks.len(), bs.len()));
            blocks.extend_from_slice(bs);
            Ok(())
        })?;
        series.sort_unstable_by(|a, b| a.0.cmp(b.0));
        self.series.reserve(series.len());
        self.blocks.reserve(blocks.len());
        let names_index = u32::try_from(self.names.len()).map_err(|_| "too many chunks")?;
        let mut names = Vec::with_capacity(series.iter().map(|s| s.0.len()).sum());
        for (name, first, count) in series {
            let name_at = At {
                piece: names_index,
                start: u32::try_from(names.len()).map_err(|_| "series names too long")?,
                len: u32::try_from(name.len()).map_err(|_| "series name too long")?,
            };
            names.extend_from_slice(name);
            let series_blocks = &blocks[first..first + count];
            let len = series_blocks.iter().map(|b| b.len()).sum::<usize>();
            let first_block = self.blocks.len();
            for (k, block) in series_blocks.iter().enumerate() {
                let at = self.copy(block, if k == 0 { len } else { 0 })?;
                self.blocks.push(at);
            }
            self.series.push(SeriesAt {
                name: name_at,
                first_block,
                block_count: count,
            });
        }
        self.names.push(names);
        Ok(())
    }

    /// Appends `bytes` to the last piece, first starting a new one when that piece is not empty
    /// and `room` more bytes (at least `bytes`) would take it past [`PIECE_LEN`]: one series'
    /// bytes stay in one piece.
    fn copy(&mut self, bytes: &[u8], room: usize) -> Result<At, String> {
        let room = room.max(bytes.len());
        let fits = self
            .pieces
            .last()
            .is_some_and(|p| p.is_empty() || p.len() + room <= PIECE_LEN);
        if !fits {
            self.pieces
                .push(Vec::with_capacity(PIECE_LEN.max(room).min(PIECE_LEN * 2)));
        }
        let piece_index = self.pieces.len() - 1;
        let piece = &mut self.pieces[piece_index];
        let too_large = || format!("series chunk part of {} bytes is too large", bytes.len());
        let at = At {
            piece: u32::try_from(piece_index).map_err(|_| too_large())?,
            start: u32::try_from(piece.len()).map_err(|_| too_large())?,
            len: u32::try_from(bytes.len()).map_err(|_| too_large())?,
        };
        piece.extend_from_slice(bytes);
        Ok(at)
    }

    /// Adds the chunks of another search (a series found by both is merged by
    /// [`Self::into_set`]).
    pub fn append(&mut self, other: SearchChunks) {
        let (names_base, piece_base) = (self.names.len() as u32, self.pieces.len() as u32);
        let block_base = self.blocks.len();
        let shift = |at: At, base: u32| At {
            piece: at.piece + base,
            ..at
        };
        self.names.extend(other.names);
        self.pieces.extend(other.pieces);
        self.blocks
            .extend(other.blocks.into_iter().map(|at| shift(at, piece_base)));
        self.series
            .extend(other.series.into_iter().map(|s| SeriesAt {
                name: shift(s.name, names_base),
                first_block: s.first_block + block_base,
                ..s
            }));
    }

    /// Every series once, in name order.
    pub fn into_set(self) -> SeriesSet {
        let SearchChunks {
            names,
            pieces,
            mut blocks,
            mut series,
        } = self;
        let bytes = |at: &At| -> &[u8] {
            &names[at.piece as usize][at.start as usize..(at.start + at.len) as usize]
        };
        // A sorted run per chunk: the stable sort merges runs.
        series.sort_by(|a, b| bytes(&a.name).cmp(bytes(&b.name)));
        // The copies of one name are adjacent now: give each name one run of blocks. Copies
        // are rare (replication, rerouted writes, a series in two chunks of one node), so
        // their blocks are appended rather than every series' blocks moved.
        let mut order = Vec::with_capacity(series.len());
        for copies in series.chunk_by(|a, b| bytes(&a.name) == bytes(&b.name)) {
            if let [one] = copies {
                order.push(*one);
                continue;
            }
            let first_block = blocks.len();
            for copy in copies {
                for i in copy.first_block..copy.first_block + copy.block_count {
                    let block = blocks[i];
                    blocks.push(block);
                }
            }
            order.push(SeriesAt {
                name: copies[0].name,
                first_block,
                block_count: blocks.len() - first_block,
            });
        }
        // When each piece is last needed.
        let mut last_use = vec![0usize; pieces.len()];
        for (i, s) in order.iter().enumerate() {
            for b in &blocks[s.first_block..s.first_block + s.block_count] {
                last_use[b.piece as usize] = last_use[b.piece as usize].max(i);
            }
        }
        let mut releases: Vec<(usize, usize)> = last_use.into_iter().zip(0..).collect();
        releases.sort_unstable();
        SeriesSet {
            names,
            pieces: pieces.into_iter().map(Some).collect(),
            blocks,
            order,
            releases,
            released: 0,
        }
    }
}

/// Every series of a search once, sorted by canonical name, with its blocks from every chunk.
#[derive(Debug)]
pub struct SeriesSet {
    names: Vec<Vec<u8>>,
    pieces: Vec<Option<Vec<u8>>>,
    blocks: Vec<At>,
    order: Vec<SeriesAt>,
    /// `(last series that uses the piece, piece)`, in that order.
    releases: Vec<(usize, usize)>,
    /// How many of `releases` were done.
    released: usize,
}

impl SeriesSet {
    /// Number of distinct series.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the search found no series.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn bytes(&self, at: At) -> &[u8] {
        let piece = self.pieces[at.piece as usize]
            .as_deref()
            .expect("a piece is released only after its last series");
        &piece[at.start as usize..(at.start + at.len) as usize]
    }

    /// The canonical name of the `i`-th series in name order.
    pub fn name(&self, i: usize) -> &[u8] {
        let at = self.order[i].name;
        &self.names[at.piece as usize][at.start as usize..(at.start + at.len) as usize]
    }

    /// The blocks of the `i`-th series.
    pub fn blocks(&self, i: usize) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        let s = self.order[i];
        self.blocks[s.first_block..s.first_block + s.block_count]
            .iter()
            .map(|&at| self.bytes(at))
    }

    /// Frees every piece that no series from `end` on needs; the series before `end` must not
    /// be read after.
    pub fn release_before(&mut self, end: usize) {
        while let Some(&(last, piece)) = self.releases.get(self.released) {
            if last >= end {
                break;
            }
            self.pieces[piece] = None;
            self.released += 1;
        }
    }

    /// Pieces still held.
    #[cfg(test)]
    fn held_pieces(&self) -> usize {
        self.pieces.iter().filter(|p| p.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc::series_chunk::SeriesChunkWriter;

    fn chunk(series: &[(&str, &[&str])]) -> Vec<u8> {
        let mut w = SeriesChunkWriter::new();
        for (name, blocks) in series {
            w.push_series(
                name.as_bytes(),
                blocks
                    .iter()
                    .map(|b| b.as_bytes())
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
        }
        w.take()
    }

    fn listed(set: &SeriesSet) -> Vec<(String, Vec<String>)> {
        (0..set.len())
            .map(|i| {
                let mut blocks: Vec<String> = set
                    .blocks(i)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect();
                // The order of one name's blocks across chunks is not promised.
                blocks.sort();
                (String::from_utf8_lossy(set.name(i)).into_owned(), blocks)
            })
            .collect()
    }

    /// Series from several chunks come out once each, in name order, with every copy's
    /// blocks; a malformed chunk is an error that adds nothing.
    #[test]
    fn series_are_sorted_and_copies_brought_together() {
        let mut chunks = SearchChunks::default();
        chunks
            .push(chunk(&[("c", &["c1"]), ("a", &["a1", "a2"]), ("d", &[])]))
            .unwrap();
        chunks.push(Vec::new()).unwrap();
        let mut truncated = chunk(&[("e", &["e1"])]);
        truncated.pop();
        assert!(chunks.push(truncated).is_err());
        let mut other = SearchChunks::default();
        other
            .push(chunk(&[("b", &["b1"]), ("a", &["a3"]), ("c", &["c2"])]))
            .unwrap();
        other.push(chunk(&[("a", &["a4"])])).unwrap();
        chunks.append(other);
        let set = chunks.into_set();
        let want: Vec<(String, Vec<String>)> = [
            ("a", vec!["a1", "a2", "a3", "a4"]),
            ("b", vec!["b1"]),
            ("c", vec!["c1", "c2"]),
            ("d", vec![]),
        ]
        .into_iter()
        .map(|(n, bs)| (n.to_owned(), bs.into_iter().map(str::to_owned).collect()))
        .collect();
        assert_eq!(listed(&set), want);
        assert!(SearchChunks::default().into_set().is_empty());
    }

    /// Many series over several chunks: pieces are freed as the reader passes them, never
    /// before a series that needs them (reading one would panic), and all are freed at the end.
    #[test]
    fn pieces_are_released_only_after_their_last_series() {
        let block = "x".repeat(900);
        let blocks = [block.as_str()];
        let names: Vec<String> = (0..3000)
            .map(|i| format!("series-{:05}", (i * 7919) % 3000))
            .collect();
        let mut chunks = SearchChunks::default();
        for part in names.chunks(400) {
            let series: Vec<(&str, &[&str])> = part
                .iter()
                .map(|n| (n.as_str(), blocks.as_slice()))
                .collect();
            chunks.push(chunk(&series)).unwrap();
        }
        let mut set = chunks.into_set();
        assert_eq!(set.len(), 3000);
        let all = set.held_pieces();
        assert!(all >= 3000 * 900 / PIECE_LEN, "{all} pieces");
        let mut previous: Vec<u8> = Vec::new();
        for first in (0..set.len()).step_by(250) {
            for i in first..first + 250 {
                assert!(set.name(i) > previous.as_slice());
                previous = set.name(i).to_vec();
                assert_eq!(set.blocks(i).map(<[u8]>::len).sum::<usize>(), 900);
            }
            set.release_before(first + 250);
        }
        assert_eq!(set.held_pieces(), 0);
    }
}
