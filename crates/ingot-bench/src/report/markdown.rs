//! `report.md`: the run's report in Markdown (the outputs side by side follow it).

use std::fmt::Write as _;

use crate::measure::record::RequestRecord;
use crate::report::common::*;
use crate::report::exporter::{Exporter, QUALITY_CHART};
use crate::results::{ModelResult, Results, Status};
use crate::score::scored::RecordScores;

// ---------------------------------------------------------------------------------------------
// Markdown

/// `report.md`: highlights, tables, warnings, the manifest and the method.
pub fn markdown(results: &Results) -> String {
    let mf = &results.manifest;
    let mut o = String::new();
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
    let hl = highlights(results);
    if !hl.is_empty() {
        let _ = writeln!(o, "## Highlights\n");
        for h in &hl {
            let _ = writeln!(o, "- **{}**: {} ({})", h.label, h.model, h.value);
        }
        let _ = writeln!(o);
    }

    recommendation_md(&mut o, results);
    quality_md(&mut o, results);
    crate::report::ab::markdown(&mut o, results);
    crate::analyze::sweep::markdown(&mut o, results);
    crate::analyze::cost::markdown(&mut o, results);

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
                "| {} | – | {} | – | – | – | – | – | – | – | – | – | – | – | – | – | – |",
                m.alias,
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

    let _ = writeln!(o, "## Load and resources\n");
    let _ = writeln!(o, "| model | license | mode | quant | disk | cold load ms | cold first TTFT ms | warm load ms | warm first TTFT ms | peak RSS | peak PSS | CPU s / 1k tok | energy J / 1k tok |");
    let _ = writeln!(
        o,
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in &results.models {
        let l = m.load.clone().unwrap_or_default();
        let r = m.resources.clone().unwrap_or_default();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
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
            num(r.cpu_s_per_1k_tokens, 2),
            num(r.energy_j_per_1k_tokens, 1),
        );
    }
    let _ = writeln!(o);

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
    if !warnings.is_empty() {
        let _ = writeln!(o, "## Warnings\n");
        for w in warnings {
            let _ = writeln!(o, "- {w}");
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "## Manifest\n");
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(o, "- {k}: {v}");
    };
    kv(
        "ingot",
        format!(
            "{} ({})",
            mf.ingot_version,
            mf.git_sha.as_deref().unwrap_or("git sha unknown")
        ),
    );
    if let Some(e) = &mf.engine {
        kv(
            "engine",
            format!(
                "{} via {}, prefix cache {}, {} parallel sequence(s)",
                e.name,
                e.llama_cpp,
                if e.prefix_cache { "on" } else { "off" },
                e.n_parallel
            ),
        );
        if !e.system_info.is_empty() {
            kv(
                "llama.cpp system info",
                format!("`{}`", e.system_info.trim()),
            );
        }
    }
    kv(
        "CPU",
        format!(
            "{} ({} logical, {} physical cores, {})",
            mf.machine.cpu_model.as_deref().unwrap_or("unknown"),
            mf.machine.logical_cores,
            mf.machine.physical_cores,
            mf.machine.arch
        ),
    );
    kv("RAM", bytes_h(mf.machine.ram_bytes));
    kv(
        "GPU",
        mf.machine
            .gpu
            .clone()
            .unwrap_or_else(|| "none detected".into()),
    );
    kv(
        "OS",
        format!(
            "{}{}",
            mf.machine.os,
            mf.machine
                .kernel
                .as_ref()
                .map(|k| format!(", kernel {k}"))
                .unwrap_or_default()
        ),
    );
    kv("load average at start", num(mf.machine.load_avg_1m, 2));
    kv(
        "threads",
        mf.threads
            .map(|t| t.to_string())
            .unwrap_or_else(|| "default (physical cores)".into()),
    );
    kv(
        "sampling",
        format!(
            "max_tokens {}, temperature {}, seed {}, fixed length {}",
            mf.sampling.max_tokens,
            mf.sampling.temperature,
            mf.sampling.seed,
            mf.sampling.fixed_length
        ),
    );
    kv(
        "prompt set",
        format!(
            "{} ({} prompts, sha256 {})",
            mf.prompt_set.source, mf.prompt_set.count, mf.prompt_set.sha256
        ),
    );
    kv(
        "scenarios",
        mf.scenarios
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
    );
    if !mf.slo.is_empty() {
        kv(
            "SLO",
            format!(
                "TTFT ≤ {} ms, e2e ≤ {} ms, ITL ≤ {} ms",
                num(mf.slo.ttft_ms, 0),
                num(mf.slo.e2e_ms, 0),
                num(mf.slo.itl_ms, 0)
            ),
        );
    }
    kv(
        "energy model",
        format!("CPU seconds × {} W per busy core", mf.watts_per_core),
    );
    match &mf.calibration {
        Some(c) => kv("harness calibration", format!("TTFT error p50 {} ms, ITL error p50 {} ms (mock {} ms / {} ms), max {} streamed req/s", num(c.ttft_error_ms_p50, 3), num(c.itl_error_ms_p50, 3), c.scripted_ttft_ms, c.scripted_itl_ms, num(c.max_streamed_req_per_s, 0))),
        None => kv("harness calibration", "not run".into()),
    }
    for m in &results.models {
        if let Some(f) = &m.file {
            kv(
                &format!("model {}", m.alias),
                format!(
                    "sha256 {}, {}, {}",
                    f.sha256.as_deref().unwrap_or("unknown"),
                    f.quantization.as_deref().unwrap_or("quant unknown"),
                    bytes_h(f.size_bytes)
                ),
            );
        }
    }
    let _ = writeln!(o, "\n## Method\n");
    let _ = writeln!(o, "Every figure is computed from the raw per-request records in `requests.jsonl`; warm-up requests are excluded. TTFT: send to first non-empty content token. ITL per request: (e2e − TTFT)/(N − 1). TPOT: e2e/N. Decode rate: (N − 1)/(e2e − TTFT). Output tok/s: Σ completion tokens / (first send to last end). Percentiles: linear interpolation between closest ranks (type 7); bootstrap 95 % CIs from 1,000 resamples with a fixed seed. Outliers: modified Z-score > 3.5 (MAD) per prompt.");
    o
}

use crate::util::text::md_cell;

fn recommendation_md(o: &mut String, results: &Results) {
    let Some(sel) = &results.selection else {
        return;
    };
    let _ = writeln!(o, "## Recommendation\n");
    match &sel.recommended {
        Some(m) => {
            let _ = writeln!(o, "**Recommended: {m}.** {}.\n", sel.why);
        }
        None => {
            let _ = writeln!(o, "**No recommendation:** {}.\n", sel.why);
        }
    }
    let _ = writeln!(
        o,
        "Question: {}{}.\n",
        sel.objective,
        if sel.constraints.is_empty() {
            String::new()
        } else {
            format!(", subject to {}", sel.constraints.join(", "))
        }
    );
    let rejected = crate::analyze::select::explain(sel);
    if rejected.len() > 1 {
        let _ = writeln!(o, "Not chosen:\n");
        for l in &rejected[1..] {
            let _ = writeln!(o, "- {}", l.trim());
        }
        let _ = writeln!(o);
    }
    if !sel.pareto_front.is_empty() {
        let _ = writeln!(
            o,
            "Quality/p95 Pareto front (no other model is both better and faster): {}.\n",
            sel.pareto_front.join(", ")
        );
    }
}

fn quality_md(o: &mut String, results: &Results) {
    let scored: Vec<&ModelResult> = results
        .models
        .iter()
        .filter(|m| m.quality.is_some())
        .collect();
    if scored.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Quality\n");
    if let Some(qi) = &results.manifest.quality {
        let _ = writeln!(
            o,
            "{} case(s) with {} check(s) from {}; judge: {}. Scored output: the {}.\n",
            qi.cases,
            qi.checks,
            qi.checks_source,
            match &qi.judge {
                Some(j) => format!(
                    "{j}, {} sample(s) at temperature {}",
                    qi.judge_samples, qi.judge_temperature
                ),
                None if qi.judge_checks > 0 => format!(
                    "none ({} judge check(s) per model skipped)",
                    qi.judge_checks
                ),
                None => "none".into(),
            },
            qi.scored_output
        );
    }
    let _ = writeln!(o, "Case score: weighted mean of its checks (0–1), shown as 1 + 4 × score (1–5); brackets: bootstrap 95 % CI over cases. A case passes when it reaches its threshold and every required check passes; a judge error never passes.\n");
    let _ = writeln!(
        o,
        "| model | license | quality (1–5) | cases passed | pass rate | judge errors | human (1–5) |"
    );
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|");
    for m in &scored {
        let q = m.quality.as_ref().expect("filtered");
        let _ = writeln!(
            o,
            "| {} | {} | {} | {}/{} | {} | {} | {} |",
            m.alias,
            license_cell(m),
            with_ci(q.score_5, q.score_5_ci, 2),
            q.passed,
            q.cases,
            q.pass_rate
                .map(|p| format!("{:.0} %", p * 100.0))
                .unwrap_or_else(|| "–".into()),
            q.judge_errors,
            match &q.human {
                Some(h) => format!("{} (n={})", num(h.mean, 2), h.n),
                None => "–".into(),
            }
        );
    }
    let _ = writeln!(o);
    if !crate::analyze::select::quality_latency_points(results).is_empty() {
        let _ = writeln!(
            o,
            "![quality against p95 latency; Pareto front marked]({QUALITY_CHART})\n"
        );
    }
    // Per case: one column per model.
    let mut cases: Vec<String> = Vec::new();
    for m in &scored {
        for c in &m.quality.as_ref().expect("filtered").case_scores {
            if !cases.contains(&c.case) {
                cases.push(c.case.clone());
            }
        }
    }
    let _ = writeln!(o, "### Per case\n");
    let _ = writeln!(o, "✓ passed, ✗ failed; human scores in brackets.\n");
    let _ = writeln!(
        o,
        "| case | {} |",
        scored
            .iter()
            .map(|m| m.alias.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(o, "|---|{}", "---:|".repeat(scored.len()));
    for case in &cases {
        let cells: Vec<String> = scored
            .iter()
            .map(|m| {
                let q = m.quality.as_ref().expect("filtered");
                match q.case_scores.iter().find(|c| &c.case == case) {
                    None => "–".into(),
                    Some(c) => {
                        let mut cell = match c.score_5 {
                            Some(s) if c.judge_error => format!("{s:.1} ✗ judge error"),
                            Some(s) => format!("{s:.1} {}", if c.passed { "✓" } else { "✗" }),
                            None => "–".into(),
                        };
                        if let Some(h) = c.human {
                            let _ = write!(cell, " (human {h})");
                        }
                        cell
                    }
                }
            })
            .collect();
        let _ = writeln!(o, "| {} | {} |", case, cells.join(" | "));
    }
    let _ = writeln!(o);
    // Failed checks and judge verdicts, for the why.
    let mut details = Vec::new();
    for m in &scored {
        for c in &m.quality.as_ref().expect("filtered").case_scores {
            if let Some(e) = &c.error {
                details.push(format!("{} / {}: {e}", m.alias, c.case));
            }
            for r in &c.checks {
                if let Some(v) = &r.judge {
                    let reason: String = v
                        .reason
                        .as_deref()
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect();
                    details.push(match v.score {
                        Some(s) => format!(
                            "{} / {}: judge {s}/5 — {}",
                            m.alias,
                            c.case,
                            md_cell(&reason)
                        ),
                        None => format!(
                            "{} / {}: judge error — {}",
                            m.alias,
                            c.case,
                            md_cell(v.error.as_deref().unwrap_or(""))
                        ),
                    });
                } else if !r.passed && !r.skipped {
                    details.push(format!(
                        "{} / {}: {}{} — {}",
                        m.alias,
                        c.case,
                        md_cell(&r.label),
                        if r.required { " (required)" } else { "" },
                        md_cell(r.detail.as_deref().unwrap_or("failed"))
                    ));
                }
            }
        }
    }
    if !details.is_empty() {
        let _ = writeln!(o, "### Failed checks and judge verdicts\n");
        for d in details {
            let _ = writeln!(o, "- {d}");
        }
        let _ = writeln!(o);
    }
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
