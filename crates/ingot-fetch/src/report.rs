//! Progress reporting, decoupled from any terminal UI.

use std::time::{Duration, Instant};

/// Receives progress of a download. Implementations draw progress bars, log, or ignore it;
/// all methods have no-op defaults.
///
/// Call order for one [`crate::Downloader::download`]: any number of `message`s, and for
/// each transfer `start` followed by `progress` calls; `finish` exactly once at the end,
/// whether the download succeeded or failed (not called when the model was already
/// cached).
pub trait Reporter: Send + Sync {
    /// A transfer begins. `total` is the final file size if known; `resumed_from` is how
    /// many bytes an earlier partial download already had (0 for a fresh start).
    fn start(&self, total: Option<u64>, resumed_from: u64) {
        let _ = (total, resumed_from);
    }
    /// `bytes_done` bytes of the file are on disk (including resumed bytes); `rate` is
    /// the recent transfer rate in bytes per second; `eta` the estimated time left.
    fn progress(&self, bytes_done: u64, total: Option<u64>, rate: f64, eta: Option<Duration>) {
        let _ = (bytes_done, total, rate, eta);
    }
    /// A human-readable status line (source chosen, retrying, waiting for a lock...).
    fn message(&self, msg: &str) {
        let _ = msg;
    }
    /// The download is over.
    fn finish(&self) {}
}

/// A [`Reporter`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopReporter;

impl Reporter for NoopReporter {}

/// Rate-limits and enriches progress calls: reporters get at most ~10 updates a second,
/// with a rate measured over this transfer only (resumed bytes would inflate it).
pub(crate) struct Progress<'a> {
    reporter: &'a dyn Reporter,
    total: Option<u64>,
    started: Instant,
    base: u64,
    last: Option<Instant>,
}

const REPORT_EVERY: Duration = Duration::from_millis(100);

impl<'a> Progress<'a> {
    pub(crate) fn start(reporter: &'a dyn Reporter, total: Option<u64>, resumed_from: u64) -> Self {
        reporter.start(total, resumed_from);
        Progress {
            reporter,
            total,
            started: Instant::now(),
            base: resumed_from,
            last: None,
        }
    }

    pub(crate) fn update(&mut self, done: u64) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < REPORT_EVERY)
            && Some(done) != self.total
        {
            return;
        }
        self.last = Some(now);
        let secs = now.duration_since(self.started).as_secs_f64();
        let rate = if secs > 0.0 {
            done.saturating_sub(self.base) as f64 / secs
        } else {
            0.0
        };
        let eta = match self.total {
            Some(t) if rate > 0.0 => Some(Duration::from_secs_f64(
                t.saturating_sub(done) as f64 / rate,
            )),
            _ => None,
        };
        self.reporter.progress(done, self.total, rate, eta);
    }
}
