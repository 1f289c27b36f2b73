//! Model alias validation.
//!
//! Aliases become file names in the cache (`manifests/<alias>.json`), so validation is what
//! guarantees that nothing a user types can name a path outside the cache folder.

use crate::CatalogError;

/// Longest alias accepted.
pub const MAX_ALIAS_LEN: usize = 64;

/// Checks that `alias` is a well-formed model alias.
///
/// Rules: non-empty, at most [`MAX_ALIAS_LEN`] bytes, only lowercase ASCII letters, digits,
/// `.`, `-` and `_`, and it starts with a letter or digit (so `.`, `..`, hidden files and
/// anything that looks like a command-line flag are rejected). Its first part (up to a `.`)
/// is not one of Windows' device names (`con`, `nul`, `aux`, `prn`, `com1`-`com9`,
/// `lpt1`-`lpt9`), which no Windows folder can hold as a file (`manifests/con.json` opens the
/// console there): refused everywhere, so that catalogs carry over between systems.
pub fn validate_alias(alias: &str) -> Result<(), CatalogError> {
    let reason = if alias.is_empty() {
        Some("it is empty".to_string())
    } else if alias.len() > MAX_ALIAS_LEN {
        Some(format!("it is longer than {MAX_ALIAS_LEN} characters"))
    } else if let Some(c) = alias
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')))
    {
        Some(format!(
            "it contains {c:?}; aliases use only lowercase letters, digits, '.', '-' and '_'"
        ))
    } else if !alias.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("it must start with a letter or a digit".to_string())
    } else if is_windows_device_name(alias.split('.').next().unwrap_or(alias)) {
        Some("it is a Windows device name, which cannot be a file name there".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(CatalogError::InvalidAlias {
            alias: alias.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

fn is_windows_device_name(stem: &str) -> bool {
    matches!(stem, "con" | "nul" | "aux" | "prn")
        || ["com", "lpt"].iter().any(|p| {
            stem.strip_prefix(p)
                .is_some_and(|n| n.len() == 1 && matches!(n.as_bytes()[0], b'1'..=b'9'))
        })
}

/// Finds the known alias closest to `wanted`, if any is close enough to be a useful hint.
pub(crate) fn nearest<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let wanted_lc = wanted.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in known {
        // A prefix ("smollm2" for "smollm2-135m") is the most common way to get an alias
        // almost right, and plain edit distance scores it poorly, so rank it first.
        let score = if candidate.starts_with(&wanted_lc) && !wanted_lc.is_empty() {
            1.5
        } else {
            strsim::jaro_winkler(&wanted_lc, candidate)
        };
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.filter(|(score, _)| *score >= 0.75)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_catalog_style_aliases() {
        for a in [
            "smollm2-135m",
            "qwen2.5-coder-0.5b",
            "gemma-2-2b",
            "a",
            "7b_x",
            &"a".repeat(64),
        ] {
            validate_alias(a).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }

    #[test]
    fn windows_device_names_are_refused_everywhere() {
        for a in ["con", "nul", "aux.q8", "prn", "com1", "lpt9.gguf"] {
            let e = validate_alias(a).unwrap_err().to_string();
            assert!(e.contains("Windows device name"), "{a}: {e}");
        }
        for a in [
            "console",
            "nul-model",
            "com10",
            "com0",
            "lpt",
            "com",
            "conan",
        ] {
            validate_alias(a).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }

    #[test]
    fn issue2_rejects_path_escapes_and_odd_names() {
        for a in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "a\\b",
            "-rf",
            ".hidden",
            "_x",
            "Smol",
            "a b",
            "é",
            "x\0",
            &"a".repeat(65),
            "/etc/passwd",
            "~",
        ] {
            let err = validate_alias(a).unwrap_err();
            assert!(
                matches!(err, CatalogError::InvalidAlias { .. }),
                "{a:?}: {err}"
            );
        }
    }

    #[test]
    fn nearest_prefers_prefixes_and_close_typos() {
        let known = ["smollm2-135m", "gemma3-270m", "qwen2.5-0.5b"];
        assert_eq!(
            nearest("smollm2", known.into_iter()).as_deref(),
            Some("smollm2-135m")
        );
        assert_eq!(
            nearest("gemma3-207m", known.into_iter()).as_deref(),
            Some("gemma3-270m")
        );
        assert_eq!(
            nearest("SMOLLM2-135M", known.into_iter()).as_deref(),
            Some("smollm2-135m")
        );
        assert_eq!(nearest("zzzzzzzz", known.into_iter()), None);
    }
}
