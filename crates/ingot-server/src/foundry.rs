//! Foundry Local's management routes, in the shapes its Python SDK (`foundry-local-sdk`
//! 0.5.x, `FoundryLocalManager`) reads:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /foundry/list` | the catalog as Foundry model infos (`name` is the Foundry id `ALIAS-generic-cpu:1`) |
//! | `GET /openai/status` | `{"endpoints", "modelDirPath", "pipeName", "isAutoRegistrationResolved"}` |
//! | `GET /openai/models` | Foundry ids of the downloaded models |
//! | `GET /openai/loadedmodels` | Foundry ids of the loaded models |
//! | `POST /openai/download` | body `{"model": {"Name", "Uri", ...}, "token", "IgnorePipeReport"}`; streams `Total NN.NN% Downloading ...` lines, then `{"success", "errorMessage"}` |
//! | `GET /openai/load/{id}?ttl=SECONDS` | loads a downloaded model (a model not on disk gets Foundry's "No OpenAIService provider found for modelName" error) |
//! | `GET /openai/unload/{id}?force=BOOL` | unloads it |
//!
//! Ids may be Foundry ids (any version or execution-provider suffix whose stem is an alias),
//! aliases or Ollama names. Errors are `{"success": false, "errorMessage": ...}`
//! ([`ingot_api::ErrorShape::Foundry`]). Remote adapters are not listed: Foundry's catalog
//! is of local models.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use http::{header, HeaderMap};
use ingot_api::names::foundry_id;
use ingot_api::{parse_json, ApiError, ErrorShape};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::handlers::ApiBody;
use crate::provider::{ModelDescriptor, ModelDetails};
use crate::AppState;

/// The local models with what the provider knows about them (off the async runtime).
async fn local_models(st: &AppState) -> Result<Vec<(ModelDescriptor, ModelDetails)>, ApiError> {
    let provider = st.manager.provider().clone();
    tokio::task::spawn_blocking(move || {
        provider
            .list()
            .into_iter()
            .filter(|d| !d.remote)
            .map(|d| {
                let details = provider.details(&d.id).unwrap_or_default();
                (d, details)
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("listing models failed: {e}")))
}

fn model_info(d: &ModelDescriptor, x: &ModelDetails) -> Value {
    let chat = d.capabilities.is_empty() || d.capabilities.contains(&ingot_core::Capability::Chat);
    let publisher = if d.owned_by.is_empty() {
        x.family.clone().unwrap_or_else(|| "ingot".into())
    } else {
        d.owned_by.clone()
    };
    json!({
        "name": foundry_id(&d.id),
        "displayName": x.display_name.clone().unwrap_or_else(|| d.id.clone()),
        "modelType": "GGUF",
        "providerType": "ingot",
        "uri": x.source.clone().unwrap_or_else(|| format!("ingot://{}", d.id)),
        "version": "1",
        "promptTemplate": null,
        "publisher": publisher,
        "task": if chat { "chat-completion" } else { "text-generation" },
        "runtime": {"deviceType": "CPU", "executionProvider": "CPUExecutionProvider"},
        "fileSizeMb": d.size_bytes.map(|b| b.div_ceil(1024 * 1024)).unwrap_or(0),
        "modelSettings": {"parameters": []},
        "alias": d.id,
        "supportsToolCalling": false,
        "license": d.license.clone().unwrap_or_else(|| "unknown".into()),
        "licenseDescription": x.description.clone().unwrap_or_default(),
        "parentModelUri": "",
        "maxOutputTokens": d.context_length,
        "minFLVersion": null,
    })
}

/// `GET /foundry/list`.
pub async fn list(State(st): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    Ok(Json(
        local_models(&st)
            .await?
            .iter()
            .map(|(d, x)| model_info(d, x))
            .collect(),
    ))
}

/// `GET /openai/status`.
pub async fn status(State(st): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let endpoint = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"));
    let provider = st.manager.provider().clone();
    let dir = tokio::task::spawn_blocking(move || provider.model_dir())
        .await
        .ok()
        .flatten();
    Json(json!({
        "endpoints": endpoint.into_iter().collect::<Vec<_>>(),
        "modelDirPath": dir.map(|d| d.display().to_string()),
        "pipeName": "",
        "isAutoRegistrationResolved": true,
    }))
}

/// `GET /openai/models`: Foundry ids of the downloaded models.
pub async fn cached(State(st): State<AppState>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(
        local_models(&st)
            .await?
            .iter()
            .filter(|(d, _)| d.cached)
            .map(|(d, _)| foundry_id(&d.id))
            .collect(),
    ))
}

/// `GET /openai/loadedmodels`.
pub async fn loaded(State(st): State<AppState>) -> Json<Vec<String>> {
    Json(
        st.manager
            .loaded_ids()
            .iter()
            .map(|id| foundry_id(id))
            .collect(),
    )
}

/// The body of `POST /openai/download` (the SDK's `FoundryModelInfo.to_download_body()`).
#[derive(Debug, Deserialize)]
struct DownloadBody {
    model: DownloadModel,
}

#[derive(Debug, Deserialize)]
struct DownloadModel {
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "Uri", default)]
    uri: Option<String>,
}

/// The model a download body names: `Name`, else an `ingot://ALIAS` `Uri`.
async fn download_target(st: &AppState, body: &[u8]) -> Result<ModelDescriptor, ApiError> {
    let req: DownloadBody = parse_json(body)?;
    let name = req
        .model
        .name
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            req.model
                .uri
                .as_deref()
                .and_then(|u| u.strip_prefix("ingot://"))
                .map(str::to_string)
        })
        .ok_or_else(|| ApiError::invalid_param("model.Name", "model.Name is required"))?;
    let d = st.manager.find(&name).await?;
    if d.remote {
        return Err(remote_error(&d.id));
    }
    Ok(d)
}

fn remote_error(id: &str) -> ApiError {
    ApiError::InvalidRequest {
        message: format!("`{id}` is a remote model: there is nothing to download or load here"),
        param: Some("model".into()),
        code: Some("remote_model".into()),
    }
}

/// `POST /openai/download`: progress lines, then the result as one JSON line.
pub async fn download(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let d = download_target(&st, &body).await?;
    let events = st
        .downloads
        .updates(st.manager.provider().clone(), d.id.clone());
    let lines = futures_util::stream::unfold(Some(events), |events| async move {
        let mut events = events?;
        let ev = events.next().await?;
        let line = match ev.status.as_str() {
            "progress" => match ev.total_bytes {
                Some(total) if total > 0 => format!(
                    "Total {:.2}% Downloading {}\n",
                    (ev.downloaded_bytes as f64 * 100.0 / total as f64).min(100.0),
                    ev.file.as_deref().unwrap_or_default()
                ),
                _ => format!(
                    "Downloading {} ({} bytes)\n",
                    ev.file.as_deref().unwrap_or_default(),
                    ev.downloaded_bytes
                ),
            },
            "done" => {
                return Some((
                    Ok::<_, Infallible>(Bytes::from(
                        "Total 100.00% Downloading\n{\"success\":true,\"errorMessage\":null}\n",
                    )),
                    None,
                ))
            }
            _ => {
                let e =
                    ApiError::Internal(ev.message.unwrap_or_else(|| "the download failed".into()));
                return Some((
                    Ok(Bytes::from(format!(
                        "{}\n",
                        e.body_json_as(ErrorShape::Foundry)
                    ))),
                    None,
                ));
            }
        };
        Some((Ok(Bytes::from(line)), Some(events)))
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| ApiError::Internal("building stream response".into()).into_response()))
}

/// `GET /openai/load/{id}?ttl=SECONDS&ep=...` (`ep`, the execution provider, is ignored:
/// llama.cpp on the CPU is the only one).
pub async fn load(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ttl = match q.get("ttl").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(Duration::from_secs(t.parse::<u64>().map_err(|_| {
            ApiError::invalid_param("ttl", format!("ttl must be whole seconds, not `{t}`"))
        })?)),
    };
    let d = st.manager.find(&id).await?;
    if d.remote {
        return Err(remote_error(&d.id));
    }
    if !d.cached {
        // The SDK turns exactly this message into "has not been downloaded yet".
        return Err(ApiError::InvalidRequest {
            message: format!(
                "No OpenAIService provider found for modelName {id}: `{}` is not downloaded; download it first (POST /openai/download, or `foundry model download {}`)",
                d.id, d.id
            ),
            param: Some("model".into()),
            code: Some("model_not_downloaded".into()),
        });
    }
    let (lease, _) = st.manager.acquire(&d.id, ttl).await?;
    let entry = st.manager.loaded().into_iter().find(|e| e.id == lease.id());
    drop(lease);
    match entry {
        Some(e) => Ok(Json(e.status()).into_response()),
        None => Err(ApiError::Internal(format!(
            "model {id} was evicted right after loading"
        ))),
    }
}

/// `GET /openai/unload/{id}?force=BOOL`. Unloading never interrupts running requests (they
/// keep the model until they finish), so `force` changes nothing and is accepted as is.
pub async fn unload(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(f) = q.get("force") {
        if !matches!(f.to_ascii_lowercase().as_str(), "" | "true" | "false") {
            return Err(ApiError::invalid_param(
                "force",
                format!("force must be true or false, not `{f}`"),
            ));
        }
    }
    let d = st.manager.find(&id).await?;
    let unloaded = st.manager.unload(&d.id).await;
    Ok(Json(
        json!({ "id": foundry_id(&d.id), "unloaded": unloaded }),
    ))
}
