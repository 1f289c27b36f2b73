//! Issue 7: `local` sources (`ingot model add PATH` without `--copy`) are used in place.

mod common;

use common::*;
use ingot_cache::Store;
use ingot_catalog::Source;
use ingot_fetch::{Downloader, FetchError, NoopReporter};

#[tokio::test]
async fn issue7_local_source_is_used_in_place_and_size_checked() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let body = tiny_gguf(4096);
    let file = home.path().join("mine.gguf");
    std::fs::write(&file, &body).unwrap();
    let downloader = Downloader::new(store.clone(), fast_options()).unwrap();
    let e = entry("mine", &body, vec![Source::Local { path: file.clone() }]);

    let model = downloader.download(&e, &NoopReporter).await.unwrap();
    assert_eq!(model.path, file, "the file itself, not a copy");
    assert!(model.already_cached);
    assert_eq!(model.sha256, sha256_hex(&body));
    assert_eq!(model.source, format!("local:{}", file.display()));
    assert!(store.list().unwrap().is_empty(), "nothing is copied");
    assert!(store.lookup("mine").unwrap().is_none());

    // A file that changed size since it was added is refused.
    std::fs::write(&file, &body[..100]).unwrap();
    let err = downloader.download(&e, &NoopReporter).await.unwrap_err();
    assert!(
        matches!(err, FetchError::SizeMismatch { actual: 100, .. }),
        "{err}"
    );

    // A file that is gone says which file.
    std::fs::remove_file(&file).unwrap();
    let err = downloader.download(&e, &NoopReporter).await.unwrap_err();
    assert!(matches!(err, FetchError::SourceFile { .. }), "{err}");
    assert!(err.to_string().contains("mine.gguf"), "{err}");
}
