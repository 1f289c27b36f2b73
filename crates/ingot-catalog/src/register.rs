//! Catalog entries for new models: a GGUF file on disk, a file downloaded on first use, or a
//! remote adapter. The rules (what is read from the header, default capabilities, what a
//! file name says about its quantisation) live here so that the CLI's `ingot model add` and
//! the SDK build the same entries.

use std::path::{Path, PathBuf};

use ingot_gguf::GgufHeader;

use crate::model::{Capability, ModelEntry, Origin, Remote, Source};

/// What the caller says about a new model besides where it comes from. Unset fields are
/// read from the model (a GGUF header) or get a default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewModel {
    /// The alias to register it under.
    pub alias: String,
    /// Display name.
    pub name: Option<String>,
    /// Licence identifier.
    pub license: Option<String>,
    /// One-line description.
    pub description: Option<String>,
    /// Expected SHA-256 of the weights (lowercase or uppercase hex).
    pub sha256: Option<String>,
    /// Declared capabilities; empty: the defaults for the kind of entry.
    pub capabilities: Vec<Capability>,
    /// A chat template (Jinja) that overrides the model's own.
    pub chat_template_override: Option<String>,
}

/// Why a new model's entry cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A capability name other than chat or completion.
    #[error("unknown capability '{0}': use chat and/or completion")]
    UnknownCapability(String),
    /// `chat` was claimed for a model that has no chat template.
    #[error(
        "--capabilities chat needs a chat template, and this model has none: add one with --chat-template FILE"
    )]
    ChatWithoutTemplate,
    /// The GGUF header names no architecture.
    #[error("{} has no general.architecture: llama.cpp cannot load it", .0.display())]
    NoArchitecture(PathBuf),
    /// The engine cannot load this architecture.
    #[error("{}: architecture '{architecture}' is not supported by ingot's engine (llama.cpp)", path.display())]
    UnsupportedArchitecture {
        /// The file.
        path: PathBuf,
        /// Its `general.architecture`.
        architecture: String,
    },
    /// The file's hash is not the one the caller expected.
    #[error("{}: sha256 is {actual}, not the expected {expected}", path.display())]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// Its SHA-256.
        actual: String,
        /// What the caller gave.
        expected: String,
    },
}

/// Capability names (`chat`, `completion`; case and surrounding spaces ignored, duplicates
/// dropped) as [`Capability`]s.
pub fn parse_capabilities(names: &[String]) -> Result<Vec<Capability>, RegisterError> {
    let mut caps = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let cap = match name.to_ascii_lowercase().as_str() {
            "chat" => Capability::Chat,
            "completion" | "completions" => Capability::Completion,
            other => return Err(RegisterError::UnknownCapability(other.to_string())),
        };
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    Ok(caps)
}

/// The default capabilities, and a check that chat is only claimed with a template.
pub fn capabilities_for(
    given: Vec<Capability>,
    has_template: bool,
) -> Result<Vec<Capability>, RegisterError> {
    if given.is_empty() {
        return Ok(if has_template {
            vec![Capability::Chat, Capability::Completion]
        } else {
            vec![Capability::Completion]
        });
    }
    if given.contains(&Capability::Chat) && !has_template {
        return Err(RegisterError::ChatWithoutTemplate);
    }
    Ok(given)
}

/// What a GGUF model can do: an embedding model (its header names a pooling type) embeds
/// and nothing else; a decoder chats when it has a chat template (its own or `m`'s
/// override), else completes ([`capabilities_for`]).
fn capabilities_of(m: &NewModel, header: &GgufHeader) -> Result<Vec<Capability>, RegisterError> {
    if header.hparam("pooling_type").is_some() {
        if let Some(c) = m.capabilities.first() {
            return Err(RegisterError::UnknownCapability(format!(
                "{c} (this is an embedding model: it only embeds)"
            )));
        }
        return Ok(vec![Capability::Embedding]);
    }
    capabilities_for(
        m.capabilities.clone(),
        header.chat_template.is_some() || m.chat_template_override.is_some(),
    )
}

/// The quantisation named in a file name (`gemma-3-270m-q4_k_m.gguf` -> `Q4_K_M`).
pub fn quantization_in_name(file: &str) -> Option<&'static str> {
    let upper = file.to_ascii_uppercase();
    (0..64u32)
        .filter_map(ingot_gguf::file_type_name)
        // Longest first, so Q4_K_M wins over Q4_K... and over Q4.
        .fold(None, |best: Option<&'static str>, name| {
            let found = upper.match_indices(name).any(|(i, _)| {
                let before = upper[..i].chars().next_back();
                let after = upper[i + name.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric())
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            match best {
                Some(b) if b.len() >= name.len() => Some(b),
                _ if found => Some(name),
                _ => best,
            }
        })
}

/// Chat and completion, the default of entries whose model is not at hand to ask.
fn chat_by_default(given: Vec<Capability>) -> Vec<Capability> {
    if given.is_empty() {
        vec![Capability::Chat, Capability::Completion]
    } else {
        given
    }
}

impl ModelEntry {
    /// The entry for a GGUF file on disk (`path`, absolute), from its parsed `header` and its
    /// `sha256`. `copy`: the file is copied into the cache ([`Source::File`]) instead of used
    /// in place ([`Source::Local`]). `supported` says whether the engine loads an
    /// architecture.
    pub fn from_gguf(
        m: &NewModel,
        path: &Path,
        header: &GgufHeader,
        sha256: String,
        copy: bool,
        supported: &dyn Fn(&str) -> bool,
    ) -> Result<Self, RegisterError> {
        let architecture = header
            .architecture
            .clone()
            .ok_or_else(|| RegisterError::NoArchitecture(path.to_path_buf()))?;
        if !supported(&architecture) {
            return Err(RegisterError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                architecture,
            });
        }
        if let Some(want) = &m.sha256 {
            if !want.eq_ignore_ascii_case(&sha256) {
                return Err(RegisterError::HashMismatch {
                    path: path.to_path_buf(),
                    actual: sha256,
                    expected: want.clone(),
                });
            }
        }
        let path = path.to_path_buf();
        let source = if copy {
            Source::File { path }
        } else {
            Source::Local { path }
        };
        Ok(ModelEntry {
            sha256: Some(sha256),
            ..Self::described_by(m, header, architecture, source)?
        })
    }

    /// The entry of an imported checkpoint (issue 15), from the `header` of the GGUF the
    /// import produced: an encoder with a pooling type is an embedding model; a decoder
    /// chats when it has a chat template (its own or `m`'s override), else completes. The
    /// source re-imports it the same way should the cached file go, so the entry records no
    /// size or hash of its own.
    pub fn for_import(
        m: &NewModel,
        from: &str,
        quantize: ingot_core::QuantType,
        header: &GgufHeader,
    ) -> Result<Self, RegisterError> {
        let architecture = header
            .architecture
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let source = Source::Import {
            from: from.to_string(),
            sha256: None,
            quantize: Some(quantize.as_str().to_string()),
        };
        Ok(ModelEntry {
            quantization: quantize.as_str().to_string(),
            size: None,
            ..Self::described_by(m, header, architecture, source)?
        })
    }

    /// What a GGUF `header` and the caller's `m` say about a model fetched from `source`:
    /// names, licence, context, capabilities, and the file's size and quantisation.
    fn described_by(
        m: &NewModel,
        header: &GgufHeader,
        architecture: String,
        source: Source,
    ) -> Result<Self, RegisterError> {
        let capabilities = capabilities_of(m, header)?;
        Ok(ModelEntry {
            alias: m.alias.clone(),
            name: m
                .name
                .clone()
                .or(header.name.clone())
                .unwrap_or_else(|| m.alias.clone()),
            family: architecture.clone(),
            architecture,
            parameters: (header.parameter_count > 0).then_some(header.parameter_count),
            quantization: header.quantization().unwrap_or("unknown").to_string(),
            size: Some(header.file_size),
            sha256: None,
            license: m
                .license
                .clone()
                .or(header.license.clone())
                .unwrap_or_else(|| "unknown".into()),
            context_length: header
                .context_length
                .map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)),
            capabilities,
            chat_template: header.chat_template.is_some(),
            chat_template_override: m.chat_template_override.clone(),
            description: m.description.clone(),
            sources: vec![source],
            remote: None,
            origin: Origin::default(),
        })
    }

    /// An entry downloaded on first use from `source` (whose file is named `file`): its
    /// details are not known until then. Assumed to be a chat model (most published GGUFs
    /// are): without a template of its own it says so on the first chat request.
    pub fn for_download(m: &NewModel, file: &str, source: Source) -> Self {
        let capabilities = chat_by_default(m.capabilities.clone());
        ModelEntry {
            alias: m.alias.clone(),
            name: m.name.clone().unwrap_or_else(|| file.to_string()),
            family: "unknown".into(),
            architecture: "unknown".into(),
            parameters: None,
            quantization: quantization_in_name(file).unwrap_or("unknown").to_string(),
            size: None,
            sha256: m.sha256.clone(),
            license: m.license.clone().unwrap_or_else(|| "unknown".into()),
            context_length: 0,
            chat_template: capabilities.contains(&Capability::Chat),
            capabilities,
            chat_template_override: m.chat_template_override.clone(),
            description: m.description.clone(),
            sources: vec![source],
            remote: None,
            origin: Origin::default(),
        }
    }

    /// A remote adapter: model `model` of the OpenAI-compatible server at `endpoint`, with
    /// its API key read from `$api_key_env`.
    pub fn for_remote(
        m: &NewModel,
        endpoint: &str,
        model: &str,
        api_key_env: Option<String>,
    ) -> Self {
        let capabilities = chat_by_default(m.capabilities.clone());
        ModelEntry {
            alias: m.alias.clone(),
            name: m
                .name
                .clone()
                .unwrap_or_else(|| format!("{model} at {endpoint}")),
            family: "remote".into(),
            architecture: "remote".into(),
            parameters: None,
            quantization: "remote".into(),
            size: None,
            sha256: None,
            license: m.license.clone().unwrap_or_else(|| "unknown".into()),
            context_length: 0,
            // The upstream server applies its own template.
            chat_template: capabilities.contains(&Capability::Chat),
            capabilities,
            chat_template_override: None,
            description: m.description.clone(),
            sources: Vec::new(),
            remote: Some(Remote {
                endpoint: endpoint.to_string(),
                model: model.to_string(),
                api_key_env,
            }),
            origin: Origin::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_from_file_names() {
        assert_eq!(
            quantization_in_name("gemma-3-270m-q4_k_m.gguf"),
            Some("Q4_K_M")
        );
        assert_eq!(
            quantization_in_name("SmolLM2-135M-Instruct.Q4_1.gguf"),
            Some("Q4_1")
        );
        assert_eq!(quantization_in_name("model-f16.gguf"), Some("F16"));
        assert_eq!(quantization_in_name("Q8_0.gguf"), Some("Q8_0"));
        assert_eq!(
            quantization_in_name("Qwen2.5-0.5B-Instruct-IQ4_XS.gguf"),
            Some("IQ4_XS")
        );
        assert_eq!(quantization_in_name("model.gguf"), None);
        assert_eq!(quantization_in_name("xq4_0y.gguf"), None);
    }

    #[test]
    fn capabilities() {
        assert_eq!(
            parse_capabilities(&["chat".into(), " Completion".into(), "chat".into()]).unwrap(),
            [Capability::Chat, Capability::Completion]
        );
        assert!(parse_capabilities(&["embeddings".into()]).is_err());
        assert_eq!(
            capabilities_for(vec![], false).unwrap(),
            [Capability::Completion]
        );
        assert!(capabilities_for(vec![Capability::Chat], false).is_err());
    }
}
