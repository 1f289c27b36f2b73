//! Embeddings (issue 15): the request an engine embeds, the vectors it returns, and the checks
//! every engine applies before any input reaches its backend.
//!
//! An embedding model (a BERT-family encoder converted with its pooling, see `ingot model
//! import`) embeds with its own pooling; a decoder model may embed too, with last-token
//! pooling, and the response says which pooling was used so a client never mistakes one for
//! the other.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// Most inputs one request may carry (OpenAI's own limit for `/v1/embeddings`).
pub const MAX_EMBED_INPUTS: usize = 2048;

/// One text to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedInput {
    /// Text, tokenized by the model (special tokens such as `[CLS]`/`[SEP]` or BOS added as the
    /// vocabulary says).
    Text(String),
    /// Token ids, used as given (OpenAI's token-array input).
    Tokens(Vec<i32>),
}

/// A request for embeddings of several inputs, computed together.
#[derive(Debug, Clone, Default)]
pub struct EmbedRequest {
    /// The inputs, in order; the vectors come back in the same order.
    pub inputs: Vec<EmbedInput>,
    /// Cut inputs longer than the model's context to fit (Ollama's `truncate`, on by default
    /// there) instead of refusing them. OpenAI refuses: its route leaves this off.
    pub truncate: bool,
    /// Cancelled when the client goes away: the engine stops between batches.
    pub cancel: crate::cancel::CancelToken,
}

/// How token vectors become one vector per input. Wire names are llama.cpp's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean of the token vectors (sentence-transformers' default).
    Mean,
    /// The first token's vector (`[CLS]`).
    Cls,
    /// The last token's vector: how a decoder embeds.
    Last,
}

impl Pooling {
    /// `mean`, `cls` or `last`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Last => "last",
        }
    }

    /// From llama.cpp's `LLAMA_POOLING_TYPE_*` number (the GGUF's `{arch}.pooling_type`):
    /// 1 mean, 2 cls, 3 last. `None` for none (0), rank (4) and anything else, which do not
    /// give one vector per input.
    pub fn from_llama(n: u64) -> Option<Pooling> {
        match n {
            1 => Some(Pooling::Mean),
            2 => Some(Pooling::Cls),
            3 => Some(Pooling::Last),
            _ => None,
        }
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a model's embeddings look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingInfo {
    /// Length of each vector.
    pub dimensions: u32,
    /// The pooling the model uses.
    pub pooling: Pooling,
    /// Whether vectors are scaled to unit length (L2).
    pub normalized: bool,
    /// Most tokens one input may have.
    pub max_tokens: u32,
    /// Whether this is an embedding model (an encoder with its own pooling) rather than a
    /// decoder that can also embed.
    pub embedding_model: bool,
}

/// The vectors of one [`EmbedRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// One vector per input, in the request's order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the inputs took, all together (after truncation).
    pub prompt_tokens: u64,
    /// The pooling used.
    pub pooling: Pooling,
    /// Whether the vectors are unit length.
    pub normalized: bool,
    /// Inputs that were cut to fit the context (with [`EmbedRequest::truncate`]).
    pub truncated: usize,
    /// Milliseconds spent in the model, all batches together.
    pub compute_ms: f64,
}

/// Checks a request's shape before anything is tokenized: at least one input, at most
/// [`MAX_EMBED_INPUTS`], no empty input (a model has nothing to pool), and token ids inside
/// the vocabulary of `n_vocab` tokens.
pub fn check_request(req: &EmbedRequest, n_vocab: u32) -> Result<(), EngineError> {
    if req.inputs.is_empty() {
        return Err(EngineError::InvalidRequest(
            "input must hold at least one text".into(),
        ));
    }
    if req.inputs.len() > MAX_EMBED_INPUTS {
        return Err(EngineError::InvalidRequest(format!(
            "input holds {} items; at most {MAX_EMBED_INPUTS} are allowed per request",
            req.inputs.len()
        )));
    }
    for (i, input) in req.inputs.iter().enumerate() {
        match input {
            EmbedInput::Text(t) if t.is_empty() => {
                return Err(EngineError::InvalidRequest(format!(
                    "input[{i}] is empty: there is nothing to embed"
                )))
            }
            EmbedInput::Tokens(t) if t.is_empty() => {
                return Err(EngineError::InvalidRequest(format!(
                    "input[{i}] is an empty token array: there is nothing to embed"
                )))
            }
            EmbedInput::Tokens(t) => {
                if let Some(bad) = t.iter().find(|&&id| id < 0 || id as u32 >= n_vocab) {
                    return Err(EngineError::InvalidRequest(format!(
                        "input[{i}] holds token id {bad}, outside the vocabulary (0..{n_vocab})"
                    )));
                }
            }
            EmbedInput::Text(_) => {}
        }
    }
    Ok(())
}

/// Fits one tokenized input into `max_tokens`: cut (keeping the start, and the final special
/// token when `keep_last` says the tokenizer appended one, e.g. BERT's `[SEP]`) when
/// `truncate`, else an error naming the input. Returns whether it was cut.
pub fn fit_tokens(
    index: usize,
    tokens: &mut Vec<i32>,
    max_tokens: u32,
    truncate: bool,
    keep_last: Option<i32>,
) -> Result<bool, EngineError> {
    let max = max_tokens as usize;
    if tokens.len() <= max {
        return Ok(false);
    }
    if !truncate {
        return Err(EngineError::InvalidRequest(format!(
            "input[{index}] is {} tokens; this model embeds at most {max_tokens} tokens per input",
            tokens.len()
        )));
    }
    tokens.truncate(max);
    if let (Some(last), Some(slot)) = (keep_last, tokens.last_mut()) {
        *slot = last;
    }
    Ok(true)
}

/// Scales `v` to unit length (L2). A zero vector stays zero.
pub fn normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

/// Cosine similarity of two vectors of the same length (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Length of the mock's embedding vectors.
#[cfg(feature = "mock")]
pub const MOCK_EMBED_DIMS: u32 = 8;

#[cfg(feature = "mock")]
/// Deterministic unit vectors of [`MOCK_EMBED_DIMS`] from each input's words (one word is one
/// token), with the real engine's request checks: the mock's embeddings, also used by the
/// server suites' test engine (cargo feature `mock`).
pub fn scripted_embeddings(
    req: &crate::embed::EmbedRequest,
    max_tokens: u32,
) -> Result<crate::embed::Embeddings, EngineError> {
    check_request(req, u32::MAX)?;
    let (mut vectors, mut prompt_tokens, mut truncated) = (Vec::new(), 0u64, 0usize);
    for (i, input) in req.inputs.iter().enumerate() {
        let mut ids: Vec<i32> = match input {
            EmbedInput::Tokens(t) => t.clone(),
            EmbedInput::Text(t) => t
                .split_whitespace()
                .map(|w| {
                    w.bytes()
                        .fold(7i32, |h, b| h.wrapping_mul(31).wrapping_add(i32::from(b)))
                })
                .collect(),
        };
        if ids.is_empty() {
            ids.push(0);
        }
        if fit_tokens(i, &mut ids, max_tokens, req.truncate, None)? {
            truncated += 1;
        }
        prompt_tokens += ids.len() as u64;
        let dims = MOCK_EMBED_DIMS as usize;
        let mut v = vec![0.0f32; dims];
        for (k, id) in ids.iter().enumerate() {
            v[(*id as u32 as usize + k) % dims] += 1.0;
        }
        normalize(&mut v);
        vectors.push(v);
    }
    Ok(Embeddings {
        vectors,
        prompt_tokens,
        pooling: Pooling::Last,
        normalized: true,
        truncated,
        compute_ms: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_without_inputs_or_with_empty_inputs_are_refused_naming_the_input() {
        let none = EmbedRequest::default();
        assert!(check_request(&none, 10)
            .unwrap_err()
            .to_string()
            .contains("at least one"));
        let empty = EmbedRequest {
            inputs: vec![
                EmbedInput::Text("a".into()),
                EmbedInput::Text(String::new()),
            ],
            truncate: false,
            ..Default::default()
        };
        assert!(check_request(&empty, 10)
            .unwrap_err()
            .to_string()
            .contains("input[1]"));
    }

    #[test]
    fn token_ids_outside_the_vocabulary_never_reach_the_engine() {
        for bad in [-1, 10, i32::MAX] {
            let req = EmbedRequest {
                inputs: vec![EmbedInput::Tokens(vec![1, bad])],
                truncate: false,
                ..Default::default()
            };
            let e = check_request(&req, 10).unwrap_err().to_string();
            assert!(
                e.contains(&bad.to_string()) && e.contains("vocabulary"),
                "{e}"
            );
        }
        let ok = EmbedRequest {
            inputs: vec![EmbedInput::Tokens(vec![0, 9])],
            truncate: false,
            ..Default::default()
        };
        check_request(&ok, 10).unwrap();
    }

    #[test]
    fn too_many_inputs_are_refused() {
        let req = EmbedRequest {
            inputs: vec![EmbedInput::Text("x".into()); MAX_EMBED_INPUTS + 1],
            truncate: false,
            ..Default::default()
        };
        assert!(check_request(&req, 10)
            .unwrap_err()
            .to_string()
            .contains("2049"));
    }

    #[test]
    fn long_inputs_are_refused_or_cut_keeping_the_final_separator() {
        let mut t = vec![101, 5, 6, 7, 102];
        let e = fit_tokens(3, &mut t.clone(), 4, false, Some(102)).unwrap_err();
        assert!(e.to_string().contains("input[3] is 5 tokens"), "{e}");
        assert!(fit_tokens(0, &mut t, 4, true, Some(102)).unwrap());
        assert_eq!(t, vec![101, 5, 6, 102]);
        let mut short = vec![1, 2];
        assert!(!fit_tokens(0, &mut short, 4, true, None).unwrap());
    }

    #[test]
    fn normalized_vectors_have_unit_length_and_cosine_ignores_scale() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        let mut zero = vec![0.0f32; 3];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }

    #[test]
    fn pooling_numbers_follow_llama_cpp() {
        assert_eq!(Pooling::from_llama(1), Some(Pooling::Mean));
        assert_eq!(Pooling::from_llama(2), Some(Pooling::Cls));
        assert_eq!(Pooling::from_llama(3), Some(Pooling::Last));
        assert_eq!(Pooling::from_llama(0), None);
        assert_eq!(Pooling::from_llama(4), None);
    }
}
