//! Writing the run folder: `results.json`, `requests.jsonl`, `results.csv`, the quality chart,
//! `report.md` and `report.html`, one [`Exporter`] each.

use std::path::Path;

use crate::measure::record::RequestRecord;
use crate::report::csv::CsvExporter;
use crate::report::exporter::Exporter;
pub use crate::report::exporter::QUALITY_CHART;
use crate::report::html::{HtmlExporter, QualityChartExporter};
use crate::report::markdown::MarkdownExporter;
use crate::results::Results;
use crate::score::scored::RecordScores;

/// `results.json`.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn file_name(&self) -> Option<&'static str> {
        Some("results.json")
    }
    fn render(
        &self,
        results: &Results,
        _: &[RequestRecord],
        _: &RecordScores,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(Some(serde_json::to_vec_pretty(results)?))
    }
}

/// `requests.jsonl`: the raw records, one JSON object a line, each with its quality score
/// ([`crate::score::scored::to_jsonl`]).
pub struct RecordsExporter;

impl Exporter for RecordsExporter {
    fn file_name(&self) -> Option<&'static str> {
        Some("requests.jsonl")
    }
    fn render(
        &self,
        _: &Results,
        records: &[RequestRecord],
        scores: &RecordScores,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(Some(crate::score::scored::to_jsonl(records, scores)?))
    }
}

/// The files of a run folder, in the order they are written.
pub const FILES: &[&dyn Exporter] = &[
    &JsonExporter,
    &RecordsExporter,
    &CsvExporter,
    &QualityChartExporter,
    &MarkdownExporter,
    &HtmlExporter,
];

/// Writes every output file into `dir` (atomically per file: write then rename).
pub fn write_all(
    dir: &Path,
    results: &Results,
    records: &[RequestRecord],
    scores: &RecordScores,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for e in FILES {
        let name = e.file_name().expect("a file exporter has a file name");
        match e.render(results, records, scores)? {
            Some(bytes) => write(dir, name, &bytes)?,
            None => {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
    }
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    // Retried while a viewer holds the old report open (Windows).
    ingot_core::files::replace_file(&tmp, &dir.join(name))?;
    Ok(())
}
