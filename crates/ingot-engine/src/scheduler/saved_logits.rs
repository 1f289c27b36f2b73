//! A repeated prompt's first token without a decode.
//!
//! A prompt's first token is sampled from the logits of its last token. With the prefix
//! cache a repeated prompt (a regenerated answer, a retried request, several samples of one
//! prompt, a client polling with a fixed question) finds all its cells in a slot, yet
//! llama.cpp keeps nothing of the logits once the next batch runs, so every server computes
//! that last token again (llama-server and vLLM included): one whole decode step before the
//! first token. A slot here keeps the logits its last prompt ended with, and a request whose
//! prompt is exactly the prompt those logits ended (every token, all in the slot's cells)
//! samples its first token from them at admission, with its own sampler: the logits the same
//! cells gave, with no decode.
//!
//! They are kept only with the prefix cache on, one vocabulary of floats per slot (192 KiB
//! for SmolLM2's 49,152 tokens), and go with the slot's cells into the host-memory prompt
//! cache, so that a prompt restored from RAM needs no decode either.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::Scheduler;
use crate::types::*;

/// The logits a prompt ended with.
#[derive(Default, Clone)]
pub(super) struct SavedLogits {
    /// The prompt, whose tokens the logits follow.
    prompt: Vec<LlamaToken>,
    logits: Vec<f32>,
}

impl SavedLogits {
    /// Whether they are the logits that follow exactly `tokens`.
    pub(super) fn follow(&self, tokens: &[LlamaToken]) -> bool {
        self.prompt == tokens
    }

    /// Whether `cells` start with the prompt they follow (they still hold it).
    pub(super) fn within(&self, cells: &[LlamaToken]) -> bool {
        cells.starts_with(&self.prompt)
    }

    pub(super) fn bytes(&self) -> usize {
        self.logits.len() * std::mem::size_of::<f32>()
            + self.prompt.len() * std::mem::size_of::<LlamaToken>()
    }
}

/// What the host-memory prompt cache keeps of a slot: its cells, and the logits its last
/// prompt ended with while the cells still hold that prompt.
pub(super) struct RamState {
    pub state: llama_cpp_2::context::session::SeqState,
    pub logits: Option<SavedLogits>,
}

impl Scheduler<'_> {
    /// After a decode in which slot `i`'s prompt ended at batch row `idx`: keeps the row.
    pub(super) fn save_prompt_logits(&mut self, i: usize, idx: i32) {
        if !self.cfg.prefix_cache {
            return;
        }
        let slot = &mut self.slots[i];
        let Some(r) = slot.req.as_ref() else {
            return;
        };
        let row = self.ctx.get_logits_ith(idx);
        let saved = slot.saved.get_or_insert_with(Default::default);
        saved.prompt.clear();
        saved.prompt.extend_from_slice(&r.job.tokens);
        saved.logits.clear();
        saved.logits.extend_from_slice(row);
    }

    /// Whether slot `i` can give `tokens`' first token from saved logits: they ended this
    /// very prompt, and the slot's cells still hold all of it.
    pub(super) fn has_saved_logits_for(&self, i: usize, tokens: &[LlamaToken]) -> bool {
        let slot = &self.slots[i];
        self.cfg.prefix_cache
            && slot.saved.as_ref().is_some_and(|s| s.follow(tokens))
            && slot.cache.len() >= tokens.len()
            && slot.cache[..tokens.len()] == *tokens
    }

    /// Whether slot `i`, its first `n` cells just restored from RAM, got back logits that
    /// follow exactly those cells.
    pub(super) fn restored_logits(&self, i: usize, n: usize) -> bool {
        let slot = &self.slots[i];
        self.cfg.prefix_cache
            && slot.cache.len() == n
            && slot.saved.as_ref().is_some_and(|s| s.follow(&slot.cache))
    }

    /// Samples slot `i`'s first token from its saved logits (see [`Self::has_saved_logits_for`]),
    /// as the step after a prompt's decode would from the batch row.
    pub(super) fn first_token_from_saved(&mut self, i: usize) {
        let now = Instant::now();
        let Some(saved) = self.slots[i].saved.take() else {
            return;
        };
        let Some(r) = self.slots[i].req.as_mut() else {
            self.slots[i].saved = Some(saved);
            return;
        };
        r.prompt_done = Some(now);
        let tok = match r.job.sampler.sample_logits(&saved.logits) {
            Ok(t) => t,
            Err(e) => {
                self.slots[i].saved = Some(saved);
                if let Some(r) = self.release(i, true) {
                    let _ = r.job.tx.send(Event::Error(e));
                }
                return;
            }
        };
        if let Some(k) = r.job.logprobs {
            let lp = self.logprob_entry_from(&saved.logits, tok, k);
            if let Some(r) = self.slots[i].req.as_mut() {
                r.pending_lp.push(lp);
            }
        }
        // Still true: the cells hold the prompt, and a later request may repeat it.
        self.slots[i].saved = Some(saved);
        self.on_token(i, tok, now);
    }
}
