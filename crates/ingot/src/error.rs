//! The SDK's one error type.

use std::path::PathBuf;

use ingot_cache::CacheError;
use ingot_catalog::CatalogError;
use ingot_fetch::FetchError;
use ingot_server::ServeError;

use crate::service::StatusFileError;

/// Everything that can go wrong in the SDK.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No service runs for this home, and the manager was not allowed to start one.
    #[error("no ingot service is running for {} (no live status file at {}); start one with `ingot service start`, or build the manager with start_service(true)", home.display(), status.display())]
    ServiceNotRunning {
        /// `INGOT_HOME`.
        home: PathBuf,
        /// The status file looked for.
        status: PathBuf,
    },
    /// Starting the service failed.
    #[error("cannot start the ingot service: {0}")]
    Start(String),
    /// The embedded server could not start (bad configuration, port in use).
    #[error("cannot start the embedded ingot server: {0}")]
    Serve(#[from] ServeError),
    /// The service did not answer.
    #[error("the ingot service at {url} does not answer: {message}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// Why.
        message: String,
    },
    /// The service answered with an error.
    #[error("cannot {what}: {message} (HTTP {status})")]
    Api {
        /// What was attempted (`load 'smollm2-135m'`).
        what: String,
        /// The HTTP status.
        status: u16,
        /// The OpenAI error message.
        message: String,
        /// The OpenAI error code, when the service sent one.
        code: Option<String>,
    },
    /// A remote adapter has no file to download and nothing to load here.
    #[error("`{alias}` is a remote model served by {endpoint}: there is nothing to {action}; send requests to it directly")]
    RemoteModel {
        /// The alias.
        alias: String,
        /// Its upstream.
        endpoint: String,
        /// What was asked (`download`, `load`).
        action: &'static str,
    },
    /// The catalog could not be loaded, or has no such alias.
    #[error(transparent)]
    Catalog(Box<CatalogError>),
    /// The cache could not be read.
    #[error(transparent)]
    Cache(Box<CacheError>),
    /// A download failed.
    #[error(transparent)]
    Fetch(Box<FetchError>),
    /// The service status file is unreadable.
    #[error(transparent)]
    StatusFile(#[from] StatusFileError),
    /// A new model's entry cannot be built (see [`crate::models::add_model`]).
    #[error(transparent)]
    Register(#[from] ingot_catalog::RegisterError),
    /// A file given to [`crate::models::add_model`] cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file given to [`crate::models::add_model`] is not a loadable GGUF model.
    #[error("{}", message)]
    InvalidModel {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the file.
        message: String,
    },
    /// A chat template file cannot be read.
    #[error("cannot read chat template {}", path.display())]
    ReadChatTemplate {
        /// The template file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A chat template given to [`crate::models::add_model`] is unusable.
    #[error("chat template {} {problem}", path.display())]
    ChatTemplate {
        /// The template file.
        path: PathBuf,
        /// `is empty`, `does not compile: ...`.
        problem: String,
    },
    /// [`crate::models::remove_model`] was asked to remove a model that is neither a user
    /// entry nor downloaded.
    #[error("model '{alias}' is defined in the {origin} and cannot be removed from the catalog (only entries added with `ingot model add` can be); it is not in the cache ({}) either", cache.display())]
    NotRemovable {
        /// The alias.
        alias: String,
        /// Where its entry comes from (`built-in catalog`, `catalog /path`).
        origin: String,
        /// The cache folder.
        cache: PathBuf,
    },
}

// Boxed: these errors are large, and every SDK call returns a `Result`.
impl From<CatalogError> for Error {
    fn from(e: CatalogError) -> Self {
        Error::Catalog(Box::new(e))
    }
}

impl From<CacheError> for Error {
    fn from(e: CacheError) -> Self {
        Error::Cache(Box::new(e))
    }
}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Self {
        Error::Fetch(Box::new(e))
    }
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
