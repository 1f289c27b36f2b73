//! Estimated cost per 1M output tokens (`--price-per-kwh`, `--hardware-cost`,
//! `--hardware-life`), beside the energy figure.
//!
//! The model, first-order on purpose:
//! - **energy**: the measured CPU seconds per output token × `--watts-per-core` (the same
//!   estimate as the energy figure: a busy core draws that many watts) → kWh per 1M tokens ×
//!   the price per kWh;
//! - **hardware** (when `--hardware-cost` and `--hardware-life` are given): the machine's
//!   price spread evenly over its life, charged for the wall-clock time 1M tokens take at the
//!   model's measured output rate (first scenario), as if the machine did nothing else.
//!
//! It leaves out idle power, cooling, memory and disk power, and any other use of the
//! machine. Treat it as a comparison between models on one machine, not an invoice. Its
//! rendering in the reports is [`crate::report::cost`].

pub use crate::results::cost::{CostEstimate, CostInputs};
use crate::results::ModelResult;

/// The estimate for one model; `None` without a price or without the figures it needs.
pub fn estimate(inputs: Option<&CostInputs>, m: &ModelResult) -> Option<CostEstimate> {
    let inputs = inputs?;
    let energy_kwh = m
        .resources
        .as_ref()
        .and_then(|r| r.energy_j_per_1k_tokens)
        .map(|j_per_1k| j_per_1k * 1000.0 / 3.6e6);
    let energy = energy_kwh.map(|k| k * inputs.price_per_kwh);
    let tok_s = m
        .scenarios
        .first()
        .and_then(|s| s.metrics.as_ref())
        .and_then(|x| x.output_tok_s)
        .filter(|t| *t > 0.0);
    let hardware = match (inputs.hardware_cost, inputs.hardware_life_s, tok_s) {
        (Some(c), Some(life), Some(t)) if life > 0.0 => Some(c / life * (1e6 / t)),
        _ => None,
    };
    if energy.is_none() && hardware.is_none() {
        return None;
    }
    let total = match (energy, hardware) {
        (Some(e), Some(h)) => Some(e + h),
        (e, None) => e,
        (None, h) => h,
    };
    Some(CostEstimate {
        energy_kwh_per_1m: energy_kwh,
        energy_per_1m: energy,
        hardware_per_1m: hardware,
        total_per_1m: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::*;

    #[test]
    fn energy_and_amortisation_per_million_tokens() {
        let mut m: ModelResult = serde_json::from_value(serde_json::json!({
            "alias": "m", "status": "ok", "reason": null, "mode": "chat", "file": null,
            "load": null, "resources": null, "scenarios": []
        }))
        .unwrap();
        m.resources = Some(ResourceMetrics {
            // 36 J per 1k tokens = 36,000 J per 1M = 0.01 kWh.
            energy_j_per_1k_tokens: Some(36.0),
            ..ResourceMetrics::default()
        });
        let inputs = CostInputs {
            price_per_kwh: 0.30,
            hardware_cost: None,
            hardware_life_s: None,
        };
        let c = estimate(Some(&inputs), &m).unwrap();
        assert!((c.energy_kwh_per_1m.unwrap() - 0.01).abs() < 1e-12);
        assert!((c.total_per_1m.unwrap() - 0.003).abs() < 1e-12);
        assert_eq!(c.hardware_per_1m, None);
        assert!(estimate(None, &m).is_none());
        // 1000 over 1e6 s of life, at 100 tok/s: 1M tokens take 1e4 s → 10.
        m.scenarios.push(ScenarioResult {
            scenario: crate::measure::exec::Scenario::closed(
                1,
                crate::measure::exec::StopAt::Requests(1),
            ),
            started: String::new(),
            metrics: Some(crate::analyze::stats::ScenarioMetrics {
                output_tok_s: Some(100.0),
                ..Default::default()
            }),
            metrics_error: None,
        });
        let c = estimate(
            Some(&CostInputs {
                hardware_cost: Some(1000.0),
                hardware_life_s: Some(1e6),
                ..inputs
            }),
            &m,
        )
        .unwrap();
        assert!((c.hardware_per_1m.unwrap() - 10.0).abs() < 1e-9);
        assert!((c.total_per_1m.unwrap() - 10.003).abs() < 1e-9);
    }
}
