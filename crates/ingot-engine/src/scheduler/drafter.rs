//! Draft-model speculative decoding: a second model with the same vocabulary (checked at
//! load, see [`crate::draft`]) guesses each generating sequence's next tokens greedily, in
//! its own context, batched over the sequences; the model then verifies them exactly as it
//! verifies prompt-lookup drafts ([`super::speculative`]). A greedy draft is a point mass,
//! so the acceptance rule and the argument that the output is unchanged are the same.
//!
//! The draft context mirrors the model's: sequence `i` of it belongs to slot `i`, and
//! `cells[i]` records the tokens whose cells it holds. Before drafting, each sequence is
//! brought up to date with what the model's cells hold plus the pending token: the common
//! prefix stays, the rest (rejected guesses of the last step) is removed, and what is new
//! (the prompt, the first time; then the accepted tokens and the correction) is decoded.

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::Slot;
use crate::types::EngineError;

pub(super) struct Drafter<'m> {
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    cap: usize,
    /// Per slot: the tokens whose cells the draft context holds, at positions `0..len`.
    cells: Vec<Vec<LlamaToken>>,
    /// Per slot: its row of logits in the batch being built.
    rows: Vec<Option<i32>>,
    /// Reused buffer: the tokens a sequence's catch-up decodes.
    todo: Vec<LlamaToken>,
}

impl<'m> Drafter<'m> {
    pub fn new(
        model: &'m LlamaModel,
        params: LlamaContextParams,
        n_slots: usize,
        n_batch: usize,
    ) -> Result<Self, EngineError> {
        let backend = crate::backend::backend()?;
        crate::backend::clear_last_error();
        let mut ctx = model.new_context(backend, params).map_err(|e| {
            EngineError::Backend(format!(
                "cannot create the draft model's context: {}",
                crate::backend::take_last_error().unwrap_or_else(|| e.to_string())
            ))
        })?;
        // The draft model's first decode would otherwise pay its first touches inside the
        // first speculative request, as the target model's would.
        super::warm_up(&mut ctx);
        Ok(Self {
            ctx,
            batch: LlamaBatch::new(n_batch, 1),
            cap: n_batch,
            cells: vec![Vec::new(); n_slots],
            rows: vec![None; n_slots],
            todo: Vec::new(),
        })
    }

    /// Fills `slots[i].req.draft` with up to `max[i]` greedy guesses of the draft model for
    /// every generating slot `i` (its history: `slots[i].cache` and its pending token).
    /// After a failed decode nobody drafts this step, and the draft cells start over.
    pub fn draft(&mut self, slots: &mut [Slot], max: &[usize]) {
        self.batch.clear();
        self.rows.iter_mut().for_each(|r| *r = None);
        // 1. Catch up: the draft cells must hold each history, with logits at its end.
        for i in 0..slots.len() {
            let Some(r) = slots[i].req.as_mut() else {
                continue;
            };
            r.draft.clear();
            let (Some(pending), true) = (r.next, max[i] > 0) else {
                continue;
            };
            let (seq, cache) = (slots[i].seq, &slots[i].cache);
            let len = cache.len() + 1;
            let at = |k: usize| cache.get(k).copied().unwrap_or(pending);
            let cells = &mut self.cells[i];
            // Keep at least the last token to decode: its logits give the first guess.
            let mut keep = cells
                .iter()
                .enumerate()
                .take_while(|&(k, t)| k < len - 1 && *t == at(k))
                .count();
            if keep < cells.len() {
                if self
                    .ctx
                    .kv_cache_seq_rm(seq, Some(keep as u32), None)
                    .is_err()
                {
                    let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
                    keep = 0;
                }
                cells.truncate(keep);
            }
            let mut todo = std::mem::take(&mut self.todo);
            todo.clear();
            todo.extend((keep..len).map(at));
            for (n, &tok) in todo.iter().enumerate() {
                if self.batch.n_tokens() as usize >= self.cap && !self.flush(slots) {
                    self.todo = todo;
                    return;
                }
                let pos = keep + n;
                let last = pos + 1 == len;
                if self.batch.add(tok, pos as i32, &[seq], last).is_err() {
                    break;
                }
                self.cells[i].push(tok);
                if last {
                    self.rows[i] = Some(self.batch.n_tokens() - 1);
                }
            }
            self.todo = todo;
        }
        if self.batch.n_tokens() > 0 && !self.flush(slots) {
            return;
        }
        // 2. Then one token per decode for every sequence that wants more.
        loop {
            for (i, slot) in slots.iter().enumerate() {
                let Some(r) = slot.req.as_ref() else { continue };
                let n = r.draft.len();
                if n == 0 || n >= max[i] {
                    continue;
                }
                let pos = self.cells[i].len() as i32;
                if self
                    .batch
                    .add(r.draft[n - 1], pos, &[slot.seq], true)
                    .is_err()
                {
                    continue;
                }
                self.cells[i].push(r.draft[n - 1]);
                self.rows[i] = Some(self.batch.n_tokens() - 1);
            }
            if self.batch.n_tokens() == 0 || !self.flush(slots) {
                return;
            }
        }
    }

    /// Decodes the batch, appends each sequence's guess from its row, and empties the batch.
    /// On failure forgets everything (see [`Self::forget`]) and returns false.
    fn flush(&mut self, slots: &mut [Slot]) -> bool {
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            tracing::warn!(error = %e, "the draft model's decode failed; drafting starts over");
            self.forget(slots);
            return false;
        }
        self.take_guesses(slots);
        self.batch.clear();
        self.rows.iter_mut().for_each(|r| *r = None);
        true
    }

    /// Appends the argmax of each sequence's row to its draft.
    fn take_guesses(&mut self, slots: &mut [Slot]) {
        for (i, slot) in slots.iter_mut().enumerate() {
            if let (Some(row), Some(r)) = (self.rows[i], slot.req.as_mut()) {
                let guess = crate::sampler::argmax(self.ctx.get_logits_ith(row));
                r.draft.push(LlamaToken(guess as i32));
            }
        }
    }

    /// After a failed decode nobody knows what the draft cells hold: drop them all, and the
    /// drafts of this step.
    fn forget(&mut self, slots: &mut [Slot]) {
        for (i, slot) in slots.iter_mut().enumerate() {
            let _ = self.ctx.kv_cache_seq_rm(slot.seq, None, None);
            self.cells[i].clear();
            if let Some(r) = slot.req.as_mut() {
                r.draft.clear();
            }
        }
    }
}
