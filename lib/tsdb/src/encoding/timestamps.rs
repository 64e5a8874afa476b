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
    let kind = IntKind::from_u8(tag & !ZSTD_FLAG).ok_or_else(|| DecodeError {
        what: "timestamps codec tag",
        offset: 0,
        problem: format!("unknown tag {tag:#04x}"),
    })?;
    if tag & ZSTD_FLAG == 0 {
        return decode_exact(src, kind, n, out);
    }
    SCRATCH.with_borrow_mut(|raw| {
        decompress(src, n.saturating_mul(MAX_BYTES_PER_INT) + 16, raw)?;
        decode_exact(raw, kind, n, out)
    })
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
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
