//! Converts a Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json) to a
//! GGUF file that llama.cpp loads exactly like the output of its own
//! `convert_hf_to_gguf.py`: same metadata keys, tensor names, tensor types and values.
//!
//! Everything is validated (architecture, tokenizer, every tensor's shape) before the
//! output is created; tensors are then streamed one at a time from the safetensors files to
//! `<out>.partial`, which is renamed into place only when complete and removed on any error.
//! There is no terminal output: progress goes through [`ConvertProgress`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod arch;
mod dtype;
mod error;
mod gguf_writer;
mod hparams;
mod metadata;
mod pipeline;
mod safetensors;
mod tokenizer;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use error::ConvertError;
pub use pipeline::convert;

/// Hugging Face architectures (`config.json` `architectures[0]`) this crate converts.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "LlamaForCausalLM",
    "LLaMAForCausalLM",
    "LlamaModel",
    "MistralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen2Model",
    "GemmaForCausalLM",
    "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
    "BertModel",
    "BertForMaskedLM",
    "BertForSequenceClassification",
];

/// Output tensor type of the (2-D) weights; 1-D tensors and norms stay F32 as in convert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutType {
    /// 32-bit float (`general.file_type` 0).
    F32,
    /// IEEE half (`general.file_type` 1).
    F16,
    /// bfloat16 (`general.file_type` 32).
    BF16,
}

impl OutType {
    /// The llama.cpp file type number written as `general.file_type`.
    pub fn file_type(self) -> u32 {
        match self {
            OutType::F32 => 0,
            OutType::F16 => 1,
            OutType::BF16 => 32,
        }
    }

    pub(crate) fn dtype(self) -> dtype::DType {
        match self {
            OutType::F32 => dtype::DType::F32,
            OutType::F16 => dtype::DType::F16,
            OutType::BF16 => dtype::DType::BF16,
        }
    }
}

/// Options of [`convert`].
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Weight type; `None` picks as convert's `--outtype auto` does: BF16 when the first
    /// 2-D tensor is BF16, else F16.
    pub out_type: Option<OutType>,
    /// `general.name`; default: the checkpoint folder's name.
    pub name: Option<String>,
    /// A chat template replacing the one of tokenizer_config.json (`--chat-template FILE`).
    pub chat_template: Option<String>,
}

/// Progress of a conversion. Every method has a no-op default.
pub trait ConvertProgress: Send + Sync {
    /// Called once the plan is known and after each tensor is written: bytes of tensor
    /// data written so far and in all.
    fn tensors(&self, done: u64, total_bytes: u64) {
        let _ = (done, total_bytes);
    }
    /// Called before each tensor is converted, with its GGUF name.
    fn tensor(&self, name: &str, index: usize, count: usize) {
        let _ = (name, index, count);
    }
}

/// A [`ConvertProgress`] that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ConvertProgress for NoProgress {}

/// Pooling of an embedding model (llama.cpp's numbers 1 mean, 2 cls, 3 last).
pub use ingot_core::embed::Pooling;
/// What the model is for (ingot's one capability vocabulary): `embedding` for encoders,
/// `chat` for decoders with a chat template, `completion` otherwise.
pub use ingot_core::Capability;

/// What [`inspect`] finds in a checkpoint folder, without converting it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// `config.json` `architectures[0]`.
    pub hf_architecture: String,
    /// The GGUF architecture it converts to (`llama`, `bert`, ...).
    pub architecture: String,
    /// An embedding model (encoder).
    pub is_encoder: bool,
    /// Number of parameters (elements of all safetensors tensors).
    pub params: u64,
    /// Licence from the model card (or config.json).
    pub license: Option<String>,
    /// Pooling from the sentence-transformers Pooling module.
    pub pooling: Option<Pooling>,
    /// Trained context length (`max_position_embeddings`).
    pub context_length: Option<u64>,
    /// Whether tokenizer.json is present.
    pub has_tokenizer: bool,
    /// Bytes of tensor data in the safetensors files.
    pub total_bytes: u64,
}

/// What [`convert`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertSummary {
    /// The GGUF architecture.
    pub architecture: String,
    /// The output file.
    pub output: PathBuf,
    /// Size of the output file.
    pub bytes_written: u64,
    /// Number of tensors written.
    pub tensor_count: usize,
    /// Pooling, for embedding models.
    pub pooling: Option<Pooling>,
    /// What the model can serve.
    pub capability: Capability,
    /// The licence written as `general.license`.
    pub license: Option<String>,
    /// The weight type used.
    pub out_type: OutType,
    /// Things the user may want to know (fallbacks taken).
    pub notes: Vec<String>,
}

/// Reads config.json, the safetensors headers and the model card of `dir`.
pub fn inspect(dir: &Path) -> Result<Checkpoint, ConvertError> {
    let (hp, _) = hparams::HParams::load(dir)?;
    let (hf, arch) = pipeline::architecture(&hp)?;
    let tensors = safetensors::load_checkpoint(dir)?;
    let pooling = if arch.is_encoder() {
        arch::pooling_type(dir)?.and_then(|p| Pooling::from_llama(u64::from(p)))
    } else {
        None
    };
    Ok(Checkpoint {
        hf_architecture: hf,
        architecture: arch.gguf_name().into(),
        is_encoder: arch.is_encoder(),
        params: tensors.iter().map(|t| t.elements()).sum(),
        license: metadata::license(dir, &hp),
        pooling,
        context_length: hp.u64("max_position_embeddings").ok().flatten(),
        has_tokenizer: dir.join("tokenizer.json").is_file(),
        total_bytes: tensors.iter().map(|t| t.nbytes).sum(),
    })
}
