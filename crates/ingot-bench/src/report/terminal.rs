//! The terminal summary table (`ingot bench` prints it at the end of a run).

use std::fmt::Write as _;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::measure::record::RequestRecord;
use crate::report::common::*;
use crate::report::exporter::Exporter;
use crate::results::{Results, Status};
use crate::score::scored::RecordScores;

// ---------------------------------------------------------------------------------------------
// Terminal

/// The comparison table printed at the end of a run.
pub fn terminal_table(results: &Results) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "model",
            "scenario",
            "status",
            "ok/err",
            "TTFT p50",
            "TTFT p95",
            "e2e p50",
            "e2e p95",
            "ITL p50",
            "tok/s",
            "req/s",
            "peak RSS",
            "cold load",
        ]);
    for m in &results.models {
        let rss = bytes_h(m.resources.as_ref().and_then(|r| r.peak_rss_bytes));
        let cold = m
            .load
            .as_ref()
            .and_then(|l| l.cold_load_ms)
            .map(|v| format!("{v:.0} ms"))
            .unwrap_or_else(|| "–".into());
        if m.scenarios.is_empty() {
            t.add_row(vec![
                m.alias.clone(),
                if m.is_embedding() {
                    crate::report::embedding::NOT_CHAT.into()
                } else {
                    "–".into()
                },
                status(m),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                rss,
                cold,
            ]);
            continue;
        }
        for s in &m.scenarios {
            let d = s.metrics.clone().unwrap_or_default();
            t.add_row(vec![
                m.alias.clone(),
                s.scenario.name.clone(),
                status(m),
                format!("{}/{}", d.succeeded, d.failed),
                ms(d.ttft_ms.p50),
                ms(d.ttft_ms.p95),
                ms(d.e2e_ms.p50),
                ms(d.e2e_ms.p95),
                ms(d.itl_ms.p50),
                num(d.output_tok_s, 1),
                num(d.request_throughput, 2),
                rss.clone(),
                cold.clone(),
            ]);
        }
    }
    let mut out = t.to_string();
    out.push('\n');
    if let Some(e) = crate::report::embedding::terminal(results) {
        out.push_str(&e);
        out.push('\n');
    }
    for h in highlights(results) {
        let _ = writeln!(out, "{}: {} ({})", h.label, h.model, h.value);
    }
    for m in results.models.iter().filter(|m| m.status == Status::Failed) {
        let _ = writeln!(
            out,
            "{} failed: {}",
            m.alias,
            m.reason.as_deref().unwrap_or("unknown reason")
        );
    }
    for m in &results.models {
        if let Some(q) = &m.quality {
            let _ = writeln!(out, "quality {}: {}", m.alias, quality_summary(q));
        }
        if m.license_permissive == Some(false) {
            let _ = writeln!(
                out,
                "{}: license {} is not permissive (check before shipping)",
                m.alias,
                m.license.as_deref().unwrap_or("?")
            );
        }
    }
    if let Some(sel) = &results.selection {
        for line in crate::analyze::select::explain(sel) {
            let _ = writeln!(out, "{line}");
        }
    }
    out.push_str(&crate::report::cost::terminal(results));
    out.push_str(&crate::report::ab::terminal(results));
    out
}

/// `4.20/5 [3.80–4.60], 3/4 cases passed, 1 judge error(s), human 4.0/5 (n=4)`.
pub fn quality_summary(q: &crate::score::quality::ModelQuality) -> String {
    let mut s = match q.score_5 {
        Some(v) => format!(
            "{}/5{}, {}/{} cases passed",
            num(Some(v), 2),
            match q.score_5_ci {
                Some([lo, hi]) => format!(" [{lo:.2}–{hi:.2}]"),
                None => String::new(),
            },
            q.passed,
            q.cases
        ),
        None => "no checks scored".into(),
    };
    if q.judge_errors > 0 {
        let _ = write!(s, ", {} judge error(s)", q.judge_errors);
    }
    if q.skipped_checks > 0 {
        let _ = write!(s, ", {} judge check(s) skipped", q.skipped_checks);
    }
    if let Some(h) = &q.human {
        let _ = write!(s, ", human {}/5 (n={})", num(h.mean, 2), h.n);
    }
    s
}

/// `Apache-2.0`, or `llama3 ⚠ non-permissive`, or `–`.

/// The terminal table as an exporter (printed, not written to the run folder).
pub struct TerminalExporter;

impl Exporter for TerminalExporter {
    fn file_name(&self) -> Option<&'static str> {
        None
    }
    fn render(
        &self,
        results: &Results,
        _: &[RequestRecord],
        _: &RecordScores,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(Some(terminal_table(results).into_bytes()))
    }
}
