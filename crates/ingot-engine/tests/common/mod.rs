//! Shared helpers for the real-model tests: locating (and on first use fetching) the
//! SmolLM2-135M-Instruct Q4_1 GGUF, and collecting event streams.
#![allow(dead_code)]

use ingot_testkit as model_file;

use ingot_engine::*;
pub use model_file::*;
use std::sync::OnceLock;

/// Small, fast defaults for tests: 2048-token context, prefix cache off, one thread.
///
/// One thread because tests run concurrently (and CI machines are shared): llama.cpp's
/// threads spin at barriers, so more compute threads than free cores slows everything down by
/// an order of magnitude, while a 135M model is quick enough on one core.
pub fn opts() -> LoadOptions {
    LoadOptions {
        context_length: Some(2048),
        threads: Some(1),
        prefix_cache: false,
        ..Default::default()
    }
}

pub fn load(opts: &LoadOptions) -> std::sync::Arc<dyn LoadedModel> {
    LlamaEngine::new()
        .load(&model_path(), opts)
        .expect("load the test model")
}

/// The shared single-slot model most tests use (loading once keeps the suite fast).
pub fn shared_model() -> std::sync::Arc<dyn LoadedModel> {
    static MODEL: OnceLock<std::sync::Arc<dyn LoadedModel>> = OnceLock::new();
    MODEL.get_or_init(|| load(&opts())).clone()
}

#[derive(Debug, Clone)]
pub struct Collected {
    pub text: String,
    pub pieces: Vec<String>,
    pub ids: Vec<i32>,
    pub finish: Option<FinishReason>,
    pub usage: Usage,
    pub timings: Timings,
    pub error: Option<EngineError>,
    /// One id per generated token, from the logprob entries (when the request asked for
    /// them): a Token event that releases several tokens' text carries only the last `id`.
    pub logprob_ids: Vec<i32>,
    /// The logprob entries themselves, in order.
    pub logprobs: Vec<TokenLogprob>,
}

pub fn collect(mut stream: EventStream) -> Collected {
    let mut c = Collected {
        text: String::new(),
        pieces: Vec::new(),
        ids: Vec::new(),
        finish: None,
        usage: Usage::default(),
        timings: Timings::default(),
        error: None,
        logprob_ids: Vec::new(),
        logprobs: Vec::new(),
    };
    while let Some(ev) = stream.blocking_next() {
        match ev {
            Event::Token {
                text, id, logprobs, ..
            } => {
                c.text.push_str(&text);
                c.pieces.push(text);
                c.ids.push(id);
                c.logprob_ids.extend(logprobs.iter().map(|e| e.id));
                c.logprobs.extend(logprobs);
            }
            Event::Done {
                finish_reason,
                usage,
                timings,
            } => {
                c.finish = Some(finish_reason);
                c.usage = usage;
                c.timings = timings;
                break;
            }
            Event::Error(e) => {
                c.error = Some(e);
                break;
            }
        }
    }
    c
}

pub fn chat(q: &str, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Chat(vec![ChatMessage::new("user", q)]),
        sampling: SamplingParams {
            max_tokens: Some(max_tokens),
            ..Default::default()
        },
    }
}

/// A chat request with a plain system prompt (see `answers_the_capital_of_france`).
pub fn helpful(q: &str, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Chat(vec![
            ChatMessage::new("system", "You are a helpful assistant."),
            ChatMessage::new("user", q),
        ]),
        sampling: SamplingParams {
            max_tokens: Some(max_tokens),
            ..Default::default()
        },
    }
}

pub fn raw(p: &str, max_tokens: Option<u32>) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Raw(p.into()),
        sampling: SamplingParams {
            max_tokens,
            ..Default::default()
        },
    }
}
