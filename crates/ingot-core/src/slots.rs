//! Slot and queue accounting shared by an engine's caller-facing model and its scheduler
//! thread: how many requests hold a slot, how many wait, and the KV cells running sequences
//! hold. The llama.cpp backend and the mock engine both admit requests through it, so they
//! answer [`EngineError::Overloaded`] at exactly the same point.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::types::EngineError;

/// Counters shared between the caller-facing model and its scheduler thread.
#[derive(Debug)]
pub struct Shared {
    /// Requests accepted by `generate` that do not have a slot yet (in the channel or waiting).
    queued: AtomicUsize,
    /// Requests holding a slot.
    active: AtomicUsize,
    /// KV cells held by the sequences of running requests, published after each step.
    kv_used: AtomicUsize,
    n_parallel: usize,
}

impl Shared {
    pub fn new(n_parallel: usize) -> Self {
        Self {
            queued: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            kv_used: AtomicUsize::new(0),
            n_parallel,
        }
    }

    /// Reserves a place for a new request: it may take a free slot, or wait if fewer than
    /// `max_queue` requests are already waiting.
    pub fn reserve(&self, max_queue: usize) -> Result<(), EngineError> {
        self.queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                let free = self
                    .n_parallel
                    .saturating_sub(self.active.load(Ordering::SeqCst));
                (q < free + max_queue).then_some(q + 1)
            })
            .map(|_| ())
            .map_err(|_| EngineError::Overloaded { max_queue })
    }

    pub fn unreserve(&self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }

    /// A waiting request got a slot. `active` goes up first so a concurrent `reserve` never
    /// sees more free capacity than there is.
    pub fn admitted(&self) {
        self.active.fetch_add(1, Ordering::SeqCst);
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn released(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }

    /// Records the KV cells running sequences hold (scheduler thread only).
    pub fn set_kv_used(&self, cells: usize) {
        self.kv_used.store(cells, Ordering::Relaxed);
    }

    /// KV cells held by running sequences, as of the last scheduler step.
    pub fn kv_used(&self) -> usize {
        self.kv_used.load(Ordering::Relaxed)
    }

    /// (running, waiting)
    pub fn state(&self) -> (usize, usize) {
        (
            self.active.load(Ordering::SeqCst),
            self.queued.load(Ordering::SeqCst),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_reservation_counts_free_slots() {
        let s = Shared::new(2);
        // Two may start at once, two more may wait, the fifth is refused.
        for _ in 0..4 {
            s.reserve(2).unwrap();
        }
        assert!(matches!(
            s.reserve(2),
            Err(EngineError::Overloaded { max_queue: 2 })
        ));
        s.admitted();
        s.admitted();
        assert_eq!(s.state(), (2, 2));
        assert!(s.reserve(2).is_err());
        s.released();
        s.reserve(2).unwrap();
        assert_eq!(s.state(), (1, 3));
    }

    #[test]
    fn zero_queue_still_allows_free_slots() {
        let s = Shared::new(1);
        s.reserve(0).unwrap();
        assert!(s.reserve(0).is_err());
    }
}
