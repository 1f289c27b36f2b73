//! WordPiece (`tokenizer.ggml.model` = "bert"): `BertModel.set_vocab`.
//!
//! llama.cpp's WPM tokenizer works on a "phantom space" vocabulary: word-initial pieces
//! get a leading U+2581, continuation pieces lose their `##`, control tokens stay as-is.

use serde_json::Value;

use super::{vocab_base, write_tokens, SpecialVocab, TokFiles, VocabInfo, CONTROL};
use crate::error::ConvertError;
use crate::gguf_writer::Metadata;
use crate::hparams::HParams;

/// The phantom-space form of a WordPiece token.
pub(crate) fn phantom(tok: &str, ty: i32) -> String {
    if ty == CONTROL {
        tok.to_string()
    } else if let Some(rest) = tok.strip_prefix("##") {
        rest.to_string()
    } else {
        format!("\u{2581}{tok}")
    }
}

pub(crate) fn set_vocab_bert(
    files: &TokFiles,
    hp: &HParams,
    meta: &mut Metadata,
) -> Result<VocabInfo, ConvertError> {
    let json = files.require_json()?;
    if json.pointer("/model/type").and_then(Value::as_str) != Some("WordPiece") {
        return Err(files.err("a BERT model needs a WordPiece tokenizer.json"));
    }
    let (tokens, types) = vocab_base(files, hp)?;
    meta.u32(
        "tokenizer.ggml.token_type_count",
        hp.u64("type_vocab_size")?.unwrap_or(1) as u32,
    );
    let tokens: Vec<String> = tokens
        .iter()
        .zip(&types)
        .map(|(t, ty)| phantom(t, *ty))
        .collect();
    let n = tokens.len();
    // llama.cpp ignores the pre-tokenizer of WPM vocabularies; convert's hash gives
    // "bert-bge" for the uncased BERT tokenizer that most sentence-transformers use.
    let lowercase = json
        .pointer("/normalizer/lowercase")
        .and_then(Value::as_bool);
    let pre = if lowercase == Some(true) {
        "bert-bge"
    } else {
        "default"
    };
    write_tokens(meta, "bert", pre, tokens, None, types);
    SpecialVocab::new(files, hp, false, None, Some(n))?.write(meta);
    Ok(VocabInfo {
        n_tokens: n,
        notes: Vec::new(),
    })
}
