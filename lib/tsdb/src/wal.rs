//! A segmented write-ahead log of opaque records.
//!
//! The data path and the series index each keep one. A record is appended before the call that
//! produced it returns; once the owner has made everything in the older segments durable
//! elsewhere (file parts), it rotates and removes them.
//!
//! ```text
//! segment file  <dir>/<id as 16 lowercase hex digits>.wal
//! ┌──────────────────────┬──────────┬──────────┬─────┐
//! │ magic "TSDBWAL1" (8) │ record 0 │ record 1 │ ... │
//! └──────────────────────┴──────────┴──────────┴─────┘
//! record
//! ┌────────────────┬──────────────────────────┬─────────────────┐
//! │ len: u32 LE    │ crc32(payload): u32 LE   │ payload (len B) │
//! └────────────────┴──────────────────────────┴─────────────────┘
//! ```
//! Invariants: segment ids only grow; a new segment is started at every open, so an existing
//! segment is never appended to after a restart. Replay stops a segment at the first record that
//! is truncated, longer than [`MAX_RECORD_LEN`] or fails its checksum (a torn write after a power
//! loss) and goes on with the next segment.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::fs::{create_dir_durable, fsync_dir};

/// First bytes of every segment; the last digit is the format version.
pub const SEGMENT_MAGIC: &[u8; 8] = b"TSDBWAL1";
/// Extension of segment files.
pub const SEGMENT_EXT: &str = "wal";
/// Largest record replay accepts (and append writes): 256 MiB.
pub const MAX_RECORD_LEN: usize = 256 << 20;
const RECORD_HEADER_LEN: usize = 8;

/// What a returned append survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncMode {
    /// The record is handed to the operating system before `append` returns: it survives a crash
    /// or `kill -9` of the process, not a power loss. The default.
    #[default]
    ProcessCrash,
    /// The record is fsynced before `append` returns; concurrent appends share one fsync (group
    /// commit). Survives a power loss.
    PowerLoss,
}

/// What [`Wal::open`] found while replaying.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segments read.
    pub segments: usize,
    /// Records handed to the callback.
    pub records: u64,
    /// Payload bytes handed to the callback.
    pub bytes: u64,
    /// Segments whose tail was torn or corrupt, with the offset where reading stopped.
    pub torn: Vec<(PathBuf, u64)>,
}

/// A segmented write-ahead log. `append` may be called from many threads at once.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    mode: FsyncMode,
    /// Lock order: `synced` before `active`.
    synced: Mutex<u64>,
    active: Mutex<Active>,
}

#[derive(Debug)]
struct Active {
    id: u64,
    file: Arc<File>,
    /// Bytes written to all segments since open; positions for group commit.
    written: u64,
    scratch: Vec<u8>,
}

impl Wal {
    /// Opens the log in `dir` (created if missing), hands every intact record of the existing
    /// segments to `replay` in order, then starts a new segment for appends. The replayed
    /// segments stay until [`Wal::remove_segments_before`] drops them.
    pub fn open(
        dir: &Path,
        mode: FsyncMode,
        mut replay: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<(Wal, ReplayStats)> {
        create_dir_durable(dir)?;
        let mut stats = ReplayStats::default();
        let ids = segment_ids(dir)?;
        let mut buf = Vec::new();
        for &id in &ids {
            let path = segment_path(dir, id);
            stats.segments += 1;
            if let Some(offset) = replay_segment(&path, &mut buf, &mut stats, &mut replay)? {
                stats.torn.push((path, offset));
            }
        }
        let next_id = ids.last().map_or(1, |id| id + 1);
        let file = create_segment(dir, next_id)?;
        let active = Active {
            id: next_id,
            file: Arc::new(file),
            written: 0,
            scratch: Vec::new(),
        };
        let wal = Wal {
            dir: dir.to_owned(),
            mode,
            synced: Mutex::new(0),
            active: Mutex::new(active),
        };
        Ok((wal, stats))
    }

    /// Appends one record. When this returns, the record is in the OS (and on disk in
    /// [`FsyncMode::PowerLoss`]).
    pub fn append(&self, payload: &[u8]) -> Result<()> {
        if payload.len() > MAX_RECORD_LEN {
            return Err(Error::InvalidArgument(format!(
                "WAL record of {} bytes exceeds the limit of {MAX_RECORD_LEN}",
                payload.len()
            )));
        }
        let end = {
            let mut a = lock(&self.active);
            let Active {
                id,
                file,
                written,
                scratch,
            } = &mut *a;
            scratch.clear();
            scratch.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            scratch.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            scratch.extend_from_slice(payload);
            (&**file)
                .write_all(scratch)
                .map_err(|e| Error::io("append to WAL segment", segment_path(&self.dir, *id), e))?;
            *written += scratch.len() as u64;
            if scratch.capacity() > 4 << 20 {
                *scratch = Vec::new();
            }
            *written
        };
        if self.mode == FsyncMode::PowerLoss {
            self.sync_through(end)?;
        }
        Ok(())
    }

    /// Group commit: one caller fsyncs on behalf of every append that finished before it began.
    fn sync_through(&self, end: u64) -> Result<()> {
        let mut synced = lock(&self.synced);
        if *synced >= end {
            return Ok(());
        }
        let (file, id, written) = {
            let a = lock(&self.active);
            (Arc::clone(&a.file), a.id, a.written)
        };
        file.sync_data()
            .map_err(|e| Error::io("fsync WAL segment", segment_path(&self.dir, id), e))?;
        *synced = written;
        Ok(())
    }

    /// Starts a new segment and returns its id. Every record appended before this call is in a
    /// segment with a smaller id.
    pub fn rotate(&self) -> Result<u64> {
        let mut synced = lock(&self.synced);
        let mut a = lock(&self.active);
        if self.mode == FsyncMode::PowerLoss {
            a.file
                .sync_data()
                .map_err(|e| Error::io("fsync WAL segment", segment_path(&self.dir, a.id), e))?;
            *synced = a.written;
        }
        let id = a.id + 1;
        a.file = Arc::new(create_segment(&self.dir, id)?);
        a.id = id;
        Ok(id)
    }

    /// The id of the segment appends go to now.
    pub fn current_segment(&self) -> u64 {
        lock(&self.active).id
    }

    /// Deletes every segment with an id below `id`; call it once their records are durable
    /// elsewhere. Returns how many were removed.
    pub fn remove_segments_before(&self, id: u64) -> Result<usize> {
        let mut removed = 0;
        for old in segment_ids(&self.dir)?.into_iter().filter(|&s| s < id) {
            let path = segment_path(&self.dir, old);
            fs::remove_file(&path).map_err(|e| Error::io("remove WAL segment", &path, e))?;
            removed += 1;
        }
        if removed > 0 {
            fsync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Fsyncs the active segment regardless of the mode; for a clean close.
    pub fn sync(&self) -> Result<()> {
        let a = lock(&self.active);
        a.file
            .sync_data()
            .map_err(|e| Error::io("fsync WAL segment", segment_path(&self.dir, a.id), e))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the state half-updated in a way that matters:
    // the worst case is a record counted as written that a reader will find torn on replay.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The path of segment `id` in `dir`.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}.{SEGMENT_EXT}"))
}

fn segment_ids(dir: &Path) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("list WAL directory", dir, e))? {
        let name = entry
            .map_err(|e| Error::io("list WAL directory", dir, e))?
            .file_name();
        let name = name.to_string_lossy();
        let stem = name
            .strip_suffix(SEGMENT_EXT)
            .and_then(|s| s.strip_suffix('.'));
        if let Some(id) = stem.and_then(|s| u64::from_str_radix(s, 16).ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn create_segment(dir: &Path, id: u64) -> Result<File> {
    let path = segment_path(dir, id);
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io("create WAL segment", &path, e))?;
    f.write_all(SEGMENT_MAGIC)
        .map_err(|e| Error::io("write WAL segment", &path, e))?;
    f.sync_all()
        .map_err(|e| Error::io("fsync WAL segment", &path, e))?;
    fsync_dir(dir)?;
    Ok(f)
}

/// Replays one segment; returns the offset of a torn or corrupt tail, if any.
fn replay_segment(
    path: &Path,
    buf: &mut Vec<u8>,
    stats: &mut ReplayStats,
    replay: &mut impl FnMut(&[u8]) -> Result<()>,
) -> Result<Option<u64>> {
    let file = File::open(path).map_err(|e| Error::io("open WAL segment", path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut magic = [0u8; 8];
    match read_full(&mut r, &mut magic).map_err(|e| Error::io("read WAL segment", path, e))? {
        0 => return Ok(None), // created but never written: nothing to replay
        8 if &magic == SEGMENT_MAGIC => {}
        n => {
            return Err(Error::corruption(
                path,
                "byte 0",
                format!(
                    "bad WAL segment magic: got {:?}, want {:?}",
                    &magic[..n],
                    SEGMENT_MAGIC
                ),
            ));
        }
    }
    let mut offset = SEGMENT_MAGIC.len() as u64;
    loop {
        let mut header = [0u8; RECORD_HEADER_LEN];
        match read_full(&mut r, &mut header).map_err(|e| Error::io("read WAL segment", path, e))? {
            0 => return Ok(None),
            RECORD_HEADER_LEN => {}
            _ => return Ok(Some(offset)),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_RECORD_LEN {
            return Ok(Some(offset));
        }
        buf.clear();
        buf.resize(len, 0);
        if read_full(&mut r, buf).map_err(|e| Error::io("read WAL segment", path, e))? != len
            || crc32fast::hash(buf) != crc
        {
            return Ok(Some(offset));
        }
        replay(buf)?;
        stats.records += 1;
        stats.bytes += len as u64;
        offset += (RECORD_HEADER_LEN + len) as u64;
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reopen(dir: &Path) -> (Wal, Vec<Vec<u8>>, ReplayStats) {
        let mut seen = Vec::new();
        let (wal, stats) = Wal::open(dir, FsyncMode::ProcessCrash, |r| {
            seen.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        (wal, seen, stats)
    }

    #[test]
    fn records_survive_reopen_in_order_and_rotation_drops_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, seen, _) = reopen(dir.path());
        assert!(seen.is_empty());
        wal.append(b"one").unwrap();
        wal.append(b"").unwrap();
        let next = wal.rotate().unwrap();
        wal.append(b"three").unwrap();
        drop(wal);

        let (wal, seen, stats) = reopen(dir.path());
        assert_eq!(seen, vec![b"one".to_vec(), b"".to_vec(), b"three".to_vec()]);
        assert_eq!(stats.records, 3);
        assert!(stats.torn.is_empty());
        assert_eq!(wal.remove_segments_before(next).unwrap(), 1);
        drop(wal);
        let (_, seen, _) = reopen(dir.path());
        assert_eq!(seen, vec![b"three".to_vec()]);
    }

    #[test]
    fn torn_and_corrupt_tails_stop_the_segment_not_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _, _) = reopen(dir.path());
        wal.append(b"kept").unwrap();
        wal.append(b"torn away").unwrap();
        let first = segment_path(dir.path(), wal.current_segment());
        wal.rotate().unwrap();
        wal.append(b"later").unwrap();
        drop(wal);

        let len = fs::metadata(&first).unwrap().len();
        let f = OpenOptions::new().write(true).open(&first).unwrap();
        f.set_len(len - 3).unwrap();
        let (_, seen, stats) = reopen(dir.path());
        assert_eq!(seen, vec![b"kept".to_vec(), b"later".to_vec()]);
        assert_eq!(stats.torn.len(), 1);

        // Flip a payload byte of "kept": its checksum no longer matches.
        let mut bytes = fs::read(&first).unwrap();
        bytes[8 + RECORD_HEADER_LEN] ^= 0xff;
        fs::write(&first, &bytes).unwrap();
        let (_, seen, _) = reopen(dir.path());
        assert_eq!(seen, vec![b"later".to_vec()]);
    }

    #[test]
    fn bad_magic_is_a_located_corruption_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(segment_path(dir.path(), 1), b"NOTAWAL!").unwrap();
        let err = Wal::open(dir.path(), FsyncMode::ProcessCrash, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("bad WAL segment magic"), "{err}");
    }

    #[test]
    fn concurrent_group_committed_appends_all_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), FsyncMode::PowerLoss, |_| Ok(())).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let wal = &wal;
                s.spawn(move || {
                    for i in 0..50u8 {
                        wal.append(&[t, i]).unwrap();
                    }
                });
            }
        });
        drop(wal);
        let (_, seen, _) = reopen(dir.path());
        assert_eq!(seen.len(), 200);
        for t in 0..4u8 {
            let mine: Vec<u8> = seen.iter().filter(|r| r[0] == t).map(|r| r[1]).collect();
            assert_eq!(mine, (0..50).collect::<Vec<u8>>());
        }
    }
}
