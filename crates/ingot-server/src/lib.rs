//! ingot-server: the OpenAI-compatible HTTP server.
//!
//! ```no_run
//! # async fn run(engine: std::sync::Arc<dyn ingot_core::Engine>, provider: std::sync::Arc<dyn ingot_server::ModelProvider>) -> Result<(), Box<dyn std::error::Error>> {
//! let config = ingot_server::ServerConfig { port: 0, ..Default::default() };
//! let handle = ingot_server::serve(config, engine, provider).await?;
//! println!("listening on {}", handle.url());
//! tokio::signal::ctrl_c().await?;
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The server knows nothing about catalogs or caches: models come from a [`ModelProvider`]
//! and are loaded through an [`ingot_core::Engine`].
//!
//! # Routes
//!
//! | route | what |
//! | --- | --- |
//! | `GET /health` | `{"status":"ok"}`; never needs the API key |
//! | `GET /metrics` | Prometheus text: TTFT, inter-token, end-to-end and queue-time histograms, token and per-status request counters, active/queued/loaded gauges, and an inference gateway's gauges `ingot:num_requests_waiting`, `ingot:num_requests_running`, `ingot:kv_cache_usage_perc` (0..1), `ingot:model_loaded{model_name}` |
//! | `GET /v1/models`, `GET /v1/models/{id}` | OpenAI list format plus `cached`, `loaded`, `context_length`, `size`, `license`, `capabilities` |
//! | `POST /v1/chat/completions` | chat, JSON or SSE (`stream`, `stream_options.include_usage`) |
//! | `POST /v1/completions` | raw prompt (base models), JSON or SSE |
//! | `POST /v1/embeddings` | vectors: `input` text(s) or token arrays, `encoding_format` `float`/`base64`, plus `pooling` and `normalized` |
//! | `POST /v1/models/{id}/load` | body optional: `{"ttl": seconds}` (0 = never unload when idle); answers the `/v1/ps` entry |
//! | `POST /v1/models/{id}/unload` | `{"id", "unloaded": bool}`; 404 for unknown models |
//! | `POST /v1/models/{id}/download` | SSE of `{"status": "progress"\|"done"\|"error", ...}` then `[DONE]` |
//! | `GET /v1/ps` | loaded models: size, context, slots, `loaded_at`/`expires_at` (Unix seconds), TTL, active/queued |
//! | `POST /ingot/shutdown` | only with [`ServerConfig::shutdown_token`], as `Authorization: Bearer`: 202, and [`ServerHandle::stop_requested`] resolves (`ingot service stop` on Windows); 401 otherwise, 404 without a token |
//! | `/foundry/*`, `/openai/*` | Foundry Local's management routes, for its SDK (see the `foundry` module) |
//! | `/api/*`, `GET /` | Ollama's API (see the `ollama` module) |
//!
//! Model names may also be Foundry Local ids (`ALIAS-generic-cpu:1`, any version or
//! execution-provider suffix) or Ollama names (`ALIAS:latest`, `family:size`); see
//! [`ingot_api::names`].
//!
//! Model ids may contain `/`. Every response carries an ingot `timings` object (the engine's
//! [`ingot_core::Timings`], with `load_ms` set when the request waited for a load); streams
//! carry it on the chunk with `finish_reason`. Request extensions beyond OpenAI: `top_k`,
//! `min_p`, `repeat_penalty`, `repeat_last_n`, `ignore_eos`, `grammar` (GBNF).
//!
//! # OpenAI features
//!
//! - `response_format` `json_object` (any JSON object) and `json_schema` (structured outputs):
//!   the schema becomes a GBNF grammar through llama.cpp's converter
//!   ([`ingot_core::json_schema_grammar_str`]); a keyword it cannot enforce is a 400
//!   `invalid_json_schema` naming the keyword ([`ingot_api::structured`]).
//! - `logprobs`/`top_logprobs` (chat) and `logprobs: k` (completions), streamed per chunk:
//!   log-softmax of the raw logits over the whole vocabulary ([`ingot_core::logprobs`]).
//!   Requests without them do no logprob work.
//! - `presence_penalty`/`frequency_penalty` go to llama.cpp's penalties sampler;
//!   `max_completion_tokens` is the newer `max_tokens`.
//!
//! Unknown fields are ignored, and so are known harmless ones (`user`, `metadata`, `store`,
//! `prediction`). Fields that would change the answer and cannot be honoured are a 400
//! `unsupported_parameter` naming them ([`ingot_api::extras`]): `tools`, `tool_choice`,
//! `functions`, `logit_bias`, `audio`, `modalities` other than text, `web_search_options`,
//! and for completions `echo`, `suffix`, `best_of` > 1; `n` > 1 is a 400 too.
//!
//! # Errors
//!
//! Every error is mapped in one place, [`ingot_api::ApiError`], and comes in the shape of
//! its route's API ([`ingot_api::ErrorShape`]): OpenAI's
//! (`{"error": {"message", "type", "param", "code"}}`) but for Ollama's `{"error": "..."}` on
//! `/api/*` and Foundry's `{"success": false, "errorMessage": "..."}` on `/foundry/*` and
//! `/openai/*`. Statuses: 400 for bad requests (code
//! `invalid_json`, `context_length_exceeded`, ...), 401 `invalid_api_key`, 404
//! `model_not_found` (the message lists the models), 403 `forbidden_host` /
//! `forbidden_origin`, 405, 413 `request_too_large`, 415 `unsupported_media_type`, 503
//! `overloaded` with `Retry-After` when a model's queue is full, 500 otherwise. A failure in
//! the middle of a stream is sent as `data: {"error": ...}` followed by `data: [DONE]`.
//!
//! # Model lifecycle
//!
//! A model loads on its first request (concurrent first requests share one load; the load
//! finishes even if they all disconnect), is unloaded after `default_ttl` idle (never while a
//! request uses it), and loading one beyond `max_loaded_models` evicts the least recently
//! used (idle ones first). A client that disconnects cancels its engine sequence, freeing the
//! slot within a decode step.
//!
//! # Capabilities and remote adapters
//!
//! Before generating, a request is checked against the model's
//! [`ingot_core::Capabilities`] (declared by its engine adapter) and the capabilities its
//! provider lists: chat to a completion-only model, a raw completion to a chat-only adapter,
//! or `response_format` `json_object`/`grammar` to an engine without grammars get a 400
//! `unsupported_capability` naming what the model does support.
//!
//! A model for which [`ModelProvider::remote`] names an upstream ([`RemoteModel`]) is never
//! loaded: its `/v1/chat/completions` and `/v1/completions` requests are forwarded to the
//! upstream with `model` rewritten and the adapter's key, streams relayed chunk by chunk, and
//! upstream failures mapped to `ApiError::Upstream` (the upstream's status and code, or 502
//! `upstream_error` when it cannot be reached). `GET /v1/models` marks it `"remote": true`.
//!
//! # Limits and shutdown
//!
//! Requests: bodies beyond `body_limit` get a 413 (read on and discarded up to 4 × the
//! limit first, so that clients still sending see it rather than a reset connection), a
//! body not received within `body_read_timeout` a 408 `request_timeout`, headers not
//! received within `header_read_timeout` a closed connection (also for a connection that
//! sends nothing), and `max_tokens` is capped by one sequence's context (400
//! `context_length_exceeded`). Loopback only unless an API key is set; the key is
//! compared as a SHA-256 digest in constant time. A `ttl` above [`MAX_TTL_SECS`] is a 400
//! on the load route (a library caller's larger `default_ttl` saturates).
//!
//! Connections: at most `max_connections` (default [`DEFAULT_MAX_CONNECTIONS`]); at the cap
//! a new connection closes the longest-idle one, or is closed when all are busy, so silent
//! sockets cannot lock clients out. Connections idle for `idle_timeout` are closed, HTTP/2
//! peers are pinged (`http2_keepalive_*`), and a client that reads nothing for
//! `write_timeout` (a stream it stopped reading) is disconnected, which cancels its
//! sequence. `/metrics` shows `ingot_connections_open` and `ingot_connections_shed_total`.
//!
//! # Web pages
//!
//! For every route (those added later too): without an API key, a `Host` that is not
//! `localhost`, a loopback IP or the bind address is a 403 `forbidden_host` (DNS
//! rebinding); a request from a page of another origin (`Origin`, or `Sec-Fetch-Site:
//! cross-site`/`same-site`) is a 403 `forbidden_origin` unless `cors_origins` allows it,
//! and allowed origins get CORS preflights and headers (streams included); a request body
//! must be `application/json` (415). `POST /v1/models/{id}/download` runs one download per
//! model: concurrent calls follow the same progress. A shutdown stops accepting at once, gives
//! running requests most of `shutdown_timeout`, then ends streams with a
//! `server_shutting_down` error event and `[DONE]` (other requests get a 503) and cuts
//! whatever is left when the grace period expires.

mod choices;
mod config;
mod conn;
mod download;
mod embeddings;
mod foundry;
mod generate;
mod handlers;
mod malloc;
mod metrics;
mod middleware;
mod ollama;
mod openai;
mod origin;
mod provider;
mod proxy;
mod registry;
mod responses;
mod stall;
mod tool_calls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use ingot_api::{ApiError, LoadedModelStatus};
use ingot_core::{Engine, LoadOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{ServeError, ServerConfig, DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT, MAX_TTL_SECS};
pub use malloc::bound_malloc_arenas;
pub use metrics::Metrics;
pub use ollama::OLLAMA_API_VERSION;
pub use provider::{
    find_descriptor, DownloadProgress, ModelDescriptor, ModelDetails, ModelProvider, ProviderError,
    RemoteModel, ResolvedModel,
};

use registry::ModelManager;

/// Shared state of all handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    manager: Arc<ModelManager>,
    metrics: Arc<Metrics>,
    config: Arc<ServerConfig>,
    key_digest: Option<[u8; 32]>,
    /// Digest of [`ServerConfig::shutdown_token`]: `POST /ingot/shutdown` exists only with one.
    shutdown_digest: Option<[u8; 32]>,
    /// Set by an authorised `POST /ingot/shutdown` ([`ServerHandle::stop_requested`]).
    stop_requested: Arc<watch::Sender<bool>>,
    /// Unix seconds at startup (OpenAI's `created` for listed models).
    started: u64,
    /// Becomes true near the end of a shutdown's grace period: running requests end now
    /// (streams with an error event and `[DONE]`, others with a 503).
    drain: watch::Receiver<bool>,
    /// Host, origin and CORS rules ([`origin`]).
    origins: Arc<origin::OriginPolicy>,
    /// Downloads running now, shared by every request for the same model.
    downloads: Arc<download::Downloads>,
    /// Requests forwarded to remote models and not finished ([`proxy`]).
    forwarding: Arc<proxy::InFlight>,
    /// The address the server listens on (a remote adapter pointing here is refused).
    local_addr: SocketAddr,
}

/// How often idle models are checked against their TTL. Cheap (a scan of a tiny map), and
/// short enough that a TTL is honoured to within a fraction of a second.
const REAP_INTERVAL: Duration = Duration::from_millis(250);

/// A running server. Dropping the handle shuts the server down too.
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    state: AppState,
}

/// Triggers a graceful shutdown from anywhere (a signal handler, another task).
#[derive(Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

impl ServerHandle {
    /// The address actually bound (the real port when `port` was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ip:port`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger(self.shutdown_tx.clone())
    }

    /// Resolves once an authorised `POST /ingot/shutdown` asked the server to stop (see
    /// [`ServerConfig::shutdown_token`]); never without a token. The owner then calls
    /// [`ServerHandle::shutdown`], as it would on a signal.
    pub fn stop_requested(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.state.stop_requested.subscribe();
        async move {
            // A `let` of its own: the borrow `wait_for` returns ends here, before any await.
            let closed = rx.wait_for(|stop| *stop).await.is_err();
            if closed {
                // The server state is gone (it cannot be while the handle lives): never.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Loads a model ahead of the first request (`ingot serve --model X`); `ttl` as in
    /// `POST /v1/models/{id}/load`.
    pub async fn load_model(
        &self,
        id: &str,
        ttl: Option<Duration>,
    ) -> Result<LoadedModelStatus, ApiError> {
        let (lease, _) = self.state.manager.acquire(id, ttl).await?;
        let entry = self
            .state
            .manager
            .loaded()
            .into_iter()
            .find(|e| e.id == lease.id());
        drop(lease);
        entry.map(|e| e.status()).ok_or_else(|| {
            ApiError::Internal(format!("model {id} was evicted right after loading"))
        })
    }

    /// The server's metrics (also served at `/metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.state.metrics
    }

    /// Stops accepting connections, lets in-flight requests finish within the grace period
    /// (`shutdown_timeout`; streams still running near its end get an SSE error event and
    /// `[DONE]`, other requests a 503), unloads the models and returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until a [`ShutdownTrigger`] stops the server.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

/// Every route of the API. Routes added here (or merged in here) get all the layers of
/// [`router`]: origin and host checks, auth, body limits, shutdown draining, metrics.
fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .route("/v1/models", get(handlers::list_models))
        .route(
            "/v1/models/{*id}",
            get(handlers::get_model).post(handlers::model_action),
        )
        .route("/v1/chat/completions", post(handlers::chat))
        .route("/v1/completions", post(handlers::completions))
        .route("/v1/responses", post(responses::create))
        .route("/v1/embeddings", post(embeddings::create))
        .route("/v1/ps", get(handlers::ps))
        .route(handlers::SHUTDOWN_ROUTE, post(handlers::shutdown))
        .merge(compat_routes())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
}

fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    routes()
        .layer(DefaultBodyLimit::max(body_limit))
        // After auth: the body of a request without a valid key is never read.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            handlers::auth,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::drain_on_shutdown,
        ))
        // Before auth: CORS preflights carry no key, and a foreign page or host is refused
        // whatever it sends.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::guard,
        ))
        // Outermost, so that 401s, 403s and 413s are counted too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            handlers::count_status,
        ))
        .layer(axum::middleware::from_fn(middleware::shape_errors))
        .with_state(state)
}

/// Foundry Local's management routes and Ollama's API (see [`foundry`] and [`ollama`]).
fn compat_routes() -> Router<AppState> {
    use axum::routing::{delete, MethodRouter};
    let unsupported = || -> MethodRouter<AppState> { axum::routing::any(ollama::not_implemented) };
    Router::new()
        .route("/foundry/list", get(foundry::list))
        .route("/openai/status", get(foundry::status))
        .route("/openai/models", get(foundry::cached))
        .route("/openai/loadedmodels", get(foundry::loaded))
        .route("/openai/download", post(foundry::download))
        .route("/openai/load/{*id}", get(foundry::load))
        .route("/openai/unload/{*id}", get(foundry::unload))
        .route("/", get(ollama::root))
        .route("/api/version", get(ollama::version))
        .route("/api/tags", get(ollama::tags))
        .route("/api/show", post(ollama::show))
        .route("/api/ps", get(ollama::ps))
        .route("/api/pull", post(ollama::pull))
        .route("/api/delete", delete(ollama::delete))
        .route("/api/chat", post(ollama::chat))
        .route("/api/generate", post(ollama::generate))
        .route("/api/embed", post(ollama::embed))
        .route("/api/embeddings", post(ollama::embeddings))
        .route("/api/create", unsupported())
        .route("/api/copy", unsupported())
        .route("/api/push", unsupported())
        .route("/api/blobs/{*digest}", unsupported())
}

/// Resolves `host` and checks that serving there is safe with this configuration.
async fn resolve_bind(config: &ServerConfig) -> Result<Vec<SocketAddr>, ServeError> {
    let host = config.host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, config.port))
        .await
        .map_err(|source| ServeError::Resolve {
            host: config.host.clone(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ServeError::Resolve {
            host: config.host.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
        });
    }
    // Anything reachable from another machine must be protected by a key: the API can load
    // models (memory), download gigabytes and burn CPU.
    if config.api_key.is_none() && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(ServeError::InsecureBind {
            host: config.host.clone(),
        });
    }
    Ok(addrs)
}

/// Starts the server and returns once it is listening.
pub async fn serve(
    config: ServerConfig,
    engine: Arc<dyn Engine>,
    provider: Arc<dyn ModelProvider>,
) -> Result<ServerHandle, ServeError> {
    if config.parallel == 0 {
        return Err(ServeError::InvalidConfig(
            "parallel must be at least 1".into(),
        ));
    }
    if config.max_loaded_models == 0 {
        return Err(ServeError::InvalidConfig(
            "max_loaded_models must be at least 1".into(),
        ));
    }
    if config.body_limit == 0 {
        return Err(ServeError::InvalidConfig(
            "body_limit must be positive".into(),
        ));
    }
    if config
        .api_key
        .as_deref()
        .is_some_and(|k| k.trim().is_empty())
    {
        return Err(ServeError::InvalidConfig(
            "the API key must not be empty".into(),
        ));
    }
    let addrs = resolve_bind(&config).await?;
    let listener = TcpListener::bind(addrs.as_slice())
        .await
        .map_err(|source| ServeError::Bind {
            addr: format!("{}:{}", config.host, config.port),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: format!("{}:{}", config.host, config.port),
        source,
    })?;

    let origins = Arc::new(origin::OriginPolicy::new(&config, addr)?);
    let metrics = Arc::new(Metrics::new());
    let base_opts = LoadOptions {
        context_length: config.context_length,
        threads: config.threads,
        gpu_layers: config.gpu_layers,
        n_parallel: config.parallel,
        prefix_cache: config.prefix_cache,
        prompt_cache_bytes: config.prompt_cache_bytes,
        speculative: config.speculative,
        max_queue: config.max_queue,
        max_memory: config.max_memory,
        ..LoadOptions::default()
    };
    let manager = ModelManager::new(
        engine,
        provider,
        base_opts,
        config.draft.clone(),
        config.max_loaded_models,
        config.default_ttl,
        metrics.clone(),
    );
    let (drain_tx, drain_rx) = watch::channel(false);
    let state = AppState {
        manager: manager.clone(),
        metrics,
        key_digest: config.api_key.as_deref().map(handlers::key_digest),
        shutdown_digest: config.shutdown_token.as_deref().map(handlers::key_digest),
        stop_requested: Arc::new(watch::channel(false).0),
        started: registry::unix_now(),
        config: Arc::new(config),
        drain: drain_rx,
        origins,
        downloads: Arc::default(),
        forwarding: Arc::default(),
        local_addr: addr,
    };
    let app = router(state.clone());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let config = state.config.clone();
    let metrics = state.metrics.clone();
    let task = tokio::spawn(async move {
        let reaper = {
            let manager = manager.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(REAP_INTERVAL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    manager.reap_expired();
                }
            })
        };
        conn::accept_loop(listener, app, &config, metrics, shutdown_rx, drain_tx).await;
        reaper.abort();
        manager.unload_all();
    });
    tracing::info!(%addr, "ingot server listening");
    Ok(ServerHandle {
        addr,
        shutdown_tx,
        task: Some(task),
        state,
    })
}

/// Splits a shutdown grace period into the time running requests get to finish on their
/// own and the time left to end the rest cleanly (an error event is one write, but a
/// loaded machine needs a moment to schedule it).
pub(crate) fn grace_phases(grace: Duration) -> (Duration, Duration) {
    let cut = (grace / 4).min(Duration::from_secs(2));
    (grace - cut, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_period_leaves_time_to_end_streams() {
        assert_eq!(
            grace_phases(Duration::from_secs(10)),
            (Duration::from_secs(8), Duration::from_secs(2))
        );
        assert_eq!(
            grace_phases(Duration::from_millis(400)),
            (Duration::from_millis(300), Duration::from_millis(100))
        );
        assert_eq!(
            grace_phases(Duration::ZERO),
            (Duration::ZERO, Duration::ZERO)
        );
    }
}
