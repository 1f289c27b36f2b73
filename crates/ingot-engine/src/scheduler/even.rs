//! Even batches for ingot's two-row kernel.
//!
//! ggml multiplies two weight rows by two batch rows per kernel call only when the batch has
//! an even number of rows; with an odd number it falls back to one row at a time for the
//! whole product ([`crate::kernels::pairs_rows`]). A prompt of nine new tokens then costs more
//! than one of ten. Drafts are already sized to keep generating sequences' rows even
//! ([`super::speculative::RowParity`]); this evens out what the prompt chunks add:
//! - when the budget cut a prompt chunk short, the chunk gives up one token to the next step
//!   (free: that token was waiting anyway);
//! - otherwise a sequence in prefill computes its last cached token again, at the same
//!   position with the same context (one row more, paid back by the faster kernel).
//!
//! The token computed again gets the values llama.cpp computes for it in a batch of this
//! shape: exactly those of a slot whose cells ended one token earlier (a test holds them to
//! the bit), though not always those of the batch that first computed it. llama.cpp's CPU
//! flash attention sums batches of 64 rows and more in tiles, so its results depend on how a
//! prompt is split into batches, with or without this; the same holds for every prompt
//! cache, llama-server's included.

use super::Scheduler;

impl Scheduler<'_> {
    /// Adjusts the prompt budget, or rewinds one sequence in prefill by a token, so that the
    /// rows already in the batch plus the prompt chunks `budget` admits are even. Called after
    /// the generating rows are in the batch and before the prompt chunks go in.
    pub(super) fn even_prompt_rows(&mut self, budget: &mut usize) {
        if !self.cfg.pairs_rows || self.prefill.is_empty() {
            return;
        }
        let mut left = *budget;
        let mut prompt_rows = 0;
        let mut cut_short = false;
        for &i in &self.prefill {
            let Some(r) = self.slots[i].req.as_ref() else {
                continue;
            };
            let rest = r.job.tokens.len() - r.prompt_pos;
            let take = rest.min(left);
            prompt_rows += take;
            left -= take;
            if take < rest {
                cut_short = true;
                break;
            }
        }
        let rows = self.batch.n_tokens() as usize + prompt_rows;
        if rows % 2 == 0 || rows == 1 {
            return;
        }
        if cut_short {
            *budget -= 1;
            return;
        }
        // Room for the extra row: the budget admitted every prompt token, with one to spare
        // only if it was not exactly used up.
        if left == 0 {
            return;
        }
        for k in 0..self.prefill.len() {
            let slot = &mut self.slots[self.prefill[k]];
            let Some(r) = slot.req.as_mut() else { continue };
            if r.prompt_pos == 0 || slot.cache.len() != r.prompt_pos {
                continue;
            }
            let pos = r.prompt_pos - 1;
            // Partial removal fails on models whose state cannot rewind (recurrent ones).
            if self
                .ctx
                .kv_cache_seq_rm(slot.seq, Some(pos as u32), None)
                .is_err()
            {
                continue;
            }
            slot.cache.truncate(pos);
            r.prompt_pos = pos;
            // The token is computed, not reused, whatever the reports said at admission.
            r.cached = r.cached.min(pos as u32);
            return;
        }
    }
}
