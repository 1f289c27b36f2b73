//! `report.md`: the run's report in Markdown (the outputs side by side follow it).

mod manifest;
mod quality;

use std::fmt::Write as _;

use crate::measure::record::RequestRecord;
use crate::report::common::*;
use crate::report::exporter::Exporter;
use crate::results::{Results, Status};
use crate::score::scored::RecordScores;

// ---------------------------------------------------------------------------------------------
// Markdown

/// `report.md`: highlights, tables, warnings, the manifest and the method.
pub fn markdown(results: &Results) -> String {
    let mut o = String::new();
    header_md(&mut o, results);
    highlights_md(&mut o, results);
    quality::recommendation_md(&mut o, results);
    quality::quality_md(&mut o, results);
    crate::report::ab::markdown(&mut o, results);
    crate::report::sweep::markdown(&mut o, results);
    crate::report::cost::markdown(&mut o, results);
    latency_md(&mut o, results);
    crate::report::embedding::markdown(&mut o, results);
    open_loop_md(&mut o, results);
    load_md(&mut o, results);
    warnings_md(&mut o, results);
    manifest::manifest_md(&mut o, results);
    method_md(&mut o);
    o
}

/// The title, what was run on what, and the busy-machine warning.
fn header_md(o: &mut String, results: &Results) {
    let mf = &results.manifest;
    let _ = writeln!(o, "# ingot bench report\n");
    let _ = writeln!(
        o,
        "Run started {} on {} ({} cores, {}). Target: {}. {} model(s), {} prompt(s), {} round(s), {} warm-up round(s).\n",
        mf.started,
        mf.machine.cpu_model.as_deref().unwrap_or("unknown CPU"),
        mf.machine.logical_cores,
        bytes_h(mf.machine.ram_bytes),
        match &mf.target.endpoint {
            Some(e) => format!("endpoint {e}"),
            None => "in-process".into(),
        },
        results.models.len(),
        mf.prompt_set.count,
        mf.rounds,
        mf.warmup_rounds,
    );
    if mf.machine.busy {
        let _ = writeln!(
            o,
            "> **Warning: busy machine.** The load average at start ({}) exceeded the {} cores; latency numbers are disturbed.\n",
            num(mf.machine.load_avg_1m, 2),
            mf.machine.logical_cores
        );
    }
}

fn highlights_md(o: &mut String, results: &Results) {
    let hl = highlights(results);
    if !hl.is_empty() {
        let _ = writeln!(o, "## Highlights\n");
        for h in &hl {
            let _ = writeln!(o, "- **{}**: {} ({})", h.label, h.model, h.value);
        }
        let _ = writeln!(o);
    }
}

/// Every model × scenario: latency percentiles and throughput.
fn latency_md(o: &mut String, results: &Results) {
    let _ = writeln!(o, "## Latency and throughput\n");
    let _ = writeln!(
        o,
        "Latencies in ms, from the actual send; brackets: bootstrap 95 % CI.\n"
    );
    let _ = writeln!(
        o,
        "| model | scenario | status | ok | failed | TTFT p50 | TTFT p95 | e2e mean | e2e p50 | e2e p95 | e2e p99 | ITL p50 | TPOT p50 | decode tok/s p50 | output tok/s | req/s | goodput req/s |"
    );
    let _ = writeln!(
        o,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in &results.models {
        if m.scenarios.is_empty() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | – | – | – | – | – | – | – | – | – | – | – | – | – | – |",
                m.alias,
                if m.is_embedding() {
                    crate::report::embedding::NOT_CHAT
                } else {
                    "–"
                },
                status(m)
            );
        }
        for s in &m.scenarios {
            let d = s.metrics.clone().unwrap_or_default();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                m.alias,
                s.scenario.name,
                status(m),
                d.succeeded,
                d.failed,
                num(d.ttft_ms.p50, 1),
                num(d.ttft_ms.p95, 1),
                with_ci(d.e2e_ms.mean, d.e2e_ms.mean_ci, 1),
                num(d.e2e_ms.p50, 1),
                with_ci(d.e2e_ms.p95, d.e2e_ms.p95_ci, 1),
                num(d.e2e_ms.p99, 1),
                num(d.itl_ms.p50, 2),
                num(d.tpot_ms.p50, 2),
                num(d.decode_tok_s.p50, 1),
                num(d.output_tok_s, 1),
                num(d.request_throughput, 3),
                num(d.goodput, 3),
            );
        }
    }
    let _ = writeln!(o);
}

/// Open-loop scenarios: how well the schedule was kept.
fn open_loop_md(o: &mut String, results: &Results) {
    let open: Vec<_> = results
        .models
        .iter()
        .flat_map(|m| m.scenarios.iter().map(move |s| (m, s)))
        .filter(|(_, s)| s.scenario.concurrency().is_none())
        .collect();
    if !open.is_empty() {
        let _ = writeln!(o, "## Open loop: schedule\n");
        let _ = writeln!(o, "| model | scenario | lag p50 ms | lag p99 ms | late sends | late share | TTFT p50 from intended | e2e p95 from intended |");
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|");
        for (m, s) in open {
            let d = s.metrics.clone().unwrap_or_default();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                m.alias,
                s.scenario.name,
                num(d.schedule_lag_ms.p50, 2),
                num(d.schedule_lag_ms.p99, 2),
                d.late_sends,
                num(Some(d.late_share * 100.0), 1) + " %",
                num(d.ttft_from_intended_ms.p50, 1),
                num(d.e2e_from_intended_ms.p95, 1),
            );
        }
        let _ = writeln!(o);
    }
}

/// Per model: license, mode, file, load times and resources.
fn load_md(o: &mut String, results: &Results) {
    let _ = writeln!(o, "## Load and resources\n");
    let _ = writeln!(o, "| model | license | mode | quant | disk | cold load ms | cold first TTFT ms | warm load ms | warm first TTFT ms | peak RSS | peak PSS | peak private | CPU s / 1k tok | energy J / 1k tok |");
    let _ = writeln!(
        o,
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in &results.models {
        let l = m.load.clone().unwrap_or_default();
        let r = m.resources.clone().unwrap_or_default();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.alias,
            license_cell(m),
            {
                let mode = match m.mode {
                    crate::spec::workload::Mode::Chat => "chat",
                    crate::spec::workload::Mode::Completion => "completion",
                };
                match &m.remote {
                    // Resources are blank for a remote adapter: its server is elsewhere.
                    Some(r) => format!("{mode}, remote: {r}"),
                    None => mode.to_string(),
                }
            },
            m.file
                .as_ref()
                .and_then(|f| f.quantization.clone())
                .unwrap_or_else(|| "–".into()),
            bytes_h(m.file.as_ref().and_then(|f| f.size_bytes)),
            num(l.cold_load_ms, 0),
            num(l.cold_first_ttft_ms, 1),
            num(l.warm_load_ms, 0),
            num(l.warm_first_ttft_ms, 1),
            bytes_h(r.peak_rss_bytes),
            bytes_h(r.peak_pss_bytes),
            bytes_h(r.peak_private_bytes),
            num(r.cpu_s_per_1k_tokens, 2),
            num(r.energy_j_per_1k_tokens, 1),
        );
    }
    let _ = writeln!(o);
}

fn warnings_md(o: &mut String, results: &Results) {
    let warnings = warnings(results);
    if !warnings.is_empty() {
        let _ = writeln!(o, "## Warnings\n");
        for w in warnings {
            let _ = writeln!(o, "- {w}");
        }
        let _ = writeln!(o);
    }
}

/// The manifest's warnings, non-permissive licenses, judge errors, failures, request errors
/// and outliers.
fn warnings(results: &Results) -> Vec<String> {
    let mf = &results.manifest;
    let mut warnings: Vec<String> = mf.warnings.clone();
    for m in &results.models {
        if m.license_permissive == Some(false) {
            warnings.push(format!(
                "{}: license {} is not permissive; check its terms before shipping it",
                m.alias,
                m.license.as_deref().unwrap_or("?")
            ));
        }
        if let Some(q) = m.quality.as_ref().filter(|q| q.judge_errors > 0) {
            warnings.push(format!(
                "{}: {} case(s) with a judge error (scored 0, never passed)",
                m.alias, q.judge_errors
            ));
        }
        if m.status == Status::Failed {
            warnings.push(format!(
                "{} failed: {}",
                m.alias,
                m.reason.as_deref().unwrap_or("unknown reason")
            ));
        }
        warnings.extend(crate::report::embedding::warnings(m));
        for s in &m.scenarios {
            if let Some(e) = &s.metrics_error {
                warnings.push(format!("{} {}: {e}", m.alias, s.scenario.name));
            }
            let Some(d) = &s.metrics else { continue };
            for (e, n) in &d.errors {
                warnings.push(format!("{} {}: {n} × {e}", m.alias, s.scenario.name));
            }
            for out in &d.outliers {
                warnings.push(format!(
                    "{} {}: prompt {} has {} outlier(s) of {} (median {:.1} ms, MAD {:.1} ms): {}",
                    m.alias,
                    s.scenario.name,
                    out.prompt_id,
                    out.outliers.len(),
                    out.n,
                    out.median_ms,
                    out.mad_ms,
                    out.outliers
                        .iter()
                        .map(|(i, v)| format!("#{i} {v:.1} ms"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    warnings
}

fn method_md(o: &mut String) {
    let _ = writeln!(o, "\n## Method\n");
    let _ = writeln!(o, "Every figure is computed from the raw per-request records in `requests.jsonl`; warm-up requests are excluded. TTFT: send to first non-empty content token. ITL per request: (e2e − TTFT)/(N − 1). TPOT: e2e/N. Decode rate: (N − 1)/(e2e − TTFT). Output tok/s: Σ completion tokens / (first send to last end). Percentiles: linear interpolation between closest ranks (type 7); bootstrap 95 % CIs from 1,000 resamples with a fixed seed. Outliers: modified Z-score > 3.5 (MAD) per prompt.");
}

/// `report.md`: the report, then the outputs side by side.
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn file_name(&self) -> Option<&'static str> {
        Some("report.md")
    }
    fn render(
        &self,
        results: &Results,
        records: &[RequestRecord],
        _: &RecordScores,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let mut md = markdown(results);
        md.push_str(&crate::report::samples::markdown(results, records));
        Ok(Some(md.into_bytes()))
    }
}
