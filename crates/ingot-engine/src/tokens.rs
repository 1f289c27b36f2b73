//! Tokenization and the prompt bounds checked before it: the one place that turns text into
//! llama.cpp tokens for generation, token counts and embeddings.

use std::path::Path;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::types::{EngineError, Tokenizer};

/// Tokenizes with special-token parsing; removes a doubled BOS (template already starts with
/// the BOS text *and* the vocabulary asks for one), which would otherwise degrade output.
pub(crate) fn tokenize(
    model: &LlamaModel,
    text: &str,
    add_bos: bool,
) -> Result<Vec<LlamaToken>, EngineError> {
    // llama_tokenize takes an i32 length; the binding panics beyond it.
    if text.len() > (i32::MAX / 2) as usize {
        return Err(EngineError::InvalidRequest(format!(
            "prompt too large ({} bytes)",
            text.len()
        )));
    }
    let vocab = model.vocab();
    let mut tokens = vocab.tokenize(text.as_bytes(), add_bos, true);
    if add_bos && tokens.len() >= 2 && tokens[0] == tokens[1] && tokens[0] == vocab.bos() {
        tokens.remove(0);
    }
    Ok(tokens)
}

/// The longest text of any token of the vocabulary, in bytes: an upper bound on the prompt
/// bytes one token covers, so a prompt needs at least `bytes / max_token_bytes` tokens.
///
/// It holds for the byte-level BPE and SentencePiece vocabularies (nearly every generative
/// model): their tokenizers consume the input bytes without normalizing them away, and a
/// token's stored text is never shorter than the bytes it stands for (`Ġ`, `▁` and `<0x0A>`
/// are longer); special tokens match their text exactly. WordPiece and Unigram tokenizers
/// normalize (collapse whitespace, strip accents), so they get no bound (`None`): their
/// prompts are tokenized and checked by token count only.
pub(crate) fn max_token_bytes(model: &LlamaModel) -> Option<usize> {
    use llama_cpp_2::model::VocabType;
    let vocab = model.vocab();
    if !matches!(vocab.vocab_type(), VocabType::BPE | VocabType::SPM) {
        return None;
    }
    (0..vocab.n_tokens())
        .map(|t| vocab.text(LlamaToken(t)).map_or(0, |c| c.to_bytes().len()))
        .max()
        .filter(|&m| m > 0)
}

/// Refuses, by its byte length alone, a prompt that cannot fit `n_ctx` even with a single
/// generated token (issue 12: a 2 MB prompt was tokenized in full before the context check).
/// A prompt that passes is at most `n_ctx × max_token_bytes` bytes, so tokenizing it is
/// bounded too; the exact check (with `max_tokens`) follows tokenization.
pub(crate) fn check_prompt_bytes(
    bytes: usize,
    max_token_bytes: Option<usize>,
    n_ctx: u32,
) -> Result<(), EngineError> {
    let Some(per_token) = max_token_bytes else {
        return Ok(());
    };
    let min_tokens = bytes.div_ceil(per_token.max(1)) as u64;
    if min_tokens >= u64::from(n_ctx) {
        return Err(EngineError::PromptTooLong {
            bytes: bytes as u64,
            min_tokens,
            n_ctx,
        });
    }
    Ok(())
}

/// BOS/EOS token texts for templates; empty when the vocabulary has none.
pub(crate) fn special_texts(model: &LlamaModel) -> (String, String) {
    let vocab = model.vocab();
    let n = vocab.n_tokens();
    // Out-of-range ids (LLAMA_TOKEN_NULL = -1) must not reach llama_vocab_get_text, which
    // would throw across the FFI boundary.
    let text = |t: LlamaToken| {
        if t.0 >= 0 && t.0 < n {
            vocab
                .text(t)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    (text(vocab.bos()), text(vocab.eos()))
}

/// A model's vocabulary alone (llama.cpp's `vocab_only` load: no weights, a few MB), for
/// counting tokens in text that some other process generated, e.g. `ingot bench --endpoint`
/// against a server that reports no `usage`.
pub struct LlamaTokenizer {
    model: LlamaModel,
}

impl LlamaTokenizer {
    /// Loads the vocabulary of the GGUF file at `path` (validated first, like [`crate::LlamaEngine`]
    /// loads).
    pub fn load(path: &Path) -> Result<Self, EngineError> {
        crate::gguf::validate(path)?;
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model = crate::backend::load_model(path, &params, "its vocabulary")?;
        Ok(Self { model })
    }
}

impl Tokenizer for LlamaTokenizer {
    fn count(&self, text: &str) -> Result<u32, EngineError> {
        let n = tokenize(&self.model, text, false)?.len();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_bytes_beyond_the_context_are_refused_before_tokenizing() {
        // 4096 tokens of at most 64 bytes each: 262,080 bytes may still fit with one more.
        assert!(check_prompt_bytes(4095 * 64, Some(64), 4096).is_ok());
        assert!(check_prompt_bytes(4096 * 64, Some(64), 4096).is_err());
        // No bound for vocabularies that normalize.
        assert!(check_prompt_bytes(2_000_000, None, 4096).is_ok());
        let e = check_prompt_bytes(2_000_000, Some(64), 4096).unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::PromptTooLong {
                    bytes: 2_000_000,
                    min_tokens: 31250,
                    n_ctx: 4096
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("2000000 bytes"), "{e}");
    }
}
