//! Human annotation: `annotations.csv` in a run folder, one row per (case, model) with the
//! scored output and a blank `score` column for a person to fill in with 1–5.
//!
//! Columns: `case,model,prompt,output,score` (RFC 4180 CSV: fields with commas, quotes or line
//! breaks are quoted, quotes doubled). Reading goes by the header's names, so a spreadsheet may
//! reorder or add columns; `;`-separated files (some spreadsheet locales) are read too. A
//! blank score means "not annotated"; anything else must be a number from 1 to 5.
//!
//! Cells are model output and prompts, i.e. untrusted text, and the file is meant to be opened
//! in a spreadsheet: a cell starting with `=`, `+`, `-`, `@` (or a tab or carriage return) would
//! be run as a formula there (CSV injection). Such cells are written with a leading `'`, which
//! spreadsheets show as text, and [`read`] takes that `'` off again.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::measure::record::RequestRecord;
use crate::results::{Results, Status};
use crate::score::scoring::{first_scenario, scored_index};
use crate::spec::workload::PromptSpec;

pub const FILE: &str = "annotations.csv";

/// Errors of reading annotations.csv ([`read`], [`parse_csv`]); `row` counts the header as
/// row 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnnotationsError {
    #[error("unterminated quoted field (line {line})")]
    UnterminatedQuote { line: usize },
    #[error("empty file")]
    Empty,
    #[error("no `{column}` column")]
    NoColumn { column: String },
    #[error("row {row}: score \"{value}\" is not a number from 1 to 5")]
    NotANumber { row: usize, value: String },
    #[error("row {row}: score {value} is outside 1 to 5")]
    OutOfRange { row: usize, value: String },
}

/// One row of annotations.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub case: String,
    pub model: String,
    pub prompt: String,
    pub output: String,
    pub score: Option<f64>,
}

/// Rows for every successful model and every case, in model then prompt-set order. Cases with
/// no successful output get an empty output (and can still be scored by hand).
pub fn rows(results: &Results, records: &[RequestRecord], prompts: &[PromptSpec]) -> Vec<Row> {
    let mut out = Vec::new();
    for m in results.models.iter().filter(|m| m.status == Status::Ok) {
        let Some(scenario) = first_scenario(m) else {
            continue;
        };
        for p in prompts {
            let output = scored_index(records, &m.alias, scenario, &p.id)
                .map(|i| records[i].output.clone())
                .unwrap_or_default();
            out.push(Row {
                case: p.id.clone(),
                model: m.alias.clone(),
                prompt: p
                    .messages
                    .iter()
                    .filter(|x| x.role != "system")
                    .map(|x| x.content.as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n"),
                output,
                score: None,
            });
        }
    }
    out
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn field(s: &str) -> String {
    let escaped;
    let s = if s.starts_with(FORMULA_START) {
        escaped = format!("'{s}");
        escaped.as_str()
    } else {
        s
    };
    crate::util::text::csv_field(s, true)
}

fn fmt_score(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// The CSV text of `rows`.
pub fn to_csv(rows: &[Row]) -> String {
    let mut o = String::from("case,model,prompt,output,score\n");
    for r in rows {
        let _ = writeln!(
            o,
            "{},{},{},{},{}",
            field(&r.case),
            field(&r.model),
            field(&r.prompt),
            field(&r.output),
            r.score.map(fmt_score).unwrap_or_default()
        );
    }
    o
}

/// Parses CSV text into records of fields (quotes, doubled quotes, line breaks inside quotes,
/// CRLF, a UTF-8 BOM). The delimiter is `,`, or `;` when the header has `;` and no `,`.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, AnnotationsError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header = text.lines().next().unwrap_or("");
    let delim = if !header.contains(',') && header.contains(';') {
        ';'
    } else {
        ','
    };
    let mut out = Vec::new();
    let mut rec: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut at_start = true;
    let mut line = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cur.push(c);
                }
                _ => cur.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            c if c == delim => {
                rec.push(std::mem::take(&mut cur));
                at_start = true;
            }
            '\r' => {}
            '\n' => {
                rec.push(std::mem::take(&mut cur));
                if !(rec.len() == 1 && rec[0].is_empty()) {
                    out.push(std::mem::take(&mut rec));
                } else {
                    rec.clear();
                }
                at_start = true;
                line += 1;
            }
            _ => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(AnnotationsError::UnterminatedQuote { line });
    }
    if !cur.is_empty() || !rec.is_empty() {
        rec.push(cur);
        out.push(rec);
    }
    Ok(out)
}

/// A cell as written before [`field`] escaped it: `'=1+1` is `=1+1`.
fn unescape(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_START) => rest,
        _ => s,
    }
}

/// Reads annotations.csv: every row, with its score if filled in.
pub fn read(text: &str) -> Result<Vec<Row>, AnnotationsError> {
    let recs = parse_csv(text)?;
    let Some(header) = recs.first() else {
        return Err(AnnotationsError::Empty);
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| AnnotationsError::NoColumn {
                column: name.into(),
            })
    };
    let (ci, mi, si) = (col("case")?, col("model")?, col("score")?);
    let (pi, oi) = (col("prompt").ok(), col("output").ok());
    let mut out = Vec::new();
    for (n, r) in recs.iter().enumerate().skip(1) {
        let get = |i: usize| r.get(i).map(|s| unescape(s)).unwrap_or("");
        let raw = get(si).trim();
        let score = if raw.is_empty() {
            None
        } else {
            // A decimal comma (3,5) from some spreadsheet locales is read as 3.5.
            let v: f64 =
                raw.replace(',', ".")
                    .parse()
                    .map_err(|_| AnnotationsError::NotANumber {
                        row: n + 1,
                        value: raw.into(),
                    })?;
            if !(1.0..=5.0).contains(&v) {
                return Err(AnnotationsError::OutOfRange {
                    row: n + 1,
                    value: raw.into(),
                });
            }
            Some(v)
        };
        out.push(Row {
            case: get(ci).to_string(),
            model: get(mi).to_string(),
            prompt: pi.map(get).unwrap_or("").to_string(),
            output: oi.map(get).unwrap_or("").to_string(),
            score,
        });
    }
    Ok(out)
}

/// The filled-in scores, keyed by (case, model).
pub fn scores(rows: &[Row]) -> HashMap<(String, String), f64> {
    rows.iter()
        .filter_map(|r| Some(((r.case.clone(), r.model.clone()), r.score?)))
        .collect()
}

/// New rows with the scores already given in `existing` kept (matched by case and model).
/// Returns the rows and how many scores were kept.
pub fn keep_scores(mut new: Vec<Row>, existing: &[Row]) -> (Vec<Row>, usize) {
    let old = scores(existing);
    let mut kept = 0;
    for r in new.iter_mut() {
        if let Some(s) = old.get(&(r.case.clone(), r.model.clone())) {
            r.score = Some(*s);
            kept += 1;
        }
    }
    (new, kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_with_awkward_text() {
        let rows = vec![
            Row {
                case: "c1".into(),
                model: "m".into(),
                prompt: "Say \"hi\", then stop".into(),
                output: "line one\nline two; with \"quotes\"".into(),
                score: None,
            },
            Row {
                case: "c2".into(),
                model: "m".into(),
                prompt: "plain".into(),
                output: " padded ".into(),
                score: Some(4.0),
            },
        ];
        let text = to_csv(&rows);
        assert_eq!(read(&text).unwrap(), rows);
        // CRLF and a BOM, as spreadsheets save.
        let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
        let back = read(&crlf).unwrap();
        assert_eq!(back[1].score, Some(4.0));
        assert_eq!(back[0].output, "line one\r\nline two; with \"quotes\"");
    }

    /// Issue 12: output and prompts are untrusted text; a cell that starts like a formula
    /// must not run as one when annotations.csv is opened in a spreadsheet.
    #[test]
    fn formula_like_cells_are_escaped_and_read_back_unchanged() {
        let rows: Vec<Row> = [
            "=HYPERLINK(\"http://x\",\"a\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "- a list",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| Row {
            case: format!("c{i}"),
            model: "-m".into(),
            prompt: "plain".into(),
            output: t.to_string(),
            score: Some(3.0),
        })
        .collect();
        let text = to_csv(&rows);
        for rec in parse_csv(&text).unwrap().iter().skip(1) {
            for cell in rec {
                assert!(
                    !cell.starts_with(FORMULA_START),
                    "cell {cell:?} would be read as a formula"
                );
            }
        }
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(text.contains(",'-m,"), "{text}");
        // Reading gives back exactly what was written, so scores still match (case, model).
        assert_eq!(read(&text).unwrap(), rows);
        // A cell that merely starts with a quote is left alone.
        assert_eq!(unescape("'quoted"), "'quoted");
    }

    #[test]
    fn scores_are_validated_and_columns_found_by_name() {
        let text = "model;score;case\nm;3,5;c1\nm;;c2\n";
        let rows = read(text).unwrap();
        assert_eq!(rows[0].score, Some(3.5));
        assert_eq!(rows[1].score, None);
        assert_eq!(scores(&rows).len(), 1);
        assert!(read("case,model,score\nc,m,6\n")
            .unwrap_err()
            .to_string()
            .contains("outside 1 to 5"));
        assert!(read("case,model,score\nc,m,good\n")
            .unwrap_err()
            .to_string()
            .contains("row 2"));
        assert!(read("case,model\nc,m\n")
            .unwrap_err()
            .to_string()
            .contains("score"));
        assert!(parse_csv("a,\"b\n").is_err());
    }
}
