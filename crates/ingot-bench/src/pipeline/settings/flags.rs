//! The flags of `ingot bench run`, parsed by the CLI and resolved by [`super::build_config`].

use std::path::PathBuf;

/// The flags of `ingot bench run` (the CLI parses them; every field mirrors one flag, unset
/// when not given). A set flag wins over the config file.
#[derive(Debug, Clone, Default)]
pub struct RunFlags {
    pub models: Vec<String>,
    pub prompts: Option<PathBuf>,
    pub dataset: Option<String>,
    /// A `bench.toml` with the same settings (flags win).
    pub config: Option<PathBuf>,
    pub rounds: Option<u32>,
    pub warmup: Option<u32>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub seed: Option<u64>,
    pub fixed_length: bool,
    pub concurrency: Vec<usize>,
    pub rate: Vec<f64>,
    pub arrivals: Option<String>,
    pub sweep: Option<usize>,
    pub duration: Option<String>,
    pub requests: Option<u64>,
    pub threads: Option<usize>,
    pub max_memory: Option<u64>,
    pub parallel: Option<usize>,
    pub slo: Option<String>,
    pub timeout: Option<String>,
    pub endpoint: Vec<String>,
    pub model: Vec<String>,
    /// `--stream` as given (`0`/`1`); `no_stream` wins over it.
    pub stream: Option<String>,
    pub no_stream: bool,
    pub connections: Option<String>,
    pub interleave: bool,
    pub pause: Option<String>,
    pub api_key: Option<String>,
    pub server_pid: Option<u32>,
    pub completion: bool,
    pub watts_per_core: Option<f64>,
    pub price_per_kwh: Option<f64>,
    pub hardware_cost: Option<f64>,
    pub hardware_life: Option<String>,
    pub out: Option<PathBuf>,
    pub no_calibrate: bool,
    pub no_load_test: bool,
    /// Report progress and notes ([`RunConfig::progress`]).
    pub progress: bool,
    pub judge: JudgeFlags,
    pub select: SelectFlags,
    /// `--embeddings`: every model is an embedding model (issue 15), benchmarked with
    /// batches of texts (`/v1/embeddings` of an endpoint, `embed()` in-process).
    pub embeddings: bool,
    /// `--embedding-models a,b`: these models are embedding models (beside those whose
    /// catalog capabilities say `embedding`).
    pub embedding_models: Vec<String>,
    /// `--embed-batch N`: texts per embedding request (default 16).
    pub embed_batch: Option<usize>,
}

/// The judge's flags (`--judge ALIAS` or `--judge-endpoint URL --judge-model NAME`, ...).
#[derive(Debug, Clone, Default)]
pub struct JudgeFlags {
    pub judge: Option<String>,
    pub judge_endpoint: Option<String>,
    pub judge_model: Option<String>,
    pub judge_api_key: Option<String>,
    pub judge_samples: Option<usize>,
    pub judge_temperature: Option<f32>,
    pub judge_max_tokens: Option<u32>,
}

/// `--select`, `--maximize`, `--minimize`.
#[derive(Debug, Clone, Default)]
pub struct SelectFlags {
    pub select: Option<String>,
    pub maximize: Option<String>,
    pub minimize: Option<String>,
}
