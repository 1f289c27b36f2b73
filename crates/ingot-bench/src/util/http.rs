//! The HTTP clients' and the async runtimes' builders, one of each, shared by the benchmarked
//! target, the judge and the run folder's rescoring.

use std::time::Duration;

/// A reqwest client builder with the settings every client of the harness shares (a 10 s
/// connect timeout); callers add their own (pooling, connector layers).
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(10))
}

/// The runtime every benchmark client runs on (bench runs and `bench calibrate` alike, so the
/// calibration measures the harness that produces the numbers).
///
/// It is single-threaded on purpose. With a multi-threaded runtime, hyper's connection task
/// and the request's task sit on different workers, so a response byte reached the
/// timestamp only after a cross-thread wake-up (and the request left only after another):
/// about 0.1 ms each on a 2-core VM, which was most of the harness's TTFT error (0.22-0.41 ms
/// p50 at concurrency 1, against 0.11 ms single-threaded). One thread also leaves the other
/// cores to the server under test, and it still streams about 15,000 requests/s.
pub fn client_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// A multi-threaded runtime with `threads` workers, for work that is not measured (judging
/// a finished run's answers).
pub fn worker_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
}
