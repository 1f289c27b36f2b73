//! Model names of the APIs ingot imitates, mapped to its own ids (catalog aliases).
//!
//! - **Foundry Local** ids look like `qwen2.5-0.5b-instruct-generic-cpu:4`: an alias, an
//!   optional `-instruct`, an execution-provider suffix and a `:version`. ingot lists its
//!   models as `ALIAS-generic-cpu:1` ([`foundry_id`]) and accepts any such id whose stem is an
//!   alias, so ids written against Foundry Local's catalog keep working.
//! - **Ollama** names are `name[:tag]` with `latest` as the default tag. `ALIAS` and
//!   `ALIAS:latest` are the alias; `family:size` is `family-size`, which is how
//!   Ollama spells the catalog's models (`qwen2.5:0.5b` is `qwen2.5-0.5b`, `smollm2:135m` is
//!   `smollm2-135m`).
//!
//! Everything here is string work: [`candidates`] lists what a name may stand for, and the
//! caller checks them against the models it has, in order.

use crate::ApiError;

/// The execution provider and version ingot reports in Foundry ids: llama.cpp on the CPU,
/// catalog entries have no versions.
const FOUNDRY_SUFFIX: &str = "-generic-cpu";
const FOUNDRY_VERSION: u32 = 1;

/// Foundry Local's execution-provider suffixes, longest first so `-generic-cpu` is not taken
/// for `-cpu`.
const DEVICE_SUFFIXES: &[&str] = &[
    "-openvino-npu",
    "-openvino-gpu",
    "-openvino-cpu",
    "-trt-rtx-gpu",
    "-webgpu-gpu",
    "-generic-cpu",
    "-generic-gpu",
    "-vitis-npu",
    "-cuda-gpu",
    "-qnn-npu",
    "-cpu",
    "-gpu",
    "-npu",
];

/// Ollama's default tag.
pub const OLLAMA_DEFAULT_TAG: &str = "latest";

/// Longest accepted Ollama tag (Ollama's own limit).
const MAX_TAG_LEN: usize = 128;

/// The Foundry Local id ingot lists for `alias`: `ALIAS-generic-cpu:1`.
pub fn foundry_id(alias: &str) -> String {
    format!("{alias}{FOUNDRY_SUFFIX}:{FOUNDRY_VERSION}")
}

/// The Ollama name ingot lists for `alias`: `ALIAS:latest`.
pub fn ollama_name(alias: &str) -> String {
    format!("{alias}:{OLLAMA_DEFAULT_TAG}")
}

/// What `name` may stand for, most likely first and without duplicates: the name itself, the
/// alias inside a Foundry id, and the alias an Ollama `name:tag` spells. Lowercased, as both
/// APIs match names without regard to case and aliases are lowercase.
pub fn candidates(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    // Not trimmed: a name with stray whitespace is no name (issue 8's strict ids; the
    // security suite sends `"smollm2-135m "` and expects a 404).
    let lower = name.to_ascii_lowercase();
    push(lower.clone());
    for stem in foundry_stems(&lower) {
        push(stem);
    }
    if let Some(alias) = ollama_alias(&lower) {
        push(alias);
    }
    out
}

/// The aliases a Foundry id may stand for: the id without its `:version` and its
/// execution-provider suffix, then also without `-instruct` (Foundry names instruction-tuned
/// variants that way; ingot's aliases do not). Empty when `id` has neither a version nor a
/// device suffix (then it is no Foundry id).
fn foundry_stems(id: &str) -> Vec<String> {
    let (base, versioned) = match id.rsplit_once(':') {
        Some((b, v)) if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) => (b, true),
        _ => (id, false),
    };
    let stripped = DEVICE_SUFFIXES
        .iter()
        .find_map(|s| base.strip_suffix(s).filter(|b| !b.is_empty()));
    let stem = match (stripped, versioned) {
        (Some(s), _) => s,
        (None, true) => base,
        (None, false) => return Vec::new(),
    };
    let mut v = vec![stem.to_string()];
    if let Some(s) = stem.strip_suffix("-instruct").filter(|s| !s.is_empty()) {
        v.push(s.to_string());
    }
    v
}

/// The alias an Ollama `name:tag` spells: `name` for `latest`, else `name-tag`. The
/// `library/` namespace (Ollama's default) is dropped. `None` without a tag or with one that
/// [`check_ollama_name`] rejects.
fn ollama_alias(name: &str) -> Option<String> {
    let name = name.strip_prefix("library/").unwrap_or(name);
    let (model, tag) = name.rsplit_once(':')?;
    if model.is_empty() || !valid_tag(tag) {
        return None;
    }
    Some(if tag == OLLAMA_DEFAULT_TAG {
        model.to_string()
    } else {
        format!("{model}-{tag}")
    })
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// Checks an Ollama model name's syntax: `[namespace/]model[:tag]`, where the tag has
/// letters, digits, `_`, `-` and `.` only (at most 128). A 400 naming the problem otherwise.
pub fn check_ollama_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: String| ApiError::InvalidRequest {
        message: format!("invalid model name `{name}`: {why}"),
        param: Some("model".into()),
        code: Some("invalid_model_name".into()),
    };
    if name.trim().is_empty() {
        return Err(ApiError::invalid_param("model", "model is required"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("it contains whitespace or control characters".into()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')))
    {
        return Err(bad(format!(
            "`{c}` is not allowed (letters, digits, `_`, `-`, `.`, `/` and one `:` before the tag)"
        )));
    }
    let path = match name.rsplit_once(':') {
        // A colon inside the namespace part would be a registry's port, not a tag.
        Some((model, tag)) if !tag.contains('/') => {
            if model.is_empty() {
                return Err(bad("the model part before `:` is empty".into()));
            }
            if !valid_tag(tag) {
                return Err(bad(format!(
                    "the tag `{tag}` must be 1 to {MAX_TAG_LEN} letters, digits, `_`, `-` or `.` (the default is `{OLLAMA_DEFAULT_TAG}`)"
                )));
            }
            model
        }
        _ => name,
    };
    if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(bad("empty, `.` or `..` path segments".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foundry_ids_resolve_to_their_alias() {
        assert_eq!(foundry_id("smollm2-135m"), "smollm2-135m-generic-cpu:1");
        let c = candidates("qwen2.5-0.5b-instruct-generic-cpu:4");
        assert!(c.contains(&"qwen2.5-0.5b".to_string()), "{c:?}");
        assert!(candidates("Phi-4-mini-instruct-cuda-gpu:2").contains(&"phi-4-mini".to_string()));
        assert!(candidates("smollm2-135m-generic-cpu").contains(&"smollm2-135m".to_string()));
        assert!(candidates("smollm2-135m:3").contains(&"smollm2-135m".to_string()));
        // The listed id round-trips.
        assert!(candidates(&foundry_id("gemma3-270m")).contains(&"gemma3-270m".to_string()));
        // No empty stems.
        assert!(candidates("-cpu:1").iter().all(|c| !c.is_empty()));
        // Stray whitespace is not trimmed away into a valid alias.
        for padded in [
            "smollm2-135m ",
            " smollm2-135m",
            "smollm2-135m-generic-cpu:1 ",
        ] {
            assert!(
                !candidates(padded).contains(&"smollm2-135m".to_string()),
                "{padded:?}"
            );
        }
    }

    #[test]
    fn ollama_names_resolve_to_aliases() {
        assert_eq!(candidates("smollm2-135m:latest")[1], "smollm2-135m");
        assert!(candidates("qwen2.5:0.5b").contains(&"qwen2.5-0.5b".to_string()));
        assert!(candidates("library/smollm2:135m").contains(&"smollm2-135m".to_string()));
        assert_eq!(candidates("SmolLM2-135M")[0], "smollm2-135m");
        assert_eq!(ollama_name("x"), "x:latest");
    }

    #[test]
    fn bad_ollama_names_are_refused() {
        check_ollama_name("smollm2-135m").unwrap();
        check_ollama_name("smollm2-135m:latest").unwrap();
        check_ollama_name("qwen2.5:0.5b-q4_K_M").unwrap();
        check_ollama_name("library/smollm2:135m").unwrap();
        for bad in [
            "",
            " ",
            "x:",
            ":latest",
            "x:bad tag",
            "x:ta/g!",
            "x:tag!",
            "../x",
            "a//b",
            "x\u{0}",
        ] {
            let e = check_ollama_name(bad).unwrap_err();
            assert_eq!(e.status(), http::StatusCode::BAD_REQUEST, "{bad:?}");
        }
        let long = format!("x:{}", "a".repeat(129));
        assert!(check_ollama_name(&long).is_err());
    }
}
