//! Model lifecycle: load on first use (once, however many requests race for it), idle-TTL
//! unload, and LRU eviction beyond `max_loaded_models`.
//!
//! The state lives behind one std mutex that is never held across an await; slow work
//! (resolving/downloading, loading, freeing) runs on blocking threads.

mod entry;
mod unload;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use ingot_api::ApiError;
use ingot_core::{Engine, LoadOptions};

use crate::metrics::{EngineSnapshot, Metrics};
use crate::provider::{ModelProvider, ProviderError};

use entry::ttl_millis;
pub use entry::{unix_now, Entry, Lease};

type LoadFuture = Shared<BoxFuture<'static, Result<Arc<Entry>, ApiError>>>;

enum Slot {
    Loading(LoadFuture),
    Loaded(Arc<Entry>),
}

#[derive(Default)]
struct Inner {
    /// Keyed by canonical id; a load in progress may also sit under the requested alias.
    slots: HashMap<String, Slot>,
    /// Requested name → canonical id, learnt from the provider.
    aliases: HashMap<String, String>,
}

pub struct ModelManager {
    engine: Arc<dyn Engine>,
    provider: Arc<dyn ModelProvider>,
    base_opts: LoadOptions,
    /// The draft model for speculative decoding (`--draft`), resolved at each load.
    draft: Option<String>,
    max_loaded: usize,
    default_ttl: Duration,
    metrics: Arc<Metrics>,
    inner: Mutex<Inner>,
}

impl ModelManager {
    pub fn new(
        engine: Arc<dyn Engine>,
        provider: Arc<dyn ModelProvider>,
        base_opts: LoadOptions,
        draft: Option<String>,
        max_loaded: usize,
        default_ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            engine,
            provider,
            base_opts,
            draft,
            max_loaded: max_loaded.max(1),
            default_ttl,
            metrics,
            inner: Mutex::new(Inner::default()),
        })
    }

    pub fn provider(&self) -> &Arc<dyn ModelProvider> {
        &self.provider
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The models the provider offers, listed off the async runtime.
    pub async fn list_available(&self) -> Result<Vec<crate::ModelDescriptor>, ApiError> {
        let provider = self.provider.clone();
        tokio::task::spawn_blocking(move || provider.list())
            .await
            .map_err(|e| ApiError::Internal(format!("listing models failed: {e}")))
    }

    async fn not_found(&self, model: &str) -> ApiError {
        let available = self.list_available().await.unwrap_or_default();
        ApiError::ModelNotFound {
            model: model.to_string(),
            available: available.into_iter().map(|d| d.id).collect(),
        }
    }

    pub async fn map_provider_error(&self, model: &str, e: ProviderError) -> ApiError {
        match e {
            ProviderError::NotFound(_) => self.not_found(model).await,
            ProviderError::Unsupported(m) => ApiError::invalid_param("model", m),
            other => ApiError::Internal(other.to_string()),
        }
    }

    /// The descriptor `name` refers to (id, alias, Foundry id or Ollama name), or a 404
    /// listing the models.
    pub async fn find(&self, name: &str) -> Result<crate::ModelDescriptor, ApiError> {
        let all = self.list_available().await?;
        if let Some(d) = crate::provider::find_descriptor(&all, name) {
            return Ok(d.clone());
        }
        Err(ApiError::ModelNotFound {
            model: name.to_string(),
            available: all.into_iter().map(|d| d.id).collect(),
        })
    }

    /// The slot key for `model`: a name learnt at load time, the name itself when it holds a
    /// slot, else the first of its Foundry/Ollama readings that does.
    fn key_of(inner: &Inner, model: &str) -> String {
        if let Some(k) = inner.aliases.get(model) {
            return k.clone();
        }
        if inner.slots.contains_key(model) {
            return model.to_string();
        }
        ingot_api::names::candidates(model)
            .into_iter()
            .find(|c| inner.slots.contains_key(c) || inner.aliases.contains_key(c))
            .map(|c| inner.aliases.get(&c).cloned().unwrap_or(c))
            .unwrap_or_else(|| model.to_string())
    }

    /// Ids of loaded models (for `GET /v1/models`).
    pub fn loaded_ids(&self) -> Vec<String> {
        self.lock()
            .slots
            .iter()
            .filter_map(|(k, s)| match s {
                Slot::Loaded(e) if *k == e.id => Some(e.id.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn loaded(&self) -> Vec<Arc<Entry>> {
        let mut v: Vec<Arc<Entry>> = self
            .lock()
            .slots
            .iter()
            .filter_map(|(k, s)| match s {
                Slot::Loaded(e) if *k == e.id => Some(e.clone()),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub fn snapshot(&self) -> EngineSnapshot {
        let loaded = self.loaded();
        let mut snap = EngineSnapshot {
            loaded_models: loaded.len(),
            ..Default::default()
        };
        for e in loaded {
            let (active, queued) = e.model.load_state();
            snap.active_sequences += active;
            snap.queued_requests += queued;
            if let Some(kv) = e.model.kv_cache_usage() {
                snap.kv_used_cells += kv.used_cells;
                snap.kv_total_cells += kv.total_cells;
            }
            snap.models.push(e.id.clone());
        }
        snap
    }

    /// Gets `model` ready, loading it if needed. Returns the lease and the time this request
    /// spent waiting for a load (0 when the model was already in memory).
    ///
    /// `ttl` replaces the model's idle TTL when given (zero: never expire).
    pub async fn acquire(
        self: &Arc<Self>,
        model: &str,
        ttl: Option<Duration>,
    ) -> Result<(Lease, f64), ApiError> {
        let started = Instant::now();
        let fut = {
            let mut inner = self.lock();
            let key = Self::key_of(&inner, model);
            match inner.slots.get(&key) {
                Some(Slot::Loaded(e)) => {
                    if let Some(ttl) = ttl {
                        e.ttl_ms.store(ttl_millis(ttl), Ordering::Relaxed);
                    }
                    return Ok((Lease::new(e.clone()), 0.0));
                }
                Some(Slot::Loading(f)) => f.clone(),
                None => {
                    let f = self.clone().spawn_load(model.to_string());
                    inner
                        .slots
                        .insert(model.to_string(), Slot::Loading(f.clone()));
                    f
                }
            }
        };
        let entry = fut.await?;
        if let Some(ttl) = ttl {
            entry.ttl_ms.store(ttl_millis(ttl), Ordering::Relaxed);
        }
        Ok((Lease::new(entry), started.elapsed().as_secs_f64() * 1000.0))
    }

    /// Starts loading `requested` on its own task, so it completes (and is cached) even if
    /// every request waiting for it goes away.
    fn spawn_load(self: Arc<Self>, requested: String) -> LoadFuture {
        let task = tokio::spawn(async move {
            let mut canonical_slot = None;
            let result = self.clone().load(&requested, &mut canonical_slot).await;
            let mut inner = self.lock();
            // Drop our Loading placeholders; on success the canonical slot holds the entry.
            for key in std::iter::once(&requested).chain(canonical_slot.as_ref()) {
                if let Some(Slot::Loading(_)) = inner.slots.get(key) {
                    inner.slots.remove(key);
                }
            }
            if let Ok(entry) = &result {
                if requested != entry.id {
                    inner.aliases.insert(requested.clone(), entry.id.clone());
                }
                inner
                    .slots
                    .insert(entry.id.clone(), Slot::Loaded(entry.clone()));
            }
            drop(inner);
            if result.is_ok() {
                // Concurrent loads of different models may have overshot the limit.
                self.evict_over_limit(result.as_ref().ok().map(|e| e.id.as_str()), 0);
            }
            result
        });
        async move {
            task.await
                .unwrap_or_else(|e| Err(ApiError::Internal(format!("model load task failed: {e}"))))
        }
        .boxed()
        .shared()
    }

    /// Resolves and loads `requested`. Sets `canonical_slot` when it placed its future under
    /// the canonical id too, so the caller can clean that up.
    async fn load(
        self: Arc<Self>,
        requested: &str,
        canonical_slot: &mut Option<String>,
    ) -> Result<Arc<Entry>, ApiError> {
        let provider = self.provider.clone();
        let name = requested.to_string();
        let resolved = tokio::task::spawn_blocking(move || resolve_any(provider.as_ref(), &name))
            .await
            .map_err(|e| ApiError::Internal(format!("resolving model failed: {e}")))?;
        let resolved = match resolved {
            Ok(r) => r,
            Err(e) => return Err(self.map_provider_error(requested, e).await),
        };

        // The request used an alias whose model is (being) loaded under its canonical id:
        // share that instead of loading the same weights twice.
        if resolved.id != requested {
            let existing = {
                let mut inner = self.lock();
                match inner.slots.get(&resolved.id) {
                    Some(Slot::Loaded(e)) => Some(Ok(e.clone())),
                    Some(Slot::Loading(f)) => Some(Err(f.clone())),
                    None => {
                        // Let requests for the canonical id wait on this load too.
                        if let Some(Slot::Loading(f)) = inner.slots.get(requested) {
                            let f = f.clone();
                            inner.slots.insert(resolved.id.clone(), Slot::Loading(f));
                            *canonical_slot = Some(resolved.id.clone());
                        }
                        None
                    }
                }
            };
            match existing {
                Some(Ok(e)) => return Ok(e),
                Some(Err(f)) => return f.await,
                None => {}
            }
        }

        // Free memory before loading, not after, and wait until it is freed: the memory
        // check below measures what is left.
        let victims = self.take_over_limit(None, 1);
        if !victims.is_empty() {
            let _ = tokio::task::spawn_blocking(move || drop(victims)).await;
        }

        let mut opts = self.base_opts.clone();
        if resolved.context_length.is_some() && opts.context_length.is_none() {
            opts.context_length = resolved.context_length;
        }
        if resolved.chat_template.is_some() {
            opts.chat_template = resolved.chat_template.clone();
        }
        if let Some(draft) = self.draft.clone() {
            // The engine checks that it shares the model's vocabulary.
            let provider = self.provider.clone();
            let name = draft.clone();
            let found = tokio::task::spawn_blocking(move || resolve_any(provider.as_ref(), &name))
                .await
                .map_err(|e| {
                    ApiError::Internal(format!("resolving the draft model failed: {e}"))
                })?;
            match found {
                Ok(d) => opts.draft = Some(d.path),
                Err(e) => return Err(self.map_provider_error(&draft, e).await),
            }
        }
        let engine = self.engine.clone();
        let (path, est_opts) = (resolved.path.clone(), opts.clone());
        let estimate =
            tokio::task::spawn_blocking(move || engine.estimate_memory(&path, &est_opts))
                .await
                .ok()
                .flatten();
        let memory = estimate.map_or(0, |e| e.total());
        if estimate.is_some() {
            self.make_room(memory, &mut opts).await;
        }
        let engine = self.engine.clone();
        let path = resolved.path.clone();
        let t0 = Instant::now();
        tracing::info!(model = %resolved.id, path = %path.display(), "loading model");
        let model = tokio::task::spawn_blocking(move || engine.load(&path, &opts))
            .await
            .map_err(|e| ApiError::Internal(format!("model load panicked: {e}")))?
            .map_err(|e| match e {
                // The engine knows only the file (a content-addressed blob name): say which
                // model it is.
                ingot_core::EngineError::InsufficientMemory { .. } => {
                    ApiError::Internal(format!("`{}`: {e}", resolved.id))
                }
                other => other.into(),
            })?;
        // What the catalog says the model is for (a base model: no chat). Looked up once per
        // load, not per request: listing may touch the disk.
        let provider = self.provider.clone();
        let id = resolved.id.clone();
        let declared = tokio::task::spawn_blocking(move || {
            provider
                .list()
                .into_iter()
                .find(|d| d.matches(&id))
                .map(|d| d.capabilities)
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        let secs = t0.elapsed().as_secs_f64();
        self.metrics.observe_load(secs);
        tracing::info!(model = %resolved.id, secs, "model loaded");
        Ok(Arc::new(Entry {
            id: resolved.id,
            path: resolved.path,
            model,
            loaded_at: SystemTime::now(),
            ttl_ms: AtomicU64::new(ttl_millis(self.default_ttl)),
            last_used: Mutex::new(Instant::now()),
            in_flight: AtomicUsize::new(0),
            declared,
            memory,
        }))
    }
}

/// Resolves `name`, or failing that the first of its Foundry/Ollama readings the provider
/// knows (`qwen2.5-0.5b-instruct-generic-cpu:4`, `smollm2-135m:latest`).
fn resolve_any(
    provider: &dyn ModelProvider,
    name: &str,
) -> Result<crate::ResolvedModel, ProviderError> {
    let first = provider.resolve(name);
    if !matches!(first, Err(ProviderError::NotFound(_))) {
        return first;
    }
    for c in ingot_api::names::candidates(name) {
        if c == name {
            continue;
        }
        match provider.resolve(&c) {
            Err(ProviderError::NotFound(_)) => continue,
            other => return other,
        }
    }
    first
}
