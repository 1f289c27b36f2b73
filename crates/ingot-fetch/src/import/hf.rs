//! A checkpoint from a Hugging Face repository: the file list from the hub's API
//! (`/api/models/{repo}/revision/{revision}`), then each file the converter needs through the
//! same resumable, verified transfer as the `hf` source (large files are checked against the
//! hub's SHA-256, partials survive an interrupted import and resume the next time).

use std::path::Path;

use ingot_cache::{CacheError, PartialKey};

use super::ImportJob;
use crate::error::FetchError;
use crate::report::Reporter;
use crate::{cache_err, hf_url, http, redact_url, Downloader};

/// Whether the converter uses `file` (weights, configs, tokenizer, model card,
/// sentence-transformers modules); everything else (PyTorch `.bin`, ONNX, ...) is skipped.
pub(crate) fn wanted(file: &str) -> bool {
    const EXACT: &[&str] = &[
        "config.json",
        "model.safetensors.index.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "tokenizer.model",
        "special_tokens_map.json",
        "added_tokens.json",
        "generation_config.json",
        "modules.json",
        "sentence_bert_config.json",
        "README.md",
    ];
    if EXACT.contains(&file) {
        return true;
    }
    if !file.contains('/') && file.ends_with(".safetensors") {
        return true;
    }
    // sentence-transformers modules: `1_Pooling/config.json`, `2_Normalize/...`.
    matches!(file.split_once('/'), Some((dir, "config.json")) if dir.ends_with("_Pooling"))
}

impl Downloader {
    pub(crate) async fn hf_checkpoint(
        &self,
        job: &ImportJob<'_>,
        repo: &str,
        revision: &str,
        dir: &Path,
        reporter: &dyn Reporter,
    ) -> Result<(), FetchError> {
        let alias = job.entry.alias.as_str();
        let fail = |detail: String| FetchError::Import {
            alias: alias.to_string(),
            source_desc: job.source_desc.to_string(),
            detail,
        };
        let auth = self
            .options
            .hf_token
            .as_ref()
            .map(|t| format!("Bearer {}", t.trim()));
        let files = self
            .hf_files(repo, revision, auth.as_deref())
            .await
            .map_err(&fail)?;
        let wanted: Vec<String> = files.into_iter().filter(|f| wanted(f)).collect();
        if !wanted.iter().any(|f| f.ends_with(".safetensors")) {
            return Err(fail(format!(
                "{repo}@{revision} has no .safetensors weights (PyTorch .bin checkpoints are not read: they can run code when loaded)"
            )));
        }
        reporter.message(&format!(
            "'{alias}': fetching {} files of {repo}@{revision}",
            wanted.len()
        ));
        for file in &wanted {
            let url = hf_url(&self.options.hf_endpoint, repo, revision, file).map_err(&fail)?;
            let (etag, size) = self.hf_linked_etag(&url, auth.as_deref()).await;
            let desc = format!("hf:{repo}@{revision}/{file}");
            let key = match &etag {
                Some(sha) => PartialKey::for_sha256(sha),
                None => PartialKey::for_alias_source(alias, &desc),
            }
            .map_err(|e| cache_err(alias, e))?;
            let lock = self.acquire(alias, &key, reporter).await?;
            let validator = lock.validator_path();
            let hj = http::HttpJob {
                alias,
                source_desc: &desc,
                url,
                auth: auth.clone(),
                partial: lock.partial_path(),
                validator: &validator,
                expected_size: size,
            };
            let (sha, _) = self.http_fetch(&hj, reporter).await?;
            if let Some(want) = &etag {
                if *want != sha {
                    let _ = std::fs::remove_file(lock.partial_path());
                    return Err(FetchError::ChecksumMismatch {
                        alias: alias.to_string(),
                        source_desc: desc,
                        expected: want.clone(),
                        actual: sha,
                    });
                }
            }
            let out = dir.join(file);
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| cache_err(alias, CacheError::from_io(parent, e)))?;
            }
            ingot_core::files::replace_file(lock.partial_path(), &out)
                .map_err(|e| cache_err(alias, CacheError::from_io(&out, e)))?;
            let _ = std::fs::remove_file(&validator);
        }
        Ok(())
    }

    /// The repository's file names at `revision`, from the hub's model API.
    async fn hf_files(
        &self,
        repo: &str,
        revision: &str,
        auth: Option<&str>,
    ) -> Result<Vec<String>, String> {
        let mut url = reqwest::Url::parse(&self.options.hf_endpoint)
            .map_err(|e| format!("invalid hub endpoint: {e}"))?;
        url.path_segments_mut()
            .map_err(|_| "the hub endpoint cannot be a base URL".to_string())?
            .pop_if_empty()
            .push("api")
            .push("models")
            .extend(repo.split('/'))
            .push("revision")
            .push(revision);
        let mut req = self.client.get(url.clone());
        if let Some(a) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let shown = redact_url(url.as_str());
        let resp = req.send().await.map_err(|e| format!("{shown}: {e}"))?;
        let status = resp.status();
        if status.as_u16() == 404 || status.as_u16() == 401 {
            return Err(format!(
                "{repo}@{revision} was not found on the hub (HTTP {status}); check the name, or set HF_TOKEN for a gated repository"
            ));
        }
        if !status.is_success() {
            return Err(format!("{shown}: HTTP {status}"));
        }
        // A repository listing is small; refuse absurd ones before parsing.
        let body = resp.bytes().await.map_err(|e| format!("{shown}: {e}"))?;
        if body.len() > 16 << 20 {
            return Err(format!("{shown}: the file list is over 16 MiB"));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("{shown}: not JSON: {e}"))?;
        let files = v
            .get("siblings")
            .and_then(|s| s.as_array())
            .ok_or_else(|| format!("{shown}: no `siblings` in the answer"))?
            .iter()
            .filter_map(|s| s.get("rfilename")?.as_str())
            // Names become paths under the checkpoint folder: nothing may climb out of it.
            .filter(|f| !f.starts_with('/') && f.split('/').all(|p| !p.is_empty() && p != ".."))
            .map(str::to_string)
            .collect();
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_files_the_converter_reads_are_fetched() {
        for f in [
            "config.json",
            "model.safetensors",
            "model-00001-of-00002.safetensors",
            "tokenizer.json",
            "1_Pooling/config.json",
            "README.md",
        ] {
            assert!(wanted(f), "{f}");
        }
        for f in [
            "pytorch_model.bin",
            "onnx/model.onnx",
            "onnx/model.safetensors",
            "openvino/config.json",
            ".gitattributes",
        ] {
            assert!(!wanted(f), "{f}");
        }
    }
}
