//! Route handlers, the JSON extractor with OpenAI-shaped rejections, and middleware.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, StatusCode};
use ingot_api::{
    parse_json, ApiError, ChatCompletionRequest, CompletionRequest, LoadRequest, Model, ModelList,
    PsResponse, Validated,
};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::generate::Kind;
use crate::provider::ModelDescriptor;
use crate::{proxy, AppState};

/// The raw request body, with a too-large body mapped to an OpenAI-shaped 413.
pub struct ApiBody(pub Bytes);

impl FromRequest<AppState> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(ApiBody(b)),
            Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge {
                    limit: state.config.body_limit,
                })
            }
            Err(rej) => Err(ApiError::invalid(format!(
                "cannot read request body: {}",
                rej.body_text()
            ))),
        }
    }
}

pub async fn health() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let text = st.metrics.render(st.manager.snapshot());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

pub async fn chat(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    completion_request::<ChatCompletionRequest>(st, &body, Kind::Chat).await
}

pub async fn completions(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    completion_request::<CompletionRequest>(st, &body, Kind::Completion).await
}

/// Both completion routes (JSON parsed like `axum::Json`, but every rejection is an OpenAI
/// error; the content type was checked by the body reader): a request for a remote adapter is forwarded to its upstream;
/// anything else is validated and generated here.
async fn completion_request<R>(st: AppState, body: &[u8], kind: Kind) -> Result<Response, ApiError>
where
    R: DeserializeOwned + Validate,
{
    let req: R = match parse_json(body) {
        Ok(r) => r,
        // A body ingot's own types reject may still be fine for a remote upstream (content
        // arrays, tools); only the upstream can judge it.
        Err(e) => match proxy::remote_for(&st, body) {
            Some(remote) => return proxy::forward(&st, remote, kind, body).await,
            None => return Err(e),
        },
    };
    if let Some(remote) = st.manager.provider().remote(req.model()) {
        return proxy::forward(&st, remote, kind, body).await;
    }
    let v = req.validate_request()?;
    if v.n > 1 {
        return crate::choices::run(st, v, kind).await;
    }
    crate::openai::run(st, v, kind).await
}

/// The two request types' common ground, for [`completion_request`].
trait Validate {
    fn model(&self) -> &str;
    fn validate_request(self) -> Result<Validated, ApiError>;
}

impl Validate for ChatCompletionRequest {
    fn model(&self) -> &str {
        &self.model
    }
    fn validate_request(self) -> Result<Validated, ApiError> {
        self.validate()
    }
}

impl Validate for CompletionRequest {
    fn model(&self) -> &str {
        &self.model
    }
    fn validate_request(self) -> Result<Validated, ApiError> {
        self.validate()
    }
}

fn to_model(st: &AppState, d: ModelDescriptor, loaded: &[String]) -> Model {
    Model {
        loaded: loaded.contains(&d.id),
        id: d.id,
        object: "model".into(),
        created: st.started,
        owned_by: if d.owned_by.is_empty() {
            "ingot".into()
        } else {
            d.owned_by
        },
        cached: d.cached,
        context_length: d.context_length,
        size: d.size_bytes,
        license: d.license,
        capabilities: d.capabilities.iter().map(|c| c.to_string()).collect(),
        remote: d.remote,
    }
}

pub async fn list_models(State(st): State<AppState>) -> Result<Json<ModelList>, ApiError> {
    let loaded = st.manager.loaded_ids();
    let data = st
        .manager
        .list_available()
        .await?
        .into_iter()
        .map(|d| to_model(&st, d, &loaded))
        .collect();
    Ok(Json(ModelList {
        object: "list".into(),
        data,
    }))
}

async fn find_model(st: &AppState, id: &str) -> Result<ModelDescriptor, ApiError> {
    st.manager.find(id).await
}

/// `GET /v1/models/{id}`; ids may contain slashes, hence the wildcard route.
pub async fn get_model(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Model>, ApiError> {
    let d = find_model(&st, &id).await?;
    let loaded = st.manager.loaded_ids();
    Ok(Json(to_model(&st, d, &loaded)))
}

/// `POST /v1/models/{id}/{load,unload,download}`: one wildcard route, because ids may
/// contain slashes, and axum cannot match a suffix after a wildcard.
pub async fn model_action(
    State(st): State<AppState>,
    Path(rest): Path<String>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let Some((id, action)) = rest.rsplit_once('/') else {
        return Err(ApiError::NotFound(format!(
            "no route for POST /v1/models/{rest}"
        )));
    };
    if id.is_empty() {
        return Err(ApiError::invalid_param(
            "model",
            "model id must not be empty",
        ));
    }
    // A remote adapter has nothing to load or download here; unloading it is a no-op.
    if let Some(remote) = st.manager.provider().remote(id) {
        return match action {
            "unload" => Ok(Json(
                serde_json::json!({ "id": id, "object": "model", "unloaded": false }),
            )
            .into_response()),
            "load" | "download" => Err(ApiError::InvalidRequest {
                message: format!(
                    "`{id}` is a remote model served by {}: there is nothing to {action} here; send requests to it directly",
                    ingot_fetch::redact_url(&remote.base_url)
                ),
                param: Some("model".into()),
                code: Some("remote_model".into()),
            }),
            other => Err(ApiError::NotFound(format!(
                "unknown model action `{other}`; expected load, unload or download"
            ))),
        };
    }
    match action {
        "load" => load(st, id, &body).await,
        "unload" => unload(st, id).await,
        "download" => download(st, id).await,
        other => Err(ApiError::NotFound(format!(
            "unknown model action `{other}`; expected load, unload or download"
        ))),
    }
}

async fn load(st: AppState, id: &str, body: &[u8]) -> Result<Response, ApiError> {
    // The body is optional: `curl -X POST .../load` must work.
    let req: LoadRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        LoadRequest::default()
    } else {
        parse_json(body)?
    };
    if let Some(ttl) = req.ttl.filter(|t| *t > crate::MAX_TTL_SECS) {
        return Err(ApiError::invalid_param(
            "ttl",
            format!(
                "ttl is {ttl} s, but the most a model can be kept idle is {} s (365 days); use 0 to keep it until it is evicted",
                crate::MAX_TTL_SECS
            ),
        ));
    }
    let ttl = req.ttl.map(Duration::from_secs);
    let (lease, _) = st.manager.acquire(id, ttl).await?;
    let entry = st.manager.loaded().into_iter().find(|e| e.id == lease.id());
    drop(lease);
    match entry {
        Some(e) => Ok(Json(e.status()).into_response()),
        // Evicted again immediately (max_loaded_models reached by concurrent loads).
        None => Err(ApiError::Internal(format!(
            "model {id} was evicted right after loading"
        ))),
    }
}

async fn unload(st: AppState, id: &str) -> Result<Response, ApiError> {
    let unloaded = st.manager.unload(id).await;
    if !unloaded {
        // Distinguish "not loaded" (fine, idempotent) from "no such model".
        find_model(&st, id).await?;
    }
    Ok(
        Json(serde_json::json!({ "id": id, "object": "model", "unloaded": unloaded }))
            .into_response(),
    )
}

async fn download(st: AppState, id: &str) -> Result<Response, ApiError> {
    let desc = find_model(&st, id).await?;
    let provider = st.manager.provider().clone();
    Ok(st.downloads.join(provider, desc.id))
}

pub async fn ps(State(st): State<AppState>) -> Json<PsResponse> {
    Json(PsResponse {
        object: "list".into(),
        data: st.manager.loaded().iter().map(|e| e.status()).collect(),
    })
}

pub async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

pub async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "method {} is not allowed on {}",
        req.method(),
        req.uri().path()
    ))
}

/// SHA-256 of a key: comparing digests in constant time hides the key's length too.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Requires `Authorization: Bearer <key>` on everything but `/health` when a key is set.
pub async fn auth(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = st.key_digest else {
        return next.run(req).await;
    };
    // The shutdown route checks its own token (never the API key, which clients share).
    if req.uri().path() == "/health" || req.uri().path() == SHUTDOWN_ROUTE {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|k| key_digest(k.trim()));
    match given {
        Some(d) if bool::from(d.ct_eq(&expected)) => next.run(req).await,
        _ => ApiError::InvalidApiKey.into_response(),
    }
}

/// The route `ingot service stop` calls to stop the service gracefully (see
/// [`crate::ServerConfig::shutdown_token`]).
pub const SHUTDOWN_ROUTE: &str = "/ingot/shutdown";

/// `POST /ingot/shutdown`: with the server's shutdown token as `Authorization: Bearer`, asks
/// its owner to shut down gracefully (202). A 404 when no token is configured, as for any
/// unknown route; a 401 for a missing or wrong token.
pub async fn shutdown(State(st): State<AppState>, headers: http::HeaderMap) -> Response {
    let Some(expected) = st.shutdown_digest else {
        return ApiError::NotFound(format!("no route for POST {SHUTDOWN_ROUTE}")).into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| key_digest(k.trim()));
    match given {
        Some(d) if bool::from(d.ct_eq(&expected)) => {
            tracing::info!("shutdown requested through {SHUTDOWN_ROUTE}");
            st.stop_requested.send_replace(true);
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "status": "shutting down" })),
            )
                .into_response()
        }
        _ => ApiError::InvalidApiKey.into_response(),
    }
}

/// Counts every response by status code.
pub async fn count_status(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    st.metrics.record_status(resp.status().as_u16());
    resp
}
