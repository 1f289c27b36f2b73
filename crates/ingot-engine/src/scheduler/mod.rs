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
//! 4. builds **one** batch: the pending token of every generating sequence first, each
//!    followed by its draft when speculative decoding found one ([`speculative`]: tokens
//!    guessed from an earlier occurrence of its last few tokens, only in the rows prompts
//!    leave), then prompt tokens of sequences still in prefill, in admission order, up to
//!    `n_batch` tokens in total (and at most one ubatch of prompt while others generate, so a
//!    long prompt delays running streams by one ubatch per step instead of stalling them for
//!    the whole prompt);
//! 5. decodes it, then samples each sequence that has logits in this batch and streams text;
//!    a sequence with a draft samples row after row while the draft matches (`verify`), and
//!    the cells of the draft tokens it rejects are removed.
//!
//! With `n_parallel = 1` this degenerates to the plain single-stream loop: a prompt batch,
//! then one token per decode. The hot path reuses the batch and the byte buffers, so the only
//! per-token allocation is the `String` handed to the caller.

mod admit;
mod drafter;
mod even;
mod output;
mod prompt_cache;
mod saved_logits;
mod speculative;
mod verify;

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
    /// Bytes of host memory for saved prompt states ([`prompt_cache`]); 0 turns it off.
    pub prompt_cache_bytes: usize,
    /// Speculative decoding (see [`speculative`]): prompt lookup, or the draft model's
    /// guesses when `run` gets one. Off for models whose KV state cannot be rewound
    /// (recurrent, hybrid), where rejected drafts could not be undone.
    pub speculative: bool,
    /// The model's main weight type has a two-row CPU kernel ([`crate::kernels::pairs_rows`]):
    /// drafts are then sized so that a step's batch has an even number of rows.
    pub pairs_rows: bool,
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
    /// Where this sequence's logits are in the current batch (with a draft: the pending
    /// token's; the draft's follow, one row per token).
    logits_idx: Option<i32>,
    /// Draft tokens decoded after the pending one in the current batch (speculative
    /// decoding; empty without a draft). Their cells are at the end of `Slot::cache`.
    draft: Vec<LlamaToken>,
    spec: speculative::SpecState,
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
    /// Admission number of its last request: among equally good free slots the least
    /// recently used is taken, so idle slots keep as many different prompts as they can.
    used: u64,
    /// The logits its last prompt ended with ([`saved_logits`]).
    saved: Option<saved_logits::SavedLogits>,
}

/// Thread entry point: creates the context, reports readiness, runs the loop.
pub(crate) fn run(
    model: Arc<LlamaModel>,
    draft: Option<Arc<LlamaModel>>,
    mut cfg: SchedConfig,
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
    // Rejected drafts are undone by removing cells from the end, which recurrent state
    // cannot do.
    cfg.speculative &= !model.is_recurrent() && !model.is_hybrid();
    let threads = i32::try_from(cfg.threads).unwrap_or(i32::MAX);
    let params = || {
        LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(cfg.n_ctx))
            .with_n_batch(cfg.n_batch)
            .with_n_ubatch(cfg.n_ubatch)
            .with_n_seq_max(cfg.n_parallel as u32)
            // Both: n_threads drives single-token generation, n_threads_batch prompt batches.
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
    };
    crate::backend::clear_last_error();
    let mut ctx = match model.new_context(backend, params()) {
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
    // The draft model's context has the same geometry, so its sequence i mirrors slot i.
    let drafter = match draft.as_deref().filter(|_| cfg.speculative) {
        None => None,
        Some(d) => match drafter::Drafter::new(d, params(), cfg.n_parallel, cfg.n_batch as usize) {
            Ok(dr) => Some(dr),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        },
    };
    warm_up(&mut ctx);
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
            used: 0,
            saved: None,
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
        drafter,
        draft_max: Vec::with_capacity(cfg.n_parallel),
        admissions: 0,
        computed: false,
        prompt_cache: prompt_cache::PromptCache::new(if cfg.prefix_cache {
            cfg.prompt_cache_bytes
        } else {
            0
        }),
        cfg,
    };
    sched.run(rx);
}

/// Decodes one token and forgets it, as llama.cpp's own tools do after loading (issue 18:
/// the first request after a load should not be slower than the next ones). The first
/// decode otherwise pays, inside that request's time to first token, for mapping the weight
/// pages into this process, the first touch of the compute buffer and starting the thread
/// pool. A failure here is harmless: the first request then pays those costs itself.
fn warm_up(ctx: &mut LlamaContext<'_>) {
    let t = Instant::now();
    let mut batch = LlamaBatch::new(1, 1);
    // Token 0 exists in every vocabulary; its output is never read.
    let ok = batch.add(LlamaToken(0), 0, &[0], true).is_ok() && ctx.decode(&mut batch).is_ok();
    // Leaves the cache as a new context has it: nothing in any sequence. Only the cells'
    // bookkeeping: zeroing the data too would touch every page of the KV buffer, which a new
    // context leaves untouched (fresh_pages), and the one cell written holds finite values.
    let _ = ctx.kv_cache_seq_rm(0, None, None);
    tracing::debug!(
        ok,
        warm_up_ms = t.elapsed().as_secs_f64() * 1e3,
        "warm-up decode"
    );
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
    /// The draft model's side of speculative decoding, when the model was loaded with one.
    drafter: Option<drafter::Drafter<'m>>,
    /// Reused buffer: how many tokens each slot may draft this step.
    draft_max: Vec<usize>,
    admissions: u64,
    /// Whether a decode ran since the thread last went idle (see `release_thread_pool`).
    computed: bool,
    prompt_cache: prompt_cache::PromptCache<saved_logits::RamState>,
}

/// How long a model's thread stays idle before it releases its OpenMP thread pool.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

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

    /// Builds and decodes one batch, then samples every sequence that got logits.
    fn step(&mut self) {
        self.batch.clear();
        let cap = self.cfg.n_batch as usize;
        let n_gen = self
            .slots
            .iter()
            .filter(|s| s.req.as_ref().is_some_and(|r| r.next.is_some()))
            .count();
        // Prompt chunks get up to `budget` rows, oldest admission first.
        let mut budget = cap.saturating_sub(n_gen);
        if n_gen > 0 {
            budget = budget.min(self.cfg.n_ubatch as usize);
        }
        self.prefill.clear();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(r) = &slot.req {
                if r.next.is_none() && r.prompt_pos < r.job.tokens.len() {
                    self.prefill.push(i);
                }
            }
        }
        if self.prefill.len() > 1 {
            let slots = &self.slots;
            self.prefill
                .sort_by_key(|&i| slots[i].req.as_ref().map_or(0, |r| r.order));
        }
        if self.cfg.speculative && n_gen > 0 {
            // Drafts take only the rows prompt chunks leave: they are guesses, while a
            // waiting prompt is certain work whose first token someone is waiting for.
            let prompt: usize = self
                .prefill
                .iter()
                .filter_map(|&i| self.slots[i].req.as_ref())
                .map(|r| r.job.tokens.len() - r.prompt_pos)
                .sum();
            self.plan_drafts(n_gen, cap - n_gen - prompt.min(budget));
        }
        // 1. The pending token of every generating sequence, each followed by its draft.
        for slot in &mut self.slots {
            let Some(r) = slot.req.as_mut() else { continue };
            r.logits_idx = None;
            r.in_batch = false;
            let Some(tok) = r.next.take() else { continue };
            let pos = slot.cache.len() as i32;
            if self.batch.add(tok, pos, &[slot.seq], true).is_err() {
                // Cannot happen: n_parallel <= n_batch is checked at load.
                r.next = Some(tok);
                r.draft.clear();
                continue;
            }
            slot.cache.push(tok);
            r.logits_idx = Some(self.batch.n_tokens() - 1);
            r.in_batch = true;
            // Logits at every draft position: each is verified by sampling there.
            let mut added = 0;
            for &d in &r.draft {
                if self
                    .batch
                    .add(d, slot.cache.len() as i32, &[slot.seq], true)
                    .is_err()
                {
                    break;
                }
                slot.cache.push(d);
                added += 1;
            }
            r.draft.truncate(added);
        }
        // 2. Prompt chunks, oldest admission first, evened out for the two-row kernel.
        self.even_prompt_rows(&mut budget);
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
            let prompt_ended = r.prompt_done.is_none();
            if prompt_ended {
                r.prompt_done = Some(now);
                self.save_prompt_logits(i, idx);
            }
            // One token, or with a draft as many as were accepted plus one.
            self.sample_verified(i, idx, now);
        }
    }

    /// Samples one token of sequence `i` from batch row `idx` with its own sampler and
    /// records its logprob entry. `None`: sampling failed and the sequence has ended with
    /// the error.
    fn sample_at(&mut self, i: usize, idx: i32) -> Option<LlamaToken> {
        let r = self.slots[i].req.as_mut()?;
        let tok = match r.job.sampler.sample(&self.ctx, idx) {
            Ok(t) => t,
            Err(e) => {
                if let Some(r) = self.release(i, true) {
                    let _ = r.job.tx.send(Event::Error(e));
                }
                return None;
            }
        };
        if let Some(k) = r.job.logprobs {
            // Before on_token: the entry goes out with the text this token releases.
            let lp = self.logprob_entry(idx, tok, k);
            if let Some(r) = self.slots[i].req.as_mut() {
                r.pending_lp.push(lp);
            }
        }
        Some(tok)
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
