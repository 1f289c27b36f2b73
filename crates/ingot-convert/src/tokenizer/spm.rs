//! SentencePiece vocabularies (`tokenizer.ggml.model` = "llama").
//!
//! With `tokenizer.model` present, convert_hf_to_gguf.py reads pieces, scores and types
//! through the sentencepiece library (`_create_vocab_sentencepiece`); here a small
//! protobuf reader gets the same three fields. Without it, llama-family checkpoints whose
//! tokenizer.json is a byte-fallback BPE take gguf-py's `LlamaHfVocab` path.

use std::path::Path;

use serde_json::Value;

use super::{
    looks_special, write_tokens, SpecialVocab, TokFiles, VocabInfo, BYTE, CONTROL, NORMAL, UNKNOWN,
    UNUSED, USER_DEFINED,
};
use crate::error::ConvertError;
use crate::gguf_writer::Metadata;
use crate::hparams::{read_json_opt, HParams};

/// Most bytes of a tokenizer.model read (real ones are under 10 MB).
const MAX_SPM_BYTES: u64 = 256 << 20;

struct Pb<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Pb<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// Next (field, wire type, payload): payload bytes for wire types 2 and 5, else empty.
    fn field(&mut self) -> Option<(u64, u64, &[u8], u64)> {
        let key = self.varint()?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = self.varint()?;
                Some((field, wire, &[], v))
            }
            1 => Some((field, wire, self.take(8)?, 0)),
            2 => {
                let n = usize::try_from(self.varint()?).ok()?;
                Some((field, wire, self.take(n)?, 0))
            }
            5 => Some((field, wire, self.take(4)?, 0)),
            _ => None,
        }
    }
}

/// (piece, score, sentencepiece type) of every piece of a `tokenizer.model`.
pub(crate) fn read_model(path: &Path) -> Result<Vec<(String, f32, i32)>, ConvertError> {
    let len = std::fs::metadata(path)
        .map_err(|e| ConvertError::io(path, e))?
        .len();
    if len > MAX_SPM_BYTES {
        return Err(ConvertError::tokenizer(
            path,
            format!("{len} bytes: too large"),
        ));
    }
    let buf = std::fs::read(path).map_err(|e| ConvertError::io(path, e))?;
    let bad = || ConvertError::tokenizer(path, "not a valid SentencePiece model (protobuf)");
    let mut pb = Pb { buf: &buf, pos: 0 };
    let mut pieces = Vec::new();
    while pb.pos < buf.len() {
        let (field, wire, payload, _) = pb.field().ok_or_else(bad)?;
        if field != 1 || wire != 2 {
            continue;
        }
        let mut inner = Pb {
            buf: payload,
            pos: 0,
        };
        let (mut piece, mut score, mut ty) = (String::new(), 0f32, 1i32);
        while inner.pos < payload.len() {
            let (f, w, p, v) = inner.field().ok_or_else(bad)?;
            match (f, w) {
                (1, 2) => piece = String::from_utf8(p.to_vec()).map_err(|_| bad())?,
                (2, 5) => score = f32::from_le_bytes([p[0], p[1], p[2], p[3]]),
                (3, 0) => ty = v as i32,
                _ => {}
            }
        }
        pieces.push((piece, score, ty));
    }
    if pieces.is_empty() {
        return Err(bad());
    }
    Ok(pieces)
}

/// `_create_vocab_sentencepiece` followed by `_set_vocab_sentencepiece`.
pub(crate) fn set_vocab_sentencepiece(
    files: &TokFiles,
    hp: &HParams,
    meta: &mut Metadata,
) -> Result<VocabInfo, ConvertError> {
    let (tokens, scores, types) = create_vocab_sentencepiece(files, hp)?;
    let n = tokens.len();
    write_tokens(meta, "llama", "default", tokens, Some(scores), types);
    SpecialVocab::new(files, hp, false, None, Some(n))?.write(meta);
    Ok(VocabInfo {
        n_tokens: n,
        notes: Vec::new(),
    })
}

/// Tokens, scores and token types of a vocabulary.
pub(crate) type SpmVocab = (Vec<String>, Vec<f32>, Vec<i32>);

pub(crate) fn create_vocab_sentencepiece(
    files: &TokFiles,
    hp: &HParams,
) -> Result<SpmVocab, ConvertError> {
    let path = files.dir.join("tokenizer.model");
    let pieces = read_model(&path)?;
    let vocab_size = hp
        .find_u64(&["vocab_size_per_layer_input", "vocab_size"])?
        .unwrap_or(pieces.len() as u64) as usize;
    let mut tokens: Vec<String> = (0..vocab_size).map(|i| format!("[PAD{i}]")).collect();
    let mut scores = vec![-10000.0f32; vocab_size];
    let mut types = vec![UNUSED; vocab_size];
    for (id, (piece, score, ty)) in pieces.into_iter().enumerate().take(vocab_size) {
        tokens[id] = piece;
        scores[id] = score;
        // sentencepiece's IsUnknown / IsControl / IsUnused / IsByte, else NORMAL.
        types[id] = match ty {
            2 => UNKNOWN,
            3 => CONTROL,
            5 => UNUSED,
            6 => BYTE,
            _ => NORMAL,
        };
    }
    if let Some(Value::Object(added)) = read_json_opt(&files.dir.join("added_tokens.json"))? {
        for (key, id) in added {
            if let Some(id) = id.as_u64().map(|i| i as usize).filter(|&i| i < vocab_size) {
                tokens[id] = key;
                scores[id] = -1000.0;
                types[id] = USER_DEFINED;
            }
        }
    }
    if let Some(decoder) = files
        .config
        .as_ref()
        .and_then(|c| c.get("added_tokens_decoder"))
        .and_then(Value::as_object)
    {
        for (id, data) in decoder {
            let Some(id) = id.parse::<usize>().ok().filter(|&i| i < vocab_size) else {
                continue;
            };
            let Some(content) = data.get("content").and_then(Value::as_str) else {
                continue;
            };
            let special = data
                .get("special")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if special || looks_special(content) {
                types[id] = CONTROL;
                tokens[id] = content.to_string();
            } else {
                types[id] = USER_DEFINED;
                tokens[id] = content.replace('\u{2581}', " ");
            }
            scores[id] = -1000.0;
        }
    }
    Ok((tokens, scores, types))
}

/// Whether tokenizer.json is the byte-fallback BPE that `LlamaHfVocab` accepts.
pub(crate) fn is_llama_hf(files: &TokFiles) -> bool {
    let Some(json) = &files.json else {
        return false;
    };
    let model = json.get("model");
    let ty = model.and_then(|m| m.get("type")).and_then(Value::as_str);
    let byte_fallback = model
        .and_then(|m| m.get("byte_fallback"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let decoder_seq = json.pointer("/decoder/type").and_then(Value::as_str) == Some("Sequence");
    ty == Some("BPE") && byte_fallback && decoder_seq
}

/// `_set_vocab_llama_hf` (gguf-py `LlamaHfVocab`): base vocabulary then added tokens past
/// it; every score is -1000 as in gguf-py (the HF tokenizer.json has no piece scores).
pub(crate) fn set_vocab_llama_hf(
    files: &TokFiles,
    hp: &HParams,
    meta: &mut Metadata,
) -> Result<VocabInfo, ConvertError> {
    let vocab = files
        .model()
        .and_then(|m| m.get("vocab"))
        .and_then(Value::as_object)
        .ok_or_else(|| files.err("model.vocab is not a {token: id} object"))?;
    let base = vocab.len();
    let mut reverse = vec![None; base];
    for (tok, id) in vocab {
        match id.as_u64().map(|i| i as usize) {
            Some(i) if i < base => reverse[i] = Some(tok.clone()),
            _ => return Err(files.err(format!("token {tok:?}: id {id} is outside the vocabulary"))),
        }
    }
    let added = files.added_tokens();
    let special_ids: Vec<u64> = added.iter().filter(|t| t.2).map(|t| t.0).collect();
    let mut tokens = Vec::new();
    let mut types = Vec::new();
    for (id, tok) in reverse.into_iter().enumerate() {
        let tok = tok.ok_or_else(|| files.err(format!("no token has id {id}")))?;
        let ty = if is_byte_token(&tok) {
            BYTE
        } else if special_ids.contains(&(id as u64)) {
            CONTROL
        } else {
            NORMAL
        };
        tokens.push(tok);
        types.push(ty);
    }
    let mut extra: Vec<&(u64, String, bool)> =
        added.iter().filter(|t| t.0 as usize >= base).collect();
    extra.sort_by_key(|t| t.0);
    for (_, content, special) in extra {
        tokens.push(content.clone());
        types.push(if *special { CONTROL } else { USER_DEFINED });
    }
    let n = tokens.len();
    let scores = vec![-1000.0f32; n];
    write_tokens(meta, "llama", "default", tokens, Some(scores), types);
    SpecialVocab::new(files, hp, false, None, Some(n))?.write(meta);
    Ok(VocabInfo {
        n_tokens: n,
        notes: vec![
            "no tokenizer.model: SentencePiece scores are not in tokenizer.json, so every \
             token score is -1000 (as convert_hf_to_gguf.py writes)"
                .into(),
        ],
    })
}

fn is_byte_token(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 6
        && t.starts_with("<0x")
        && t.ends_with('>')
        && b[3].is_ascii_hexdigit()
        && b[4].is_ascii_hexdigit()
}
