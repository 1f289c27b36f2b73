//! The per-model scheduler thread: a continuous-batching decode loop.
//!
//! One thread owns the llama.cpp context (contexts are not thread-safe) and serves up to
//! `n_parallel` *slots*. Slot `i` is llama.cpp sequence id `i`; with llama.cpp's default
//! non-unified KV cache each sequence has its own `n_ctx / n_parallel` cells.
//!
//! Each iteration of the loop:
//! 1. takes new requests from the channel (blocking only when there is nothing to do), so
//!    requests join between decode steps;
//! 2. drops waiting requests whose caller cancelled, and finishes running ones whose
//!    [`CancelToken`] fired or whose [`EventStream`] was dropped (their slot frees at once);
//! 3. admits waiting requests into free slots (FIFO), reusing a cached prompt prefix when
//!    prefix caching is on;
//! 4. builds **one** batch: the pending token of every generating sequence first, then prompt
//!    tokens of sequences still in prefill, in admission order, up to `n_batch` tokens in
//!    total (and at most one ubatch of prompt while others generate, so a long prompt delays
//!    running streams by one ubatch per step instead of stalling them for the whole prompt);
//! 5. decodes it, then samples each sequence that has logits in this batch and streams text.
//!
//! With `n_parallel = 1` this degenerates to the plain single-stream loop: a prompt batch,
//! then one token per decode. The hot path reuses the batch and the byte buffers, so the only
//! per-token allocation is the `String` handed to the caller.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::logprobs::TokenLogprob;
use crate::stop::StopMatcher;
use crate::types::*;
use crate::utf8::Utf8Decoder;
use ingot_core::slots::Shared;

/// Static configuration of the loop.
#[derive(Debug, Clone)]
pub(crate) struct SchedConfig {
    pub path: PathBuf,
    pub n_ctx: u32,
    pub n_batch: u32,
    pub n_ubatch: u32,
    pub n_parallel: usize,
    pub threads: usize,
    pub prefix_cache: bool,
}

/// A prepared request: tokenized, checked against the context, sampler built.
pub(crate) struct Job {
    pub tokens: Vec<LlamaToken>,
    pub sampler: crate::sampler::Sampler,
    /// Resolved limit (the remaining context when the caller gave none).
    pub max_tokens: u32,
    pub stop: Vec<String>,
    pub ignore_eos: bool,
    /// Alternatives per position when the caller wants logprobs.
    pub logprobs: Option<u32>,
    pub tx: tokio::sync::mpsc::UnboundedSender<Event>,
    pub cancel: CancelToken,
    pub enqueued: Instant,
    pub load_ms: f64,
}

impl Job {
    fn abandoned(&self) -> bool {
        self.cancel.is_cancelled() || self.tx.is_closed()
    }
}

pub(crate) enum Command {
    Job(Box<Job>),
    Shutdown,
}

/// How a sequence ended (finer than [`FinishReason`]: EOS and a stop string both map to
/// `Stop`, but only EOS releases text held back for a possible stop string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Eos,
    StopString,
    Length,
    Cancelled,
}

struct Running {
    job: Box<Job>,
    /// Index of the next prompt token to feed.
    prompt_pos: usize,
    /// Sampled but not yet decoded.
    next: Option<LlamaToken>,
    /// Where this sequence's logits are in the current batch.
    logits_idx: Option<i32>,
    /// Whether this sequence put tokens into the current batch.
    in_batch: bool,
    n_generated: u32,
    last_id: i32,
    cached: u32,
    order: u64,
    admitted: Instant,
    prompt_done: Option<Instant>,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    utf8: Utf8Decoder,
    stop: StopMatcher,
    /// Logprob entries of sampled tokens whose text has not been sent yet.
    pending_lp: Vec<TokenLogprob>,
}

struct Slot {
    seq: i32,
    /// Tokens whose KV cells this sequence holds, at positions `0..len`.
    cache: Vec<LlamaToken>,
    req: Option<Box<Running>>,
}

/// Thread entry point: creates the context, reports readiness, runs the loop.
pub(crate) fn run(
    model: Arc<LlamaModel>,
    cfg: SchedConfig,
    rx: Receiver<Command>,
    ready: SyncSender<Result<u32, EngineError>>,
    shared: Arc<Shared>,
) {
    let backend = match crate::backend::backend() {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let threads = i32::try_from(cfg.threads).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(cfg.n_ctx))
        .with_n_batch(cfg.n_batch)
        .with_n_ubatch(cfg.n_ubatch)
        .with_n_seq_max(cfg.n_parallel as u32)
        // Both: n_threads drives single-token generation, n_threads_batch prompt batches.
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    crate::backend::clear_last_error();
    let ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let why = crate::backend::take_last_error().unwrap_or_else(|| e.to_string());
            let _ = ready.send(Err(EngineError::Load {
                path: cfg.path.clone(),
                reason: format!("cannot create a context of {} tokens: {why}", cfg.n_ctx),
            }));
            return;
        }
    };
    let n_ctx = ctx.n_ctx();
    if ready.send(Ok(n_ctx)).is_err() {
        return;
    }
    let n_ctx_seq = n_ctx / cfg.n_parallel as u32;
    let slots = (0..cfg.n_parallel)
        .map(|i| Slot {
            seq: i as i32,
            cache: Vec::new(),
            req: None,
        })
        .collect();
    let batch_cap = cfg.n_batch as usize;
    let sched = Scheduler {
        model: &model,
        ctx,
        batch: LlamaBatch::new(batch_cap, 1),
        slots,
        pending: VecDeque::new(),
        n_ctx_seq,
        shared,
        piece: Vec::with_capacity(64),
        text: String::with_capacity(64),
        prefill: Vec::with_capacity(cfg.n_parallel),
        admissions: 0,
        computed: false,
        cfg,
    };
    sched.run(rx);
}

struct Scheduler<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    batch: LlamaBatch<'static>,
    slots: Vec<Slot>,
    pending: VecDeque<Box<Job>>,
    cfg: SchedConfig,
    n_ctx_seq: u32,
    shared: Arc<Shared>,
    /// Reused buffers: token bytes, decoded text, slots in prefill.
    piece: Vec<u8>,
    text: String,
    prefill: Vec<usize>,
    admissions: u64,
    /// Whether a decode ran since the thread last went idle (see `release_thread_pool`).
    computed: bool,
}

/// How long a model's thread stays idle before it releases its OpenMP thread pool.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

/// Shortest gain worth copying another sequence's KV stream for: the copy moves the whole
/// stream (every cell of the slot), which costs about as much as computing a few dozen tokens
/// of prompt on a CPU.
const MIN_SHARED_PREFIX: usize = 32;

impl Scheduler<'_> {
    fn run(mut self, rx: Receiver<Command>) {
        'outer: loop {
            if self.is_idle() {
                // Hand the OpenMP threads back only after a quiet spell: pausing them after
                // every request made the next request re-create the pool, which cost 20-40 ms
                // of TTFT on a 2-core machine (measured against llama-server, issue 4).
                let mut next = None;
                if self.computed {
                    match rx.recv_timeout(IDLE_RELEASE) {
                        Ok(cmd) => next = Some(cmd),
                        Err(RecvTimeoutError::Timeout) => {
                            self.computed = false;
                            crate::backend::release_thread_pool();
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                let cmd = match next {
                    Some(cmd) => cmd,
                    None => match rx.recv() {
                        Ok(cmd) => cmd,
                        Err(_) => break,
                    },
                };
                match cmd {
                    Command::Job(job) => self.pending.push_back(job),
                    Command::Shutdown => break,
                }
            }
            loop {
                match rx.try_recv() {
                    Ok(Command::Job(job)) => self.pending.push_back(job),
                    Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => break 'outer,
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.drop_abandoned_pending();
            self.stop_abandoned_running();
            self.admit();
            self.step();
            self.publish_kv_usage();
        }
        self.shutdown();
        self.shared.set_kv_used(0);
    }

    /// Cells kept for prefix reuse by idle slots do not count: they are free for the taking.
    fn publish_kv_usage(&self) {
        let used = self
            .slots
            .iter()
            .filter(|s| s.req.is_some())
            .map(|s| s.cache.len())
            .sum();
        self.shared.set_kv_used(used);
    }

    fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.slots.iter().all(|s| s.req.is_none())
    }

    fn drop_abandoned_pending(&mut self) {
        let shared = &self.shared;
        self.pending.retain(|job| {
            if job.abandoned() {
                shared.unreserve();
                let _ = job.tx.send(Event::Done {
                    finish_reason: FinishReason::Cancelled,
                    usage: Usage {
                        prompt_tokens: job.tokens.len() as u32,
                        completion_tokens: 0,
                    },
                    timings: Timings {
                        load_ms: job.load_ms,
                        ..Default::default()
                    },
                });
                false
            } else {
                true
            }
        });
    }

    fn stop_abandoned_running(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i]
                .req
                .as_ref()
                .is_some_and(|r| r.job.abandoned())
            {
                self.finish(i, End::Cancelled);
            }
        }
    }

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

    fn admit(&mut self) {
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

    /// Builds and decodes one batch, then samples every sequence that got logits.
    fn step(&mut self) {
        self.batch.clear();
        let cap = self.cfg.n_batch as usize;
        let mut n_gen = 0usize;
        // 1. One token per generating sequence.
        for slot in &mut self.slots {
            let Some(r) = slot.req.as_mut() else { continue };
            r.logits_idx = None;
            r.in_batch = false;
            if let Some(tok) = r.next.take() {
                let pos = slot.cache.len() as i32;
                if self.batch.add(tok, pos, &[slot.seq], true).is_err() {
                    // Cannot happen: n_parallel <= n_batch is checked at load.
                    r.next = Some(tok);
                    continue;
                }
                slot.cache.push(tok);
                r.logits_idx = Some(self.batch.n_tokens() - 1);
                r.in_batch = true;
                n_gen += 1;
            }
        }
        // 2. Prompt chunks, oldest admission first.
        let mut budget = cap.saturating_sub(n_gen);
        if n_gen > 0 {
            budget = budget.min(self.cfg.n_ubatch as usize);
        }
        self.prefill.clear();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(r) = &slot.req {
                if r.next.is_none() && !r.in_batch && r.prompt_pos < r.job.tokens.len() {
                    self.prefill.push(i);
                }
            }
        }
        if self.prefill.len() > 1 {
            let slots = &self.slots;
            self.prefill
                .sort_by_key(|&i| slots[i].req.as_ref().map_or(0, |r| r.order));
        }
        for k in 0..self.prefill.len() {
            if budget == 0 {
                break;
            }
            let slot = &mut self.slots[self.prefill[k]];
            let r = slot.req.as_mut().expect("prefill slot is running");
            let n_prompt = r.job.tokens.len();
            let take = (n_prompt - r.prompt_pos).min(budget);
            let mut added = 0;
            for j in r.prompt_pos..r.prompt_pos + take {
                let last = j + 1 == n_prompt;
                let tok = r.job.tokens[j];
                // Cannot fail (budget <= free batch space); if it did, the rest of the prompt
                // simply goes into the next step.
                if self
                    .batch
                    .add(tok, slot.cache.len() as i32, &[slot.seq], last)
                    .is_err()
                {
                    break;
                }
                slot.cache.push(tok);
                added += 1;
                if last {
                    r.logits_idx = Some(self.batch.n_tokens() - 1);
                }
            }
            r.prompt_pos += added;
            r.in_batch |= added > 0;
            budget -= added;
            if added < take {
                break;
            }
        }
        if self.batch.n_tokens() == 0 {
            return;
        }

        self.computed = true;
        if let Err(e) = self.ctx.decode(&mut self.batch) {
            let why = crate::backend::take_last_error()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            tracing::error!(error = %e, "llama_decode failed{why}");
            for i in 0..self.slots.len() {
                if !self.slots[i].req.as_ref().is_some_and(|r| r.in_batch) {
                    continue;
                }
                if let Some(r) = self.release(i, true) {
                    let _ = r.job.tx.send(Event::Error(EngineError::Backend(format!(
                        "llama_decode failed: {e}{why}"
                    ))));
                }
            }
            return;
        }

        let now = Instant::now();
        for i in 0..self.slots.len() {
            let Some(r) = self.slots[i].req.as_mut() else {
                continue;
            };
            let Some(idx) = r.logits_idx.take() else {
                continue;
            };
            if r.prompt_done.is_none() {
                r.prompt_done = Some(now);
            }
            let tok = match r.job.sampler.sample(&self.ctx, idx) {
                Ok(t) => t,
                Err(e) => {
                    if let Some(r) = self.release(i, true) {
                        let _ = r.job.tx.send(Event::Error(e));
                    }
                    continue;
                }
            };
            if let Some(k) = r.job.logprobs {
                // Before on_token: the entry goes out with the text this token releases.
                let lp = self.logprob_entry(idx, tok, k);
                if let Some(r) = self.slots[i].req.as_mut() {
                    r.pending_lp.push(lp);
                }
            }
            self.on_token(i, tok, now);
        }
    }

    /// The logprob entry of `tok`, sampled from batch row `idx` (see [`crate::logprobs`]).
    fn logprob_entry(&self, idx: i32, tok: LlamaToken, k: u32) -> TokenLogprob {
        let vocab = self.model.vocab();
        let mut piece = |id: i32| {
            let mut buf = Vec::new();
            vocab.token_to_piece_into(LlamaToken(id), &mut buf, false, None);
            buf
        };
        crate::logprobs::entry(self.ctx.get_logits_ith(idx), tok.0, k as usize, &mut piece)
    }

    fn on_token(&mut self, i: usize, tok: LlamaToken, now: Instant) {
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

    fn finish(&mut self, i: usize, end: End) {
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
    fn release(&mut self, i: usize, failed: bool) -> Option<Box<Running>> {
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

    fn shutdown(&mut self) {
        for job in self.pending.drain(..) {
            self.shared.unreserve();
            let _ = job.tx.send(Event::Error(EngineError::Unloaded));
        }
        for i in 0..self.slots.len() {
            if let Some(r) = self.release(i, true) {
                let _ = r.job.tx.send(Event::Error(EngineError::Unloaded));
            }
        }
    }
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
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
    }
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
