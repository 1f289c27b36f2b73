//! Command-line syntax (clap derive). Settings resolve as flag, then environment, then defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ingot_catalog::env;

#[derive(Debug, Parser)]
#[command(
    name = "ingot",
    version,
    about = "A local foundry for open-source language models: catalog, download, run, serve, benchmark.",
    propagate_version = true
)]
pub struct Cli {
    /// Root folder for the cache and the user catalog [default: <cache dir>/ingot]
    #[arg(long, global = true, env = env::INGOT_HOME, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Extra catalog (TOML or JSON file, or http(s) URL) merged over the built-in and user
    /// catalogs; repeatable, later ones win [default: the INGOT_CATALOG list]
    #[arg(long = "catalog", global = true, value_name = "FILE|URL")]
    pub catalogs: Vec<String>,

    /// Trust this catalog URL to name API-key variables, ship chat templates and turn known
    /// aliases into remote endpoints (refused otherwise); repeatable, exact URL
    /// [default: the INGOT_TRUST_CATALOG list]
    #[arg(long = "trust-catalog", global = true, value_name = "URL", value_parser = catalog_url)]
    pub trust_catalogs: Vec<String>,

    /// More log output (repeat for more)
    #[arg(short = 'v', long = "log-verbose", global = true, action = clap::ArgAction::Count)]
    pub log_verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Discover, download, run and remove models
    #[command(subcommand)]
    Model(ModelCmd),
    /// Inspect and clean the model cache
    #[command(subcommand)]
    Cache(CacheCmd),
    /// Benchmark models: latency, TTFT, ITL, throughput, load time, memory, disk
    Bench(BenchArgs),
    /// Run the OpenAI-compatible server in the foreground
    Serve(ServeArgs),
    /// Run the server in the background: start, stop, status
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Set up integrations with other tools
    #[command(subcommand)]
    Setup(SetupCmd),
}

#[derive(Debug, Subcommand)]
pub enum SetupCmd {
    /// Create a `foundry` command (a link to this binary) that speaks Foundry Local's command
    /// line, for foundry-local-sdk and Foundry scripts
    FoundryAlias {
        /// Folder to put it in (one on PATH) [default: the folder of this binary]
        dir: Option<PathBuf>,
        /// Copy the binary instead of linking to it
        #[arg(long)]
        copy: bool,
        /// Replace whatever is there
        #[arg(long)]
        force: bool,
    },
}

/// `ingot serve`'s options. `service start` passes them to its child whole, serialized
/// ([`ingot_catalog::env::INGOT_SERVE_OPTIONS`]), so every option reaches the service.
#[derive(Debug, Args, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServeArgs {
    /// Address to bind; anything but loopback requires --api-key
    #[arg(long, env = env::INGOT_HOST, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free port (printed at start)
    #[arg(long, env = env::INGOT_PORT, default_value_t = ingot_server::DEFAULT_PORT)]
    pub port: u16,
    /// API key clients must send as `Authorization: Bearer KEY`
    #[arg(long, env = env::INGOT_API_KEY, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Sequences decoded together per model (continuous batching slots)
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Requests that may wait for a slot; beyond it the server answers 503
    #[arg(long, default_value_t = 64)]
    pub max_queue: usize,
    /// Models kept in memory at once; the least recently used is evicted
    #[arg(long, default_value_t = 1)]
    pub max_loaded_models: usize,
    /// Idle time after which a model is unloaded, in seconds (0: never; at most 365 days)
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(..=ingot_server::MAX_TTL_SECS))]
    pub ttl: u64,
    /// Do not reuse the KV cache of a shared prompt prefix
    #[arg(long)]
    pub no_prefix_cache: bool,
    /// Largest accepted request body, in bytes
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    pub body_limit: usize,
    /// Threads for inference [default: physical cores]
    #[arg(short = 't', long, env = env::INGOT_THREADS)]
    pub threads: Option<usize>,
    /// Context length per model, shared by all slots [default: 4096 per slot, capped by the model]
    #[arg(long = "ctx-size")]
    pub ctx_size: Option<u32>,
    /// Layers to offload to the GPU (GPU builds only)
    #[arg(long, default_value_t = 0)]
    pub gpu_layers: u32,
    /// Most tokens one request may generate; larger max_tokens get a 400, and requests
    /// without max_tokens stop here [default: one sequence's context]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens_cap: Option<u32>,
    /// Memory the loaded models may take together, e.g. 4GiB or 512MB; idle models are
    /// unloaded to make room, and a model that still does not fit is refused before it is
    /// loaded [default: the memory the system has free]
    #[arg(long, env = env::INGOT_MAX_MEMORY, value_name = "SIZE", value_parser = ingot_engine::parse_memory_size)]
    pub max_memory: Option<u64>,
    /// Web origin whose pages may call the server (CORS), e.g. http://localhost:3000;
    /// repeatable or comma-separated, `*` for any. Requests from other sites' pages get a 403
    #[arg(long = "cors-origin", env = env::INGOT_CORS_ORIGIN, value_delimiter = ',', value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Open connections at once; at the cap a new one replaces the longest-idle connection,
    /// or is closed when all are busy
    #[arg(long, default_value_t = ingot_server::DEFAULT_MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Write a status file (pid, url, started) once listening (used by `service start`)
    #[arg(long, hide = true)]
    pub status_file: Option<PathBuf>,
    /// Take every option from $INGOT_SERVE_OPTIONS instead (used by `service start`)
    #[arg(long, hide = true)]
    #[serde(skip)]
    pub options_from_env: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Start the server in the background (logs and status under INGOT_HOME/service)
    Start(ServeArgs),
    /// Stop the background server gracefully
    Stop,
    /// Show url, pid, uptime and loaded models
    Status(JsonFlag),
}

#[derive(Debug, Subcommand)]
pub enum ModelCmd {
    /// List the catalog's models
    #[command(visible_alias = "ls")]
    List(JsonFlag),
    /// Show every field and source of a model
    Info {
        alias: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Download and verify models into the cache
    Download {
        #[arg(required = true)]
        aliases: Vec<String>,
    },
    /// Register a model: a GGUF file, a file to download later, or a remote server's model
    Add(AddArgs),
    /// Remove a model: a user entry (and its cached copy), or a built-in model's download
    #[command(visible_alias = "remove")]
    Rm { alias: String },
    /// Run a model: one answer with --prompt (or stdin), else an interactive chat
    Run(RunArgs),
    /// Load a model into the running service
    Load {
        alias: String,
        /// Idle time before it unloads, in seconds [default: the service's]
        #[arg(long)]
        ttl: Option<u64>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Unload a model from the running service
    Unload {
        alias: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the models loaded in the running service
    Ps {
        #[command(flatten)]
        json: JsonFlag,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `ingot model add`: exactly one of PATH, --hf, --url, --endpoint.
#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["path", "hf", "url", "endpoint"])))]
pub struct AddArgs {
    /// A GGUF file to register (used in place unless --copy)
    #[arg(value_name = "PATH.gguf")]
    pub path: Option<PathBuf>,
    /// The alias to register it under (lowercase letters, digits, '.', '-', '_')
    #[arg(long)]
    pub alias: String,
    /// Copy the file into the cache instead of using it where it is
    #[arg(long, requires = "path")]
    pub copy: bool,
    /// A Hugging Face repository (owner/name) to download the model from later
    #[arg(long, value_name = "REPO", requires = "file")]
    pub hf: Option<String>,
    /// The file inside the --hf repository
    #[arg(long, value_name = "FILE", requires = "hf")]
    pub file: Option<String>,
    /// Branch, tag or commit of the --hf repository
    #[arg(long, default_value = "main", requires = "hf")]
    pub revision: String,
    /// An http(s) URL to download the model from later
    #[arg(long, value_name = "URL", requires = "sha256")]
    pub url: Option<String>,
    /// SHA-256 of the file (required with --url, optional with --hf)
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Base URL of an OpenAI-compatible server (http://HOST:PORT/v1): a remote adapter
    #[arg(long, value_name = "URL", requires = "remote_model")]
    pub endpoint: Option<String>,
    /// The model name on the --endpoint server
    #[arg(long, value_name = "NAME", requires = "endpoint")]
    pub remote_model: Option<String>,
    /// Environment variable holding the --endpoint server's API key (the key is not stored)
    #[arg(long, value_name = "VAR", requires = "endpoint")]
    pub api_key_env: Option<String>,
    /// Licence identifier [default: the GGUF's general.license, else "unknown"]
    #[arg(long)]
    pub license: Option<String>,
    /// What the model can do [default: chat,completion with a chat template, else completion]
    #[arg(long, value_delimiter = ',', value_name = "CAP,CAP")]
    pub capabilities: Vec<String>,
    /// Chat template file (Jinja) to use instead of, or in the absence of, the model's own
    #[arg(long, value_name = "FILE", conflicts_with = "endpoint")]
    pub chat_template: Option<PathBuf>,
    /// Display name [default: the GGUF's general.name, else the alias]
    #[arg(long)]
    pub name: Option<String>,
    /// One-line description
    #[arg(long)]
    pub description: Option<String>,
    /// Print the new entry as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// Service URL [default: the one `ingot service start` recorded, else http://127.0.0.1:5273]
    #[arg(long)]
    pub endpoint: Option<String>,
    /// API key of the service
    #[arg(long, env = env::INGOT_API_KEY, hide_env_values = true)]
    pub api_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Model alias from the catalog
    pub alias: String,
    /// The prompt; without it (and without piped stdin) ingot starts an interactive chat
    #[arg(short, long)]
    pub prompt: Option<String>,
    /// System prompt
    #[arg(long)]
    pub system: Option<String>,
    /// Send the prompt as raw text, without the chat template
    #[arg(long)]
    pub raw: bool,
    /// Print timings after each answer (load, TTFT, prompt and generation tok/s, tokens)
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Args, Clone)]
pub struct SamplingArgs {
    /// Sampling temperature; 0 is greedy and deterministic
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// Nucleus sampling threshold (1 disables)
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Top-k sampling (0 disables)
    #[arg(long, default_value_t = 40)]
    pub top_k: i32,
    /// Min-p sampling (0 disables)
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Repeat penalty (1 disables)
    #[arg(long, default_value_t = 1.1)]
    pub repeat_penalty: f32,
    /// Random seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Maximum tokens to generate
    #[arg(long, default_value_t = 512)]
    pub max_tokens: u32,
    /// Stop string (repeatable); never printed
    #[arg(long)]
    pub stop: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Threads for inference [default: physical cores]
    #[arg(short = 't', long, env = env::INGOT_THREADS)]
    pub threads: Option<usize>,
    /// Context length in tokens [default: the model's, capped at 4096]
    #[arg(long = "ctx-size")]
    pub ctx_size: Option<u32>,
    /// Layers to offload to the GPU (GPU builds only)
    #[arg(long, default_value_t = 0)]
    pub gpu_layers: u32,
    /// Chat template file (Jinja) to use instead of, or in the absence of, the model's own
    #[arg(long, value_name = "FILE")]
    pub chat_template: Option<PathBuf>,
    /// Memory the model may take, e.g. 4GiB or 512MB; one that would need more is refused
    /// before it is loaded [default: the memory the system has free]
    #[arg(long, env = env::INGOT_MAX_MEMORY, value_name = "SIZE", value_parser = ingot_engine::parse_memory_size)]
    pub max_memory: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum CacheCmd {
    /// List cached models
    #[command(visible_alias = "ls")]
    List(JsonFlag),
    /// Print the cache root
    Dir,
    /// Remove a cached model
    #[command(visible_alias = "remove")]
    Rm { alias: String },
    /// Remove orphaned blobs and stale partial downloads
    Gc {
        /// Remove every partial download not in progress, however recent
        #[arg(long)]
        all: bool,
    },
}

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

/// `--trust-catalog` takes URLs only: catalog files are the user's own and always trusted.
fn catalog_url(s: &str) -> Result<String, String> {
    match ingot_catalog::CatalogLocation::parse(s) {
        ingot_catalog::CatalogLocation::Url(u) => Ok(u),
        ingot_catalog::CatalogLocation::File(_) => Err(
            "not an http(s) URL (catalog files are always trusted; only URLs need trust)".into(),
        ),
    }
}
