//! Admission: which free slot a waiting request gets (FIFO), and how much of its prompt it
//! need not compute: the slot's own cached prefix, or a longer one copied from another
//! sequence's KV stream.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::{Job, Running, Scheduler};
use crate::stop::StopMatcher;
use crate::utf8::Utf8Decoder;

/// Shortest gain worth copying another sequence's KV stream for: the copy moves the whole
/// stream (every cell of the slot), which costs about as much as computing a few dozen tokens
/// of prompt on a CPU.
const MIN_SHARED_PREFIX: usize = 32;

impl Scheduler<'_> {
    /// Picks a free slot for `tokens`: the one sharing the longest cached prefix when prefix
    /// caching is on, else the first free one.
    fn pick_slot(&self, tokens: &[LlamaToken]) -> Option<usize> {
        let free = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.req.is_none());
        if self.cfg.prefix_cache {
            // max_by_key returns the last maximum; rev() makes ties go to the lowest index.
            free.rev()
                .max_by_key(|(_, s)| common_prefix(&s.cache, tokens))
                .map(|(i, _)| i)
        } else {
            free.map(|(i, _)| i).next()
        }
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
        let own = if self.cfg.prefix_cache {
            // Keep at least one prompt token to decode: its logits give the first token.
            common_prefix(&self.slots[i].cache, &job.tokens).min(job.tokens.len() - 1)
        } else {
            0
        };
        let shared = self.sharing_source(i, &job.tokens, own);
        let seq = self.slots[i].seq;
        let mut reuse = own;
        if let Some((j, n)) = shared {
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
    }
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_length() {
        let t = |v: &[i32]| v.iter().map(|&x| LlamaToken(x)).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3]), &t(&[1, 2, 4])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
    }
}
