//! Frames: the unit of every message after the handshake.
//!
//! ```text
//! ┌──────────────────┬──────────┬───────────┬──────────────────────┐
//! │ payload_len u32LE│ type u8  │ flags u8  │ payload (payload_len) │
//! └──────────────────┴──────────┴───────────┴──────────────────────┘
//! flags bit 0: payload is one zstd frame; the rest must be zero.
//! ```
//! `payload_len` is the length on the wire (after compression) and must not exceed
//! [`MAX_FRAME_LEN`]; a decompressed payload must not exceed [`MAX_DECODED_LEN`].

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest payload on the wire: 64 MiB.
pub const MAX_FRAME_LEN: usize = 64 << 20;
/// Largest payload after decompression: 256 MiB.
pub const MAX_DECODED_LEN: usize = 256 << 20;
/// Payloads at least this large are compressed when compression is on.
pub const COMPRESS_MIN_LEN: usize = 512;
const FLAG_ZSTD: u8 = 1;
const HEADER_LEN: usize = 6;

/// Message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    /// Client → server: a row batch ([`crate::row_batch`]).
    InsertRequest = 1,
    /// Server → client: [`crate::messages::InsertAck`].
    InsertAck = 2,
    /// Client → server: [`crate::messages::SelectRequest`].
    SelectRequest = 10,
    /// Server → client, zero or more per search: a series chunk ([`crate::series_chunk`]).
    SeriesChunk = 11,
    /// Server → client: the final [`crate::messages::SelectResponse`] of a select call.
    SelectResponse = 12,
    /// Server → client: [`crate::messages::ErrorMessage`]; ends the call.
    Error = 15,
}

impl FrameType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::InsertRequest,
            2 => Self::InsertAck,
            10 => Self::SelectRequest,
            11 => Self::SeriesChunk,
            12 => Self::SelectResponse,
            15 => Self::Error,
            _ => return None,
        })
    }
}

/// A frame that failed to read or decode.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed or closed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The frame broke the protocol.
    #[error("{0}")]
    Protocol(String),
}

/// Writes one frame, compressing the payload with zstd (level 1) when `compress` is set and the
/// payload is large enough for it to pay.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    ty: FrameType,
    payload: &[u8],
    compress: bool,
) -> std::io::Result<()> {
    let compressed;
    let (body, flags) = if compress && payload.len() >= COMPRESS_MIN_LEN {
        compressed = compress_reusing_context(payload)?;
        (compressed.as_slice(), FLAG_ZSTD)
    } else {
        (payload, 0)
    };
    if body.len() > MAX_FRAME_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "frame of {} bytes exceeds the limit of {MAX_FRAME_LEN}",
                body.len()
            ),
        ));
    }
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&(body.len() as u32).to_le_bytes());
    header[4] = ty as u8;
    header[5] = flags;
    w.write_all(&header).await?;
    w.write_all(body).await?;
    w.flush().await
}

/// Reads one frame and returns its type and decompressed payload.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<(FrameType, Vec<u8>), FrameError> {
    let mut header = [0u8; HEADER_LEN];
    r.read_exact(&mut header).await?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let ty = FrameType::from_u8(header[4])
        .ok_or_else(|| FrameError::Protocol(format!("unknown frame type {}", header[4])))?;
    let flags = header[5];
    if flags & !FLAG_ZSTD != 0 {
        return Err(FrameError::Protocol(format!(
            "unknown frame flags {flags:#04x}"
        )));
    }
    if len > MAX_FRAME_LEN {
        return Err(FrameError::Protocol(format!(
            "frame of {len} bytes exceeds the limit of {MAX_FRAME_LEN}"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    if flags & FLAG_ZSTD == 0 {
        return Ok((ty, body));
    }
    let decoded = decompress_bounded(&body)?;
    Ok((ty, decoded))
}

thread_local! {
    // Creating a zstd context costs more than compressing a small frame: keep one per thread.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
}

fn compress_reusing_context(payload: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(zstd::bulk::Compressor::new(1)?);
        }
        match c.as_mut() {
            Some(c) => c.compress(payload),
            None => unreachable!("the compressor was just created"),
        }
    })
}

fn decompress_bounded(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    let bad = |e: &dyn std::fmt::Display| FrameError::Protocol(format!("bad zstd payload: {e}"));
    // Our frames carry their decoded size (zstd's one-shot API writes it): decode straight
    // into a buffer of that size with the thread's context. Other frames take the bounded
    // streaming path.
    let declared = zstd::zstd_safe::get_frame_content_size(body).ok().flatten();
    match declared {
        Some(n) if n > MAX_DECODED_LEN as u64 => Err(FrameError::Protocol(format!(
            "decompressed frame of {n} bytes exceeds the limit of {MAX_DECODED_LEN} bytes"
        ))),
        Some(n) => DECOMPRESSOR.with(|d| {
            let mut d = d.borrow_mut();
            if d.is_none() {
                *d = Some(zstd::bulk::Decompressor::new().map_err(|e| bad(&e))?);
            }
            match d.as_mut() {
                Some(d) => d.decompress(body, n as usize).map_err(|e| bad(&e)),
                None => unreachable!("the decompressor was just created"),
            }
        }),
        None => {
            use std::io::Read;
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(body).map_err(|e| bad(&e))?;
            let mut out = Vec::new();
            let read = (&mut decoder)
                .take(MAX_DECODED_LEN as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad(&e))?;
            if read > MAX_DECODED_LEN {
                return Err(FrameError::Protocol(format!(
                    "decompressed frame exceeds the limit of {MAX_DECODED_LEN} bytes"
                )));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_compressed_or_not() {
        let big: Vec<u8> = (0..10_000u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
        for (payload, compress) in [
            (vec![], false),
            (b"small".to_vec(), true),
            (big.clone(), true),
            (big, false),
        ] {
            let mut wire = Vec::new();
            write_frame(&mut wire, FrameType::SeriesChunk, &payload, compress)
                .await
                .unwrap();
            if compress && payload.len() >= COMPRESS_MIN_LEN {
                assert!(
                    wire.len() < payload.len() / 4,
                    "compression should pay on repetitive data"
                );
            }
            let (ty, got) = read_frame(&mut wire.as_slice()).await.unwrap();
            assert_eq!(ty, FrameType::SeriesChunk);
            assert_eq!(got, payload);
        }
    }

    #[tokio::test]
    async fn hostile_frames_are_refused() {
        #[track_caller]
        fn check(wire: Vec<u8>, want: &str) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let err = rt.block_on(read_frame(&mut wire.as_slice())).unwrap_err();
            assert!(
                err.to_string().contains(want),
                "{err} does not mention {want:?}"
            );
        }
        let mut too_long = (u32::MAX).to_le_bytes().to_vec();
        too_long.extend([1, 0]);
        std::thread::spawn(move || {
            check(too_long, "exceeds the limit");
            check(vec![0, 0, 0, 0, 99, 0], "unknown frame type 99");
            check(vec![0, 0, 0, 0, 1, 0x80], "unknown frame flags");
            check(vec![3, 0, 0, 0, 1, 1, 1, 2, 3], "bad zstd payload");
            check(vec![9, 0, 0, 0, 1, 0, 1], "early eof");
        })
        .join()
        .unwrap();
    }
}
