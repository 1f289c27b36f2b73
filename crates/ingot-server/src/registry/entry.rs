//! A loaded model and its bookkeeping ([`Entry`]: idle TTL, last use, requests in flight),
//! the [`Lease`] a request holds on it, and freeing models off the async runtime.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ingot_api::LoadedModelStatus;
use ingot_core::LoadedModel;

/// A model in memory plus its bookkeeping.
pub struct Entry {
    pub id: String,
    pub path: PathBuf,
    pub model: Arc<dyn LoadedModel>,
    pub(super) loaded_at: SystemTime,
    /// Idle TTL in milliseconds; 0 means never expire.
    pub(super) ttl_ms: AtomicU64,
    pub(super) last_used: Mutex<Instant>,
    /// Requests holding a [`Lease`]; an entry in use is never reaped by the TTL.
    pub(super) in_flight: AtomicUsize,
    /// Capabilities the provider declares for the model (the catalog's), checked on top of
    /// the engine's own; empty when it declares none.
    pub(super) declared: Vec<ingot_core::Capability>,
    /// The engine's estimate of the memory the model takes (0: unknown), counted against
    /// `--max-memory` when the next model loads.
    pub(super) memory: u64,
}

/// A TTL as stored in [`Entry::ttl_ms`]: at most [`crate::MAX_TTL_SECS`] (larger ones
/// saturate instead of wrapping, which could turn them into "never" or a tiny TTL), and a
/// non-zero TTL never rounds down to 0 ("never expire").
pub(super) fn ttl_millis(ttl: Duration) -> u64 {
    if ttl.is_zero() {
        return 0;
    }
    let capped = ttl.min(Duration::from_secs(crate::MAX_TTL_SECS));
    (capped.as_millis() as u64).max(1)
}

impl Entry {
    pub(super) fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub(super) fn last_used(&self) -> Instant {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn ttl(&self) -> Option<Duration> {
        match self.ttl_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(super) fn busy(&self) -> bool {
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
    pub(super) fn new(entry: Arc<Entry>) -> Self {
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
    pub fn declared_capabilities(&self) -> &[ingot_core::Capability] {
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

/// Dropping a model frees gigabytes and joins its scheduler thread: do it on a blocking
/// thread, never on the runtime (or under our lock).
pub(super) fn free_later(entries: Vec<Arc<Entry>>) {
    if !entries.is_empty() {
        drop_off_runtime(entries);
    }
}

pub(super) fn drop_off_runtime<T: Send + 'static>(value: T) {
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
