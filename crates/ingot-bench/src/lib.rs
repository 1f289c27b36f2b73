//! ingot-bench: the benchmark harness behind `ingot bench`.
//!
//! - [`record`]: the raw per-request record; every metric is computed from these.
//! - [`stats`]: summary statistics (one documented percentile method), bootstrap CIs, goodput,
//!   MAD outliers.
//! - [`target`]: where requests go: an OpenAI-compatible endpoint (own SSE parser) or an
//!   in-process model.
//! - [`exec`]: closed-loop and open-loop executors.
//! - [`workload`]: prompts (built-in sets, prompts.json/models.json formats).
//! - [`quality`]: checks on the answers, case scores and model quality; [`judge`]: the LLM
//!   judge; [`score`]: scoring a run; [`annotate`]: human scores; [`select`]: the recommended
//!   model and the Pareto front; [`rundir`]: annotate/report/rescore on a finished run.
pub mod annotate;
pub mod calibrate;
pub mod compare;
pub mod exec;
pub mod html;
pub mod judge;
pub mod mock;
pub mod prompt_sets;
pub mod quality;
pub mod record;
pub mod report;
pub mod resources;
pub mod results;
pub mod run;
pub mod rundir;
pub mod score;
pub mod select;
pub mod stats;
pub mod target;
pub mod workload;
