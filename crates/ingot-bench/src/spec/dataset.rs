//! `--dataset`: workloads beyond the prompt sets.
//!
//! - `synthetic:in=N,out=M[,n=K]`: K prompts (default 8) of exactly N tokens as the model's
//!   own tokenizer counts them (no BOS; in chat mode the template adds its own tokens, so use
//!   `--completion` for an exact prompt length on the wire), each asking for exactly M output
//!   tokens (`max_tokens` M with EOS ignored). The text is random common English words from a
//!   seeded generator, different for every prompt (no shared prefix for a cache to reuse).
//!   Built per model, with that model's tokenizer.
//! - A ShareGPT-style file (`[{"conversations": [{"from": "human", "value": ...}, ...]}]`, as
//!   JSON or JSONL): each conversation's turns up to its first human turn (a system turn kept)
//!   become one prompt.
//! - A JSONL file of prompts: one per line, a string or an object with `prompt`/`text` or
//!   `messages` (as in a prompts.json).
//!
//! Files take `,n=K` too (the first K entries after a seeded shuffle). The manifest records
//! the spec, the file's SHA-256 and how many entries were used.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::words::{FILLERS, WORDS};
use crate::spec::workload::{Message, PromptSpec};

/// Prompts of a synthetic dataset when `n` is not given.
pub const DEFAULT_SYNTHETIC_PROMPTS: usize = 8;

/// A parsed `--dataset`.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSpec {
    Synthetic {
        input_tokens: u32,
        output_tokens: u32,
        prompts: usize,
    },
    File {
        path: PathBuf,
        limit: Option<usize>,
    },
}

/// What the manifest records about the dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// The `--dataset` value.
    pub spec: String,
    /// `synthetic`, `sharegpt` or `jsonl`.
    pub kind: String,
    /// SHA-256 of the file (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Entries in the file, and prompts used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<usize>,
    pub prompts: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
}

/// Errors of `--dataset`.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("--dataset {spec}: {reason}")]
    Spec { spec: String, reason: String },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("cannot build a prompt of exactly {tokens} tokens: {reason}")]
    Synthetic { tokens: u32, reason: String },
}

fn spec_err(spec: &str, reason: impl Into<String>) -> DatasetError {
    DatasetError::Spec {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

/// Splits a trailing `,n=K`.
fn limit_suffix(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(",n=") {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (head, Some(n))
        }
        _ => (s, None),
    }
}

impl DatasetSpec {
    /// `synthetic:in=N,out=M[,n=K]`, or a file path (`[,n=K]`).
    pub fn parse(spec: &str) -> Result<Self, DatasetError> {
        if let Some(rest) = spec.strip_prefix("synthetic:") {
            let (mut inp, mut out, mut n) = (None, None, None);
            for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = part
                    .split_once('=')
                    .ok_or_else(|| spec_err(spec, format!("'{part}': expected key=value")))?;
                let v: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| spec_err(spec, format!("'{part}': not a whole number")))?;
                match k.trim() {
                    "in" => inp = Some(v),
                    "out" => out = Some(v),
                    "n" => n = Some(v),
                    other => {
                        return Err(spec_err(
                            spec,
                            format!("unknown key '{other}' (in, out, n)"),
                        ))
                    }
                }
            }
            let inp = inp.ok_or_else(|| spec_err(spec, "needs in=N (prompt tokens)"))?;
            let out = out.ok_or_else(|| spec_err(spec, "needs out=M (output tokens)"))?;
            let n = n.unwrap_or(DEFAULT_SYNTHETIC_PROMPTS as u64);
            if !(1..=1_000_000).contains(&inp) || !(1..=1_000_000).contains(&out) {
                return Err(spec_err(spec, "in and out must be between 1 and 1000000"));
            }
            if !(1..=100_000).contains(&n) {
                return Err(spec_err(spec, "n must be between 1 and 100000"));
            }
            return Ok(Self::Synthetic {
                input_tokens: inp as u32,
                output_tokens: out as u32,
                prompts: n as usize,
            });
        }
        let (path, n) = limit_suffix(spec);
        let limit = match n {
            Some(n) => Some(
                n.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| spec_err(spec, "n must be at least 1"))?,
            ),
            None => None,
        };
        if path.is_empty() {
            return Err(spec_err(spec, "expected synthetic:in=N,out=M or a file"));
        }
        Ok(Self::File {
            path: PathBuf::from(path),
            limit,
        })
    }
}

/// Random text of exactly `n` tokens by `count` (a tokenizer's count of a text). Words are
/// appended while they fit; when the next word would overshoot, one-token fillers close
/// the gap. Fails only if no candidate lands on `n` (a tokenizer that merges everything).
pub fn exact_text(
    n: u32,
    rng: &mut StdRng,
    count: &dyn Fn(&str) -> Result<u32, String>,
) -> Result<String, DatasetError> {
    let err = |reason: String| DatasetError::Synthetic { tokens: n, reason };
    let mut text = String::new();
    let mut c = 0u32;
    let mut stuck = 0;
    while c != n {
        if stuck > 64 {
            return Err(err(format!(
                "the tokenizer never gave {n} (stopped at {c} tokens)"
            )));
        }
        let remaining = n - c;
        let candidates: Vec<String> = if remaining > 4 {
            let w = WORDS[rng.gen_range(0..WORDS.len())];
            vec![if text.is_empty() {
                capitalize(w)
            } else {
                format!(" {w}")
            }]
        } else {
            let mut f: Vec<String> = FILLERS.iter().map(|s| s.to_string()).collect();
            f.shuffle(rng);
            f
        };
        let mut advanced = false;
        for cand in candidates {
            let next = format!("{text}{cand}");
            let k = count(&next).map_err(err)?;
            if k > c && k <= n {
                text = next;
                c = k;
                advanced = true;
                break;
            }
        }
        if advanced {
            stuck = 0;
        } else {
            stuck += 1;
            if remaining <= 4 && !text.is_empty() {
                // Nothing fits in the last few tokens: drop the last word and go on.
                if let Some(i) = text.rfind(' ') {
                    text.truncate(i);
                    c = count(&text).map_err(err)?;
                }
            }
        }
    }
    Ok(text)
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `k` synthetic prompts of exactly `input_tokens` tokens each (ids `synthetic-1`...).
pub fn synthetic_prompts(
    input_tokens: u32,
    k: usize,
    seed: u64,
    count: &dyn Fn(&str) -> Result<u32, String>,
) -> Result<Vec<PromptSpec>, DatasetError> {
    (0..k)
        .map(|i| {
            let mut rng = StdRng::seed_from_u64(seed ^ (0x5eed_0000 + i as u64));
            let text = exact_text(input_tokens, &mut rng, count)?;
            Ok(PromptSpec::user(format!("synthetic-{}", i + 1), text))
        })
        .collect()
}

/// The synthetic prompts for one model, made with its own tokenizer (its GGUF from the
/// cache, downloaded if needed).
pub fn synthetic_for_model(
    resolver: &dyn crate::spec::model::ModelProvider,
    engine: &dyn ingot_core::Engine,
    alias: &str,
    input_tokens: u32,
    prompts: usize,
    seed: u64,
) -> anyhow::Result<Vec<PromptSpec>> {
    use crate::spec::model::ModelFiles;
    let file = match resolver.cached_file(alias) {
        Some(f) => f,
        None => resolver.file(alias).map_err(|e| {
            anyhow::anyhow!(
                "a synthetic dataset is built with the model's tokenizer, and {alias} has no GGUF to read it from: {e:#}"
            )
        })?,
    };
    let tok = engine
        .load_tokenizer(&file.path)
        .map_err(|e| anyhow::anyhow!("{alias}: cannot load its tokenizer: {e}"))?;
    let count = |s: &str| tok.count(s).map_err(|e| e.to_string());
    Ok(synthetic_prompts(input_tokens, prompts, seed, &count)?)
}

/// One ShareGPT conversation's prompt: the turns up to its first human one.
fn sharegpt_prompt(v: &serde_json::Value, i: usize) -> Option<PromptSpec> {
    let turns = v.get("conversations").or_else(|| v.get("conversation"))?;
    let mut messages = Vec::new();
    for t in turns.as_array()? {
        let from = t.get("from").or_else(|| t.get("role"))?.as_str()?;
        let text = t.get("value").or_else(|| t.get("content"))?.as_str()?;
        let role = match from {
            "human" | "user" => "user",
            "system" => "system",
            _ => continue,
        };
        messages.push(Message {
            role: role.into(),
            content: text.to_string(),
        });
        if role == "user" {
            break;
        }
    }
    messages.last().filter(|m| m.role == "user")?;
    let id = v
        .get("id")
        .and_then(|x| {
            x.as_str()
                .map(str::to_string)
                .or_else(|| Some(x.to_string()))
        })
        .unwrap_or_else(|| format!("sharegpt-{}", i + 1));
    Some(PromptSpec {
        id,
        messages,
        checks: Vec::new(),
        threshold: None,
    })
}

/// Loads a ShareGPT JSON/JSONL or a JSONL of prompts.
pub fn load_file(
    spec: &str,
    path: &Path,
    limit: Option<usize>,
    seed: u64,
) -> Result<(Vec<PromptSpec>, DatasetInfo), DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let fmt = |reason: String| DatasetError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| fmt(format!("not UTF-8: {e}")))?;
    // One JSON document (a list), else JSON Lines.
    let items: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(other) => vec![other],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| serde_json::from_str(l).map_err(|e| fmt(format!("line {}: {e}", n + 1))))
            .collect::<Result<_, _>>()?,
    };
    if items.is_empty() {
        return Err(fmt("no entries".into()));
    }
    let sharegpt = items.iter().any(|v| {
        v.get("conversations")
            .or_else(|| v.get("conversation"))
            .is_some()
    });
    let mut prompts: Vec<PromptSpec> = if sharegpt {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| sharegpt_prompt(v, i))
            .collect()
    } else {
        let list = serde_json::Value::Array(items.clone()).to_string();
        crate::spec::workload::parse_prompts(&list).map_err(|e| fmt(e.to_string()))?
    };
    if prompts.is_empty() {
        return Err(fmt("no conversation starts with a human turn".into()));
    }
    // Ids must be unique: a dataset may repeat them.
    let mut seen = std::collections::HashSet::new();
    for (i, p) in prompts.iter_mut().enumerate() {
        if !seen.insert(p.id.clone()) {
            p.id = format!("{}#{}", p.id, i + 1);
            seen.insert(p.id.clone());
        }
    }
    if let Some(k) = limit.filter(|k| *k < prompts.len()) {
        prompts.shuffle(&mut StdRng::seed_from_u64(seed));
        prompts.truncate(k);
    }
    let info = DatasetInfo {
        spec: spec.to_string(),
        kind: if sharegpt { "sharegpt" } else { "jsonl" }.into(),
        sha256: Some(hex::encode(Sha256::digest(&bytes))),
        entries: Some(items.len()),
        prompts: prompts.len(),
        input_tokens: None,
        output_tokens: None,
    };
    Ok((prompts, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in tokenizer: words and punctuation marks are one token each.
    fn words(s: &str) -> Result<u32, String> {
        Ok(s.split_whitespace()
            .map(|w| 1 + w.matches(['.', ',']).count() as u32)
            .sum())
    }

    #[test]
    fn specs_parse() {
        assert_eq!(
            DatasetSpec::parse("synthetic:in=512,out=128").unwrap(),
            DatasetSpec::Synthetic {
                input_tokens: 512,
                output_tokens: 128,
                prompts: 8
            }
        );
        assert!(matches!(
            DatasetSpec::parse("synthetic:in=4,out=2,n=3").unwrap(),
            DatasetSpec::Synthetic { prompts: 3, .. }
        ));
        assert!(DatasetSpec::parse("synthetic:in=4").is_err());
        assert!(DatasetSpec::parse("synthetic:in=x,out=2").is_err());
        assert!(DatasetSpec::parse("synthetic:in=4,out=2,zz=1").is_err());
        assert_eq!(
            DatasetSpec::parse("data/sg.json,n=50").unwrap(),
            DatasetSpec::File {
                path: "data/sg.json".into(),
                limit: Some(50)
            }
        );
        assert!(matches!(
            DatasetSpec::parse("a,b.jsonl").unwrap(),
            DatasetSpec::File { limit: None, .. }
        ));
    }

    #[test]
    fn synthetic_prompts_have_the_exact_count_and_differ() {
        let p = synthetic_prompts(37, 3, 1, &words).unwrap();
        assert_eq!(p.len(), 3);
        for x in &p {
            assert_eq!(words(&x.raw_text()).unwrap(), 37);
        }
        assert_ne!(p[0].raw_text(), p[1].raw_text());
        // Reproducible from the seed.
        assert_eq!(p, synthetic_prompts(37, 3, 1, &words).unwrap());
    }

    #[test]
    fn sharegpt_and_jsonl_files() {
        let dir = tempfile::tempdir().unwrap();
        let sg = dir.path().join("sg.json");
        std::fs::write(
            &sg,
            r#"[{"id": "a", "conversations": [{"from": "system", "value": "be brief"}, {"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
                {"id": "b", "conversations": [{"from": "gpt", "value": "no human"}]},
                {"conversations": [{"from": "human", "value": "second"}]}]"#,
        )
        .unwrap();
        let (p, info) = load_file("sg.json", &sg, None, 0).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].messages.len(), 2);
        assert_eq!(p[0].messages[1].content, "hi");
        assert_eq!(p[1].id, "sharegpt-3");
        assert_eq!(info.kind, "sharegpt");
        assert_eq!(info.entries, Some(3));
        assert_eq!(info.sha256.as_deref().map(str::len), Some(64));
        let jl = dir.path().join("p.jsonl");
        std::fs::write(
            &jl,
            "\"one\"\n{\"prompt\": \"two\"}\n\n{\"id\": \"x\", \"prompt\": \"three\"}\n",
        )
        .unwrap();
        let (p, info) = load_file("p.jsonl", &jl, Some(2), 7).unwrap();
        assert_eq!(
            (p.len(), info.kind.as_str(), info.entries),
            (2, "jsonl", Some(3))
        );
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "\"a\"\n{oops\n").unwrap();
        assert!(load_file("bad", &bad, None, 0)
            .unwrap_err()
            .to_string()
            .contains("line 2"));
    }
}
