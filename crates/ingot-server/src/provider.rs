//! Where models come from. The server does not know about the catalog, the cache or the
//! downloader; the CLI implements [`ModelProvider`] over them and hands it to [`crate::serve`].

use std::path::PathBuf;

use serde::Serialize;

/// A model the server can offer, as listed by `GET /v1/models`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelDescriptor {
    /// The canonical id clients pass as `model`.
    pub id: String,
    /// Other names that resolve to the same model (accepted as `model`, never listed).
    pub aliases: Vec<String>,
    /// The weights are already on disk (no download needed before loading).
    pub cached: bool,
    /// Training context length, when known.
    pub context_length: Option<u32>,
    /// Size of the weights in bytes, when known.
    pub size_bytes: Option<u64>,
    pub license: Option<String>,
    /// E.g. `chat`, `completion`, `json`.
    pub capabilities: Vec<String>,
    /// OpenAI's `owned_by` (the publisher, e.g. `qwen`).
    pub owned_by: String,
}

impl ModelDescriptor {
    pub fn matches(&self, name: &str) -> bool {
        self.id == name || self.aliases.iter().any(|a| a == name)
    }
}

/// How to load a model that is on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    /// The canonical id (the request may have used an alias).
    pub id: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// Chat template override, for models whose GGUF carries none or a broken one.
    pub chat_template: Option<String>,
    /// Context length to load with (whole context, all slots); `None` uses the server's
    /// configured value or the engine default.
    pub context_length: Option<u32>,
}

/// Progress of a download, reported to the callback of [`ModelProvider::download`].
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadProgress {
    /// The file being fetched (models may have several).
    pub file: String,
    pub downloaded_bytes: u64,
    pub total_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// No such model (404 with the list of available models).
    #[error("unknown model `{0}`")]
    NotFound(String),
    /// The download failed (network, checksum, disk).
    #[error("download failed: {0}")]
    Download(String),
    #[error("{0}")]
    Other(String),
}

/// The source of models. All methods may block (disk, network): the server always calls them
/// on a blocking thread, never on the async runtime.
pub trait ModelProvider: Send + Sync + 'static {
    /// Every model that can be served, downloaded or not.
    fn list(&self) -> Vec<ModelDescriptor>;

    /// Makes sure `id` (an id or alias) is on disk — downloading it if the provider allows
    /// that — and says how to load it. Called on the first request for a model.
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError>;

    /// Downloads `id` explicitly (`POST /v1/models/{id}/download`), reporting progress.
    /// The default just resolves, which suits providers with nothing to download.
    fn download(
        &self,
        id: &str,
        progress: &(dyn Fn(DownloadProgress) + Send + Sync),
    ) -> Result<ResolvedModel, ProviderError> {
        let _ = progress;
        self.resolve(id)
    }
}
