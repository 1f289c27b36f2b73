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
                "system" | "user" | "assistant" => m.role.clone(),
                // OpenAI's newer name for system prompts; chat templates only know `system`.
                "developer" => "system".to_string(),
                "tool" | "function" => {
                    return Err(ApiError::invalid_param(
                        format!("messages[{i}].role"),
                        format!("messages[{i}].role: `{}` messages are not supported (no tool calling)", m.role),
                    ))
                }
                other => {
                    return Err(ApiError::invalid_param(
                        format!("messages[{i}].role"),
                        format!(
                            "messages[{i}].role: unknown role `{other}`; expected one of system, user, assistant, developer"
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
            messages.push(EngineMessage { role, content });
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
        if let Some(c) = crate::structured::format_constraint(
            self.response_format.as_ref(),
            "response_format",
            sampling.grammar.is_some(),
        )? {
            c.apply(&mut sampling);
        }

        let stream = self.stream.unwrap_or(false);
        let include_usage = self
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage);
        Ok(Validated {
            model,
            request: GenerateRequest {
                prompt: Prompt::Chat(messages),
                sampling,
            },
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
mod tests {
    use super::*;
    use crate::types::{ChatMessage, ContentPart, ResponseFormat, StopSequences};

    fn chat(messages: Vec<ChatMessage>) -> ChatCompletionRequest {
        ChatCompletionRequest {
            model: "m".into(),
            messages,
            ..Default::default()
        }
    }

    fn code_of(e: &ApiError) -> u16 {
        e.status().as_u16()
    }

    #[test]
    fn minimal_chat_is_valid_with_defaults() {
        let v = chat(vec![ChatMessage::new("user", "hi")])
            .validate()
            .unwrap();
        assert_eq!(v.model, "m");
        assert!(!v.stream && !v.include_usage && v.random_seed);
        assert_eq!(v.request.sampling.temperature, DEFAULT_TEMPERATURE);
        assert_eq!(v.request.sampling.max_tokens, None);
        match v.request.prompt {
            Prompt::Chat(m) => assert_eq!(m, vec![EngineMessage::new("user", "hi")]),
            _ => panic!("expected chat prompt"),
        }
    }

    #[test]
    fn empty_messages_rejected() {
        let e = chat(vec![]).validate().unwrap_err();
        assert_eq!(code_of(&e), 400);
        assert_eq!(e.param(), Some("messages"));
    }

    #[test]
    fn roles() {
        let e = chat(vec![ChatMessage::new("wizard", "hi")])
            .validate()
            .unwrap_err();
        assert_eq!(e.param(), Some("messages[0].role"));
        let e = chat(vec![ChatMessage::new("tool", "hi")])
            .validate()
            .unwrap_err();
        assert_eq!(code_of(&e), 400);
        let v = chat(vec![
            ChatMessage::new("developer", "be nice"),
            ChatMessage::new("user", "hi"),
        ])
        .validate()
        .unwrap();
        let Prompt::Chat(m) = v.request.prompt else {
            panic!()
        };
        assert_eq!(m[0].role, "system");
    }

    #[test]
    fn content_parts_join_and_reject_images() {
        let mut r = chat(vec![ChatMessage {
            role: "user".into(),
            content: Some(MessageContent::Parts(vec![
                ContentPart {
                    kind: "text".into(),
                    text: Some("a".into()),
                },
                ContentPart {
                    kind: "text".into(),
                    text: Some("b".into()),
                },
            ])),
        }]);
        let Prompt::Chat(m) = r.validate().unwrap().request.prompt else {
            panic!()
        };
        assert_eq!(m[0].content, "a\nb");
        r.messages[0].content = Some(MessageContent::Parts(vec![ContentPart {
            kind: "image_url".into(),
            text: None,
        }]));
        assert_eq!(code_of(&r.validate().unwrap_err()), 400);
        r.messages[0].content = None;
        assert_eq!(code_of(&r.validate().unwrap_err()), 400);
    }

    #[test]
    fn max_tokens_rules() {
        let mut r = chat(vec![ChatMessage::new("user", "hi")]);
        r.max_tokens = Some(-1);
        assert_eq!(r.validate().unwrap_err().param(), Some("max_tokens"));
        r.max_tokens = Some(0);
        assert!(r.validate().is_err());
        r.max_tokens = Some(1 << 40);
        assert!(r.validate().is_err());
        r.max_tokens = Some(10);
        r.max_completion_tokens = Some(20);
        assert_eq!(r.validate().unwrap().request.sampling.max_tokens, Some(20));
        r.max_completion_tokens = Some(-5);
        assert_eq!(
            r.validate().unwrap_err().param(),
            Some("max_completion_tokens")
        );
    }

    #[test]
    fn n_is_between_one_and_the_openai_limit() {
        let mut r = chat(vec![ChatMessage::new("user", "hi")]);
        assert_eq!(r.validate().unwrap().n, 1);
        r.sampling.n = Some(3);
        assert_eq!(r.validate().unwrap().n, 3);
        for bad in [0, -1, MAX_N + 1] {
            r.sampling.n = Some(bad);
            let e = r.validate().unwrap_err();
            assert_eq!((code_of(&e), e.param()), (400, Some("n")), "{bad}");
        }
    }

    #[test]
    fn sampling_ranges() {
        let mut r = chat(vec![ChatMessage::new("user", "hi")]);
        r.sampling.temperature = Some(-0.1);
        assert!(r.validate().is_err());
        r.sampling.temperature = Some(f32::INFINITY);
        assert!(r.validate().is_err());
        r.sampling.temperature = Some(0.0);
        r.sampling.top_p = Some(1.5);
        assert!(r.validate().is_err());
        r.sampling.top_p = Some(0.0);
        assert!(r.validate().unwrap().request.sampling.top_p > 0.0);
        r.sampling.repeat_penalty = Some(0.0);
        assert_eq!(r.validate().unwrap_err().param(), Some("repeat_penalty"));
        r.sampling.repeat_penalty = None;
        r.sampling.top_p = Some(0.5);
        r.sampling.seed = Some(-1);
        let v = r.validate().unwrap();
        assert_eq!(v.request.sampling.seed, u64::MAX);
        assert!(!v.random_seed);
    }

    #[test]
    fn stop_forms_and_empty_filtered() {
        let mut r = chat(vec![ChatMessage::new("user", "hi")]);
        r.sampling.stop = Some(StopSequences::Many(vec!["".into(), "\n".into()]));
        assert_eq!(
            r.validate().unwrap().request.sampling.stop,
            vec!["\n".to_string()]
        );
        r.sampling.stop = Some(StopSequences::Many(vec!["x".into(); 17]));
        assert!(r.validate().is_err());
        r.sampling.stop = Some(StopSequences::One("x".repeat(1025)));
        assert!(r.validate().is_err());
    }

    #[test]
    fn response_format() {
        let mut r = chat(vec![ChatMessage::new("user", "hi")]);
        r.response_format = Some(ResponseFormat::new("json_object"));
        assert!(r.validate().unwrap().request.sampling.grammar.is_some());
        r.response_format = Some(ResponseFormat::new("json_schema"));
        assert!(r.validate().is_err());
        let with_schema = |schema: serde_json::Value| {
            Some(ResponseFormat {
                kind: "json_schema".into(),
                json_schema: Some(crate::JsonSchemaFormat {
                    name: Some("notes".into()),
                    schema: Some(crate::SchemaText::from_value(&schema)),
                    strict: Some(true),
                    ..Default::default()
                }),
            })
        };
        r.response_format = with_schema(serde_json::json!({
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1}},
            "required": ["n"]
        }));
        let js = r.validate().unwrap().request.sampling.json_schema.unwrap();
        assert!(js.schema.contains(r#""minimum":1"#), "{js:?}");
        assert_eq!(js.param, "response_format.json_schema.schema");
        // A keyword the converter would drop is a 400 that names it.
        r.response_format = with_schema(serde_json::json!({"type": "integer", "multipleOf": 5}));
        let e = r.validate().unwrap_err();
        assert_eq!(e.param(), Some("response_format.json_schema.schema"));
        assert_eq!(e.code(), Some("invalid_json_schema"));
        assert!(e.to_string().contains("`multipleOf`"), "{e}");
        r.sampling.grammar = Some("root ::= \"x\"".into());
        r.response_format = with_schema(serde_json::json!({"type": "integer"}));
        assert_eq!(r.validate().unwrap_err().param(), Some("response_format"));
        r.sampling.grammar = None;
        r.response_format = Some(ResponseFormat::new("yaml"));
        assert!(r.validate().is_err());
    }

    #[test]
    fn completion_prompts() {
        let mut r = CompletionRequest {
            model: "m".into(),
            prompt: PromptInput::One("x".into()),
            ..Default::default()
        };
        assert!(matches!(r.validate().unwrap().request.prompt, Prompt::Raw(ref s) if s == "x"));
        r.prompt = PromptInput::Many(vec!["y".into()]);
        assert!(matches!(r.validate().unwrap().request.prompt, Prompt::Raw(ref s) if s == "y"));
        r.prompt = PromptInput::Many(vec!["y".into(), "z".into()]);
        assert!(r.validate().is_err());
    }

    #[test]
    fn parse_errors_are_400s_with_params() {
        let e = parse_json::<ChatCompletionRequest>(b"{not json").unwrap_err();
        assert_eq!(e.code(), Some("invalid_json"));
        let e = parse_json::<ChatCompletionRequest>(br#"{"messages":[]}"#).unwrap_err();
        assert_eq!(code_of(&e), 400);
        assert!(e.to_string().contains("model"), "{e}");
        let e = parse_json::<ChatCompletionRequest>(
            br#"{"model":"m","messages":[],"max_tokens":"ten"}"#,
        )
        .unwrap_err();
        assert_eq!(code_of(&e), 400);
        assert!(e.to_string().contains("max_tokens"), "{e}");
        let e = parse_json::<ChatCompletionRequest>(
            br#"{"model":"m","messages":[{"role":"user","content":1}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("messages[0].content"), "{e}");
        let e = parse_json::<ChatCompletionRequest>(b"[1,2]").unwrap_err();
        assert_eq!(code_of(&e), 400);
    }

    #[test]
    fn issue8_trailing_data_is_malformed() {
        let one = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
        assert!(parse_json::<ChatCompletionRequest>(one).is_ok());
        let with_ws = [&one[..], b" \n\t "].concat();
        assert!(parse_json::<ChatCompletionRequest>(&with_ws).is_ok());
        for tail in [&one[..], &b"x"[..], &b"{"[..], &b"null"[..], &b"\0"[..]] {
            let body = [&one[..], tail].concat();
            let e = parse_json::<ChatCompletionRequest>(&body).unwrap_err();
            assert_eq!(e.code(), Some("invalid_json"), "{e}");
            assert!(e.to_string().contains("trailing characters"), "{e}");
        }
    }

    #[test]
    fn issue8_errors_in_sampling_fields_name_the_field() {
        for (field, value) in [
            ("temperature", r#""hot""#),
            ("top_p", "[]"),
            ("top_k", "9223372036854775808"),
            ("seed", r#""x""#),
            ("stop", "5"),
            ("n", r#""1""#),
            ("grammar", "1"),
        ] {
            let body = format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"{field}":{value}}}"#
            );
            let e = parse_json::<ChatCompletionRequest>(body.as_bytes()).unwrap_err();
            assert_eq!(e.param(), Some(field), "{e}");
            assert!(e.to_string().contains(field), "{e}");
            let body = format!(r#"{{"model":"m","prompt":"p","{field}":{value}}}"#);
            let e = parse_json::<CompletionRequest>(body.as_bytes()).unwrap_err();
            assert_eq!(e.param(), Some(field), "{e}");
        }
        // A missing field still has no param.
        let e = parse_json::<ChatCompletionRequest>(br#"{"messages":[]}"#).unwrap_err();
        assert_eq!(e.param(), None);
    }

    /// A cheap stand-in for fuzzing: arbitrary byte soup and JSON-ish mutations never panic.
    #[test]
    fn parse_and_validate_never_panic() {
        let seeds: &[&[u8]] = &[
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#,
            br#"{"model":"m","prompt":["a"],"stop":["x"],"temperature":1e309}"#,
        ];
        for seed in seeds {
            for cut in 0..seed.len() {
                for flip in [b'"', b'{', b'[', b'-', b'9', b'\xff'] {
                    let mut b = seed.to_vec();
                    b[cut] = flip;
                    if let Ok(r) = parse_json::<ChatCompletionRequest>(&b) {
                        let _ = r.validate();
                    }
                    if let Ok(r) = parse_json::<CompletionRequest>(&b[..cut]) {
                        let _ = r.validate();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod logprob_and_extra_tests {
    use super::*;
    use crate::types::ChatMessage;

    #[test]
    fn logprobs_fields() {
        let mut r = ChatCompletionRequest {
            model: "m".into(),
            messages: vec![ChatMessage::new("user", "hi")],
            ..Default::default()
        };
        assert_eq!(r.validate().unwrap().request.sampling.logprobs, None);
        r.logprobs = Some(true);
        assert_eq!(r.validate().unwrap().request.sampling.logprobs, Some(0));
        r.top_logprobs = Some(5);
        assert_eq!(r.validate().unwrap().request.sampling.logprobs, Some(5));
        r.top_logprobs = Some(21);
        assert_eq!(r.validate().unwrap_err().param(), Some("top_logprobs"));
        r.logprobs = None;
        r.top_logprobs = Some(2);
        assert_eq!(r.validate().unwrap_err().param(), Some("top_logprobs"));

        let mut c = CompletionRequest {
            model: "m".into(),
            prompt: PromptInput::One("x".into()),
            logprobs: Some(3),
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap().request.sampling.logprobs, Some(3));
        c.logprobs = Some(-1);
        assert_eq!(c.validate().unwrap_err().param(), Some("logprobs"));
        c.logprobs = None;
        c.echo = Some(true);
        assert_eq!(c.validate().unwrap_err().param(), Some("echo"));
    }

    #[test]
    fn refused_fields_surface_through_parse_and_validate() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}"#;
        let e = parse_json::<ChatCompletionRequest>(body)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.param(), Some("tools"));
        let body = br#"{"model":"m","prompt":"x","suffix":"y"}"#;
        let e = parse_json::<CompletionRequest>(body)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.param(), Some("suffix"));
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"presence_penalty":0.5,"frequency_penalty":-0.5,"prediction":{"type":"content","content":"x"}}"#;
        let v = parse_json::<ChatCompletionRequest>(body)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(v.request.sampling.presence_penalty, 0.5);
        assert_eq!(v.request.sampling.frequency_penalty, -0.5);
    }
}
