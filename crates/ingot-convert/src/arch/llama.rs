//! `LlamaModel` (llama, mistral, SmolLM) and `Qwen2Model`: the HF llama tensor layout.
//! Llama un-permutes Q/K rows (HF stores rotary halves, llama.cpp interleaved pairs);
//! Qwen2 keeps HF order (llama.cpp uses NEOX rope for it) and has Q/K/V biases.

use serde_json::Value;

use super::{full_rope, layer, rope_parameters, suffix, to, Dims, Mapped, Transform};
use crate::error::ConvertError;
use crate::gguf_writer::Metadata;
use crate::hparams::{to_u32, HParams};
use crate::tokenizer::{bpe, spm, TokFiles, VocabInfo};

/// Maps a llama/qwen2 checkpoint tensor name. `permute` is true for llama.
pub(crate) fn map(name: &str, d: &Dims, permute: bool, tied: bool) -> Mapped {
    let name = name
        .replace("text_model.", "")
        .replace("language_model.", "");
    // `LlamaModel` / `Qwen2Model` checkpoints have no `model.` prefix.
    let name = if name.starts_with("layers.")
        || name.starts_with("embed_tokens.")
        || name == "norm.weight"
    {
        format!("model.{name}")
    } else {
        name
    };
    let (e, v) = (d.n_embd, d.vocab);
    let q = d.n_head * d.head_dim;
    let kv = d.n_kv * d.head_dim;
    match name.as_str() {
        "model.embed_tokens.weight" => {
            return to("token_embd".into(), "weight", &[v, e], Transform::None)
        }
        "model.norm.weight" => return to("output_norm".into(), "weight", &[e], Transform::None),
        "lm_head.weight" if tied => return Mapped::Skip,
        "lm_head.weight" => return to("output".into(), "weight", &[v, e], Transform::None),
        _ => {}
    }
    let Some((bid, rest)) = layer(&name, "model.layers.", d.n_layer) else {
        return Mapped::Unknown;
    };
    let Some((base, kind)) = suffix(rest) else {
        return Mapped::Unknown;
    };
    let b = |s: &str| format!("blk.{bid}.{s}");
    let perm = |n: u64| {
        if permute {
            Transform::Permute(n)
        } else {
            Transform::None
        }
    };
    match (base, kind) {
        ("input_layernorm", "weight") => to(b("attn_norm"), kind, &[e], Transform::None),
        ("post_attention_layernorm", "weight") => to(b("ffn_norm"), kind, &[e], Transform::None),
        ("self_attn.q_proj", _) => to(b("attn_q"), kind, &[q, e], perm(d.n_head)),
        ("self_attn.k_proj", _) => to(b("attn_k"), kind, &[kv, e], perm(d.n_kv)),
        ("self_attn.v_proj", _) => to(b("attn_v"), kind, &[kv, e], Transform::None),
        ("self_attn.o_proj", _) => to(b("attn_output"), kind, &[e, q], Transform::None),
        ("mlp.gate_proj", _) => to(b("ffn_gate"), kind, &[d.n_ff, e], Transform::None),
        ("mlp.up_proj", _) => to(b("ffn_up"), kind, &[d.n_ff, e], Transform::None),
        ("mlp.down_proj", _) => to(b("ffn_down"), kind, &[e, d.n_ff], Transform::None),
        _ => Mapped::Unknown,
    }
}

/// `LlamaModel.set_gguf_parameters` additions.
pub(crate) fn llama_params(hp: &HParams, meta: &mut Metadata) -> Result<(), ConvertError> {
    meta.u32(
        "llama.vocab_size",
        to_u32("vocab_size", hp.require_u64("vocab_size")?)?,
    );
    let rope_dim = match hp.u64("head_dim")? {
        Some(d) => d,
        None => {
            let heads = hp.require_u64("num_attention_heads")?.max(1);
            hp.require_u64("hidden_size")? / heads
        }
    };
    meta.u32("llama.rope.dimension_count", to_u32("head_dim", rope_dim)?);
    Ok(())
}

/// Llama 3's `rope_freqs` (`LlamaModel.generate_extra_tensors`), when the rope type is
/// "llama3".
pub(crate) fn llama3_rope_freqs(hp: &HParams) -> Result<Option<Vec<f32>>, ConvertError> {
    let rp = full_rope(&rope_parameters(hp));
    let is_llama3 = rp
        .get("rope_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("llama3"));
    if !is_llama3 {
        return Ok(None);
    }
    let g = |k: &str, d: f64| rp.get(k).and_then(Value::as_f64).unwrap_or(d);
    let base = g("rope_theta", 10000.0) as f32;
    let dim = match hp.u64("head_dim")? {
        Some(d) => d,
        None => hp.require_u64("hidden_size")? / hp.require_u64("num_attention_heads")?.max(1),
    };
    let factor = g("factor", 8.0) as f32;
    let low = g("low_freq_factor", 1.0) as f32;
    let high = g("high_freq_factor", 4.0) as f32;
    let old_ctx = g("original_max_position_embeddings", 8192.0) as f32;
    let low_wavelen = old_ctx / low;
    let high_wavelen = old_ctx / high;
    // float32 throughout, as the torch code computes it.
    let mut out = Vec::new();
    for i in (0..dim).step_by(2) {
        let freq = 1.0f32 / base.powf(i as f32 / dim as f32);
        let wavelen = 2.0 * std::f32::consts::PI / freq;
        if wavelen < high_wavelen {
            out.push(1.0);
        } else if wavelen > low_wavelen {
            out.push(factor);
        } else {
            let smooth = (old_ctx / wavelen - low) / (high - low);
            out.push(1.0 / ((1.0 - smooth) / factor + smooth));
        }
    }
    Ok(Some(out))
}

/// `LlamaModel.set_vocab`: tokenizer.model, else a byte-fallback BPE tokenizer.json
/// (`LlamaHfVocab`), else byte-level BPE.
pub(crate) fn llama_vocab(
    files: &TokFiles,
    hp: &HParams,
    meta: &mut Metadata,
) -> Result<VocabInfo, ConvertError> {
    files.require_json()?;
    if let Some(v) = files
        .config
        .as_ref()
        .and_then(|c| c.get("add_prefix_space"))
        .and_then(Value::as_bool)
    {
        meta.bool("tokenizer.ggml.add_space_prefix", v);
    }
    let info = if files.dir.join("tokenizer.model").is_file() {
        spm::set_vocab_sentencepiece(files, hp, meta)?
    } else if spm::is_llama_hf(files) {
        spm::set_vocab_llama_hf(files, hp, meta)?
    } else {
        bpe::set_vocab_gpt2(files, hp, meta)?
    };
    // convert_hf_to_gguf.py: "Apply to granite small models only" (any 49152-token llama,
    // SmolLM included).
    if hp.u64("vocab_size")? == Some(49152) {
        meta.bool("tokenizer.ggml.add_bos_token", false);
    }
    Ok(info)
}

/// `Qwen2Model.set_vocab`: tokenizer.model, else byte-level BPE.
pub(crate) fn qwen2_vocab(
    files: &TokFiles,
    hp: &HParams,
    meta: &mut Metadata,
) -> Result<VocabInfo, ConvertError> {
    files.require_json()?;
    if files.dir.join("tokenizer.model").is_file() {
        spm::set_vocab_sentencepiece(files, hp, meta)
    } else {
        bpe::set_vocab_gpt2(files, hp, meta)
    }
}
