//! Issue 17: report.html is a page people look at. Rendered in headless Chromium: it fits
//! 1,280 px without sideways scrolling (and 1,400 px), and every chart drew its data in the
//! models' colours. Skipped, saying why, when no Chromium is installed (CI installs it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ingot_bench::run::{ModelSpec, RunConfig};
use ingot_bench::sweep::SweepSpec;
use ingot_bench::workload::GenParams;
use ingot_core::mock::{MockConfig, MockEngine};
use ingot_core::{ModelDescriptor, ModelDetails, ModelProvider, ProviderError, ResolvedModel};

struct Files(PathBuf);

impl ModelProvider for Files {
    fn list(&self) -> Vec<ModelDescriptor> {
        Vec::new()
    }
    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        let path = self.0.join(format!("{id}.gguf"));
        // The mock engine loads anything; the size is what the report shows.
        let f = std::fs::File::create(&path).map_err(|e| ProviderError::Other(e.to_string()))?;
        f.set_len(100_000_000)
            .map_err(|e| ProviderError::Other(e.to_string()))?;
        Ok(ResolvedModel {
            id: id.into(),
            path,
            chat_template: None,
            context_length: None,
        })
    }
    fn details(&self, _id: &str) -> Option<ModelDetails> {
        Some(ModelDetails {
            quantization: Some("Q4_K_M".into()),
            chat_template: Some(true),
            ..ModelDetails::default()
        })
    }
}

fn chromium() -> Option<PathBuf> {
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .find_map(|c| {
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
}

/// The checks, run in the page once it has laid out; the result lands in `#ingot-check`.
fn probe(palette: &[String]) -> String {
    format!(
        r#"<script>
window.addEventListener('load', () => {{
  const palette = {palette:?};
  const figs = [...document.querySelectorAll('figure')];
  const charts = figs.map((f, i) => {{
    const svg = f.querySelector('svg');
    if (!svg) return {{i, svg: false, drawn: 0, right: 0, text: f.textContent.slice(0, 80)}};
    let drawn = 0;
    for (const e of svg.querySelectorAll('polyline,path,rect,circle,line,polygon')) {{
      const c = ((e.getAttribute('stroke') || '') + ' ' + (e.getAttribute('fill') || '')).toUpperCase();
      if (!palette.some(p => c.includes(p))) continue;
      const b = e.getBBox();
      if (b.width > 0 || b.height > 0) drawn++;
    }}
    const r = svg.getBoundingClientRect();
    return {{i, svg: true, drawn, right: Math.round(r.right), width: Math.round(r.width)}};
  }});
  const out = document.createElement('pre');
  out.id = 'ingot-check';
  out.textContent = JSON.stringify({{
    inner: window.innerWidth,
    scroll: document.documentElement.scrollWidth,
    charts
  }});
  document.body.appendChild(out);
}});
</script>"#
    )
}

fn render(chrome: &Path, page: &Path, width: u32) -> serde_json::Value {
    let out = Command::new("timeout")
        .arg("120")
        .arg(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            &format!("--window-size={width},900"),
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("<pre id=\"ingot-check\">").unwrap_or_else(|| {
        panic!(
            "no check result in the DOM (exit {:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let rest = &dom[start + "<pre id=\"ingot-check\">".len()..];
    let json = &rest[..rest.find("</pre>").unwrap()];
    serde_json::from_str(&json.replace("&quot;", "\"").replace("&amp;", "&")).unwrap()
}

#[test]
fn report_html_fits_1280_px_and_every_chart_draws_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = RunConfig::builder()
        .models(
            ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"]
                .iter()
                .map(|a| ModelSpec {
                    alias: a.to_string(),
                    mode: None,
                })
                .collect(),
        )
        .gen(GenParams {
            max_tokens: 8,
            ..GenParams::default()
        })
        .requests(Some(12))
        .warmup(0)
        .sweep(Some(SweepSpec {
            rates: 2,
            max_concurrency: 4,
        }))
        .out_dir(out.clone())
        .calibrate(false)
        .load_test(false)
        .build()
        .unwrap();
    let engine = Arc::new(MockEngine::new(
        MockConfig::default().with_timing(Duration::from_millis(2), Duration::from_millis(1)),
    ));
    let res = ingot_bench::run::run(&cfg, &Files(dir.path().to_path_buf()), engine).unwrap();
    assert!(res.results.models.iter().all(|m| m.sweep.is_some()));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // Without a browser, what the page says can still be checked.
    assert!(!html.contains("&quot;smollm2-135m&quot;"), "quoted labels");
    assert!(!html.contains(">1000.0<"), "tick labels like 1000.0");
    let figures = html.matches("<figure>").count();
    assert!(figures >= 8, "{figures} charts");

    let Some(chrome) = chromium() else {
        println!("SKIPPED: no chromium to render report.html (apt-get install chromium)");
        return;
    };
    let page = dir.path().join("check.html");
    let palette = ingot_bench::charts::palette_hex();
    std::fs::write(
        &page,
        html.replace("</body>", &format!("{}</body>", probe(&palette))),
    )
    .unwrap();
    for width in [1280, 1400] {
        let v = render(&chrome, &page, width);
        let inner = v["inner"].as_i64().unwrap();
        let scroll = v["scroll"].as_i64().unwrap();
        assert!(
            scroll <= inner,
            "at {width} px the page scrolls sideways: {v}"
        );
        let charts = v["charts"].as_array().unwrap();
        assert_eq!(charts.len(), figures);
        for c in charts {
            assert_eq!(c["svg"], true, "a chart was not drawn: {c}");
            assert!(
                c["drawn"].as_i64().unwrap() >= 1,
                "a chart drew no data: {c}"
            );
            assert!(
                c["right"].as_i64().unwrap() <= inner,
                "a chart overflows: {c}"
            );
        }
        // Multi-model charts draw every model (three colours).
        let most = charts
            .iter()
            .map(|c| c["drawn"].as_i64().unwrap())
            .max()
            .unwrap();
        assert!(most >= 3, "{v}");
    }
}
