//! Draft models for speculative decoding (`LoadOptions::draft`): loading one, and checking
//! that it shares the model's vocabulary, without which its token ids would mean other text.

use std::path::Path;
use std::sync::Arc;

use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::types::EngineError;

/// Loads the draft model at `path` and checks its vocabulary against `target`'s.
pub(crate) fn load_draft(
    target: &LlamaModel,
    path: &Path,
    gpu_layers: u32,
) -> Result<Arc<LlamaModel>, EngineError> {
    crate::gguf::validate(path)?;
    let params = LlamaModelParams::default().with_n_gpu_layers(gpu_layers);
    let draft = crate::backend::load_model(path, &params, "the draft model")?;
    if draft.is_recurrent() || draft.is_hybrid() {
        return Err(EngineError::Load {
            path: path.to_path_buf(),
            reason:
                "a recurrent model cannot draft: its state cannot be rewound after a rejected draft"
                    .into(),
        });
    }
    let (t, d) = (target.vocab(), draft.vocab());
    let text = |v: &llama_cpp_2::vocab::LlamaVocab<'_>, id: i32| {
        v.text(LlamaToken(id))
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default()
    };
    let difference = vocab_difference(
        (t.n_tokens(), d.n_tokens()),
        (
            t.vocab_type() == d.vocab_type(),
            [t.bos(), t.eos()] == [d.bos(), d.eos()],
        ),
        |id| text(&t, id),
        |id| text(&d, id),
    );
    match difference {
        None => Ok(Arc::new(draft)),
        Some(why) => Err(EngineError::Load {
            path: path.to_path_buf(),
            reason: format!(
                "it cannot be the draft model: the two vocabularies differ ({why}); a draft model must use the same tokenizer (e.g. a smaller model of the same family)"
            ),
        }),
    }
}

/// Where two vocabularies differ, in words, or `None` when they are the same: size, type,
/// BOS/EOS, then the text of every token.
fn vocab_difference(
    (n_target, n_draft): (i32, i32),
    (same_type, same_special): (bool, bool),
    target: impl Fn(i32) -> Vec<u8>,
    draft: impl Fn(i32) -> Vec<u8>,
) -> Option<String> {
    if n_target != n_draft {
        return Some(format!(
            "{n_draft} tokens in the draft, {n_target} in the model"
        ));
    }
    if !same_type {
        return Some("different tokenizer types".into());
    }
    if !same_special {
        return Some("different BOS/EOS tokens".into());
    }
    (0..n_target).find_map(|id| {
        let (a, b) = (target(id), draft(id));
        (a != b).then(|| {
            format!(
                "token {id} is {:?} in the draft and {:?} in the model",
                String::from_utf8_lossy(&b),
                String::from_utf8_lossy(&a)
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(words: &'static [&'static str]) -> impl Fn(i32) -> Vec<u8> {
        move |id| words[id as usize].as_bytes().to_vec()
    }

    #[test]
    fn differences_are_named() {
        let a = vocab(&["<s>", "hello", "world"]);
        assert_eq!(vocab_difference((3, 3), (true, true), &a, &a), None);
        let b = vocab(&["<s>", "hello", "word"]);
        let why = vocab_difference((3, 3), (true, true), &a, &b).unwrap();
        assert!(why.contains("token 2 is \"word\" in the draft"), "{why}");
        let why = vocab_difference((3, 4), (true, true), &a, &a).unwrap();
        assert!(
            why.contains("4 tokens in the draft, 3 in the model"),
            "{why}"
        );
        assert!(vocab_difference((3, 3), (false, true), &a, &a).is_some());
        assert!(vocab_difference((3, 3), (true, false), &a, &a).is_some());
    }
}
