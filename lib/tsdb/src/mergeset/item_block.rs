//! Prefix compression of sorted items, then zstd where it pays: the payload of every data block.
//!
//! Plain form, for each item in order: `uvarint(shared) uvarint(suffix_len) suffix`, where
//! `shared` is the length of the prefix the item shares with the previous one (0 for the first).
//! The stored form is the plain form, or its zstd frame when that is at least 1/8 smaller.

use std::cell::RefCell;

use crate::encoding::varint::put_uvarint;
use crate::encoding::{DecodeError, Reader};

use super::items::Items;

/// The plain form is stored as is.
pub const ENCODING_PLAIN: u8 = 0;
/// The plain form is stored as one zstd frame.
pub const ENCODING_ZSTD: u8 = 1;
/// zstd level for blocks: fast, and most of the gain comes from the prefix compression.
const ZSTD_LEVEL: i32 = 1;
/// Plain forms shorter than this are never compressed.
const MIN_COMPRESS_LEN: usize = 128;

/// Appends the plain form of `items[range]` to `out`.
pub fn encode_plain(items: &Items, range: std::ops::Range<usize>, out: &mut Vec<u8>) {
    let mut prev: &[u8] = &[];
    for i in range {
        let item = items.get(i);
        let shared = common_prefix_len(prev, item);
        put_uvarint(out, shared as u64);
        put_uvarint(out, (item.len() - shared) as u64);
        out.extend_from_slice(&item[shared..]);
        prev = item;
    }
}

/// Decodes `count` items of a plain form, appending them to `out`.
pub fn decode_plain(src: &[u8], count: usize, out: &mut Items) -> Result<(), DecodeError> {
    let mut r = Reader::new(src);
    let mut prev: Vec<u8> = Vec::new();
    for _ in 0..count {
        let shared = r.len(prev.len(), "shared prefix length")?;
        let suffix = r.len_prefixed("item suffix")?;
        prev.truncate(shared);
        prev.extend_from_slice(suffix);
        out.push(&prev);
    }
    if !r.is_empty() {
        return Err(DecodeError {
            what: "item block",
            offset: r.position(),
            problem: format!("{} bytes left after {count} items", r.remaining()),
        });
    }
    Ok(())
}

thread_local! {
    /// zstd contexts are costly to create; each thread keeps one of each.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Stores a plain form: appends the stored bytes to `out` and returns the encoding chosen.
pub fn compress(plain: &[u8], out: &mut Vec<u8>) -> u8 {
    if plain.len() >= MIN_COMPRESS_LEN {
        let z = COMPRESSOR.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
            }
            c.as_mut().and_then(|c| c.compress(plain).ok())
        });
        if let Some(z) = z
            && z.len() < plain.len() - plain.len() / 8
        {
            out.extend_from_slice(&z);
            return ENCODING_ZSTD;
        }
    }
    out.extend_from_slice(plain);
    ENCODING_PLAIN
}

/// Recovers the plain form of stored bytes whose plain length is known.
pub fn decompress(stored: &[u8], encoding: u8, plain_len: usize) -> Result<Vec<u8>, String> {
    match encoding {
        ENCODING_PLAIN if stored.len() == plain_len => Ok(stored.to_vec()),
        ENCODING_PLAIN => Err(format!(
            "plain block of {} bytes, header says {plain_len}",
            stored.len()
        )),
        ENCODING_ZSTD => {
            // One decompression context per thread: creating one costs more than decoding a
            // block of items (it was 10 % of a name-lookup-heavy search).
            let plain = DECOMPRESSOR.with_borrow_mut(|slot| {
                let d = match slot {
                    Some(d) => d,
                    None => slot
                        .insert(zstd::bulk::Decompressor::new().map_err(|e| format!("zstd: {e}"))?),
                };
                d.decompress(stored, plain_len)
                    .map_err(|e| format!("zstd: {e}"))
            })?;
            if plain.len() != plain_len {
                return Err(format!(
                    "zstd block decompressed to {} bytes, header says {plain_len}",
                    plain.len()
                ));
            }
            Ok(plain)
        }
        other => Err(format!("unknown block encoding {other}")),
    }
}

/// Length of the longest common prefix of `a` and `b`.
#[inline]
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(items: &Items) -> Items {
        let mut plain = Vec::new();
        encode_plain(items, 0..items.len(), &mut plain);
        let mut stored = Vec::new();
        let enc = compress(&plain, &mut stored);
        let back = decompress(&stored, enc, plain.len()).unwrap();
        let mut out = Items::new();
        decode_plain(&back, items.len(), &mut out).unwrap();
        out
    }

    #[test]
    fn prefix_compression_shares_prefixes_and_zstd_kicks_in() {
        let items: Items = (0..200)
            .map(|i| format!("node_cpu_seconds_total{{cpu=\"{i}\"}}").into_bytes())
            .collect::<Vec<_>>()
            .iter()
            .map(|v| v.as_slice())
            .collect();
        let mut plain = Vec::new();
        encode_plain(&items, 0..items.len(), &mut plain);
        assert!(plain.len() < items.data_len() / 3, "{} bytes", plain.len());
        let mut stored = Vec::new();
        assert_eq!(compress(&plain, &mut stored), ENCODING_ZSTD);
        assert_eq!(round_trip(&items), items);
    }

    #[test]
    fn malformed_blocks_are_errors() {
        let items: Items = [&b"abc"[..], b"abd"].into_iter().collect();
        let mut plain = Vec::new();
        encode_plain(&items, 0..2, &mut plain);
        let mut out = Items::new();
        assert!(decode_plain(&plain, 3, &mut out).is_err(), "count too high");
        out.clear();
        assert!(decode_plain(&plain, 1, &mut out).is_err(), "trailing bytes");
        // A shared length longer than the previous item.
        assert!(decode_plain(&[5, 1, b'x'], 1, &mut Items::new()).is_err());
        assert!(decompress(b"xx", ENCODING_ZSTD, 10).is_err());
        assert!(decompress(b"xx", 9, 2).is_err());
        assert!(decompress(b"xx", ENCODING_PLAIN, 3).is_err());
    }

    proptest! {
        #[test]
        fn any_sorted_items_round_trip(mut v in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..12), 0..64)) {
            v.sort();
            let items: Items = v.iter().map(|x| x.as_slice()).collect();
            prop_assert_eq!(round_trip(&items), items);
        }
    }
}
