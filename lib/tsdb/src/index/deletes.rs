//! Deleted series: a persisted set of metric ids that every lookup filters out at once, that
//! the data path asks about (`is_deleted`) to drop rows in its merges, and that the index's
//! merge hook uses to purge items.
//!
//! ```text
//! deleted.bin
//! ┌──────────────────────┬────────────────┬──────────────────────────────┬───────────────┐
//! │ magic "TSDBDEL1" (8) │ count: u64 LE  │ metric_id: u64 LE × count,   │ crc32: u32 LE │
//! │                      │                │ ascending                    │               │
//! └──────────────────────┴────────────────┴──────────────────────────────┴───────────────┘
//! ```
//! Replaced atomically on every delete. Metric ids are never reused, so the set only grows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rustc_hash::FxHashSet;

use crate::encoding::Reader;
use crate::error::{Error, Result};

/// First bytes of `deleted.bin`; the digit is the format version.
pub const DELETED_MAGIC: &[u8; 8] = b"TSDBDEL1";

/// The set of deleted metric ids.
#[derive(Debug)]
pub struct DeletedIds {
    path: PathBuf,
    set: RwLock<Arc<FxHashSet<u64>>>,
    any: AtomicBool,
    write: Mutex<()>,
}

impl DeletedIds {
    /// Loads the set from `path` (empty when the file does not exist).
    pub fn open(path: &Path) -> Result<Self> {
        let set = match std::fs::read(path) {
            Ok(data) => decode(path, &data)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FxHashSet::default(),
            Err(e) => return Err(Error::io("read deleted series", path, e)),
        };
        Ok(Self {
            path: path.to_owned(),
            any: AtomicBool::new(!set.is_empty()),
            set: RwLock::new(Arc::new(set)),
            write: Mutex::new(()),
        })
    }

    /// Whether `metric_id` was deleted. One atomic load while nothing is deleted.
    #[inline]
    pub fn contains(&self, metric_id: u64) -> bool {
        self.any.load(Ordering::Acquire) && self.snapshot().contains(&metric_id)
    }

    /// Whether anything was ever deleted.
    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// The current set, for many checks without locking.
    pub fn snapshot(&self) -> Arc<FxHashSet<u64>> {
        Arc::clone(&self.set.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Number of deleted ids.
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// Adds ids, persists the set, and returns how many were new. Lookups stop seeing them
    /// when this returns.
    pub fn add(&self, ids: &[u64]) -> Result<usize> {
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.snapshot();
        let mut next: FxHashSet<u64> = (*cur).clone();
        let before = next.len();
        next.extend(ids.iter().copied());
        let added = next.len() - before;
        if added == 0 {
            return Ok(0);
        }
        crate::fs::replace_file_atomic(&self.path, &encode(&next))?;
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        self.any.store(true, Ordering::Release);
        Ok(added)
    }
}

fn encode(set: &FxHashSet<u64>) -> Vec<u8> {
    let mut ids: Vec<u64> = set.iter().copied().collect();
    ids.sort_unstable();
    let mut out = Vec::with_capacity(20 + ids.len() * 8);
    out.extend_from_slice(DELETED_MAGIC);
    out.extend_from_slice(&(ids.len() as u64).to_le_bytes());
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(path: &Path, data: &[u8]) -> Result<FxHashSet<u64>> {
    let corrupt = |what: String| Error::corruption(path, "deleted series file", what);
    if data.len() < 20 {
        return Err(corrupt(format!("{} bytes, want at least 20", data.len())));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(corrupt("checksum mismatch".to_owned()));
    }
    let mut r = Reader::new(body);
    let magic = r.array::<8>("magic").map_err(|e| corrupt(e.to_string()))?;
    if &magic != DELETED_MAGIC {
        return Err(corrupt(format!(
            "bad magic {magic:?}, want {DELETED_MAGIC:?}"
        )));
    }
    let n = r.u64_le("count").map_err(|e| corrupt(e.to_string()))?;
    if n.checked_mul(8) != Some(r.remaining() as u64) {
        return Err(corrupt(format!(
            "count {n} does not fit {} bytes",
            r.remaining()
        )));
    }
    (0..n)
        .map(|_| r.u64_le("metric id").map_err(|e| corrupt(e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_detects_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("deleted.bin");
        let d = DeletedIds::open(&p).unwrap();
        assert!(!d.contains(5) && d.is_empty());
        assert_eq!(d.add(&[5, 7, 5]).unwrap(), 2);
        assert_eq!(d.add(&[7]).unwrap(), 0);
        assert!(d.contains(5) && d.contains(7) && !d.contains(6));
        let d2 = DeletedIds::open(&p).unwrap();
        assert_eq!(d2.len(), 2);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[17] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let err = DeletedIds::open(&p).unwrap_err();
        assert!(matches!(err, Error::Corruption { .. }), "{err}");
    }
}
