//! The quality scores of a run's records, kept beside the records, and `requests.jsonl`.
//!
//! A [`RequestRecord`] is what was measured (a lower layer); scoring never writes into it. It
//! fills a [`RecordScores`] table that travels with the records instead. `requests.jsonl`
//! shows each score inside its record, as the field `quality` between `error` and `retried`:
//! the file keeps the format of the versions where the score was a field of the record, so
//! old run folders read back and rewrite byte for byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::measure::conn::Attempt;
use crate::measure::record::{CountSource, RequestRecord};
use crate::spec::checks::CaseScore;

/// The quality score of the one scored record per model and case (checks' results, and the
/// judge's score and reason), by the record's position in the run's records.
///
/// Keyed by position because that is the record's only identity that is certainly unique
/// (a record's model, scenario and index are not, e.g. a model benchmarked twice), and
/// positions never change: a run only appends records, after the earlier ones were scored,
/// and a run folder's records are read back in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordScores(BTreeMap<usize, CaseScore>);

impl RecordScores {
    /// The score of the record at position `i`, if it is scored.
    pub fn get(&self, i: usize) -> Option<&CaseScore> {
        self.0.get(&i)
    }

    /// Scores the record at position `i` (replacing an earlier score).
    pub fn set(&mut self, i: usize, score: CaseScore) {
        self.0.insert(i, score);
    }

    /// The scored records: (position, score), in position order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &CaseScore)> {
        self.0.iter().map(|(i, s)| (*i, s))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One line of `requests.jsonl` as written: the record's fields in their order, with its score
/// where the record's `quality` field used to be. Built by destructuring the record without
/// `..`, so that a field added to [`RequestRecord`] does not compile until it is added here.
#[derive(Serialize)]
struct LineOut<'a> {
    model: &'a str,
    scenario: &'a str,
    index: u64,
    round: u32,
    prompt_id: &'a str,
    warmup: bool,
    intended_start_ms: f64,
    send_ms: f64,
    first_byte_ms: Option<f64>,
    first_token_ms: Option<f64>,
    token_ms: &'a [f64],
    end_ms: f64,
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    count_source: CountSource,
    finish_reason: &'a Option<String>,
    output: &'a str,
    error: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<&'a CaseScore>,
    #[serde(skip_serializing_if = "is_false")]
    retried: bool,
    #[serde(skip_serializing_if = "no_attempts")]
    attempts: &'a [Attempt],
    #[serde(skip_serializing_if = "Option::is_none")]
    interleave_round: Option<u32>,
    #[serde(skip_serializing_if = "no_embedding")]
    embedding: &'a Option<crate::measure::record::EmbedRecord>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn no_embedding(e: &&Option<crate::measure::record::EmbedRecord>) -> bool {
    e.is_none()
}

fn no_attempts(a: &&[Attempt]) -> bool {
    a.is_empty()
}

impl<'a> LineOut<'a> {
    fn new(r: &'a RequestRecord, quality: Option<&'a CaseScore>) -> Self {
        let RequestRecord {
            model,
            scenario,
            index,
            round,
            prompt_id,
            warmup,
            intended_start_ms,
            send_ms,
            first_byte_ms,
            first_token_ms,
            token_ms,
            end_ms,
            prompt_tokens,
            completion_tokens,
            count_source,
            finish_reason,
            output,
            error,
            retried,
            attempts,
            interleave_round,
            embedding,
        } = r;
        Self {
            model,
            scenario,
            index: *index,
            round: *round,
            prompt_id,
            warmup: *warmup,
            intended_start_ms: *intended_start_ms,
            send_ms: *send_ms,
            first_byte_ms: *first_byte_ms,
            first_token_ms: *first_token_ms,
            token_ms,
            end_ms: *end_ms,
            prompt_tokens: *prompt_tokens,
            completion_tokens: *completion_tokens,
            count_source: *count_source,
            finish_reason,
            output,
            error,
            quality,
            retried: *retried,
            attempts,
            interleave_round: *interleave_round,
            embedding,
        }
    }
}

/// One line of `requests.jsonl` as read (the order of the fields does not matter here).
#[derive(Deserialize)]
struct LineIn {
    #[serde(default)]
    quality: Option<CaseScore>,
    #[serde(flatten)]
    record: RequestRecord,
}

/// `requests.jsonl`: the records, one JSON object a line, each with its score.
pub fn to_jsonl(records: &[RequestRecord], scores: &RecordScores) -> serde_json::Result<Vec<u8>> {
    let mut jsonl = Vec::new();
    for (i, r) in records.iter().enumerate() {
        serde_json::to_writer(&mut jsonl, &LineOut::new(r, scores.get(i)))?;
        jsonl.push(b'\n');
    }
    Ok(jsonl)
}

/// One line of `requests.jsonl`: the record and its score, if it has one.
pub fn parse_line(line: &str) -> serde_json::Result<(RequestRecord, Option<CaseScore>)> {
    let l: LineIn = serde_json::from_str(line)?;
    Ok((l.record, l.quality))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::quality::{combine, evaluate, Check};

    fn record(i: u64) -> RequestRecord {
        let mut r = RequestRecord::start("m", "s", i, 0, "p", false, 0.5, 1.25);
        r.first_token_ms = Some(3.0);
        r.token_ms = vec![3.0, 4.5];
        r.end_ms = 9.75;
        r.output = "ok \"quoted\"".into();
        r
    }

    #[test]
    fn unscored_lines_are_the_records_own_serialization() {
        let mut retried = record(1);
        retried.retried = true;
        retried.interleave_round = Some(2);
        retried.error = Some("cut".into());
        let records = vec![record(0), retried];
        let out = to_jsonl(&records, &RecordScores::default()).unwrap();
        let mut expected = Vec::new();
        for r in &records {
            serde_json::to_writer(&mut expected, r).unwrap();
            expected.push(b'\n');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    #[test]
    fn the_score_sits_between_error_and_retried_and_reads_back() {
        let mut r = record(0);
        r.retried = true;
        let check = Check::try_from(serde_json::json!({"contains": "ok"})).unwrap();
        let score = combine("p", 0.5, vec![evaluate(&check, &r.output)]);
        let mut scores = RecordScores::default();
        scores.set(1, score.clone());
        let records = vec![record(0), r];
        let out = String::from_utf8(to_jsonl(&records, &scores).unwrap()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(!lines[0].contains("\"quality\""));
        let (error, quality, retried) = (
            lines[1].find("\"error\"").unwrap(),
            lines[1].find("\"quality\"").unwrap(),
            lines[1].find("\"retried\"").unwrap(),
        );
        assert!(error < quality && quality < retried, "{}", lines[1]);
        let back: Vec<_> = lines.iter().map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(back[0], (records[0].clone(), None));
        assert_eq!(back[1], (records[1].clone(), Some(score)));
        let mut again = RecordScores::default();
        again.set(1, back[1].1.clone().unwrap());
        let rewritten: Vec<RequestRecord> = back.into_iter().map(|(r, _)| r).collect();
        assert_eq!(
            String::from_utf8(to_jsonl(&rewritten, &again).unwrap()).unwrap(),
            out
        );
    }
}
