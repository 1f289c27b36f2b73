//! Architectures: which checkpoint tensor becomes which GGUF tensor (with its expected
//! shape and transform), and which hyperparameters are written, per convert_hf_to_gguf.py's
//! model classes and gguf-py's `tensor_mapping.py` / `constants.py`.

pub(crate) mod bert;
pub(crate) mod gemma;
pub(crate) mod llama;

use serde_json::{Map, Value};

use crate::dtype::DType;
use crate::error::ConvertError;
use crate::gguf_writer::{Metadata, Value as GValue};
use crate::hparams::{to_u32, HParams};
use crate::safetensors::TensorRef;

/// The architectures this converter handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    Llama,
    Qwen2,
    Gemma,
    Gemma2,
    Gemma3,
    Bert,
}

/// Hugging Face architecture names accepted, with the architecture each converts to.
pub(crate) const HF_ARCHITECTURES: &[(&str, Arch)] = &[
    ("LlamaForCausalLM", Arch::Llama),
    ("LLaMAForCausalLM", Arch::Llama),
    ("LlamaModel", Arch::Llama),
    ("MistralForCausalLM", Arch::Llama),
    ("Qwen2ForCausalLM", Arch::Qwen2),
    ("Qwen2Model", Arch::Qwen2),
    ("GemmaForCausalLM", Arch::Gemma),
    ("Gemma2ForCausalLM", Arch::Gemma2),
    ("Gemma3ForCausalLM", Arch::Gemma3),
    ("BertModel", Arch::Bert),
    ("BertForMaskedLM", Arch::Bert),
    ("BertForSequenceClassification", Arch::Bert),
];

impl Arch {
    pub(crate) fn from_hf(name: &str) -> Option<Arch> {
        HF_ARCHITECTURES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }

    /// The GGUF `general.architecture`.
    pub(crate) fn gguf_name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Gemma => "gemma",
            Arch::Gemma2 => "gemma2",
            Arch::Gemma3 => "gemma3",
            Arch::Bert => "bert",
        }
    }

    pub(crate) fn is_encoder(self) -> bool {
        self == Arch::Bert
    }
}

/// What happens to a tensor's values on the way to the GGUF file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Transform {
    None,
    /// Llama's Q/K row permutation (`LlamaModel.permute`) for `n_head` heads.
    Permute(u64),
    /// Gemma's RMSNorm stores `w - 1`: convert adds 1 back (in the source precision).
    AddOne,
    /// Keep the first n rows (gemma3 drops out-of-vocabulary embedding rows).
    TrimRows(u64),
}

/// Where a tensor's values come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Checkpoint(TensorRef),
    /// Computed by the converter (llama3 `rope_freqs`), already F32.
    Generated(Vec<f32>),
}

/// One tensor of the output.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub name: String,
    pub source: Source,
    /// PyTorch (row-major) shape of the output tensor.
    pub shape: Vec<u64>,
    pub transform: Transform,
    pub out: DType,
}

/// Result of mapping one checkpoint tensor name.
pub(crate) enum Mapped {
    /// Dropped, as convert drops it (pooler, MLM head, tied lm_head, ...).
    Skip,
    /// A tensor whose shape config.json does not fix (classifier heads).
    AnyShape(String),
    /// No rule knows the name: an error, as in convert (`Can not map tensor`).
    Unknown,
    To {
        name: String,
        expected: Vec<u64>,
        transform: Transform,
    },
}

/// Model dimensions from config.json, used to check every tensor's shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub n_layer: u64,
    pub n_embd: u64,
    pub n_head: u64,
    pub n_kv: u64,
    pub head_dim: u64,
    pub n_ff: u64,
    pub vocab: u64,
}

impl Dims {
    pub(crate) fn decoder(
        hp: &HParams,
        head_dim_default: Option<u64>,
    ) -> Result<Dims, ConvertError> {
        let n_embd = hp.require_u64("hidden_size")?;
        let n_head = match hp.u64("num_attention_heads")? {
            Some(n) => n,
            None if head_dim_default.is_some() => 8,
            None => return Err(ConvertError::config("num_attention_heads", "missing")),
        };
        if n_head == 0 {
            return Err(ConvertError::config("num_attention_heads", "is 0"));
        }
        let n_kv = hp
            .u64("num_key_value_heads")?
            .unwrap_or(match head_dim_default {
                Some(_) => 4,
                None => n_head,
            });
        let head_dim = match hp.u64("head_dim")? {
            Some(d) => d,
            None => head_dim_default.unwrap_or(n_embd / n_head),
        };
        Ok(Dims {
            n_layer: hp.block_count()?,
            n_embd,
            n_head,
            n_kv,
            head_dim,
            n_ff: hp.require_u64("intermediate_size")?,
            vocab: hp.require_u64("vocab_size")?,
        })
    }
}

/// Splits `model.layers.N.rest` into (N, rest) for N < n_layer.
pub(crate) fn layer<'a>(name: &'a str, prefix: &str, n_layer: u64) -> Option<(u64, &'a str)> {
    let rest = name.strip_prefix(prefix)?;
    let (n, rest) = rest.split_once('.')?;
    let n: u64 = n.parse().ok()?;
    (n < n_layer).then_some((n, rest))
}

/// Splits a `.weight` / `.bias` suffix off.
pub(crate) fn suffix(name: &str) -> Option<(&str, &'static str)> {
    if let Some(b) = name.strip_suffix(".weight") {
        Some((b, "weight"))
    } else {
        name.strip_suffix(".bias").map(|b| (b, "bias"))
    }
}

/// A mapping to `gguf_base.{weight|bias}`: a bias expects the first dimension only.
pub(crate) fn to(gguf_base: String, kind: &str, shape: &[u64], transform: Transform) -> Mapped {
    let expected = if kind == "bias" {
        shape[..1].to_vec()
    } else {
        shape.to_vec()
    };
    Mapped::To {
        name: format!("{gguf_base}.{kind}"),
        expected,
        transform,
    }
}

/// The output type of a tensor by convert's rules (`ModelBase.prepare_tensors`).
pub(crate) fn out_type(name: &str, n_dims: usize, want: DType) -> DType {
    if n_dims <= 1
        || name.ends_with("_norm.weight")
        || name == "position_embd.weight"
        || name == "token_types.weight"
        || !name.ends_with(".weight")
    {
        DType::F32
    } else {
        want
    }
}

/// Maps, checks and types every tensor of the checkpoint.
pub(crate) fn plan(
    arch: Arch,
    tensors: &[TensorRef],
    map: &dyn Fn(&str) -> Result<Mapped, ConvertError>,
    want: DType,
) -> Result<Vec<Planned>, ConvertError> {
    let mut out: Vec<Planned> = Vec::new();
    for t in tensors {
        if t.name.ends_with(".attention.masked_bias")
            || t.name.ends_with(".attention.bias")
            || t.name.ends_with(".rotary_emb.inv_freq")
        {
            continue;
        }
        match map(&t.name)? {
            Mapped::Skip => {}
            Mapped::AnyShape(name) => {
                t.dtype()?;
                out.push(Planned {
                    out: out_type(&name, t.shape.len(), want),
                    name,
                    source: Source::Checkpoint(t.clone()),
                    shape: t.shape.clone(),
                    transform: Transform::None,
                });
            }
            Mapped::Unknown => {
                return Err(ConvertError::UnmappedTensor {
                    tensor: t.name.clone(),
                    arch: arch.gguf_name().into(),
                })
            }
            Mapped::To {
                name,
                expected,
                transform,
            } => {
                t.dtype()?;
                let check = match transform {
                    // gemma3 may hold more embedding rows than the vocabulary.
                    Transform::TrimRows(_) => t.shape.len() == 2 && t.shape[1] == expected[1],
                    _ => t.shape == expected,
                };
                if !check || (matches!(transform, Transform::TrimRows(n) if t.shape[0] < n)) {
                    return Err(ConvertError::ShapeMismatch {
                        tensor: t.name.clone(),
                        expected,
                        found: t.shape.clone(),
                    });
                }
                if out.iter().any(|p| p.name == name) {
                    return Err(ConvertError::UnmappedTensor {
                        tensor: format!("{} (a second tensor for {name})", t.name),
                        arch: arch.gguf_name().into(),
                    });
                }
                let shape = match transform {
                    Transform::TrimRows(n) => vec![n, t.shape[1]],
                    _ => t.shape.clone(),
                };
                out.push(Planned {
                    out: out_type(&name, shape.len(), want),
                    name,
                    source: Source::Checkpoint(t.clone()),
                    shape,
                    transform,
                });
            }
        }
    }
    Ok(out)
}

/// Checks that the tensors every layer needs are there, so a checkpoint missing one fails
/// here rather than in llama.cpp.
pub(crate) fn require(planned: &[Planned], names: &[String]) -> Result<(), ConvertError> {
    for n in names {
        if !planned.iter().any(|p| &p.name == n) {
            return Err(ConvertError::MissingTensor { tensor: n.clone() });
        }
    }
    Ok(())
}

/// `rope_parameters` as TextModel.__init__ normalises it.
pub(crate) fn rope_parameters(hp: &HParams) -> Map<String, Value> {
    let mut rp = hp
        .get("rope_parameters")
        .or_else(|| hp.get("rope_scaling"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let theta = hp
        .find(&[
            "global_rope_theta",
            "rope_global_theta",
            "rope_theta_global",
            "rope_theta",
            "rotary_emb_base",
        ])
        .map(|(_, v)| v.clone());
    let local = hp
        .find(&[
            "local_rope_theta",
            "rope_local_theta",
            "rope_theta_local",
            "swa_rope_theta",
            "rope_local_base_freq",
        ])
        .map(|(_, v)| v.clone());
    let partial = hp
        .find(&["partial_rotary_factor", "rope_pct", "rope_percent"])
        .map(|(_, v)| v.clone());
    let orig = hp.get("original_max_position_embeddings").cloned();
    if !rp.contains_key("full_attention") && !rp.contains_key("sliding_attention") {
        if let Some(l) = local {
            let mut m = Map::new();
            m.insert("rope_theta".into(), l);
            rp.insert("sliding_attention".into(), Value::Object(m));
        }
        if !rp.contains_key("rope_theta") {
            if let Some(t) = theta {
                rp.insert("rope_theta".into(), t);
            }
        }
        if !rp.contains_key("rope_type") {
            if let Some(t) = rp.get("type").cloned() {
                rp.insert("rope_type".into(), t);
            }
        }
        if !rp.contains_key("partial_rotary_factor") {
            if let Some(p) = partial {
                rp.insert("partial_rotary_factor".into(), p);
            }
        }
        if !rp.contains_key("original_max_position_embeddings") {
            if let Some(o) = orig {
                rp.insert("original_max_position_embeddings".into(), o);
            }
        }
    }
    rp
}

/// The rope parameters of full-attention layers.
pub(crate) fn full_rope(rp: &Map<String, Value>) -> Map<String, Value> {
    rp.get("full_attention")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(|| rp.clone())
}

fn put_u(
    meta: &mut Metadata,
    key: String,
    field: &str,
    v: Option<u64>,
) -> Result<(), ConvertError> {
    if let Some(v) = v {
        meta.u32(key, to_u32(field, v)?);
    }
    Ok(())
}

/// `TextModel.set_gguf_parameters`, for the keys the supported architectures use.
pub(crate) fn text_model_params(
    arch: &str,
    hp: &HParams,
    meta: &mut Metadata,
    file_type: u32,
    notes: &mut Vec<String>,
) -> Result<(), ConvertError> {
    let k = |s: &str| format!("{arch}.{s}");
    meta.u32(
        k("block_count"),
        to_u32("num_hidden_layers", hp.block_count()?)?,
    );
    let ctx_keys = [
        "max_position_embeddings",
        "n_ctx",
        "n_positions",
        "max_length",
        "max_sequence_length",
        "model_max_length",
    ];
    put_u(
        meta,
        k("context_length"),
        "max_position_embeddings",
        hp.find_u64(&ctx_keys)?,
    )?;
    put_u(
        meta,
        k("embedding_length"),
        "hidden_size",
        hp.find_u64(&["hidden_size", "n_embd", "dim"])?,
    )?;
    let ff_keys = [
        "prefix_dense_intermediate_size",
        "dense_intermediate_size",
        "intermediate_size",
        "n_inner",
        "hidden_dim",
    ];
    put_u(
        meta,
        k("feed_forward_length"),
        "intermediate_size",
        hp.find_u64(&ff_keys)?,
    )?;
    put_u(
        meta,
        k("attention.head_count"),
        "num_attention_heads",
        hp.find_u64(&["num_attention_heads", "n_head", "n_heads"])?,
    )?;
    put_u(
        meta,
        k("attention.head_count_kv"),
        "num_key_value_heads",
        hp.find_u64(&["num_key_value_heads", "n_kv_heads"])?,
    )?;
    if hp.bool("is_causal") == Some(false) {
        meta.bool(k("attention.causal"), false);
    }
    let rp = rope_parameters(hp);
    let full = full_rope(&rp);
    let f = |m: &Map<String, Value>, key: &str| m.get(key).and_then(Value::as_f64);
    if let Some(rope_type) = full.get("rope_type").and_then(Value::as_str) {
        let factor = f(&full, "factor");
        match (rope_type, factor) {
            ("linear", Some(factor)) => {
                meta.str(k("rope.scaling.type"), "linear");
                meta.f32(k("rope.scaling.factor"), factor as f32);
            }
            ("yarn", Some(factor)) => {
                meta.str(k("rope.scaling.type"), "yarn");
                meta.f32(k("rope.scaling.factor"), factor as f32);
                let orig = full
                    .get("original_max_position_embeddings")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| {
                        ConvertError::config(
                            "rope_scaling.original_max_position_embeddings",
                            "missing for yarn",
                        )
                    })?;
                meta.u32(
                    k("rope.scaling.original_context_length"),
                    to_u32("original_max_position_embeddings", orig)?,
                );
                if let Some(v) = f(&full, "extrapolation_factor") {
                    meta.f32(k("rope.scaling.yarn_ext_factor"), v as f32);
                }
                if let Some(v) = f(&full, "attention_factor").or_else(|| f(&full, "attn_factor")) {
                    meta.f32(k("rope.scaling.yarn_attn_factor"), v as f32);
                }
                if let Some(v) = f(&full, "beta_fast") {
                    meta.f32(k("rope.scaling.yarn_beta_fast"), v as f32);
                }
                if let Some(v) = f(&full, "beta_slow") {
                    meta.f32(k("rope.scaling.yarn_beta_slow"), v as f32);
                }
            }
            ("su" | "longrope", _) => meta.str(k("rope.scaling.type"), "longrope"),
            ("linear" | "yarn" | "dynamic" | "default", _) => {}
            (t, _) if t.eq_ignore_ascii_case("llama3") => {}
            (t, _) => notes.push(format!(
                "unknown RoPE scaling type {t:?} in config.json: not written"
            )),
        }
    }
    if let Some(theta) = f(&full, "rope_theta") {
        meta.f32(k("rope.freq_base"), theta as f32);
    }
    if let Some(local) = rp
        .get("sliding_attention")
        .and_then(|s| s.get("rope_theta"))
        .and_then(Value::as_f64)
    {
        meta.f32(k("rope.freq_base_swa"), local as f32);
    }
    if let Some(eps) = hp.find_f64(&["rms_norm_eps", "norm_eps"])? {
        meta.f32(k("attention.layer_norm_rms_epsilon"), eps as f32);
    }
    if let Some(eps) = hp.find_f64(&["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"])? {
        meta.f32(k("attention.layer_norm_epsilon"), eps as f32);
    }
    if let Some(hd) = hp.u64("head_dim")? {
        meta.u32(k("attention.key_length"), to_u32("head_dim", hd)?);
        meta.u32(k("attention.value_length"), to_u32("head_dim", hd)?);
    }
    meta.u32("general.file_type", file_type);
    Ok(())
}

/// Pooling type from the sentence-transformers Pooling module (`_try_set_pooling_type`):
/// MEAN = 1, CLS = 2, LAST = 3 (llama.cpp's `llama_pooling_type`).
pub(crate) fn pooling_type(dir: &std::path::Path) -> Result<Option<u32>, ConvertError> {
    use crate::hparams::read_json_opt;
    let mut path = None;
    if let Some(Value::Array(mods)) = read_json_opt(&dir.join("modules.json"))? {
        for m in mods {
            if m.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("Pooling"))
            {
                path = m
                    .get("path")
                    .and_then(Value::as_str)
                    .map(|p| dir.join(p).join("config.json"));
                break;
            }
        }
    } else if dir.join("1_Pooling/config.json").is_file() {
        path = Some(dir.join("1_Pooling/config.json"));
    }
    let Some(path) = path else { return Ok(None) };
    let Some(cfg) = read_json_opt(&path)? else {
        return Err(ConvertError::MissingFile {
            path,
            what: "the Pooling module named by modules.json".into(),
        });
    };
    let on = |k: &str| cfg.get(k).and_then(Value::as_bool) == Some(true);
    let t = if on("pooling_mode_mean_tokens") {
        1
    } else if on("pooling_mode_cls_token") {
        2
    } else if on("pooling_mode_lasttoken") {
        3
    } else {
        match cfg.get("pooling_mode").and_then(Value::as_str) {
            Some("mean") => 1,
            Some("cls") => 2,
            Some("lasttoken") => 3,
            _ => {
                return Err(ConvertError::Json {
                    path,
                    message: "only mean, cls and last-token pooling are supported".into(),
                })
            }
        }
    };
    Ok(Some(t))
}

/// Whether vectors are scaled to unit length: ingot's own key (llama.cpp has none), read by
/// ingot's engine. Absent, vectors are normalized, as OpenAI's and llama-server's are.
pub(crate) const NORMALIZE_KEY: &str = "ingot.embedding.normalize";

/// Whether the sentence-transformers pipeline ends with a Normalize module: `Some(true)`
/// when modules.json lists one, `Some(false)` when modules.json lists none, `None` without
/// modules.json.
fn normalizes(dir: &std::path::Path) -> Result<Option<bool>, ConvertError> {
    use crate::hparams::read_json_opt;
    Ok(match read_json_opt(&dir.join("modules.json"))? {
        Some(Value::Array(mods)) => Some(mods.iter().any(|m| {
            m.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("Normalize"))
        })),
        _ => None,
    })
}

/// Writes `{arch}.pooling_type` when the checkpoint has a Pooling module (and whether its
/// vectors are normalized, see [`NORMALIZE_KEY`]).
pub(crate) fn write_pooling(
    arch: &str,
    dir: &std::path::Path,
    meta: &mut Metadata,
) -> Result<Option<u32>, ConvertError> {
    let p = pooling_type(dir)?;
    if let Some(p) = p {
        meta.set(format!("{arch}.pooling_type"), GValue::U32(p));
        if let Some(normalize) = normalizes(dir)? {
            meta.set(NORMALIZE_KEY.to_string(), GValue::Bool(normalize));
        }
    }
    Ok(p)
}
