//! `POST /v1/embeddings` (issue 15): OpenAI's request and response, and the checks that run
//! before the engine sees an input.
//!
//! `input` takes every shape OpenAI's API takes: a string, an array of strings, an array of
//! token ids, or an array of token-id arrays. `encoding_format` is `float` or `base64`
//! (little-endian f32, as the openai client decodes it). `dimensions` is accepted when it
//! equals the model's own size: none of the models ingot serves was trained to be truncated
//! (Matryoshka), and cutting such a vector silently would give wrong similarities.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

use ingot_core::embed::{EmbedInput, EmbedRequest, EmbeddingInfo, Embeddings, Pooling};

use crate::ApiError;

/// The request body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<i64>,
    /// Accepted and ignored, as by OpenAI's API for abuse monitoring.
    #[serde(default)]
    pub user: Option<String>,
}

/// `input`: one text, several, one token array, or several.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<i64>),
    ManyTokens(Vec<Vec<i64>>),
}

impl<'de> Deserialize<'de> for EmbeddingInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
            Tokens(Vec<i64>),
            ManyTokens(Vec<Vec<i64>>),
        }
        match Raw::deserialize(d) {
            Ok(Raw::One(s)) => Ok(EmbeddingInput::One(s)),
            Ok(Raw::Many(v)) => Ok(EmbeddingInput::Many(v)),
            Ok(Raw::Tokens(v)) => Ok(EmbeddingInput::Tokens(v)),
            Ok(Raw::ManyTokens(v)) => Ok(EmbeddingInput::ManyTokens(v)),
            Err(_) => Err(serde::de::Error::custom(
                "expected a string, an array of strings, an array of token ids, or an array of token-id arrays",
            )),
        }
    }
}

/// How the vectors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingFormat {
    Float,
    Base64,
}

/// A checked request, ready for the engine.
#[derive(Debug, Clone)]
pub struct ValidEmbedding {
    pub model: String,
    pub request: EmbedRequest,
    pub format: EncodingFormat,
    pub dimensions: Option<u32>,
}

fn invalid(param: &str, message: String) -> ApiError {
    ApiError::InvalidRequest {
        message,
        param: Some(param.into()),
        code: None,
    }
}

fn token_ids(i: usize, ids: Vec<i64>) -> Result<EmbedInput, ApiError> {
    ids.into_iter()
        .map(|id| {
            i32::try_from(id).map_err(|_| {
                invalid(
                    "input",
                    format!("input[{i}] holds token id {id}, which is not a valid token id"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(EmbedInput::Tokens)
}

impl EmbeddingRequest {
    /// Checks the fields that need no model: the model name, `input`'s shape and size,
    /// `encoding_format`, `dimensions`' range. Token ids and lengths are checked against the
    /// model by the engine ([`ingot_core::embed::check_request`]).
    pub fn validate(self) -> Result<ValidEmbedding, ApiError> {
        if self.model.trim().is_empty() {
            return Err(invalid("model", "model must not be empty".into()));
        }
        let format = match self.encoding_format.as_deref() {
            None | Some("float") => EncodingFormat::Float,
            Some("base64") => EncodingFormat::Base64,
            Some(other) => {
                return Err(invalid(
                    "encoding_format",
                    format!("encoding_format must be `float` or `base64`, got `{other}`"),
                ))
            }
        };
        let dimensions = parse_dimensions(self.dimensions)?;
        let inputs = match self.input {
            EmbeddingInput::One(s) => vec![EmbedInput::Text(s)],
            EmbeddingInput::Many(v) => v.into_iter().map(EmbedInput::Text).collect(),
            EmbeddingInput::Tokens(ids) => vec![token_ids(0, ids)?],
            EmbeddingInput::ManyTokens(v) => v
                .into_iter()
                .enumerate()
                .map(|(i, ids)| token_ids(i, ids))
                .collect::<Result<_, _>>()?,
        };
        let request = EmbedRequest {
            inputs,
            truncate: false,
            ..Default::default()
        };
        // Shape checks that need no vocabulary (the engine repeats them with its own).
        ingot_core::embed::check_request(&request, u32::MAX)
            .map_err(|e| invalid("input", e.to_string().replace("invalid request: ", "")))?;
        Ok(ValidEmbedding {
            model: self.model,
            request,
            format,
            dimensions,
        })
    }
}

/// The `dimensions` field's range (OpenAI's and Ollama's routes): 1 to 65536 when given.
pub fn parse_dimensions(d: Option<i64>) -> Result<Option<u32>, ApiError> {
    match d {
        None => Ok(None),
        Some(d) if (1..=65_536).contains(&d) => Ok(Some(d as u32)),
        Some(d) => Err(invalid(
            "dimensions",
            format!("dimensions must be a positive number of at most 65536, got {d}"),
        )),
    }
}

/// `dimensions` must be the model's own size (see the module docs).
pub fn check_dimensions(
    model: &str,
    wanted: Option<u32>,
    info: &EmbeddingInfo,
) -> Result<(), ApiError> {
    match wanted {
        Some(d) if d != info.dimensions => Err(invalid(
            "dimensions",
            format!(
                "model `{model}` gives {}-dimensional embeddings and cannot shorten them: it was not trained for truncated (Matryoshka) embeddings; omit `dimensions`",
                info.dimensions
            ),
        )),
        _ => Ok(()),
    }
}

/// One vector in the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingData {
    pub object: &'static str,
    pub index: usize,
    pub embedding: EmbeddingVector,
}

/// Floats, or their little-endian bytes in base64.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

/// `usage` of an embeddings response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EmbeddingUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

/// The response body. `pooling` and `normalized` are ingot's additions: a decoder's
/// last-token vectors must not pass for a sentence-embedding model's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingResponse {
    pub object: &'static str,
    pub data: Vec<EmbeddingData>,
    pub model: String,
    pub usage: EmbeddingUsage,
    pub pooling: Pooling,
    pub normalized: bool,
}

/// `v` as base64 of its little-endian f32 bytes (what the openai client decodes).
pub fn base64_vector(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl EmbeddingResponse {
    pub fn new(model: String, e: Embeddings, format: EncodingFormat) -> Self {
        let data = e
            .vectors
            .into_iter()
            .enumerate()
            .map(|(index, v)| EmbeddingData {
                object: "embedding",
                index,
                embedding: match format {
                    EncodingFormat::Float => EmbeddingVector::Float(v),
                    EncodingFormat::Base64 => EmbeddingVector::Base64(base64_vector(&v)),
                },
            })
            .collect();
        EmbeddingResponse {
            object: "list",
            data,
            model,
            usage: EmbeddingUsage {
                prompt_tokens: e.prompt_tokens,
                total_tokens: e.prompt_tokens,
            },
            pooling: e.pooling,
            normalized: e.normalized,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::parse_json;

    fn parse(body: &str) -> Result<ValidEmbedding, ApiError> {
        parse_json::<EmbeddingRequest>(body.as_bytes())?.validate()
    }

    #[test]
    fn every_openai_input_shape_is_accepted() {
        let one = parse(r#"{"model":"m","input":"hi"}"#).unwrap();
        assert_eq!(one.request.inputs, vec![EmbedInput::Text("hi".into())]);
        let many = parse(r#"{"model":"m","input":["a","b"]}"#).unwrap();
        assert_eq!(many.request.inputs.len(), 2);
        let toks = parse(r#"{"model":"m","input":[1,2,3]}"#).unwrap();
        assert_eq!(toks.request.inputs, vec![EmbedInput::Tokens(vec![1, 2, 3])]);
        let many_toks = parse(r#"{"model":"m","input":[[1],[2,3]]}"#).unwrap();
        assert_eq!(many_toks.request.inputs.len(), 2);
        assert_eq!(one.format, EncodingFormat::Float);
    }

    #[test]
    fn bad_inputs_name_the_field() {
        for (body, param, needle) in [
            (
                r#"{"model":"m","input":{"a":1}}"#,
                "input",
                "expected a string",
            ),
            (r#"{"model":"m","input":[]}"#, "input", "at least one"),
            (
                r#"{"model":"m","input":[""]}"#,
                "input",
                "input[0] is empty",
            ),
            (
                r#"{"model":"m","input":[[]]}"#,
                "input",
                "empty token array",
            ),
            (
                r#"{"model":"m","input":[99999999999]}"#,
                "input",
                "not a valid token id",
            ),
            (
                r#"{"model":"m","input":"x","encoding_format":"int8"}"#,
                "encoding_format",
                "int8",
            ),
            (
                r#"{"model":"m","input":"x","dimensions":0}"#,
                "dimensions",
                "got 0",
            ),
            (r#"{"model":"","input":"x"}"#, "model", "empty"),
            (r#"{"input":"x"}"#, "", "model"),
        ] {
            let e = parse(body).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(needle), "{body}: {msg}");
            if let ApiError::InvalidRequest { param: Some(p), .. } = &e {
                if !param.is_empty() {
                    assert_eq!(p, param, "{body}");
                }
            }
            assert_eq!(e.status().as_u16(), 400, "{body}");
        }
    }

    #[test]
    fn base64_holds_little_endian_floats() {
        let s = base64_vector(&[1.0, -2.5]);
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        assert_eq!(bytes.len(), 8);
        assert_eq!(f32::from_le_bytes(bytes[0..4].try_into().unwrap()), 1.0);
        assert_eq!(f32::from_le_bytes(bytes[4..8].try_into().unwrap()), -2.5);
    }

    #[test]
    fn dimensions_other_than_the_models_are_refused() {
        let info = EmbeddingInfo {
            dimensions: 384,
            pooling: Pooling::Mean,
            normalized: true,
            max_tokens: 512,
            embedding_model: true,
        };
        check_dimensions("m", None, &info).unwrap();
        check_dimensions("m", Some(384), &info).unwrap();
        let e = check_dimensions("m", Some(128), &info).unwrap_err();
        assert!(e.to_string().contains("384-dimensional"), "{e}");
    }

    #[test]
    fn the_response_has_openais_shape_and_says_how_it_pooled() {
        let e = Embeddings {
            vectors: vec![vec![0.6, 0.8]],
            prompt_tokens: 3,
            pooling: Pooling::Mean,
            normalized: true,
            truncated: 0,
            compute_ms: 1.0,
        };
        let v = serde_json::to_value(EmbeddingResponse::new("m".into(), e, EncodingFormat::Float))
            .unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][0]["object"], "embedding");
        assert_eq!(v["data"][0]["index"], 0);
        assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 2);
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(v["usage"]["total_tokens"], 3);
        assert_eq!(v["pooling"], "mean");
    }
}
