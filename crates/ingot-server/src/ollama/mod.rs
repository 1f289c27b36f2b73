//! Ollama's API on the same port as the OpenAI routes, in the shapes of Ollama's
//! `docs/api.md` and its Python and JavaScript clients:
//!
//! | route | what |
//! | --- | --- |
//! | `GET /api/version` | `{"version"}`: the Ollama API level this server speaks |
//! | `GET /api/tags` | downloaded models as `ALIAS:latest`, with size, digest and details |
//! | `POST /api/show` | details, `model_info`, `capabilities`, license, a `modelfile` |
//! | `GET /api/ps` | loaded models with `expires_at` and `context_length` |
//! | `POST /api/pull` | downloads, streaming `{"status", "digest", "total", "completed"}` lines |
//! | `DELETE /api/delete` | removes a download |
//! | `POST /api/chat`, `POST /api/generate` | NDJSON streams (the default) or one object |
//! | `POST /api/embed`, `POST /api/embeddings` | vectors from an embedding model (or a decoder's last token) |
//!
//! Names are `name[:tag]`, `latest` being the default tag; `family:size` spells an alias
//! (`qwen2.5:0.5b` is `qwen2.5-0.5b`), see [`ingot_api::names`]. Errors are
//! `{"error": "..."}` ([`ingot_api::ErrorShape::Ollama`]); a failure inside a stream is an
//! `{"error": ...}` line. As in Ollama, chatting with a model that is not downloaded is a 404
//! ("try pulling it first"), unlike the OpenAI routes, which download on first use.

mod chat;
mod embed;
mod types;

use std::convert::Infallible;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use http::{header, StatusCode};
use ingot_api::names::{check_ollama_name, ollama_name};
use ingot_api::{parse_json, ApiError, ErrorShape};
use serde_json::{json, Value};

pub use chat::{chat, generate};
pub use embed::{embed, embeddings};
use types::ModelRequest;

use crate::handlers::ApiBody;
use crate::provider::{ModelDescriptor, ModelDetails};
use crate::AppState;

/// What `/api/version` reports: the Ollama release whose API these routes follow. Clients
/// compare it to decide which fields they may send.
pub const OLLAMA_API_VERSION: &str = "0.12.0";

/// `GET /`: Ollama's liveness answer (its CLI and several UIs probe it).
pub async fn root() -> &'static str {
    "Ollama is running"
}

/// `GET /api/version`.
pub async fn version() -> Json<Value> {
    Json(json!({ "version": OLLAMA_API_VERSION }))
}

/// RFC 3339 with nanoseconds, as Ollama writes times.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `134.5M`, `1.5B`: Ollama's `parameter_size`.
fn parameter_size(n: Option<u64>) -> String {
    match n {
        None => String::new(),
        Some(n) if n >= 1_000_000_000 => format!("{:.1}B", n as f64 / 1e9),
        Some(n) if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        Some(n) => n.to_string(),
    }
}

fn details_json(x: &ModelDetails) -> Value {
    let family = x.family.clone().unwrap_or_default();
    json!({
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": if family.is_empty() { Value::Null } else { json!([family]) },
        "parameter_size": parameter_size(x.parameters),
        "quantization_level": x.quantization.clone().unwrap_or_default(),
    })
}

fn digest(x: &ModelDetails) -> String {
    x.sha256.clone().unwrap_or_default()
}

/// A model and what the provider knows about it, looked up by any of its names; a 404 in
/// Ollama's words when there is none, or when `downloaded` is asked and it is not.
pub(crate) async fn describe(
    st: &AppState,
    name: &str,
    downloaded: bool,
) -> Result<(ModelDescriptor, ModelDetails), ApiError> {
    check_ollama_name(name)?;
    let d = st.manager.find(name).await?;
    if d.remote {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "`{}` is a remote model: use the OpenAI routes (/v1) for it",
                d.id
            ),
            param: Some("model".into()),
            code: Some("remote_model".into()),
        });
    }
    if downloaded && !d.cached {
        return Err(ApiError::ModelNotFound {
            model: name.to_string(),
            available: Vec::new(),
        });
    }
    let provider = st.manager.provider().clone();
    let id = d.id.clone();
    let x = tokio::task::spawn_blocking(move || provider.details(&id))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    Ok((d, x))
}

/// `GET /api/tags`: the downloaded models.
pub async fn tags(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let provider = st.manager.provider().clone();
    let models = tokio::task::spawn_blocking(move || {
        provider
            .list()
            .into_iter()
            .filter(|d| d.cached && !d.remote)
            .map(|d| {
                let x = provider.details(&d.id).unwrap_or_default();
                let name = ollama_name(&d.id);
                json!({
                    "name": name,
                    "model": name,
                    "modified_at": rfc3339(x.modified.unwrap_or_else(SystemTime::now)),
                    "size": d.size_bytes.unwrap_or(0),
                    "digest": digest(&x),
                    "details": details_json(&x),
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("listing models failed: {e}")))?;
    Ok(Json(json!({ "models": models })))
}

/// `POST /api/show`.
pub async fn show(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Json<Value>, ApiError> {
    let req: ModelRequest = parse_json(&body)?;
    let (d, x) = describe(&st, req.model()?, true).await?;
    let arch = x.architecture.clone().unwrap_or_default();
    let mut info = serde_json::Map::new();
    info.insert("general.architecture".into(), json!(arch));
    if let Some(n) = x.parameters {
        info.insert("general.parameter_count".into(), json!(n));
    }
    if let Some(name) = &x.display_name {
        info.insert("general.name".into(), json!(name));
    }
    if let Some(ctx) = d.context_length {
        info.insert(format!("{arch}.context_length"), json!(ctx));
    }
    let from = x
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| d.id.clone());
    let mut caps = vec!["completion"];
    if d.capabilities.contains(&ingot_core::Capability::Chat) {
        caps.push("chat");
        // Every chat model takes `tools` (its template's, or the generic tool prompt);
        // Ollama clients look for this before they offer tools.
        caps.push("tools");
    }
    Ok(Json(json!({
        "license": d.license.clone().unwrap_or_default(),
        "modelfile": format!("# Modelfile generated by ingot\nFROM {from}\n"),
        "parameters": "",
        "template": "",
        "details": details_json(&x),
        "model_info": info,
        "capabilities": caps,
        "modified_at": rfc3339(x.modified.unwrap_or_else(SystemTime::now)),
    })))
}

/// `GET /api/ps`.
pub async fn ps(State(st): State<AppState>) -> Json<Value> {
    let loaded = st.manager.loaded();
    let provider = st.manager.provider().clone();
    let ids: Vec<String> = loaded.iter().map(|e| e.id.clone()).collect();
    let details = tokio::task::spawn_blocking(move || {
        ids.iter()
            .map(|id| provider.details(id).unwrap_or_default())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let models: Vec<Value> = loaded
        .iter()
        .zip(
            details
                .iter()
                .chain(std::iter::repeat(&ModelDetails::default())),
        )
        .map(|(e, x)| {
            let s = e.status();
            // Ollama shows a model kept forever as expiring far in the future.
            let expires = match s.expires_at {
                Some(t) => SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t),
                None => SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(253_402_300_799),
            };
            let name = ollama_name(&e.id);
            json!({
                "name": name,
                "model": name,
                "size": s.size,
                "digest": digest(x),
                "details": details_json(x),
                "expires_at": rfc3339(expires),
                "size_vram": 0,
                "context_length": s.context_length,
            })
        })
        .collect();
    Json(json!({ "models": models }))
}

fn ndjson_line(v: &Value) -> Bytes {
    Bytes::from(format!("{v}\n"))
}

pub(crate) fn ndjson_response(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .unwrap_or_else(|_| ApiError::Internal("building stream response".into()).into_response())
}

/// `POST /api/pull`: streams Ollama's progress lines (the default), or answers
/// `{"status": "success"}` once done with `"stream": false`.
pub async fn pull(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let req: ModelRequest = parse_json(&body)?;
    let (d, x) = describe(&st, req.model()?, false).await?;
    let short: String = digest(&x).chars().take(12).collect();
    let digest = format!("sha256:{}", digest(&x));
    let mut events = st
        .downloads
        .updates(st.manager.provider().clone(), d.id.clone());
    if !req.stream.unwrap_or(true) {
        while let Some(ev) = events.next().await {
            match ev.status.as_str() {
                "progress" => {}
                "done" => return Ok(Json(json!({ "status": "success" })).into_response()),
                _ => return Err(ApiError::Internal(failure(ev.message))),
            }
        }
        return Err(ApiError::Internal(
            "the download stopped without a result".into(),
        ));
    }
    let first = ndjson_line(&json!({ "status": "pulling manifest" }));
    let rest = futures_util::stream::unfold(Some(events), move |events| {
        let (digest, short) = (digest.clone(), short.clone());
        async move {
            let mut events = events?;
            let ev = events.next().await?;
            let out = match ev.status.as_str() {
                "progress" => {
                    let mut v = json!({
                        "status": format!("pulling {short}"),
                        "digest": digest,
                        "completed": ev.downloaded_bytes,
                    });
                    if let Some(t) = ev.total_bytes {
                        v["total"] = json!(t);
                    }
                    return Some((Ok::<_, Infallible>(ndjson_line(&v)), Some(events)));
                }
                "done" => [
                    json!({ "status": "verifying sha256 digest" }),
                    json!({ "status": "writing manifest" }),
                    json!({ "status": "success" }),
                ]
                .iter()
                .map(|v| format!("{v}\n"))
                .collect::<String>(),
                _ => format!(
                    "{}\n",
                    ApiError::Internal(failure(ev.message)).body_json_as(ErrorShape::Ollama)
                ),
            };
            Some((Ok(Bytes::from(out)), None))
        }
    });
    let body = StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, Infallible>(first) }),
        rest,
    );
    Ok(ndjson_response(Body::from_stream(body)))
}

/// `DELETE /api/delete`: unloads the model and removes its download.
pub async fn delete(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let req: ModelRequest = parse_json(&body)?;
    let name = req.model()?.to_string();
    let (d, _) = describe(&st, &name, true).await?;
    st.manager.unload(&d.id).await;
    let provider = st.manager.provider().clone();
    let id = d.id.clone();
    let removed = tokio::task::spawn_blocking(move || provider.delete(&id))
        .await
        .map_err(|e| ApiError::Internal(format!("delete failed: {e}")))?;
    match removed {
        Ok(true) => Ok(StatusCode::OK.into_response()),
        Ok(false) => Err(ApiError::ModelNotFound {
            model: name,
            available: Vec::new(),
        }),
        Err(e) => Err(st.manager.map_provider_error(&name, e).await),
    }
}

/// Ollama routes that manage model files ingot keeps in its catalog instead: a 501 that says
/// what to use.
pub async fn not_implemented(req: axum::extract::Request) -> ApiError {
    ApiError::NotImplemented(format!(
        "{} {} is not supported by ingot: models come from its catalog (`ingot model add` registers a GGUF file)",
        req.method(),
        req.uri().path()
    ))
}

/// The message of a download's `error` event.
fn failure(message: Option<String>) -> String {
    message.unwrap_or_else(|| "the download failed".into())
}
