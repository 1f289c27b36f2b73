//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no CDN) with
//! charts drawn by plotters' SVG backend.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::record::RequestRecord;
use crate::report::{markdown_escape, num};
use crate::results::{Results, Status};

const W: u32 = 720;
const H: u32 = 360;
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn models_ok(results: &Results) -> Vec<String> {
    results
        .models
        .iter()
        .filter(|m| m.status == Status::Ok)
        .map(|m| m.alias.clone())
        .collect()
}

/// Measured, successful records of a model in its first scenario.
fn first_scenario_records<'a>(
    results: &Results,
    records: &'a [RequestRecord],
    model: &str,
) -> Vec<&'a RequestRecord> {
    let Some(first) = results
        .models
        .iter()
        .find(|m| m.alias == model)
        .and_then(|m| m.scenarios.first())
    else {
        return Vec::new();
    };
    records
        .iter()
        .filter(|r| r.model == model && r.scenario == first.scenario.name && !r.warmup && r.ok())
        .collect()
}

fn svg(draw: impl FnOnce(&mut String) -> Result<(), String>) -> String {
    let mut s = String::new();
    match draw(&mut s) {
        Ok(()) => s,
        Err(e) => format!("<p>chart unavailable: {}</p>", markdown_escape(&e)),
    }
}

fn cdf_chart(results: &Results, records: &[RequestRecord]) -> String {
    let series: Vec<(String, Vec<f64>)> = models_ok(results)
        .into_iter()
        .map(|m| {
            let mut v: Vec<f64> = first_scenario_records(results, records, &m)
                .iter()
                .map(|r| r.e2e_ms())
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            (m, v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let max = series
        .iter()
        .filter_map(|(_, v)| v.last().copied())
        .fold(1.0f64, f64::max);
    svg(|s| {
        let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("e2e latency CDF (first scenario)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..max * 1.05, 0.0..1.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("ms")
            .y_desc("share of requests")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, v)) in series.iter().enumerate() {
            let n = v.len() as f64;
            let pts: Vec<(f64, f64)> = v
                .iter()
                .enumerate()
                .map(|(k, x)| (*x, (k + 1) as f64 / n))
                .collect();
            let c = color(i);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], c));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn box_chart(
    results: &Results,
    records: &[RequestRecord],
    title: &str,
    f: fn(&RequestRecord) -> Option<f64>,
) -> String {
    let data: Vec<(String, Vec<f64>)> = models_ok(results)
        .into_iter()
        .map(|m| {
            let v: Vec<f64> = first_scenario_records(results, records, &m)
                .iter()
                .filter_map(|r| f(r))
                .filter(|x| x.is_finite())
                .collect();
            (m, v)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let max = data
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(1.0f64, f64::max);
    let names: Vec<String> = data.iter().map(|(n, _)| n.clone()).collect();
    svg(|s| {
        let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if data.is_empty() {
            return Ok(());
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(
                names.as_slice().into_segmented(),
                0.0f32..(max * 1.1) as f32,
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .y_desc("ms")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, v)) in data.iter().enumerate() {
            let q = Quartiles::new(v);
            chart
                .draw_series(std::iter::once(
                    Boxplot::new_vertical(SegmentValue::CenterOf(name), &q)
                        .width(30)
                        .style(color(i)),
                ))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn bar_chart(title: &str, unit: &str, data: &[(String, f64)]) -> String {
    let max = data.iter().map(|d| d.1).fold(1.0f64, f64::max);
    let names: Vec<String> = data.iter().map(|d| d.0.clone()).collect();
    svg(|s| {
        let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if data.is_empty() {
            return Ok(());
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(names.as_slice().into_segmented(), 0.0..max * 1.15)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .y_desc(unit)
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, v)) in data.iter().enumerate() {
            chart
                .draw_series(
                    Histogram::vertical(&chart)
                        .style(color(i).filled())
                        .margin(30)
                        .data(std::iter::once((name, *v))),
                )
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    })
}

fn tok_s_chart(results: &Results) -> String {
    let data: Vec<(String, f64)> = results
        .models
        .iter()
        .filter(|m| m.status == Status::Ok)
        .filter_map(|m| {
            Some((
                m.alias.clone(),
                m.scenarios.first()?.metrics.as_ref()?.output_tok_s?,
            ))
        })
        .collect();
    bar_chart("output tok/s (first scenario)", "tok/s", &data)
}

fn throughput_chart(results: &Results) -> String {
    let series: Vec<(String, Vec<(f64, f64)>)> = results
        .models
        .iter()
        .filter(|m| m.status == Status::Ok)
        .map(|m| {
            let pts: Vec<(f64, f64)> = m
                .scenarios
                .iter()
                .filter_map(|s| {
                    Some((
                        s.scenario.concurrency()? as f64,
                        s.metrics.as_ref()?.output_tok_s?,
                    ))
                })
                .collect();
            (m.alias.clone(), pts)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let max_x = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.0))
        .fold(1.0f64, f64::max);
    let max_y = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(1.0f64, f64::max);
    svg(|s| {
        let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("output tok/s against concurrency", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..max_x * 1.1, 0.0..max_y * 1.15)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("concurrency")
            .y_desc("tok/s")
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], c));
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Quality (1–5) against e2e p95 (first scenario), one point per scored model, the Pareto
/// front joined by a red line and its points ringed. `None` when no model has both values.
pub fn quality_chart(results: &Results) -> Option<String> {
    let pts = crate::select::quality_latency_points(results);
    if pts.is_empty() {
        return None;
    }
    let front = crate::select::pareto_front(results);
    let max_x = pts.iter().map(|p| p.2).fold(1.0f64, f64::max);
    Some(svg(|s| {
        let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "quality against p95 latency (Pareto front in red)",
                ("sans-serif", 16),
            )
            .margin(15)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..max_x * 1.25, 0.8..5.2)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("e2e p95, ms (first scenario)")
            .y_desc("quality, 1-5")
            .draw()
            .map_err(|e| e.to_string())?;
        let line: Vec<(f64, f64)> = front
            .iter()
            .filter_map(|a| pts.iter().find(|p| &p.0 == a))
            .map(|p| (p.2, p.1))
            .collect();
        if line.len() > 1 {
            chart
                .draw_series(LineSeries::new(line, RED.stroke_width(2)))
                .map_err(|e| e.to_string())?;
        }
        for (i, (name, q, p95)) in pts.iter().enumerate() {
            let on_front = front.contains(name);
            let c = color(i);
            let label = if on_front {
                format!("{name} (front)")
            } else {
                name.clone()
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((*p95, *q))
                        + Circle::new((0, 0), 5, c.filled())
                        + Text::new(label, (9, -14), ("sans-serif", 12)),
                ))
                .map_err(|e| e.to_string())?;
            if on_front {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (*p95, *q),
                        9,
                        RED.stroke_width(2),
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    }))
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
    let lines = crate::select::explain(sel);
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
            esc(&crate::report::license_cell(m)),
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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole page.
pub fn html(results: &Results, records: &[RequestRecord]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ingot bench report</title>\n<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}.failed{{color:#b00}}figure{{margin:1em 0}}</style></head><body>\n<h1>ingot bench report</h1>\n<p>Started {} · {} · {} cores</p>\n",
        esc(&results.manifest.started),
        esc(results.manifest.machine.cpu_model.as_deref().unwrap_or("unknown CPU")),
        results.manifest.machine.logical_cores
    );
    let hl = crate::report::highlights(results);
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
    o.push_str("<h2>Summary</h2><table><tr><th>model</th><th>scenario</th><th>status</th><th>TTFT p50 ms</th><th>e2e p50 ms</th><th>e2e p95 ms</th><th>ITL p50 ms</th><th>tok/s</th><th>req/s</th></tr>\n");
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
    o.push_str("</table>\n<h2>Charts</h2>\n");
    for chart in [
        cdf_chart(results, records),
        box_chart(results, records, "TTFT (ms, first scenario)", |r| {
            r.ttft_ms()
        }),
        box_chart(results, records, "e2e latency (ms, first scenario)", |r| {
            Some(r.e2e_ms())
        }),
        tok_s_chart(results),
        throughput_chart(results),
    ] {
        let _ = writeln!(o, "<figure>{chart}</figure>");
    }
    o.push_str("<h2>Full report</h2><pre>");
    o.push_str(&esc(&crate::report::markdown(results)));
    o.push_str("</pre></body></html>\n");
    o
}
