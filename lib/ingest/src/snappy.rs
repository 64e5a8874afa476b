//! Snappy block format (not the framed stream format), as remote_write uses it.

use crate::error::IngestError;

/// Decompresses `body` into `out` (replacing its contents), refusing before any allocation when
/// the length in the snappy header exceeds `limit`.
pub(crate) fn decompress(body: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), IngestError> {
    let len = snap::raw::decompress_len(body).map_err(|e| IngestError::Snappy {
        reason: format!("cannot read the decoded length: {}", reason(&e)),
    })?;
    if len > limit {
        return Err(IngestError::DecodedTooLarge { len, limit });
    }
    out.clear();
    out.resize(len, 0);
    match snap::raw::Decoder::new().decompress(body, out) {
        Ok(n) if n == len => Ok(()),
        Ok(n) => Err(IngestError::Snappy {
            reason: format!("decoded {n} bytes, header says {len}"),
        }),
        Err(e) => Err(IngestError::Snappy { reason: reason(&e) }),
    }
}

/// The decoder's message without its own `snappy: ` prefix.
fn reason(e: &snap::Error) -> String {
    let s = e.to_string();
    s.strip_prefix("snappy: ").map(str::to_owned).unwrap_or(s)
}

/// Compresses `raw` into a new buffer.
pub(crate) fn compress(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0; snap::raw::max_compress_len(raw.len())];
    // Compression into a buffer of `max_compress_len` bytes fails only for inputs over
    // 2^32 - 1 bytes, which no caller builds; an empty result then fails decoding loudly.
    let n = snap::raw::Encoder::new()
        .compress(raw, &mut out)
        .unwrap_or(0);
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let raw = b"hello hello hello hello".repeat(10);
        let packed = compress(&raw);
        let mut out = vec![1, 2, 3];
        decompress(&packed, 1 << 20, &mut out).unwrap();
        assert_eq!(out, raw);
        assert_eq!(
            decompress(&packed, 10, &mut out).unwrap_err(),
            IngestError::DecodedTooLarge {
                len: raw.len(),
                limit: 10
            }
        );
    }

    #[test]
    fn hostile_headers_allocate_nothing() {
        // Header claims 300,000,000 bytes; a 64 MiB limit refuses before allocating.
        let mut body = Vec::new();
        crate::protobuf::put_varint(&mut body, 300_000_000);
        body.extend_from_slice(&[0; 4]);
        let mut out = Vec::new();
        assert_eq!(
            decompress(&body, 64 << 20, &mut out)
                .unwrap_err()
                .to_string(),
            "snappy: decoded length 300000000 exceeds limit 67108864"
        );
        assert_eq!(out.capacity(), 0);
        let e = decompress(&[], 64, &mut out).unwrap_err().to_string();
        assert_eq!(e, "snappy: corrupt input (empty)");
        let e = decompress(&[0xff; 11], 64, &mut out)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "snappy: cannot read the decoded length: corrupt input (invalid header)"
        );
        let e = decompress(&[5, 0xff, 0xff], 64, &mut out).unwrap_err();
        assert!(matches!(e, IngestError::Snappy { .. }), "{e}");
    }
}
