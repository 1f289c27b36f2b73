//! Log-probabilities of generated tokens (`logprobs` / `top_logprobs` in the OpenAI API).
//!
//! The values are the model's log-softmax over the whole vocabulary, computed from the raw
//! logits row *before* any sampling filter (temperature, top-k/p, penalties, grammar), as
//! llama-server's `n_probs` reports them: they describe the model, not the sampler. The
//! work is done only for requests that ask for logprobs (one pass over the logits row for the
//! normaliser, one for the top alternatives).

use serde::{Deserialize, Serialize};

/// The most alternatives per position a request may ask for (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// The log-probability of one generated token, with the most likely alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub id: i32,
    /// The token's text (`bytes` as lossy UTF-8: a token may hold part of a character).
    pub token: String,
    pub bytes: Vec<u8>,
    /// Natural log of the probability, <= 0.
    pub logprob: f32,
    /// The most likely tokens at this position, most likely first (ties: lower id first).
    pub top: Vec<TopLogprob>,
}

/// One alternative at a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    pub id: i32,
    pub token: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// `log(sum(exp(logits)))`, stable (max subtracted) and accumulated in f64 so a 150k-entry
/// vocabulary loses no precision. Non-finite logits (masked tokens) count as probability 0.
pub fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return f64::from(max);
    }
    let max = f64::from(max);
    let sum: f64 = logits
        .iter()
        .filter(|l| l.is_finite())
        .map(|&l| (f64::from(l) - max).exp())
        .sum();
    max + sum.ln()
}

/// The `k` largest logits as `(id, logit)`, largest first, ties to the lower id.
pub fn top_k(logits: &[f32], k: usize) -> Vec<(i32, f32)> {
    let mut top: Vec<(i32, f32)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return top;
    }
    for (i, &l) in logits.iter().enumerate() {
        if !l.is_finite() {
            continue;
        }
        if top.len() == k && l <= top[k - 1].1 {
            continue;
        }
        // Insert after every entry >= l, so equal logits keep the lower id first.
        let pos = top.partition_point(|&(_, t)| t >= l);
        top.insert(pos, (i as i32, l));
        top.truncate(k);
    }
    top
}

/// The log-probabilities of `chosen` and of the `k` most likely tokens, from one logits row;
/// `piece` renders a token's bytes.
pub fn entry(
    logits: &[f32],
    chosen: i32,
    k: usize,
    piece: &mut dyn FnMut(i32) -> Vec<u8>,
) -> TokenLogprob {
    let lse = log_sum_exp(logits);
    let lp = |l: f32| (f64::from(l) - lse) as f32;
    let chosen_logit = usize::try_from(chosen)
        .ok()
        .and_then(|i| logits.get(i))
        .copied()
        .unwrap_or(f32::NEG_INFINITY);
    let top = top_k(logits, k)
        .into_iter()
        .map(|(id, l)| {
            let bytes = piece(id);
            TopLogprob {
                id,
                token: String::from_utf8_lossy(&bytes).into_owned(),
                bytes,
                // Rounding can make the most likely token's value a hair above 0.
                logprob: lp(l).min(0.0),
            }
        })
        .collect();
    let bytes = piece(chosen);
    TokenLogprob {
        id: chosen,
        token: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
        logprob: lp(chosen_logit).min(0.0),
        top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_matches_the_definition() {
        let logits = [1.0f32, 2.0, 3.0, f32::NEG_INFINITY];
        let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).sum();
        assert!((log_sum_exp(&logits) - z.ln()).abs() < 1e-12);
        let mut piece = |id: i32| format!("t{id}").into_bytes();
        let e = entry(&logits, 1, 3, &mut piece);
        assert!((f64::from(e.logprob) - (2.0 - z.ln())).abs() < 1e-6);
        assert_eq!(e.token, "t1");
        let ids: Vec<i32> = e.top.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![2, 1, 0]);
        let total: f64 = e.top.iter().map(|t| f64::from(t.logprob).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }

    #[test]
    fn top_k_sorts_and_breaks_ties_by_id() {
        assert_eq!(
            top_k(&[0.5, 3.0, 3.0, -1.0, 2.0], 3),
            vec![(1, 3.0), (2, 3.0), (4, 2.0)]
        );
        assert!(top_k(&[1.0], 0).is_empty());
        assert_eq!(top_k(&[f32::NAN, 1.0], 5), vec![(1, 1.0)]);
    }
}
