//! `BertModel` (BertModel, BertForMaskedLM, BertForSequenceClassification): an encoder,
//! written as arch `bert` with non-causal attention; the pooler and the MLM / next-sentence
//! heads are dropped as convert drops them.

use super::{layer, suffix, text_model_params, to, write_pooling, Mapped, Transform};
use crate::error::ConvertError;
use crate::gguf_writer::{Metadata, Value as GValue};
use crate::hparams::HParams;

/// BERT dimensions from config.json.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BertDims {
    pub n_layer: u64,
    pub n_embd: u64,
    pub n_ff: u64,
    pub vocab: u64,
    pub n_pos: u64,
    pub n_types: u64,
}

impl BertDims {
    pub(crate) fn new(hp: &HParams) -> Result<Self, ConvertError> {
        Ok(BertDims {
            n_layer: hp.block_count()?,
            n_embd: hp.require_u64("hidden_size")?,
            n_ff: hp.require_u64("intermediate_size")?,
            vocab: hp.require_u64("vocab_size")?,
            n_pos: hp.require_u64("max_position_embeddings")?,
            n_types: hp.u64("type_vocab_size")?.unwrap_or(2),
        })
    }
}

/// Classifier labels, unless they are the dummy `LABEL_0`, `LABEL_1` AutoConfig adds.
pub(crate) fn labels(hp: &HParams) -> Option<Vec<String>> {
    let map = hp.get("id2label")?.as_object()?;
    let mut pairs: Vec<(i64, String)> = map
        .iter()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string())))
        .collect();
    pairs.sort();
    if pairs.is_empty() || (pairs.len() == 2 && pairs[0].1 == "LABEL_0") {
        return None;
    }
    Some(pairs.into_iter().map(|(_, v)| v).collect())
}

/// `BertModel.filter_tensors` + `modify_tensors` + the bert tensor map.
pub(crate) fn map(name: &str, d: &BertDims, has_labels: bool) -> Mapped {
    let mut name = name.strip_prefix("bert.").unwrap_or(name).to_string();
    if let Some(b) = name.strip_suffix(".gamma") {
        name = format!("{b}.weight");
    }
    if let Some(b) = name.strip_suffix(".beta") {
        name = format!("{b}.bias");
    }
    if matches!(
        name.as_str(),
        "embeddings.position_ids" | "pooler.dense.weight" | "pooler.dense.bias"
    ) || name.starts_with("cls.predictions")
        || name.starts_with("cls.seq_relationship")
    {
        return Mapped::Skip;
    }
    if has_labels {
        if name == "classifier.weight" {
            name = "classifier.out_proj.weight".into();
        } else if name == "classifier.bias" {
            name = "classifier.out_proj.bias".into();
        }
    }
    let e = d.n_embd;
    let Some((base, kind)) = suffix(&name) else {
        return Mapped::Unknown;
    };
    let n = Transform::None;
    match base {
        "embeddings.word_embeddings" => return to("token_embd".into(), kind, &[d.vocab, e], n),
        "embeddings.token_type_embeddings" => {
            return to("token_types".into(), kind, &[d.n_types, e], n)
        }
        "embeddings.position_embeddings" => {
            return to("position_embd".into(), kind, &[d.n_pos, e], n)
        }
        "embeddings.LayerNorm" => return to("token_embd_norm".into(), kind, &[e], n),
        // Head shapes depend on the number of labels: taken as found.
        "classifier" | "classifier.dense" => return Mapped::AnyShape(format!("cls.{kind}")),
        "classifier.out_proj" => return Mapped::AnyShape(format!("cls.output.{kind}")),
        _ => {}
    }
    let Some((bid, rest)) = layer(base, "encoder.layer.", d.n_layer) else {
        return Mapped::Unknown;
    };
    let b = |s: &str| format!("blk.{bid}.{s}");
    match rest {
        "attention.self.query" => to(b("attn_q"), kind, &[e, e], n),
        "attention.self.key" => to(b("attn_k"), kind, &[e, e], n),
        "attention.self.value" => to(b("attn_v"), kind, &[e, e], n),
        "attention.output.dense" => to(b("attn_output"), kind, &[e, e], n),
        "attention.output.LayerNorm" => to(b("attn_output_norm"), kind, &[e], n),
        "intermediate.dense" => to(b("ffn_up"), kind, &[d.n_ff, e], n),
        "output.dense" => to(b("ffn_down"), kind, &[e, d.n_ff], n),
        "output.LayerNorm" => to(b("layer_output_norm"), kind, &[e], n),
        _ => Mapped::Unknown,
    }
}

/// `BertModel.set_gguf_parameters`.
pub(crate) fn params(
    hp: &HParams,
    dir: &std::path::Path,
    meta: &mut Metadata,
    file_type: u32,
    notes: &mut Vec<String>,
) -> Result<Option<u32>, ConvertError> {
    text_model_params("bert", hp, meta, file_type, notes)?;
    meta.bool("bert.attention.causal", false);
    let pooling = write_pooling("bert", dir, meta)?;
    if let Some(l) = labels(hp) {
        meta.set("bert.classifier.output_labels", GValue::StrArray(l));
    }
    Ok(pooling)
}
