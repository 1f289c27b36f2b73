//! Model lifecycle: load on first use (once, however many requests race for it), idle-TTL
//! unload, and LRU eviction beyond `max_loaded_models`.
//!
//! The state lives behind one std mutex that is never held across an await; slow work
//! (resolving/downloading, loading, freeing) runs on blocking threads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use ingot_api::{ApiError, LoadedModelStatus};
use ingot_core::{Engine, LoadOptions, LoadedModel};

use crate::metrics::{EngineSnapshot, Metrics};
use crate::provider::{ModelProvider, ProviderError};

type LoadFuture = Shared<BoxFuture<'static, Result<Arc<Entry>, ApiError>>>;

enum Slot {
    Loading(LoadFuture),
    Loaded(Arc<Entry>),
}

/// A model in memory plus its bookkeeping.
pub struct Entry {
    pub id: String,
    pub path: PathBuf,
    pub model: Arc<dyn LoadedModel>,
    loaded_at: SystemTime,
    /// Idle TTL in milliseconds; 0 means never expire.
    ttl_ms: AtomicU64,
    last_used: Mutex<Instant>,
    /// Requests holding a [`Lease`]; an entry in use is never reaped by the TTL.
    in_flight: AtomicUsize,
    /// Capabilities the provider declares for the model (the catalog's), checked on top of
    /// the engine's own; empty when it declares none.
    declared: Vec<String>,
    /// The engine's estimate of the memory the model takes (0: unknown), counted against
    /// `--max-memory` when the next model loads.
    memory: u64,
}

/// A TTL as stored in [`Entry::ttl_ms`]: at most [`crate::MAX_TTL_SECS`] (larger ones
/// saturate instead of wrapping, which could turn them into "never" or a tiny TTL), and a
/// non-zero TTL never rounds down to 0 ("never expire").
fn ttl_millis(ttl: Duration) -> u64 {
    if ttl.is_zero() {
        return 0;
    }
    let capped = ttl.min(Duration::from_secs(crate::MAX_TTL_SECS));
    (capped.as_millis() as u64).max(1)
}

impl Entry {
    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn last_used(&self) -> Instant {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ttl(&self) -> Option<Duration> {
        match self.ttl_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn busy(&self) -> bool {
        let (active, queued) = self.model.load_state();
        self.in_flight.load(Ordering::SeqCst) > 0 || active > 0 || queued > 0
    }

    pub fn status(&self) -> LoadedModelStatus {
        let info = self.model.info();
        let (active, queued) = self.model.load_state();
        let unix = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        let expires_at = self.ttl().map(|ttl| {
            // Convert the monotonic deadline to wall-clock for display.
            let remaining = self
                .last_used()
                .checked_add(ttl)
                .map(|deadline| deadline.saturating_duration_since(Instant::now()))
                .unwrap_or(ttl);
            unix(
                SystemTime::now()
                    .checked_add(remaining)
                    .unwrap_or(SystemTime::now()),
            )
        });
        LoadedModelStatus {
            id: self.id.clone(),
            path: self.path.display().to_string(),
            size: info.size_bytes,
            context_length: info.n_ctx,
            n_parallel: info.n_parallel,
            loaded_at: unix(self.loaded_at),
            expires_at,
            ttl: self.ttl().map(|d| d.as_secs()).unwrap_or(0),
            active_requests: active.max(self.in_flight.load(Ordering::SeqCst)),
            queued_requests: queued,
        }
    }
}

/// A request's hold on a loaded model: keeps it from TTL expiry, and marks it recently used
/// when released.
pub struct Lease {
    /// `None` only inside `drop`.
    entry: Option<Arc<Entry>>,
}

impl Lease {
    fn new(entry: Arc<Entry>) -> Self {
        entry.in_flight.fetch_add(1, Ordering::SeqCst);
        entry.touch();
        Lease { entry: Some(entry) }
    }

    fn entry(&self) -> &Entry {
        self.entry
            .as_deref()
            .expect("a lease holds its entry until dropped")
    }

    pub fn model(&self) -> &Arc<dyn LoadedModel> {
        &self.entry().model
    }

    pub fn id(&self) -> &str {
        &self.entry().id
    }

    /// The provider's declared capabilities (see [`crate::ModelDescriptor::capabilities`]).
    pub fn declared_capabilities(&self) -> &[String] {
        &self.entry().declared
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        // Touch before releasing so the TTL counts from the end of the last request.
        entry.touch();
        entry.in_flight.fetch_sub(1, Ordering::SeqCst);
        // The last lease of a model evicted while busy frees it: gigabytes and a thread
        // join, which must not happen on the runtime thread dropping the response.
        if let Some(last) = Arc::into_inner(entry) {
            drop_off_runtime(last);
        }
    }
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
        max_loaded: usize,
        default_ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            engine,
            provider,
            base_opts,
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

    /// Unloads idle models, least recently used first, until `needed` bytes fit: in what
    /// `--max-memory` leaves beside the other loaded models, else in the free memory. Sets
    /// the load's own budget to what is left under `--max-memory`, so the engine refuses a
    /// model that still does not fit, naming both numbers (issue 12).
    async fn make_room(&self, needed: u64, opts: &mut ingot_core::LoadOptions) {
        loop {
            let available = match self.base_opts.max_memory {
                Some(max) => {
                    let used: u64 = self.loaded().iter().map(|e| e.memory).sum();
                    let left = max.saturating_sub(used);
                    opts.max_memory = Some(left);
                    left
                }
                None => match ingot_core::available_memory() {
                    Some(a) => a,
                    None => return,
                },
            };
            if needed <= available {
                return;
            }
            let victim = {
                let mut inner = self.lock();
                let victim = inner
                    .slots
                    .iter()
                    .filter_map(|(k, s)| match s {
                        Slot::Loaded(e) if *k == e.id && !e.busy() => Some(e.clone()),
                        _ => None,
                    })
                    .min_by_key(|e| e.last_used());
                if let Some(v) = &victim {
                    inner.slots.remove(&v.id);
                }
                victim
            };
            let Some(victim) = victim else { return };
            tracing::info!(
                model = %victim.id,
                needed_mib = needed >> 20,
                available_mib = available >> 20,
                "unloading an idle model to make room"
            );
            // Wait until its memory is really freed before measuring again.
            let _ = tokio::task::spawn_blocking(move || drop(victim)).await;
        }
    }

    /// Evicts least-recently-used models until at most `max_loaded - reserve` remain, never
    /// `keep`. Idle models go first; a busy one is evicted only when nothing else is left
    /// (its requests keep their reference and finish; the memory is freed after them).
    fn evict_over_limit(&self, keep: Option<&str>, reserve: usize) {
        free_later(self.take_over_limit(keep, reserve));
    }

    /// [`Self::evict_over_limit`]'s choice: removes the victims and hands them over.
    fn take_over_limit(&self, keep: Option<&str>, reserve: usize) -> Vec<Arc<Entry>> {
        let limit = self.max_loaded.saturating_sub(reserve);
        let mut victims = Vec::new();
        {
            let mut inner = self.lock();
            loop {
                let loaded: Vec<Arc<Entry>> = inner
                    .slots
                    .iter()
                    .filter_map(|(k, s)| match s {
                        Slot::Loaded(e) if *k == e.id => Some(e.clone()),
                        _ => None,
                    })
                    .collect();
                if loaded.len() <= limit {
                    break;
                }
                let victim = loaded
                    .iter()
                    .filter(|e| Some(e.id.as_str()) != keep)
                    .min_by_key(|e| (e.busy(), e.last_used()))
                    .cloned();
                let Some(victim) = victim else { break };
                inner.slots.remove(&victim.id);
                tracing::info!(model = %victim.id, "evicting least recently used model");
                victims.push(victim);
            }
        }
        victims
    }

    /// Unloads `model` (id or alias). Returns whether it was loaded. A load in progress is
    /// waited for first, so the unload is not silently undone by it.
    pub async fn unload(&self, model: &str) -> bool {
        let pending = {
            let inner = self.lock();
            let key = Self::key_of(&inner, model);
            match inner.slots.get(&key) {
                Some(Slot::Loading(f)) => Some(f.clone()),
                _ => None,
            }
        };
        if let Some(f) = pending {
            let _ = f.await;
        }
        let removed = {
            let mut inner = self.lock();
            let key = Self::key_of(&inner, model);
            match inner.slots.get(&key) {
                Some(Slot::Loaded(_)) => match inner.slots.remove(&key) {
                    Some(Slot::Loaded(e)) => Some(e),
                    _ => None,
                },
                _ => None,
            }
        };
        match removed {
            Some(e) => {
                tracing::info!(model = %e.id, "unloading model");
                free_later(vec![e]);
                true
            }
            None => false,
        }
    }

    /// Unloads models idle for longer than their TTL.
    pub fn reap_expired(&self) {
        let now = Instant::now();
        let mut victims = Vec::new();
        {
            let mut inner = self.lock();
            let expired: Vec<String> = inner
                .slots
                .iter()
                .filter_map(|(k, s)| match s {
                    Slot::Loaded(e) if *k == e.id => {
                        let ttl = e.ttl()?;
                        (!e.busy() && now.duration_since(e.last_used()) >= ttl).then(|| k.clone())
                    }
                    _ => None,
                })
                .collect();
            for k in expired {
                if let Some(Slot::Loaded(e)) = inner.slots.remove(&k) {
                    tracing::info!(model = %e.id, "unloading idle model (ttl expired)");
                    victims.push(e);
                }
            }
        }
        free_later(victims);
    }

    /// Drops every model (shutdown).
    pub fn unload_all(&self) {
        let victims: Vec<Arc<Entry>> = self
            .lock()
            .slots
            .drain()
            .filter_map(|(_, s)| match s {
                Slot::Loaded(e) => Some(e),
                Slot::Loading(_) => None,
            })
            .collect();
        free_later(victims);
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

/// Dropping a model frees gigabytes and joins its scheduler thread: do it on a blocking
/// thread, never on the runtime (or under our lock).
fn free_later(entries: Vec<Arc<Entry>>) {
    if !entries.is_empty() {
        drop_off_runtime(entries);
    }
}

fn drop_off_runtime<T: Send + 'static>(value: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn_blocking(move || drop(value));
        }
        Err(_) => drop(value),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
