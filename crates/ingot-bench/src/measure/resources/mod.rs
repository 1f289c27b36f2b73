//! Resources and machine facts. The readings are per platform: Linux reads /proc
//! (`linux`), Windows the process and memory APIs (`windows`), macOS `proc_pid_rusage`
//! and `sysctl` (`macos`); elsewhere, and for a figure a platform does not have (PSS
//! outside Linux, the load average on Windows), the figure is `None`, which reports show
//! as unavailable ("–"), never as 0.
//!
//! - **Peak RSS, PSS and private memory** of the serving process: sampled every 50 ms while
//!   a model is benchmarked (in-process: ingot's own process, so the harness's own few MB are
//!   included; with an endpoint: `--server-pid`). RSS is the resident set (Linux
//!   `smaps_rollup`), the working set (Windows) or the resident size (macOS); private memory
//!   is the private pages (Linux), private bytes (Windows) or the physical footprint (macOS).
//! - **CPU time**: user + system time of the serving process over the measured scenarios
//!   (`/proc/<pid>/stat`, `GetProcessTimes`, `proc_pid_rusage`), reported per 1,000 output
//!   tokens.
//! - **Energy estimate**: CPU seconds × watts per busy core (`--watts-per-core`, default
//!   [`DEFAULT_WATTS_PER_CORE`]). One CPU-second is one core busy for one second, so this is a
//!   first-order estimate of the package power attributable to the work, not a measurement.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
use macos as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;
// Compiled everywhere so that its tests run on every platform.
#[cfg_attr(
    any(target_os = "linux", target_os = "macos", windows),
    allow(dead_code)
)]
mod unavailable;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
use unavailable as platform;

pub use platform::{cpu_seconds, drop_page_cache, load_average, memory};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default power of one busy core, in watts (a mid-range laptop/desktop x86 core at load).
pub const DEFAULT_WATTS_PER_CORE: f64 = 10.0;

/// One reading of a process's memory, in bytes (see the module documentation for what each
/// figure is per platform); `None` where the platform has no such figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    pub rss: u64,
    pub pss: Option<u64>,
    pub private: Option<u64>,
}

/// Samples a process's peak RSS, PSS and private memory on a background thread until
/// stopped.
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    peaks: Arc<[AtomicU64; 3]>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What [`MemorySampler::finish`] found, in bytes; `None` where the figure is unavailable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryPeaks {
    pub rss: Option<u64>,
    pub pss: Option<u64>,
    pub private: Option<u64>,
}

impl MemorySampler {
    pub fn start(pid: u32, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peaks: Arc<[AtomicU64; 3]> = Arc::default();
        let sample = {
            let peaks = peaks.clone();
            move || {
                if let Some(m) = memory(pid) {
                    peaks[0].fetch_max(m.rss, Ordering::Relaxed);
                    for (i, v) in [(1, m.pss), (2, m.private)] {
                        if let Some(v) = v {
                            peaks[i].fetch_max(v, Ordering::Relaxed);
                        }
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
            peaks,
            thread,
        }
    }

    /// Stops sampling; returns the peaks, where known (a figure never read is `None`,
    /// not 0).
    pub fn finish(mut self) -> MemoryPeaks {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let peak = |i: usize| Some(self.peaks[i].load(Ordering::Relaxed)).filter(|v| *v > 0);
        MemoryPeaks {
            rss: peak(0),
            pss: peak(1),
            private: peak(2),
        }
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
    let os = platform::os_name().unwrap_or_else(|| std::env::consts::OS.to_string());
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
        let rss = memory(pid).unwrap().rss;
        assert!(rss > 1 << 20);
        assert!(cpu_seconds(pid).is_some());
        let s = MemorySampler::start(pid, Duration::from_millis(5));
        let v = vec![1u8; 8 << 20];
        std::thread::sleep(Duration::from_millis(30));
        let peaks = s.finish();
        assert!(peaks.rss.unwrap() >= rss);
        assert!(peaks.private.is_some(), "{peaks:?}");
        // PSS exists on Linux only; elsewhere it is unavailable, not 0.
        assert_eq!(peaks.pss.is_some(), cfg!(target_os = "linux"), "{peaks:?}");
        drop(v);
        let m = machine_info();
        assert!(m.logical_cores >= 1);
        let f = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(drop_page_cache(f.path()), cfg!(target_os = "linux"));
    }
}
