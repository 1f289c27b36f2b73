//! File operations that differ between platforms, shared by every crate that replaces files
//! atomically (the cache's manifests, the user catalog, the service status file, benchmark
//! reports) or hands paths to C code (llama.cpp opens model files itself).
//!
//! - [`replace_file`]: `rename` over an existing file. On Windows another process (an
//!   antivirus scanner, the search indexer, a reader that opened the file without
//!   `FILE_SHARE_DELETE`) may hold the destination open for a moment; the rename then fails
//!   with a sharing violation or "access denied" and succeeds a few milliseconds later, so
//!   it is retried with a bounded backoff ([`RetryPolicy`]). Elsewhere a rename over an open
//!   file always succeeds and nothing is retried.
//! - [`sync_dir`]: makes a rename durable. On Unix the folder is fsynced; Windows cannot open
//!   a folder for flushing without backup privileges, and NTFS journals renames itself.
//! - [`native_path`]: a path C code can open. On Windows paths of 260 characters or more
//!   need the `\\?\` form (Rust's own `std::fs` adds it by itself; llama.cpp does not).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often and how long a transient failure is retried: `attempts` tries in all, waiting
/// `first_wait` after the first failure and twice as long after each next one, never more
/// than `max_wait` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (1 = no retry).
    pub attempts: u32,
    /// Wait after the first failure.
    pub first_wait: Duration,
    /// Longest single wait.
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// The policy of [`replace_file`]: 10 tries over about 2 s in all, enough for a scanner
    /// to let go of a small file, short enough that a file held open for good (a loaded model
    /// mapped by a running server) fails promptly with the system's error.
    pub const REPLACE: RetryPolicy = RetryPolicy {
        attempts: 10,
        first_wait: Duration::from_millis(10),
        max_wait: Duration::from_millis(500),
    };

    /// The wait before try number `attempt + 1` (`attempt` counts from 1).
    pub fn wait_after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_wait.saturating_mul(factor).min(self.max_wait)
    }
}

/// Runs `op` until it succeeds, fails with an error `transient` does not accept, or the
/// policy's tries are used up (then the last error is returned). `sleep` waits between tries
/// (injected so that the policy is tested without waiting).
pub fn retry<T>(
    policy: RetryPolicy,
    mut op: impl FnMut() -> io::Result<T>,
    transient: impl Fn(&io::Error) -> bool,
    mut sleep: impl FnMut(Duration),
) -> io::Result<T> {
    let mut attempt = 1;
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if attempt < policy.attempts && transient(&e) => {
                sleep(policy.wait_after(attempt));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a failed rename or replace may succeed when tried again: on Windows, the
/// destination (or source) is open in another process for a moment. Never on other systems.
pub fn is_transient_sharing_error(e: &io::Error) -> bool {
    #[cfg(windows)]
    {
        // ERROR_ACCESS_DENIED (a file pending deletion or opened without FILE_SHARE_DELETE),
        // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION.
        matches!(e.raw_os_error(), Some(5 | 32 | 33))
    }
    #[cfg(not(windows))]
    {
        let _ = e;
        false
    }
}

/// Renames `from` to `to`, replacing `to` if it exists, retrying while another process holds
/// one of them open on Windows (see the module documentation).
pub fn replace_file(from: &Path, to: &Path) -> io::Result<()> {
    retry(
        RetryPolicy::REPLACE,
        || std::fs::rename(from, to),
        is_transient_sharing_error,
        std::thread::sleep,
    )
}

/// Makes the entries of folder `dir` (a rename into it, a deletion) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Windows opens folders only with FILE_FLAG_BACKUP_SEMANTICS, and flushing one needs
        // write access to it; NTFS journals the metadata of a rename on its own.
        let _ = dir;
        Ok(())
    }
}

/// The path to hand to C code that opens files (llama.cpp's model loader): on Windows an
/// absolute path of 260 characters or more in its `\\?\` form, which the system does not
/// limit to `MAX_PATH`; elsewhere, and for short or relative paths, `path` itself.
pub fn native_path(path: &Path) -> PathBuf {
    #[cfg(windows)]
    {
        if let Some(long) = path.to_str().and_then(verbatim) {
            return PathBuf::from(long);
        }
    }
    path.to_path_buf()
}

/// Windows' limit on a path's length without the `\\?\` prefix (`MAX_PATH`, including the
/// terminating NUL). Folders are limited to 248 characters (room for an 8.3 file name).
pub const MAX_PATH: usize = 260;

/// The `\\?\` form of a Windows path that needs it: absolute (`C:\...` or `\\server\share`),
/// at least [`MAX_PATH`] - 12 characters long (so folders qualify too), not yet in that form.
/// Verbatim paths are not normalised by the system, so `/` becomes `\` and `.`/`..`
/// components are resolved here; a path that climbs above its root is left alone (`None`).
pub fn verbatim(path: &str) -> Option<String> {
    if path.len() < MAX_PATH - 12 || path.starts_with(r"\\?\") || path.starts_with(r"\\.\") {
        return None;
    }
    let path = path.replace('/', "\\");
    let (prefix, rest) = if let Some(unc) = path.strip_prefix(r"\\") {
        // \\server\share\rest -> \\?\UNC\server\share\rest
        let mut parts = unc.splitn(3, '\\');
        let (server, share) = (parts.next()?, parts.next()?);
        if server.is_empty() || share.is_empty() {
            return None;
        }
        (
            format!(r"\\?\UNC\{server}\{share}"),
            parts.next().unwrap_or(""),
        )
    } else {
        let b = path.as_bytes();
        if b.len() < 3 || !b[0].is_ascii_alphabetic() || b[1] != b':' || b[2] != b'\\' {
            return None;
        }
        (format!(r"\\?\{}", &path[..2]), &path[3..])
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('\\') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(format!("{prefix}\\{}", parts.join("\\")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn sharing_violation() -> io::Error {
        io::Error::from_raw_os_error(32)
    }

    #[test]
    fn transient_failures_are_retried_with_a_growing_bounded_wait() {
        let tries = Cell::new(0);
        let mut waits = Vec::new();
        let r = retry(
            RetryPolicy::REPLACE,
            || {
                tries.set(tries.get() + 1);
                if tries.get() < 4 {
                    Err(sharing_violation())
                } else {
                    Ok(tries.get())
                }
            },
            |e| e.raw_os_error() == Some(32),
            |d| waits.push(d),
        );
        assert_eq!(r.unwrap(), 4);
        assert_eq!(
            waits,
            [10, 20, 40].map(Duration::from_millis).to_vec(),
            "doubling from 10 ms"
        );
        assert_eq!(
            RetryPolicy::REPLACE.wait_after(9),
            Duration::from_millis(500)
        );
        assert_eq!(
            RetryPolicy::REPLACE.wait_after(40),
            Duration::from_millis(500)
        );
        let total: Duration = (1..RetryPolicy::REPLACE.attempts)
            .map(|a| RetryPolicy::REPLACE.wait_after(a))
            .sum();
        assert!(total < Duration::from_secs(3), "{total:?}");
    }

    #[test]
    fn retries_stop_after_the_last_attempt_with_the_last_error() {
        let tries = Cell::new(0);
        let mut slept = 0;
        let r: io::Result<()> = retry(
            RetryPolicy::REPLACE,
            || {
                tries.set(tries.get() + 1);
                Err(sharing_violation())
            },
            |_| true,
            |_| slept += 1,
        );
        assert_eq!(r.unwrap_err().raw_os_error(), Some(32));
        assert_eq!(tries.get(), RetryPolicy::REPLACE.attempts);
        assert_eq!(slept, RetryPolicy::REPLACE.attempts - 1);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let tries = Cell::new(0);
        let r: io::Result<()> = retry(
            RetryPolicy::REPLACE,
            || {
                tries.set(tries.get() + 1);
                Err(io::Error::new(io::ErrorKind::NotFound, "gone"))
            },
            is_transient_sharing_error,
            |_| panic!("no wait for a permanent error"),
        );
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(tries.get(), 1);
    }

    #[cfg(not(windows))]
    #[test]
    fn sharing_errors_are_never_transient_outside_windows() {
        assert!(!is_transient_sharing_error(&sharing_violation()));
    }

    #[test]
    fn replace_file_replaces_an_existing_file_and_syncs_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"old").unwrap();
        replace_file(&a, &b).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"new");
        assert!(!a.exists());
        sync_dir(dir.path()).unwrap();
        let e = replace_file(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn long_windows_paths_get_the_verbatim_prefix() {
        let long = format!(
            r"C:\Users\me\AppData\Local\ingot\{}\model.gguf",
            "d".repeat(250)
        );
        assert_eq!(
            verbatim(&long).unwrap(),
            format!(r"\\?\{long}"),
            "drive paths"
        );
        let mixed = format!(r"C:/Users/me/./x/../{}/m.gguf", "d".repeat(250));
        assert_eq!(
            verbatim(&mixed).unwrap(),
            format!(r"\\?\C:\Users\me\{}\m.gguf", "d".repeat(250)),
            "separators and dot components are normalised"
        );
        let unc = format!(r"\\server\share\{}\m.gguf", "d".repeat(250));
        assert_eq!(
            verbatim(&unc).unwrap(),
            format!(r"\\?\UNC\server\share\{}\m.gguf", "d".repeat(250))
        );
        // Short, relative, already verbatim or escaping above the root: left alone.
        assert_eq!(verbatim(r"C:\short\m.gguf"), None);
        assert_eq!(verbatim(&format!(r"models\{}", "d".repeat(300))), None);
        assert_eq!(verbatim(&format!(r"\\?\C:\{}", "d".repeat(300))), None);
        assert_eq!(verbatim(&format!(r"C:\..\..\{}", "d".repeat(300))), None);
        // Not Windows: nothing to do.
        #[cfg(not(windows))]
        assert_eq!(native_path(Path::new(&long)), PathBuf::from(&long));
    }
}
