//! One exporter per output format, hyperfine style: each turns the results and the records
//! into the bytes of its file; [`crate::report::files::write_all`] writes them.

use crate::measure::record::RequestRecord;
use crate::results::Results;
use crate::score::scored::RecordScores;

/// The quality-against-p95 chart next to report.md.
pub const QUALITY_CHART: &str = "quality_p95.svg";

pub trait Exporter {
    /// The file's name in the run folder; `None` for the terminal table, which is printed.
    fn file_name(&self) -> Option<&'static str>;
    /// The file's content; `None`: there is nothing to show, and a file left by an earlier
    /// write is removed.
    fn render(
        &self,
        results: &Results,
        records: &[RequestRecord],
        scores: &RecordScores,
    ) -> anyhow::Result<Option<Vec<u8>>>;
}
