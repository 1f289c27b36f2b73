//! Checks: what a prompt file's cases test in the answers (their JSON form, parsed and
//! written back), and the types of what a check yields on one answer. Evaluating them is
//! [`crate::score::quality`]'s work.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Default case threshold (0..1): 0.75, which is 4 on the 1–5 scale.
pub const DEFAULT_THRESHOLD: f64 = 0.75;
/// A judge check passes at this 1–5 score or above unless the check sets `min_score`.
pub const DEFAULT_JUDGE_MIN_SCORE: f64 = 3.0;

/// One check of a case: what is tested, its weight and whether the case needs it to pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct Check {
    pub kind: CheckKind,
    /// Weight in the case's weighted mean (> 0).
    pub weight: f64,
    /// When set, the case fails unless this check passes, whatever its score.
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// `contains` (case-sensitive) or `icontains` (case-insensitive): all of the values (partial
    /// credit: the share found) or any of them.
    Contains {
        values: Vec<String>,
        any: bool,
        ignore_case: bool,
        whole_word: bool,
    },
    /// None of the values appears (case-insensitive).
    NotContains {
        values: Vec<String>,
        whole_word: bool,
    },
    /// The pattern (Rust `regex` syntax; `(?i)` for case-insensitive) matches somewhere.
    Regex {
        pattern: String,
    },
    /// The answer, trimmed, equals the value.
    Equals {
        value: String,
        ignore_case: bool,
    },
    MaxWords(usize),
    MaxChars(usize),
    MinWords(usize),
    /// The answer parses as JSON (surrounding whitespace and a Markdown code fence are allowed).
    Json,
    /// The answer parses as JSON and validates against the schema.
    JsonSchema {
        schema: Value,
    },
    /// A judge model scores the answer against the rubric, 1–5.
    Judge {
        rubric: String,
        min_score: f64,
    },
}

/// The check types a prompt file may use.
pub const CHECK_TYPES: &[&str] = &[
    "contains",
    "icontains",
    "not_contains",
    "regex",
    "equals",
    "max_words",
    "max_chars",
    "min_words",
    "json",
    "json_schema",
    "judge",
];

impl CheckKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Contains {
                ignore_case: false, ..
            } => "contains",
            CheckKind::Contains { .. } => "icontains",
            CheckKind::NotContains { .. } => "not_contains",
            CheckKind::Regex { .. } => "regex",
            CheckKind::Equals { .. } => "equals",
            CheckKind::MaxWords(_) => "max_words",
            CheckKind::MaxChars(_) => "max_chars",
            CheckKind::MinWords(_) => "min_words",
            CheckKind::Json => "json",
            CheckKind::JsonSchema { .. } => "json_schema",
            CheckKind::Judge { .. } => "judge",
        }
    }

    /// A short human description, used in reports.
    pub fn label(&self) -> String {
        let list = |v: &[String]| {
            v.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            CheckKind::Contains { values, any, .. } => format!(
                "{} {} of {}",
                self.type_name(),
                if *any { "any" } else { "all" },
                list(values)
            ),
            CheckKind::NotContains { values, .. } => format!("not_contains {}", list(values)),
            CheckKind::Regex { pattern } => format!("regex /{pattern}/"),
            CheckKind::Equals { value, .. } => format!("equals \"{value}\""),
            CheckKind::MaxWords(n) => format!("max_words {n}"),
            CheckKind::MaxChars(n) => format!("max_chars {n}"),
            CheckKind::MinWords(n) => format!("min_words {n}"),
            CheckKind::Json => "json".into(),
            CheckKind::JsonSchema { .. } => "json_schema".into(),
            CheckKind::Judge { rubric, .. } => {
                let short: String = rubric.chars().take(60).collect();
                if short.len() < rubric.len() {
                    format!("judge: {short}…")
                } else {
                    format!("judge: {short}")
                }
            }
        }
    }
}

impl Check {
    pub fn new(kind: CheckKind) -> Self {
        Self {
            kind,
            weight: 1.0,
            required: false,
        }
    }
    pub fn weight(mut self, w: f64) -> Self {
        self.weight = w;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn is_judge(&self) -> bool {
        matches!(self.kind, CheckKind::Judge { .. })
    }
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(format!("{what}: expected strings")),
            })
            .collect(),
        _ => Err(format!(
            "{what}: expected a string or a non-empty list of strings"
        )),
    }
}

fn count(v: &Value, what: &str) -> Result<usize, String> {
    v.as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| format!("{what}: expected a non-negative integer"))
}

impl TryFrom<Value> for Check {
    type Error = String;

    /// Accepted forms: a bare string, an *expected aspect*: up to three words are a keyword
    /// the answer must contain (ignoring case), a longer text is a judge rubric ("the answer
    /// covers this expected aspect: ..."); an object with `type` (or `kind`) and its parameters (`value`/`values`/`pattern`/`schema`/`rubric`, `match`:
    /// `all`|`any`); or a one-key shorthand (`{"max_words": 50}`, `{"icontains": ["a", "b"]}`,
    /// `{"judge": "rubric"}`). `weight` (default 1) and `required` (default false) go with any
    /// object form.
    fn try_from(v: Value) -> Result<Self, String> {
        let o = match v {
            Value::String(s) => {
                let s = s.trim().to_string();
                if s.is_empty() {
                    return Err("empty check".into());
                }
                return Ok(Check::new(if word_count(&s) <= 3 {
                    CheckKind::Contains {
                        values: vec![s],
                        any: false,
                        ignore_case: true,
                        whole_word: false,
                    }
                } else {
                    CheckKind::Judge {
                        rubric: format!("The answer covers this expected aspect: {s}"),
                        min_score: DEFAULT_JUDGE_MIN_SCORE,
                    }
                }));
            }
            Value::Object(o) => o,
            _ => return Err("a check is a string or an object".into()),
        };
        // The type, and where its main parameter sits.
        let (ty, main): (String, Option<Value>) = match o.get("type").or_else(|| o.get("kind")) {
            Some(Value::String(t)) => (t.clone(), None),
            Some(_) => return Err("check `type` must be a string".into()),
            None => {
                let keys: Vec<&String> = o
                    .keys()
                    .filter(|k| CHECK_TYPES.contains(&k.as_str()))
                    .collect();
                match keys.as_slice() {
                    [k] => ((*k).clone(), o.get(*k).cloned()),
                    [] => {
                        return Err(format!(
                            "check without a type (expected `type`, one of {})",
                            CHECK_TYPES.join(", ")
                        ))
                    }
                    _ => return Err("a check names more than one type".into()),
                }
            }
        };
        let param = |names: &[&str]| -> Option<Value> {
            main.clone()
                .or_else(|| names.iter().find_map(|n| o.get(*n).cloned()))
        };
        let need = |names: &[&str]| -> Result<Value, String> {
            param(names).ok_or_else(|| format!("check {ty}: needs `{}`", names[0]))
        };
        let flag = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
        let any = match o.get("match").and_then(Value::as_str) {
            None | Some("all") => false,
            Some("any") => true,
            Some(other) => {
                return Err(format!("check {ty}: match must be all or any, not {other}"))
            }
        } || flag("any");
        let kind = match ty.as_str() {
            "contains" | "icontains" => CheckKind::Contains {
                values: strings(&need(&["values", "value"])?, &ty)?,
                any,
                ignore_case: ty == "icontains" || flag("ignore_case"),
                whole_word: flag("whole_word"),
            },
            "not_contains" => CheckKind::NotContains {
                values: strings(&need(&["values", "value"])?, &ty)?,
                whole_word: flag("whole_word"),
            },
            "regex" => {
                let pattern = need(&["pattern", "value"])?
                    .as_str()
                    .ok_or("check regex: pattern must be a string")?
                    .to_string();
                regex::Regex::new(&pattern)
                    .map_err(|e| format!("check regex: invalid pattern: {e}"))?;
                CheckKind::Regex { pattern }
            }
            "equals" => CheckKind::Equals {
                value: need(&["value"])?
                    .as_str()
                    .ok_or("check equals: value must be a string")?
                    .to_string(),
                ignore_case: flag("ignore_case"),
            },
            "max_words" => CheckKind::MaxWords(count(&need(&["value", "max"])?, &ty)?),
            "max_chars" => CheckKind::MaxChars(count(&need(&["value", "max"])?, &ty)?),
            "min_words" => CheckKind::MinWords(count(&need(&["value", "min"])?, &ty)?),
            "json" => CheckKind::Json,
            "json_schema" => {
                let schema = need(&["schema", "value"])?;
                jsonschema::validator_for(&schema)
                    .map_err(|e| format!("check json_schema: invalid schema: {e}"))?;
                CheckKind::JsonSchema { schema }
            }
            "judge" => {
                let rubric = need(&["rubric", "value"])?
                    .as_str()
                    .ok_or("check judge: rubric must be a string")?
                    .trim()
                    .to_string();
                if rubric.is_empty() {
                    return Err("check judge: empty rubric".into());
                }
                let min_score = match o.get("min_score") {
                    None => DEFAULT_JUDGE_MIN_SCORE,
                    Some(v) => v
                        .as_f64()
                        .filter(|s| (1.0..=5.0).contains(s))
                        .ok_or("check judge: min_score must be a number from 1 to 5")?,
                };
                CheckKind::Judge { rubric, min_score }
            }
            other => {
                return Err(format!(
                    "unknown check type `{other}` (expected one of {})",
                    CHECK_TYPES.join(", ")
                ))
            }
        };
        let weight = match o.get("weight") {
            None => 1.0,
            Some(w) => w
                .as_f64()
                .filter(|w| w.is_finite() && *w > 0.0)
                .ok_or_else(|| format!("check {ty}: weight must be a positive number"))?,
        };
        Ok(Check {
            kind,
            weight,
            required: flag("required"),
        })
    }
}

impl From<Check> for Value {
    fn from(c: Check) -> Value {
        let mut v = match &c.kind {
            CheckKind::Contains {
                values,
                any,
                whole_word,
                ..
            } => {
                let mut v = json!({"type": c.kind.type_name(), "values": values});
                if *any {
                    v["match"] = json!("any");
                }
                if *whole_word {
                    v["whole_word"] = json!(true);
                }
                v
            }
            CheckKind::NotContains { values, whole_word } => {
                let mut v = json!({"type": "not_contains", "values": values});
                if *whole_word {
                    v["whole_word"] = json!(true);
                }
                v
            }
            CheckKind::Regex { pattern } => json!({"type": "regex", "pattern": pattern}),
            CheckKind::Equals { value, ignore_case } => {
                let mut v = json!({"type": "equals", "value": value});
                if *ignore_case {
                    v["ignore_case"] = json!(true);
                }
                v
            }
            CheckKind::MaxWords(n) => json!({"type": "max_words", "value": n}),
            CheckKind::MaxChars(n) => json!({"type": "max_chars", "value": n}),
            CheckKind::MinWords(n) => json!({"type": "min_words", "value": n}),
            CheckKind::Json => json!({"type": "json"}),
            CheckKind::JsonSchema { schema } => json!({"type": "json_schema", "schema": schema}),
            CheckKind::Judge { rubric, min_score } => {
                let mut v = json!({"type": "judge", "rubric": rubric});
                if *min_score != DEFAULT_JUDGE_MIN_SCORE {
                    v["min_score"] = json!(min_score);
                }
                v
            }
        };
        if c.weight != 1.0 {
            v["weight"] = json!(c.weight);
        }
        if c.required {
            v["required"] = json!(true);
        }
        v
    }
}

/// Words: whitespace-separated runs.
pub fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

/// A threshold outside 0..5 (neither a 0..1 share nor a 1–5 score).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("threshold {value}: expected 0..1 (or 1..5)")]
pub struct ThresholdError {
    /// The threshold as written.
    pub value: f64,
}

/// A threshold as written in a prompt file: 0..1, or on the 1–5 scale when above 1.
pub fn normalize_threshold(t: f64) -> Result<f64, ThresholdError> {
    if !(0.0..=5.0).contains(&t) {
        return Err(ThresholdError { value: t });
    }
    Ok(if t > 1.0 { (t - 1.0) / 4.0 } else { t })
}

// ---------------------------------------------------------------------------------------------
// Results

/// A judge's verdict on one answer: the median of its valid samples, or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct JudgeVerdict {
    /// Which judge (alias or endpoint and model).
    pub judge: String,
    /// The rubric judged against (a later rescore without a judge reuses a verdict only for
    /// the same rubric and answer).
    #[serde(default)]
    pub rubric: String,
    /// Median 1–5 score of the valid samples; `None` is a judge error.
    pub score: Option<f64>,
    /// The reason given by the sample closest to the median.
    pub reason: Option<String>,
    /// Set when no sample gave a valid score.
    pub error: Option<String>,
    pub samples: Vec<JudgeSample>,
}

/// One judge call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct JudgeSample {
    pub score: Option<f64>,
    pub reason: Option<String>,
    /// The judge's raw answer (truncated), kept for audit.
    pub raw: String,
    pub error: Option<String>,
}

/// The outcome of one check on one answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's type (`contains`, `judge`, ...).
    pub check: String,
    /// A short description.
    pub label: String,
    pub weight: f64,
    pub required: bool,
    /// 0..1; `None` when skipped.
    pub score: Option<f64>,
    pub passed: bool,
    /// Judge checks in a run without a judge: left out of the case score.
    pub skipped: bool,
    /// What failed (missing values, the regex, the JSON error, the judge error).
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub judge: Option<JudgeVerdict>,
}

/// The score of one case (one prompt) for one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseScore {
    pub case: String,
    /// Weighted mean of the checks that were scored, 0..1; `None` when every check was skipped.
    pub score: Option<f64>,
    /// The same on the 1–5 scale (1 + 4·score).
    pub score_5: Option<f64>,
    pub threshold: f64,
    pub passed: bool,
    /// A judge check of this case ended in a judge error.
    pub judge_error: bool,
    /// Why the case could not be scored normally (no successful output).
    pub error: Option<String>,
    pub checks: Vec<CheckResult>,
    /// A person's 1–5 score from annotations.csv.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub human: Option<f64>,
}
