//! Byte-level BPE (`tokenizer.ggml.model` = "gpt2"): `TextModel._set_vocab_gpt2`.
//!
//! convert_hf_to_gguf.py picks `tokenizer.ggml.pre` by hashing the token ids of a test
//! string, which needs the real tokenizer. Without one, the pre-tokenizer is recognised
//! from its definition in tokenizer.json; each name is one llama-vocab.cpp accepts.

use serde_json::Value;

use super::{vocab_base, write_tokens, SpecialVocab, TokFiles, VocabInfo};
use crate::error::ConvertError;
use crate::gguf_writer::Metadata;
use crate::hparams::HParams;

/// Llama 3's split regex (`tokenizer.ggml.pre` = "llama-bpe").
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: like Llama 3's but one digit at a time ("qwen2").
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn flatten(pre: &Value) -> Vec<&Value> {
    match pre.get("type").and_then(Value::as_str) {
        Some("Sequence") => pre
            .get("pretokenizers")
            .and_then(Value::as_array)
            .map(|a| a.iter().flat_map(flatten).collect())
            .unwrap_or_default(),
        _ => vec![pre],
    }
}

/// The `tokenizer.ggml.pre` name for a tokenizer.json pre-tokenizer, or `None` when it is
/// not one this converter recognises.
pub(crate) fn detect_pre(tokenizer: &Value) -> Option<&'static str> {
    let pre = tokenizer.get("pre_tokenizer").filter(|p| !p.is_null())?;
    let parts = flatten(pre);
    let ty = |v: &Value| {
        v.get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let types: Vec<String> = parts.iter().map(|p| ty(p)).collect();
    let regex = parts
        .iter()
        .find(|p| ty(p) == "Split")
        .and_then(|p| p.pointer("/pattern/Regex"))
        .and_then(Value::as_str);
    let byte_level_regex = parts
        .iter()
        .find(|p| ty(p) == "ByteLevel")
        .map(|p| p.get("use_regex").and_then(Value::as_bool).unwrap_or(true));
    match (
        types
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        regex,
    ) {
        (["Split", "ByteLevel"], Some(r))
            if r == LLAMA3_REGEX && byte_level_regex == Some(false) =>
        {
            Some("llama-bpe")
        }
        (["Split", "ByteLevel"], Some(r))
            if r == QWEN2_REGEX && byte_level_regex == Some(false) =>
        {
            Some("qwen2")
        }
        (["Digits", "ByteLevel"], None)
            if parts[0].get("individual_digits").and_then(Value::as_bool) == Some(true)
                && byte_level_regex == Some(true) =>
        {
            Some("smollm")
        }
        (["ByteLevel"], None) if byte_level_regex == Some(true) => Some("gpt-2"),
        _ => None,
    }
}

/// `_set_vocab_gpt2`: tokens, types, merges and special tokens.
pub(crate) fn set_vocab_gpt2(
    files: &TokFiles,
    hp: &HParams,
    meta: &mut Metadata,
) -> Result<VocabInfo, ConvertError> {
    let json = files.require_json()?;
    let (tokens, types) = vocab_base(files, hp)?;
    let mut info = VocabInfo {
        n_tokens: tokens.len(),
        notes: Vec::new(),
    };
    let pre = match detect_pre(json) {
        Some(p) => p,
        None => {
            info.notes.push(
                "unrecognised BPE pre-tokenizer in tokenizer.json: wrote tokenizer.ggml.pre = \
                 \"default\"; tokenization may differ from the original"
                    .into(),
            );
            "default"
        }
    };
    write_tokens(meta, "gpt2", pre, tokens, None, types);
    let sv = SpecialVocab::new(files, hp, true, None, None)?;
    sv.write(meta);
    Ok(info)
}
