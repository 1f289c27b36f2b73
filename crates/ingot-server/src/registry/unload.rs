//! Unloading: making room for a load (the memory budget, then least recently used idle
//! models), eviction beyond `max_loaded_models`, explicit unloads, idle-TTL reaping and
//! shutdown. Freed models are dropped off the runtime ([`super::entry`]).

use std::sync::Arc;
use std::time::Instant;

use super::entry::{free_later, Entry};
use super::{ModelManager, Slot};

impl ModelManager {
    /// Unloads idle models, least recently used first, until `needed` bytes fit: in what
    /// `--max-memory` leaves beside the other loaded models, else in the free memory. Sets
    /// the load's own budget to what is left under `--max-memory`, so the engine refuses a
    /// model that still does not fit, naming both numbers (issue 12).
    pub(super) async fn make_room(&self, needed: u64, opts: &mut ingot_core::LoadOptions) {
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
    pub(super) fn evict_over_limit(&self, keep: Option<&str>, reserve: usize) {
        free_later(self.take_over_limit(keep, reserve));
    }

    /// [`Self::evict_over_limit`]'s choice: removes the victims and hands them over.
    pub(super) fn take_over_limit(&self, keep: Option<&str>, reserve: usize) -> Vec<Arc<Entry>> {
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
