//! Test fixtures shared by the unit tests and tests/ (included there with `#[path]`): tiny
//! checkpoints written by hand, and a small GGUF reader that returns every key and tensor.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

/// A tensor to write: name, safetensors dtype, shape, raw bytes.
pub struct T {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

pub fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// bf16 by truncation (the test values are exact in bf16).
pub fn bf16s(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
        .collect()
}

/// An F32 tensor whose element k is `seed + k / 64` (exact in f16 and bf16 for small k).
pub fn t32(name: &str, shape: &[u64], seed: f32) -> T {
    let n: u64 = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|k| seed + (k % 64) as f32 / 64.0).collect();
    T {
        name: name.into(),
        dtype: "F32",
        shape: shape.to_vec(),
        data: f32s(&v),
    }
}

pub fn tbf16(name: &str, shape: &[u64], seed: f32) -> T {
    let n: u64 = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|k| seed + (k % 64) as f32 / 64.0).collect();
    T {
        name: name.into(),
        dtype: "BF16",
        shape: shape.to_vec(),
        data: bf16s(&v),
    }
}

pub fn write_safetensors(path: &Path, tensors: &[T]) {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offset = 0u64;
    for t in tensors {
        let end = offset + t.data.len() as u64;
        header.insert(
            t.name.clone(),
            json!({"dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut h = serde_json::to_vec(&Value::Object(header)).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&h);
    for t in tensors {
        bytes.extend_from_slice(&t.data);
    }
    std::fs::write(path, bytes).unwrap();
}

pub fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

pub const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
pub const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A byte-level BPE tokenizer.json with 8 normal tokens and 2 added ones (ids 8, 9).
pub fn bpe_tokenizer(regex: &str) -> Value {
    json!({
        "version": "1.0",
        "added_tokens": [
            {"id": 8, "content": "<|begin_of_text|>", "special": true, "normalized": false},
            {"id": 9, "content": "<|end_of_text|>", "special": true, "normalized": false}
        ],
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {}}
        ]},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "ignore_merges": true, "byte_fallback": false,
                  "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "Ġa": 5, "abc": 6, "Ġab": 7},
                  "merges": [["a", "b"], ["Ġ", "a"], ["ab", "c"], ["Ġa", "b"]]}
    })
}

pub const CHAT_TEMPLATE: &str = "{% for m in messages %}{{ m.content }}{% endfor %}";

/// A one-layer llama checkpoint: hidden 8, 2 heads of 4, 1 KV head, ff 16, vocab 10.
pub fn llama(dir: &Path, arch: &str) {
    let config = json!({
        "architectures": [arch], "model_type": "llama",
        "hidden_size": 8, "intermediate_size": 16, "num_attention_heads": 2,
        "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": 10,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": false, "bos_token_id": 8, "eos_token_id": 9
    });
    write_json(&dir.join("config.json"), &config);
    write_json(&dir.join("tokenizer.json"), &bpe_tokenizer(LLAMA3_REGEX));
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
            "chat_template": CHAT_TEMPLATE
        }),
    );
    let p = "model.layers.0.";
    write_safetensors(
        &dir.join("model.safetensors"),
        &[
            tbf16("model.embed_tokens.weight", &[10, 8], 0.0),
            t32(&format!("{p}self_attn.q_proj.weight"), &[8, 8], 1.0),
            t32(&format!("{p}self_attn.k_proj.weight"), &[4, 8], 2.0),
            t32(&format!("{p}self_attn.v_proj.weight"), &[4, 8], 3.0),
            t32(&format!("{p}self_attn.o_proj.weight"), &[8, 8], 4.0),
            t32(&format!("{p}mlp.gate_proj.weight"), &[16, 8], 5.0),
            t32(&format!("{p}mlp.up_proj.weight"), &[16, 8], 6.0),
            t32(&format!("{p}mlp.down_proj.weight"), &[8, 16], 7.0),
            t32(&format!("{p}input_layernorm.weight"), &[8], 0.5),
            t32(&format!("{p}post_attention_layernorm.weight"), &[8], 0.25),
            t32("model.norm.weight", &[8], 0.125),
            t32("lm_head.weight", &[10, 8], 8.0),
            t32(&format!("{p}self_attn.rotary_emb.inv_freq"), &[2], 0.0),
        ],
    );
}

/// A one-layer qwen2 checkpoint (Q/K/V biases, tied embeddings, qwen2 pre-tokenizer).
pub fn qwen2(dir: &Path) {
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "hidden_size": 8, "intermediate_size": 16, "num_attention_heads": 2,
            "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": 10,
            "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
            "tie_word_embeddings": true, "sliding_window": 512, "use_sliding_window": false
        }),
    );
    write_json(&dir.join("tokenizer.json"), &bpe_tokenizer(QWEN2_REGEX));
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "eos_token": "<|end_of_text|>", "pad_token": "<|end_of_text|>", "add_bos_token": false,
            "chat_template": [{"name": "default", "template": CHAT_TEMPLATE}, {"name": "tool_use", "template": "T"}]
        }),
    );
    let p = "model.layers.0.";
    write_safetensors(
        &dir.join("model.safetensors"),
        &[
            t32("model.embed_tokens.weight", &[10, 8], 0.0),
            t32(&format!("{p}self_attn.q_proj.weight"), &[8, 8], 1.0),
            t32(&format!("{p}self_attn.q_proj.bias"), &[8], 1.5),
            t32(&format!("{p}self_attn.k_proj.weight"), &[4, 8], 2.0),
            t32(&format!("{p}self_attn.k_proj.bias"), &[4], 2.5),
            t32(&format!("{p}self_attn.v_proj.weight"), &[4, 8], 3.0),
            t32(&format!("{p}self_attn.v_proj.bias"), &[4], 3.5),
            t32(&format!("{p}self_attn.o_proj.weight"), &[8, 8], 4.0),
            t32(&format!("{p}mlp.gate_proj.weight"), &[16, 8], 5.0),
            t32(&format!("{p}mlp.up_proj.weight"), &[16, 8], 6.0),
            t32(&format!("{p}mlp.down_proj.weight"), &[8, 16], 7.0),
            t32(&format!("{p}input_layernorm.weight"), &[8], 0.5),
            t32(&format!("{p}post_attention_layernorm.weight"), &[8], 0.25),
            t32("model.norm.weight", &[8], 0.125),
        ],
    );
}

/// A SentencePiece `tokenizer.model` protobuf: (piece, score, type).
pub fn spm_model(pieces: &[(&str, f32, u8)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (piece, score, ty) in pieces {
        let mut inner = vec![0x0a, piece.len() as u8];
        inner.extend_from_slice(piece.as_bytes());
        inner.push(0x15);
        inner.extend_from_slice(&score.to_le_bytes());
        inner.extend_from_slice(&[0x18, *ty]);
        out.push(0x0a);
        out.push(inner.len() as u8);
        out.extend_from_slice(&inner);
    }
    // A trainer_spec field (2) the reader must skip.
    out.extend_from_slice(&[0x12, 0x02, 0x30, 0x02]);
    out
}

/// A one-layer gemma-family checkpoint with a 6-piece SentencePiece vocabulary.
pub fn gemma(dir: &Path, arch: &str) {
    let mut config = json!({
        "architectures": [arch], "hidden_size": 8, "intermediate_size": 16,
        "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4,
        "num_hidden_layers": 1, "vocab_size": 6, "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "bos_token_id": 2, "eos_token_id": 1,
        "pad_token_id": 0
    });
    if arch == "Gemma2ForCausalLM" {
        config["attn_logit_softcapping"] = json!(50.0);
        config["final_logit_softcapping"] = json!(30.0);
        config["sliding_window"] = json!(4096);
    }
    if arch == "Gemma3ForCausalLM" {
        config["sliding_window"] = json!(512);
        config["rope_local_base_freq"] = json!(10000.0);
        config["rope_theta"] = json!(1000000.0);
        config["_sliding_window_pattern"] = json!(6);
    }
    write_json(&dir.join("config.json"), &config);
    std::fs::write(
        dir.join("tokenizer.model"),
        spm_model(&[
            ("<pad>", 0.0, 3),
            ("<eos>", 0.0, 3),
            ("<bos>", 0.0, 3),
            ("<unk>", 0.0, 2),
            ("<0x0A>", 0.0, 6),
            ("\u{2581}a", -1.5, 1),
        ]),
    )
    .unwrap();
    write_json(
        &dir.join("tokenizer.json"),
        &json!({
            "added_tokens": [
                {"id": 0, "content": "<pad>", "special": true}, {"id": 1, "content": "<eos>", "special": true},
                {"id": 2, "content": "<bos>", "special": true}, {"id": 3, "content": "<unk>", "special": true}
            ],
            "model": {"type": "BPE", "byte_fallback": true, "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<0x0A>": 4, "\u{2581}a": 5}, "merges": []},
            "decoder": {"type": "Sequence", "decoders": []}
        }),
    );
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
            "add_bos_token": true, "add_eos_token": false, "chat_template": CHAT_TEMPLATE
        }),
    );
    let p = "model.layers.0.";
    let mut t = vec![
        tbf16("model.embed_tokens.weight", &[6, 8], 0.0),
        tbf16(&format!("{p}self_attn.q_proj.weight"), &[8, 8], 1.0),
        tbf16(&format!("{p}self_attn.k_proj.weight"), &[4, 8], 2.0),
        tbf16(&format!("{p}self_attn.v_proj.weight"), &[4, 8], 3.0),
        tbf16(&format!("{p}self_attn.o_proj.weight"), &[8, 8], 4.0),
        tbf16(&format!("{p}mlp.gate_proj.weight"), &[16, 8], 5.0),
        tbf16(&format!("{p}mlp.up_proj.weight"), &[16, 8], 6.0),
        tbf16(&format!("{p}mlp.down_proj.weight"), &[8, 16], 7.0),
        tbf16(&format!("{p}input_layernorm.weight"), &[8], 0.5),
        tbf16(&format!("{p}post_attention_layernorm.weight"), &[8], 0.25),
        tbf16("model.norm.weight", &[8], 0.125),
    ];
    if arch != "GemmaForCausalLM" {
        t.push(tbf16(
            &format!("{p}pre_feedforward_layernorm.weight"),
            &[8],
            0.5,
        ));
        t.push(tbf16(
            &format!("{p}post_feedforward_layernorm.weight"),
            &[8],
            0.5,
        ));
    }
    if arch == "Gemma3ForCausalLM" {
        t.push(tbf16(&format!("{p}self_attn.q_norm.weight"), &[4], 0.5));
        t.push(tbf16(&format!("{p}self_attn.k_norm.weight"), &[4], 0.5));
    }
    write_safetensors(&dir.join("model.safetensors"), &t);
}

/// A one-layer BERT (sentence-transformers layout, mean pooling), WordPiece vocabulary.
pub fn bert(dir: &Path, arch: &str) {
    write_json(
        &dir.join("config.json"),
        &json!({
            "architectures": [arch], "model_type": "bert", "hidden_size": 8,
            "intermediate_size": 16, "num_attention_heads": 2, "num_hidden_layers": 1,
            "vocab_size": 9, "max_position_embeddings": 32, "type_vocab_size": 2,
            "layer_norm_eps": 1e-12, "pad_token_id": 0
        }),
    );
    write_json(
        &dir.join("tokenizer.json"),
        &json!({
            "added_tokens": [
                {"id": 0, "content": "[PAD]", "special": true}, {"id": 1, "content": "[UNK]", "special": true},
                {"id": 2, "content": "[CLS]", "special": true}, {"id": 3, "content": "[SEP]", "special": true},
                {"id": 4, "content": "[MASK]", "special": true}
            ],
            "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                "special_tokens": {}},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "hello": 5, "##s": 6, "[unused0]": 7, "world": 8}}
        }),
    );
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
            "mask_token": "[MASK]", "do_lower_case": true
        }),
    );
    write_json(
        &dir.join("modules.json"),
        &json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
        ]),
    );
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    write_json(
        &dir.join("1_Pooling/config.json"),
        &json!({"word_embedding_dimension": 8, "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}),
    );
    std::fs::write(
        dir.join("README.md"),
        "---\nlicense: apache-2.0\ntags:\n- sentence-transformers\n---\n# tiny\n",
    )
    .unwrap();
    let p = "encoder.layer.0.";
    let mut t = vec![
        t32("embeddings.word_embeddings.weight", &[9, 8], 0.0),
        t32("embeddings.position_embeddings.weight", &[32, 8], 1.0),
        t32("embeddings.token_type_embeddings.weight", &[2, 8], 2.0),
        t32("embeddings.LayerNorm.weight", &[8], 1.0),
        t32("embeddings.LayerNorm.bias", &[8], 0.0),
        T {
            name: "embeddings.position_ids".into(),
            dtype: "I64",
            shape: vec![1, 32],
            data: vec![0; 256],
        },
    ];
    for (n, shape) in [
        ("attention.self.query", vec![8, 8]),
        ("attention.self.key", vec![8, 8]),
        ("attention.self.value", vec![8, 8]),
        ("attention.output.dense", vec![8, 8]),
        ("intermediate.dense", vec![16, 8]),
        ("output.dense", vec![8, 16]),
    ] {
        t.push(t32(&format!("{p}{n}.weight"), &shape, 3.0));
        t.push(t32(&format!("{p}{n}.bias"), &shape[..1], 0.5));
    }
    for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
        t.push(t32(&format!("{p}{n}.weight"), &[8], 1.0));
        t.push(t32(&format!("{p}{n}.bias"), &[8], 0.0));
    }
    t.push(t32("pooler.dense.weight", &[8, 8], 0.0));
    t.push(t32("pooler.dense.bias", &[8], 0.0));
    write_safetensors(&dir.join("model.safetensors"), &t);
}

/// A metadata value read back from a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub enum GV {
    Int(i64),
    F32(f32),
    Bool(bool),
    Str(String),
    Arr(Vec<GV>),
}

impl GV {
    pub fn int(&self) -> i64 {
        match self {
            GV::Int(i) => *i,
            other => panic!("not an int: {other:?}"),
        }
    }
    pub fn f32(&self) -> f32 {
        match self {
            GV::F32(f) => *f,
            other => panic!("not a float: {other:?}"),
        }
    }
    pub fn str(&self) -> &str {
        match self {
            GV::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    pub fn arr(&self) -> &[GV] {
        match self {
            GV::Arr(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }
}

/// A GGUF tensor read back: ggml shape, type, data.
#[derive(Debug, Clone)]
pub struct GT {
    pub ne: Vec<u64>,
    pub ty: u32,
    pub data: Vec<u8>,
}

/// A whole GGUF file read back (test-sized files only).
pub struct Gguf {
    pub kv: BTreeMap<String, GV>,
    /// Value types of the keys (4 = u32, 5 = i32, 6 = f32, 7 = bool, 8 = string, 9 = array).
    pub types: BTreeMap<String, u32>,
    pub tensors: BTreeMap<String, GT>,
    pub order: Vec<String>,
}

impl Gguf {
    pub fn kv(&self, k: &str) -> &GV {
        self.kv.get(k).unwrap_or_else(|| panic!("missing key {k}"))
    }
    pub fn t(&self, n: &str) -> &GT {
        self.tensors
            .get(n)
            .unwrap_or_else(|| panic!("missing tensor {n}; have {:?}", self.order))
    }
    pub fn f32s(&self, n: &str) -> Vec<f32> {
        let t = self.t(n);
        assert_eq!(t.ty, 0, "{n} is not F32");
        t.data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}

pub fn read_gguf(path: &Path) -> Gguf {
    let b = std::fs::read(path).unwrap();
    let mut pos = 0usize;
    let mut take = |n: usize| {
        let s = &b[pos..pos + n];
        pos += n;
        s.to_vec()
    };
    fn u32_(v: Vec<u8>) -> u32 {
        u32::from_le_bytes(v.try_into().unwrap())
    }
    fn u64_(v: Vec<u8>) -> u64 {
        u64::from_le_bytes(v.try_into().unwrap())
    }
    assert_eq!(take(4), b"GGUF");
    assert_eq!(u32_(take(4)), 3);
    let nt = u64_(take(8));
    let nkv = u64_(take(8));
    fn value(ty: u32, take: &mut dyn FnMut(usize) -> Vec<u8>) -> GV {
        match ty {
            0 => GV::Int(take(1)[0] as i64),
            1 => GV::Int(take(1)[0] as i8 as i64),
            2 => GV::Int(u16::from_le_bytes(take(2).try_into().unwrap()) as i64),
            3 => GV::Int(i16::from_le_bytes(take(2).try_into().unwrap()) as i64),
            4 => GV::Int(u32::from_le_bytes(take(4).try_into().unwrap()) as i64),
            5 => GV::Int(i32::from_le_bytes(take(4).try_into().unwrap()) as i64),
            6 => GV::F32(f32::from_le_bytes(take(4).try_into().unwrap())),
            7 => GV::Bool(take(1)[0] != 0),
            8 => {
                let n = u64::from_le_bytes(take(8).try_into().unwrap()) as usize;
                GV::Str(String::from_utf8(take(n)).unwrap())
            }
            9 => {
                let et = u32::from_le_bytes(take(4).try_into().unwrap());
                let n = u64::from_le_bytes(take(8).try_into().unwrap());
                GV::Arr((0..n).map(|_| value(et, take)).collect())
            }
            10 | 11 => GV::Int(i64::from_le_bytes(take(8).try_into().unwrap())),
            t => panic!("type {t}"),
        }
    }
    let mut kv = BTreeMap::new();
    let mut types = BTreeMap::new();
    for _ in 0..nkv {
        let GV::Str(k) = value(8, &mut take) else {
            unreachable!()
        };
        let ty = u32_(take(4));
        types.insert(k.clone(), ty);
        let v = value(ty, &mut take);
        assert!(kv.insert(k.clone(), v).is_none(), "duplicate key {k}");
    }
    let mut infos = Vec::new();
    for _ in 0..nt {
        let GV::Str(name) = value(8, &mut take) else {
            unreachable!()
        };
        let nd = u32_(take(4));
        let ne: Vec<u64> = (0..nd).map(|_| u64_(take(8))).collect();
        let ty = u32_(take(4));
        let off = u64_(take(8));
        infos.push((name, ne, ty, off));
    }
    let align = 32;
    let start = pos.div_ceil(align) * align;
    let mut tensors = BTreeMap::new();
    let mut order = Vec::new();
    for (name, ne, ty, off) in infos {
        let size = match ty {
            0 => 4,
            1 | 30 => 2,
            t => panic!("type {t}"),
        };
        let n: u64 = ne.iter().product::<u64>() * size;
        let s = start + off as usize;
        order.push(name.clone());
        tensors.insert(
            name,
            GT {
                ne,
                ty,
                data: b[s..s + n as usize].to_vec(),
            },
        );
    }
    Gguf {
        kv,
        types,
        tensors,
        order,
    }
}
