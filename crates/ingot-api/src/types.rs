//! OpenAI wire types. Requests ignore unknown fields (clients send many we do not support);
//! every type is both `Serialize` and `Deserialize` so the bench harness and tests can act
//! as clients with the same definitions.

use ingot_core::Timings;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    /// Signed so that a negative value is a clear 400 rather than a type error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    /// The newer name for `max_tokens`; wins when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<i64>,
    #[serde(flatten)]
    pub sampling: SamplingFields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Return the log-probabilities of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// Alternatives per position, 0..=20; needs `logprobs: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<i64>,
    /// More than one call in one answer (default true); only meaningful with `tools`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Fields ingot refuses rather than ignores (see [`crate::extras`]); `tools` and
    /// `tool_choice` are kept there as raw JSON and parsed by [`crate::tools`].
    #[serde(flatten)]
    pub extras: crate::extras::ChatExtras,
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: PromptInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    #[serde(flatten)]
    pub sampling: SamplingFields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// `true` is refused: the prompt is not echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    /// Log-probabilities of the output tokens with this many alternatives per position
    /// (0..=20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<i64>,
    /// Fields ingot refuses rather than ignores (see [`crate::extras`]).
    #[serde(flatten)]
    pub extras: crate::extras::CompletionExtras,
}

/// Sampling fields shared by both endpoints. Everything is optional; defaults are applied in
/// validation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplingFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Extension (llama.cpp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i32>,
    /// Extension (llama.cpp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f32>,
    /// Extension (llama.cpp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f32>,
    /// Extension (llama.cpp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_last_n: Option<i32>,
    /// Signed because some clients send negative seeds; the bits are reused as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopSequences>,
    /// Only 1 is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<i64>,
    /// -2..=2: subtracted once from the logit of every token already in the window
    /// (`repeat_last_n`), llama.cpp's penalties sampler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// -2..=2: subtracted per occurrence of a token in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Extension: keep generating past EOS until `max_tokens` (fixed-length benchmarks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_eos: Option<bool>,
    /// Extension: a GBNF grammar constraining the output. Conflicts with `response_format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grammar: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Kept as a string so an unknown role is a validation error naming the field, not an
    /// opaque enum error.
    pub role: String,
    /// `null` is allowed by OpenAI for assistant messages (tool calls); we treat it as empty.
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// An assistant turn's tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<crate::tools::WireToolCall>>,
    /// A `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// The participant's (or, on a `tool` message, the function's) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(MessageContent::Text(content.into())),
            tool_calls: None,
            tool_call_id: None,
            name: None,
        }
    }
}

/// A message's content: a string, or an array of parts of which only `text` is supported.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

// Hand-written instead of `#[serde(untagged)]` so that a wrong type says what was expected
// instead of "data did not match any variant".
impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(MessageContent::Text(s)),
            v @ serde_json::Value::Array(_) => serde_json::from_value(v)
                .map(MessageContent::Parts)
                .map_err(|e| D::Error::custom(format!("invalid content part: {e}"))),
            other => Err(D::Error::custom(format!(
                "invalid type: {}, expected a string or an array of content parts",
                json_kind(&other)
            ))),
        }
    }
}

/// `stop`: a string or a list of strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StopSequences {
    One(String),
    Many(Vec<String>),
}

impl StopSequences {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StopSequences::One(s) => vec![s],
            StopSequences::Many(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for StopSequences {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(StopSequences::One(s)),
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(D::Error::custom(format!(
                        "invalid stop entry: {}, expected a string",
                        json_kind(&other)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(StopSequences::Many),
            other => Err(D::Error::custom(format!(
                "invalid type: {}, expected a string or an array of strings",
                json_kind(&other)
            ))),
        }
    }
}

/// `prompt` of `/v1/completions`: a string, or a list holding exactly one string (batches of
/// prompts are not supported and rejected in validation).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PromptInput {
    One(String),
    Many(Vec<String>),
}

impl Default for PromptInput {
    fn default() -> Self {
        PromptInput::One(String::new())
    }
}

impl<'de> Deserialize<'de> for PromptInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match StopSequences::deserialize(d) {
            Ok(StopSequences::One(s)) => Ok(PromptInput::One(s)),
            Ok(StopSequences::Many(v)) => Ok(PromptInput::Many(v)),
            // Token-id prompts (arrays of integers) end up here too.
            Err(e) => Err(D::Error::custom(
                e.to_string().replace("stop entry", "prompt entry"),
            )),
        }
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

pub use crate::structured::{JsonSchemaFormat, ResponseFormat, SchemaText};

/// Token counts, as OpenAI reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl From<ingot_core::Usage> for Usage {
    fn from(u: ingot_core::Usage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.prompt_tokens.saturating_add(u.completion_tokens),
        }
    }
}

/// A non-streaming chat response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    /// Always `chat.completion`.
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChatChoice>,
    pub usage: Usage,
    /// ingot extension: the engine's timings for this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    pub role: String,
    pub content: Option<String>,
    /// The calls the model made (`finish_reason` is then `tool_calls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<crate::tools::WireToolCall>>,
}

/// One SSE chunk of a streaming chat response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    /// Only on the usage chunk (`choices: []`) when `stream_options.include_usage` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// ingot extension: on the final chunk (the one with `finish_reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<crate::tools::ToolCallDelta>>,
}

/// A non-streaming `/v1/completions` response (also the shape of its stream chunks, with
/// `usage` absent but for the usage chunk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub id: String,
    /// Always `text_completion`.
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// Streaming completions use the same shape as [`Completion`].
pub type CompletionChunk = Completion;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    pub index: u32,
    pub text: String,
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
}

/// An entry of `GET /v1/models`, with ingot's extra fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub id: String,
    /// Always `model`.
    pub object: String,
    pub created: u64,
    pub owned_by: String,
    /// The weights are on disk.
    #[serde(default)]
    pub cached: bool,
    /// The model is in memory.
    #[serde(default)]
    pub loaded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u32>,
    /// Size of the weights in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// A remote adapter: requests are proxied to another OpenAI-compatible server (nothing
    /// is cached or loaded here). Omitted for local models.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remote: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    pub data: Vec<Model>,
}

/// Body of `POST /v1/models/{id}/load`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadRequest {
    /// Idle seconds before the model is unloaded; 0 keeps it until unloaded or evicted.
    #[serde(default)]
    pub ttl: Option<u64>,
}

/// An entry of `GET /v1/ps` (also the response of a load).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedModelStatus {
    pub id: String,
    pub path: String,
    /// Bytes of weights in memory.
    pub size: u64,
    pub context_length: u32,
    pub n_parallel: usize,
    /// Unix seconds.
    pub loaded_at: u64,
    /// Unix seconds at which the model unloads if it stays idle; `None` when it never expires.
    pub expires_at: Option<u64>,
    pub ttl: u64,
    pub active_requests: usize,
    pub queued_requests: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsResponse {
    /// Always `list`.
    pub object: String,
    pub data: Vec<LoadedModelStatus>,
}

/// An SSE event of `POST /v1/models/{id}/download`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadEvent {
    /// `progress`, `done` or `error`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default)]
    pub downloaded_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored() {
        let r: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"user","content":"hi","name":"bob"}],"logit_bias":{},"user":"x","tools":[]}"#,
        )
        .unwrap();
        assert_eq!(r.model, "m");
        assert_eq!(r.messages.len(), 1);
    }

    #[test]
    fn content_parts_and_stop_forms() {
        let r: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"stop":"x"}"#,
        )
        .unwrap();
        assert!(
            matches!(r.messages[0].content, Some(MessageContent::Parts(ref p)) if p.len() == 2)
        );
        assert_eq!(r.sampling.stop, Some(StopSequences::One("x".into())));
        let r: ChatCompletionRequest =
            serde_json::from_str(r#"{"model":"m","messages":[],"stop":["x","y"]}"#).unwrap();
        assert_eq!(
            r.sampling.stop,
            Some(StopSequences::Many(vec!["x".into(), "y".into()]))
        );
    }

    #[test]
    fn ill_typed_content_is_a_clear_error() {
        let e = serde_json::from_str::<ChatCompletionRequest>(
            r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("expected a string or an array"),
            "{e}"
        );
    }

    #[test]
    fn null_optionals_are_accepted() {
        let r: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"assistant","content":null}],"stop":null,"max_tokens":null,"seed":null}"#,
        )
        .unwrap();
        assert_eq!(r.messages[0].content, None);
    }

    #[test]
    fn chunk_omits_absent_usage() {
        let c = ChatCompletionChunk {
            id: "x".into(),
            object: "chat.completion.chunk".into(),
            created: 0,
            model: "m".into(),
            choices: vec![],
            usage: None,
            timings: None,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("usage").is_none());
        assert!(v.get("timings").is_none());
    }
}
