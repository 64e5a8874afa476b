//! A partition: the parts holding one UTC month, and the manifest that says which they are.
//!
//! `parts.manifest` (replaced atomically, see `docs/on-disk-format.md`):
//! ```text
//! magic "TSDBMANI" (8) │ version u32 LE = 1 │ next_part_id u64 LE │ count u32 LE │
//! count × part id u64 LE (ascending) │ crc32 of everything before, u32 LE
//! ```
//! A part directory not listed in the manifest is a crash leftover (written but never
//! published, or replaced by a merge whose sources were not yet deleted) and is removed at open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rustc_hash::FxHashSet;

use crate::block_stream_reader::BlockStreamReader;
use crate::block_stream_writer::{create_file_part, finish_file_part};
use crate::encoding::reader::Reader;
use crate::error::{Error, Result};
use crate::filenames::{MANIFEST_FILE, PART_FILES, parse_part_dir_name, part_dir_name};
use crate::fs::{
    create_dir_durable, publish_dir, remove_dir_durable, remove_temporaries, replace_file_atomic,
    tmp_path,
};
use crate::merge::{BlockSource, MergeParams, MergeStats, PartSink, merge_blocks};
use crate::merge_policy::{MergePolicy, pick_parts_to_merge};
use crate::part::Part;
use crate::time_range::Month;

/// First bytes of `parts.manifest`.
pub const MANIFEST_MAGIC: &[u8; 8] = b"TSDBMANI";
/// Manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// A part and its id within the partition.
#[derive(Clone, Debug)]
pub struct PartEntry {
    /// The part id (its directory name for file parts).
    pub id: u64,
    /// The part.
    pub part: Arc<Part>,
}

#[derive(Debug, Default)]
struct State {
    file_parts: Vec<PartEntry>,
    inmemory_parts: Vec<PartEntry>,
    merging: FxHashSet<u64>,
    next_part_id: u64,
}

/// The parts of one month.
#[derive(Debug)]
pub struct Partition {
    month: Month,
    dir: PathBuf,
    state: Mutex<State>,
    merge_lock: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // State is replaced whole under the lock; a panic cannot leave it half-updated.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Encodes a manifest.
pub fn encode_manifest(next_part_id: u64, ids: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(28 + ids.len() * 8);
    out.extend_from_slice(MANIFEST_MAGIC);
    out.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
    out.extend_from_slice(&next_part_id.to_le_bytes());
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a manifest: `(next_part_id, part ids)`.
pub fn decode_manifest(path: &Path, src: &[u8]) -> Result<(u64, Vec<u64>)> {
    let bad = |what: String| Error::corruption(path, "manifest", what);
    let Some(body_len) = src.len().checked_sub(4) else {
        return Err(bad(format!("got {} bytes, want at least 28", src.len())));
    };
    let (body, crc) = src.split_at(body_len);
    let want = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let got = crc32fast::hash(body);
    if got != want {
        return Err(bad(format!(
            "checksum mismatch: got {got:#010x}, want {want:#010x}"
        )));
    }
    let mut r = Reader::new(body);
    let e = |e: crate::encoding::DecodeError| bad(e.to_string());
    if &r.array::<8>("manifest magic").map_err(e)? != MANIFEST_MAGIC {
        return Err(bad("bad magic".into()));
    }
    let version = r.u32_le("manifest version").map_err(e)?;
    if version != MANIFEST_VERSION {
        return Err(bad(format!(
            "unsupported manifest version {version}, want {MANIFEST_VERSION}"
        )));
    }
    let next = r.u64_le("next_part_id").map_err(e)?;
    let count = r.u32_le("part count").map_err(e)? as usize;
    if count * 8 != r.remaining() {
        return Err(bad(format!(
            "{count} part ids need {} bytes, {} left",
            count * 8,
            r.remaining()
        )));
    }
    let ids = (0..count)
        .map(|_| r.u64_le("part id"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(e)?;
    if ids.iter().any(|&id| id >= next) {
        return Err(bad(format!("a part id is not below next_part_id {next}")));
    }
    Ok((next, ids))
}

impl Partition {
    /// Opens (or creates) the partition in `dir`, removing crash leftovers.
    pub fn open(dir: &Path, month: Month) -> Result<Partition> {
        create_dir_durable(dir)?;
        remove_temporaries(dir)?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let (next_part_id, ids) = match std::fs::read(&manifest_path) {
            Ok(raw) => decode_manifest(&manifest_path, &raw)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                replace_file_atomic(&manifest_path, &encode_manifest(1, &[]))?;
                (1, Vec::new())
            }
            Err(e) => return Err(Error::io("read manifest", &manifest_path, e)),
        };
        let live: FxHashSet<u64> = ids.iter().copied().collect();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list partition", dir, e))? {
            let entry = entry.map_err(|e| Error::io("list partition", dir, e))?;
            let name = entry.file_name();
            if let Some(id) = parse_part_dir_name(&name.to_string_lossy())
                && !live.contains(&id)
            {
                remove_dir_durable(&entry.path())?;
            }
        }
        let mut file_parts = Vec::with_capacity(ids.len());
        for id in ids {
            let pdir = dir.join(part_dir_name(id));
            if !pdir.is_dir() {
                return Err(Error::corruption(
                    &manifest_path,
                    format!("part {id}"),
                    format!("listed part {} is missing", pdir.display()),
                ));
            }
            file_parts.push(PartEntry {
                id,
                part: Arc::new(Part::open(&pdir)?),
            });
        }
        Ok(Partition {
            month,
            dir: dir.to_owned(),
            state: Mutex::new(State {
                file_parts,
                next_part_id,
                ..State::default()
            }),
            merge_lock: Mutex::new(()),
        })
    }

    /// The month.
    pub fn month(&self) -> Month {
        self.month
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every part, file and in-memory, for a search.
    pub fn parts(&self) -> Vec<Arc<Part>> {
        let s = lock(&self.state);
        s.file_parts
            .iter()
            .chain(&s.inmemory_parts)
            .map(|e| Arc::clone(&e.part))
            .collect()
    }

    /// `(file parts, in-memory parts)`.
    pub fn part_lists(&self) -> (Vec<PartEntry>, Vec<PartEntry>) {
        let s = lock(&self.state);
        (s.file_parts.clone(), s.inmemory_parts.clone())
    }

    /// Makes an in-memory part searchable.
    pub fn add_inmemory(&self, part: Part) {
        let mut s = lock(&self.state);
        let id = s.next_part_id;
        s.next_part_id += 1;
        s.inmemory_parts.push(PartEntry {
            id,
            part: Arc::new(part),
        });
    }

    /// Merges `sources` into a new published file part; `None` when nothing is left to write.
    fn write_part(
        &self,
        sources: &[Arc<Part>],
        params: &MergeParams<'_>,
        zstd_level: i32,
    ) -> Result<(Option<PartEntry>, MergeStats)> {
        let id = {
            let mut s = lock(&self.state);
            s.next_part_id += 1;
            s.next_part_id - 1
        };
        let final_dir = self.dir.join(part_dir_name(id));
        let tmp = tmp_path(&final_dir);
        let res = (|| {
            let writer = create_file_part(&tmp, zstd_level, params.dedup_interval_ms)?;
            let mut readers: Vec<BlockStreamReader> = sources
                .iter()
                .map(|p| BlockStreamReader::new(Arc::clone(p)))
                .collect();
            let mut srcs: Vec<&mut dyn BlockSource> = readers
                .iter_mut()
                .map(|r| r as &mut dyn BlockSource)
                .collect();
            let mut sink = PartSink { writer, zstd_level };
            let stats = merge_blocks(&mut srcs, &mut sink, params)?;
            let meta = finish_file_part(sink.writer, &tmp)?;
            Ok((meta, stats))
        })();
        let (meta, stats) = match res {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if meta.rows_count == 0 {
            remove_dir_durable(&tmp)?;
            return Ok((None, stats));
        }
        publish_dir(&tmp, &final_dir)?;
        Ok((
            Some(PartEntry {
                id,
                part: Arc::new(Part::open(&final_dir)?),
            }),
            stats,
        ))
    }

    /// Swaps parts atomically for searches and in the manifest, then deletes replaced file parts.
    fn replace(&self, removed: &FxHashSet<u64>, added: Option<PartEntry>) -> Result<()> {
        let mut gone = Vec::new();
        {
            let mut s = lock(&self.state);
            let mut files: Vec<PartEntry> = s
                .file_parts
                .iter()
                .filter(|e| !removed.contains(&e.id))
                .cloned()
                .collect();
            files.extend(added);
            let mut ids: Vec<u64> = files.iter().map(|e| e.id).collect();
            ids.sort_unstable();
            replace_file_atomic(
                &self.dir.join(MANIFEST_FILE),
                &encode_manifest(s.next_part_id, &ids),
            )?;
            gone.extend(
                s.file_parts
                    .iter()
                    .filter(|e| removed.contains(&e.id))
                    .map(|e| e.id),
            );
            s.file_parts = files;
            s.inmemory_parts.retain(|e| !removed.contains(&e.id));
        }
        // Searches holding these parts keep reading them through their maps.
        for id in gone {
            remove_dir_durable(&self.dir.join(part_dir_name(id)))?;
        }
        Ok(())
    }

    /// Writes `entries` (in-memory parts) to one file part and swaps it in.
    pub fn flush_inmemory(
        &self,
        entries: &[PartEntry],
        params: &MergeParams<'_>,
        zstd_level: i32,
    ) -> Result<MergeStats> {
        if entries.is_empty() {
            return Ok(MergeStats::default());
        }
        let parts: Vec<Arc<Part>> = entries.iter().map(|e| Arc::clone(&e.part)).collect();
        let (added, stats) = self.write_part(&parts, params, zstd_level)?;
        let removed: FxHashSet<u64> = entries.iter().map(|e| e.id).collect();
        self.replace(&removed, added)?;
        Ok(stats)
    }

    /// Runs one merge if the policy finds one (every file part when `force`, and then also a
    /// single part, to apply retention, dedup and deletes). Returns the merge's stats, or
    /// `None` when there was nothing to do or another merge of this partition is running.
    pub fn merge_once(
        &self,
        policy: &MergePolicy,
        params: &MergeParams<'_>,
        zstd_level: i32,
        force: bool,
    ) -> Result<Option<MergeStats>> {
        let _guard = if force {
            lock(&self.merge_lock)
        } else {
            match self.merge_lock.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
            }
        };
        let picked: Vec<PartEntry> = {
            let mut s = lock(&self.state);
            let free: Vec<&PartEntry> = s
                .file_parts
                .iter()
                .filter(|e| !s.merging.contains(&e.id))
                .collect();
            let ids: Vec<u64> = if force {
                // A lone part is rewritten only when the rewrite can change it.
                let unchanged = |e: &&PartEntry| {
                    let m = e.part.metadata();
                    params.is_deleted.is_none()
                        && m.dedup_interval_ms == params.dedup_interval_ms
                        && params.range.contains(m.min_timestamp)
                        && params.range.contains(m.max_timestamp)
                };
                if free.len() == 1 && free.first().is_some_and(unchanged) {
                    Vec::new()
                } else {
                    free.iter().map(|e| e.id).collect()
                }
            } else {
                let sized: Vec<(u64, u64)> =
                    free.iter().map(|e| (e.id, e.part.size_bytes())).collect();
                pick_parts_to_merge(&sized, policy)
            };
            if ids.is_empty() {
                return Ok(None);
            }
            let picked: Vec<PartEntry> = free
                .into_iter()
                .filter(|e| ids.contains(&e.id))
                .cloned()
                .collect();
            s.merging.extend(ids);
            picked
        };
        let parts: Vec<Arc<Part>> = picked.iter().map(|e| Arc::clone(&e.part)).collect();
        let res = self
            .write_part(&parts, params, zstd_level)
            .and_then(|(added, stats)| {
                let removed: FxHashSet<u64> = picked.iter().map(|e| e.id).collect();
                self.replace(&removed, added)?;
                Ok(stats)
            });
        let mut s = lock(&self.state);
        for e in &picked {
            s.merging.remove(&e.id);
        }
        res.map(Some)
    }

    /// Drops file parts whose newest sample is older than `min_timestamp`. Returns rows dropped.
    pub fn drop_parts_before(&self, min_timestamp: i64) -> Result<u64> {
        let removed: FxHashSet<u64> = {
            let s = lock(&self.state);
            s.file_parts
                .iter()
                .filter(|e| {
                    !s.merging.contains(&e.id) && e.part.metadata().max_timestamp < min_timestamp
                })
                .map(|e| e.id)
                .collect()
        };
        if removed.is_empty() {
            return Ok(0);
        }
        let rows = lock(&self.state)
            .file_parts
            .iter()
            .filter(|e| removed.contains(&e.id))
            .map(|e| e.part.metadata().rows_count)
            .sum();
        self.replace(&removed, None)?;
        Ok(rows)
    }

    /// Hard-links the file parts into `dst` (a new partition directory) with a manifest: a
    /// consistent copy, since parts are immutable.
    pub fn snapshot_to(&self, dst: &Path) -> Result<()> {
        create_dir_durable(dst)?;
        let s = lock(&self.state);
        let mut ids = Vec::new();
        for e in &s.file_parts {
            let name = part_dir_name(e.id);
            let (from, to) = (self.dir.join(&name), dst.join(&name));
            std::fs::create_dir(&to).map_err(|err| Error::io("create snapshot part", &to, err))?;
            for f in PART_FILES {
                std::fs::hard_link(from.join(f), to.join(f))
                    .map_err(|err| Error::io("hard-link part file", to.join(f), err))?;
            }
            crate::fs::fsync_dir(&to)?;
            ids.push(e.id);
        }
        ids.sort_unstable();
        replace_file_atomic(
            &dst.join(MANIFEST_FILE),
            &encode_manifest(s.next_part_id, &ids),
        )?;
        crate::fs::fsync_dir(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_damage() {
        let p = Path::new("m");
        let enc = encode_manifest(9, &[1, 4, 8]);
        assert_eq!(decode_manifest(p, &enc).unwrap(), (9, vec![1, 4, 8]));
        for i in 0..enc.len() {
            let mut bad = enc.clone();
            bad[i] ^= 0x10;
            assert!(decode_manifest(p, &bad).is_err(), "flip at {i}");
        }
        for cut in 0..enc.len() {
            assert!(decode_manifest(p, &enc[..cut]).is_err(), "cut {cut}");
        }
        let stale = encode_manifest(4, &[1, 4]);
        assert!(
            decode_manifest(p, &stale)
                .unwrap_err()
                .to_string()
                .contains("next_part_id")
        );
    }
}
