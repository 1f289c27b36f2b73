//! The raw next-token logits of a model for given token ids: how an import is checked
//! against a reference forward pass (issue 15: a converted checkpoint must give the logits
//! PyTorch gives, within 1e-2), and a low-level tool for comparing conversions.

use std::num::NonZeroU32;
use std::path::Path;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use ingot_core::EngineError;

use crate::backend::{self, backend};

/// Logits of every position of `tokens` (one vector of `n_vocab` floats per token), from a
/// fresh context on the GGUF at `path`. The ids are used as given: no BOS is added.
pub fn logits_for_tokens(path: &Path, tokens: &[i32]) -> Result<Vec<Vec<f32>>, EngineError> {
    crate::gguf::validate(path)?;
    let model = LlamaModel::load_from_file(backend()?, path, &LlamaModelParams::default())
        .map_err(|e| EngineError::InvalidModel {
            path: path.to_path_buf(),
            reason: backend::take_last_error().unwrap_or_else(|| e.to_string()),
        })?;
    let n_vocab = model.vocab().n_tokens();
    if tokens.is_empty() {
        return Err(EngineError::InvalidRequest("no tokens".into()));
    }
    if let Some(bad) = tokens.iter().find(|&&t| t < 0 || t >= n_vocab) {
        return Err(EngineError::InvalidRequest(format!(
            "token id {bad} is outside the vocabulary (0..{n_vocab})"
        )));
    }
    let n = u32::try_from(tokens.len())
        .ok()
        .filter(|n| *n <= model.n_ctx_train().max(1))
        .ok_or_else(|| {
            EngineError::InvalidRequest(format!(
                "{} tokens do not fit the model's context of {}",
                tokens.len(),
                model.n_ctx_train()
            ))
        })?;
    let n_ctx = n.max(64).next_multiple_of(256);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_ctx)
        .with_n_ubatch(n_ctx)
        .with_n_seq_max(1);
    let mut ctx = model
        .new_context(backend()?, params)
        .map_err(|e| EngineError::Backend(format!("cannot create a context: {e}")))?;
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    for (i, t) in tokens.iter().enumerate() {
        batch
            .add(LlamaToken(*t), i as i32, &[0], true)
            .map_err(|e| EngineError::Backend(e.to_string()))?;
    }
    ctx.decode(&mut batch)
        .map_err(|e| EngineError::Backend(format!("decode failed: {e}")))?;
    Ok((0..tokens.len())
        .map(|i| ctx.get_logits_ith(i as i32).to_vec())
        .collect())
}
