//! Resources and machine facts. The readings are per platform: Linux reads /proc
//! ([`linux`]); elsewhere each figure is `None`, which reports show as unavailable, never
//! as 0 (issue 19 adds Windows and macOS readings).
//!
//! - **Peak RSS and PSS** of the serving process: sampled every 50 ms from
//!   `/proc/<pid>/smaps_rollup` while a model is benchmarked (in-process: ingot's own process,
//!   so the harness's own few MB are included; with an endpoint: `--server-pid`).
//! - **CPU time**: user + system time of the serving process over the measured scenarios
//!   (`/proc/<pid>/stat`), reported per 1,000 output tokens.
//! - **Energy estimate**: CPU seconds × watts per busy core (`--watts-per-core`, default
//!   [`DEFAULT_WATTS_PER_CORE`]). One CPU-second is one core busy for one second, so this is a
//!   first-order estimate of the package power attributable to the work, not a measurement.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(not(target_os = "linux"))]
mod unavailable;
#[cfg(not(target_os = "linux"))]
use unavailable as platform;

pub use platform::{cpu_seconds, drop_page_cache, load_average, memory};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default power of one busy core, in watts (a mid-range laptop/desktop x86 core at load).
pub const DEFAULT_WATTS_PER_CORE: f64 = 10.0;

/// Samples a process's peak RSS and PSS on a background thread until stopped.
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    peak_rss: Arc<AtomicU64>,
    peak_pss: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MemorySampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_rss = Arc::new(AtomicU64::new(0));
        let peak_pss = Arc::new(AtomicU64::new(0));
        let sample = {
            let (rss, pss) = (peak_rss.clone(), peak_pss.clone());
            move || {
                if let Some((r, p)) = memory(pid) {
                    rss.fetch_max(r, Ordering::Relaxed);
                    if let Some(p) = p {
                        pss.fetch_max(p, Ordering::Relaxed);
                    }
                }
            }
        };
        sample();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("ingot-bench-mem".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        sample();
                        std::thread::sleep(every);
                    }
                    sample();
                })
                .ok()
        };
        Self {
            stop,
            peak_rss,
            peak_pss,
            thread,
        }
    }

    /// Stops sampling; returns (peak RSS, peak PSS) in bytes, when known.
    pub fn finish(mut self) -> (Option<u64>, Option<u64>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let nz = |v: u64| (v > 0).then_some(v);
        (
            nz(self.peak_rss.load(Ordering::Relaxed)),
            nz(self.peak_pss.load(Ordering::Relaxed)),
        )
    }
}

impl Drop for MemorySampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The machine, for manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MachineInfo {
    pub cpu_model: Option<String>,
    pub logical_cores: usize,
    pub physical_cores: usize,
    pub ram_bytes: Option<u64>,
    pub gpu: Option<String>,
    pub os: String,
    pub kernel: Option<String>,
    pub arch: String,
    /// 1-minute load average when the run started.
    pub load_avg_1m: Option<f64>,
    /// The load average exceeded the logical cores: numbers may be disturbed.
    pub busy: bool,
}

/// Collects machine facts (cheap: a few small files on Linux).
pub fn machine_info() -> MachineInfo {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("PRETTY_NAME="))
                .map(|l| l["PRETTY_NAME=".len()..].trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let (cpu_model, ram_bytes) = (platform::cpu_model(), platform::ram_bytes());
    let (kernel, gpu) = (platform::kernel(), platform::gpu());
    let logical_cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load_avg_1m = load_average();
    MachineInfo {
        cpu_model,
        logical_cores,
        physical_cores: ingot_core::physical_cores(),
        ram_bytes,
        gpu,
        os,
        kernel,
        arch: std::env::consts::ARCH.to_string(),
        load_avg_1m,
        busy: load_avg_1m.is_some_and(|l| l > logical_cores as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_resources() {
        let pid = std::process::id();
        let (rss, _) = memory(pid).unwrap();
        assert!(rss > 1 << 20);
        assert!(cpu_seconds(pid).is_some());
        let s = MemorySampler::start(pid, Duration::from_millis(5));
        let v = vec![1u8; 8 << 20];
        std::thread::sleep(Duration::from_millis(30));
        let (peak, _) = s.finish();
        assert!(peak.unwrap() >= rss);
        drop(v);
        let m = machine_info();
        assert!(m.logical_cores >= 1);
        let f = tempfile::NamedTempFile::new().unwrap();
        assert!(drop_page_cache(f.path()));
    }
}
