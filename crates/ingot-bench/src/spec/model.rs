//! The models a run benchmarks, and how their files are found: through the engine API's
//! [`ModelProvider`] port, the one the server resolves models through.

use std::path::PathBuf;

pub use ingot_core::provider::ModelProvider;

use crate::spec::workload::Mode;

/// A model to benchmark; `mode: None` picks chat when the model has a chat template.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub alias: String,
    pub mode: Option<Mode>,
}

/// What the resolver found for a model (in-process runs).
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub path: PathBuf,
    pub sha256: Option<String>,
    pub size_bytes: Option<u64>,
    pub quantization: Option<String>,
    pub parameters: Option<u64>,
    /// Whether the model has a chat template (else it is benchmarked in completion mode).
    pub chat_template: bool,
    /// A chat template from the catalog entry (`ingot model add --chat-template`) that replaces
    /// or supplies the file's own; the model is loaded with it.
    pub chat_template_override: Option<String>,
}

/// A catalog alias served by another OpenAI-compatible server (a remote adapter, `ingot model
/// add --endpoint`): in-process runs benchmark it over HTTP beside the local models.
#[derive(Debug, Clone)]
pub struct RemoteModel {
    /// The upstream base URL (with or without `/v1`).
    pub url: String,
    /// The model name the upstream knows it by.
    pub model: String,
    pub api_key: Option<String>,
}

/// How a run finds models: through the same [`ModelProvider`] port the server uses (the SDK's
/// `CatalogModels` over the catalog and the cache, or any other implementation), read as the
/// files and facts a benchmark needs. Called outside any async runtime.
pub(crate) trait ModelFiles {
    /// The model's file, downloaded if needed, with its facts.
    fn file(&self, alias: &str) -> anyhow::Result<ResolvedModel>;
    /// The model's file if it is already local, without downloading (used with an endpoint
    /// to report the disk footprint of a model served under a known alias).
    fn cached_file(&self, alias: &str) -> Option<ResolvedModel>;
    /// Where a remote adapter's requests go; `None` for local models.
    fn upstream(&self, alias: &str) -> Option<RemoteModel>;
    /// The model's license and whether it is permissive.
    fn license(&self, alias: &str) -> Option<(String, bool)>;
}

impl<T: ModelProvider + ?Sized> ModelFiles for T {
    fn file(&self, alias: &str) -> anyhow::Result<ResolvedModel> {
        let resolved = self.resolve(alias)?;
        Ok(describe(self, resolved))
    }

    fn cached_file(&self, alias: &str) -> Option<ResolvedModel> {
        self.list()
            .iter()
            .find(|d| d.matches(alias) && d.cached && !d.remote)?;
        self.resolve(alias).ok().map(|r| describe(self, r))
    }

    fn upstream(&self, alias: &str) -> Option<RemoteModel> {
        let r = self.remote(alias)?;
        Some(RemoteModel {
            url: r.base_url,
            model: r.model,
            api_key: r.api_key,
        })
    }

    fn license(&self, alias: &str) -> Option<(String, bool)> {
        let d = self.details(alias)?;
        Some((d.license?, d.license_permissive?))
    }
}

/// The provider's answer with the facts the manifest records.
fn describe<T: ModelProvider + ?Sized>(p: &T, r: ingot_core::ResolvedModel) -> ResolvedModel {
    let d = p.details(&r.id).unwrap_or_default();
    ResolvedModel {
        size_bytes: std::fs::metadata(&r.path).map(|m| m.len()).ok(),
        sha256: d.sha256,
        quantization: d.quantization,
        parameters: d.parameters,
        // A provider that does not say is taken at its word later: a model without a
        // template fails its chat requests with a clear error.
        chat_template: d.chat_template.unwrap_or(true) || r.chat_template.is_some(),
        chat_template_override: r.chat_template,
        path: r.path,
    }
}
