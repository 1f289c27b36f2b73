//! Where models come from: the port between the catalog, cache and downloader (the SDK
//! implements [`ModelProvider`] over them) and the code that serves or benchmarks models
//! (`ingot_server::serve`, `ingot bench`), which knows none of them.

use std::path::PathBuf;
use std::time::SystemTime;

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
    /// Licence identifier, when known.
    pub license: Option<String>,
    /// E.g. `chat`, `completion`. When the list is not empty and lacks `chat`, chat requests
    /// for the model get a 400 (a base model without a chat template answers raw
    /// completions only); an empty list declares nothing and leaves the checks to the
    /// engine's [`crate::Capabilities`].
    pub capabilities: Vec<crate::Capability>,
    /// OpenAI's `owned_by` (the publisher, e.g. `qwen`).
    pub owned_by: String,
    /// A remote adapter: [`ModelProvider::remote`] names its upstream, and requests for it
    /// are proxied there instead of loaded (`"remote": true` in `GET /v1/models`).
    pub remote: bool,
}

impl ModelDescriptor {
    /// Whether `name` is this model's id or one of its aliases.
    pub fn matches(&self, name: &str) -> bool {
        self.id == name || self.aliases.iter().any(|a| a == name)
    }
}

/// What the Ollama and Foundry Local routes show about a model beyond its
/// [`ModelDescriptor`] (`/api/show`, `/api/tags`, `/foundry/list`). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelDetails {
    /// Human-readable name.
    pub display_name: Option<String>,
    /// Model family (`qwen2.5`).
    pub family: Option<String>,
    /// llama.cpp architecture (`llama`, `qwen2`).
    pub architecture: Option<String>,
    /// Parameter count.
    pub parameters: Option<u64>,
    /// Quantisation type (`Q4_K_M`).
    pub quantization: Option<String>,
    /// Lowercase hex SHA-256 of the weights.
    pub sha256: Option<String>,
    /// One-line description.
    pub description: Option<String>,
    /// Where the weights come from (a URL or a package), for display.
    pub source: Option<String>,
    /// The weights on disk, when cached.
    pub path: Option<PathBuf>,
    /// When the cached weights were last written.
    pub modified: Option<SystemTime>,
    /// Licence identifier.
    pub license: Option<String>,
    /// Whether the licence is permissive (benchmark reports flag the others).
    pub license_permissive: Option<bool>,
    /// Whether the model has a chat template (its own, or one its entry supplies).
    pub chat_template: Option<bool>,
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

/// A model served by another OpenAI-compatible server (ingot, Foundry Local, Ollama, vLLM,
/// llama-server...): a *remote adapter*. `POST /v1/chat/completions` and
/// `POST /v1/completions` for it are forwarded to `{base_url}/chat/completions` and
/// `{base_url}/completions` with `model` replaced by [`RemoteModel::model`]; the answer,
/// streams included, is passed back as it arrives.
#[derive(Clone, PartialEq)]
pub struct RemoteModel {
    /// The id clients use here.
    pub id: String,
    /// The upstream's OpenAI base URL, with its `/v1` (`http://127.0.0.1:5273/v1`).
    pub base_url: String,
    /// The model name the upstream knows it by.
    pub model: String,
    /// Sent upstream as `Authorization: Bearer`; the client's own key is never forwarded.
    pub api_key: Option<String>,
}

// Hand-written so that the key never ends up in a log line.
impl std::fmt::Debug for RemoteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteModel")
            .field("id", &self.id)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Progress of a download, reported to the callback of [`ModelProvider::download`].
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadProgress {
    /// The file being fetched (models may have several).
    pub file: String,
    /// Bytes on disk so far.
    pub downloaded_bytes: u64,
    /// The file's size, when known.
    pub total_bytes: Option<u64>,
}

/// Why a provider could not list, resolve or download a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// No such model (404 with the list of available models).
    #[error("unknown model `{0}`")]
    NotFound(String),
    /// The download failed (network, checksum, disk).
    #[error("download failed: {0}")]
    Download(String),
    /// The provider cannot do this (400).
    #[error("{0}")]
    Unsupported(String),
    /// Anything else (500).
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

    /// The upstream of `id` when it is a remote adapter, `None` for local models (the
    /// default: no remote models). Called for every completion request on the async
    /// runtime, so it must answer from memory, without I/O.
    fn remote(&self, id: &str) -> Option<RemoteModel> {
        let _ = id;
        None
    }

    /// More about `id` (its canonical id) for the Ollama and Foundry routes; `None` (the
    /// default) when the provider knows nothing beyond the descriptor.
    fn details(&self, id: &str) -> Option<ModelDetails> {
        let _ = id;
        None
    }

    /// Removes the downloaded weights of `id` (`DELETE /api/delete`). Returns whether there
    /// was anything to remove. The default cannot delete.
    fn delete(&self, id: &str) -> Result<bool, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "this server cannot delete `{id}`: its models are not managed here"
        )))
    }

    /// The folder downloaded models live in (Foundry Local's `modelDirPath`).
    fn model_dir(&self) -> Option<PathBuf> {
        None
    }
}
