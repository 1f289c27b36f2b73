//! What every chart of report.html shares: one colour per model (its place in the run, the
//! same in every chart), tick labels people read (`1000`, `2.5`, `0.25`, never `1000.0`),
//! light grids, axis titles with units, and a legend whenever there is more than one series.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::measure::record::RequestRecord;
use crate::results::{Results, Status};

/// Chart size in px: two fit side by side in the page's 1,180 px column, one alone fits a
/// phone in landscape; the SVG also scales down with the page (`max-width: 100%`).
pub const W: u32 = 580;
pub const H: u32 = 340;

/// A colour-blind-friendly palette (Okabe–Ito, without yellow, which vanishes on white).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(230, 159, 0),
    RGBColor(0, 0, 0),
];

/// The model colours as `#RRGGBB`, as they appear in the SVG (for tests that check what a
/// chart drew).
pub fn palette_hex() -> Vec<String> {
    PALETTE
        .iter()
        .map(|c| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2))
        .collect()
}

pub const GRID_LIGHT: RGBColor = RGBColor(240, 240, 240);
pub const GRID_BOLD: RGBColor = RGBColor(222, 222, 222);

/// The colour of a model in every chart: from its place among the run's models, so that a
/// failed model does not shift the others' colours.
pub fn model_color(results: &Results, alias: &str) -> RGBColor {
    let i = results
        .models
        .iter()
        .position(|m| m.alias == alias)
        .unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

/// A tick label: no trailing `.0`, at most 3 significant decimals, thousands as `12k`.
pub fn tick(v: &f64) -> String {
    let v = *v;
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    let s = if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') && !s.ends_with('k') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A category's label without the quotes plotters' default formatter puts around strings.
pub fn category(v: &SegmentValue<&String>) -> String {
    match v {
        SegmentValue::CenterOf(s) | SegmentValue::Exact(s) => s.to_string(),
        SegmentValue::Last => String::new(),
    }
}

pub fn caption_font() -> (&'static str, u32) {
    ("sans-serif", 16)
}

pub fn label_font() -> (&'static str, u32) {
    ("sans-serif", 12)
}

/// Draws into an SVG string; a drawing error becomes a short note instead of a chart.
pub(crate) fn svg(draw: impl FnOnce(&mut String) -> Result<(), String>) -> String {
    let mut s = String::new();
    match draw(&mut s) {
        Ok(()) => s,
        Err(e) => format!(
            "<p>chart unavailable: {}</p>",
            crate::util::text::angle_escape(&e)
        ),
    }
}

/// `(model, colour, points)` line series against a numeric x axis: a line chart with
/// markers, a legend when there is more than one series.
pub fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, RGBColor, Vec<(f64, f64)>)],
) -> String {
    lines(title, x_desc, y_desc, series, None, true)
}

/// A line chart; `y_max` fixes the y range (else the data's, plus room for the legend).
fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, RGBColor, Vec<(f64, f64)>)],
    y_max: Option<f64>,
    markers: bool,
) -> String {
    let pts = || series.iter().flat_map(|s| s.2.iter());
    let max_x = pts().map(|p| p.0).fold(0.0f64, f64::max).max(1e-9);
    let max_y = y_max.unwrap_or_else(|| pts().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9) * 1.15);
    svg(|s| {
        let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, caption_font())
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..max_x * 1.08, 0.0..max_y)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style(label_font())
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(|e| e.to_string())?;
        for (name, c, p) in series {
            let c = *c;
            chart
                .draw_series(LineSeries::new(p.clone(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
            if markers {
                chart
                    .draw_series(p.iter().map(|q| Circle::new(*q, 3, c.filled())))
                    .map_err(|e| e.to_string())?;
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font(label_font())
                .border_style(GRID_BOLD)
                .background_style(WHITE.mix(0.9))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Models that finished, in the run's order.
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

/// The e2e latency CDF of each model's first scenario.
pub fn cdf_chart(results: &Results, records: &[RequestRecord]) -> String {
    let series: Vec<(String, RGBColor, Vec<(f64, f64)>)> = models_ok(results)
        .into_iter()
        .filter_map(|m| {
            let mut v: Vec<f64> = first_scenario_records(results, records, &m)
                .iter()
                .map(|r| r.e2e_ms())
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let n = v.len() as f64;
            let pts: Vec<(f64, f64)> = v
                .iter()
                .enumerate()
                .map(|(k, x)| (*x, (k + 1) as f64 / n))
                .collect();
            (!pts.is_empty()).then(|| (m.clone(), model_color(results, &m), pts))
        })
        .collect();
    lines(
        "End-to-end latency, cumulative (first scenario)",
        "e2e latency (ms)",
        "share of requests",
        &series,
        Some(1.05),
        false,
    )
}

/// One box (quartiles, whiskers) or bar per model on a categorical x axis.
fn per_model(
    results: &Results,
    title: &str,
    y_desc: &str,
    data: &[(String, Vec<f64>)],
    bars: bool,
) -> String {
    // f32: plotters' box plots are drawn from f32 quartiles.
    let max = data
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1e-9) as f32;
    let tick32 = |v: &f32| tick(&f64::from(*v));
    let names: Vec<String> = data.iter().map(|(n, _)| n.clone()).collect();
    svg(|s| {
        let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if data.is_empty() {
            return Err("no successful request to draw".into());
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(title, caption_font())
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(names.as_slice().into_segmented(), 0.0f32..max * 1.15)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .disable_x_mesh()
            .y_labels(6)
            .y_label_formatter(&tick32)
            .x_label_formatter(&category)
            .label_style(label_font())
            .y_desc(y_desc)
            .draw()
            .map_err(|e| e.to_string())?;
        let width = (W as usize / (names.len() * 3).max(1)).clamp(12, 60) as u32;
        for (name, v) in data {
            let c = model_color(results, name);
            if bars {
                let y = v.first().copied().unwrap_or(0.0) as f32;
                chart
                    .draw_series(
                        Histogram::vertical(&chart)
                            .style(c.filled())
                            .margin(width)
                            .data(std::iter::once((name, y))),
                    )
                    .map_err(|e| e.to_string())?;
            } else {
                let q = Quartiles::new(v);
                chart
                    .draw_series(std::iter::once(
                        Boxplot::new_vertical(SegmentValue::CenterOf(name), &q)
                            .width(width)
                            .whisker_width(0.5)
                            .style(c.stroke_width(2)),
                    ))
                    .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// A box per model of a per-request value (first scenario).
pub fn box_chart(
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
    if data.is_empty() {
        return format!("<p>{title}: no value to draw (TTFT needs streamed requests).</p>");
    }
    per_model(results, title, "ms", &data, false)
}

/// Output tok/s per model (first scenario).
pub fn tok_s_chart(results: &Results) -> String {
    let data: Vec<(String, Vec<f64>)> = results
        .models
        .iter()
        .filter(|m| m.status == Status::Ok)
        .filter_map(|m| {
            Some((
                m.alias.clone(),
                vec![m.scenarios.first()?.metrics.as_ref()?.output_tok_s?],
            ))
        })
        .collect();
    if data.is_empty() {
        return "<p>Output tokens/s: no value to draw.</p>".into();
    }
    per_model(
        results,
        "Output throughput (first scenario)",
        "output tokens/s",
        &data,
        true,
    )
}

/// Output tok/s against concurrency, one line per model (closed-loop scenarios).
pub fn throughput_chart(results: &Results) -> String {
    let series: Vec<(String, RGBColor, Vec<(f64, f64)>)> = results
        .models
        .iter()
        .filter(|m| m.status == Status::Ok)
        .filter_map(|m| {
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
            (!pts.is_empty()).then(|| (m.alias.clone(), model_color(results, &m.alias), pts))
        })
        .collect();
    if series.is_empty() {
        return "<p>Output tokens/s against concurrency: no closed-loop scenario.</p>".into();
    }
    line_chart(
        "Output throughput against concurrency",
        "concurrency (requests in flight)",
        "output tokens/s",
        &series,
    )
}

/// Quality (1–5) against e2e p95 (first scenario), one point per scored model, the Pareto
/// front joined by a red line and its points ringed. `None` when no model has both values.
pub fn quality_chart(results: &Results) -> Option<String> {
    let pts = crate::analyze::select::quality_latency_points(results);
    if pts.is_empty() {
        return None;
    }
    let front = crate::analyze::select::pareto_front(results);
    let max_x = pts.iter().map(|p| p.2).fold(1.0f64, f64::max);
    Some(svg(|s| {
        let root = SVGBackend::with_string(s, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Quality against p95 latency (Pareto front in red)",
                caption_font(),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..max_x * 1.3, 0.8..5.2)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .x_labels(6)
            .y_labels(5)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style(label_font())
            .x_desc("e2e p95 (ms, first scenario)")
            .y_desc("quality (1–5)")
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
        for (name, q, p95) in &pts {
            let on_front = front.contains(name);
            let c = model_color(results, name);
            let label = if on_front {
                format!("{name} (front)")
            } else {
                name.clone()
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((*p95, *q))
                        + Circle::new((0, 0), 5, c.filled())
                        + Text::new(label, (9, -14), label_font()),
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

/// report.html's sweep charts: TTFT p50, TTFT p90 and ITL against the achieved request
/// rate, one line per swept model.
pub fn sweep_charts(results: &Results) -> Vec<String> {
    type Get = fn(&crate::analyze::sweep::SweepPoint) -> Option<f64>;
    let metrics: [(&str, &str, Get); 3] = [
        ("TTFT p50 against throughput", "TTFT p50 (ms)", |p| {
            p.ttft_p50_ms
        }),
        ("TTFT p90 against throughput", "TTFT p90 (ms)", |p| {
            p.ttft_p90_ms
        }),
        ("ITL against throughput", "ITL mean (ms)", |p| p.itl_mean_ms),
    ];
    let swept: Vec<_> = results
        .models
        .iter()
        .filter_map(|m| Some((m, m.sweep.as_ref()?)))
        .collect();
    if swept.is_empty() {
        return Vec::new();
    }
    metrics
        .iter()
        .map(|(title, y, get)| {
            let series: Vec<(String, RGBColor, Vec<(f64, f64)>)> = swept
                .iter()
                .map(|(m, s)| {
                    let mut pts: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .filter_map(|p| Some((p.achieved_req_s?, get(p)?)))
                        .collect();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    (m.alias.clone(), model_color(results, &m.alias), pts)
                })
                .filter(|s| !s.2.is_empty())
                .collect();
            line_chart(title, "throughput (requests/s)", y, &series)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_like_numbers() {
        assert_eq!(tick(&1000.0), "1000");
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(tick(&12.0), "12");
        assert_eq!(tick(&15_000.0), "15k");
        assert_eq!(tick(&3.14159), "3.14");
    }
}
