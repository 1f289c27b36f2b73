//! Embeddings (issue 15): `POST /v1/embeddings` (OpenAI) and the shared path Ollama's
//! `/api/embed` and `/api/embeddings` use ([`crate::ollama`]).
//!
//! The model is leased like a generation's (loaded on first use, kept while the request
//! runs); the engine's `embed` runs on a blocking thread, and a client that goes away
//! cancels its remaining batches.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ingot_api::embeddings::{check_dimensions, EmbeddingRequest, EmbeddingResponse};
use ingot_api::{parse_json, ApiError};
use ingot_core::embed::{EmbedRequest, Embeddings};
use ingot_core::CancelToken;

use crate::handlers::ApiBody;
use crate::AppState;

/// Cancels the engine's work when the handler's future is dropped (the client went away).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A finished embedding request.
pub(crate) struct Embedded {
    pub embeddings: Embeddings,
    /// The canonical id of the model that embedded.
    pub model: String,
    /// Milliseconds this request waited for the model to load.
    pub load_ms: f64,
    pub total: Duration,
}

/// Leases `model` (`ttl` replaces its idle TTL), checks it can embed (and `dimensions`),
/// and embeds `req`.
pub(crate) async fn embed(
    st: &AppState,
    model: &str,
    mut req: EmbedRequest,
    dimensions: Option<u32>,
    ttl: Option<Duration>,
) -> Result<Embedded, ApiError> {
    let started = Instant::now();
    let _active = st.metrics.active_guard();
    let (lease, load_ms) = st.manager.acquire(model, ttl).await?;
    let id = lease.id().to_string();
    let Some(info) = lease.model().embedding_info() else {
        return Err(ApiError::InvalidRequest {
            message: format!("model `{id}` cannot compute embeddings"),
            param: Some("model".into()),
            code: Some("unsupported_capability".into()),
        });
    };
    check_dimensions(&id, dimensions, &info)?;
    let cancel = CancelToken::new();
    req.cancel = cancel.clone();
    let _guard = CancelOnDrop(cancel);
    let engine = lease.model().clone();
    let embeddings = tokio::task::spawn_blocking(move || engine.embed(req))
        .await
        .map_err(|e| ApiError::Internal(format!("the embedding task failed: {e}")))??;
    tracing::info!(
        model = %id,
        inputs = embeddings.vectors.len(),
        prompt_tokens = embeddings.prompt_tokens,
        pooling = %embeddings.pooling,
        compute_ms = embeddings.compute_ms,
        total_ms = started.elapsed().as_secs_f64() * 1e3,
        "embeddings done"
    );
    drop(lease);
    Ok(Embedded {
        embeddings,
        model: id,
        load_ms,
        total: started.elapsed(),
    })
}

/// `POST /v1/embeddings`.
pub async fn create(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let v = parse_json::<EmbeddingRequest>(&body)?.validate()?;
    if st.manager.provider().remote(&v.model).is_some() {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "`{}` is a remote model: ingot does not forward embeddings to remote adapters",
                v.model
            ),
            param: Some("model".into()),
            code: Some("remote_model".into()),
        });
    }
    let done = embed(&st, &v.model, v.request, v.dimensions, None).await?;
    let body = EmbeddingResponse::new(done.model, done.embeddings, v.format);
    Ok(axum::Json(body).into_response())
}
