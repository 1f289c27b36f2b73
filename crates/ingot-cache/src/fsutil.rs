//! Durable file-system helpers.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one:
/// write a temporary file in the same folder, fsync it, rename it over `path`, fsync the
/// folder (so the rename itself survives a crash).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("store paths have a parent");
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempfile_in(dir)
        .ctx(dir)?;
    tmp.write_all(bytes).ctx(tmp.path())?;
    tmp.as_file().sync_all().ctx(tmp.path())?;
    // On Windows a reader (or a scanner) holding `path` open makes the replace fail for a
    // moment: retried (ingot_core::files); the temporary file comes back with each failure.
    let mut tmp = Some(tmp);
    ingot_core::files::retry(
        ingot_core::files::RetryPolicy::REPLACE,
        || match tmp.take().map(|t| t.persist(path)) {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => {
                tmp = Some(e.file);
                Err(e.error)
            }
            None => Err(std::io::Error::other("temporary file already persisted")),
        },
        ingot_core::files::is_transient_sharing_error,
        std::thread::sleep,
    )
    .ctx(path)?;
    sync_dir(dir)
}

/// Prefix of temporary files; `gc` removes leftovers of crashed writers.
pub(crate) const TMP_PREFIX: &str = ".tmp-";

/// fsyncs a folder so that renames and deletions in it are durable (a no-op on Windows, see
/// `ingot_core::files::sync_dir`).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    ingot_core::files::sync_dir(dir).ctx(dir)
}

/// Removes a file, treating "already gone" as success; returns the bytes freed.
pub(crate) fn remove_file_counted(path: &Path) -> Result<u64> {
    let size = match fs::symlink_metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(crate::CacheError::from_io(path, e)),
    };
    match fs::remove_file(path) {
        Ok(()) => Ok(size),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(crate::CacheError::from_io(path, e)),
    }
}

/// Removes a file or a whole folder; returns the bytes freed.
pub(crate) fn remove_tree_counted(path: &Path) -> Result<u64> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(crate::CacheError::from_io(path, e)),
    };
    if !meta.is_dir() {
        return remove_file_counted(path);
    }
    let mut freed = 0;
    for entry in fs::read_dir(path).ctx(path)? {
        let entry = entry.ctx(path)?;
        freed += remove_tree_counted(&entry.path())?;
    }
    match fs::remove_dir(path) {
        Ok(()) => Ok(freed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(freed),
        Err(e) => Err(crate::CacheError::from_io(path, e)),
    }
}
