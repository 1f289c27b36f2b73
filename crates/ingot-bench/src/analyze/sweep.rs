//! `--sweep [N]`: from one request at a time to the server's ceiling, and N rates between.
//!
//! 1. **sync**: a closed loop at concurrency 1, the best latency and the lowest throughput;
//! 2. **throughput**: a closed loop at the highest `--concurrency` (16 if none is above 1),
//!    the most the server delivers;
//! 3. N open loops (`--arrivals`, Poisson by default) at rates evenly spaced strictly
//!    between the two measured request rates.
//!
//! Each point runs the usual stop condition (`--requests`, `--duration` or rounds × prompts).
//! A rate is **sustained** when its queue does not grow: the median latency from the
//! intended start of the last third of its requests is at most 1.5 × (plus 20 ms) that of
//! its first third, and under 5 % of its requests failed. The **saturation point** is the
//! highest offered rate sustained with every lower rate sustained too. The HTML report draws
//! TTFT p50/p90 and ITL against the achieved request rate, one line per model; report.md's
//! table is [`crate::report::sweep`].

use crate::measure::record::RequestRecord;
pub use crate::results::sweep::{SweepPoint, SweepResult};
use crate::results::ScenarioResult;

/// Rates between sync and throughput when `--sweep` has no number.
pub const DEFAULT_RATES: usize = 5;
/// Concurrency of the throughput point when no `--concurrency` is above 1.
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;

/// `--sweep` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSpec {
    /// Open-loop rates between sync and throughput.
    pub rates: usize,
    /// Concurrency of the throughput point.
    pub max_concurrency: usize,
}

/// Three significant digits: rates read as 2.35, not 2.3456789.
fn round3(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let mag = 10f64.powf(x.log10().floor() - 2.0);
    (x / mag).round() * mag
}

/// The rates between the sync and throughput request rates.
pub fn rates_between(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo) {
        return Vec::new();
    }
    (1..=n)
        .map(|k| round3(lo + (hi - lo) * k as f64 / (n + 1) as f64))
        .collect()
}

/// Whether an open loop's queue stayed flat.
pub fn sustained(records: &[&RequestRecord]) -> Option<bool> {
    let mut ok: Vec<&&RequestRecord> = records.iter().filter(|r| r.ok()).collect();
    if ok.len() < 6 {
        return None;
    }
    let failed = records.len() - ok.len();
    ok.sort_by(|a, b| a.intended_start_ms.total_cmp(&b.intended_start_ms));
    let third = ok.len() / 3;
    let median = |rs: &[&&RequestRecord]| {
        let mut v: Vec<f64> = rs.iter().map(|r| r.e2e_from_intended_ms()).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        crate::analyze::stats::percentile_sorted(&v, 0.5)
    };
    let first = median(&ok[..third])?;
    let last = median(&ok[ok.len() - third..])?;
    Some(last <= first * 1.5 + 20.0 && (failed as f64) < 0.05 * records.len() as f64)
}

/// The sweep of one model from its scenario results and records.
pub fn summarize(
    scenarios: &[ScenarioResult],
    records: &[RequestRecord],
    model: &str,
) -> SweepResult {
    let points: Vec<SweepPoint> = scenarios
        .iter()
        .map(|s| {
            let m = s.metrics.clone().unwrap_or_default();
            let (kind, offered) = match s.scenario.load {
                crate::measure::exec::LoadShape::Open { rate, .. } => ("rate", Some(rate)),
                _ => (s.scenario.name.as_str(), None),
            };
            let recs: Vec<&RequestRecord> = records
                .iter()
                .filter(|r| r.model == model && r.scenario == s.scenario.name && !r.warmup)
                .collect();
            SweepPoint {
                scenario: s.scenario.name.clone(),
                kind: kind.to_string(),
                offered_rate: offered,
                achieved_req_s: m.request_throughput,
                ttft_p50_ms: m.ttft_ms.p50,
                ttft_p90_ms: m.ttft_ms.p90,
                itl_mean_ms: m.itl_ms.mean,
                e2e_p50_ms: m.e2e_ms.p50,
                sustained: offered.and_then(|_| sustained(&recs)),
            }
        })
        .collect();
    let mut saturation_rate = None;
    let mut first_unsustained = None;
    for p in points.iter().filter(|p| p.kind == "rate") {
        match p.sustained {
            Some(true) if first_unsustained.is_none() => saturation_rate = p.offered_rate,
            Some(false) if first_unsustained.is_none() => first_unsustained = p.offered_rate,
            _ => {}
        }
    }
    let ceiling = points
        .iter()
        .find(|p| p.kind == "throughput")
        .and_then(|p| p.achieved_req_s);
    let fmt = |v: Option<f64>| crate::util::text::num(v, 2);
    let summary = match (saturation_rate, first_unsustained) {
        (Some(s), Some(u)) => format!(
            "saturation at about {} req/s: the highest offered rate whose queue stayed flat; at {} req/s it grew (throughput ceiling {} req/s)",
            fmt(Some(s)),
            fmt(Some(u)),
            fmt(ceiling)
        ),
        (Some(s), None) => format!(
            "every rate up to {} req/s was sustained; the throughput ceiling is {} req/s",
            fmt(Some(s)),
            fmt(ceiling)
        ),
        (None, Some(u)) => format!(
            "saturated already at the lowest rate, {} req/s",
            fmt(Some(u))
        ),
        (None, None) => "no rate point could be judged (too few requests per point, or the sync and throughput rates were equal)".to_string(),
    };
    SweepResult {
        points,
        saturation_rate,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_spaced_strictly_between() {
        assert_eq!(rates_between(1.0, 5.0, 3), vec![2.0, 3.0, 4.0]);
        assert_eq!(rates_between(2.0, 2.0, 3), Vec::<f64>::new());
        assert_eq!(round3(2.34567), 2.35);
        assert_eq!(round3(1234.5), 1230.0);
    }

    fn rec(intended: f64, e2e: f64) -> RequestRecord {
        let mut r = RequestRecord::start("m", "s", 0, 0, "p", false, intended, intended);
        r.end_ms = intended + e2e;
        r
    }

    #[test]
    fn a_growing_queue_is_not_sustained() {
        let flat: Vec<RequestRecord> = (0..12).map(|i| rec(i as f64 * 100.0, 50.0)).collect();
        let growing: Vec<RequestRecord> = (0..12)
            .map(|i| rec(i as f64 * 100.0, 50.0 + 80.0 * i as f64))
            .collect();
        assert_eq!(sustained(&flat.iter().collect::<Vec<_>>()), Some(true));
        assert_eq!(sustained(&growing.iter().collect::<Vec<_>>()), Some(false));
        assert_eq!(sustained(&flat[..3].iter().collect::<Vec<_>>()), None);
    }
}
