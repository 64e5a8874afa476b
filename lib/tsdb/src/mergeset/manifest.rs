//! The list of a table's file parts, replaced atomically after every flush and merge. A part
//! directory not listed is a leftover of a crash and is removed at open.
//!
//! ```text
//! ┌──────────────────────┬────────────────┬───────────────────────┬──────────────┐
//! │ magic "TSDBMSM1" (8) │ count: u32 LE  │ part id: u64 LE × count│ crc32: u32 LE│
//! └──────────────────────┴────────────────┴───────────────────────┴──────────────┘
//! ```

use std::path::Path;

use crate::encoding::Reader;
use crate::error::{Error, Result};

/// First bytes of the manifest; the digit is the format version.
pub const MANIFEST_MAGIC: &[u8; 8] = b"TSDBMSM1";

/// Encodes a manifest listing `ids`.
pub fn encode(ids: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + ids.len() * 8);
    out.extend_from_slice(MANIFEST_MAGIC);
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes the manifest at `path` (for error messages) from `data`.
pub fn decode(path: &Path, data: &[u8]) -> Result<Vec<u64>> {
    let corrupt = |what: String| Error::corruption(path, "manifest", what);
    if data.len() < 16 {
        return Err(corrupt(format!("{} bytes, want at least 16", data.len())));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(corrupt("checksum mismatch".to_owned()));
    }
    let mut r = Reader::new(body);
    let parse = |r: &mut Reader<'_>| {
        let magic = r.array::<8>("magic")?;
        let n = r.u32_le("part count")? as usize;
        let ids = (0..n.min(r.remaining() / 8 + 1))
            .map(|_| r.u64_le("part id"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, crate::encoding::DecodeError>((magic, n, ids))
    };
    let (magic, n, ids) = parse(&mut r).map_err(|e| corrupt(e.to_string()))?;
    if &magic != MANIFEST_MAGIC {
        return Err(corrupt(format!(
            "bad magic {magic:?}, want {MANIFEST_MAGIC:?}"
        )));
    }
    if ids.len() != n || !r.is_empty() {
        return Err(corrupt(format!("lists {n} parts in {} bytes", body.len())));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let p = Path::new("m");
        assert_eq!(decode(p, &encode(&[3, 1, 7])).unwrap(), vec![3, 1, 7]);
        assert_eq!(decode(p, &encode(&[])).unwrap(), Vec::<u64>::new());
        let mut bad = encode(&[5]);
        bad[12] ^= 1;
        assert!(
            decode(p, &bad)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
        assert!(decode(p, &bad[..10]).is_err());
    }
}
