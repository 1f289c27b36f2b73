//! Speculative decoding in the scheduler: which drafts go into a step's batch, and how a
//! sequence's rows are sampled after the decode (see [`super::speculative`] for the rule and
//! why it keeps the output distribution).

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::speculative::{
    find_draft, verify, RowParity, Verifier, SPEC_MAX_SEQS, SPEC_STEP_TOKENS,
};
use super::Scheduler;
use crate::types::*;

impl Scheduler<'_> {
    /// Fills the draft of every generating sequence: the draft model's guesses when there is
    /// one, else the tokens that followed an earlier occurrence of its last tokens in its
    /// prompt or output; within `room` free batch rows and the per-step limit of
    /// [`SPEC_STEP_TOKENS`] rows of generating sequences.
    ///
    /// With several sequences generating, every one of them drafts the same number of
    /// tokens, or none does. Why: each sequence has its own KV stream, and llama.cpp splits
    /// such a batch into ubatches that take the *same* number of tokens from every sequence
    /// in them (`llama_batch_allocr::split_equal`). A draft that only some sequences have
    /// would add a ubatch, a second pass over all the weights, which costs more than the
    /// draft can save.
    pub(super) fn plan_drafts(&mut self, n_gen: usize, room: usize) {
        let budget = room.min(SPEC_STEP_TOKENS.saturating_sub(n_gen));
        if budget == 0 || n_gen > SPEC_MAX_SEQS {
            return;
        }
        let n_ctx_seq = self.n_ctx_seq as usize;
        let common = budget / n_gen;
        let parity = RowParity::new(self.cfg.pairs_rows, n_gen, self.drafter.is_some());
        let mut max = std::mem::take(&mut self.draft_max);
        max.clear();
        for slot in &mut self.slots {
            let m = match slot.req.as_mut() {
                Some(r) if r.next.is_some() => {
                    r.draft.clear();
                    // A draft of k tokens yields up to k + 1: the tokens still allowed bound
                    // it, and so do the cells left after the pending token's.
                    let left = r.job.max_tokens.saturating_sub(r.n_generated) as usize;
                    let cells = n_ctx_seq.saturating_sub(slot.cache.len() + 1);
                    parity
                        .ask(r.spec.want())
                        .min(left.saturating_sub(1))
                        .min(cells)
                        .min(common)
                }
                _ => 0,
            };
            max.push(m);
        }
        match self.drafter.as_mut() {
            Some(drafter) => drafter.draft(&mut self.slots, &max),
            None => {
                for (slot, &m) in self.slots.iter_mut().zip(&max) {
                    if let Some(r) = slot.req.as_mut().filter(|_| m > 0) {
                        if let Some(tok) = r.next {
                            find_draft(&slot.cache, tok, m, &mut r.draft);
                        }
                    }
                }
            }
        }
        self.draft_max = max;
        if n_gen > 1 {
            let generating = || {
                self.slots
                    .iter()
                    .filter_map(|s| s.req.as_ref())
                    .filter(|r| r.next.is_some())
            };
            let shortest = parity.common(generating().map(|r| r.draft.len()).min().unwrap_or(0));
            for r in self.slots.iter_mut().filter_map(|s| s.req.as_mut()) {
                r.draft.truncate(shortest);
            }
        }
    }

    /// Samples sequence `i` after a decode: the token that follows its pending token (batch
    /// row `idx`), and when a draft was decoded after it, each following row while the
    /// sampled tokens match the draft. Every token goes through [`Self::on_token`] as in
    /// plain decoding; the cells of rejected draft tokens are removed, so that `Slot::cache`
    /// stays exactly what the sequence's cells hold.
    pub(super) fn sample_verified(&mut self, i: usize, idx: i32, now: Instant) {
        let Some(r) = self.slots[i].req.as_mut() else {
            return;
        };
        let draft = std::mem::take(&mut r.draft);
        r.spec.drafted += draft.len() as u32;
        // Where the draft's cells start: right after the pending token's.
        let first = self.slots[i].cache.len() - draft.len();
        let accepted = verify(
            &draft,
            &mut SlotVerifier {
                sched: self,
                i,
                idx,
                first,
                now,
            },
        );
        let end = first + draft.len();
        let seq = self.slots[i].seq;
        let kept = self.slots[i].cache.len();
        if kept < end
            && self
                .ctx
                .kv_cache_seq_rm(seq, Some(kept as u32), None)
                .is_err()
        {
            // Cannot happen: speculation is off for models whose cells cannot be removed
            // from the end (recurrent ones). If it did, the cells no longer match the
            // tokens, so they cannot be used any further.
            tracing::error!(seq, "cannot remove rejected draft tokens from the KV cache");
            match self.release(i, true) {
                Some(r) => {
                    let _ = r.job.tx.send(Event::Error(EngineError::Backend(
                        "cannot remove rejected draft tokens from the KV cache".into(),
                    )));
                }
                None => {
                    let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
                    self.slots[i].cache.clear();
                }
            }
            return;
        }
        if let Some(r) = self.slots[i].req.as_mut() {
            r.spec.adapt(draft.len(), accepted);
            // Keep the allocation for the next draft.
            let mut draft = draft;
            draft.clear();
            r.draft = draft;
        }
    }
}

/// One sequence's verification against the scheduler (see [`verify`]).
struct SlotVerifier<'a, 'm> {
    sched: &'a mut Scheduler<'m>,
    i: usize,
    /// The pending token's batch row; draft position `j` is row `idx + j`.
    idx: i32,
    /// The cell of the first draft token.
    first: usize,
    now: Instant,
}

impl Verifier<LlamaToken> for SlotVerifier<'_, '_> {
    fn sample(&mut self, j: usize) -> Option<LlamaToken> {
        // The cells that count now: prompt, output and the draft tokens accepted before `j`
        // (the token sampled here is not decoded yet, as in plain decoding, so on_token's
        // context check sees what it would see there).
        self.sched.slots[self.i].cache.truncate(self.first + j);
        self.sched.sample_at(self.i, self.idx + j as i32)
    }

    fn emit(&mut self, _j: usize, tok: LlamaToken, accepted: bool) -> bool {
        let (i, s) = (self.i, &mut *self.sched);
        if accepted {
            // Counted before on_token, which reports the timings if this token ends it.
            if let Some(r) = s.slots[i].req.as_mut() {
                r.spec.accepted += 1;
            }
        }
        s.on_token(i, tok, self.now);
        let slot = &mut s.slots[i];
        let Some(r) = slot.req.as_mut() else {
            return false;
        };
        if accepted {
            // Its cell was computed in this batch, after the accepted prefix: keep it, and
            // read the next token from its row instead of decoding it again.
            r.next = None;
            slot.cache.push(tok);
        }
        true
    }
}
