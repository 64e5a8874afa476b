//! Durable file-system steps shared by data parts, mergeset parts and manifests.
//!
//! The rule everywhere: write into a temporary name, fsync the files and the directory, rename
//! into place, then fsync the parent. A crash leaves either the old state or the new one, plus
//! temporary leftovers that [`remove_temporaries`] deletes at open.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Suffix of every temporary file or directory; anything ending with it is a crash leftover.
pub const TMP_SUFFIX: &str = ".tmp";

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Creates a directory and its parents, and fsyncs the parent of the new directory.
pub fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Writes `data` to `path` and fsyncs it (not its directory).
pub fn write_file_synced(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io("create file", path, e))?;
    f.write_all(data)
        .map_err(|e| Error::io("write file", path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync file", path, e))
}

/// Replaces `path` with `data` atomically: a reader sees the old content or the new, never a mix.
pub fn replace_file_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    write_file_synced(&tmp, data)?;
    fs::rename(&tmp, path).map_err(|e| Error::io("rename into place", path, e))?;
    fsync_dir(parent_of(path))
}

/// Publishes a fully written temporary directory under its final name: fsyncs every file in it
/// and the directory itself, renames it, and fsyncs the parent.
pub fn publish_dir(tmp_dir: &Path, final_dir: &Path) -> Result<()> {
    let entries = fs::read_dir(tmp_dir).map_err(|e| Error::io("list directory", tmp_dir, e))?;
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io("list directory", tmp_dir, e))?
            .path();
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("fsync file", &path, e))?;
    }
    fsync_dir(tmp_dir)?;
    fs::rename(tmp_dir, final_dir).map_err(|e| Error::io("rename into place", final_dir, e))?;
    fsync_dir(parent_of(final_dir))
}

/// Removes a directory tree and fsyncs its parent. A missing directory is not an error.
pub fn remove_dir_durable(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => fsync_dir(parent_of(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove directory", dir, e)),
    }
}

/// Deletes every entry of `dir` whose name ends with [`TMP_SUFFIX`]: leftovers of a crash.
/// Returns how many it removed.
pub fn remove_temporaries(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("list directory", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        if !entry.file_name().to_string_lossy().ends_with(TMP_SUFFIX) {
            continue;
        }
        let path = entry.path();
        let res = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        res.map_err(|e| Error::io("remove leftover", &path, e))?;
        removed += 1;
    }
    if removed > 0 {
        fsync_dir(dir)?;
    }
    Ok(removed)
}

/// The temporary sibling of `path` (`<path>.tmp`).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(TMP_SUFFIX);
    PathBuf::from(s)
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_replace_and_publish_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("parts.json");
        replace_file_atomic(&manifest, b"one").unwrap();
        replace_file_atomic(&manifest, b"two").unwrap();
        assert_eq!(fs::read(&manifest).unwrap(), b"two");

        let tmp = dir.path().join(format!("part1{TMP_SUFFIX}"));
        fs::create_dir(&tmp).unwrap();
        fs::write(tmp.join("values.bin"), b"v").unwrap();
        publish_dir(&tmp, &dir.path().join("part1")).unwrap();
        assert_eq!(fs::read(dir.path().join("part1/values.bin")).unwrap(), b"v");

        fs::create_dir(dir.path().join(format!("part2{TMP_SUFFIX}"))).unwrap();
        fs::write(dir.path().join(format!("x{TMP_SUFFIX}")), b"").unwrap();
        assert_eq!(remove_temporaries(dir.path()).unwrap(), 2);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec!["part1", "parts.json"]);
        remove_dir_durable(&dir.path().join("part1")).unwrap();
        remove_dir_durable(&dir.path().join("part1")).unwrap();
        assert!(!dir.path().join("part1").exists());
    }
}
