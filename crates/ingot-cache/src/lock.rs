//! Partial-download keys and the per-download lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{CacheError, IoContext, Result};

/// Names an in-progress download: its partial file, its lock and its scratch folders.
///
/// When the expected SHA-256 is known the key is that hash, so every source (and every
/// alias) producing the same file shares one partial and one lock. Otherwise the key is
/// the alias plus a hash of the source description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PartialKey {
    /// The file's expected SHA-256 (lowercase hex).
    Sha256(String),
    /// Alias plus the first 16 hex digits of the SHA-256 of the source description.
    AliasSource {
        /// The alias.
        alias: String,
        /// Hash of the source description.
        source_id: String,
    },
}

impl PartialKey {
    /// Key for a file whose SHA-256 is known.
    pub fn for_sha256(sha256: &str) -> Result<PartialKey> {
        if !ingot_catalog::is_sha256_hex(sha256) {
            return Err(CacheError::InvalidSha256(sha256.to_string()));
        }
        Ok(PartialKey::Sha256(sha256.to_ascii_lowercase()))
    }

    /// Key for a download of `alias` from `source` (any stable description of the source,
    /// e.g. `Source`'s `Display`) whose SHA-256 is not known in advance.
    pub fn for_alias_source(alias: &str, source: &str) -> Result<PartialKey> {
        ingot_catalog::validate_alias(alias)?;
        let digest = Sha256::digest(source.as_bytes());
        Ok(PartialKey::AliasSource {
            alias: alias.to_string(),
            source_id: hex::encode(&digest[..8]),
        })
    }

    /// File-name stem: `sha256-<hex>` or `<alias>--<source id>`. Never contains `~`, `/`
    /// or starts with `.`, since aliases cannot.
    pub fn stem(&self) -> String {
        match self {
            PartialKey::Sha256(h) => format!("sha256-{h}"),
            PartialKey::AliasSource { alias, source_id } => format!("{alias}--{source_id}"),
        }
    }
}

/// An exclusive lock on one download (see [`crate::Store::lock`]). Held while a partial
/// file is written and committed; released when dropped, or by the kernel when the
/// process dies, so a killed download never leaves a stale lock behind.
#[derive(Debug)]
pub struct DownloadLock {
    // The lock is the open file description; closing it (drop) unlocks.
    _file: File,
    key: PartialKey,
    partial: PathBuf,
}

impl DownloadLock {
    /// The key this lock protects.
    pub fn key(&self) -> &PartialKey {
        &self.key
    }

    /// The partial file of this download (may not exist yet). Only the lock holder may
    /// write it.
    pub fn partial_path(&self) -> &Path {
        &self.partial
    }

    /// Where the downloader keeps what identifies the server's version of the partial's
    /// file (`partials/<key>.validator`: ETag or Last-Modified), so that a resume, even by
    /// another process, asks for the rest of that same version (`If-Range`). Removed with
    /// the partial by a commit, and by `gc`.
    pub fn validator_path(&self) -> PathBuf {
        self.partial.with_extension("validator")
    }
}

pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ctx(path)
}

/// Blocks until the exclusive lock on `lock_path` is held.
pub(crate) fn lock_exclusive(
    lock_path: &Path,
    key: PartialKey,
    partial: PathBuf,
) -> Result<DownloadLock> {
    let file = open_lock_file(lock_path)?;
    file.lock().ctx(lock_path)?;
    Ok(DownloadLock {
        _file: file,
        key,
        partial,
    })
}

/// Takes the exclusive lock on `lock_path` if it is free.
pub(crate) fn try_lock_exclusive(
    lock_path: &Path,
    key: PartialKey,
    partial: PathBuf,
) -> Result<Option<DownloadLock>> {
    let file = open_lock_file(lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(DownloadLock {
            _file: file,
            key,
            partial,
        })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(CacheError::from_io(lock_path, e)),
    }
}

/// A lock on the whole store: shared by writers of blobs and manifests, exclusive for `gc`
/// and `rm`, which delete blobs and so must not run between a blob's rename into place and
/// the write of the manifest that references it.
pub(crate) struct StoreLock(#[allow(dead_code)] File);

impl StoreLock {
    pub(crate) fn shared(path: &Path) -> Result<StoreLock> {
        let f = open_lock_file(path)?;
        f.lock_shared().ctx(path)?;
        Ok(StoreLock(f))
    }

    pub(crate) fn exclusive(path: &Path) -> Result<StoreLock> {
        let f = open_lock_file(path)?;
        f.lock().ctx(path)?;
        Ok(StoreLock(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let sha = "AB".repeat(32);
        let k = PartialKey::for_sha256(&sha).unwrap();
        assert_eq!(k.stem(), format!("sha256-{}", "ab".repeat(32)));
        assert!(PartialKey::for_sha256("abc").is_err());
        let a = PartialKey::for_alias_source("m", "hf:o/r@main/f").unwrap();
        let b = PartialKey::for_alias_source("m", "url:http://x").unwrap();
        assert_ne!(a.stem(), b.stem());
        assert!(a.stem().starts_with("m--") && a.stem().len() == 3 + 16);
        assert!(PartialKey::for_alias_source("../m", "x").is_err());
    }
}
