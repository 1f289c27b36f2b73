//! Working on a finished run folder without generating again: `ingot bench annotate`,
//! `ingot bench report` (re-render every report, human scores merged) and
//! `ingot bench rescore --prompts new.json` (re-apply new checks to the saved outputs).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::analyze::select::{select, SelectSpec};
use crate::measure::record::RequestRecord;
use crate::results::Results;
use crate::score::annotate;
use crate::score::judge::Judge;
pub use crate::score::judge_spec::local_judge;
use crate::score::scored::{self, RecordScores};
use crate::score::scoring::{merge_human, quality_info, score_run, JudgeMode};
use crate::spec::workload::{parse_prompts, PromptSpec};

/// The prompt set of a run, with its checks, as saved in the run folder.
pub const PROMPTS_FILE: &str = "prompts.json";

/// A run folder, loaded.
pub struct RunDir {
    pub dir: PathBuf,
    pub results: Results,
    pub records: Vec<RequestRecord>,
    /// The quality scores of `records`, by position (inside the records in requests.jsonl).
    pub scores: RecordScores,
    pub prompts: Vec<PromptSpec>,
}

impl RunDir {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let rp = dir.join("results.json");
        let text = std::fs::read_to_string(&rp)
            .with_context(|| format!("cannot read {} (is this a run folder?)", rp.display()))?;
        let results: Results = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an ingot results.json", rp.display()))?;
        let jp = dir.join("requests.jsonl");
        let text = std::fs::read_to_string(&jp)
            .with_context(|| format!("cannot read {}", jp.display()))?;
        let mut records = Vec::new();
        let mut scores = RecordScores::default();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let (record, quality) = scored::parse_line(line)
                .with_context(|| format!("{} line {}", jp.display(), i + 1))?;
            if let Some(q) = quality {
                scores.set(records.len(), q);
            }
            records.push(record);
        }
        let pp = dir.join(PROMPTS_FILE);
        let prompts = match std::fs::read_to_string(&pp) {
            Ok(t) => parse_prompts(&t).map_err(|e| anyhow::anyhow!("{}: {e}", pp.display()))?,
            // Runs from before prompts.json was saved: the ids only, no checks.
            Err(_) => results
                .manifest
                .prompt_set
                .ids
                .iter()
                .map(|id| PromptSpec::user(id.clone(), ""))
                .collect(),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            results,
            records,
            scores,
            prompts,
        })
    }

    /// Human scores from annotations.csv, if the file exists.
    fn human_scores(
        &self,
    ) -> anyhow::Result<Option<std::collections::HashMap<(String, String), f64>>> {
        let p = self.dir.join(annotate::FILE);
        match std::fs::read_to_string(&p) {
            Ok(t) => {
                let rows =
                    annotate::read(&t).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                Ok(Some(annotate::scores(&rows)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", p.display())),
        }
    }

    /// Writes annotations.csv, keeping scores already filled in. Returns its path, the number
    /// of rows and of scores kept.
    pub fn annotate(&self) -> anyhow::Result<(PathBuf, usize, usize)> {
        let p = self.dir.join(annotate::FILE);
        let new = annotate::rows(&self.results, &self.records, &self.prompts);
        anyhow::ensure!(
            !new.is_empty(),
            "the run has no successful model to annotate"
        );
        let existing = match std::fs::read_to_string(&p) {
            Ok(t) => annotate::read(&t).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
            Err(_) => Vec::new(),
        };
        let (rows, kept) = annotate::keep_scores(new, &existing);
        std::fs::write(&p, annotate::to_csv(&rows))
            .with_context(|| format!("cannot write {}", p.display()))?;
        Ok((p, rows.len(), kept))
    }

    /// Merges annotations.csv (if any), recomputes the selection (`spec`, else the one stored
    /// in results.json) and rewrites every report. Returns the number of human scores merged.
    pub fn report(&mut self, spec: Option<SelectSpec>) -> anyhow::Result<usize> {
        let merged = match self.human_scores()? {
            Some(s) => merge_human(&mut self.results, &s),
            None => 0,
        };
        let spec = spec.unwrap_or_else(|| stored_spec(&self.results));
        self.results.selection = Some(select(&self.results, &spec));
        crate::report::files::write_all(&self.dir, &self.results, &self.records, &self.scores)?;
        Ok(merged)
    }

    /// Re-applies `prompts`' checks to the saved outputs (judge checks through `judge`, or
    /// reusing earlier verdicts on the same rubric), saves the new prompt set, merges
    /// annotations and rewrites every report.
    pub fn rescore(
        &mut self,
        prompts: Vec<PromptSpec>,
        source: &str,
        judge: Option<&Judge>,
        spec: Option<SelectSpec>,
        progress: &(dyn Fn(&str, &str) + Sync),
    ) -> anyhow::Result<usize> {
        let known: std::collections::HashSet<&str> =
            self.records.iter().map(|r| r.prompt_id.as_str()).collect();
        let unknown: Vec<&str> = prompts
            .iter()
            .map(|p| p.id.as_str())
            .filter(|id| !known.contains(id))
            .collect();
        anyhow::ensure!(
            unknown.len() < prompts.len(),
            "none of the new prompt ids ({}) is in this run",
            unknown.join(", ")
        );
        let rt = crate::util::http::worker_runtime(2)?;
        let mode = match judge {
            Some(j) => JudgeMode::Judge(j),
            None => JudgeMode::Reuse("no judge configured (--judge or --judge-endpoint)"),
        };
        // Cases the run never sent are left out (they have no output to score). The sent
        // messages are kept: the outputs answered them, not the new file's text.
        let prompts: Vec<PromptSpec> = prompts
            .into_iter()
            .filter(|p| known.contains(p.id.as_str()))
            .map(|mut p| {
                if let Some(old) = self.prompts.iter().find(|o| o.id == p.id) {
                    if !old.messages.iter().all(|m| m.content.is_empty()) {
                        p.messages = old.messages.clone();
                    }
                }
                p
            })
            .collect();
        rt.block_on(score_run(
            &mut self.results,
            &self.records,
            &mut self.scores,
            &prompts,
            &mode,
            progress,
        ));
        self.results.manifest.quality = quality_info(&prompts, judge, source);
        self.prompts = prompts;
        std::fs::write(
            self.dir.join(PROMPTS_FILE),
            crate::spec::workload::prompts_json(&self.prompts),
        )?;
        self.report(spec)
    }
}

/// The selection question stored in results.json (default: none).
pub fn stored_spec(results: &Results) -> SelectSpec {
    results
        .selection
        .as_ref()
        .map(|s| s.spec.clone())
        .unwrap_or_default()
}
