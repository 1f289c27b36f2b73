//! Request parsing and validation: pure functions from wire requests to engine requests, so
//! they can be unit-tested and fuzzed without a server.

use ingot_core::{ChatMessage as EngineMessage, GenerateRequest, Prompt, SamplingParams};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::types::{
    ChatCompletionRequest, CompletionRequest, MessageContent, PromptInput, SamplingFields,
};

/// Sampling defaults for fields the client leaves out. OpenAI defaults to temperature 1 with
/// no truncation; we follow llama.cpp's server instead (0.8 with top-k/top-p/min-p), which
/// suits small local models far better and is what users of local servers expect.
pub const DEFAULT_TEMPERATURE: f32 = 0.8;
pub const DEFAULT_TOP_K: i32 = 40;
pub const DEFAULT_TOP_P: f32 = 0.95;
pub const DEFAULT_MIN_P: f32 = 0.05;
/// More stop strings than this is almost certainly a client bug, and each one costs a scan
/// of the output per token.
pub const MAX_STOP_SEQUENCES: usize = 16;
/// Longest accepted stop string (the engine's limit too).
pub const MAX_STOP_BYTES: usize = 1024;

/// A request that passed validation, ready for the engine.
#[derive(Debug, Clone)]
pub struct Validated {
    pub model: String,
    pub request: GenerateRequest,
    pub stream: bool,
    /// `stream_options.include_usage`: send a usage chunk before `[DONE]`.
    pub include_usage: bool,
    /// The client gave no seed: the server should pick a random one, so that two identical
    /// requests do not return identical samples (`request.sampling.seed` is 0 then).
    pub random_seed: bool,
    /// Choices to generate (`n`, 1 to [`MAX_N`]); the server also bounds it by its slots.
    pub n: u32,
}

/// Largest `n` accepted (OpenAI's own limit); a server with fewer slots refuses less.
pub const MAX_N: i64 = 128;

pub type ValidatedChat = Validated;
pub type ValidatedCompletion = Validated;

/// Parses a JSON request body. Syntax errors and ill-typed or missing fields become 400s whose
/// `param` names the offending field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let malformed = |inner: serde_json::Error| ApiError::InvalidRequest {
        message: format!("malformed JSON in request body: {inner}"),
        param: None,
        code: Some("invalid_json".into()),
    };
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        Ok(v) => {
            // serde stops after the first value: `{...}{...}` or `{...} junk` must not pass.
            de.end().map_err(malformed)?;
            Ok(v)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                Err(malformed(inner))
            } else {
                // `.` is serde_path_to_error's name for the root (e.g. a missing field).
                // Errors inside the flattened sampling fields come out at the root too.
                let param = (path != "." && !path.is_empty())
                    .then_some(path)
                    .or_else(|| flattened_param(body));
                let message = match &param {
                    Some(p) => format!("invalid request: {p}: {inner}"),
                    None => format!("invalid request: {inner}"),
                };
                Err(ApiError::InvalidRequest {
                    message,
                    param,
                    code: None,
                })
            }
        }
    }
}

/// The top-level field of `body` that the sampling fields reject. They are
/// `#[serde(flatten)]`ed into the requests, and serde reports errors inside flattened fields
/// without their path; checking each field on its own finds it (only on the error path).
fn flattened_param(body: &[u8]) -> Option<String> {
    let serde_json::Value::Object(map) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    map.into_iter().find_map(|(k, v)| {
        let one: serde_json::Map<String, serde_json::Value> =
            [(k.clone(), v)].into_iter().collect();
        serde_json::from_value::<SamplingFields>(serde_json::Value::Object(one))
            .is_err()
            .then_some(k)
    })
}

impl ChatCompletionRequest {
    /// Checks the request and turns it into an engine request.
    pub fn validate(&self) -> Result<ValidatedChat, ApiError> {
        let model = validate_model(&self.model)?;
        if self.messages.is_empty() {
            return Err(ApiError::invalid_param(
                "messages",
                "messages must not be empty",
            ));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let role = match m.role.as_str() {
                "system" | "user" | "assistant" | "tool" => m.role.clone(),
                // OpenAI's newer name for system prompts; chat templates only know `system`.
                "developer" => "system".to_string(),
                "function" => {
                    return Err(ApiError::invalid_param(
                        format!("messages[{i}].role"),
                        format!("messages[{i}].role: the deprecated `function` role is not supported; send the result as a `tool` message with `tool_call_id`"),
                    ))
                }
                other => {
                    return Err(ApiError::invalid_param(
                        format!("messages[{i}].role"),
                        format!(
                            "messages[{i}].role: unknown role `{other}`; expected one of system, user, assistant, developer, tool"
                        ),
                    ))
                }
            };
            let content = match &m.content {
                Some(MessageContent::Text(s)) => s.clone(),
                Some(MessageContent::Parts(parts)) => {
                    let mut texts = Vec::with_capacity(parts.len());
                    for (j, p) in parts.iter().enumerate() {
                        match (p.kind.as_str(), &p.text) {
                            ("text", Some(t)) => texts.push(t.as_str()),
                            ("text", None) => {
                                return Err(ApiError::invalid_param(
                                    format!("messages[{i}].content[{j}].text"),
                                    format!("messages[{i}].content[{j}]: a text part needs `text`"),
                                ))
                            }
                            (other, _) => {
                                return Err(ApiError::invalid_param(
                                    format!("messages[{i}].content[{j}].type"),
                                    format!(
                                        "messages[{i}].content[{j}]: content parts of type `{other}` are not supported; only `text`"
                                    ),
                                ))
                            }
                        }
                    }
                    texts.join("\n")
                }
                // Assistant turns with tool calls carry null content; for anyone else it is
                // a mistake worth reporting.
                None if role == "assistant" => String::new(),
                None => {
                    return Err(ApiError::invalid_param(
                        format!("messages[{i}].content"),
                        format!("messages[{i}].content is required"),
                    ))
                }
            };
            let mut message = EngineMessage::new(role, content);
            match (message.role.as_str(), &m.tool_calls) {
                ("assistant", Some(calls)) => {
                    message.tool_calls =
                        crate::tools::history_calls(calls, &format!("messages[{i}].tool_calls"))?;
                }
                (_, Some(c)) if !c.is_empty() => {
                    return Err(ApiError::invalid_param(
                        format!("messages[{i}].tool_calls"),
                        format!(
                            "messages[{i}].tool_calls: only assistant messages carry tool calls"
                        ),
                    ))
                }
                _ => {}
            }
            if message.role == "tool" {
                match &m.tool_call_id {
                    Some(id) if !id.is_empty() => message.tool_call_id = Some(id.clone()),
                    _ => {
                        return Err(ApiError::invalid_param(
                            format!("messages[{i}].tool_call_id"),
                            format!("messages[{i}].tool_call_id is required on a `tool` message"),
                        ))
                    }
                }
                message.name = m.name.clone();
            }
            messages.push(message);
        }

        // `max_completion_tokens` is the newer name and wins when both are present.
        let (max_name, max_value) = match self.max_completion_tokens {
            Some(v) => ("max_completion_tokens", Some(v)),
            None => ("max_tokens", self.max_tokens),
        };
        let max_tokens = validate_max_tokens(max_name, max_value)?;
        let (sampling, random_seed) = validate_sampling(&self.sampling, max_tokens)?;
        let mut sampling = sampling;

        self.extras.check()?;
        sampling.logprobs = match (self.logprobs, self.top_logprobs) {
            (Some(true), top) => Some(validate_top_logprobs("top_logprobs", top.unwrap_or(0))?),
            (_, Some(_)) => {
                return Err(ApiError::invalid_param(
                    "top_logprobs",
                    "top_logprobs needs `logprobs: true`",
                ))
            }
            _ => None,
        };
        let constrained_format = crate::structured::format_constraint(
            self.response_format.as_ref(),
            "response_format",
            sampling.grammar.is_some(),
        )?;
        let tools = crate::tools::parse_tools(
            self.extras.tools.as_ref(),
            "tools",
            crate::tools::ToolShape::Nested,
        )?;
        let choice = crate::tools::parse_tool_choice(self.extras.tool_choice.as_ref(), &tools)?;
        if choice.is_forced() && (constrained_format.is_some() || sampling.grammar.is_some()) {
            return Err(ApiError::invalid_param(
                "tool_choice",
                "tool_choice forces a tool call, whose arguments are constrained by the function's schema; it cannot be combined with response_format json_object/json_schema or grammar",
            ));
        }
        crate::tools::check_forced_schemas(
            &tools,
            &choice,
            "tools",
            crate::tools::ToolShape::Nested,
        )?;
        if let Some(c) = constrained_format {
            c.apply(&mut sampling);
        }
        let prompt = crate::tools::prompt(
            messages,
            tools,
            choice,
            self.parallel_tool_calls.unwrap_or(true),
        );

        let stream = self.stream.unwrap_or(false);
        let include_usage = self
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage);
        Ok(Validated {
            model,
            request: GenerateRequest { prompt, sampling },
            stream,
            include_usage,
            random_seed,
            n: choices(&self.sampling),
        })
    }
}

impl CompletionRequest {
    /// Checks the request and turns it into an engine request (a raw prompt).
    pub fn validate(&self) -> Result<ValidatedCompletion, ApiError> {
        let model = validate_model(&self.model)?;
        let prompt = match &self.prompt {
            PromptInput::One(s) => s.clone(),
            PromptInput::Many(v) if v.len() == 1 => v[0].clone(),
            PromptInput::Many(v) => {
                return Err(ApiError::invalid_param(
                    "prompt",
                    format!("prompt: batches of prompts are not supported (got {}); send exactly one prompt", v.len()),
                ))
            }
        };
        let max_tokens = validate_max_tokens("max_tokens", self.max_tokens)?;
        let (mut sampling, random_seed) = validate_sampling(&self.sampling, max_tokens)?;
        self.extras.check()?;
        if self.echo == Some(true) {
            return Err(ApiError::InvalidRequest {
                message: "echo: echoing the prompt is not supported".into(),
                param: Some("echo".into()),
                code: Some("unsupported_parameter".into()),
            });
        }
        sampling.logprobs = self
            .logprobs
            .map(|k| validate_top_logprobs("logprobs", k))
            .transpose()?;
        Ok(Validated {
            model,
            request: GenerateRequest {
                prompt: Prompt::Raw(prompt),
                sampling,
            },
            stream: self.stream.unwrap_or(false),
            include_usage: self
                .stream_options
                .as_ref()
                .is_some_and(|o| o.include_usage),
            random_seed,
            n: choices(&self.sampling),
        })
    }
}

fn validate_model(model: &str) -> Result<String, ApiError> {
    if model.trim().is_empty() {
        return Err(ApiError::invalid_param("model", "model must not be empty"));
    }
    Ok(model.to_string())
}

fn validate_max_tokens(name: &str, v: Option<i64>) -> Result<Option<u32>, ApiError> {
    match v {
        None => Ok(None),
        Some(n) if n < 1 => Err(ApiError::invalid_param(
            name,
            format!("{name} must be at least 1, got {n}"),
        )),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| ApiError::invalid_param(name, format!("{name} is too large: {n}"))),
    }
}

fn validate_top_logprobs(name: &str, k: i64) -> Result<u32, ApiError> {
    let max = ingot_core::MAX_TOP_LOGPROBS;
    u32::try_from(k).ok().filter(|k| *k <= max).ok_or_else(|| {
        ApiError::invalid_param(name, format!("{name} must be between 0 and {max}, got {k}"))
    })
}

fn check_range(name: &str, v: Option<f32>, lo: f32, hi: f32) -> Result<Option<f32>, ApiError> {
    match v {
        None => Ok(None),
        // NaN fails both comparisons, and an out-of-range f64 arrives as infinity.
        Some(x) if x.is_finite() && x >= lo && x <= hi => Ok(Some(x)),
        Some(x) => Err(ApiError::invalid_param(
            name,
            format!("{name} must be between {lo} and {hi}, got {x}"),
        )),
    }
}

/// `n`, once [`validate_sampling`] has checked it.
fn choices(f: &SamplingFields) -> u32 {
    f.n.map_or(1, |n| n.clamp(1, MAX_N) as u32)
}

fn validate_sampling(
    f: &SamplingFields,
    max_tokens: Option<u32>,
) -> Result<(SamplingParams, bool), ApiError> {
    if let Some(n) = f.n {
        if !(1..=MAX_N).contains(&n) {
            return Err(ApiError::invalid_param(
                "n",
                format!("n must be between 1 and {MAX_N}, got {n}"),
            ));
        }
    }
    let temperature =
        check_range("temperature", f.temperature, 0.0, 2.0)?.unwrap_or(DEFAULT_TEMPERATURE);
    // OpenAI accepts top_p = 0 and means "only the most likely token"; llama.cpp wants a
    // positive value, and the smallest one keeps exactly that single token.
    let top_p = check_range("top_p", f.top_p, 0.0, 1.0)?
        .map(|p| p.max(f32::MIN_POSITIVE))
        .unwrap_or(DEFAULT_TOP_P);
    let min_p = check_range("min_p", f.min_p, 0.0, 1.0)?.unwrap_or(DEFAULT_MIN_P);
    let repeat_penalty = check_range("repeat_penalty", f.repeat_penalty, 0.0, 10.0)?.unwrap_or(1.0);
    if repeat_penalty <= 0.0 {
        return Err(ApiError::invalid_param(
            "repeat_penalty",
            "repeat_penalty must be > 0 (1 disables it)",
        ));
    }
    let top_k = match f.top_k {
        None => DEFAULT_TOP_K,
        Some(k) if k >= 0 => k,
        Some(k) => {
            return Err(ApiError::invalid_param(
                "top_k",
                format!("top_k must be >= 0, got {k}"),
            ))
        }
    };
    let repeat_last_n = match f.repeat_last_n {
        None => SamplingParams::default().repeat_last_n,
        // -1 means "the whole context" in llama.cpp.
        Some(n) if n >= -1 => n,
        Some(n) => {
            return Err(ApiError::invalid_param(
                "repeat_last_n",
                format!("repeat_last_n must be >= -1, got {n}"),
            ))
        }
    };
    let stop: Vec<String> = f
        .stop
        .clone()
        .map(|s| s.into_vec())
        .unwrap_or_default()
        .into_iter()
        // An empty stop string would match everywhere; clients that send one mean "none".
        .filter(|s| !s.is_empty())
        .collect();
    if stop.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid_param(
            "stop",
            format!(
                "at most {MAX_STOP_SEQUENCES} stop sequences are supported, got {}",
                stop.len()
            ),
        ));
    }
    if let Some(i) = stop.iter().position(|s| s.len() > MAX_STOP_BYTES) {
        return Err(ApiError::invalid_param(
            "stop",
            format!("stop[{i}] is longer than {MAX_STOP_BYTES} bytes"),
        ));
    }
    if let Some(g) = &f.grammar {
        if g.trim().is_empty() {
            return Err(ApiError::invalid_param(
                "grammar",
                "grammar must not be empty",
            ));
        }
    }
    let frequency_penalty =
        check_range("frequency_penalty", f.frequency_penalty, -2.0, 2.0)?.unwrap_or(0.0);
    let presence_penalty =
        check_range("presence_penalty", f.presence_penalty, -2.0, 2.0)?.unwrap_or(0.0);
    let sampling = SamplingParams {
        frequency_penalty,
        presence_penalty,
        temperature,
        top_k,
        top_p,
        min_p,
        repeat_penalty,
        repeat_last_n,
        // Negative seeds keep their bits: any u64 is a fine seed.
        seed: f.seed.map(|s| s as u64).unwrap_or(0),
        max_tokens,
        stop,
        ignore_eos: f.ignore_eos.unwrap_or(false),
        grammar: f.grammar.clone(),
        json_schema: None,
        logprobs: None,
    };
    Ok((sampling, f.seed.is_none()))
}

#[cfg(test)]
mod tests;
