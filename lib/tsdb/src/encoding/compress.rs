//! zstd, applied to a codec's output only where it pays.
//!
//! Compression contexts are costly to create (tens of microseconds) and blocks are small, so each
//! thread keeps one compressor and one decompressor. They are caches, not state: any thread gets
//! the same bytes for the same input and level.

use std::cell::RefCell;
use std::io::Cursor;

use super::reader::{DecodeError, Reader};
use super::varint::put_uvarint;

/// Inputs shorter than this are never compressed: the zstd frame overhead (about 12 bytes) eats
/// the gain.
pub const MIN_COMPRESS_LEN: usize = 64;

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Compresses `out[start..]` in place when `level` is not 0, the input is at least
/// [`MIN_COMPRESS_LEN`] bytes and the result (`uvarint(raw_len)` + zstd frame) is at most 7/8 of
/// the input. Returns whether it did. Negative levels are zstd's fast levels (no entropy coding
/// of literals, no Huffman table built per input): for the ~100-row blocks of a flush they
/// save almost nothing less than level 1 at a fraction of its cost.
pub fn compress_tail_if_pays(out: &mut Vec<u8>, start: usize, level: i32) -> bool {
    let raw_len = out.len() - start;
    if level == 0 || raw_len < MIN_COMPRESS_LEN {
        return false;
    }
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        put_uvarint(scratch, raw_len as u64);
        scratch.reserve(zstd::zstd_safe::compress_bound(raw_len));
        let header = scratch.len();
        let ok = COMPRESSOR.with_borrow_mut(|slot| {
            let comp = match slot {
                Some((l, c)) if *l == level => c,
                _ => match zstd::bulk::Compressor::new(level) {
                    Ok(c) => &mut slot.insert((level, c)).1,
                    Err(_) => return false,
                },
            };
            let mut cur = Cursor::new(std::mem::take(scratch));
            cur.set_position(header as u64);
            let res = comp.compress_to_buffer(&out[start..], &mut cur);
            *scratch = cur.into_inner();
            res.is_ok()
        });
        if !ok || scratch.len() * 8 > raw_len * 7 {
            return false;
        }
        out.truncate(start);
        out.extend_from_slice(scratch);
        if scratch.capacity() > 1 << 20 {
            *scratch = Vec::new();
        }
        true
    })
}

/// Decompresses a payload written by [`compress_tail_if_pays`] into `out` (cleared first). The
/// stored length must not exceed `max_len`, so a hostile header cannot drive an allocation.
pub fn decompress(src: &[u8], max_len: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let mut r = Reader::new(src);
    let raw_len = r.len(max_len, "compressed payload length")?;
    let frame = r.rest();
    out.clear();
    out.reserve(raw_len);
    let res = DECOMPRESSOR.with_borrow_mut(|slot| {
        let d = match slot {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?),
        };
        let mut cur = Cursor::new(std::mem::take(out));
        let res = d.decompress_to_buffer(frame, &mut cur);
        *out = cur.into_inner();
        res.map_err(|e| e.to_string())
    });
    let err = |problem: String| DecodeError {
        what: "zstd frame",
        offset: r.position(),
        problem,
    };
    match res {
        Ok(n) if n == raw_len && out.len() == raw_len => Ok(()),
        Ok(n) => Err(err(format!(
            "decompressed to {n} bytes, header says {raw_len}"
        ))),
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_only_when_it_pays_and_round_trips() {
        let mut out = b"keep".to_vec();
        out.extend(std::iter::repeat_n(7u8, 1000));
        assert!(compress_tail_if_pays(&mut out, 4, 3));
        assert!(out.len() < 100, "{}", out.len());
        let mut back = Vec::new();
        decompress(&out[4..], 1000, &mut back).unwrap();
        assert_eq!(back, vec![7u8; 1000]);
        // The declared length is bounded before any allocation.
        assert!(decompress(&out[4..], 999, &mut back).is_err());

        // Short or incompressible inputs stay as they are.
        let mut short = vec![1u8; 10];
        assert!(!compress_tail_if_pays(&mut short, 0, 3));
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let before = noise.clone();
        assert!(!compress_tail_if_pays(&mut noise, 0, 3));
        assert_eq!(noise, before);
        assert!(!compress_tail_if_pays(&mut vec![0u8; 1000], 0, 0));

        // A negative (fast) level writes a frame the same decoder reads.
        let data: Vec<u8> = (0..2000u32).map(|i| ((i % 251) ^ (i / 97)) as u8).collect();
        let mut fast = b"keep".to_vec();
        fast.extend_from_slice(&data);
        assert!(compress_tail_if_pays(&mut fast, 4, -1));
        assert!(fast.len() <= 4 + data.len() * 7 / 8, "{}", fast.len());
        decompress(&fast[4..], data.len(), &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn garbage_frames_are_errors_not_panics() {
        let mut back = Vec::new();
        for src in [
            &[][..],
            &[10, 1, 2, 3],
            &[0x80],
            &[5, 0x28, 0xb5, 0x2f, 0xfd, 0, 0],
        ] {
            assert!(decompress(src, 100, &mut back).is_err(), "{src:?}");
        }
    }
}
