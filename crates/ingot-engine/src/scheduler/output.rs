//! What a running sequence sends: its text token by token (with logprobs), its end (with
//! text held back for a stop string) and timings; and freeing its slot.

use std::time::Instant;

use llama_cpp_2::token::LlamaToken;

use super::{End, Running, Scheduler};
use crate::logprobs::TokenLogprob;
use crate::types::*;

impl Scheduler<'_> {
    /// The logprob entry of `tok`, sampled from batch row `idx` (see [`crate::logprobs`]).
    pub(super) fn logprob_entry(&self, idx: i32, tok: LlamaToken, k: u32) -> TokenLogprob {
        self.logprob_entry_from(self.ctx.get_logits_ith(idx), tok, k)
    }

    /// [`Self::logprob_entry`] from a row of logits kept elsewhere.
    pub(super) fn logprob_entry_from(
        &self,
        logits: &[f32],
        tok: LlamaToken,
        k: u32,
    ) -> TokenLogprob {
        let vocab = self.model.vocab();
        let mut piece = |id: i32| {
            let mut buf = Vec::new();
            vocab.token_to_piece_into(LlamaToken(id), &mut buf, false, None);
            buf
        };
        crate::logprobs::entry(logits, tok.0, k as usize, &mut piece)
    }

    pub(super) fn on_token(&mut self, i: usize, tok: LlamaToken, now: Instant) {
        let vocab = self.model.vocab();
        let slot = &mut self.slots[i];
        let r = slot.req.as_mut().expect("sampled slot is running");
        if r.first_token.is_none() {
            r.first_token = Some(now);
        }
        if vocab.is_eog(tok) && !r.job.ignore_eos {
            // The end-of-generation token is not part of the output, nor is its logprob.
            r.pending_lp.pop();
            self.finish(i, End::Eos);
            return;
        }
        r.n_generated += 1;
        r.last_token = Some(now);
        r.last_id = tok.0;
        self.piece.clear();
        // special = false: control tokens (e.g. a stray `<|im_start|>`) render as nothing.
        vocab.token_to_piece_into(tok, &mut self.piece, false, None);
        self.text.clear();
        r.utf8.push(&self.piece, &mut self.text);
        let mut out = String::new();
        let stopped = r.stop.push(&self.text, &mut out);
        if !out.is_empty() {
            let _ = r.job.tx.send(Event::Token {
                text: out,
                id: tok.0,
                logprobs: std::mem::take(&mut r.pending_lp),
            });
        }
        if stopped {
            self.finish(i, End::StopString);
        } else if r.n_generated >= r.job.max_tokens {
            self.finish(i, End::Length);
        } else if slot.cache.len() as u32 >= self.n_ctx_seq {
            // No cell left to decode this token into.
            self.finish(i, End::Length);
        } else {
            r.next = Some(tok);
        }
    }

    pub(super) fn finish(&mut self, i: usize, end: End) {
        let Some(mut r) = self.release(i, false) else {
            return;
        };
        if matches!(end, End::Eos | End::Length) {
            // Release text held back for a stop string that never completed. An incomplete
            // UTF-8 sequence left in the decoder (max_tokens hit mid-character) is dropped:
            // emitting it would mean a U+FFFD the model never meant.
            let mut tail = String::new();
            r.stop.flush(&mut tail);
            if !tail.is_empty() {
                let _ = r.job.tx.send(Event::Token {
                    text: tail,
                    id: r.last_id,
                    logprobs: std::mem::take(&mut r.pending_lp),
                });
            }
        }
        let finish_reason = match end {
            End::Eos | End::StopString => FinishReason::Stop,
            End::Length => FinishReason::Length,
            End::Cancelled => FinishReason::Cancelled,
        };
        let n_prompt = r.job.tokens.len() as u32;
        let timings = timings(&r, n_prompt);
        let _ = r.job.tx.send(Event::Done {
            finish_reason,
            usage: Usage {
                prompt_tokens: n_prompt,
                completion_tokens: r.n_generated,
            },
            timings,
        });
    }

    /// Frees slot `i` and hands back its request. Its KV cells are kept for prefix reuse when
    /// prefix caching is on (and the sequence did not fail), otherwise removed. Callers send
    /// the final event *after* this, so a client reacting to it sees the slot already free in
    /// `load_state`.
    pub(super) fn release(&mut self, i: usize, failed: bool) -> Option<Box<Running>> {
        let slot = &mut self.slots[i];
        let r = slot.req.take();
        if r.is_some() {
            self.shared.released();
        }
        if failed || !self.cfg.prefix_cache {
            let _ = self.ctx.kv_cache_seq_rm(slot.seq, None, None);
            slot.cache.clear();
        }
        // Before the final event too: a gateway that scrapes `/metrics` as soon as a response
        // ends must not see the finished sequence's cells as in use.
        self.publish_kv_usage();
        r
    }
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1e3
}

fn timings(r: &Running, n_prompt: u32) -> Timings {
    let prompt_ms = r.prompt_done.map_or(0.0, |t| ms(r.admitted, t));
    let evaluated = f64::from(n_prompt.saturating_sub(r.cached));
    let gen_ms = match (r.first_token, r.last_token) {
        (Some(a), Some(b)) => ms(a, b),
        _ => 0.0,
    };
    Timings {
        load_ms: r.job.load_ms,
        queue_ms: ms(r.job.enqueued, r.admitted),
        prompt_ms,
        prompt_tokens_per_s: if prompt_ms > 0.0 {
            evaluated * 1e3 / prompt_ms
        } else {
            0.0
        },
        ttft_ms: r.first_token.map_or(0.0, |t| ms(r.job.enqueued, t)),
        gen_ms,
        gen_tokens_per_s: if r.n_generated >= 2 && gen_ms > 0.0 {
            f64::from(r.n_generated - 1) * 1e3 / gen_ms
        } else {
            0.0
        },
        cached_tokens: r.cached,
        draft_n: r.spec.drafted,
        draft_n_accepted: r.spec.accepted,
    }
}
