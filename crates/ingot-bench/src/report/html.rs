//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no CDN) with
//! charts drawn by plotters' SVG backend.

use std::fmt::Write as _;

use crate::measure::record::RequestRecord;
use crate::report::exporter::Exporter;
use crate::results::{Results, Status};
use crate::score::scored::RecordScores;
use crate::util::text::num;

use crate::report::charts::{
    box_chart, cdf_chart, quality_chart as quality_svg, throughput_chart, tok_s_chart,
};

/// Quality (1–5) against e2e p95 (first scenario), with the Pareto front; `None` when no
/// model has both values.
pub fn quality_chart(results: &Results) -> Option<String> {
    quality_svg(results)
}

fn recommendation_html(o: &mut String, results: &Results) {
    let Some(sel) = &results.selection else {
        return;
    };
    o.push_str("<h2>Recommendation</h2>");
    match &sel.recommended {
        Some(m) => {
            let _ = write!(
                o,
                "<p><b>Recommended: {}.</b> {}.</p>",
                esc(m),
                esc(&sel.why)
            );
        }
        None => {
            let _ = write!(o, "<p><b>No recommendation:</b> {}.</p>", esc(&sel.why));
        }
    }
    let _ = write!(
        o,
        "<p>Question: {}{}.</p>",
        esc(&sel.objective),
        if sel.constraints.is_empty() {
            String::new()
        } else {
            format!(", subject to {}", esc(&sel.constraints.join(", ")))
        }
    );
    let lines = crate::analyze::select::explain(sel);
    if lines.len() > 1 {
        o.push_str("<ul>");
        for l in &lines[1..] {
            let _ = write!(o, "<li>{}</li>", esc(l.trim()));
        }
        o.push_str("</ul>");
    }
    if !sel.pareto_front.is_empty() {
        let _ = write!(
            o,
            "<p>Quality/p95 Pareto front: {}.</p>",
            esc(&sel.pareto_front.join(", "))
        );
    }
    o.push('\n');
}

fn quality_html(o: &mut String, results: &Results) {
    let scored: Vec<_> = results
        .models
        .iter()
        .filter(|m| m.quality.is_some())
        .collect();
    if scored.is_empty() {
        return;
    }
    o.push_str("<h2>Quality</h2><table><tr><th>model</th><th>license</th><th>quality (1–5)</th><th>95 % CI</th><th>cases passed</th><th>judge errors</th><th>human (1–5)</th></tr>\n");
    for m in scored {
        let q = m.quality.as_ref().expect("filtered");
        let flagged = m.license_permissive == Some(false);
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td{}>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.alias),
            if flagged { " class=\"failed\"" } else { "" },
            esc(&crate::report::common::license_cell(m)),
            num(q.score_5, 2),
            q.score_5_ci
                .map(|[a, b]| format!("{a:.2}–{b:.2}"))
                .unwrap_or_else(|| "–".into()),
            q.passed,
            q.cases,
            q.judge_errors,
            q.human
                .as_ref()
                .map(|h| format!("{} (n={})", num(h.mean, 2), h.n))
                .unwrap_or_else(|| "–".into())
        );
    }
    o.push_str("</table>\n");
    if let Some(chart) = quality_chart(results) {
        let _ = writeln!(o, "<figure>{chart}</figure>");
    }
}

use crate::util::text::html_escape as esc;

/// The page's style: a column that fits 1,280 px (1,180 px of content), tables that scroll
/// inside themselves when a run has many columns, charts two to a row that shrink with the
/// window, long text wrapped.
const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1180px;color:#222;line-height:1.4}\
table{border-collapse:collapse;margin:1em 0;font-size:14px}\
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right;vertical-align:top}\
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}\
.scroll{overflow-x:auto;max-width:100%}\
table.samples td{text-align:left;min-width:12em;max-width:28em}\
.failed,.worse{color:#b00}.better{color:#070}.note{background:#f6f6f6;padding:.5em 1em}\
.charts{display:flex;flex-wrap:wrap;gap:12px}\
figure{margin:0;flex:1 1 560px;max-width:100%}figure svg{max-width:100%;height:auto;display:block}\
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px}\
details{margin:.5em 0}";

/// The whole page.
pub fn html(results: &Results, records: &[RequestRecord]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ingot bench report</title>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<style>{CSS}</style></head><body>\n<h1>ingot bench report</h1>\n<p>Started {} · {} · {} cores</p>\n",
        esc(&results.manifest.started),
        esc(results.manifest.machine.cpu_model.as_deref().unwrap_or("unknown CPU")),
        results.manifest.machine.logical_cores
    );
    let hl = crate::report::common::highlights(results);
    if !hl.is_empty() {
        o.push_str("<h2>Highlights</h2><ul>");
        for h in hl {
            let _ = write!(
                o,
                "<li><b>{}</b>: {} ({})</li>",
                esc(h.label),
                esc(&h.model),
                esc(&h.value)
            );
        }
        o.push_str("</ul>\n");
    }
    recommendation_html(&mut o, results);
    quality_html(&mut o, results);
    crate::report::ab::html(&mut o, results);
    crate::report::cost::html(&mut o, results);
    o.push_str("<h2>Summary</h2><div class=\"scroll\"><table><tr><th>model</th><th>scenario</th><th>status</th><th>TTFT p50 ms</th><th>e2e p50 ms</th><th>e2e p95 ms</th><th>ITL p50 ms</th><th>tok/s</th><th>req/s</th></tr>\n");
    for m in &results.models {
        if m.status == Status::Failed {
            let _ = writeln!(
                o,
                "<tr class=\"failed\"><td>{}</td><td colspan=\"8\">failed: {}</td></tr>",
                esc(&m.alias),
                esc(m.reason.as_deref().unwrap_or(""))
            );
            continue;
        }
        if m.is_embedding() {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td colspan=\"8\">{} (see Embedding models)</td></tr>",
                esc(&m.alias),
                crate::report::embedding::NOT_CHAT
            );
        }
        for s in &m.scenarios {
            let d = s.metrics.clone().unwrap_or_default();
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>ok</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&m.alias),
                esc(&s.scenario.name),
                num(d.ttft_ms.p50, 1),
                num(d.e2e_ms.p50, 1),
                num(d.e2e_ms.p95, 1),
                num(d.itl_ms.p50, 2),
                num(d.output_tok_s, 1),
                num(d.request_throughput, 3)
            );
        }
    }
    o.push_str("</table></div>\n");
    crate::report::embedding::html(&mut o, results);
    crate::report::samples::html(&mut o, results, records);
    o.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");
    for chart in [
        cdf_chart(results, records),
        box_chart(
            results,
            records,
            "Time to first token (first scenario)",
            |r| r.ttft_ms(),
        ),
        box_chart(
            results,
            records,
            "End-to-end latency (first scenario)",
            |r| Some(r.e2e_ms()),
        ),
        tok_s_chart(results),
        throughput_chart(results),
    ]
    .into_iter()
    .chain(crate::report::charts::sweep_charts(results))
    {
        let _ = writeln!(o, "<figure>{chart}</figure>");
    }
    o.push_str("</div>\n<h2>Full report</h2><pre>");
    o.push_str(&esc(&crate::report::markdown::markdown(results)));
    o.push_str("</pre></body></html>\n");
    o
}

/// The quality-against-p95 chart, linked from report.md (report.html carries it inline); none
/// when no model has both figures.
pub struct QualityChartExporter;

impl Exporter for QualityChartExporter {
    fn file_name(&self) -> Option<&'static str> {
        Some(crate::report::exporter::QUALITY_CHART)
    }
    fn render(
        &self,
        results: &Results,
        _: &[RequestRecord],
        _: &RecordScores,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let chart = std::panic::catch_unwind(|| quality_chart(results)).unwrap_or(None);
        Ok(chart.map(String::into_bytes))
    }
}

/// `report.html`; a page that says so when drawing it failed.
pub struct HtmlExporter;

impl Exporter for HtmlExporter {
    fn file_name(&self) -> Option<&'static str> {
        Some("report.html")
    }
    fn render(
        &self,
        results: &Results,
        records: &[RequestRecord],
        _: &RecordScores,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let html = std::panic::catch_unwind(|| html(results, records))
            .unwrap_or_else(|_| "<!doctype html><p>report.html could not be drawn</p>".into());
        Ok(Some(html.into_bytes()))
    }
}
