//! `GemmaModel`, `Gemma2Model`, `Gemma3Model` (text only). Gemma's RMSNorm multiplies by
//! `1 + w`, so convert adds 1 to every `*norm.weight`; gemma and gemma2 never write
//! `output.weight` (llama.cpp uses the tied embeddings).

use serde_json::Value;

use super::{
    full_rope, layer, rope_parameters, suffix, text_model_params, to, Arch, Dims, Mapped, Transform,
};
use crate::error::ConvertError;
use crate::gguf_writer::Metadata;
use crate::hparams::{to_u32, HParams};
use crate::tokenizer::{bpe, spm, SpecialVocab, TokFiles, VocabInfo};

/// Maps a gemma-family checkpoint tensor name. `n_vocab_real` trims gemma3's embeddings.
pub(crate) fn map(
    name: &str,
    arch: Arch,
    d: &Dims,
    tied: bool,
    n_vocab_real: Option<u64>,
) -> Mapped {
    let name = name.replace("language_model.", "");
    let (e, v) = (d.n_embd, d.vocab);
    let q = d.n_head * d.head_dim;
    let kv = d.n_kv * d.head_dim;
    let norm = |n: &str| {
        if n.ends_with("norm.weight") {
            Transform::AddOne
        } else {
            Transform::None
        }
    };
    match name.as_str() {
        "model.embed_tokens.weight" => {
            return match (arch, n_vocab_real) {
                (Arch::Gemma3, Some(n)) => to(
                    "token_embd".into(),
                    "weight",
                    &[n, e],
                    Transform::TrimRows(n),
                ),
                _ => to("token_embd".into(), "weight", &[v, e], Transform::None),
            }
        }
        "model.norm.weight" => return to("output_norm".into(), "weight", &[e], Transform::AddOne),
        "lm_head.weight" if arch != Arch::Gemma3 || tied => return Mapped::Skip,
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
    let t = norm(rest);
    let n = Transform::None;
    match (base, arch) {
        ("input_layernorm", _) => to(b("attn_norm"), kind, &[e], t),
        ("post_attention_layernorm", Arch::Gemma) => to(b("ffn_norm"), kind, &[e], t),
        ("post_attention_layernorm", _) => to(b("post_attention_norm"), kind, &[e], t),
        ("pre_feedforward_layernorm", Arch::Gemma2 | Arch::Gemma3) => {
            to(b("ffn_norm"), kind, &[e], t)
        }
        ("post_feedforward_layernorm", Arch::Gemma2 | Arch::Gemma3) => {
            to(b("post_ffw_norm"), kind, &[e], t)
        }
        ("self_attn.q_norm", Arch::Gemma3) => to(b("attn_q_norm"), kind, &[d.head_dim], t),
        ("self_attn.k_norm", Arch::Gemma3) => to(b("attn_k_norm"), kind, &[d.head_dim], t),
        ("self_attn.q_proj", _) => to(b("attn_q"), kind, &[q, e], n),
        ("self_attn.k_proj", _) => to(b("attn_k"), kind, &[kv, e], n),
        ("self_attn.v_proj", _) => to(b("attn_v"), kind, &[kv, e], n),
        ("self_attn.o_proj", _) => to(b("attn_output"), kind, &[e, q], n),
        ("mlp.gate_proj", _) => to(b("ffn_gate"), kind, &[d.n_ff, e], n),
        ("mlp.up_proj", _) => to(b("ffn_up"), kind, &[d.n_ff, e], n),
        ("mlp.down_proj", _) => to(b("ffn_down"), kind, &[e, d.n_ff], n),
        _ => Mapped::Unknown,
    }
}

/// `GemmaModel` / `Gemma2Model.set_gguf_parameters` (they do not call the generic one:
/// no rope base is written, llama.cpp's default applies).
pub(crate) fn gemma12_params(
    arch: Arch,
    hp: &HParams,
    meta: &mut Metadata,
    file_type: u32,
) -> Result<(), ConvertError> {
    let a = arch.gguf_name();
    let k = |s: &str| format!("{a}.{s}");
    let u = |key: &str| -> Result<u32, ConvertError> { to_u32(key, hp.require_u64(key)?) };
    meta.u32(k("context_length"), u("max_position_embeddings")?);
    meta.u32(k("embedding_length"), u("hidden_size")?);
    meta.u32(
        k("block_count"),
        to_u32("num_hidden_layers", hp.block_count()?)?,
    );
    meta.u32(k("feed_forward_length"), u("intermediate_size")?);
    let heads = u("num_attention_heads")?;
    meta.u32(k("attention.head_count"), heads);
    let kv = match hp.u64("num_key_value_heads")? {
        Some(v) => to_u32("num_key_value_heads", v)?,
        None => heads,
    };
    meta.u32(k("attention.head_count_kv"), kv);
    meta.f32(
        k("attention.layer_norm_rms_epsilon"),
        hp.require_f64("rms_norm_eps")? as f32,
    );
    meta.u32(k("attention.key_length"), u("head_dim")?);
    meta.u32(k("attention.value_length"), u("head_dim")?);
    meta.u32("general.file_type", file_type);
    if arch == Arch::Gemma2 {
        meta.f32(
            k("attn_logit_softcapping"),
            hp.require_f64("attn_logit_softcapping")? as f32,
        );
        meta.f32(
            k("final_logit_softcapping"),
            hp.require_f64("final_logit_softcapping")? as f32,
        );
        meta.u32(k("attention.sliding_window"), u("sliding_window")?);
    }
    Ok(())
}

/// `Gemma3Model.set_gguf_parameters`: the generic keys, then gemma3's defaults on top.
pub(crate) fn gemma3_params(
    hp: &HParams,
    meta: &mut Metadata,
    file_type: u32,
    notes: &mut Vec<String>,
) -> Result<(), ConvertError> {
    text_model_params("gemma3", hp, meta, file_type, notes)?;
    let or =
        |key: &str, d: u64| -> Result<u32, ConvertError> { to_u32(key, hp.u64(key)?.unwrap_or(d)) };
    meta.u32(
        "gemma3.context_length",
        or("max_position_embeddings", 131072)?,
    );
    meta.u32("gemma3.attention.head_count", or("num_attention_heads", 8)?);
    meta.f32(
        "gemma3.attention.layer_norm_rms_epsilon",
        hp.f64("rms_norm_eps")?.unwrap_or(1e-6) as f32,
    );
    meta.u32("gemma3.attention.key_length", or("head_dim", 256)?);
    meta.u32("gemma3.attention.value_length", or("head_dim", 256)?);
    let theta = full_rope(&rope_parameters(hp))
        .get("rope_theta")
        .and_then(Value::as_f64)
        .unwrap_or(1_000_000.0);
    meta.f32("gemma3.rope.freq_base", theta as f32);
    if hp.get("attn_logit_softcapping").is_some() {
        return Err(ConvertError::config(
            "attn_logit_softcapping",
            "gemma3 has no attention softcapping",
        ));
    }
    if let Some(cap) = hp.f64("final_logit_softcapping")?.filter(|c| *c != 0.0) {
        meta.f32("gemma3.final_logit_softcapping", cap as f32);
    }
    if hp.u64("sliding_window_pattern")? != Some(1) {
        meta.u32(
            "gemma3.attention.sliding_window",
            or("sliding_window", 0).and_then(|v| {
                if hp.get("sliding_window").is_none() {
                    Err(ConvertError::config("sliding_window", "missing"))
                } else {
                    Ok(v)
                }
            })?,
        );
    }
    meta.u32(
        "gemma3.attention.head_count_kv",
        or("num_key_value_heads", 4)?,
    );
    Ok(())
}

/// Gemma's vocabulary: SentencePiece from tokenizer.model (required by convert for gemma
/// and gemma2); gemma3 without it goes through byte-level BPE as convert does.
pub(crate) fn vocab(
    arch: Arch,
    files: &TokFiles,
    hp: &HParams,
    meta: &mut Metadata,
) -> Result<VocabInfo, ConvertError> {
    files.require_json()?;
    let spm_path = files.dir.join("tokenizer.model");
    if arch == Arch::Gemma3 && !spm_path.is_file() {
        let mut info = bpe::set_vocab_gpt2(files, hp, meta)?;
        info.notes.push("gemma3 without tokenizer.model: vocabulary written as byte-level BPE, as convert_hf_to_gguf.py does".into());
        return Ok(info);
    }
    if !spm_path.is_file() {
        return Err(ConvertError::MissingFile {
            path: spm_path,
            what: "gemma's SentencePiece model (tokenizer.model) is required".into(),
        });
    }
    let info = spm::set_vocab_sentencepiece(files, hp, meta)?;
    if arch == Arch::Gemma {
        // CodeGemma FIM ids; only the eot id has a GGUF key in gguf-py.
        let types = ["prefix", "suffix", "middle", "fsep", "eot"];
        let mut sv = SpecialVocab::new(files, hp, false, Some(&types), None)?;
        for (typ, id) in [
            ("prefix", 67),
            ("suffix", 69),
            ("middle", 68),
            ("fsep", 70),
            ("eot", 107),
        ] {
            sv.set_id(typ, Some(id), files)?;
        }
        sv.chat_template = None;
        sv.write(meta);
    }
    meta.bool("tokenizer.ggml.add_space_prefix", false);
    Ok(info)
}

/// gemma3's real vocabulary size, to which convert trims `embed_tokens`.
pub(crate) fn gemma3_vocab_len(
    files: &TokFiles,
    hp: &HParams,
) -> Result<Option<u64>, ConvertError> {
    if files.dir.join("tokenizer.model").is_file() {
        return Ok(Some(
            spm::create_vocab_sentencepiece(files, hp)?.0.len() as u64
        ));
    }
    let Some(json) = &files.json else {
        return Ok(None);
    };
    let vocab = json.pointer("/model/vocab").map(|v| match v {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => 0,
    });
    let added = json
        .get("added_tokens")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    Ok(vocab.map(|v| (v + added) as u64))
}
