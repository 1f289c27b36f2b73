//! `models.json`: the models to benchmark, as the workshop writes it: a list of aliases, or an
//! object `{alias: {capabilities: [...], size_mb: N}}` whose key order is the run's order.
//!
//! - `capabilities` (`chat`, `completion`) are checked against the catalog: one the catalog
//!   does not give the model is a warning and is ignored. They decide the mode: `chat` when
//!   listed (and supported), else `completion` when that is listed; none leaves the choice to
//!   the model (chat when it has a chat template).
//! - `size_mb` (MB = 1,000,000 bytes) is compared with the model file's real size (the
//!   catalog's, else the cached file's); more than 10 % apart is a warning.

use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::spec::model::ModelSpec;
use crate::spec::workload::{Mode, ModelsError};

/// How far `size_mb` may be from the real size before a warning.
pub const SIZE_TOLERANCE: f64 = 0.10;

/// One model of a models.json.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelsFileEntry {
    pub alias: String,
    pub capabilities: Option<Vec<String>>,
    pub size_mb: Option<f64>,
}

#[derive(Deserialize, Default)]
struct Details {
    #[serde(default)]
    capabilities: Option<Vec<String>>,
    #[serde(default)]
    size_mb: Option<f64>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// The file's entries in order (serde_json's own maps sort their keys; this visitor reads
/// them as written).
struct Entries(Vec<ModelsFileEntry>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of aliases or an object {alias: {capabilities, size_mb}}")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<serde_json::Value>()? {
                    match v {
                        serde_json::Value::String(s) => out.push(ModelsFileEntry {
                            alias: s,
                            ..Default::default()
                        }),
                        serde_json::Value::Object(_) => {
                            let d: Details =
                                serde_json::from_value(v).map_err(serde::de::Error::custom)?;
                            let alias = d.alias.or(d.name).ok_or_else(|| {
                                serde::de::Error::custom("models file: object without alias")
                            })?;
                            out.push(ModelsFileEntry {
                                alias,
                                capabilities: d.capabilities,
                                size_mb: d.size_mb,
                            });
                        }
                        _ => return Err(serde::de::Error::custom("models file: expected strings")),
                    }
                }
                Ok(Entries(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((alias, v)) = map.next_entry::<String, serde_json::Value>()? {
                    let d: Details = match v {
                        serde_json::Value::Null => Details::default(),
                        v => serde_json::from_value(v).map_err(|e| {
                            serde::de::Error::custom(format!("models file: {alias}: {e}"))
                        })?,
                    };
                    out.push(ModelsFileEntry {
                        alias,
                        capabilities: d.capabilities,
                        size_mb: d.size_mb,
                    });
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a models.json, keeping its order.
pub fn parse(json: &str) -> Result<Vec<ModelsFileEntry>, ModelsError> {
    let e: Entries = serde_json::from_str(json).map_err(ModelsError::Json)?;
    if e.0.is_empty() {
        return Err(ModelsError::Empty);
    }
    Ok(e.0)
}

/// What the catalog says of a model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CatalogFacts {
    /// Its capabilities.
    pub capabilities: Vec<ingot_core::Capability>,
    /// The model file's size in bytes, if known.
    pub size_bytes: Option<u64>,
}

/// The run's models from the file's entries, and the warnings the checks produced.
/// `catalog(alias)` is `None` for a model the catalog does not know.
pub fn resolve(
    entries: &[ModelsFileEntry],
    catalog: &dyn Fn(&str) -> Option<CatalogFacts>,
) -> (Vec<ModelSpec>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut specs = Vec::new();
    for e in entries {
        let facts = catalog(&e.alias);
        let mut mode = None;
        if let Some(caps) = &e.capabilities {
            let supported: Vec<&String> = match &facts {
                Some(f) => caps
                    .iter()
                    .filter(|c| {
                        let ok = f
                            .capabilities
                            .iter()
                            .any(|k| k.as_str().eq_ignore_ascii_case(c));
                        if !ok {
                            warnings.push(format!(
                                "models.json: {} lists capability \"{c}\", which the catalog does not give it (it has: {}); ignored",
                                e.alias,
                                f.capabilities
                                    .iter()
                                    .map(|c| c.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                        ok
                    })
                    .collect(),
                None => caps.iter().collect(),
            };
            let has = |k: &str| supported.iter().any(|c| c.eq_ignore_ascii_case(k));
            mode = if has("chat") {
                Some(Mode::Chat)
            } else if has("completion") {
                Some(Mode::Completion)
            } else {
                None
            };
        }
        if let (Some(mb), Some(bytes)) = (e.size_mb, facts.as_ref().and_then(|f| f.size_bytes)) {
            let real = bytes as f64 / 1e6;
            if real > 0.0 && ((mb - real).abs() / real) > SIZE_TOLERANCE {
                warnings.push(format!(
                    "models.json: {} says size_mb {mb}, but its file is {real:.1} MB ({:+.0} %)",
                    e.alias,
                    (mb - real) / real * 100.0
                ));
            }
        }
        specs.push(ModelSpec {
            alias: e.alias.clone(),
            mode,
        });
    }
    (specs, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_form_keeps_its_key_order() {
        let e = parse(
            r#"{"zeta": {"capabilities": ["chat"], "size_mb": 100}, "alpha": {}, "mid": null}"#,
        )
        .unwrap();
        let names: Vec<&str> = e.iter().map(|x| x.alias.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha", "mid"]);
        assert_eq!(e[0].size_mb, Some(100.0));
        assert_eq!(
            e[0].capabilities.as_deref(),
            Some(&["chat".to_string()][..])
        );
        let l = parse(r#"["b", {"alias": "a", "size_mb": 5}]"#).unwrap();
        assert_eq!((l[0].alias.as_str(), l[1].size_mb), ("b", Some(5.0)));
        assert!(parse("[]").is_err());
        assert!(parse("{\"x\": {\"size_mb\": \"big\"}}")
            .unwrap_err()
            .to_string()
            .contains("x"));
    }

    #[test]
    fn capabilities_are_checked_and_decide_the_mode_and_sizes_are_compared() {
        let entries = parse(
            r#"{"chatty": {"capabilities": ["chat", "completion"], "size_mb": 98},
                "base": {"capabilities": ["completion"], "size_mb": 200},
                "liar": {"capabilities": ["chat"]},
                "plain": {}}"#,
        )
        .unwrap();
        let catalog = |a: &str| {
            let caps: &[&str] = match a {
                "chatty" => &["chat", "completion"],
                "base" | "liar" => &["completion"],
                _ => return None,
            };
            Some(CatalogFacts {
                capabilities: caps.iter().map(|s| s.parse().unwrap()).collect(),
                size_bytes: Some(100_000_000),
            })
        };
        let (specs, warnings) = resolve(&entries, &catalog);
        let modes: Vec<Option<Mode>> = specs.iter().map(|s| s.mode).collect();
        assert_eq!(
            modes,
            [Some(Mode::Chat), Some(Mode::Completion), None, None]
        );
        // "liar" claims chat; "base" says 200 MB for a 100 MB file. "chatty" is 2 % off: fine.
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].contains("base") && warnings[0].contains("+100 %"));
        assert!(warnings[1].contains("liar") && warnings[1].contains("\"chat\""));
    }
}
