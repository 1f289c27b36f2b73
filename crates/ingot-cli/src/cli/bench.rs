//! `ingot bench`: the syntax of the benchmark and its tools (engine, calibrate, compare,
//! annotate, report, rescore).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ingot_catalog::env;

/// `ingot bench [FLAGS]` runs the benchmark; `ingot bench engine|calibrate|compare` the tools.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCmd>,
    #[command(flatten)]
    pub run: BenchRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// In-process engine benchmark, measured the way llama.cpp's llama-bench measures
    Engine(BenchEngineArgs),
    /// Measure the harness's own error against a mock server with scripted timing
    Calibrate(BenchCalibrateArgs),
    /// Compare two results.json files; optionally fail on a significant regression
    Compare(BenchCompareArgs),
    /// Write RUN_DIR/annotations.csv (case, model, prompt, output, blank score) to score by hand
    Annotate(BenchAnnotateArgs),
    /// Re-render every report of RUN_DIR, human scores merged, without generating again
    Report(BenchReportArgs),
    /// Re-apply new checks (--prompts new.json) to the saved outputs of RUN_DIR
    Rescore(BenchRescoreArgs),
}

/// Who judges `judge` checks.
#[derive(Debug, Args, Default, Clone)]
pub struct BenchJudgeArgs {
    /// Judge model for `judge` checks: a catalog alias, loaded in-process after the benchmark
    #[arg(long, value_name = "ALIAS", conflicts_with = "judge_endpoint")]
    pub judge: Option<String>,
    /// Judge through an OpenAI-compatible endpoint instead (with --judge-model)
    #[arg(long, value_name = "URL", requires = "judge_model")]
    pub judge_endpoint: Option<String>,
    /// Model name to request from --judge-endpoint
    #[arg(long, value_name = "NAME")]
    pub judge_model: Option<String>,
    /// API key for --judge-endpoint
    #[arg(long, env = env::INGOT_JUDGE_API_KEY, hide_env_values = true)]
    pub judge_api_key: Option<String>,
    /// Judge samples per answer; the verdict is their median [default: 1]
    #[arg(long, value_name = "K")]
    pub judge_samples: Option<usize>,
    /// Judge temperature [default: 0]; above 0 makes --judge-samples draw different verdicts
    #[arg(long)]
    pub judge_temperature: Option<f32>,
    /// Tokens the judge may generate per verdict [default: 160]
    #[arg(long)]
    pub judge_max_tokens: Option<u32>,
}

/// The recommendation's question.
#[derive(Debug, Args, Default, Clone)]
pub struct BenchSelectArgs {
    /// Constraints on the recommended model, e.g. "p95_ms<=2000,rss_mb<=1024"
    #[arg(long, value_name = "CONSTRAINTS")]
    pub select: Option<String>,
    /// Metric to maximize among the models meeting --select [default: quality, else lowest p95_ms]
    #[arg(long, value_name = "METRIC", conflicts_with = "minimize")]
    pub maximize: Option<String>,
    /// Metric to minimize instead (e.g. p95_ms, rss_mb)
    #[arg(long, value_name = "METRIC")]
    pub minimize: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchAnnotateArgs {
    /// A run folder (with results.json and requests.jsonl)
    pub run_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchReportArgs {
    /// A run folder
    pub run_dir: PathBuf,
    #[command(flatten)]
    pub select: BenchSelectArgs,
    /// Print the updated results.json to stdout instead of the table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchRescoreArgs {
    /// A run folder
    pub run_dir: PathBuf,
    /// The new checks: a prompts.json file (cases matched by id), or workshop|summarize
    #[arg(long, value_name = "FILE")]
    pub prompts: PathBuf,
    #[command(flatten)]
    pub judge: BenchJudgeArgs,
    /// Judge threads (local judge) [default: physical cores]
    #[arg(short = 't', long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub select: BenchSelectArgs,
    /// Print the updated results.json to stdout instead of the table
    #[arg(long)]
    pub json: bool,
}

/// The benchmark's settings. Each one resolves as flag, then `--config` file, then default.
#[derive(Debug, Args, Default, Clone)]
pub struct BenchRunArgs {
    /// Models to benchmark (aliases, comma-separated, or a models.json file)
    /// [default: smollm2-135m,gemma3-270m,qwen2.5-coder-0.5b]
    #[arg(long, value_delimiter = ',', value_name = "A,B", env = env::BENCH_MODELS)]
    pub models: Vec<String>,
    /// Prompt set: workshop, summarize, or a prompts.json file (list of strings, or objects
    /// with id, messages, checks and threshold) [default: workshop, the four seed prompts]
    #[arg(long, value_name = "SET|FILE")]
    pub prompts: Option<PathBuf>,
    /// Workload instead of --prompts: synthetic:in=N,out=M[,n=K] (prompts of exactly N tokens
    /// by the model's tokenizer, exactly M output tokens), or a ShareGPT JSON/JSONL or a JSONL
    /// of prompts (FILE[,n=K])
    #[arg(long, value_name = "SPEC", conflicts_with = "prompts")]
    pub dataset: Option<String>,
    /// A bench.toml file with any of these settings (flags win)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Rounds of the prompt set per scenario [default: 3]
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Warm-up rounds per model, excluded from the figures [default: 1]
    #[arg(long)]
    pub warmup: Option<u32>,
    /// Tokens to generate per request [default: 128]
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature [default: 0, greedy]
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Sampling seed [default: 42]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Generate exactly --max-tokens tokens (ignore EOS)
    #[arg(long)]
    pub fixed_length: bool,
    /// Closed-loop concurrency levels (N workers each) [default: 1]
    #[arg(long, value_delimiter = ',', value_name = "N,M")]
    pub concurrency: Vec<usize>,
    /// Open-loop arrival rates in requests/s (one scenario per rate)
    #[arg(long, value_delimiter = ',', value_name = "R")]
    pub rate: Vec<f64>,
    /// Open-loop arrivals: poisson or constant [default: poisson]
    #[arg(long, value_name = "KIND")]
    pub arrivals: Option<String>,
    /// Sweep instead of --concurrency/--rate: one request at a time, then the highest
    /// --concurrency (16 if none), then N open-loop rates between [N: 5]; finds the saturation
    /// point and draws latency against throughput
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "5")]
    pub sweep: Option<usize>,
    /// Run each scenario for this long (e.g. 30s) instead of a number of rounds
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Requests per scenario instead of rounds × prompts
    #[arg(long)]
    pub requests: Option<u64>,
    /// Inference threads (in-process) [default: physical cores]
    #[arg(short = 't', long)]
    pub threads: Option<usize>,
    /// Memory each model may take (in-process), e.g. 4GiB or 512MB; one that would need more is refused
    /// before it is loaded [default: the memory the system has free]
    #[arg(long, env = env::INGOT_MAX_MEMORY, value_name = "SIZE", value_parser = ingot_engine::parse_memory_size)]
    pub max_memory: Option<u64>,
    /// Sequences decoded together (in-process) [default: the highest concurrency, at least 4 with --rate]
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Service-level objectives for goodput, e.g. ttft=500ms,e2e=5s
    #[arg(long)]
    pub slo: Option<String>,
    /// Per-request timeout (e.g. 120s) [default: 300s]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Benchmark an OpenAI-compatible server instead of loading models in-process; repeat
    /// as NAME=URL to compare servers (with --interleave)
    #[arg(long, value_name = "[NAME=]URL", env = env::FOUNDRY_LOCAL_ENDPOINT)]
    pub endpoint: Vec<String>,
    /// Model name to request from --endpoint (comma-separated for several)
    #[arg(long, value_delimiter = ',', requires = "endpoint")]
    pub model: Vec<String>,
    /// Streamed requests: 1 (default) or 0 (non-streamed: e2e latency only, no TTFT)
    #[arg(long, value_name = "0|1", env = env::BENCH_STREAM)]
    pub stream: Option<String>,
    /// Non-streamed requests (same as --stream 0; wins over --stream and BENCH_STREAM)
    #[arg(long)]
    pub no_stream: bool,
    /// HTTP connections: pooled (keep-alive, default) or fresh (a new one per request)
    #[arg(long, value_name = "pooled|fresh")]
    pub connections: Option<String>,
    /// Compare the targets (several --endpoint NAME=URL, or --models a,b) in alternating
    /// rounds (--rounds), with per-metric ratios and verdicts against the first
    #[arg(long)]
    pub interleave: bool,
    /// Pause between targets of an interleaved comparison (e.g. 2s) [default: 1s]
    #[arg(long, value_name = "DURATION")]
    pub pause: Option<String>,
    /// API key for --endpoint
    #[arg(long, env = env::INGOT_API_KEY, hide_env_values = true)]
    pub api_key: Option<String>,
    /// PID of the server behind --endpoint, to sample its memory and CPU time
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Send prompts as raw text (/v1/completions, no chat template) to every model
    #[arg(long)]
    pub completion: bool,
    /// Every model is an embedding model: batches of texts to /v1/embeddings (or embed()
    /// in-process) instead of chat generations [default: the catalog's capabilities decide]
    #[arg(long)]
    pub embeddings: bool,
    /// These models are embedding models (beside those the catalog marks `embedding`)
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub embedding_models: Vec<String>,
    /// Texts per embedding request [default: 16]
    #[arg(long, value_name = "N")]
    pub embed_batch: Option<usize>,
    /// Watts per busy core for the energy estimate [default: 10]
    #[arg(long)]
    pub watts_per_core: Option<f64>,
    /// Electricity price per kWh: adds an estimated cost per 1M output tokens
    #[arg(long, value_name = "PRICE")]
    pub price_per_kwh: Option<f64>,
    /// The machine's price, amortised over --hardware-life into the cost estimate
    #[arg(long, value_name = "PRICE", requires = "hardware_life")]
    pub hardware_cost: Option<f64>,
    /// How long the machine is written off over (e.g. 3years, 36months)
    #[arg(long, value_name = "DURATION", requires = "hardware_cost")]
    pub hardware_life: Option<String>,
    /// Output folder [default: ./ingot-results/<timestamp>/]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip the quick harness calibration recorded in the manifest
    #[arg(long)]
    pub no_calibrate: bool,
    /// Skip the cold/warm load measurement (in-process)
    #[arg(long)]
    pub no_load_test: bool,
    /// Print results.json to stdout instead of the table
    #[arg(long)]
    pub json: bool,
    /// No progress bars
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub judge: BenchJudgeArgs,
    #[command(flatten)]
    pub select: BenchSelectArgs,
}

#[derive(Debug, Args)]
pub struct BenchCalibrateArgs {
    /// Scripted time to first token of the mock, in ms
    #[arg(long, default_value_t = 50.0)]
    pub ttft_ms: f64,
    /// Scripted inter-token latency of the mock, in ms
    #[arg(long, default_value_t = 10.0)]
    pub itl_ms: f64,
    /// Tokens per response
    #[arg(long, default_value_t = 16)]
    pub tokens: usize,
    /// Concurrency levels of the timing points
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub concurrency: Vec<usize>,
    /// Requests per timing point (at least the concurrency)
    #[arg(long, default_value_t = 40)]
    pub requests: u64,
    /// Requests of the zero-delay throughput point
    #[arg(long, default_value_t = 20000)]
    pub throughput_requests: u64,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchCompareArgs {
    /// The baseline results.json (alone: an interleaved A/B run, its targets against the first)
    pub old: PathBuf,
    /// The new results.json
    pub new: Option<PathBuf>,
    /// Exit non-zero on a significant regression, e.g. "p95_ms>+10%,tok_s<-5%"
    #[arg(long, value_name = "RULES")]
    pub fail_if: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchEngineArgs {
    /// Model alias
    pub alias: String,
    /// Prompt tokens per prompt-processing test (like llama-bench -p)
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: u32,
    /// Tokens per generation test (like llama-bench -n)
    #[arg(long, default_value_t = 128)]
    pub gen_tokens: u32,
    /// Repetitions of each test (like llama-bench -r)
    #[arg(long, default_value_t = 5)]
    pub repetitions: u32,
    /// Threads [default: physical cores]
    #[arg(short = 't', long, env = env::INGOT_THREADS)]
    pub threads: Option<usize>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}
