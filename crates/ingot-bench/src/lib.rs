//! ingot-bench: the benchmark harness behind `ingot bench`.
//!
//! The crate is layered; data flows one way and a module never uses a higher layer
//! (`scripts/module-cycles.py` checks it):
//!
//! 1. [`util`]: helpers that know nothing of benchmarks (credential redaction, number
//!    statistics, text escaping, HTTP client and runtime builders).
//! 2. [`spec`]: what is asked: prompts and built-in sets, checks, datasets, models.json,
//!    scenarios, SLOs.
//! 3. [`measure`]: what happened: the raw per-request record (every metric is computed from
//!    these), the targets (an OpenAI-compatible endpoint with its own SSE parser, or an
//!    in-process model), truthful connections, the executors, resources, the mock server.
//! 4. [`results`]: the results.json schema types.
//! 5. [`score`]: checks on the answers, the LLM judge, scoring a run, human annotations.
//! 6. [`analyze`]: statistics, the metric registry, the recommended model and the Pareto
//!    front, comparisons, A/B statistics, sweeps, cost.
//! 7. [`report`]: the files and the terminal table, one exporter per format.
//! 8. [`pipeline`]: a whole run, its setup and calibration, A/B rounds, and the run folder
//!    (annotate/report/rescore on a finished run).
//!
//! **Embedding models** (issue 15) go through the same layers: [`spec::embed`] (which
//! models, batch size, texts), [`measure::embed`] (`embed()` in-process or
//! `POST /v1/embeddings`, vectors sanity-checked), [`results::embedding`]
//! (`models[].embedding` in results.json), [`analyze::embedding`] (requests/s, inputs/s,
//! input tokens/s, latency percentiles), [`report::embedding`] (an "Embedding models" table in
//! every report, `kind` column in results.csv) and [`pipeline::embed`] (one model's run). A
//! mixed run measures each model the way that fits it.
//!
//! The flat paths of earlier versions (`ingot_bench::workload`, `ingot_bench::run`, ...) are
//! re-exported below.
pub mod analyze;
pub mod measure;
pub mod pipeline;
pub mod report;
pub mod results;
pub mod score;
pub mod spec;
pub mod util;

pub use analyze::{ab_compare, compare, cost, select, stats, sweep};
pub use measure::{conn, exec, mock, record, resources, response, target};
pub use pipeline::{ab, calibrate, progress, run, rundir, settings, setup};
pub use report::{ab as ab_report, charts, html, samples};
pub use score::{annotate, judge, quality};
pub use spec::{dataset, models_file, sets as prompt_sets};

/// Prompts: [`spec::workload`] and the built-in sets of [`spec::sets`] (the path of earlier
/// versions).
pub mod workload {
    pub use crate::spec::sets::{builtin_prompts, builtin_set, BUILTIN_SETS};
    pub use crate::spec::workload::*;
}
pub use util::redact;
