//! The statistics of an A/B comparison ([`crate::pipeline::ab`]): paired per-round ratios, their
//! geometric mean and bootstrap CI over rounds, the verdicts, and the pooled per-target
//! figures.

pub use crate::analyze::metrics::ab_compared;
use crate::analyze::stats::{scenario_metrics, ScenarioMetrics, Slo};
use crate::measure::exec::Scenario;
use crate::measure::record::RequestRecord;
pub use crate::results::comparison::{ComparedTarget, Comparison, Ratio, RoundFigure, Verdict};
use crate::results::Results;

/// Rounds needed before a verdict is given.
pub const MIN_ROUNDS: usize = 3;

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NotSignificant => "not significant",
        }
    }
}

/// Geometric mean of positive ratios; `None` when there is none.
fn geo_mean(v: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = v
        .iter()
        .filter(|x| **x > 0.0 && x.is_finite())
        .map(|x| x.ln())
        .collect();
    crate::analyze::stats::mean(&logs).map(f64::exp)
}

/// The ratio, its CI and the verdict from per-round ratios.
pub fn judge_ratios(
    per_round: &[Option<f64>],
    higher_is_better: bool,
) -> (Option<f64>, Option<[f64; 2]>, Verdict) {
    let v: Vec<f64> = per_round
        .iter()
        .flatten()
        .copied()
        .filter(|x| *x > 0.0 && x.is_finite())
        .collect();
    let ratio = geo_mean(&v);
    let logs: Vec<f64> = v.iter().map(|x| x.ln()).collect();
    let ci = crate::analyze::stats::bootstrap_ci(&logs, |s| s.iter().sum::<f64>() / s.len() as f64)
        .map(|[lo, hi]| [lo.exp(), hi.exp()]);
    let verdict = match ci {
        Some([lo, hi]) if v.len() >= MIN_ROUNDS && (lo > 1.0 || hi < 1.0) => {
            if (lo > 1.0) == higher_is_better {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        }
        _ => Verdict::NotSignificant,
    };
    (ratio, ci, verdict)
}

/// Metrics pooled over rounds: latencies over every request; throughputs over the sum of
/// the rounds' own windows (`rounds`: each round's records).
pub fn pooled_metrics(rounds: &[Vec<RequestRecord>], slo: &Slo) -> ScenarioMetrics {
    let all: Vec<RequestRecord> = rounds.iter().flatten().cloned().collect();
    let mut m = scenario_metrics(&all, slo);
    let window: f64 = rounds
        .iter()
        .map(|r| scenario_metrics(r, &Slo::default()).window_s)
        .sum();
    let good = m.goodput.map(|g| g * m.window_s);
    m.window_s = window;
    let per_s = |count: f64| (window > 0.0).then(|| count / window);
    m.output_tok_s = per_s(m.completion_tokens as f64);
    m.request_throughput = per_s(m.succeeded as f64);
    m.goodput = good.and_then(per_s);
    m
}

/// The comparison from each segment's records.
pub(crate) fn compare_targets(
    targets: &[ComparedTarget],
    scenarios: &[Scenario],
    per_round: &[Vec<Vec<Vec<RequestRecord>>>],
    results: &Results,
    order: Vec<Vec<String>>,
    pause_s: f64,
) -> Comparison {
    let slo = &results.manifest.slo;
    let rounds = order.len();
    // round_metrics[target][scenario][round]
    let round_metrics: Vec<Vec<Vec<ScenarioMetrics>>> = per_round
        .iter()
        .map(|t| {
            t.iter()
                .map(|s| s.iter().map(|r| scenario_metrics(r, slo)).collect())
                .collect()
        })
        .collect();
    let mut figures = Vec::new();
    for round in 0..rounds {
        for (ti, t) in targets.iter().enumerate() {
            for (si, sc) in scenarios.iter().enumerate() {
                let Some(m) = round_metrics[ti][si].get(round) else {
                    continue;
                };
                figures.push(RoundFigure {
                    round: round as u32,
                    position: order[round].iter().position(|n| *n == t.name).unwrap_or(0),
                    target: t.name.clone(),
                    scenario: sc.name.clone(),
                    requests: m.requests,
                    failed: m.failed,
                    retried: m.retried,
                    values: ab_compared()
                        .iter()
                        .map(|metric| (metric.path().to_string(), metric.in_scenario(m).0))
                        .collect(),
                });
            }
        }
    }
    let mut ratios = Vec::new();
    let pooled = |ti: usize, si: usize| {
        results
            .models
            .iter()
            .find(|m| m.alias == targets[ti].name)
            .and_then(|m| m.scenarios.get(si))
            .and_then(|s| s.metrics.clone())
            .unwrap_or_default()
    };
    for (si, sc) in scenarios.iter().enumerate() {
        let base = pooled(0, si);
        for ti in 1..targets.len() {
            let cur = pooled(ti, si);
            for metric in ab_compared() {
                let get = |s: &ScenarioMetrics| metric.in_scenario(s).0;
                let per: Vec<Option<f64>> = (0..rounds)
                    .map(|r| {
                        let b = get(round_metrics[0][si].get(r)?)?;
                        let v = get(round_metrics[ti][si].get(r)?)?;
                        (b > 0.0).then(|| v / b)
                    })
                    .collect();
                let (ratio, ci, verdict) = judge_ratios(&per, metric.higher_is_better);
                ratios.push(Ratio {
                    scenario: sc.name.clone(),
                    target: targets[ti].name.clone(),
                    metric: metric.path().to_string(),
                    higher_is_better: metric.higher_is_better,
                    baseline_value: get(&base),
                    value: get(&cur),
                    ratio,
                    ci,
                    per_round: per,
                    verdict,
                });
            }
        }
    }
    Comparison {
        baseline: targets[0].name.clone(),
        targets: targets.to_vec(),
        rounds: rounds as u32,
        pause_s,
        order,
        min_rounds_for_verdict: MIN_ROUNDS,
        round_figures: figures,
        ratios,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_need_a_consistent_difference_and_enough_rounds() {
        // Latency 2x the baseline in every round: worse.
        let (r, ci, v) = judge_ratios(&[Some(2.0), Some(2.1), Some(1.9), Some(2.0)], false);
        assert!((r.unwrap() - 2.0).abs() < 0.05);
        assert!(ci.unwrap()[0] > 1.0);
        assert_eq!(v, Verdict::Worse);
        // Throughput 2x: better.
        assert_eq!(judge_ratios(&[Some(2.0); 3], true).2, Verdict::Better);
        // Either side of 1: not significant.
        let (_, ci, v) = judge_ratios(&[Some(0.9), Some(1.1), Some(1.0), Some(0.95)], false);
        assert!(ci.unwrap()[0] < 1.0 && ci.unwrap()[1] > 1.0);
        assert_eq!(v, Verdict::NotSignificant);
        // Two rounds are too few, however clear.
        assert_eq!(
            judge_ratios(&[Some(2.0); 2], false).2,
            Verdict::NotSignificant
        );
        assert_eq!(
            judge_ratios(&[None, None], false),
            (None, None, Verdict::NotSignificant)
        );
    }
}
