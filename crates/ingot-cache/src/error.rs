use std::io;
use std::path::{Path, PathBuf};

/// Errors of the store. Each names the path or alias concerned.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The disk (or the user's quota) is full.
    #[error("disk full while writing {path}: free some space (`ingot cache gc` removes unused files) or point INGOT_HOME at a larger disk; a download resumes where it stopped")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// A file hit the largest size allowed: the process's file size limit (`ulimit -f`,
    /// RLIMIT_FSIZE) or the file system's maximum file size.
    #[error("file size limit reached while writing {path}: the process's file size limit (`ulimit -f`) or the file system does not allow a file this large; raise the limit or point INGOT_HOME at another file system; a download resumes where it stopped")]
    FileTooLarge {
        /// The file being written.
        path: PathBuf,
    },
    /// The file or folder may not be read or written (including read-only file systems).
    #[error("permission denied on {path} ({source}): check who owns the cache folder, or set INGOT_HOME to a folder you can write")]
    PermissionDenied {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Any other I/O error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The alias is malformed (checked before it is used as a file name).
    #[error(transparent)]
    InvalidAlias(#[from] ingot_catalog::CatalogError),
    /// A SHA-256 given to the store is not 64 hex digits.
    #[error("invalid sha256 {0:?}: expected 64 hex digits")]
    InvalidSha256(String),
    /// The alias has no verified file in the cache.
    #[error("model '{alias}' is not in the cache")]
    NotCached {
        /// The alias.
        alias: String,
    },
    /// A manifest exists but cannot be parsed.
    #[error("corrupt manifest {path}: {message} (delete it, or run `ingot gc`)")]
    CorruptManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file to commit does not have the size it was said to have.
    #[error("{path} is {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The partial file.
        path: PathBuf,
        /// The size it should have.
        expected: u64,
        /// Its size.
        actual: u64,
    },
    /// Neither `INGOT_HOME` nor a per-user cache folder is available.
    #[error("cannot find a cache folder: set INGOT_HOME")]
    NoHome,
}

impl CacheError {
    /// Classifies an I/O error on `path`: disk full and permission problems get their own
    /// variants because the user fixes them differently from other I/O failures.
    pub fn from_io(path: impl AsRef<Path>, source: io::Error) -> CacheError {
        let path = path.as_ref().to_path_buf();
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                CacheError::DiskFull { path }
            }
            io::ErrorKind::FileTooLarge => CacheError::FileTooLarge { path },
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                CacheError::PermissionDenied { path, source }
            }
            _ => CacheError::Io { path, source },
        }
    }

    /// Whether retrying elsewhere cannot help (full disk, file size limit, no permission):
    /// a downloader should stop rather than try the next source.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            CacheError::DiskFull { .. }
                | CacheError::FileTooLarge { .. }
                | CacheError::PermissionDenied { .. }
        )
    }
}

/// Result type of this crate.
pub type Result<T, E = CacheError> = std::result::Result<T, E>;

/// `.map_err` helper: `fs::op(p).ctx(p)?`.
pub(crate) trait IoContext<T> {
    fn ctx(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, path: &Path) -> Result<T> {
        self.map_err(|e| CacheError::from_io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue2_enospc_and_eacces_are_distinct() {
        // 28 = ENOSPC, 13 = EACCES, 30 = EROFS, 122 = EDQUOT on Linux.
        let e = CacheError::from_io("/c/x", io::Error::from_raw_os_error(28));
        assert!(matches!(e, CacheError::DiskFull { .. }), "{e:?}");
        assert!(e.to_string().contains("/c/x") && e.to_string().contains("disk full"));
        let e = CacheError::from_io("/c/x", io::Error::from_raw_os_error(122));
        assert!(matches!(e, CacheError::DiskFull { .. }), "{e:?}");
        let e = CacheError::from_io("/c/y", io::Error::from_raw_os_error(13));
        assert!(matches!(e, CacheError::PermissionDenied { .. }), "{e:?}");
        assert!(e.to_string().contains("/c/y"));
        let e = CacheError::from_io("/c/y", io::Error::from_raw_os_error(30));
        assert!(matches!(e, CacheError::PermissionDenied { .. }), "{e:?}");
        // 27 = EFBIG: RLIMIT_FSIZE or the file system's largest file.
        let e = CacheError::from_io("/c/f", io::Error::from_raw_os_error(27));
        assert!(
            matches!(e, CacheError::FileTooLarge { .. }) && e.is_fatal(),
            "{e:?}"
        );
        assert!(e.to_string().contains("/c/f") && e.to_string().contains("ulimit -f"));
        let e = CacheError::from_io("/c/z", io::Error::from_raw_os_error(5));
        assert!(matches!(e, CacheError::Io { .. }) && !e.is_fatal());
    }
}
