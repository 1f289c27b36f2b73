//! Building llama.cpp sampler chains from [`SamplingParams`].

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use crate::types::{EngineError, SamplingParams};
pub(crate) use ingot_core::sampling::{grammar_error, validate, validate_for_context};

/// Turns a checked [`SamplingParams::json_schema`] into the `grammar` that enforces it,
/// through llama.cpp's converter.
pub(crate) fn resolve_json_schema(p: &mut SamplingParams) -> Result<(), EngineError> {
    if let Some(js) = p.json_schema.take() {
        p.grammar = Some(js.grammar(&crate::llama_json_schema_converter)?);
    }
    Ok(())
}

/// The repeat penalty's window: `-1` is the whole context; never more than the context.
pub(crate) fn penalty_window(repeat_last_n: i32, n_ctx_seq: u32) -> i32 {
    let n_ctx = i32::try_from(n_ctx_seq).unwrap_or(i32::MAX);
    if repeat_last_n < 0 {
        n_ctx
    } else {
        repeat_last_n.min(n_ctx)
    }
}

/// Stack for building a grammar sampler. llama.cpp's parser and its left-recursion check
/// recurse once per nested group or chained rule; the bounds of [`crate::grammar`] keep that
/// to a few thousand frames, and a dedicated thread with a large (lazily committed) stack
/// keeps even those clear of the 2 MiB of a runtime or blocking-pool thread.
const GRAMMAR_STACK_BYTES: usize = 64 << 20;

/// Checks `grammar` against the model and builds its sampler on a thread with a large stack.
fn build_grammar(model: &LlamaModel, grammar: &str) -> Result<LlamaSampler, EngineError> {
    let vocab = model.vocab();
    let single_token = |text: &str| vocab.tokenize(text.as_bytes(), false, true).len() == 1;
    crate::grammar::check(grammar, &single_token).map_err(grammar_error)?;
    std::thread::scope(|s| {
        let built = std::thread::Builder::new()
            .name("ingot-grammar".into())
            .stack_size(GRAMMAR_STACK_BYTES)
            .spawn_scoped(s, || {
                crate::backend::clear_last_error();
                LlamaSampler::grammar(model, grammar, "root").map_err(|e| {
                    // The log record is per thread: take it here.
                    let detail = crate::backend::take_last_error().unwrap_or_default();
                    grammar_error(
                        format!("llama.cpp refused it ({e}) {detail}")
                            .trim_end()
                            .to_string(),
                    )
                })
            })
            .map_err(|e| EngineError::Backend(format!("cannot start the grammar thread: {e}")))?;
        built
            .join()
            .unwrap_or_else(|_| Err(EngineError::Backend("the grammar thread panicked".into())))
    })
}

/// llama.cpp seeds are 32-bit; fold the 64-bit API seed so all its bits matter.
pub(crate) fn seed32(seed: u64) -> u32 {
    (seed ^ (seed >> 32)) as u32
}

/// A request's sampler: the llama.cpp chain, plus the grammar kept *outside* the chain.
///
/// Why separate: `llama_sampler_sample` accepts the chosen token into every sampler of the
/// chain, and a grammar sampler throws a C++ exception (which aborts the process across the
/// FFI boundary) if that token violates the grammar, which happens when the grammar leaves no
/// token possible. With the grammar outside, constrained requests are sampled step by step and
/// the grammar's accept goes through llama-cpp-2's exception-catching wrapper, so a dead-end
/// grammar fails the request instead of the process. Unconstrained requests keep the fast
/// single-call path.
pub(crate) struct Sampler {
    chain: LlamaSampler,
    grammar: Option<LlamaSampler>,
    /// Plain greedy (temperature 0, no penalty, no grammar): an argmax straight over the
    /// logits. `llama_sampler_sample` would first copy all n_vocab logits into a candidate
    /// array; with 8 sequences per step that copy was ~1% of a decode step on 2 cores, spent
    /// while the other OpenMP thread spins (issue 4 throughput comparison).
    greedy: bool,
}

impl Sampler {
    /// Builds: grammar (if any) → repeat penalty → then either greedy (temperature 0) or
    /// top-k → top-p → min-p → temperature → dist(seed). `n_ctx_seq` resolves
    /// `repeat_last_n = -1` ("the whole context") like llama.cpp's CLI does and bounds it
    /// (see [`validate_for_context`]); the grammar is bounded by [`crate::grammar::check`].
    pub fn new(
        model: &LlamaModel,
        p: &SamplingParams,
        n_ctx_seq: u32,
    ) -> Result<Self, EngineError> {
        validate_for_context(p, n_ctx_seq)?;
        let grammar = match &p.grammar {
            None => None,
            Some(g) => Some(build_grammar(model, g)?),
        };
        let greedy = grammar.is_none() && p.temperature <= 0.0 && !p.has_penalties();
        let mut chain = Vec::with_capacity(6);
        if p.has_penalties() {
            chain.push(LlamaSampler::penalties(
                model.n_vocab(),
                penalty_window(p.repeat_last_n, n_ctx_seq),
                p.repeat_penalty,
                p.frequency_penalty,
                p.presence_penalty,
            ));
        }
        if p.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            // top_k at or above the vocabulary keeps every token: skip the sort it would cost.
            if p.top_k > 0 && p.top_k < model.n_vocab() {
                chain.push(LlamaSampler::top_k(p.top_k));
            }
            if p.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(p.top_p, 1));
            }
            if p.min_p > 0.0 {
                chain.push(LlamaSampler::min_p(p.min_p, 1));
            }
            chain.push(LlamaSampler::temp(p.temperature));
            chain.push(LlamaSampler::dist(seed32(p.seed)));
        }
        // no_perf: we time requests ourselves; llama.cpp's sampler perf counters are unused.
        Ok(Self {
            chain: LlamaSampler::chain(chain, true),
            grammar,
            greedy,
        })
    }

    /// Feeds prompt tokens to the repeat penalty's history (not to the grammar, which
    /// constrains only the output).
    pub fn accept_prompt(&mut self, tokens: &[LlamaToken]) {
        self.chain.accept_many(tokens);
    }

    /// Samples from the logits of batch row `idx` and records the token.
    pub fn sample(&mut self, ctx: &LlamaContext<'_>, idx: i32) -> Result<LlamaToken, EngineError> {
        if self.greedy {
            // The greedy chain keeps no state, so skipping its accept changes nothing.
            return Ok(LlamaToken(argmax(ctx.get_logits_ith(idx)) as i32));
        }
        if self.grammar.is_none() {
            return Ok(self.chain.sample(ctx, idx));
        }
        self.sample_with_grammar(|| ctx.token_data_array_ith(idx))
    }

    /// [`Self::sample`] from a row of logits kept elsewhere (a repeated prompt's, see the
    /// scheduler's `saved_logits`): the same samplers, the same state changes.
    pub fn sample_logits(&mut self, logits: &[f32]) -> Result<LlamaToken, EngineError> {
        if self.greedy {
            return Ok(LlamaToken(argmax(logits) as i32));
        }
        let candidates = || {
            LlamaTokenDataArray::from_iter(
                (0_i32..)
                    .zip(logits)
                    .map(|(id, &logit)| LlamaTokenData::new(LlamaToken(id), logit, 0.0)),
                false,
            )
        };
        if self.grammar.is_none() {
            // What `llama_sampler_sample` does with a context's row: apply, then accept.
            let mut c = candidates();
            c.apply_sampler(&mut self.chain);
            let token = selected_token(&c).ok_or_else(|| {
                EngineError::Backend("the sampler chain selected no token".into())
            })?;
            self.chain.accept(token);
            return Ok(token);
        }
        self.sample_with_grammar(candidates)
    }

    /// The grammar-constrained part of [`Self::sample`], over `candidates()` (a fresh array
    /// of the row's logits per call).
    fn sample_with_grammar(
        &mut self,
        candidates: impl Fn() -> LlamaTokenDataArray,
    ) -> Result<LlamaToken, EngineError> {
        let Some(grammar) = self.grammar.as_mut() else {
            return Err(EngineError::Backend("no grammar to sample with".into()));
        };
        let dead_end = || {
            EngineError::InvalidRequest("the grammar allows no continuation of the output".into())
        };
        // Fast path, as llama.cpp's own `common_sampler_sample` does: sample without the
        // grammar, then ask the grammar about that one token. Applying a grammar costs a
        // walk of its parse stacks per candidate, so over a 49k-token vocabulary it was most
        // of each step; a token the grammar allows is the answer either way (greedy: the
        // argmax is allowed, so it is also the allowed argmax).
        let mut first = candidates();
        first.apply_sampler(&mut self.chain);
        if let Some(token) = selected_token(&first) {
            let mut single =
                LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
            single.apply_sampler(grammar);
            if single.data.first().is_some_and(|d| d.logit().is_finite()) {
                grammar.try_accept(token).map_err(|_| dead_end())?;
                self.chain.accept(token);
                return Ok(token);
            }
        }
        // The grammar refused it: constrain all candidates first, then sample among them.
        let mut all = candidates();
        all.apply_sampler(grammar);
        all.apply_sampler(&mut self.chain);
        let token = selected_token(&all).ok_or_else(dead_end)?;
        grammar.try_accept(token).map_err(|_| dead_end())?;
        self.chain.accept(token);
        Ok(token)
    }
}

/// The token a sampler chain selected, if it selected one with a finite logit (a grammar
/// that allows nothing leaves every logit at −∞).
fn selected_token(candidates: &LlamaTokenDataArray) -> Option<LlamaToken> {
    candidates
        .selected
        .and_then(|i| candidates.data.get(i))
        .filter(|d| d.logit().is_finite())
        .map(|d| d.id())
}

/// Index of the first largest logit: the same tie rule as llama.cpp's greedy sampler (strict
/// `>`, so the lowest token id wins a tie and NaNs are never chosen over a number), so
/// outputs match the sampler chain token for token.
pub(crate) fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate().skip(1) {
        if l > logits[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_maximum_like_llama_greedy() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[5.0]), 0);
        assert_eq!(argmax(&[-1.0, f32::NAN, 0.5]), 2);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), 0);
    }

    #[test]
    fn validation() {
        assert!(validate(&SamplingParams::default()).is_ok());
        let bad = [
            SamplingParams {
                temperature: f32::NAN,
                ..Default::default()
            },
            SamplingParams {
                temperature: -1.0,
                ..Default::default()
            },
            SamplingParams {
                top_p: 0.0,
                ..Default::default()
            },
            SamplingParams {
                min_p: 2.0,
                ..Default::default()
            },
            SamplingParams {
                repeat_penalty: 0.0,
                ..Default::default()
            },
            SamplingParams {
                top_k: -3,
                ..Default::default()
            },
            SamplingParams {
                max_tokens: Some(0),
                ..Default::default()
            },
        ];
        for p in bad {
            assert!(
                matches!(validate(&p), Err(EngineError::InvalidRequest(_))),
                "{p:?}"
            );
        }
    }

    #[test]
    fn seed_folding_uses_high_bits() {
        assert_ne!(seed32(1), seed32(1 | (1 << 40)));
        assert_eq!(seed32(42), 42);
    }
}
