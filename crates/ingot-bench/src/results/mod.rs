//! `results.json`: the versioned result of a run (schema: `schema/results.schema.json`).

use serde::{Deserialize, Serialize};

pub mod calibration;
pub mod comparison;
pub mod cost;
pub mod embedding;
pub mod metrics;
pub mod quality;
pub mod selection;
pub mod sweep;

use crate::measure::exec::Scenario;
use crate::measure::resources::MachineInfo;
use crate::spec::workload::{GenParams, Mode};
use calibration::Calibration;
use metrics::{ScenarioMetrics, Slo};
use quality::ModelQuality;
use selection::Selection;

/// Version of the results format; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub manifest: Manifest,
    pub models: Vec<ModelResult>,
    /// The recommended model and why (`--select`, `--maximize`; by default the highest
    /// quality, or the lowest p95 when nothing is scored).
    #[serde(default)]
    pub selection: Option<Selection>,
    /// A/B comparison of interleaved targets (`--interleave`, several `--endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<comparison::Comparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub ingot_version: String,
    pub git_sha: Option<String>,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: Option<String>,
    pub target: TargetInfo,
    /// The in-process engine (absent with an endpoint).
    pub engine: Option<EngineInfo>,
    pub machine: MachineInfo,
    pub threads: Option<usize>,
    pub sampling: GenParams,
    pub prompt_set: PromptSetInfo,
    pub scenarios: Vec<Scenario>,
    pub rounds: u32,
    pub warmup_rounds: u32,
    pub slo: Slo,
    pub watts_per_core: f64,
    /// The harness's self-check, run at the start (`ingot bench calibrate`, quick settings).
    pub calibration: Option<Calibration>,
    pub warnings: Vec<String>,
    /// How quality was scored (absent in runs without checks).
    #[serde(default)]
    pub quality: Option<QualityInfo>,
    /// The `--dataset` the prompts came from (absent with a prompt set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<crate::spec::dataset::DatasetInfo>,
    /// What the cost estimate is made from (`--price-per-kwh`, `--hardware-cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<cost::CostInputs>,
}

/// How the run's quality scores were made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityInfo {
    /// Cases with checks, and checks in all.
    pub cases: usize,
    pub checks: usize,
    pub judge_checks: usize,
    /// The judge (alias or endpoint), if any.
    pub judge: Option<String>,
    pub judge_samples: usize,
    pub judge_temperature: f32,
    /// SHA-256 of the judge's fixed system prompt.
    pub judge_prompt_sha256: String,
    /// Which output of each case is scored.
    pub scored_output: String,
    /// Where the checks came from (the run's prompt set, or a later `rescore --prompts`).
    pub checks_source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    InProcess,
    Endpoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub kind: TargetKind,
    pub endpoint: Option<String>,
    pub server_pid: Option<u32>,
    /// How HTTP connections were used (`--connections`); absent in-process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<crate::measure::conn::Connections>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub name: String,
    /// The llama.cpp bindings and their pinned version.
    pub llama_cpp: String,
    /// llama.cpp's system info line (SIMD features, threads).
    pub system_info: String,
    pub prefix_cache: bool,
    pub n_parallel: usize,
    /// Speculative decoding of the loaded models (absent in results written before it
    /// existed, which decoded without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speculative: Option<ingot_core::Speculative>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptSetInfo {
    /// `builtin` or the file it came from.
    pub source: String,
    pub sha256: String,
    pub count: usize,
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    pub alias: String,
    pub status: Status,
    /// Why it failed (download, load, timeout, errors).
    pub reason: Option<String>,
    pub mode: Mode,
    pub file: Option<ModelFile>,
    pub load: Option<LoadMetrics>,
    pub resources: Option<ResourceMetrics>,
    pub scenarios: Vec<ScenarioResult>,
    /// The model's license, from the catalog.
    #[serde(default)]
    pub license: Option<String>,
    /// Whether that license is permissive (Apache-2.0, MIT, BSD, ...); others are flagged.
    #[serde(default)]
    pub license_permissive: Option<bool>,
    /// Quality over the prompt set's checks (and human scores, once annotated).
    #[serde(default)]
    pub quality: Option<ModelQuality>,
    /// For a remote adapter measured over HTTP in an in-process run: "MODEL at URL".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// `--sweep`: the points, latency against throughput, and the saturation point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<sweep::SweepResult>,
    /// Estimated cost per 1M output tokens (with `--price-per-kwh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<cost::CostEstimate>,
    /// An embedding model's figures (issue 15): requests/s, inputs/s, input tokens/s and
    /// latency per scenario, its dimensions and pooling. Such a model has no `scenarios`
    /// and no `quality`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<embedding::EmbeddingResult>,
}

impl ModelResult {
    /// Whether this model was benchmarked with the embedding workload.
    pub fn is_embedding(&self) -> bool {
        self.embedding.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub path: String,
    pub sha256: Option<String>,
    /// Disk footprint in the cache.
    pub size_bytes: Option<u64>,
    pub quantization: Option<String>,
    pub parameters: Option<u64>,
}

/// Load time (file to ready) and the first TTFT after it, cold (page cache dropped where
/// permitted) and warm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoadMetrics {
    pub cold_load_ms: Option<f64>,
    pub cold_first_ttft_ms: Option<f64>,
    /// Whether posix_fadvise(DONTNEED) succeeded before the cold load.
    pub page_cache_dropped: bool,
    pub warm_load_ms: Option<f64>,
    pub warm_first_ttft_ms: Option<f64>,
    /// Where each load's time went, where the engine reports it (absent in results written
    /// before issue 18's round 5, and for servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_load_phases: Option<ingot_core::LoadPhases>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_load_phases: Option<ingot_core::LoadPhases>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ResourceMetrics {
    /// RSS of the measured process when the model's benchmark began (in-process: before the
    /// load; memory kept from earlier models is part of every later peak).
    pub baseline_rss_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
    pub peak_pss_bytes: Option<u64>,
    /// Peak private memory: on Linux the private pages of smaps_rollup (clean + dirty), on
    /// Windows private bytes (the commit charge), on macOS the physical footprint. Absent in
    /// results written before issue 19.
    #[serde(default)]
    pub peak_private_bytes: Option<u64>,
    /// CPU seconds (user + system) of the serving process during the measured scenarios.
    pub cpu_seconds: Option<f64>,
    pub cpu_s_per_1k_tokens: Option<f64>,
    /// cpu_s_per_1k_tokens × watts per core.
    pub energy_j_per_1k_tokens: Option<f64>,
    /// Which process was measured (`self` or the server pid).
    pub process: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub started: String,
    pub metrics: Option<ScenarioMetrics>,
    /// Set when the metric computation itself failed (the raw records are still written).
    pub metrics_error: Option<String>,
}

impl Results {
    /// The model's result for a scenario name.
    pub fn find(&self, model: &str, scenario: &str) -> Option<&ScenarioMetrics> {
        self.models
            .iter()
            .find(|m| m.alias == model)?
            .scenarios
            .iter()
            .find(|s| s.scenario.name == scenario)?
            .metrics
            .as_ref()
    }
}

/// The current time, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
