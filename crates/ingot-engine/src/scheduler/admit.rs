//! Admission: which free slot a waiting request gets (FIFO), and how much of its prompt it
//! need not compute: the slot's own cached prefix, a longer one copied from another
//! sequence's KV stream, or one restored from the host-memory prompt cache
//! ([`super::prompt_cache`]), whichever is longest. Cells a slot is about to lose go to that
//! cache first.

use std::time::Instant;

use std::cmp::Reverse;

use llama_cpp_2::context::session::LlamaStateSeqFlags;
use llama_cpp_2::token::LlamaToken;

use super::prompt_cache::{common_prefix, MIN_CACHED_TOKENS};
use super::saved_logits::RamState;
use super::{Job, Running, Scheduler};
use crate::stop::StopMatcher;
use crate::utf8::Utf8Decoder;

/// Shortest gain worth copying another sequence's KV stream for: the copy moves the whole
/// stream (every cell of the slot), which costs about as much as computing a few dozen tokens
/// of prompt on a CPU.
const MIN_SHARED_PREFIX: usize = 32;

/// Shortest gain worth restoring a saved state for. The restore copies the state's cells
/// (about a millisecond for a few hundred cells of a small model), while every prompt token
/// not restored costs a few milliseconds of prefill on a CPU: even a short gain pays. (It was
/// 16, which made a short chat prompt recompute the 12 tokens past the chat template that it
/// shares with another prompt, on every request: 45 ms of first token instead of 10.)
const MIN_RESTORED_PREFIX: usize = 4;

impl Scheduler<'_> {
    /// Picks a free slot for `tokens`. With prefix caching, the slot sharing the longest
    /// prefix when it covers at least half the prompt (llama-server's similarity rule) and no
    /// saved state holds more of it; otherwise the least recently used free slot (empty ones
    /// first), so that idle slots keep as many different prompts as there are slots instead
    /// of one slot serving every request. A short shared start is not lost that way: another
    /// slot's cells are copied when they share enough ([`MIN_SHARED_PREFIX`]), a saved state
    /// is restored, and the evicted cells go to RAM.
    ///
    /// Why the saved states count: two short chat prompts share their chat template, often
    /// half of their tokens. Taking the slot of the other prompt by similarity alone evicts
    /// it, and the two then keep trading one slot, each restoring itself from RAM each time.
    ///
    /// Among the other free slots, those next to running ones come first ([`next_free_slot`]):
    /// a step costs one pass over the weights per run of consecutive running slots.
    /// Without prefix caching, the first free slot.
    fn pick_slot(&self, tokens: &[LlamaToken]) -> Option<usize> {
        let free = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.req.is_none());
        if !self.cfg.prefix_cache {
            return free.map(|(i, _)| i).next();
        }
        let (best, shared) = free
            .clone()
            .map(|(i, s)| (i, common_prefix(&s.cache, tokens)))
            .max_by_key(|&(i, n)| (n, Reverse(self.slots[i].used), Reverse(i)))?;
        let saved = self.restore_source(tokens, shared).map_or(0, |(_, n)| n);
        if shared * 2 >= tokens.len() && shared >= saved {
            return Some(best);
        }
        let busy: Vec<bool> = self.slots.iter().map(|s| s.req.is_some()).collect();
        next_free_slot(&busy, |i| self.slots[i].used)
    }

    /// Whether saved states can serve this model: recurrent and hybrid models cannot be cut
    /// back to a prefix after a restore.
    fn can_cache_prompts(&self) -> bool {
        self.prompt_cache.enabled() && !self.model.is_recurrent() && !self.model.is_hybrid()
    }

    /// Copies slot `i`'s cells to the prompt cache, unless they are too few, already kept, or
    /// incomplete (a sliding window dropped the start).
    fn save_slot(&mut self, i: usize) {
        let slot = &self.slots[i];
        if !self.can_cache_prompts()
            || slot.cache.len() < MIN_CACHED_TOKENS
            || self.prompt_cache.covers(&slot.cache)
            || self.ctx.kv_cache_seq_pos_min(slot.seq) > 0
        {
            return;
        }
        match self
            .ctx
            .state_seq_get(slot.seq, LlamaStateSeqFlags::empty())
        {
            Ok(state) => {
                // The slot's last prompt's logits, while its cells still hold that prompt.
                let logits = slot
                    .saved
                    .as_ref()
                    .filter(|s| s.within(&slot.cache))
                    .cloned();
                let bytes = state.byte_len()
                    + slot.cache.len() * std::mem::size_of::<LlamaToken>()
                    + logits.as_ref().map_or(0, |l| l.bytes());
                tracing::debug!(
                    seq = slot.seq,
                    tokens = slot.cache.len(),
                    bytes,
                    "prompt state saved to RAM"
                );
                self.prompt_cache
                    .insert(slot.cache.clone(), RamState { state, logits }, bytes);
            }
            Err(e) => tracing::debug!(error = %e, "prompt state not saved"),
        }
    }

    /// A saved state holding a longer prefix of `tokens` than `best` (what the slot or another
    /// sequence offers) by at least [`MIN_RESTORED_PREFIX`]: (its entry, the usable length).
    fn restore_source(&self, tokens: &[LlamaToken], best: usize) -> Option<(usize, usize)> {
        if !self.can_cache_prompts() {
            return None;
        }
        let (k, n) = self.prompt_cache.best(tokens)?;
        // Keep at least one prompt token to decode, its logits give the first token; unless
        // the entry kept the logits that follow exactly this prompt.
        let saved = self.prompt_cache.peek(k).logits.as_ref();
        let n = if saved.is_some_and(|l| l.follow(tokens)) {
            n
        } else {
            n.min(tokens.len().saturating_sub(1))
        };
        (n >= best + MIN_RESTORED_PREFIX).then_some((k, n))
    }

    /// Restores entry `k` into slot `i` and cuts it to its first `n` tokens; false (and an
    /// empty slot) when llama.cpp refuses.
    fn restore(&mut self, i: usize, k: usize, n: usize) -> bool {
        let seq = self.slots[i].seq;
        let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
        self.slots[i].cache.clear();
        let entry = self.prompt_cache.get(k);
        let restored = self.ctx.state_seq_set(&entry.state, seq).is_ok()
            && self.ctx.kv_cache_seq_rm(seq, Some(n as u32), None).is_ok();
        if !restored {
            let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
            return false;
        }
        let tokens = &self.prompt_cache.tokens(k)[..n];
        self.slots[i].cache.extend_from_slice(tokens);
        // The logits come back with the cells when they follow exactly what was restored.
        let logits = self.prompt_cache.peek(k).logits.as_ref();
        if let Some(l) = logits.filter(|l| l.follow(&self.slots[i].cache)) {
            self.slots[i].saved = Some(l.clone());
        }
        tracing::debug!(seq, tokens = n, "prompt prefix restored from RAM");
        true
    }

    pub(super) fn admit(&mut self) {
        while let Some(front) = self.pending.front() {
            let Some(i) = self.pick_slot(&front.tokens) else {
                break;
            };
            let job = self.pending.pop_front().expect("front exists");
            self.shared.admitted();
            self.start(i, job);
        }
    }

    /// Another slot whose cells hold a longer prefix of `tokens` than slot `i` does, by at
    /// least [`MIN_SHARED_PREFIX`] tokens: (its index, the usable prefix length).
    fn sharing_source(
        &self,
        i: usize,
        tokens: &[LlamaToken],
        own: usize,
    ) -> Option<(usize, usize)> {
        if !self.cfg.prefix_cache || self.model.is_recurrent() || self.model.is_hybrid() {
            return None;
        }
        let limit = tokens.len().saturating_sub(1);
        self.slots
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, s)| (j, common_prefix(&s.cache, tokens).min(limit)))
            .filter(|&(j, n)| {
                n >= own + MIN_SHARED_PREFIX
                    && self.ctx.kv_cache_seq_pos_min(self.slots[j].seq) <= 0
            })
            .max_by_key(|&(_, n)| n)
    }

    fn start(&mut self, i: usize, job: Box<Job>) {
        let n_prompt = job.tokens.len();
        // A repeated prompt whose last logits the slot kept needs no decode at all.
        let from_saved = self.has_saved_logits_for(i, &job.tokens);
        let own = if from_saved {
            job.tokens.len()
        } else if self.cfg.prefix_cache {
            // Keep at least one prompt token to decode: its logits give the first token.
            common_prefix(&self.slots[i].cache, &job.tokens).min(job.tokens.len() - 1)
        } else {
            0
        };
        if own < self.slots[i].cache.len() {
            // The slot is about to lose cells this prompt does not share: keep them in RAM.
            // First: saving may evict entries, which would move the one a restore picked.
            self.save_slot(i);
        }
        let shared = self.sharing_source(i, &job.tokens, own);
        let restore = self.restore_source(&job.tokens, shared.map_or(own, |(_, n)| n.max(own)));
        let seq = self.slots[i].seq;
        let mut reuse = own;
        if let Some((k, n)) = restore {
            reuse = if self.restore(i, k, n) { n } else { 0 };
        } else if let Some((j, n)) = shared {
            // Another sequence's cells hold a longer prefix (the other choices of an `n` > 1
            // request, or a system prompt another client just sent): take them instead of
            // computing them again. Each sequence has its own KV stream, and llama.cpp copies
            // streams only whole, so the copy is whole and the tail past the prefix is dropped.
            let src = self.slots[j].seq;
            let slot = &mut self.slots[i];
            let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
            slot.cache.clear();
            reuse = 0;
            if self.ctx.kv_cache_seq_cp(src, seq, None, None).is_ok() {
                if self.ctx.kv_cache_seq_rm(seq, Some(n as u32), None).is_ok() {
                    slot.cache.extend_from_slice(&job.tokens[..n]);
                    reuse = n;
                    tracing::debug!(
                        seq,
                        from = src,
                        tokens = n,
                        "prompt prefix taken from another sequence"
                    );
                } else {
                    let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
                }
            }
        }
        let slot = &mut self.slots[i];
        if reuse < slot.cache.len() {
            // Partial removal fails on recurrent models (their state cannot rewind).
            if self
                .ctx
                .kv_cache_seq_rm(seq, Some(reuse as u32), None)
                .is_err()
            {
                let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
                reuse = 0;
            }
            slot.cache.truncate(reuse);
        }
        // Sliding-window caches drop old cells: a prefix whose start is gone is unusable.
        if reuse > 0 && self.ctx.kv_cache_seq_pos_min(seq) > 0 {
            let _ = self.ctx.kv_cache_seq_rm(seq, None, None);
            reuse = 0;
            slot.cache.clear();
        }
        self.admissions += 1;
        slot.used = self.admissions;
        let stop = StopMatcher::new(&job.stop);
        slot.req = Some(Box::new(Running {
            job,
            prompt_pos: reuse,
            next: None,
            logits_idx: None,
            draft: Vec::new(),
            spec: Default::default(),
            in_batch: false,
            n_generated: 0,
            last_id: -1,
            cached: reuse as u32,
            order: self.admissions,
            admitted: Instant::now(),
            prompt_done: None,
            first_token: None,
            last_token: None,
            utf8: Utf8Decoder::new(),
            stop,
            pending_lp: Vec::new(),
        }));
        // The slot's own kept logits, or those a restore from RAM brought back.
        if reuse == n_prompt && (from_saved || self.restored_logits(i, n_prompt)) {
            self.first_token_from_saved(i);
        }
    }
}

/// The free slot a prompt without a better home takes: the one that adds the fewest runs of
/// consecutive busy slots, then the least recently used (`used`: its last admission), then
/// the lowest.
///
/// Why runs: each sequence has its own KV stream, and llama.cpp then splits a batch into
/// micro-batches of *consecutive* sequence ids (`split_equal`), each a full pass over the
/// weights. Slots 0, 1 and 3 decoding cost two passes, where 0, 1 and 2 cost one; on a CPU a
/// pass of one row costs about half a pass of three (PERFORMANCE.md, round 4). A slot next to
/// a busy one joins its run,
/// one between two busy ones joins two runs into one. With nothing running, every free slot
/// is as good and the least recently used one keeps idle slots' prompts apart.
fn next_free_slot(busy: &[bool], used: impl Fn(usize) -> u64) -> Option<usize> {
    let is_busy = |j: Option<usize>| j.and_then(|j| busy.get(j).copied()).unwrap_or(false);
    (0..busy.len()).filter(|&i| !busy[i]).min_by_key(|&i| {
        let neighbours = is_busy(i.checked_sub(1)) as i32 + is_busy(Some(i + 1)) as i32;
        (1 - neighbours, used(i), i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_slot_next_to_running_ones_comes_first() {
        let used = |u: &'static [u64]| move |i: usize| u[i];
        // Nothing runs: the least recently used slot.
        assert_eq!(next_free_slot(&[false; 4], used(&[3, 1, 2, 5])), Some(1));
        // Slot 1 runs: 0 and 2 join its run; of those the least recently used.
        let busy = [false, true, false, false];
        assert_eq!(next_free_slot(&busy, used(&[3, 9, 2, 0])), Some(2));
        assert_eq!(next_free_slot(&busy, used(&[1, 9, 2, 0])), Some(0));
        // Slots 0 and 2 run: 1 joins both runs into one, even if 3 is older.
        let busy = [true, false, true, false];
        assert_eq!(next_free_slot(&busy, used(&[0, 7, 0, 1])), Some(1));
        // Everything runs: none.
        assert_eq!(next_free_slot(&[true; 3], used(&[0, 0, 0])), None);
    }

    #[test]
    fn prefix_length() {
        let t = |v: &[i32]| v.iter().map(|&x| LlamaToken(x)).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3]), &t(&[1, 2, 4])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
    }
}
