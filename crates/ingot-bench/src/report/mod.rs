//! Reports: `results.json`, `requests.jsonl`, `results.csv` (long format), `report.md`,
//! `report.html`, and the terminal summary table; one [`Exporter`] per format.
pub mod ab;
pub mod charts;
pub mod common;
pub mod cost;
pub mod csv;
pub mod embedding;
pub mod exporter;
pub mod files;
pub mod html;
pub mod markdown;
pub mod samples;
pub mod sweep;
pub mod terminal;

pub use common::{bytes_h, highlights, license_cell, num, Highlight};
pub use csv::{csv, scenario_rows, CsvExporter};
pub use exporter::Exporter;
pub use files::{write_all, JsonExporter, RecordsExporter, FILES, QUALITY_CHART};
pub use html::{HtmlExporter, QualityChartExporter};
pub use markdown::{markdown, MarkdownExporter};
pub use terminal::{quality_summary, terminal_table, TerminalExporter};
