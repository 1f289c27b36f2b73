//! Errors of the converter. Every variant names what it is about (file, tensor, field) so
//! that `ingot model import` can tell the user what to fix without a backtrace.

use std::path::PathBuf;

/// Why a checkpoint could not be inspected or converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A required file is missing from the checkpoint folder.
    #[error("{path} is missing: {what}")]
    MissingFile {
        /// The expected path.
        path: PathBuf,
        /// What the file is needed for.
        what: String,
    },
    /// A JSON file is not valid JSON or lacks a field.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `config.json` names an architecture this converter does not handle.
    #[error("unsupported architecture {name:?}; supported: {}", supported.join(", "))]
    UnsupportedArchitecture {
        /// The architecture from `config.json`.
        name: String,
        /// The architectures that are supported.
        supported: Vec<String>,
    },
    /// A hyperparameter is missing from or invalid in `config.json`.
    #[error("config.json: {field}: {message}")]
    Config {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A safetensors file is malformed or truncated.
    #[error("{path}: tensor {tensor}: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The tensor (or `(header)`).
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor has a data type the converter cannot read.
    #[error("{path}: tensor {tensor} has unsupported dtype {dtype} (supported: F32, F16, BF16)")]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its safetensors dtype.
        dtype: String,
    },
    /// A tensor's shape does not match what `config.json` implies.
    #[error("tensor {tensor}: shape mismatch: expected {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// The (checkpoint) tensor name.
        tensor: String,
        /// The shape implied by config.json (row-major, as in the checkpoint).
        expected: Vec<u64>,
        /// The shape in the checkpoint.
        found: Vec<u64>,
    },
    /// A tensor the architecture needs is absent.
    #[error("tensor {tensor} is missing from the checkpoint")]
    MissingTensor {
        /// The (checkpoint) tensor name.
        tensor: String,
    },
    /// A tensor has a name the architecture does not know (convert_hf_to_gguf.py refuses
    /// those too: dropping it silently could produce a model that loads but is wrong).
    #[error("cannot map tensor {tensor} for architecture {arch}")]
    UnmappedTensor {
        /// The (checkpoint) tensor name.
        tensor: String,
        /// The GGUF architecture.
        arch: String,
    },
    /// The tokenizer files are unusable.
    #[error("tokenizer: {path}: {message}")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing the output failed (the partial file has been removed).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl ConvertError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ConvertError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConvertError::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn tokenizer(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ConvertError::Tokenizer {
            path: path.into(),
            message: message.into(),
        }
    }
}
