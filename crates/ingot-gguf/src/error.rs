//! [`GgufError`]: why a file is not an acceptable GGUF file, and the constructors the
//! reader and the parser use to build one with a message that says where and why.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a file is not an acceptable GGUF file. The messages say where (byte offset, key,
/// tensor) and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened or its size read ([`read_header`](crate::read_header) only).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Not a GGUF file at all: not a regular file, too small, or the magic is wrong.
    #[error("{message}")]
    NotGguf {
        /// What was found instead.
        message: String,
    },
    /// A GGUF version this parser does not read (only 2 and 3, little-endian).
    #[error("{message}")]
    UnsupportedVersion {
        /// The version read.
        version: u32,
        /// The message.
        message: String,
    },
    /// The file ends before what its header describes (metadata, tensor table or data).
    #[error("{message}")]
    Truncated {
        /// Where and what is missing.
        message: String,
    },
    /// A value is impossible: unknown type, bad alignment, overflowing size, bad UTF-8.
    #[error("{message}")]
    Corrupt {
        /// Where and what.
        message: String,
    },
    /// A count or length is beyond [`Limits`](crate::Limits).
    #[error("{message}")]
    LimitExceeded {
        /// Which one, and the limit.
        message: String,
    },
    /// Reading failed (a file that cannot be read, not one that is wrong).
    #[error("{message}")]
    Io {
        /// Where, and the I/O error.
        message: String,
    },
}

impl GgufError {
    /// Whether the file is cut short (as opposed to corrupt or not GGUF).
    pub fn is_truncated(&self) -> bool {
        matches!(self, GgufError::Truncated { .. })
    }

    /// Prefixes the message with `context` (`metadata general.name: ...`).
    pub(crate) fn context(self, context: impl fmt::Display) -> GgufError {
        let prefix = |m: String| format!("{context}: {m}");
        match self {
            GgufError::NotGguf { message } => GgufError::NotGguf {
                message: prefix(message),
            },
            GgufError::UnsupportedVersion { version, message } => GgufError::UnsupportedVersion {
                version,
                message: prefix(message),
            },
            GgufError::Truncated { message } => GgufError::Truncated {
                message: prefix(message),
            },
            GgufError::Corrupt { message } => GgufError::Corrupt {
                message: prefix(message),
            },
            GgufError::LimitExceeded { message } => GgufError::LimitExceeded {
                message: prefix(message),
            },
            GgufError::Io { message } => GgufError::Io {
                message: prefix(message),
            },
            open @ GgufError::Open { .. } => open,
        }
    }
}

pub(crate) fn corrupt(message: impl Into<String>) -> GgufError {
    GgufError::Corrupt {
        message: message.into(),
    }
}

pub(crate) fn truncated(message: impl Into<String>) -> GgufError {
    GgufError::Truncated {
        message: message.into(),
    }
}

pub(crate) fn limit(message: impl Into<String>) -> GgufError {
    GgufError::LimitExceeded {
        message: message.into(),
    }
}
