//! ingot-bench: the benchmark harness behind `ingot bench`.
//!
//! - [`record`]: the raw per-request record; every metric is computed from these.
//! - [`stats`]: summary statistics (one documented percentile method), bootstrap CIs, goodput,
//!   MAD outliers.
//! - [`target`]: where requests go: an OpenAI-compatible endpoint (own SSE parser) or an
//!   in-process model.
//! - [`exec`]: closed-loop and open-loop executors.
//! - [`workload`]: prompts (built-in workshop set, prompts.json/models.json formats).
pub mod calibrate;
pub mod compare;
pub mod exec;
pub mod html;
pub mod mock;
pub mod record;
pub mod report;
pub mod resources;
pub mod results;
pub mod run;
pub mod stats;
pub mod target;
pub mod workload;
