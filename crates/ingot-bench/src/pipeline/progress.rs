//! How a run reports progress. The library draws nothing: the CLI implements
//! [`BenchReporter`] with progress bars on stderr, and library callers get [`Silent`] unless
//! they pass their own.

use std::sync::Arc;

/// Receives a run's progress: phases (warm-up, a scenario, judging) with a step count, and
/// one-line notes (warnings, what is being loaded).
pub trait BenchReporter: Send + Sync + std::fmt::Debug {
    /// A phase with `len` steps (`None`: unknown) starts.
    fn phase(&self, label: &str, len: Option<u64>) -> Arc<dyn Phase>;
    /// A note for the user.
    fn note(&self, message: &str);
}

/// One running phase of a [`BenchReporter`].
pub trait Phase: Send + Sync {
    /// `n` more steps are done.
    fn inc(&self, n: u64);
    /// The phase is over (its bar, if any, goes away).
    fn finish(&self);
}

/// Reports nothing: the default for library callers and `--quiet` runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl BenchReporter for Silent {
    fn phase(&self, _label: &str, _len: Option<u64>) -> Arc<dyn Phase> {
        Arc::new(Silent)
    }
    fn note(&self, _message: &str) {}
}

impl Phase for Silent {
    fn inc(&self, _n: u64) {}
    fn finish(&self) {}
}
