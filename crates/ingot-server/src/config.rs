//! Server configuration.

use std::time::Duration;

/// The port `ingot serve` binds to by default (Foundry Local-style `127.0.0.1:5273/v1`).
pub const DEFAULT_PORT: u16 = 5273;

/// Everything `ingot serve` can tune. `Default` gives a loopback server on ingot's port,
/// [`DEFAULT_PORT`] (5273).
///
/// Limits that protect the server from its clients: `body_limit` (413), `header_read_timeout`
/// (connection closed), `body_read_timeout` (408), and a `max_tokens` cap per request: the
/// context of one sequence, `context_length / parallel` (larger values get a 400
/// `context_length_exceeded`, and a request without `max_tokens` stops there too), and
/// `max_tokens_cap` below it when set.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Host or IP to bind. Anything that is not loopback requires `api_key`.
    pub host: String,
    /// 0 picks a free port; [`crate::ServerHandle::local_addr`] reports the real one.
    pub port: u16,
    /// When set, every route but `/health` requires `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Sequences decoded together per model (continuous-batching slots).
    pub parallel: usize,
    /// Requests that may wait for a slot per model; beyond it requests get a 503.
    pub max_queue: usize,
    /// Models kept in memory at once; loading one more evicts the least recently used.
    pub max_loaded_models: usize,
    /// Idle time after which a model is unloaded; zero keeps models until evicted.
    pub default_ttl: Duration,
    /// Reuse the KV cache of shared prompt prefixes.
    pub prefix_cache: bool,
    /// Host memory per model for prompt states that slots give up
    /// ([`ingot_core::LoadOptions::prompt_cache_bytes`]).
    pub prompt_cache_bytes: u64,
    /// Speculative decoding of loaded models (`ingot serve --speculative`); the default,
    /// prompt lookup, changes no output.
    pub speculative: ingot_core::Speculative,
    /// A draft model (an id the provider resolves) for speculative decoding instead of
    /// prompt lookup (`ingot serve --draft`). It must share the vocabulary of the models it
    /// drafts for: loading a model whose vocabulary differs fails, naming the difference.
    pub draft: Option<String>,
    /// Largest accepted request body in bytes (413 beyond).
    pub body_limit: usize,
    /// Generation threads per model; `None` lets the engine pick.
    pub threads: Option<usize>,
    /// Context length of each loaded model in tokens (shared by its `parallel` slots, as in
    /// llama.cpp); `None` lets the provider or the engine pick.
    pub context_length: Option<u32>,
    /// Layers offloaded to a GPU (ignored by CPU builds).
    pub gpu_layers: u32,
    /// A client that has not sent its request headers within this time is dropped, so idle
    /// or slowloris connections cannot pile up. It covers the first bytes of a connection
    /// too (before the HTTP version is known) and idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// A request whose body has not fully arrived within this time (counted from the end of
    /// its headers) gets a 408: a client trickling its body must not hold a connection and
    /// a buffer forever.
    pub body_read_timeout: Duration,
    /// The grace period of a shutdown. Running requests get most of it to finish; streams
    /// still running near its end are ended with an SSE error event and `[DONE]`, other
    /// requests with a 503, and whatever is left when it expires is cut.
    pub shutdown_timeout: Duration,
    /// The most tokens one request may generate (`ingot serve --max-tokens-cap`): a larger
    /// `max_tokens` gets a 400 naming the cap, and a request without `max_tokens` stops at
    /// it. `None`: only the sequence's context limits it.
    pub max_tokens_cap: Option<u32>,
    /// Memory the loaded models may take together, in bytes (`ingot serve --max-memory`).
    /// A model whose estimated size does not fit beside the others is refused with an error
    /// naming both numbers, after idle models were unloaded to make room. `None`: the memory
    /// the OS reports available at each load.
    pub max_memory: Option<u64>,
    /// Web origins (`https://app.example`, `http://localhost:3000`; `*` for any) whose pages
    /// may call this server (`ingot serve --cors-origin`, `INGOT_CORS_ORIGIN`). Requests
    /// from any other site are refused with a 403 (a page must not drive a local server),
    /// and allowed ones get CORS headers. Empty by default: no page may.
    pub cors_origins: Vec<String>,
    /// Open connections at once (`ingot serve --max-connections`). At the cap, a new
    /// connection closes the one that has been idle longest (no request in flight), or is
    /// closed itself when every connection is busy, so idle or silent connections cannot
    /// lock clients out and running requests are never cut.
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed (HTTP/1 keep-alive
    /// and HTTP/2 alike; HTTP/2 gets a GOAWAY).
    pub idle_timeout: Duration,
    /// HTTP/2: a PING is sent after this much silence from the client, and the connection
    /// is closed when it is not answered within `http2_keepalive_timeout`.
    pub http2_keepalive_interval: Duration,
    pub http2_keepalive_timeout: Duration,
    /// A client that accepts none of the response for this long (its socket stays full:
    /// a stream it stopped reading) is disconnected, which cancels its engine sequence.
    pub write_timeout: Duration,
    /// When set, `POST /ingot/shutdown` with `Authorization: Bearer <token>` asks the server
    /// to shut down gracefully ([`crate::ServerHandle::stop_requested`]); without it the route
    /// does not exist. `ingot service start` sets a random one and records it in the status
    /// file, so `ingot service stop` can stop the service where there are no signals
    /// (Windows). The route is exempt from `api_key` (the token is a stronger secret of its
    /// own), compared as a SHA-256 digest in constant time.
    pub shutdown_token: Option<String>,
}

/// The longest TTL a model can be given (365 days, in seconds): `--ttl`, `{"ttl": N}` on the
/// load route. Larger values are refused (a 400 on the route) rather than wrapped; 0 keeps a
/// model loaded until it is evicted.
pub const MAX_TTL_SECS: u64 = 365 * 24 * 3600;

/// Default of [`ServerConfig::max_connections`]: far more than any local use needs (a
/// connection per concurrent client; HTTP/2 clients multiplex), and low enough that the
/// process stays within a few thousand file descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_string(),
            port: DEFAULT_PORT,
            api_key: None,
            parallel: 4,
            max_queue: 64,
            max_loaded_models: 1,
            default_ttl: Duration::from_secs(600),
            prefix_cache: true,
            prompt_cache_bytes: ingot_core::DEFAULT_PROMPT_CACHE_BYTES,
            speculative: ingot_core::Speculative::default(),
            draft: None,
            body_limit: 2 * 1024 * 1024,
            threads: None,
            context_length: None,
            gpu_layers: 0,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            max_tokens_cap: None,
            max_memory: None,
            cors_origins: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: Duration::from_secs(60),
            http2_keepalive_interval: Duration::from_secs(20),
            http2_keepalive_timeout: Duration::from_secs(20),
            write_timeout: Duration::from_secs(60),
            shutdown_token: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing to listen on {host} without an API key: it is reachable from other machines. Set an API key (--api-key / INGOT_API_KEY) or bind to 127.0.0.1")]
    InsecureBind { host: String },
    #[error("cannot resolve host {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("invalid server configuration: {0}")]
    InvalidConfig(String),
}
