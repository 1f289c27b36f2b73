//! Prompt-lookup (n-gram) speculative decoding: drafting, how much each sequence may draft,
//! and the verification rule.
//!
//! A generating sequence whose last few tokens already occurred earlier in its prompt or
//! output (a summary copying a name, a date, a phrase of its source) *drafts* the tokens that
//! followed that earlier occurrence. The scheduler decodes the pending token and the draft
//! in the same batch, with logits at every position, then samples position by position with
//! the request's own sampler ([`verify`]): each sampled token that equals the draft token at
//! its position is accepted, and the first one that differs ends the step as the correction.
//! One decode can thus produce several tokens, and the output is the one plain decoding gives.
//!
//! # Why the output distribution is exactly preserved
//!
//! Speculative sampling (Leviathan et al. 2023; Chen et al. 2023) accepts a draft token `d`
//! proposed with probability `q(d)` with probability `min(1, p(d) / q(d))`, where `p` is the
//! target model's distribution at that position (after the request's whole sampling chain:
//! penalties, grammar, top-k/p, temperature), and on rejection samples from the residual
//! `max(0, p - q)`, normalised. That yields tokens distributed exactly as `p`.
//!
//! An n-gram draft is deterministic: `q` is a point mass on `d`. Then the acceptance
//! probability is `min(1, p(d) / 1) = p(d)`, and the residual is `p` with `d` removed,
//! renormalised: `p(x) / (1 - p(d))` for `x != d`. "Sample `x ~ p`; accept if `x == d`, else
//! emit `x` as the correction" does exactly that: it accepts with probability `p(d)`, and
//! given `x != d`, `x` has probability `p(x) / (1 - p(d))`. So this rule *is* the standard
//! rejection-sampling rule for a point-mass draft, and since every later position is only
//! looked at when all earlier ones were accepted, its logits are those of the accepted prefix:
//! the joint distribution of the output equals plain decoding's, position by position.
//!
//! More: the sampler is called once per emitted token, in order, exactly as plain decoding
//! calls it. Its state (penalty history, grammar, the seeded RNG of `dist`) therefore sees
//! the same calls, and with the same logits the same seed gives the same text. At temperature
//! 0 the same holds trivially (argmax).
//!
//! `tests::point_mass_acceptance_preserves_the_distribution` checks the rule against a
//! synthetic two-position model with a chi-squared test.

/// Longest n-gram looked up (the last `NGRAM_MAX` tokens first, then shorter ones).
pub(super) const NGRAM_MAX: usize = 3;
/// Shortest n-gram looked up. A single token recurs everywhere (punctuation, spaces) and
/// predicts poorly, so two is the least.
pub(super) const NGRAM_MIN: usize = 2;
/// Longest draft of one sequence in one step.
pub(super) const DRAFT_MAX: usize = 12;
/// Draft length a sequence starts with, before it has shown how well its drafts do.
const DRAFT_START: usize = 4;
/// At most this many tokens of generating sequences (pending tokens plus drafts) per step:
/// on a CPU every extra row of a batch costs nearly as much as a real token once a few
/// sequences decode together, so with many sequences generating the drafts get short (all
/// of the same length, see `Scheduler::plan_drafts`), and with more than [`SPEC_MAX_SEQS`]
/// sequences nobody drafts.
pub(super) const SPEC_STEP_TOKENS: usize = 16;
/// With more sequences than this generating, nobody drafts: the batch is already full of
/// decode tokens that are certain to be used. At eight, a draft token each would double the
/// rows of a step for tokens that general prompts accept less often than the ~70 % a row
/// must earn there (PERFORMANCE.md, rounds 5 and 6).
pub(super) const SPEC_MAX_SEQS: usize = 7;
/// The longest pause of a sequence whose drafts keep missing, in steps.
const MAX_COOLDOWN: u32 = 32;

/// What speculation knows about one sequence: its adaptive draft length and its counts.
#[derive(Debug, Clone)]
pub(super) struct SpecState {
    /// Current longest draft: grows by two when a whole draft was accepted, shrinks by one
    /// when part of it was rejected (the "heuristic" schedule of Hugging Face's assisted
    /// generation), within `1..=DRAFT_MAX`.
    len: usize,
    /// Steps left before this sequence drafts again.
    cooldown: u32,
    /// Drafts in a row of which nothing was accepted: each doubles the pause, so a sequence
    /// whose n-grams mislead (free-form text) costs almost nothing.
    misses: u32,
    /// Draft tokens decoded, and those accepted (reported in [`ingot_core::Timings`]).
    pub drafted: u32,
    pub accepted: u32,
}

impl Default for SpecState {
    fn default() -> Self {
        Self {
            len: DRAFT_START,
            cooldown: 0,
            misses: 0,
            drafted: 0,
            accepted: 0,
        }
    }
}

impl SpecState {
    /// The longest draft this sequence should try now (0: not this step). Counts down a
    /// pause, so call it once per step.
    pub fn want(&mut self) -> usize {
        if self.cooldown > 0 {
            self.cooldown -= 1;
            return 0;
        }
        self.len
    }

    /// Records the outcome of a draft of `drafted` tokens of which `accepted` were accepted.
    /// (The counts themselves are added as tokens are verified, so that a sequence ending
    /// mid-draft reports them.)
    pub fn adapt(&mut self, drafted: usize, accepted: usize) {
        if drafted == 0 {
            return;
        }
        if accepted >= drafted {
            self.len = (self.len + 2).min(DRAFT_MAX);
        } else {
            self.len = self.len.saturating_sub(1).max(1);
        }
        if accepted == 0 {
            self.misses = self.misses.saturating_add(1);
            self.cooldown = 1u32
                .checked_shl(self.misses.min(31))
                .unwrap_or(MAX_COOLDOWN)
                .min(MAX_COOLDOWN);
        } else {
            self.misses = 0;
        }
    }
}

/// Prompt lookup: finds an earlier occurrence of the last `n` tokens of `history ++ [last]`
/// (for `n` from [`NGRAM_MAX`] down to [`NGRAM_MIN`]) and puts up to `max` of the tokens
/// that followed it into `out` (cleared first). The most recent occurrence that is followed
/// by `max` tokens, because text being copied or repeated continues from where it was last
/// seen; failing that (a match near the end, as in a repeating loop), the earliest one,
/// which is followed by the most.
///
/// `history` is what the sequence's cells hold (prompt, then output) and `last` its pending
/// token, so nothing is copied to search them.
pub(super) fn find_draft<T: Copy + PartialEq>(
    history: &[T],
    last: T,
    max: usize,
    out: &mut Vec<T>,
) {
    out.clear();
    if max == 0 {
        return;
    }
    let len = history.len() + 1;
    let at = |i: usize| if i < history.len() { history[i] } else { last };
    for n in (NGRAM_MIN..=NGRAM_MAX).rev() {
        if len <= n {
            continue;
        }
        let tail = len - n;
        // Candidate starts s < tail: the match may overlap the tail (a repeating pattern),
        // and its continuation starts at s + n <= len - 1, so at least one token follows.
        let mut found = None;
        for s in (0..tail).rev() {
            if at(s + n - 1) == last && (0..n - 1).all(|k| at(s + k) == at(tail + k)) {
                found = Some(s);
                if len - (s + n) >= max {
                    break;
                }
            }
        }
        if let Some(s) = found {
            let from = s + n;
            let take = max.min(len - from);
            out.extend((from..from + take).map(at));
            return;
        }
    }
}

/// Draft lengths for a model whose weights have a two-row CPU kernel
/// ([`crate::kernels::pairs_rows`]): ggml multiplies two rows by two columns per call only
/// when the batch has an even number of rows, and otherwise falls back to one by one for the
/// whole product, so an odd batch costs about what the next even one does. A step's rows are
/// `n_gen * (1 + draft)`; with an odd number of generating sequences an even draft makes
/// them odd.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowParity {
    /// The rule applies: a two-row kernel, an odd number of sequences, prompt-lookup drafts
    /// (a draft model pays for every token it guesses, so it is not asked for more).
    pub on: bool,
}

impl RowParity {
    pub fn new(pairs_rows: bool, n_gen: usize, draft_model: bool) -> Self {
        Self {
            on: pairs_rows && n_gen % 2 == 1 && !draft_model,
        }
    }

    /// The draft length to ask for instead of `want`: one more when `want` is even, a guess
    /// the batch pays almost nothing for.
    pub fn ask(self, want: usize) -> usize {
        if self.on && want > 0 && want % 2 == 0 {
            want + 1
        } else {
            want
        }
    }

    /// The common draft length of several sequences instead of `shortest`: one less when it
    /// is even (lookup found fewer tokens than asked for), which saves a row per sequence.
    pub fn common(self, shortest: usize) -> usize {
        if self.on && shortest > 0 && shortest % 2 == 0 {
            shortest - 1
        } else {
            shortest
        }
    }
}

/// The work of one sequence at each position of its verification (see [`verify`]).
pub(super) trait Verifier<T> {
    /// Samples the token that follows draft position `j` (0: the token after the pending
    /// one) with the request's own sampler, from that position's logits. `None`: sampling
    /// failed, and the sequence has been ended with the error.
    fn sample(&mut self, j: usize) -> Option<T>;
    /// Hands on the sampled token `tok` as the sequence's next output token; `accepted`: it
    /// equals the draft token at `j`, whose KV cell (already computed) is therefore kept.
    /// Returns whether the sequence still runs (EOS, a stop string or `max_tokens` end it).
    fn emit(&mut self, j: usize, tok: T, accepted: bool) -> bool;
}

/// Verifies `draft` (decoded after the pending token) position by position: sample, accept
/// while the sampled token equals the draft token, and stop at the first that differs (it is
/// emitted as the correction), when the sequence ends, or after the token that follows a
/// fully accepted draft. Returns how many draft tokens were accepted.
pub(super) fn verify<T: Copy + PartialEq>(draft: &[T], v: &mut impl Verifier<T>) -> usize {
    let mut accepted = 0;
    for j in 0..=draft.len() {
        let Some(tok) = v.sample(j) else {
            break;
        };
        let hit = draft.get(j) == Some(&tok);
        accepted += usize::from(hit);
        if !v.emit(j, tok, hit) || !hit {
            break;
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_prefers_the_longest_then_the_most_recent_ngram() {
        // ... 1 2 3 [7 8] ... 2 3 [9] ... 1 2 | 3  -> the 3-gram "1 2 3" continues with 7 8.
        let h = [1, 2, 3, 7, 8, 5, 2, 3, 9, 4, 1, 2];
        let mut out = Vec::new();
        find_draft(&h, 3, 8, &mut out);
        assert_eq!(out, [7, 8, 5, 2, 3, 9, 4, 1]);
        // Only the 2-gram "2 3" recurs: its latest occurrence wins.
        let h = [2, 3, 7, 5, 2, 3, 9, 4, 6, 2];
        find_draft(&h, 3, 2, &mut out);
        assert_eq!(out, [9, 4]);
        // The draft stops where the history does.
        let h = [5, 6, 5];
        find_draft(&h, 6, 8, &mut out);
        assert_eq!(out, [5, 6]);
    }

    #[test]
    fn lookup_without_a_match_or_room_drafts_nothing() {
        let mut out = vec![42];
        find_draft(&[1, 2, 3, 4], 5, 8, &mut out);
        assert!(out.is_empty());
        find_draft(&[1, 2, 1], 2, 0, &mut out);
        assert!(out.is_empty());
        find_draft::<i32>(&[], 1, 8, &mut out);
        assert!(out.is_empty());
        // A single recurring token is not enough.
        find_draft(&[7, 1, 8, 9], 7, 8, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn repeating_output_drafts_its_own_continuation() {
        let h = [9, 1, 2, 1, 2, 1, 2];
        let mut out = Vec::new();
        find_draft(&h, 1, 5, &mut out);
        assert_eq!(out, [2, 1, 2, 1]);
        // Long enough after the most recent match: that one.
        find_draft(&h, 1, 2, &mut out);
        assert_eq!(out, [2, 1]);
    }

    #[test]
    fn draft_length_adapts_and_misses_pause_drafting() {
        let mut s = SpecState::default();
        assert_eq!(s.want(), DRAFT_START);
        s.adapt(4, 4);
        assert_eq!(s.want(), DRAFT_START + 2);
        for _ in 0..10 {
            s.adapt(s.len, s.len);
        }
        assert_eq!(s.want(), DRAFT_MAX);
        s.adapt(DRAFT_MAX, 3);
        assert_eq!(s.want(), DRAFT_MAX - 1);
        // Two misses in a row: a pause of 4 steps, then drafting again.
        s.adapt(5, 0);
        s.adapt(5, 0);
        let paused = (0..4).map(|_| s.want()).collect::<Vec<_>>();
        assert_eq!(paused, [0, 0, 0, 0]);
        assert!(s.want() > 0);
        for _ in 0..40 {
            s.adapt(1, 0);
        }
        assert_eq!(s.cooldown, MAX_COOLDOWN);
        s.adapt(1, 1);
        assert_eq!(s.misses, 0);
    }

    /// A tiny deterministic generator (SplitMix64), so the test needs no crate.
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn pick(&mut self, p: &[f64]) -> usize {
            let mut u = self.uniform();
            for (i, &pi) in p.iter().enumerate() {
                if u < pi {
                    return i;
                }
                u -= pi;
            }
            p.len() - 1
        }
    }

    /// A synthetic model over 4 tokens: the first position's distribution, and the second's
    /// given the first.
    const P1: [f64; 4] = [0.5, 0.3, 0.15, 0.05];
    fn p2(first: usize) -> [f64; 4] {
        match first {
            0 => [0.1, 0.6, 0.2, 0.1],
            1 => [0.25, 0.25, 0.25, 0.25],
            2 => [0.7, 0.1, 0.1, 0.1],
            _ => [0.05, 0.05, 0.1, 0.8],
        }
    }

    /// Emits into `out` the tokens a sequence produces, sampling from the synthetic model
    /// given what was emitted so far; ends after two tokens.
    struct Synthetic<'a> {
        rng: &'a mut Rng,
        out: Vec<usize>,
    }
    impl Verifier<usize> for Synthetic<'_> {
        fn sample(&mut self, _j: usize) -> Option<usize> {
            let p = match self.out.first() {
                None => P1,
                Some(&f) => p2(f),
            };
            Some(self.rng.pick(&p))
        }
        fn emit(&mut self, _j: usize, tok: usize, _accepted: bool) -> bool {
            self.out.push(tok);
            self.out.len() < 2
        }
    }

    fn chi_squared(counts: &[u64], probs: &[f64], n: u64) -> f64 {
        counts
            .iter()
            .zip(probs)
            .map(|(&c, &p)| {
                let e = p * n as f64;
                (c as f64 - e).powi(2) / e
            })
            .sum()
    }

    /// The textbook rule for a draft `d` from proposal `q`: accept with probability
    /// `min(1, p(d)/q(d))`, else sample the normalised residual `max(0, p - q)`.
    fn textbook(rng: &mut Rng, p: &[f64], q: &[f64], d: usize) -> usize {
        if rng.uniform() < (p[d] / q[d]).min(1.0) {
            return d;
        }
        let residual: Vec<f64> = p.iter().zip(q).map(|(a, b)| (a - b).max(0.0)).collect();
        let z: f64 = residual.iter().sum();
        let norm: Vec<f64> = residual.iter().map(|r| r / z).collect();
        rng.pick(&norm)
    }

    #[test]
    fn with_a_two_row_kernel_drafts_make_the_batch_even() {
        // Issue 18 (round 6): one sequence, drafts of 1 + k rows; k odd keeps ggml's
        // two-row kernel in use.
        let one = RowParity::new(true, 1, false);
        assert_eq!(one.ask(4), 5);
        assert_eq!(one.ask(3), 3);
        assert_eq!(one.ask(0), 0, "a sequence that is not drafting stays so");
        for n_gen in [1, 3, 5, 7] {
            let p = RowParity::new(true, n_gen, false);
            for want in 1..=DRAFT_MAX {
                assert_eq!(
                    n_gen * (1 + p.ask(want)) % 2,
                    0,
                    "n_gen {n_gen}, want {want}"
                );
            }
        }
        let three = RowParity::new(true, 3, false);
        assert_eq!(three.common(2), 1);
        assert_eq!(three.common(3), 3);
        assert_eq!(three.common(0), 0);
        // An even number of sequences is even whatever the drafts; a draft model, or a
        // kernel of one row, leaves the lengths alone.
        for p in [
            RowParity::new(true, 2, false),
            RowParity::new(true, 1, true),
            RowParity::new(false, 1, false),
        ] {
            assert_eq!(p.ask(4), 4);
            assert_eq!(p.common(4), 4);
        }
    }

    #[test]
    fn point_mass_acceptance_preserves_the_distribution() {
        const N: u64 = 200_000;
        // 99.9% quantiles of chi-squared with 15 and 3 degrees of freedom.
        const CRIT_15: f64 = 37.70;
        const CRIT_3: f64 = 16.27;
        let joint: Vec<f64> = (0..16).map(|k| P1[k / 4] * p2(k / 4)[k % 4]).collect();
        let mut rng = Rng(0x5eed);
        // Drafts that are right often, sometimes, and never (token 3 then 3 is rare).
        for draft in [[0usize, 1], [1, 2], [3, 3]] {
            let mut counts = [0u64; 16];
            let mut accepted_first = 0u64;
            for _ in 0..N {
                let mut s = Synthetic {
                    rng: &mut rng,
                    out: Vec::new(),
                };
                let a = verify(&draft, &mut s);
                // A rejected or fully used draft leaves the rest to plain decoding.
                while s.out.len() < 2 {
                    let t = s.sample(s.out.len()).unwrap();
                    s.emit(0, t, false);
                }
                counts[s.out[0] * 4 + s.out[1]] += 1;
                accepted_first += u64::from(a > 0);
            }
            let chi = chi_squared(&counts, &joint, N);
            assert!(chi < CRIT_15, "draft {draft:?}: chi2 {chi} over 15 dof");
            // The first draft token is accepted with probability p(d).
            let rate = accepted_first as f64 / N as f64;
            assert!((rate - P1[draft[0]]).abs() < 0.01, "{draft:?}: {rate}");
        }
        // The same rule against the textbook one, for a single position: both give p.
        let q = [0.0, 0.0, 1.0, 0.0];
        let mut ours = [0u64; 4];
        let mut theirs = [0u64; 4];
        for _ in 0..N {
            let x = rng.pick(&P1);
            ours[x] += 1;
            theirs[textbook(&mut rng, &P1, &q, 2)] += 1;
        }
        assert!(chi_squared(&ours, &P1, N) < CRIT_3);
        assert!(chi_squared(&theirs, &P1, N) < CRIT_3);
    }
}
