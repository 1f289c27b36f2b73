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

    /// More log output (repeat for more)
    #[arg(short = 'v', long = "log-verbose", global = true, action = clap::ArgAction::Count)]
    pub log_verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Discover, download, run and remove models
    #[command(subcommand)]
    Model(ModelCmd),
    /// Inspect and clean the model cache
    #[command(subcommand)]
    Cache(CacheCmd),
    /// Benchmarks
    #[command(subcommand)]
    Bench(BenchCmd),
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
    /// Remove a model from the cache
    #[command(visible_alias = "remove")]
    Rm { alias: String },
    /// Run a model: one answer with --prompt (or stdin), else an interactive chat
    Run(RunArgs),
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

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// In-process engine benchmark, measured the way llama.cpp's llama-bench measures
    Engine(BenchEngineArgs),
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
