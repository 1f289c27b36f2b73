//! The one error type of the HTTP API and its mapping to (status, error JSON).
//!
//! Every failure a client can see goes through [`ApiError`], so the status codes, error types
//! and codes are decided here and nowhere else. The body comes in the shape of the API the
//! route belongs to ([`ErrorShape`]): OpenAI's `{"error": {"message", "type", "param",
//! "code"}}` for `/v1/*` and everything else, Ollama's `{"error": "message"}` for `/api/*`,
//! and Foundry Local's `{"success": false, "errorMessage": "message"}` for `/foundry/*` and
//! `/openai/*` (the shape of its download result, which its SDK reads).

use http::StatusCode;
use ingot_core::EngineError;
use serde::{Deserialize, Serialize};

/// An API failure. `Display` is the message sent to the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Malformed or semantically invalid request (400 `invalid_request_error`).
    #[error("{message}")]
    InvalidRequest {
        message: String,
        /// The offending field (`messages[0].role`), when known.
        param: Option<String>,
        /// A machine-readable code, when one applies.
        code: Option<String>,
    },
    /// The prompt plus the completion budget do not fit the model's context (400).
    #[error("{}", context_message(*prompt_tokens, *max_tokens, *n_ctx))]
    ContextLengthExceeded {
        /// `None` when the check happened before the prompt was tokenized.
        prompt_tokens: Option<u32>,
        max_tokens: u32,
        n_ctx: u32,
    },
    /// Unknown model (404 `model_not_found`); the message lists the models that exist.
    #[error("{}", model_not_found_message(model, available))]
    ModelNotFound {
        model: String,
        available: Vec<String>,
    },
    /// Unknown route or resource other than a model (404).
    #[error("{0}")]
    NotFound(String),
    /// Known route, wrong method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A request the server refuses to serve whoever sends it (403): a `Host` that is not
    /// this server's (DNS rebinding), or a cross-site `Origin` that `--cors-origin` does not
    /// allow. `code` says which (`forbidden_host`, `forbidden_origin`).
    #[error("{message}")]
    Forbidden { message: String, code: String },
    /// A body that is not `application/json` on a route that takes JSON (415
    /// `unsupported_media_type`): web pages can send `text/plain` bodies cross-site without
    /// asking, so a server that parsed them anyway could be driven by any page.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Missing or wrong API key (401 `invalid_api_key`).
    #[error("invalid API key: pass it as `Authorization: Bearer <key>`")]
    InvalidApiKey,
    /// Request body over the configured limit (413).
    #[error("request body too large: the limit is {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The request body did not arrive in time (408 `request_timeout`).
    #[error("{0}")]
    RequestTimeout(String),
    /// The server is shutting down and ended the request (503 `server_shutting_down`, with
    /// `Retry-After`); sent as the error event of a stream cut by a shutdown.
    #[error("the server is shutting down; the request was stopped. Retry once it is back")]
    ShuttingDown,
    /// Too many requests waiting (503 with `Retry-After`).
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after_secs: u64,
    },
    /// A route of another API that ingot does not implement (501 `not_implemented`); the
    /// message says what to use instead.
    #[error("{0}")]
    NotImplemented(String),
    /// Anything else (500). The message is still shown: this is a local server, and hiding
    /// the cause from its only user helps nobody.
    #[error("{0}")]
    Internal(String),
    /// The upstream server of a remote adapter failed. An HTTP error of the upstream keeps
    /// its status, `param` and `code` (its 404 stays a 404); an unreachable upstream, or one
    /// that answered something that is not an error status, is a 502 `upstream_error`.
    #[error("{message}")]
    Upstream {
        /// The upstream's status (502 when it sent none or a non-error one).
        status: u16,
        message: String,
        /// The upstream's `error.param`.
        param: Option<String>,
        /// The upstream's `error.code`.
        code: Option<String>,
    },
}

fn context_message(prompt_tokens: Option<u32>, max_tokens: u32, n_ctx: u32) -> String {
    match prompt_tokens {
        Some(p) => format!(
            "This model's maximum context length is {n_ctx} tokens. However, you requested {} tokens ({p} in the messages, {max_tokens} in the completion). Please reduce the length of the messages or completion.",
            p as u64 + max_tokens as u64
        ),
        None => format!(
            "This model's maximum context length is {n_ctx} tokens. However, you requested {max_tokens} tokens for the completion alone. Please reduce max_tokens."
        ),
    }
}

fn model_not_found_message(model: &str, available: &[String]) -> String {
    if available.is_empty() {
        format!("The model `{model}` does not exist; no models are available.")
    } else {
        format!(
            "The model `{model}` does not exist. Available models: {}.",
            available.join(", ")
        )
    }
}

/// The OpenAI error body: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// Which API's error body a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorShape {
    /// `{"error": {"message", "type", "param", "code"}}`.
    #[default]
    OpenAi,
    /// Foundry Local's management routes: `{"success": false, "errorMessage": "..."}`.
    Foundry,
    /// Ollama's `/api/*`: `{"error": "..."}`.
    Ollama,
}

impl ErrorShape {
    /// The shape of the API a request path belongs to.
    pub fn for_path(path: &str) -> Self {
        if path == "/api" || path.starts_with("/api/") {
            ErrorShape::Ollama
        } else if path.starts_with("/foundry/") || path.starts_with("/openai/") {
            ErrorShape::Foundry
        } else {
            ErrorShape::OpenAi
        }
    }
}

impl ApiError {
    /// A 400 with just a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param: None,
            code: None,
        }
    }

    /// A 400 naming the offending field.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
            code: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest { .. } | ApiError::ContextLengthExceeded { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::ModelNotFound { .. } | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded { .. } | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Upstream { status, .. } => StatusCode::from_u16(*status)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .unwrap_or(StatusCode::BAD_GATEWAY),
        }
    }

    /// OpenAI's `error.type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            ApiError::Upstream { .. } if self.status().is_client_error() => "invalid_request_error",
            ApiError::Upstream { .. } => "server_error",
            ApiError::InvalidRequest { .. }
            | ApiError::ContextLengthExceeded { .. }
            | ApiError::ModelNotFound { .. }
            | ApiError::NotFound(_)
            | ApiError::MethodNotAllowed(_)
            | ApiError::InvalidApiKey
            | ApiError::Forbidden { .. }
            | ApiError::UnsupportedMediaType(_)
            | ApiError::PayloadTooLarge { .. }
            | ApiError::RequestTimeout(_) => "invalid_request_error",
            ApiError::Overloaded { .. }
            | ApiError::ShuttingDown
            | ApiError::Internal(_)
            | ApiError::NotImplemented(_) => "server_error",
        }
    }

    /// OpenAI's `error.code`.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { code, .. } => code.as_deref(),
            ApiError::ContextLengthExceeded { .. } => Some("context_length_exceeded"),
            ApiError::ModelNotFound { .. } => Some("model_not_found"),
            ApiError::NotFound(_) => Some("not_found"),
            ApiError::MethodNotAllowed(_) => Some("method_not_allowed"),
            ApiError::InvalidApiKey => Some("invalid_api_key"),
            ApiError::Forbidden { code, .. } => Some(code),
            ApiError::UnsupportedMediaType(_) => Some("unsupported_media_type"),
            ApiError::PayloadTooLarge { .. } => Some("request_too_large"),
            ApiError::RequestTimeout(_) => Some("request_timeout"),
            ApiError::ShuttingDown => Some("server_shutting_down"),
            ApiError::Overloaded { .. } => Some("overloaded"),
            ApiError::Internal(_) => None,
            ApiError::NotImplemented(_) => Some("not_implemented"),
            ApiError::Upstream { code: Some(c), .. } => Some(c),
            ApiError::Upstream { .. } => {
                (self.status() == StatusCode::BAD_GATEWAY).then_some("upstream_error")
            }
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            ApiError::InvalidRequest { param, .. } => param.as_deref(),
            // The budget alone overflows: `max_tokens` is the field to fix, not the prompt.
            ApiError::ContextLengthExceeded {
                prompt_tokens: None,
                ..
            } => Some("max_tokens"),
            ApiError::ContextLengthExceeded { .. } => Some("messages"),
            ApiError::ModelNotFound { .. } => Some("model"),
            ApiError::Upstream { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    /// Seconds for the `Retry-After` header, for errors worth retrying.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Overloaded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            // An overloaded upstream is worth retrying too.
            ApiError::Upstream {
                status: 429 | 503, ..
            } => Some(1),
            ApiError::ShuttingDown => Some(1),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorObject {
                message: self.to_string(),
                kind: self.error_type().to_string(),
                param: self.param().map(str::to_string),
                code: self.code().map(str::to_string),
            },
        }
    }

    /// The body as JSON text (also used for the `data: {"error": ...}` SSE event).
    pub fn body_json(&self) -> String {
        // Serializing plain strings cannot fail.
        serde_json::to_string(&self.body()).unwrap_or_else(|_| "{}".to_string())
    }

    /// The body in `shape` as JSON text (also the error line of an Ollama NDJSON stream and
    /// the final line of a Foundry download).
    pub fn body_json_as(&self, shape: ErrorShape) -> String {
        let v = match shape {
            ErrorShape::OpenAi => return self.body_json(),
            ErrorShape::Ollama => serde_json::json!({ "error": self.ollama_message() }),
            ErrorShape::Foundry => {
                serde_json::json!({ "success": false, "errorMessage": self.to_string() })
            }
        };
        v.to_string()
    }

    /// Ollama words a missing model its own way, and clients look for it ("not found, try
    /// pulling it first" is what makes some UIs offer a pull).
    fn ollama_message(&self) -> String {
        match self {
            ApiError::ModelNotFound { model, available } => {
                let mut m = format!("model \"{model}\" not found, try pulling it first");
                if !available.is_empty() {
                    m.push_str(&format!(" (available: {})", available.join(", ")));
                }
                m
            }
            other => other.to_string(),
        }
    }
}

/// The request field an engine validation message is about: the engine's messages start
/// with the field's name (`repeat_last_n (...) is larger ...`, `invalid grammar: ...`).
fn engine_param(msg: &str) -> Option<&'static str> {
    const FIELDS: [&str; 7] = [
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "repeat_penalty",
        "repeat_last_n",
        "max_tokens",
    ];
    if msg.starts_with("invalid grammar") || msg.starts_with("the grammar ") {
        return Some("grammar");
    }
    if msg.starts_with("at most 16 stop strings") {
        return Some("stop");
    }
    FIELDS.into_iter().find(|f| {
        msg.strip_prefix(f)
            .is_some_and(|rest| rest.starts_with([' ', ':']))
    })
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::ContextOverflow {
                prompt_tokens,
                max_tokens,
                n_ctx,
            } => ApiError::ContextLengthExceeded {
                prompt_tokens: Some(prompt_tokens),
                max_tokens,
                n_ctx,
            },
            EngineError::PromptTooLong { .. } => ApiError::InvalidRequest {
                message: e.to_string(),
                param: Some("messages".into()),
                code: Some("context_length_exceeded".into()),
            },
            EngineError::NoChatTemplate { .. } => ApiError::InvalidRequest {
                message: e.to_string(),
                param: Some("messages".into()),
                code: Some("no_chat_template".into()),
            },
            // Templates raise on message sequences they refuse (e.g. roles not alternating):
            // that is the request's fault.
            EngineError::Template(_) => ApiError::InvalidRequest {
                message: e.to_string(),
                param: Some("messages".into()),
                code: Some("chat_template_error".into()),
            },
            EngineError::InvalidJsonSchema { ref param, .. } => ApiError::InvalidRequest {
                param: Some(param.clone()),
                message: e.to_string(),
                code: Some("invalid_json_schema".into()),
            },
            EngineError::InvalidRequest(msg) => ApiError::InvalidRequest {
                param: engine_param(&msg).map(String::from),
                message: msg,
                code: None,
            },
            EngineError::Overloaded { .. } => ApiError::Overloaded {
                message: e.to_string(),
                retry_after_secs: 1,
            },
            // The model went away under the request (unload, eviction): retrying reloads it.
            EngineError::Unloaded => ApiError::Overloaded {
                message: "the model was unloaded while the request was running; retry".into(),
                retry_after_secs: 1,
            },
            EngineError::Unsupported { .. } => ApiError::InvalidRequest {
                message: e.to_string(),
                param: Some("model".into()),
                code: Some("unsupported_capability".into()),
            },
            EngineError::Load { .. }
            | EngineError::InsufficientMemory { .. }
            | EngineError::InvalidModel { .. }
            | EngineError::Backend(_) => ApiError::Internal(e.to_string()),
        }
    }
}

#[cfg(feature = "axum")]
impl ApiError {
    /// The HTTP response with the body in `shape`.
    pub fn response_as(&self, shape: ErrorShape) -> axum_core::response::Response {
        let mut resp = axum_core::response::Response::new(axum_core::body::Body::from(
            self.body_json_as(shape),
        ));
        *resp.status_mut() = self.status();
        let headers = resp.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after() {
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        if matches!(self, ApiError::InvalidApiKey) {
            headers.insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// An OpenAI-shaped response that also carries the error itself as a response extension, so
/// a layer that knows the route's API can re-render it with [`ApiError::response_as`]
/// (errors are raised deep in extractors and middleware that do not know the route).
#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for ApiError {
    fn into_response(self) -> axum_core::response::Response {
        let mut resp = self.response_as(ErrorShape::OpenAi);
        resp.extensions_mut().insert(self);
        resp
    }
}

#[cfg(test)]
mod tests;
