//! Loaded weights, shared between models of the same file and kept a moment after an unload.
//!
//! `llama_model_load_from_file` reads the GGUF metadata and builds the vocabulary on every
//! call (~60 ms of SmolLM2's ~85 ms weights load: 49,152 token strings and 48,900 merges;
//! PERFORMANCE.md round 5), though the weights themselves are only mapped. So:
//! - two loaded models of one file (two aliases, two context sizes) share one `llama_model`:
//!   llama.cpp contexts only read it;
//! - after the last model of a file unloads, its `llama_model` stays for [`keep_for`]
//!   (30 s by default, `INGOT_KEEP_WEIGHTS` in the CLI), so that loading it again (a model
//!   switched back, a benchmark's warm load, an Ollama client's `keep_alive: 0` followed by a
//!   request) skips that work. Only the most recently unloaded file is kept, and only weights
//!   in host memory: mapped from the file, they cost the vocabulary's few MiB, while pages of
//!   the file the kernel may drop at any time.
//!
//! A file is the same file while its canonical path, length and modification time are; a
//! changed file is loaded afresh.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use llama_cpp_2::model::LlamaModel;

use crate::EngineError;

/// Which loaded weights a model uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeightsKey {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    gpu_layers: u32,
}

impl WeightsKey {
    /// `None` when the file cannot be identified (its weights are then never shared).
    pub(crate) fn of(path: &Path, gpu_layers: u32) -> Option<Self> {
        let path = std::fs::canonicalize(path).ok()?;
        let meta = std::fs::metadata(&path).ok()?;
        Some(Self {
            path,
            len: meta.len(),
            modified: meta.modified().ok(),
            gpu_layers,
        })
    }
}

struct Cache {
    live: Vec<(WeightsKey, Weak<LlamaModel>)>,
    /// The most recently released weights, with the number [`release`] gave them.
    kept: Option<(WeightsKey, Arc<LlamaModel>, u64)>,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    live: Vec::new(),
    kept: None,
});
static KEEP_MS: AtomicU64 = AtomicU64::new(30_000);
static RELEASES: AtomicU64 = AtomicU64::new(0);

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long released weights stay loaded; zero keeps none (and drops any kept now).
pub fn set_keep_for(d: Duration) {
    KEEP_MS.store(d.as_millis().min(u64::MAX as u128) as u64, Ordering::SeqCst);
    if d.is_zero() {
        forget();
    }
}

/// How long released weights stay loaded.
pub fn keep_for() -> Duration {
    Duration::from_millis(KEEP_MS.load(Ordering::SeqCst))
}

/// The weights of `key`'s file: a loaded model's, the kept ones, or `load()`'s. The flag says
/// whether they were already loaded.
pub(crate) fn get_or_load(
    key: Option<&WeightsKey>,
    load: impl FnOnce() -> Result<LlamaModel, EngineError>,
) -> Result<(Arc<LlamaModel>, bool), EngineError> {
    if let Some(key) = key {
        let mut c = cache();
        // Kept weights first: their entry in `live` still upgrades (the keeping holds them),
        // and they must leave `kept` once a model uses them again.
        if c.kept.as_ref().is_some_and(|(k, _, _)| k == key) {
            let (_, model, _) = c.kept.take().expect("checked above");
            return Ok((model, true));
        }
        c.live.retain(|(_, w)| w.strong_count() > 0);
        let live = c
            .live
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, w)| w.upgrade());
        if let Some(model) = live {
            return Ok((model, true));
        }
    }
    // Outside the lock: a load takes a while, and other files may load meanwhile. Two loads
    // of one file at the same moment both load it; the second then shares with later ones.
    let model = Arc::new(load()?);
    if let Some(key) = key {
        cache().live.push((key.clone(), Arc::downgrade(&model)));
    }
    Ok((model, false))
}

/// Called when a model that used `model` unloads, holding `own_refs` references to it: keeps
/// the weights for [`keep_for`] if no other model uses them, they are in host memory, and
/// keeping is on.
pub(crate) fn release(key: Option<&WeightsKey>, model: &Arc<LlamaModel>, own_refs: usize) {
    let Some(key) = key else { return };
    let keep = keep_for();
    if keep.is_zero() || key.gpu_layers != 0 || Arc::strong_count(model) > own_refs {
        return;
    }
    let n = RELEASES.fetch_add(1, Ordering::SeqCst) + 1;
    let before = cache().kept.replace((key.clone(), Arc::clone(model), n));
    drop(before);
    // Expiry: a thread per release is cheap next to a model load, and the lock is held only
    // to take the entry out.
    let spawned = std::thread::Builder::new()
        .name("ingot-weights-keep".into())
        .spawn(move || {
            std::thread::sleep(keep);
            let mut c = cache();
            if c.kept.as_ref().is_some_and(|(_, _, m)| *m == n) {
                let expired = c.kept.take();
                drop(c);
                drop(expired);
            }
        });
    if spawned.is_err() {
        // No timer: keeping would last until the next load, so keep nothing.
        let dropped = cache().kept.take();
        drop(dropped);
    }
}

/// Drops the kept weights now, if any.
pub fn forget() {
    let dropped = cache().kept.take();
    drop(dropped); // after the lock is released: freeing a model takes a while
}

/// Whether weights are being kept now (for tests and logs).
pub fn holds_released_weights() -> bool {
    cache().kept.is_some()
}
