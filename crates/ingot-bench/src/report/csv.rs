//! `results.csv`: one row per model, scenario, metric and statistic (long format).

use std::fmt::Write as _;

use crate::analyze::stats::{ScenarioMetrics, Summary};
use crate::measure::record::RequestRecord;
use crate::report::common::*;
use crate::report::exporter::Exporter;
use crate::results::Results;
use crate::score::scored::RecordScores;

// ---------------------------------------------------------------------------------------------
// CSV (long format)

fn csv_field(s: &str) -> String {
    crate::util::text::csv_field(s, false)
}

fn summary_rows(out: &mut Vec<(String, String, f64)>, metric: &str, s: &Summary) {
    out.push((metric.into(), "n".into(), s.n as f64));
    let stats = [
        ("mean", s.mean),
        ("sd", s.sd),
        ("min", s.min),
        ("p50", s.p50),
        ("p90", s.p90),
        ("p95", s.p95),
        ("p99", s.p99),
        ("max", s.max),
        ("mean_ci_lo", s.mean_ci.map(|c| c[0])),
        ("mean_ci_hi", s.mean_ci.map(|c| c[1])),
        ("p95_ci_lo", s.p95_ci.map(|c| c[0])),
        ("p95_ci_hi", s.p95_ci.map(|c| c[1])),
    ];
    for (k, v) in stats {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            out.push((metric.into(), k.into(), v));
        }
    }
}

/// Rows `(metric, stat, value)` of one scenario.
pub fn scenario_rows(m: &ScenarioMetrics) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    let mut one = |metric: &str, v: Option<f64>| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            out.push((metric.to_string(), "value".to_string(), v));
        }
    };
    one("requests", Some(m.requests as f64));
    one("succeeded", Some(m.succeeded as f64));
    one("failed", Some(m.failed as f64));
    one("error_rate", Some(m.error_rate));
    one("window_s", Some(m.window_s));
    one("output_tok_s", m.output_tok_s);
    one("request_throughput", m.request_throughput);
    one("goodput", m.goodput);
    one("slo_attainment", m.slo_attainment);
    one("completion_tokens", Some(m.completion_tokens as f64));
    one("prompt_tokens", Some(m.prompt_tokens as f64));
    one("late_sends", Some(m.late_sends as f64));
    one("late_share", Some(m.late_share));
    for (name, s) in [
        ("ttft_ms", &m.ttft_ms),
        ("e2e_ms", &m.e2e_ms),
        ("itl_ms", &m.itl_ms),
        ("tpot_ms", &m.tpot_ms),
        ("decode_tok_s", &m.decode_tok_s),
        ("ttft_from_intended_ms", &m.ttft_from_intended_ms),
        ("e2e_from_intended_ms", &m.e2e_from_intended_ms),
        ("schedule_lag_ms", &m.schedule_lag_ms),
    ] {
        summary_rows(&mut out, name, s);
    }
    out
}

/// `results.csv`: one value per row: `model,scenario,metric,stat,value,kind`. Model-level
/// values (load, resources, status) have an empty scenario. `kind` is the model's: `chat`
/// (generations, chat or completion mode) or `embedding` (issue 15; its rows are the
/// embedding figures: `request_throughput`, `inputs_per_s`, `input_tok_s`, `latency_ms`,
/// ...). The column is last, so readers of the first five keep working.
pub fn csv(results: &Results) -> String {
    let mut out = String::from("model,scenario,metric,stat,value,kind\n");
    for m in &results.models {
        let kind = if m.is_embedding() {
            "embedding"
        } else {
            "chat"
        };
        let mut row = |model: &str, scenario: &str, metric: &str, stat: &str, value: String| {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{kind}",
                csv_field(model),
                csv_field(scenario),
                metric,
                stat,
                csv_field(&value)
            );
        };
        row(&m.alias, "", "status", "value", status(m));
        if let Some(r) = &m.reason {
            row(&m.alias, "", "reason", "value", r.clone());
        }
        if let Some(f) = &m.file {
            if let Some(s) = f.size_bytes {
                row(&m.alias, "", "disk_bytes", "value", s.to_string());
            }
        }
        if let Some(l) = &m.license {
            row(&m.alias, "", "license", "value", l.clone());
        }
        if let Some(p) = m.license_permissive {
            row(&m.alias, "", "license_permissive", "value", p.to_string());
        }
        if let Some(q) = &m.quality {
            let mut put = |metric: &str, stat: &str, v: Option<f64>| {
                if let Some(v) = v.filter(|v| v.is_finite()) {
                    row(&m.alias, "", metric, stat, format!("{v}"));
                }
            };
            put("quality", "mean", q.score);
            put("quality", "mean_ci_lo", q.score_ci.map(|c| c[0]));
            put("quality", "mean_ci_hi", q.score_ci.map(|c| c[1]));
            put("quality_5", "mean", q.score_5);
            put("quality", "cases", Some(q.cases as f64));
            put("quality", "passed", Some(q.passed as f64));
            put("quality", "pass_rate", q.pass_rate);
            put("quality", "judge_errors", Some(q.judge_errors as f64));
            if let Some(h) = &q.human {
                put("human_score", "mean", h.mean);
                put("human_score", "n", Some(h.n as f64));
            }
            for c in &q.case_scores {
                let metric = format!("case_score.{}", c.case);
                put(&metric, "score", c.score);
                put(&metric, "passed", Some(if c.passed { 1.0 } else { 0.0 }));
                put(&metric, "human", c.human);
            }
        }
        if let Some(l) = &m.load {
            for (k, v) in [
                ("cold_load_ms", l.cold_load_ms),
                ("cold_first_ttft_ms", l.cold_first_ttft_ms),
                ("warm_load_ms", l.warm_load_ms),
                ("warm_first_ttft_ms", l.warm_first_ttft_ms),
            ] {
                if let Some(v) = v {
                    row(&m.alias, "", k, "value", format!("{v}"));
                }
            }
            for (when, phases) in [("cold", &l.cold_load_phases), ("warm", &l.warm_load_phases)] {
                if let Some(p) = phases {
                    for (part, v) in [
                        ("header", p.header_ms),
                        ("weights", p.weights_ms),
                        ("context", p.context_ms),
                    ] {
                        row(
                            &m.alias,
                            "",
                            &format!("{when}_load_{part}_ms"),
                            "value",
                            format!("{v}"),
                        );
                    }
                }
            }
        }
        if let Some(r) = &m.resources {
            for (k, v) in [
                ("baseline_rss_bytes", r.baseline_rss_bytes.map(|b| b as f64)),
                ("peak_rss_bytes", r.peak_rss_bytes.map(|b| b as f64)),
                ("peak_pss_bytes", r.peak_pss_bytes.map(|b| b as f64)),
                ("peak_private_bytes", r.peak_private_bytes.map(|b| b as f64)),
                ("cpu_seconds", r.cpu_seconds),
                ("cpu_s_per_1k_tokens", r.cpu_s_per_1k_tokens),
                ("energy_j_per_1k_tokens", r.energy_j_per_1k_tokens),
            ] {
                if let Some(v) = v {
                    row(&m.alias, "", k, "value", format!("{v}"));
                }
            }
        }
        for s in &m.scenarios {
            if let Some(metrics) = &s.metrics {
                for (metric, stat, v) in scenario_rows(metrics) {
                    row(&m.alias, &s.scenario.name, &metric, &stat, format!("{v}"));
                }
            }
        }
        if let Some(e) = &m.embedding {
            for (scenario, metric, stat, v) in crate::report::embedding::csv_rows(e) {
                row(&m.alias, &scenario, &metric, &stat, v);
            }
        }
    }
    out
}

/// `results.csv`.
pub struct CsvExporter;

impl Exporter for CsvExporter {
    fn file_name(&self) -> Option<&'static str> {
        Some("results.csv")
    }
    fn render(
        &self,
        results: &Results,
        _: &[RequestRecord],
        _: &RecordScores,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(Some(csv(results).into_bytes()))
    }
}
