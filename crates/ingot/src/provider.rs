//! The server's [`ModelProvider`] over the catalog, the cache and the downloader.
//!
//! Remote-adapter entries (`[models.remote]`, added by `ingot model add --endpoint`) are
//! offered through [`ModelProvider::remote`]: the server proxies their requests, with the
//! API key read from the entry's `api_key_env` at request time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use ingot_cache::Store;
use ingot_catalog::{Catalog, CatalogError, ModelEntry};
use ingot_fetch::{DownloadOptions, Downloader, Reporter};
use ingot_server::{
    DownloadProgress, ModelDescriptor, ModelDetails, ModelProvider, ProviderError, RemoteModel,
    ResolvedModel,
};

/// Serves the catalog's models, downloading them into the store on first use.
pub struct CatalogModels {
    home: PathBuf,
    catalog: Catalog,
    store: Store,
    options: DownloadOptions,
    /// Quantizes `import` entries asking for more than F16 when they are (re)fetched.
    quantizer: Option<Arc<dyn ingot_core::Engine>>,
}

impl CatalogModels {
    /// The engine that quantizes imported checkpoints (`import` sources asking for Q8_0,
    /// Q4_K_M...) when the server fetches them; without one such a download fails, saying
    /// so.
    pub fn with_quantizer(mut self, engine: Arc<dyn ingot_core::Engine>) -> Self {
        self.quantizer = Some(engine);
        self
    }

    /// Loads the catalog of `home` (built-in, user and `INGOT_CATALOG` files) and opens its
    /// store. Download options come from the environment.
    pub fn open(home: impl Into<PathBuf>) -> crate::Result<Self> {
        let home = home.into();
        let catalog = crate::support::load_catalog(&home)?;
        Self::with_catalog(home, catalog)
    }

    /// Over a catalog already loaded from `home` (a command that read it once).
    pub fn with_catalog(home: impl Into<PathBuf>, catalog: Catalog) -> crate::Result<Self> {
        let home = home.into();
        let store = Store::open(&home)?;
        Ok(Self {
            home,
            catalog,
            store,
            options: DownloadOptions::from_env(),
            quantizer: None,
        })
    }

    /// The folder this provider keeps its files in.
    pub fn home(&self) -> &PathBuf {
        &self.home
    }

    fn entry(&self, id: &str) -> Result<&ModelEntry, ProviderError> {
        self.catalog.get(id).map_err(|e| match e {
            CatalogError::UnknownAlias { .. }
            | CatalogError::UnknownVariant { .. }
            | CatalogError::InvalidAlias { .. } => ProviderError::NotFound(id.to_string()),
            other => ProviderError::Other(other.to_string()),
        })
    }

    fn fetch(
        &self,
        entry: &ModelEntry,
        reporter: &dyn Reporter,
    ) -> Result<ResolvedModel, ProviderError> {
        if let Some(remote) = entry.remote() {
            return Err(ProviderError::Other(format!(
                "`{}` is a remote model served by {}: it is proxied, not loaded",
                entry.alias, remote.endpoint
            )));
        }
        let mut downloader = Downloader::new(self.store.clone(), self.options.clone())
            .map_err(|e| ProviderError::Download(e.to_string()))?;
        if let Some(q) = &self.quantizer {
            downloader = downloader.with_quantizer(Arc::clone(q));
        }
        let cached = crate::support::block_on(downloader.download(entry, reporter))
            .map_err(|e| ProviderError::Download(e.to_string()))?;
        // Record the use, so `cache list` shows when the server last needed it.
        let _ = self.store.cached_path(&entry.alias);
        Ok(ResolvedModel {
            id: entry.alias.clone(),
            path: cached.path,
            // `ingot model add --chat-template`: what makes a base model chat.
            chat_template: entry.chat_template_override.clone(),
            context_length: None,
        })
    }
}

impl ModelProvider for CatalogModels {
    fn list(&self) -> Vec<ModelDescriptor> {
        let entries = self.catalog.entries();
        // Variant relations once per listing (issue 15): `BASE:TAG` names for every model
        // that has variants, and for the variants themselves.
        let bases: Vec<Option<&str>> = entries
            .iter()
            .map(|e| self.catalog.variant_base(e))
            .collect();
        let with_variants: std::collections::HashSet<&str> =
            bases.iter().flatten().copied().collect();
        entries
            .iter()
            .zip(&bases)
            .map(|(e, base)| ModelDescriptor {
                id: e.alias.clone(),
                aliases: match base.or(with_variants
                    .contains(e.alias.as_str())
                    .then_some(e.alias.as_str()))
                {
                    Some(b) => vec![format!("{b}:{}", ingot_catalog::tag_of(e))],
                    None => Vec::new(),
                },
                cached: e.remote().is_none() && matches!(self.store.lookup(&e.alias), Ok(Some(_))),
                context_length: Some(e.context_length),
                size_bytes: e.size,
                license: Some(e.license.clone()),
                capabilities: e.capabilities.clone(),
                owned_by: e.family.clone(),
                remote: e.remote().is_some(),
            })
            .collect()
    }

    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        let mut entry = self.entry(id)?;
        if !id.contains(':') {
            // A model with variants (issue 15): its default, or the largest that fits.
            let (chosen, note) = crate::models::pick_variant(
                &self.catalog,
                &self.store,
                entry,
                &ingot_core::LoadOptions::default(),
                None,
            );
            if let Some(note) = note {
                tracing::warn!("{note}");
            }
            entry = chosen;
        }
        self.fetch(entry, &ingot_fetch::NoopReporter)
    }

    fn download(
        &self,
        id: &str,
        progress: &(dyn Fn(DownloadProgress) + Send + Sync),
    ) -> Result<ResolvedModel, ProviderError> {
        let entry = self.entry(id)?;
        let reporter = CallbackReporter {
            file: entry.alias.clone(),
            progress,
            total: Mutex::new(None),
        };
        self.fetch(entry, &reporter)
    }

    fn details(&self, id: &str) -> Option<ModelDetails> {
        let entry = self.catalog.get(id).ok()?;
        let cached = self.store.lookup(&entry.alias).ok().flatten();
        Some(ModelDetails {
            display_name: Some(entry.name.clone()),
            family: Some(entry.family.clone()),
            architecture: Some(entry.architecture.clone()),
            parameters: entry.parameters,
            quantization: Some(entry.quantization.clone()),
            sha256: cached
                .as_ref()
                .map(|c| c.sha256().to_string())
                .or_else(|| entry.sha256.clone()),
            description: entry.description.clone(),
            source: cached
                .as_ref()
                .map(|c| c.manifest.source.clone())
                .or_else(|| entry.sources.first().map(|s| s.to_string())),
            modified: cached.as_ref().map(|c| c.manifest.downloaded_at.into()),
            path: cached.map(|c| c.path),
            license: Some(entry.license.clone()),
            license_permissive: Some(entry.license_is_permissive()),
            chat_template: Some(entry.chat_template || entry.chat_template_override.is_some()),
        })
    }

    fn delete(&self, id: &str) -> Result<bool, ProviderError> {
        let entry = self.entry(id)?;
        if entry.remote().is_some() {
            return Err(ProviderError::Unsupported(format!(
                "`{}` is a remote model: it has no download to delete",
                entry.alias
            )));
        }
        match self.store.lookup(&entry.alias) {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(false),
            Err(e) => return Err(ProviderError::Other(e.to_string())),
        }
        self.store
            .rm(&entry.alias)
            .map(|_| true)
            .map_err(|e| ProviderError::Other(format!("cannot remove `{}`: {e}", entry.alias)))
    }

    fn model_dir(&self) -> Option<PathBuf> {
        Some(self.store.models_dir().to_path_buf())
    }

    fn remote(&self, id: &str) -> Option<RemoteModel> {
        // In memory only: this runs on the async runtime for every request.
        let entry = self.catalog.get(id).ok()?;
        let remote = entry.remote()?;
        Some(RemoteModel {
            id: entry.alias.clone(),
            base_url: remote.endpoint.clone(),
            model: remote.model.clone(),
            // From the variable the entry names; the key itself is never stored.
            api_key: remote.api_key(),
        })
    }
}

struct CallbackReporter<'a> {
    file: String,
    progress: &'a (dyn Fn(DownloadProgress) + Send + Sync),
    total: Mutex<Option<u64>>,
}

impl Reporter for CallbackReporter<'_> {
    fn start(&self, total: Option<u64>, resumed_from: u64) {
        *self.total.lock().unwrap_or_else(|e| e.into_inner()) = total;
        (self.progress)(DownloadProgress {
            file: self.file.clone(),
            downloaded_bytes: resumed_from,
            total_bytes: total,
        });
    }
    fn progress(&self, bytes_done: u64, total: Option<u64>, _rate: f64, _eta: Option<Duration>) {
        (self.progress)(DownloadProgress {
            file: self.file.clone(),
            downloaded_bytes: bytes_done,
            total_bytes: total,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_catalog_and_rejects_unknown_ids() {
        let home = tempfile::tempdir().unwrap();
        let p = CatalogModels::open(home.path()).unwrap();
        let list = p.list();
        assert!(list
            .iter()
            .any(|d| d.id == "smollm2-135m" && !d.cached && d.context_length == Some(8192)));
        assert_eq!(
            p.resolve("no-such-model").unwrap_err(),
            ProviderError::NotFound("no-such-model".into())
        );
        assert_eq!(
            p.resolve("../etc").unwrap_err(),
            ProviderError::NotFound("../etc".into())
        );
        assert_eq!(p.remote("smollm2-135m"), None);
    }

    #[test]
    fn issue7_remote_entries_are_proxied_not_loaded() {
        let home = tempfile::tempdir().unwrap();
        // A variable only this test sets, so parallel tests cannot interfere.
        let var = "INGOT_TEST_ISSUE7_PROVIDER_KEY";
        std::fs::write(
            home.path().join(ingot_catalog::USER_CATALOG_FILE),
            format!(
                r#"
[[models]]
alias = "far"
name = "Remote"
family = "qwen"
architecture = "qwen2"
quantization = "unknown"
license = "Apache-2.0"
context_length = 4096
capabilities = ["chat"]
chat_template = true

[models.remote]
endpoint = "http://127.0.0.1:11434/v1/"
model = "qwen2.5:0.5b"
api_key_env = "{var}"
"#
            ),
        )
        .unwrap();
        let p = CatalogModels::open(home.path()).unwrap();
        let far = p.list().into_iter().find(|d| d.id == "far").unwrap();
        assert!(far.remote && !far.cached);
        let r = p.remote("far").unwrap();
        assert_eq!(r.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(r.model, "qwen2.5:0.5b");
        assert_eq!(r.api_key, None, "{var} is unset");
        std::env::set_var(var, "k-123");
        assert_eq!(p.remote("far").unwrap().api_key.as_deref(), Some("k-123"));
        std::env::remove_var(var);
        // Never loaded: resolving says why.
        match p.resolve("far").unwrap_err() {
            ProviderError::Other(msg) => assert!(msg.contains("remote"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
