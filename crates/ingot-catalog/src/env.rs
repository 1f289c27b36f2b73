//! Names of the environment variables ingot reads, kept in one place so the CLI, the
//! library crates and the docs cannot drift apart.

/// Root of everything ingot stores (cache, user catalog). Default: `<cache dir>/ingot`.
pub const INGOT_HOME: &str = "INGOT_HOME";
/// Extra catalog files (TOML or JSON), separated like `PATH`, merged in order over the
/// built-in and user catalogs.
pub const INGOT_CATALOG: &str = "INGOT_CATALOG";
/// Catalog URLs (from `INGOT_CATALOG` / `--catalog`) trusted to set `api_key_env`, a
/// `chat_template_override`, or turn a known alias into a remote endpoint; separated like
/// `INGOT_CATALOG`, matched exactly (`--trust-catalog` replaces it).
pub const INGOT_TRUST_CATALOG: &str = "INGOT_TRUST_CATALOG";
/// Python interpreter used for `pip` sources. Default: [`DEFAULT_PYTHON`].
pub const INGOT_PYTHON: &str = "INGOT_PYTHON";
/// Base URL of the Hugging Face hub (mirrors, tests). Default: [`DEFAULT_HF_ENDPOINT`].
pub const HF_ENDPOINT: &str = "HF_ENDPOINT";
/// Hugging Face access token, sent as `Authorization: Bearer` to the hub only.
pub const HF_TOKEN: &str = "HF_TOKEN";

/// The hub used when `HF_ENDPOINT` is unset.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";
/// The interpreter used when `INGOT_PYTHON` is unset.
pub const DEFAULT_PYTHON: &str = "python3";

/// Threads for inference (`--threads`). Default: physical cores.
pub const INGOT_THREADS: &str = "INGOT_THREADS";
/// Address `ingot serve` binds to (`--host`). Default: 127.0.0.1.
pub const INGOT_HOST: &str = "INGOT_HOST";
/// Port `ingot serve` binds to (`--port`). Default: 5273; 0 picks a free port.
pub const INGOT_PORT: &str = "INGOT_PORT";
/// Memory a model may take (`--max-memory` of `serve`, `run`, `bench run`), e.g. `4GiB`.
/// Default: the memory the system has free.
pub const INGOT_MAX_MEMORY: &str = "INGOT_MAX_MEMORY";
/// Speculative decoding of `ingot serve` and `ingot model run` (`--speculative`): `ngram`
/// (default, prompt lookup) or `off`.
pub const INGOT_SPECULATIVE: &str = "INGOT_SPECULATIVE";
/// API key required by `ingot serve` (`--api-key`); mandatory for non-loopback binds.
pub const INGOT_API_KEY: &str = "INGOT_API_KEY";
/// Web origins allowed to call `ingot serve` from browser pages (`--cors-origin`),
/// comma-separated (`http://localhost:3000,https://app.example`; `*` for any). Default: none.
pub const INGOT_CORS_ORIGIN: &str = "INGOT_CORS_ORIGIN";
/// API key sent to `ingot bench --judge-endpoint` (`--judge-api-key`).
pub const INGOT_JUDGE_API_KEY: &str = "INGOT_JUDGE_API_KEY";
/// Internal: `ingot service start` hands its child `ingot serve` every serve option at once,
/// as JSON, through this variable (not argv, which any local user can read, and not one flag
/// per option, which a new option could miss).
pub const INGOT_SERVE_OPTIONS: &str = "INGOT_SERVE_OPTIONS";
/// CPU kernels (`ingot`, the default: ingot's own where it has a faster one than ggml, with
/// identical results; `ingot-avx2`: ingot's AVX2 kernel even where the CPU has VNNI; `ggml`:
/// ggml's own everywhere, to compare).
pub const INGOT_KERNELS: &str = "INGOT_KERNELS";
/// Seconds an unloaded model's weights stay loaded for a quick reload (default 30; 0: none).
pub const INGOT_KEEP_WEIGHTS: &str = "INGOT_KEEP_WEIGHTS";
/// Log filter for ingot's tracing output (`info`, `ingot=debug`, ...).
pub const INGOT_LOG: &str = "INGOT_LOG";

/// `ingot bench`'s default `--endpoint` (the workshop's benchmark script reads it: Foundry
/// Local's OpenAI-compatible URL).
pub const FOUNDRY_LOCAL_ENDPOINT: &str = "FOUNDRY_LOCAL_ENDPOINT";
/// `ingot bench`'s default model list (`--models`, or `--model` with an endpoint),
/// comma-separated.
pub const BENCH_MODELS: &str = "BENCH_MODELS";
/// `ingot bench`'s streaming (`--stream`): `1` (default) or `0` for non-streamed requests.
pub const BENCH_STREAM: &str = "BENCH_STREAM";
