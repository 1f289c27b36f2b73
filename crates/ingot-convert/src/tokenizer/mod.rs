//! Tokenizer metadata, ported from convert_hf_to_gguf.py (`get_vocab_base`,
//! `_set_vocab_*`) and gguf-py's `SpecialVocab`, reading `tokenizer.json`,
//! `tokenizer_config.json` (and `tokenizer.model` for SentencePiece) directly instead of
//! through `transformers`.

pub(crate) mod bpe;
pub(crate) mod spm;
pub(crate) mod wordpiece;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::ConvertError;
use crate::gguf_writer::{Metadata, Value as GValue};
use crate::hparams::{read_json_opt, HParams};

/// gguf `TokenType`.
pub(crate) const NORMAL: i32 = 1;
pub(crate) const UNKNOWN: i32 = 2;
pub(crate) const CONTROL: i32 = 3;
pub(crate) const USER_DEFINED: i32 = 4;
pub(crate) const UNUSED: i32 = 5;
pub(crate) const BYTE: i32 = 6;

/// The tokenizer files of a checkpoint folder.
pub(crate) struct TokFiles {
    pub dir: PathBuf,
    pub json_path: PathBuf,
    /// `tokenizer.json`, if present.
    pub json: Option<Value>,
    /// `tokenizer_config.json`, if present.
    pub config: Option<Map<String, Value>>,
}

impl TokFiles {
    pub(crate) fn load(dir: &Path) -> Result<Self, ConvertError> {
        let json_path = dir.join("tokenizer.json");
        let json = read_json_opt(&json_path)?;
        let config = match read_json_opt(&dir.join("tokenizer_config.json"))? {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        Ok(TokFiles {
            dir: dir.to_path_buf(),
            json_path,
            json,
            config,
        })
    }

    /// `tokenizer.json`, or the error every converter path gives without it.
    pub(crate) fn require_json(&self) -> Result<&Value, ConvertError> {
        self.json.as_ref().ok_or_else(|| ConvertError::MissingFile {
            path: self.json_path.clone(),
            what: "the Hugging Face tokenizer (tokenizer.json) is required to build the GGUF vocabulary".into(),
        })
    }

    pub(crate) fn model(&self) -> Option<&Map<String, Value>> {
        self.json.as_ref()?.get("model")?.as_object()
    }

    /// `added_tokens` of tokenizer.json: (id, content, special).
    pub(crate) fn added_tokens(&self) -> Vec<(u64, String, bool)> {
        self.json
            .as_ref()
            .and_then(|j| j.get("added_tokens"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| {
                        Some((
                            t.get("id")?.as_u64()?,
                            t.get("content")?.as_str()?.to_string(),
                            t.get("special").and_then(Value::as_bool).unwrap_or(false),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn err(&self, message: impl Into<String>) -> ConvertError {
        ConvertError::tokenizer(&self.json_path, message)
    }
}

/// `TextModel.does_token_look_special`.
pub(crate) fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<｜") && t.ends_with("｜>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

/// `TextModel.get_vocab_base` for a tokenizer.json whose model has a `{token: id}` vocab
/// (BPE, WordPiece): tokens and types for ids `0..vocab_size`, holes as `[PAD{i}]`.
pub(crate) fn vocab_base(
    files: &TokFiles,
    hp: &HParams,
) -> Result<(Vec<String>, Vec<i32>), ConvertError> {
    files.require_json()?;
    let vocab = files
        .model()
        .and_then(|m| m.get("vocab"))
        .and_then(Value::as_object)
        .ok_or_else(|| files.err("model.vocab is not a {token: id} object"))?;
    let added = files.added_tokens();
    let mut by_id: std::collections::BTreeMap<u64, (String, Option<bool>)> = Default::default();
    for (tok, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| files.err(format!("token {tok:?} has a non-integer id")))?;
        by_id.insert(id, (tok.clone(), None));
    }
    for (id, content, special) in &added {
        by_id.insert(*id, (content.clone(), Some(*special)));
    }
    let n = by_id.len() as u64;
    let vocab_size = hp.u64("vocab_size")?.unwrap_or(n);
    if let Some((&max, _)) = by_id.iter().next_back() {
        if max >= vocab_size {
            return Err(files.err(format!(
                "token id {max} is not below vocab_size {vocab_size} of config.json"
            )));
        }
    }
    let mut tokens = Vec::with_capacity(vocab_size as usize);
    let mut types = Vec::with_capacity(vocab_size as usize);
    for i in 0..vocab_size {
        match by_id.get(&i) {
            None => {
                tokens.push(format!("[PAD{i}]"));
                types.push(UNUSED);
            }
            Some((tok, None)) => {
                tokens.push(tok.clone());
                types.push(NORMAL);
            }
            Some((tok, Some(special))) => {
                if *special || looks_special(tok) {
                    tokens.push(tok.clone());
                    types.push(CONTROL);
                } else {
                    // Pre-normalise user-defined spaces (added for Gemma in convert).
                    tokens.push(tok.replace('\u{2581}', " "));
                    types.push(USER_DEFINED);
                }
            }
        }
    }
    Ok((tokens, types))
}

/// gguf-py's `SpecialVocab`: merges, special token ids, add_*_token flags, chat template
/// and normaliser flags, from tokenizer.json, tokenizer_config.json and config.json.
pub(crate) struct SpecialVocab {
    pub merges: Vec<String>,
    pub add_special: Vec<(String, bool)>,
    pub ids: Vec<(String, u64)>,
    pub chat_template: Option<Value>,
    pub lowercase: Option<bool>,
    pub strip_accents: Option<bool>,
    types: Vec<String>,
    n_vocab: Option<usize>,
}

impl SpecialVocab {
    pub(crate) fn new(
        files: &TokFiles,
        hp: &HParams,
        load_merges: bool,
        types: Option<&[&str]>,
        n_vocab: Option<usize>,
    ) -> Result<Self, ConvertError> {
        let default_types = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];
        let mut sv = SpecialVocab {
            merges: Vec::new(),
            add_special: Vec::new(),
            ids: Vec::new(),
            chat_template: None,
            lowercase: None,
            strip_accents: None,
            types: types
                .unwrap_or(&default_types)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            n_vocab,
        };
        sv.load_tokenizer_json(files, load_merges)?;
        for typ in sv.types.clone() {
            let id = hp
                .get(&format!("{typ}_token_id"))
                .and_then(Value::as_i64)
                .or_else(|| {
                    hp.get("text_config")
                        .and_then(|t| t.get(format!("{typ}_token_id")))
                        .and_then(Value::as_i64)
                });
            sv.set_id(&typ, id, files)?;
        }
        Ok(sv)
    }

    fn add_flag(&mut self, typ: &str, value: bool, overwrite: bool) {
        match self.add_special.iter_mut().find(|(t, _)| t == typ) {
            Some(slot) if overwrite => slot.1 = value,
            Some(_) => {}
            None => self.add_special.push((typ.to_string(), value)),
        }
    }

    pub(crate) fn set_id(
        &mut self,
        typ: &str,
        id: Option<i64>,
        files: &TokFiles,
    ) -> Result<(), ConvertError> {
        let Some(id) = id else { return Ok(()) };
        if id < 0 {
            return Err(files.err(format!("invalid value for special token type {typ}: {id}")));
        }
        let id = id as u64;
        if self.n_vocab.is_none_or(|n| id < n as u64) && !self.ids.iter().any(|(t, _)| t == typ) {
            self.ids.push((typ.to_string(), id));
        }
        Ok(())
    }

    fn parse_normalizer(&mut self, n: &Value) {
        match n.get("type").and_then(Value::as_str) {
            Some("Lowercase") => self.lowercase = Some(true),
            Some("StripAccents") => self.strip_accents = Some(true),
            Some("BertNormalizer") => {
                if let Some(v) = n.get("lowercase") {
                    self.lowercase = v.as_bool();
                }
                if let Some(v) = n.get("strip_accents") {
                    self.strip_accents = v.as_bool();
                }
            }
            Some("Sequence") => {
                for m in n
                    .get("normalizers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    self.parse_normalizer(m);
                }
            }
            _ => {}
        }
    }

    fn load_tokenizer_json(
        &mut self,
        files: &TokFiles,
        load_merges: bool,
    ) -> Result<(), ConvertError> {
        let Some(tok) = &files.json else {
            return Ok(());
        };
        if load_merges {
            if let Some(merges) = tok.pointer("/model/merges").and_then(Value::as_array) {
                for m in merges {
                    match m {
                        Value::String(s) => self.merges.push(s.clone()),
                        Value::Array(pair) if pair.len() == 2 => {
                            // Spaces inside a part are encoded as U+0120, as gguf-py does.
                            let part = |v: &Value| -> Option<String> {
                                Some(v.as_str()?.replace(' ', "\u{120}"))
                            };
                            match (part(&pair[0]), part(&pair[1])) {
                                (Some(a), Some(b)) => self.merges.push(format!("{a} {b}")),
                                _ => return Err(files.err("unknown tokenizer merges format")),
                            }
                        }
                        _ => return Err(files.err("unknown tokenizer merges format")),
                    }
                }
            }
        }
        if let Some(n) = tok.get("normalizer").filter(|n| !n.is_null()) {
            self.parse_normalizer(n);
        }
        let added = files.added_tokens();
        let mut tc = files.config.clone();
        let tc_str = |tc: &Option<Map<String, Value>>, key: &str| -> Option<String> {
            match tc.as_ref()?.get(key)? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
                _ => None,
            }
        };
        let mut bos = tc_str(&tc, "bos_token");
        let mut cls = tc_str(&tc, "cls_token");
        let mut eos = tc_str(&tc, "eos_token");
        let mut sep = tc_str(&tc, "sep_token");
        if bos.is_none() && cls.is_some() {
            if let Some(m) = tc.as_mut() {
                bos = cls.clone();
                m.insert(
                    "bos_token".into(),
                    Value::String(bos.clone().unwrap_or_default()),
                );
            }
        }
        if eos.is_none() && sep.is_some() {
            if let Some(m) = tc.as_mut() {
                eos = sep.clone();
                m.insert(
                    "eos_token".into(),
                    Value::String(eos.clone().unwrap_or_default()),
                );
            }
        }
        if let Some(pp) = tok.get("post_processor").filter(|p| !p.is_null()) {
            let procs: Vec<Value> = match pp.get("processors").and_then(Value::as_array) {
                Some(a) => a.clone(),
                None => vec![pp.clone()],
            };
            for p in procs {
                match p.get("type").and_then(Value::as_str) {
                    Some("ByteLevel") => {
                        self.add_flag("bos", false, false);
                        self.add_flag("eos", false, false);
                    }
                    Some("RobertaProcessing") => {
                        self.add_flag("bos", true, true);
                        self.add_flag("eos", true, true);
                        self.add_flag("sep", true, true);
                        if let Some(m) = tc.as_mut() {
                            if cls.is_none() {
                                cls = p
                                    .pointer("/cls/0")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                                    .or(bos.clone());
                                m.insert(
                                    "cls_token".into(),
                                    cls.clone().map(Value::String).unwrap_or(Value::Null),
                                );
                            }
                            if sep.is_none() {
                                sep = p
                                    .pointer("/sep/0")
                                    .and_then(Value::as_str)
                                    .map(str::to_string)
                                    .or(eos.clone());
                                m.insert(
                                    "sep_token".into(),
                                    sep.clone().map(Value::String).unwrap_or(Value::Null),
                                );
                            }
                        }
                    }
                    Some("TemplateProcessing") => {
                        let special_id = |v: Option<&Value>| -> Option<String> {
                            v?.pointer("/SpecialToken/id")?.as_str().map(str::to_string)
                        };
                        let single = p
                            .get("single")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        let pair = p
                            .get("pair")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        let mut first = None;
                        let mut last = None;
                        if single.len() > 1 {
                            first = special_id(single.first());
                            if let Some(f) = &first {
                                if tc.is_none() {
                                    bos = Some(f.clone());
                                } else if let Some(m) = tc
                                    .as_mut()
                                    .filter(|_| Some(f) != bos.as_ref() && Some(f) != cls.as_ref())
                                {
                                    if bos.is_none() {
                                        bos = Some(f.clone());
                                        m.insert("bos_token".into(), Value::String(f.clone()));
                                    }
                                    if cls.is_none() {
                                        cls = Some(f.clone());
                                        m.insert("cls_token".into(), Value::String(f.clone()));
                                    }
                                }
                                let v = Some(f) == bos.as_ref() || Some(f) == cls.as_ref();
                                self.add_flag("bos", v, true);
                            }
                            last = special_id(single.last());
                            if let Some(l) = &last {
                                if tc.is_none() {
                                    eos = Some(l.clone());
                                } else if let Some(m) =
                                    tc.as_mut().filter(|_| Some(l) != eos.as_ref())
                                {
                                    if !self.types.iter().any(|t| t == "eot") {
                                        self.types.push("eot".into());
                                        m.insert(
                                            "eot_token".into(),
                                            eos.clone().map(Value::String).unwrap_or(Value::Null),
                                        );
                                    } else if !self.types.iter().any(|t| t == "eom") {
                                        self.types.push("eom".into());
                                        m.insert(
                                            "eom_token".into(),
                                            eos.clone().map(Value::String).unwrap_or(Value::Null),
                                        );
                                    }
                                    eos = Some(l.clone());
                                    m.insert("eos_token".into(), Value::String(l.clone()));
                                }
                                let v = Some(l) == eos.as_ref();
                                self.add_flag("eos", v, true);
                            }
                        }
                        if !pair.is_empty() {
                            let start =
                                usize::from(first.is_some() && special_id(pair.first()) == first);
                            let stop =
                                usize::from(last.is_some() && special_id(pair.last()) == last);
                            let inner: Vec<Value> = if pair.len() >= start + stop {
                                pair[start..pair.len() - stop].to_vec()
                            } else {
                                Vec::new()
                            };
                            if !inner.is_empty() {
                                let seq = |v: &Value| {
                                    v.pointer("/Sequence/id")
                                        .and_then(Value::as_str)
                                        .map(str::to_string)
                                };
                                let a = seq(&inner[0]);
                                let b = seq(&inner[inner.len() - 1]);
                                if a.as_deref() == Some("A")
                                    && b.as_deref() == Some("B")
                                    && inner.len() > 2
                                {
                                    let mid = &inner[1..inner.len() - 1];
                                    let mut add_sep = false;
                                    let is_sep = |e: &Option<String>| {
                                        e.is_some() && (e == &sep || e == &eos)
                                    };
                                    let e0 = special_id(mid.first());
                                    if is_sep(&e0) && last.is_none() {
                                        add_sep = true;
                                    }
                                    if mid.len() == 2 && is_sep(&special_id(mid.get(1))) {
                                        add_sep = true;
                                    }
                                    self.add_flag("sep", add_sep, true);
                                    if add_sep && sep.is_none() {
                                        if let Some(m) = tc.as_mut() {
                                            m.insert(
                                                "sep_token".into(),
                                                eos.clone()
                                                    .map(Value::String)
                                                    .unwrap_or(Value::Null),
                                            );
                                        }
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let Some(tc) = tc else { return Ok(()) };
        let mut template = None;
        let jinja = files.dir.join("chat_template.jinja");
        let tjson = files.dir.join("chat_template.json");
        if jinja.is_file() {
            template = Some(Value::String(
                std::fs::read_to_string(&jinja).map_err(|e| ConvertError::io(&jinja, e))?,
            ));
        } else if let Some(v) = read_json_opt(&tjson)? {
            template = v.get("chat_template").cloned();
        }
        let template = tc.get("chat_template").cloned().or(template);
        if matches!(template, Some(Value::String(_)) | Some(Value::Array(_))) {
            self.chat_template = template;
        }
        for typ in self.types.clone() {
            if let Some(Value::Bool(b)) = tc.get(&format!("add_{typ}_token")) {
                self.add_flag(&typ, *b, false);
            }
            let content = match tc.get(&format!("{typ}_token")) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(o)) => match o.get("content").and_then(Value::as_str) {
                    Some(s) => s.to_string(),
                    None => continue,
                },
                _ => continue,
            };
            let id = added
                .iter()
                .find(|(_, c, _)| *c == content)
                .map(|(id, _, _)| *id as i64);
            self.set_id(&typ, id, files)?;
        }
        Ok(())
    }

    /// `SpecialVocab.add_to_gguf`: only the types gguf-py has a writer method for.
    pub(crate) fn write(&self, meta: &mut Metadata) {
        if !self.merges.is_empty() {
            meta.set(
                "tokenizer.ggml.merges",
                GValue::StrArray(self.merges.clone()),
            );
        }
        for (typ, id) in &self.ids {
            let key = match typ.as_str() {
                "bos" => "bos_token_id",
                "eos" => "eos_token_id",
                "unk" => "unknown_token_id",
                "sep" => "seperator_token_id",
                "pad" => "padding_token_id",
                "mask" => "mask_token_id",
                "eot" => "eot_token_id",
                "eom" => "eom_token_id",
                _ => continue,
            };
            meta.u32(format!("tokenizer.ggml.{key}"), *id as u32);
        }
        for (typ, v) in &self.add_special {
            if matches!(typ.as_str(), "bos" | "eos" | "sep") {
                meta.bool(format!("tokenizer.ggml.add_{typ}_token"), *v);
            }
        }
        if let Some(t) = &self.chat_template {
            write_chat_template(meta, t);
        }
        if let Some(v) = self.lowercase {
            meta.bool("tokenizer.ggml.normalizer.lowercase", v);
        }
        if let Some(v) = self.strip_accents {
            meta.bool("tokenizer.ggml.normalizer.strip_accents", v);
        }
    }
}

/// `GGUFWriter.add_chat_template`: a string, or a list of named templates of which
/// "default" becomes `tokenizer.chat_template` and the others `tokenizer.chat_template.NAME`.
pub(crate) fn write_chat_template(meta: &mut Metadata, t: &Value) {
    match t {
        Value::String(s) => meta.str("tokenizer.chat_template", s.clone()),
        Value::Array(list) => {
            let mut default = None;
            let mut names: Vec<String> = Vec::new();
            for choice in list {
                let name: String = choice
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                let Some(template) = choice.get("template").and_then(Value::as_str) else {
                    continue;
                };
                if name.is_empty() {
                    continue;
                }
                if name == "default" {
                    default = Some(template.to_string());
                } else {
                    if !names.contains(&name) {
                        names.push(name.clone());
                    }
                    meta.str(format!("tokenizer.chat_template.{name}"), template);
                }
            }
            if !names.is_empty() {
                meta.set("tokenizer.chat_templates", GValue::StrArray(names));
            }
            if let Some(d) = default {
                meta.str("tokenizer.chat_template", d);
            }
        }
        _ => {}
    }
}

/// What the tokenizer step reports back to the summary.
#[derive(Debug, Default)]
pub(crate) struct VocabInfo {
    pub n_tokens: usize,
    pub notes: Vec<String>,
}

/// Writes tokens, types and (optionally) scores.
pub(crate) fn write_tokens(
    meta: &mut Metadata,
    model: &str,
    pre: &str,
    tokens: Vec<String>,
    scores: Option<Vec<f32>>,
    types: Vec<i32>,
) {
    meta.str("tokenizer.ggml.model", model);
    meta.str("tokenizer.ggml.pre", pre);
    meta.set("tokenizer.ggml.tokens", GValue::StrArray(tokens));
    if let Some(s) = scores {
        meta.set("tokenizer.ggml.scores", GValue::F32Array(s));
    }
    meta.set("tokenizer.ggml.token_type", GValue::I32Array(types));
}
