//! The conversion itself: validate and plan everything, then stream tensors to
//! `<out>.partial` and rename it into place.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::arch::{self, bert, gemma, llama, Arch, Dims, Planned, Source, Transform};
use crate::dtype::{self, DType};
use crate::error::ConvertError;
use crate::gguf_writer::{self, Counting, Metadata, TensorInfo, Value as GValue};
use crate::hparams::HParams;
use crate::metadata;
use crate::safetensors::{self, TensorRef};
use crate::tokenizer::{self, TokFiles, VocabInfo};
use crate::{
    Capability, ConvertOptions, ConvertProgress, ConvertSummary, OutType, Pooling,
    SUPPORTED_ARCHITECTURES,
};

/// Elements converted at a time, bounding the extra memory of a type conversion.
const CHUNK: usize = 1 << 20;

/// `architectures[0]` of config.json (or its `model_type`), and what it converts to.
pub(crate) fn architecture(hp: &HParams) -> Result<(String, Arch), ConvertError> {
    let hf = match hp
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        Some(v) => v.as_str().unwrap_or_default().to_string(),
        None => match hp.str("model_type") {
            Some("llama") => "LlamaForCausalLM".into(),
            Some("mistral") => "MistralForCausalLM".into(),
            Some("qwen2") => "Qwen2ForCausalLM".into(),
            Some("gemma") => "GemmaForCausalLM".into(),
            Some("gemma2") => "Gemma2ForCausalLM".into(),
            Some("gemma3_text") => "Gemma3ForCausalLM".into(),
            Some("bert") => "BertModel".into(),
            Some(other) => other.to_string(),
            None => {
                return Err(ConvertError::config(
                    "architectures",
                    "missing (and no model_type)",
                ))
            }
        },
    };
    let arch = Arch::from_hf(&hf).ok_or_else(|| ConvertError::UnsupportedArchitecture {
        name: hf.clone(),
        supported: SUPPORTED_ARCHITECTURES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    })?;
    Ok((hf, arch))
}

/// Converts the checkpoint in `dir` to the GGUF file `out`.
///
/// Nothing is created until the checkpoint has been fully validated; on any error after
/// that, the partial output is removed and the error names `out`.
pub fn convert(
    dir: &Path,
    out: &Path,
    opts: &ConvertOptions,
    progress: &dyn ConvertProgress,
) -> Result<ConvertSummary, ConvertError> {
    convert_with(dir, out, opts, progress, &|f| Box::new(f))
}

/// [`convert`] with the output file wrapped by `wrap` (tests inject failing writers).
pub(crate) fn convert_with(
    dir: &Path,
    out: &Path,
    opts: &ConvertOptions,
    progress: &dyn ConvertProgress,
    wrap: &dyn Fn(File) -> Box<dyn Write>,
) -> Result<ConvertSummary, ConvertError> {
    let (hp, _) = HParams::load(dir)?;
    let (_, arch) = architecture(&hp)?;
    let files = TokFiles::load(dir)?;
    files.require_json()?;
    let tensors = safetensors::load_checkpoint(dir)?;
    let out_type = opts.out_type.unwrap_or_else(|| auto_out_type(&tensors));
    let file_type = out_type.file_type();
    let mut notes = Vec::new();
    let tied = hp.bool("tie_word_embeddings") == Some(true);
    let want = out_type.dtype();
    let a = arch.gguf_name();

    // Tensors.
    let mut planned = match arch {
        Arch::Llama | Arch::Qwen2 => {
            let d = Dims::decoder(&hp, None)?;
            let permute = arch == Arch::Llama;
            let mut p = arch::plan(
                arch,
                &tensors,
                &|n| Ok(llama::map(n, &d, permute, tied)),
                want,
            )?;
            require_layers(&p, &d)?;
            if arch == Arch::Llama {
                if let Some(freqs) = llama::llama3_rope_freqs(&hp)? {
                    p.insert(
                        0,
                        Planned {
                            name: "rope_freqs.weight".into(),
                            shape: vec![freqs.len() as u64],
                            source: Source::Generated(freqs),
                            transform: Transform::None,
                            out: DType::F32,
                        },
                    );
                }
            }
            p
        }
        Arch::Gemma | Arch::Gemma2 | Arch::Gemma3 => {
            let d = Dims::decoder(&hp, (arch == Arch::Gemma3).then_some(256))?;
            let n_real = if arch == Arch::Gemma3 {
                gemma::gemma3_vocab_len(&files, &hp)?
            } else {
                None
            };
            let p = arch::plan(
                arch,
                &tensors,
                &|n| Ok(gemma::map(n, arch, &d, tied, n_real)),
                want,
            )?;
            require_layers(&p, &d)?;
            p
        }
        Arch::Bert => {
            let d = bert::BertDims::new(&hp)?;
            let has_labels = bert::labels(&hp).is_some();
            let p = arch::plan(arch, &tensors, &|n| Ok(bert::map(n, &d, has_labels)), want)?;
            let mut need = vec!["token_embd.weight".to_string()];
            for i in 0..d.n_layer {
                need.extend(
                    [
                        "attn_q",
                        "attn_k",
                        "attn_v",
                        "attn_output",
                        "ffn_up",
                        "ffn_down",
                    ]
                    .iter()
                    .map(|t| format!("blk.{i}.{t}.weight")),
                );
            }
            arch::require(&p, &need)?;
            p
        }
    };
    for p in &mut planned {
        p.out = arch::out_type(&p.name, p.shape.len(), want);
        if matches!(p.source, Source::Generated(_)) {
            p.out = DType::F32;
        }
    }

    // Metadata, in convert's order: general, hyperparameters, quantization version, vocab.
    let name = opts.name.clone().unwrap_or_else(|| {
        dir.canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into())
    });
    let license = metadata::license(dir, &hp);
    let params: u64 = planned
        .iter()
        .map(|p| p.shape.iter().product::<u64>())
        .sum();
    let mut meta = Metadata::default();
    metadata::write_general(&mut meta, a, &name, params, license.as_deref(), dir)?;
    let mut pooling = None;
    match arch {
        Arch::Llama => {
            arch::text_model_params(a, &hp, &mut meta, file_type, &mut notes)?;
            llama::llama_params(&hp, &mut meta)?;
        }
        Arch::Qwen2 => {
            arch::text_model_params(a, &hp, &mut meta, file_type, &mut notes)?;
            pooling = arch::write_pooling(a, dir, &mut meta)?;
        }
        Arch::Gemma | Arch::Gemma2 => gemma::gemma12_params(arch, &hp, &mut meta, file_type)?,
        Arch::Gemma3 => gemma::gemma3_params(&hp, &mut meta, file_type, &mut notes)?,
        Arch::Bert => pooling = bert::params(&hp, dir, &mut meta, file_type, &mut notes)?,
    }
    meta.u32("general.quantization_version", 2);
    meta.u32("general.alignment", gguf_writer::ALIGNMENT as u32);
    let vocab: VocabInfo = match arch {
        Arch::Llama => llama::llama_vocab(&files, &hp, &mut meta)?,
        Arch::Qwen2 => llama::qwen2_vocab(&files, &hp, &mut meta)?,
        Arch::Gemma | Arch::Gemma2 | Arch::Gemma3 => gemma::vocab(arch, &files, &hp, &mut meta)?,
        Arch::Bert => tokenizer::wordpiece::set_vocab_bert(&files, &hp, &mut meta)?,
    };
    notes.extend(vocab.notes);
    if let Some(t) = &opts.chat_template {
        meta.remove("tokenizer.chat_templates");
        meta.entries
            .retain(|(k, _)| !k.starts_with("tokenizer.chat_template."));
        meta.str("tokenizer.chat_template", t.clone());
    }
    check_vocab_matches_embeddings(&planned, vocab.n_tokens)?;
    let has_template = matches!(meta.get("tokenizer.chat_template"), Some(GValue::Str(_)));

    let infos: Vec<TensorInfo> = planned
        .iter()
        .map(|p| TensorInfo {
            name: p.name.clone(),
            ne: p.shape.iter().rev().copied().collect(),
            dtype: p.out,
        })
        .collect();
    let bytes_written = write_file(out, &meta, &planned, &infos, progress, wrap)?;
    Ok(ConvertSummary {
        architecture: a.into(),
        output: out.to_path_buf(),
        bytes_written,
        tensor_count: planned.len(),
        pooling: pooling.and_then(|p| Pooling::from_llama(u64::from(p))),
        capability: if arch.is_encoder() {
            Capability::Embedding
        } else if has_template {
            Capability::Chat
        } else {
            Capability::Completion
        },
        license,
        out_type,
        notes,
    })
}

/// convert's `--outtype auto`: the type of the first tensor of two or more dimensions.
fn auto_out_type(tensors: &[TensorRef]) -> OutType {
    match tensors
        .iter()
        .find(|t| t.shape.len() >= 2)
        .map(|t| t.dtype_name.as_str())
    {
        Some("BF16") => OutType::BF16,
        _ => OutType::F16,
    }
}

fn require_layers(p: &[Planned], d: &Dims) -> Result<(), ConvertError> {
    let mut need = vec!["token_embd.weight".to_string()];
    for i in 0..d.n_layer {
        need.extend(
            [
                "attn_q",
                "attn_k",
                "attn_v",
                "attn_output",
                "ffn_down",
                "ffn_up",
            ]
            .iter()
            .map(|t| format!("blk.{i}.{t}.weight")),
        );
    }
    arch::require(p, &need)
}

/// llama.cpp refuses a token embedding whose rows differ from the vocabulary size.
fn check_vocab_matches_embeddings(p: &[Planned], n_tokens: usize) -> Result<(), ConvertError> {
    if let Some(e) = p.iter().find(|p| p.name == "token_embd.weight") {
        if e.shape[0] != n_tokens as u64 {
            return Err(ConvertError::ShapeMismatch {
                tensor: format!("token_embd.weight (vocabulary of {n_tokens} tokens)"),
                expected: vec![n_tokens as u64, e.shape[1]],
                found: e.shape.clone(),
            });
        }
    }
    Ok(())
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

fn write_file(
    out: &Path,
    meta: &Metadata,
    planned: &[Planned],
    infos: &[TensorInfo],
    progress: &dyn ConvertProgress,
    wrap: &dyn Fn(File) -> Box<dyn Write>,
) -> Result<u64, ConvertError> {
    let werr = |source: std::io::Error| ConvertError::Write {
        path: out.to_path_buf(),
        source,
    };
    if out.file_name().is_none() {
        return Err(werr(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file path",
        )));
    }
    let partial = partial_path(out);
    let file = File::create(&partial).map_err(werr)?;
    let result = (|| -> Result<u64, ConvertError> {
        let sync = file.try_clone().map_err(werr)?;
        let mut w = Counting {
            inner: BufWriter::with_capacity(1 << 20, wrap(file)),
            written: 0,
        };
        gguf_writer::write_header(&mut w, meta, infos).map_err(werr)?;
        let total = gguf_writer::data_size(infos);
        let start = w.written;
        progress.tensors(0, total);
        for (i, p) in planned.iter().enumerate() {
            progress.tensor(&p.name, i, planned.len());
            write_tensor(&mut w, p, &werr)?;
            gguf_writer::write_padding(&mut w).map_err(werr)?;
            progress.tensors(w.written - start, total);
        }
        w.flush().map_err(werr)?;
        drop(w);
        sync.sync_all().map_err(werr)?;
        Ok(sync.metadata().map_err(werr)?.len())
    })();
    match result {
        Ok(n) => {
            ingot_core::files::replace_file(&partial, out).map_err(|e| {
                let _ = std::fs::remove_file(&partial);
                werr(e)
            })?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn write_tensor<W: Write>(
    w: &mut Counting<W>,
    p: &Planned,
    werr: &dyn Fn(std::io::Error) -> ConvertError,
) -> Result<(), ConvertError> {
    let t = match &p.source {
        Source::Generated(v) => return w.write_all(&dtype::encode(DType::F32, v)).map_err(werr),
        Source::Checkpoint(t) => t,
    };
    let src = t.dtype()?;
    let mut raw = t.read()?;
    match p.transform {
        Transform::Permute(n_head) => raw = permute_rows(&raw, t, n_head)?,
        Transform::TrimRows(n) => {
            let row = (t.elements() / t.shape[0].max(1)) * src.size();
            raw.truncate((n * row) as usize);
        }
        Transform::None | Transform::AddOne => {}
    }
    if src == p.out && p.transform != Transform::AddOne {
        return w.write_all(&raw).map_err(werr);
    }
    let step = CHUNK * src.size() as usize;
    for chunk in raw.chunks(step) {
        let mut v = dtype::decode(src, chunk);
        if p.transform == Transform::AddOne {
            for x in &mut v {
                *x += 1.0;
                // torch adds in the tensor's own dtype when it is F16 (BF16 was made F32).
                if src == DType::F16 {
                    *x = dtype::f16_to_f32(dtype::f32_to_f16(*x));
                }
            }
        }
        w.write_all(&dtype::encode(p.out, &v)).map_err(werr)?;
    }
    Ok(())
}

/// `LlamaModel.permute` on whole rows: per head, rows `[half0 | half1]` become interleaved
/// pairs (`reshape(n_head, 2, r/2, ...).swapaxes(1, 2)`).
pub(crate) fn permute_rows(
    raw: &[u8],
    t: &TensorRef,
    n_head: u64,
) -> Result<Vec<u8>, ConvertError> {
    let rows = t.shape[0];
    if n_head == 0 || !rows.is_multiple_of(n_head * 2) {
        return Err(ConvertError::ShapeMismatch {
            tensor: format!(
                "{} (rows must split into {n_head} heads of even size)",
                t.name
            ),
            expected: vec![n_head * 2],
            found: t.shape.clone(),
        });
    }
    let row = raw.len() / rows as usize;
    let per_head = (rows / n_head) as usize;
    let half = per_head / 2;
    let mut out = vec![0u8; raw.len()];
    for h in 0..n_head as usize {
        for i in 0..half {
            for j in 0..2 {
                let dst = h * per_head + i * 2 + j;
                let src = h * per_head + j * half + i;
                out[dst * row..(dst + 1) * row].copy_from_slice(&raw[src * row..(src + 1) * row]);
            }
        }
    }
    Ok(out)
}
