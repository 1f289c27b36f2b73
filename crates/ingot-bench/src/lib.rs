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
//! - [`conn`]: truthful connections (the keep-alive race is retried, never counted as a
//!   failure); [`redact`]: no credentials in anything written.
//! - [`ab`]: A/B comparison in interleaved rounds ([`ab_compare`]: ratios, CIs, verdicts);
//!   [`sweep`]: sync → throughput → rates, the saturation point; [`dataset`]: synthetic,
//!   ShareGPT and JSONL workloads; [`models_file`]: models.json with capabilities and sizes;
//!   [`cost`]: cost per 1M tokens; [`samples`]: outputs side by side; [`charts`]: the
//!   report's charts.
pub mod ab;
pub mod ab_compare;
pub mod ab_report;
pub mod annotate;
pub mod calibrate;
pub mod charts;
pub mod compare;
pub mod conn;
pub mod cost;
pub mod dataset;
pub mod exec;
pub mod html;
pub mod judge;
pub mod measure;
pub mod mock;
pub mod models_file;
pub mod progress;
pub mod prompt_sets;
pub mod quality;
pub mod record;
pub mod redact;
pub mod report;
pub mod resources;
pub mod response;
pub mod results;
pub mod run;
pub mod rundir;
pub mod samples;
pub mod score;
pub mod select;
pub mod setup;
pub mod stats;
pub mod sweep;
pub mod target;
pub mod workload;
