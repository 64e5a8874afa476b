//! Timestamps codec: an integer series (const, delta-const, delta or delta-of-delta, see
//! [`super::ints`]), then zstd where it pays.
//!
//! Tag byte: bits 0-3 the [`IntKind`], bit 7 set when the payload is zstd-compressed
//! (`uvarint(raw_len)` + one zstd frame). Other bits are zero.

use super::compress::{compress_tail_if_pays, decompress};
use super::ints::{IntKind, decode_ints, encode_ints};
use super::reader::{DecodeError, Reader};

/// Tag bit: the payload is zstd-compressed.
pub const ZSTD_FLAG: u8 = 0x80;

/// Largest encoded size of one integer (a 10-byte varint); bounds decompressed payloads.
pub const MAX_BYTES_PER_INT: usize = 10;

/// Appends the encoding of `timestamps` to `out` and returns the tag byte. `zstd_level` 0
/// disables compression.
pub fn encode_timestamps(timestamps: &[i64], out: &mut Vec<u8>, zstd_level: i32) -> u8 {
    let start = out.len();
    let kind = encode_ints(timestamps, out);
    let zstd = compress_tail_if_pays(out, start, zstd_level);
    kind as u8 | if zstd { ZSTD_FLAG } else { 0 }
}

/// Decodes `n` timestamps encoded with `tag` from `src` (which must be consumed exactly),
/// appending them to `out`.
pub fn decode_timestamps(
    src: &[u8],
    tag: u8,
    n: usize,
    out: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    if !is_cacheable(src, n) {
        // Straight into `out`: no column to lend, no copy.
        return decode_uncached(src, tag, int_kind(tag)?, n, out);
    }
    with_decoded_timestamps(src, tag, n, |ts| out.extend_from_slice(ts))
}

fn int_kind(tag: u8) -> Result<IntKind, DecodeError> {
    IntKind::from_u8(tag & !ZSTD_FLAG).ok_or_else(|| DecodeError {
        what: "timestamps codec tag",
        offset: 0,
        problem: format!("unknown tag {tag:#04x}"),
    })
}

fn is_cacheable(src: &[u8], n: usize) -> bool {
    n >= MIN_CACHED_ROWS && src.len() <= MAX_CACHED_SRC
}

/// Decodes `n` timestamps encoded with `tag` from `src` (which must be consumed exactly) and
/// calls `f` with them, borrowed from this thread's cache or scratch: a reader that needs only
/// a time range of the column copies only that range. `f` must not decode timestamps itself.
pub fn with_decoded_timestamps<R>(
    src: &[u8],
    tag: u8,
    n: usize,
    f: impl FnOnce(&[i64]) -> R,
) -> Result<R, DecodeError> {
    let kind = int_kind(tag)?;
    if !is_cacheable(src, n) {
        return DECODED.with_borrow_mut(|decoded| {
            decoded.clear();
            decode_uncached(src, tag, kind, n, decoded)?;
            Ok(f(decoded))
        });
    }
    // Series scraped together share their timestamps column byte for byte: decode it once per
    // thread and lend it after (a query over a host's 500 series decodes one column, not 500).
    let key = cache_key(src, tag, n);
    let cached = CACHE.with_borrow(|c| match c.entries.get(&key) {
        Some(e) if e.tag == tag && *e.src == *src && e.decoded.len() == n => Ok(f(&e.decoded)),
        _ => Err(f),
    });
    let f = match cached {
        Ok(res) => return Ok(res),
        Err(f) => f,
    };
    DECODED.with_borrow_mut(|decoded| {
        decoded.clear();
        decode_uncached(src, tag, kind, n, decoded)?;
        CACHE.with_borrow_mut(|c| c.put(key, tag, src, decoded));
        Ok(f(decoded))
    })
}

fn decode_uncached(
    src: &[u8],
    tag: u8,
    kind: IntKind,
    n: usize,
    out: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    if tag & ZSTD_FLAG == 0 {
        return decode_exact(src, kind, n, out);
    }
    SCRATCH.with_borrow_mut(|raw| {
        decompress(src, n.saturating_mul(MAX_BYTES_PER_INT) + 16, raw)?;
        decode_exact(raw, kind, n, out)
    })
}

/// Columns shorter than this are decoded every time (cheaper than hashing and copying).
const MIN_CACHED_ROWS: usize = 32;
/// Encoded columns longer than this are not cached.
const MAX_CACHED_SRC: usize = 16 << 10;
/// Bytes (encoded + decoded) the per-thread cache may hold; it is emptied when a new entry
/// would go over.
const CACHE_BUDGET: usize = 2 << 20;

fn cache_key(src: &[u8], tag: u8, n: usize) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(src, (u64::from(tag) << 56) ^ n as u64)
}

struct CacheEntry {
    tag: u8,
    src: Box<[u8]>,
    decoded: Box<[i64]>,
}

/// Recently decoded timestamps columns of this thread, by key. Entries are compared by their
/// full encoded bytes, so a hash collision can never return another column. A map, not a
/// direct-mapped table: with 256 slots, 84 hosts' columns collided for ~28 % of the lookups
/// (the colliding pairs evicted each other on every pass over a metric's hosts).
#[derive(Default)]
struct TimestampsCache {
    entries: rustc_hash::FxHashMap<u64, CacheEntry>,
    bytes: usize,
}

impl TimestampsCache {
    fn put(&mut self, key: u64, tag: u8, src: &[u8], decoded: &[i64]) {
        let size = src.len() + std::mem::size_of_val(decoded);
        if self.bytes + size > CACHE_BUDGET {
            self.entries.clear();
            self.bytes = 0;
        }
        let entry = CacheEntry {
            tag,
            src: src.into(),
            decoded: decoded.into(),
        };
        if let Some(old) = self.entries.insert(key, entry) {
            self.bytes -= old.src.len() + std::mem::size_of_val(&*old.decoded);
        }
        self.bytes += size;
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// A column decoded outside the cache, lent to the caller.
    static DECODED: std::cell::RefCell<Vec<i64>> = const { std::cell::RefCell::new(Vec::new()) };
    static CACHE: std::cell::RefCell<TimestampsCache> = std::cell::RefCell::new(TimestampsCache::default());
}

fn decode_exact(
    src: &[u8],
    kind: IntKind,
    n: usize,
    out: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(src);
    decode_ints(&mut r, kind, n, out)?;
    if !r.is_empty() {
        return Err(DecodeError {
            what: "timestamps",
            offset: r.position(),
            problem: format!("{} trailing bytes", r.remaining()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn check(ts: &[i64], level: i32, want_tag: u8) {
        let mut out = Vec::new();
        let tag = encode_timestamps(ts, &mut out, level);
        assert_eq!(tag, want_tag);
        let mut back = Vec::new();
        decode_timestamps(&out, tag, ts.len(), &mut back).unwrap();
        assert_eq!(back, ts);
    }

    /// The per-thread cache of decoded columns gives what decoding gives: for repeated columns,
    /// for more columns than the budget holds, and for the same bytes under another tag.
    #[test]
    fn cached_columns_decode_exactly_as_uncached_ones() {
        let columns: Vec<Vec<i64>> = (0..700i64)
            .map(|c| {
                (0..40 + c % 300)
                    .map(|i| 1_700_000_000_000 + c * 7 + i * 15_000 + (i * c) % 9)
                    .collect()
            })
            .collect();
        let encoded: Vec<(Vec<u8>, u8)> = columns
            .iter()
            .map(|ts| {
                let mut out = Vec::new();
                let tag = encode_timestamps(ts, &mut out, (ts.len() % 2) as i32);
                (out, tag)
            })
            .collect();
        for round in 0..3 {
            for (k, (ts, (src, tag))) in columns.iter().zip(&encoded).enumerate() {
                // Revisit a few earlier columns between new ones: hits and misses interleave.
                for j in [k, k / 2, k / 3] {
                    let mut back = vec![-1];
                    decode_timestamps(&encoded[j].0, encoded[j].1, columns[j].len(), &mut back)
                        .unwrap();
                    assert_eq!(&back[1..], &columns[j][..], "round {round}, column {j}");
                }
                let mut back = Vec::new();
                decode_timestamps(src, *tag, ts.len(), &mut back).unwrap();
                assert_eq!(&back, ts);
            }
        }
        // The same bytes under another codec tag decode differently, never from the cache.
        let (src, tag) = &encoded[5];
        assert_eq!(*tag, IntKind::DeltaOfDelta as u8);
        let n = columns[5].len();
        let mut as_dod = Vec::new();
        decode_timestamps(src, *tag, n, &mut as_dod).unwrap();
        let mut as_delta = Vec::new();
        let mut want = Vec::new();
        let delta = IntKind::Delta as u8;
        let r1 = decode_timestamps(src, delta, n, &mut as_delta);
        let r2 = decode_exact(src, IntKind::Delta, n, &mut want);
        assert_eq!(r1.is_ok(), r2.is_ok());
        assert_eq!(as_delta, want);
        assert_ne!(as_delta, as_dod);
    }

    #[test]
    fn tags_name_the_shape_and_compression() {
        let scrape: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + i * 15_000).collect();
        check(&scrape, 3, IntKind::DeltaConst as u8);
        let jittered: Vec<i64> = scrape
            .iter()
            .enumerate()
            .map(|(i, t)| t + (i as i64 * 7919 % 11) - 5)
            .collect();
        check(&jittered, 0, IntKind::DeltaOfDelta as u8);
        check(&jittered, 3, IntKind::DeltaOfDelta as u8 | ZSTD_FLAG);
        check(&[i64::MIN, i64::MAX], 3, IntKind::DeltaConst as u8);
        check(&[3; 5000], 3, IntKind::Const as u8);
    }

    #[test]
    fn bad_tags_trailing_bytes_and_truncation_are_errors() {
        let ts: Vec<i64> = (0..500).map(|i| i * i).collect();
        let mut out = Vec::new();
        let tag = encode_timestamps(&ts, &mut out, 3);
        let mut back = Vec::new();
        assert!(decode_timestamps(&out, 0x7f, 500, &mut back).is_err());
        assert!(decode_timestamps(&out, tag, 501, &mut back).is_err());
        assert!(decode_timestamps(&out[..out.len() - 1], tag, 500, &mut back).is_err());
        let mut longer = out.clone();
        longer.push(0);
        assert!(decode_timestamps(&longer, tag, 500, &mut back).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(ts in prop::collection::vec(any::<i64>(), 0..200), level in 0..4i32) {
            let mut out = Vec::new();
            let tag = encode_timestamps(&ts, &mut out, level);
            let mut back = Vec::new();
            decode_timestamps(&out, tag, ts.len(), &mut back).unwrap();
            prop_assert_eq!(back, ts);
        }

        #[test]
        fn round_trips_scrapes(start in -1i64<<62..1i64<<62, step in 1i64..120_000,
                jitter in prop::collection::vec(-20i64..20, 1..3000)) {
            let ts: Vec<i64> = jitter.iter().enumerate()
                .map(|(i, j)| start + step * i as i64 + j).collect();
            let mut out = Vec::new();
            let tag = encode_timestamps(&ts, &mut out, 1);
            let mut back = Vec::new();
            decode_timestamps(&out, tag, ts.len(), &mut back).unwrap();
            prop_assert_eq!(back, ts);
        }
    }
}
