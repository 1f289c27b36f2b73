//! Ollama's `POST /api/embed` (`input`: a string or strings; `truncate`, on by default, cuts
//! inputs to the context instead of refusing them) and its older `POST /api/embeddings`
//! (`prompt`: one string; answered as `{"embedding": [...]}`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ingot_api::{parse_json, ApiError};
use ingot_core::embed::{EmbedInput, EmbedRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use super::describe;
use super::types::{nanos, KeepAlive};
use crate::handlers::ApiBody;
use crate::AppState;

/// `input` of `/api/embed`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

/// Both routes' body: `/api/embed` sends `input`, `/api/embeddings` sends `prompt`.
#[derive(Debug, Deserialize)]
struct EmbedBody {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    truncate: Option<bool>,
    #[serde(default)]
    keep_alive: Option<Value>,
    #[serde(default)]
    dimensions: Option<i64>,
}

impl EmbedBody {
    fn model(&self) -> Result<&str, ApiError> {
        self.model
            .as_deref()
            .or(self.name.as_deref())
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| ApiError::invalid_param("model", "model is required"))
    }
}

/// `POST /api/embed`.
pub async fn embed(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let req: EmbedBody = parse_json(&body)?;
    let name = req.model()?.to_string();
    let keep = KeepAlive::from_field(req.keep_alive.as_ref())?;
    let dimensions = ingot_api::embeddings::parse_dimensions(req.dimensions)?;
    let inputs = match req.input.clone() {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_param("input", "input is required"));
        }
        Some(v) => match serde_json::from_value::<Input>(v) {
            Ok(Input::One(s)) => vec![EmbedInput::Text(s)],
            Ok(Input::Many(v)) => v.into_iter().map(EmbedInput::Text).collect(),
            Err(_) => {
                return Err(ApiError::invalid_param(
                    "input",
                    "input must be a string or an array of strings",
                ))
            }
        },
    };
    let (d, _) = describe(&st, &name, true).await?;
    let request = EmbedRequest {
        inputs,
        truncate: req.truncate.unwrap_or(true),
        ..Default::default()
    };
    let done =
        crate::embeddings::embed(&st, &d.id, request, dimensions, keep.map(KeepAlive::ttl)).await?;
    Ok(Json(json!({
        "model": name,
        "embeddings": done.embeddings.vectors,
        "total_duration": done.total.as_nanos() as u64,
        "load_duration": nanos(done.load_ms),
        "prompt_eval_count": done.embeddings.prompt_tokens,
    }))
    .into_response())
}

/// `POST /api/embeddings` (Ollama's older route): one `prompt`, one `embedding`.
pub async fn embeddings(
    State(st): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    let req: EmbedBody = parse_json(&body)?;
    let name = req.model()?.to_string();
    let keep = KeepAlive::from_field(req.keep_alive.as_ref())?;
    let prompt = req
        .prompt
        .clone()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid_param("prompt", "prompt is required"))?;
    let (d, _) = describe(&st, &name, true).await?;
    let request = EmbedRequest {
        inputs: vec![EmbedInput::Text(prompt)],
        truncate: true,
        ..Default::default()
    };
    let done =
        crate::embeddings::embed(&st, &d.id, request, None, keep.map(KeepAlive::ttl)).await?;
    let vector = done
        .embeddings
        .vectors
        .into_iter()
        .next()
        .unwrap_or_default();
    Ok(Json(json!({ "embedding": vector })).into_response())
}
