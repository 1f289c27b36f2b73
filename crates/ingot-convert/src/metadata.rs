//! `general.*` metadata as gguf-py's `Metadata` writes it: name, size label, licence from
//! the model card's YAML front matter, sampling defaults from generation_config.json.

use std::path::Path;

use serde_json::Value;

use crate::error::ConvertError;
use crate::gguf_writer::{Metadata, Value as GValue};
use crate::hparams::{read_json_opt, HParams};

/// `license:` of README.md's YAML front matter: a scalar, or a list joined with ",".
pub(crate) fn model_card_license(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("README.md")).ok()?;
    let mut lines = text.lines();
    if lines.next()?.trim_end() != "---" {
        return None;
    }
    let front: Vec<&str> = lines.take_while(|l| l.trim_end() != "---").collect();
    let unquote = |s: &str| s.trim().trim_matches('"').trim_matches('\'').to_string();
    for (i, line) in front.iter().enumerate() {
        let Some(value) = line.strip_prefix("license:") else {
            continue;
        };
        let value = value.trim();
        if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let items: Vec<String> = inner
                .split(',')
                .map(unquote)
                .filter(|s| !s.is_empty())
                .collect();
            return (!items.is_empty()).then(|| items.join(","));
        }
        if !value.is_empty() {
            return Some(unquote(value));
        }
        let items: Vec<String> = front[i + 1..]
            .iter()
            .map_while(|l| l.trim_start().strip_prefix("- ").map(unquote))
            .collect();
        return (!items.is_empty()).then(|| items.join(","));
    }
    None
}

/// The licence: the model card's, else a `license` field of config.json.
pub(crate) fn license(dir: &Path, hp: &HParams) -> Option<String> {
    model_card_license(dir).or_else(|| hp.str("license").map(str::to_string))
}

/// `gguf.utility.model_weight_count_rounded_notation(n, min_digits=2)`.
pub(crate) fn size_label(n: u64) -> String {
    let n = n as f64;
    let (scaled, suffix) = if n > 1e12 {
        (n * 1e-12, "T")
    } else if n > 1e9 {
        (n * 1e-9, "B")
    } else if n > 1e6 {
        (n * 1e-6, "M")
    } else {
        (n * 1e-3, "K")
    };
    let digits = format!("{}", scaled.round() as u64);
    let digits = digits.trim_start_matches('0').len();
    let fix = 2usize.saturating_sub(digits);
    format!("{scaled:.fix$}{suffix}")
}

/// Writes `general.*` keys (architecture first, as GGUFWriter does).
pub(crate) fn write_general(
    meta: &mut Metadata,
    arch: &str,
    name: &str,
    params: u64,
    license: Option<&str>,
    dir: &Path,
) -> Result<(), ConvertError> {
    meta.str("general.architecture", arch);
    meta.str("general.type", "model");
    if let Some(Value::Object(g)) = read_json_opt(&dir.join("generation_config.json"))? {
        if let Some(v) = g.get("top_k").and_then(Value::as_i64) {
            meta.set("general.sampling.top_k", GValue::I32(v as i32));
        }
        if let Some(v) = g.get("top_p").and_then(Value::as_f64) {
            meta.f32("general.sampling.top_p", v as f32);
        }
        if let Some(v) = g.get("min_p").and_then(Value::as_f64) {
            meta.f32("general.sampling.min_p", v as f32);
        }
        if let Some(v) = g.get("temperature").and_then(Value::as_f64) {
            meta.f32("general.sampling.temp", v as f32);
        }
        if let Some(v) = g
            .get("penalty_repeat")
            .or_else(|| g.get("repetition_penalty"))
            .and_then(Value::as_f64)
        {
            meta.f32("general.sampling.penalty_repeat", v as f32);
        }
    }
    meta.str("general.name", name);
    if params > 0 {
        meta.str("general.size_label", size_label(params));
    }
    if let Some(l) = license {
        meta.str("general.license", l);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_label_matches_gguf_py() {
        assert_eq!(size_label(134_515_008), "135M");
        assert_eq!(size_label(1_235_814_400), "1.2B");
        assert_eq!(size_label(8_030_261_248), "8.0B");
        assert_eq!(size_label(22_700_000), "23M");
        assert_eq!(size_label(5_000), "5.0K");
    }

    #[test]
    fn license_is_read_from_model_card_front_matter() {
        let dir = tempfile::tempdir().unwrap();
        let card = "---\nlanguage: en\nlicense: apache-2.0\n---\n# Model\nlicense: not-this\n";
        std::fs::write(dir.path().join("README.md"), card).unwrap();
        assert_eq!(
            model_card_license(dir.path()).as_deref(),
            Some("apache-2.0")
        );
        let card = "---\nlicense:\n  - mit\n  - \"cc-by-4.0\"\ntags: []\n---\n";
        std::fs::write(dir.path().join("README.md"), card).unwrap();
        assert_eq!(
            model_card_license(dir.path()).as_deref(),
            Some("mit,cc-by-4.0")
        );
        std::fs::write(
            dir.path().join("README.md"),
            "# no front matter\nlicense: mit\n",
        )
        .unwrap();
        assert_eq!(model_card_license(dir.path()), None);
    }
}
