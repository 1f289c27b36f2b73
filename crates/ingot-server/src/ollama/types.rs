//! Ollama's request bodies and their translation into ingot's validated requests, so the
//! sampling limits and checks of the OpenAI routes apply unchanged.

use std::time::Duration;

use ingot_api::structured::Constraint;
use ingot_api::{
    ApiError, ChatCompletionRequest, ChatMessage, CompletionRequest, PromptInput, SamplingFields,
    StopSequences, Validated,
};
use serde::Deserialize;
use serde_json::Value;

/// Largest `num_ctx` worth accepting: beyond it a client is confused, not ambitious.
const MAX_NUM_CTX: i64 = 1 << 24;

/// `options` (Ollama's Modelfile parameters). Unknown options are ignored, as Ollama does;
/// the ones that change the answer map onto ingot's sampling fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Options {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i32>,
    pub min_p: Option<f32>,
    pub seed: Option<i64>,
    /// -1: no limit, -2: fill the context (both: ingot's default, the sequence's context).
    pub num_predict: Option<i64>,
    pub stop: Option<StopSequences>,
    pub repeat_penalty: Option<f32>,
    pub repeat_last_n: Option<i32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    /// The context is fixed per loaded model (`ingot serve --ctx-size`); `num_ctx` is
    /// checked and otherwise has no effect.
    pub num_ctx: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub images: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_calls: Option<Vec<Value>>,
    /// A `tool` message: the function whose result it is.
    #[serde(default)]
    pub tool_name: Option<String>,
}

/// `POST /api/chat`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub format: Option<Value>,
    #[serde(default)]
    pub options: Option<Options>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub keep_alive: Option<Value>,
    #[serde(default)]
    pub think: Option<Value>,
}

/// `POST /api/generate`.
#[derive(Debug, Clone, Deserialize)]
pub struct GenerateRequest {
    pub model: String,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub context: Option<Vec<i64>>,
    #[serde(default)]
    pub raw: Option<bool>,
    #[serde(default)]
    pub images: Option<Vec<Value>>,
    #[serde(default)]
    pub format: Option<Value>,
    #[serde(default)]
    pub options: Option<Options>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub keep_alive: Option<Value>,
    #[serde(default)]
    pub think: Option<Value>,
}

/// Bodies naming one model: `/api/show`, `/api/pull`, `/api/delete`, `/api/embed`. Older
/// clients send `name` instead of `model`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
}

impl ModelRequest {
    pub fn model(&self) -> Result<&str, ApiError> {
        self.model
            .as_deref()
            .or(self.name.as_deref())
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| ApiError::invalid_param("model", "model is required"))
    }
}

/// How long a model stays loaded after a request (`keep_alive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    /// A negative value: never unload when idle.
    Forever,
    /// Unload after this much idle time; zero unloads as soon as the request is done.
    For(Duration),
}

impl KeepAlive {
    /// Ollama accepts a number of seconds or a Go duration (`"5m"`, `"1h30m"`, `"-1"`).
    pub fn parse(v: &Value) -> Result<KeepAlive, ApiError> {
        let bad = || {
            ApiError::invalid_param(
                "keep_alive",
                format!(
                    "keep_alive must be seconds or a duration such as \"5m\" or \"-1\", not {v}"
                ),
            )
        };
        let secs = match v {
            Value::Number(n) => n.as_f64().ok_or_else(bad)?,
            Value::String(s) => parse_go_duration(s.trim()).ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        if !secs.is_finite() {
            return Err(bad());
        }
        if secs < 0.0 {
            return Ok(KeepAlive::Forever);
        }
        // About 31 years: anything longer is "forever" in practice.
        if secs > 1e9 {
            return Ok(KeepAlive::Forever);
        }
        Ok(KeepAlive::For(Duration::from_secs_f64(secs)))
    }

    /// A request's `keep_alive` field: absent or `null` means the server's default.
    pub fn from_field(v: Option<&Value>) -> Result<Option<KeepAlive>, ApiError> {
        v.filter(|v| !v.is_null()).map(KeepAlive::parse).transpose()
    }

    /// The registry's TTL: 0 there means "never"; a zero keep-alive becomes the shortest
    /// TTL, so the model goes at the next idle check.
    pub fn ttl(self) -> Duration {
        match self {
            KeepAlive::Forever => Duration::ZERO,
            KeepAlive::For(d) if d.is_zero() => Duration::from_millis(1),
            KeepAlive::For(d) => d,
        }
    }
}

/// Seconds in a Go duration string (`300ms`, `1.5h`, `1h30m`, `-1m`) or a plain number of
/// seconds.
fn parse_go_duration(s: &str) -> Option<f64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    Some(if neg { -total } else { total })
}

/// `format`: absent, `""`, `"json"` or a JSON schema, as what constrains the output. A
/// schema is checked and converted like OpenAI's `json_schema` response format; a schema
/// that cannot be enforced is a 400 naming the keyword.
fn format_constraint(format: Option<&Value>) -> Result<Option<Constraint>, ApiError> {
    match format {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => {
            Ok(Some(Constraint::Grammar(ingot_api::JSON_GBNF.to_string())))
        }
        Some(schema @ Value::Object(_)) => {
            let text = serde_json::to_string(schema).unwrap_or_else(|_| "{}".into());
            ingot_api::structured::schema_text_constraint(&text, "format")
                .map(|js| Some(Constraint::JsonSchema(js)))
        }
        Some(other) => Err(ApiError::invalid_param(
            "format",
            format!("format must be \"json\" or a JSON schema, not {other}"),
        )),
    }
}

/// Refuses what ingot's engine cannot do instead of silently dropping it.
fn refuse_unsupported(think: Option<&Value>, images: bool) -> Result<(), ApiError> {
    let unsupported = |param: &str, message: &str| ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param.into()),
        code: Some("unsupported_capability".into()),
    };
    if images {
        return Err(unsupported(
            "images",
            "images: this model has no vision capability (ingot serves text models only)",
        ));
    }
    match think {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(()),
        Some(_) => Err(unsupported(
            "think",
            "think: this model does not support thinking",
        )),
    }
}

fn sampling(options: Option<&Options>) -> Result<(SamplingFields, Option<i64>), ApiError> {
    let Some(o) = options else {
        return Ok((SamplingFields::default(), None));
    };
    if let Some(n) = o.num_ctx {
        if !(1..=MAX_NUM_CTX).contains(&n) {
            return Err(ApiError::invalid_param(
                "options.num_ctx",
                format!("options.num_ctx must be between 1 and {MAX_NUM_CTX}, not {n}"),
            ));
        }
    }
    let max_tokens = match o.num_predict {
        None => None,
        // -1 (no limit) and -2 (fill the context) are the server's default limit.
        Some(n) if n < 0 => None,
        Some(n) => Some(n),
    };
    Ok((
        SamplingFields {
            temperature: o.temperature,
            top_p: o.top_p,
            top_k: o.top_k,
            min_p: o.min_p,
            repeat_penalty: o.repeat_penalty,
            repeat_last_n: o.repeat_last_n,
            seed: o.seed,
            stop: o.stop.clone(),
            presence_penalty: o.presence_penalty,
            frequency_penalty: o.frequency_penalty,
            ..SamplingFields::default()
        },
        max_tokens,
    ))
}

/// Names the option a validation error is about (`temperature` → `options.temperature`).
fn in_options(e: ApiError) -> ApiError {
    match e {
        ApiError::InvalidRequest {
            message,
            param: Some(p),
            code,
        } if !matches!(
            p.as_str(),
            "model" | "messages" | "prompt" | "response_format" | "grammar" | "tool_choice"
        ) && !p.starts_with("messages")
            && !p.starts_with("tools")
            && !p.starts_with("format") =>
        {
            // Ollama's name for the limit.
            let (p, message) = if p == "max_tokens" {
                (
                    "num_predict".into(),
                    message.replace("max_tokens", "num_predict"),
                )
            } else {
                (p, message)
            };
            ApiError::InvalidRequest {
                message: format!("options.{message}"),
                param: Some(format!("options.{p}")),
                code,
            }
        }
        other => other,
    }
}

/// Ollama's messages as OpenAI's. Ollama's calls carry no ids (`{"function": {"name",
/// "arguments": {..}}}`) and its `tool` messages none either: each call gets an id, and each
/// `tool` message answers the earliest call not yet answered, which is the order Ollama's
/// clients send results in.
fn chat_messages(messages: &[Message]) -> Result<Vec<ChatMessage>, ApiError> {
    let mut out = Vec::with_capacity(messages.len());
    let mut unanswered = std::collections::VecDeque::new();
    for (i, m) in messages.iter().enumerate() {
        let mut msg = ChatMessage::new(m.role.clone(), m.content.clone().unwrap_or_default());
        if let Some(calls) = m.tool_calls.as_ref().filter(|c| !c.is_empty()) {
            let mut wire = Vec::with_capacity(calls.len());
            for (j, c) in calls.iter().enumerate() {
                let f = c.get("function").unwrap_or(c);
                let (Some(name), Some(args)) =
                    (f.get("name").and_then(Value::as_str), f.get("arguments"))
                else {
                    return Err(ApiError::invalid_param(
                        format!("messages[{i}].tool_calls[{j}].function"),
                        format!(
                            "messages[{i}].tool_calls[{j}].function needs `name` and `arguments`"
                        ),
                    ));
                };
                let id = format!("call_{i}_{j}");
                unanswered.push_back(id.clone());
                wire.push(ingot_api::tools::WireToolCall {
                    id,
                    kind: "function".into(),
                    function: ingot_api::tools::WireFunctionCall {
                        name: name.into(),
                        arguments: match args {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        },
                    },
                });
            }
            msg.tool_calls = Some(wire);
        }
        if m.role == "tool" {
            msg.tool_call_id = Some(
                unanswered
                    .pop_front()
                    .unwrap_or_else(|| format!("call_{i}")),
            );
            msg.name = m.tool_name.clone();
        }
        out.push(msg);
    }
    Ok(out)
}

impl ChatRequest {
    /// Ingot's validated chat request (`model` is the name as sent; the registry resolves it).
    pub fn validate(&self) -> Result<Validated, ApiError> {
        let images = self
            .messages
            .iter()
            .any(|m| m.images.as_ref().is_some_and(|i| !i.is_empty()));
        refuse_unsupported(self.think.as_ref(), images)?;
        let messages = chat_messages(&self.messages)?;
        let (sampling, max_tokens) = sampling(self.options.as_ref())?;
        let constraint = format_constraint(self.format.as_ref())?;
        let req = ChatCompletionRequest {
            model: self.model.clone(),
            messages,
            max_tokens,
            sampling,
            stream: Some(self.stream.unwrap_or(true)),
            extras: ingot_api::extras::ChatExtras {
                // Ollama's tools have OpenAI's shape; Ollama has no tool_choice (auto).
                tools: self.tools.clone().map(Value::Array),
                ..Default::default()
            },
            ..ChatCompletionRequest::default()
        };
        let mut v = req.validate().map_err(in_options)?;
        if let Some(c) = constraint {
            c.apply(&mut v.request.sampling);
        }
        Ok(v)
    }
}

impl GenerateRequest {
    /// Ingot's validated request: the prompt (with `system`) through the chat template, or
    /// raw with `raw: true` and for models without chat (`chat` false).
    pub fn validate(&self, chat: bool) -> Result<Validated, ApiError> {
        refuse_unsupported(
            self.think.as_ref(),
            self.images.as_ref().is_some_and(|i| !i.is_empty()),
        )?;
        if self.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::InvalidRequest {
                message: "suffix: fill-in-the-middle is not supported by this model".into(),
                param: Some("suffix".into()),
                code: Some("unsupported_capability".into()),
            });
        }
        if self.template.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::InvalidRequest {
                message: "template: Go prompt templates are not supported; send the formatted prompt with \"raw\": true".into(),
                param: Some("template".into()),
                code: Some("unsupported_capability".into()),
            });
        }
        if self.context.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(ApiError::invalid_param(
                "context",
                "context (deprecated) is not supported; use /api/chat with the message history",
            ));
        }
        let (sampling, max_tokens) = sampling(self.options.as_ref())?;
        let constraint = format_constraint(self.format.as_ref())?;
        let prompt = self.prompt.clone().unwrap_or_default();
        let stream = Some(self.stream.unwrap_or(true));
        let mut v = if self.raw.unwrap_or(false) || !chat {
            raw(self, prompt, max_tokens, sampling, stream)?
        } else {
            let mut messages = Vec::new();
            if let Some(system) = self.system.as_deref().filter(|s| !s.is_empty()) {
                messages.push(ChatMessage::new("system", system));
            }
            messages.push(ChatMessage::new("user", prompt));
            ChatCompletionRequest {
                model: self.model.clone(),
                messages,
                max_tokens,
                sampling,
                stream,
                ..ChatCompletionRequest::default()
            }
            .validate()
            .map_err(in_options)?
        };
        if let Some(c) = constraint {
            c.apply(&mut v.request.sampling);
        }
        Ok(v)
    }
}

fn raw(
    r: &GenerateRequest,
    prompt: String,
    max_tokens: Option<i64>,
    sampling: SamplingFields,
    stream: Option<bool>,
) -> Result<Validated, ApiError> {
    // A system prompt has nowhere to go in a raw prompt: put it first, as Ollama's default
    // template for base models does.
    let prompt = match r.system.as_deref().filter(|s| !s.is_empty()) {
        Some(system) => format!("{system}\n\n{prompt}"),
        None => prompt,
    };
    CompletionRequest {
        model: r.model.clone(),
        prompt: PromptInput::One(prompt),
        max_tokens,
        sampling,
        stream,
        ..CompletionRequest::default()
    }
    .validate()
    .map_err(in_options)
}

/// Milliseconds as Ollama's nanosecond durations (0 for anything not positive and finite).
pub(super) fn nanos(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1e6) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_reads_seconds_and_go_durations() {
        let p = |v: Value| KeepAlive::parse(&v).unwrap();
        assert_eq!(
            p(serde_json::json!(300)),
            KeepAlive::For(Duration::from_secs(300))
        );
        assert_eq!(
            p(serde_json::json!("5m")),
            KeepAlive::For(Duration::from_secs(300))
        );
        assert_eq!(
            p(serde_json::json!("1h30m")),
            KeepAlive::For(Duration::from_secs(5400))
        );
        assert_eq!(
            p(serde_json::json!("300ms")),
            KeepAlive::For(Duration::from_millis(300))
        );
        assert_eq!(p(serde_json::json!("-1")), KeepAlive::Forever);
        assert_eq!(p(serde_json::json!(-1)), KeepAlive::Forever);
        assert_eq!(p(serde_json::json!("0")).ttl(), Duration::from_millis(1));
        assert_eq!(KeepAlive::Forever.ttl(), Duration::ZERO);
        for bad in [
            serde_json::json!("soon"),
            serde_json::json!("5x"),
            serde_json::json!(""),
            serde_json::json!(true),
            serde_json::json!([1]),
        ] {
            assert!(KeepAlive::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_map_onto_sampling_and_stay_within_limits() {
        let r: ChatRequest = serde_json::from_value(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "options": {"temperature": 0, "top_k": 5, "seed": 7, "num_predict": 12, "stop": ["x"], "num_ctx": 2048, "mirostat": 1},
            "format": "json", "stream": false
        }))
        .unwrap();
        let v = r.validate().unwrap();
        assert!(!v.stream && !v.random_seed);
        assert_eq!(v.request.sampling.max_tokens, Some(12));
        assert_eq!(v.request.sampling.seed, 7);
        assert!(v.request.sampling.grammar.is_some());
        let bad = |body: Value| {
            serde_json::from_value::<ChatRequest>(body)
                .unwrap()
                .validate()
                .unwrap_err()
        };
        let e = bad(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "options": {"temperature": -1}}),
        );
        assert!(e.to_string().starts_with("options."), "{e}");
        let e = bad(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "options": {"num_ctx": 0}}),
        );
        assert_eq!(e.param(), Some("options.num_ctx"));
        // A JSON schema becomes a constraint, like OpenAI's `json_schema` response format.
        let schema: ChatRequest = serde_json::from_value(serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "format": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})).unwrap();
        let js = schema
            .validate()
            .unwrap()
            .request
            .sampling
            .json_schema
            .unwrap();
        assert!(js.schema.contains("city"), "{js:?}");
        assert_eq!(js.param, "format");
        // A schema the converter cannot express is refused, naming the keyword under `format`.
        let e = bad(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "format": {"not": {"type": "string"}}}),
        );
        assert!(e.param().is_some_and(|p| p.starts_with("format")), "{e}");
        let e = bad(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}),
        );
        assert_eq!(e.param(), Some("tools[0].function"), "{e}");
        // An empty tools list is what the Python client always sends.
        let ok: ChatRequest = serde_json::from_value(serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": []})).unwrap();
        assert!(ok.validate().unwrap().stream, "Ollama streams by default");
    }
}
