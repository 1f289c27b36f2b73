//! Cells and figures every report format shares: numbers, sizes, CIs, the highlights, a
//! model's license and status.

use crate::analyze::stats::ScenarioMetrics;
use crate::results::{ModelResult, Results, Status};

pub use crate::util::text::num;

/// A size ([`ingot_core::units::human_bytes`]), or `–` when unknown.
pub fn bytes_h(v: Option<u64>) -> String {
    match v {
        None => "–".into(),
        Some(b) => ingot_core::units::human_bytes(b),
    }
}

pub(crate) fn with_ci(v: Option<f64>, ci: Option<[f64; 2]>, d: usize) -> String {
    match (v, ci) {
        (Some(_), Some([lo, hi])) => {
            format!("{} [{}–{}]", num(v, d), num(Some(lo), d), num(Some(hi), d))
        }
        _ => num(v, d),
    }
}

// ---------------------------------------------------------------------------------------------
// Highlights

/// One highlight: what, which model, the value shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Highlight {
    pub label: &'static str,
    pub model: String,
    pub value: String,
}

/// Fastest TTFT (p50), lowest e2e p95, highest output tok/s (each in the models' first
/// scenario, so they compare like with like), smallest peak RSS.
pub fn highlights(results: &Results) -> Vec<Highlight> {
    let ok: Vec<(&ModelResult, &ScenarioMetrics)> = results
        .models
        .iter()
        .filter(|m| m.status == Status::Ok)
        .filter_map(|m| Some((m, m.scenarios.first()?.metrics.as_ref()?)))
        .collect();
    let mut out = Vec::new();
    let mut pick = |label: &'static str,
                    f: &dyn Fn(&ModelResult, &ScenarioMetrics) -> Option<f64>,
                    lowest: bool,
                    fmt: &dyn Fn(f64) -> String| {
        let best = ok
            .iter()
            .filter_map(|(m, s)| Some((m, f(m, s)?)))
            .min_by(|a, b| {
                if lowest {
                    a.1.total_cmp(&b.1)
                } else {
                    b.1.total_cmp(&a.1)
                }
            });
        if let Some((m, v)) = best {
            out.push(Highlight {
                label,
                model: m.alias.clone(),
                value: fmt(v),
            });
        }
    };
    pick("fastest TTFT (p50)", &|_, s| s.ttft_ms.p50, true, &|v| {
        format!("{v:.1} ms")
    });
    pick(
        "lowest p95 latency (e2e)",
        &|_, s| s.e2e_ms.p95,
        true,
        &|v| format!("{v:.1} ms"),
    );
    pick(
        "highest output tok/s",
        &|_, s| s.output_tok_s,
        false,
        &|v| format!("{v:.1} tok/s"),
    );
    pick(
        "smallest peak RSS",
        &|m, _| m.resources.as_ref()?.peak_rss_bytes.map(|b| b as f64),
        true,
        &|v| bytes_h(Some(v as u64)),
    );
    out
}

pub fn license_cell(m: &ModelResult) -> String {
    match (&m.license, m.license_permissive) {
        (Some(l), Some(false)) => format!("{l} ⚠ non-permissive"),
        (Some(l), _) => l.clone(),
        (None, _) => "–".into(),
    }
}

pub(crate) fn status(m: &ModelResult) -> String {
    match m.status {
        Status::Ok => "ok".into(),
        Status::Failed => "failed".into(),
    }
}

pub(crate) fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.1} ms"),
        _ => "–".into(),
    }
}
