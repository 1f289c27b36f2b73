//! Reports: `results.json`, `requests.jsonl`, `results.csv` (long format), `report.md`,
//! `report.html`, and the terminal summary table.

use std::fmt::Write as _;
use std::path::Path;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::analyze::stats::{ScenarioMetrics, Summary};
use crate::measure::record::RequestRecord;
use crate::results::{ModelResult, Results, Status};

/// Writes every output file into `dir` (atomically per file: write then rename).
pub fn write_all(dir: &Path, results: &Results, records: &[RequestRecord]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    write(dir, "results.json", &serde_json::to_vec_pretty(results)?)?;
    let mut jsonl = Vec::new();
    for r in records {
        serde_json::to_writer(&mut jsonl, r)?;
        jsonl.push(b'\n');
    }
    write(dir, "requests.jsonl", &jsonl)?;
    write(dir, "results.csv", csv(results).as_bytes())?;
    // The quality chart, linked from report.md (report.html carries it inline).
    let chart =
        std::panic::catch_unwind(|| crate::report::html::quality_chart(results)).unwrap_or(None);
    match &chart {
        Some(svg) => write(dir, QUALITY_CHART, svg.as_bytes())?,
        None => {
            let _ = std::fs::remove_file(dir.join(QUALITY_CHART));
        }
    }
    let mut md = markdown(results);
    md.push_str(&crate::report::samples::markdown(results, records));
    write(dir, "report.md", md.as_bytes())?;
    let html = std::panic::catch_unwind(|| crate::report::html::html(results, records))
        .unwrap_or_else(|_| "<!doctype html><p>report.html could not be drawn</p>".into());
    write(dir, "report.html", html.as_bytes())?;
    Ok(())
}

/// The quality-against-p95 chart next to report.md.
pub const QUALITY_CHART: &str = "quality_p95.svg";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

pub use crate::util::text::num;

pub fn bytes_h(v: Option<u64>) -> String {
    match v {
        None => "–".into(),
        Some(b) if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        Some(b) => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
    }
}

fn with_ci(v: Option<f64>, ci: Option<[f64; 2]>, d: usize) -> String {
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
                "–".into(),
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
    out.push_str(&crate::analyze::cost::terminal(results));
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
pub fn license_cell(m: &ModelResult) -> String {
    match (&m.license, m.license_permissive) {
        (Some(l), Some(false)) => format!("{l} ⚠ non-permissive"),
        (Some(l), _) => l.clone(),
        (None, _) => "–".into(),
    }
}

fn status(m: &ModelResult) -> String {
    match m.status {
        Status::Ok => "ok".into(),
        Status::Failed => "failed".into(),
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.1} ms"),
        _ => "–".into(),
    }
}

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

/// `results.csv`: one value per row: `model,scenario,metric,stat,value`. Model-level values
/// (load, resources, status) have an empty scenario.
pub fn csv(results: &Results) -> String {
    let mut out = String::from("model,scenario,metric,stat,value\n");
    let mut row = |model: &str, scenario: &str, metric: &str, stat: &str, value: String| {
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            csv_field(model),
            csv_field(scenario),
            metric,
            stat,
            csv_field(&value)
        );
    };
    for m in &results.models {
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
        }
        if let Some(r) = &m.resources {
            for (k, v) in [
                ("baseline_rss_bytes", r.baseline_rss_bytes.map(|b| b as f64)),
                ("peak_rss_bytes", r.peak_rss_bytes.map(|b| b as f64)),
                ("peak_pss_bytes", r.peak_pss_bytes.map(|b| b as f64)),
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
    }
    out
}

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
