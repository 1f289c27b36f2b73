//! The SDK registers and removes models as `ingot model add|rm` do (issue 13: the rules live
//! in the libraries, so SDK users can add a model): a real GGUF read in place, a download for
//! later, a remote adapter, refusals that leave the catalog alone, and removal.

use ingot::catalog::{Capability, Catalog, Source, UserCatalog};
use ingot::models::{self, NewModel, NewModelSource, Removed};
use ingot::Error;
use ingot_testkit as model_file;

fn catalog(home: &std::path::Path) -> Catalog {
    Catalog::load_with_env(home).unwrap().0
}

fn new(alias: &str) -> NewModel {
    NewModel {
        alias: alias.into(),
        ..NewModel::default()
    }
}

#[test]
fn a_gguf_file_is_read_hashed_and_registered_in_place() {
    let home = tempfile::tempdir().unwrap();
    let path = model_file::model_path();
    let added = models::add_model(
        home.path(),
        &catalog(home.path()),
        &new("my-smol"),
        &NewModelSource::File {
            path: path.clone(),
            copy: false,
        },
        &ingot::fetch::NoopReporter,
    )
    .unwrap();
    let e = &added.entry;
    assert_eq!(e.architecture, "llama");
    assert_eq!(e.quantization, "Q4_1");
    assert_eq!(e.sha256.as_deref(), Some(model_file::MODEL_SHA256));
    assert_eq!(e.capabilities, [Capability::Chat, Capability::Completion]);
    assert!(e.chat_template);
    assert_eq!(
        e.local_path(),
        Some(std::fs::canonicalize(&path).unwrap().as_path())
    );
    assert!(added.copied.is_none());
    // It is in the user catalog file, and the merged catalog resolves it.
    assert!(UserCatalog::open(home.path())
        .unwrap()
        .get("my-smol")
        .is_some());
    assert_eq!(
        catalog(home.path()).get("my-smol").unwrap().architecture,
        "llama"
    );

    // Taken now: refused, naming the alias, and nothing changes.
    let before = std::fs::read_to_string(&added.catalog).unwrap();
    let err = models::add_model(
        home.path(),
        &catalog(home.path()),
        &new("my-smol"),
        &NewModelSource::Url("https://example.invalid/x.gguf".into()),
        &ingot::fetch::NoopReporter,
    )
    .unwrap_err();
    assert!(err.to_string().contains("my-smol"), "{err}");
    assert_eq!(std::fs::read_to_string(&added.catalog).unwrap(), before);

    // Removed: the entry goes; the file used in place stays.
    match models::remove_model(home.path(), &catalog(home.path()), "my-smol").unwrap() {
        Removed::Entry { entry, freed, .. } => {
            assert_eq!(entry.alias, "my-smol");
            assert_eq!(freed, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(path.exists());
    assert!(catalog(home.path()).get("my-smol").is_err());
}

#[test]
fn downloads_for_later_and_remote_adapters_get_their_defaults() {
    let home = tempfile::tempdir().unwrap();
    let later = models::add_model(
        home.path(),
        &catalog(home.path()),
        &new("later"),
        &NewModelSource::Hf {
            repo: "org/repo".into(),
            revision: "main".into(),
            file: "model-Q8_0.gguf".into(),
        },
        &ingot::fetch::NoopReporter,
    )
    .unwrap()
    .entry;
    assert_eq!(later.quantization, "Q8_0");
    assert!(matches!(&later.sources[..], [Source::Hf { file, .. }] if file == "model-Q8_0.gguf"));
    let remote = models::add_model(
        home.path(),
        &catalog(home.path()),
        &new("far"),
        &NewModelSource::Remote {
            endpoint: "http://127.0.0.1:9/v1/".into(),
            model: "up".into(),
            api_key_env: Some("FAR_KEY".into()),
        },
        &ingot::fetch::NoopReporter,
    )
    .unwrap()
    .entry;
    let r = remote.remote().unwrap();
    assert_eq!(
        (r.endpoint.as_str(), r.model.as_str()),
        ("http://127.0.0.1:9/v1", "up")
    );
}

#[test]
fn bad_input_registers_nothing() {
    let home = tempfile::tempdir().unwrap();
    let not_gguf = home.path().join("notes.gguf");
    std::fs::write(&not_gguf, b"not a model").unwrap();
    let add = |m: NewModel, s: NewModelSource| {
        models::add_model(
            home.path(),
            &catalog(home.path()),
            &m,
            &s,
            &ingot::fetch::NoopReporter,
        )
    };
    let file = |path: std::path::PathBuf| NewModelSource::File { path, copy: true };
    let err = add(new("x"), file(not_gguf.clone())).unwrap_err();
    assert!(matches!(err, Error::InvalidModel { .. }), "{err}");
    assert!(err.to_string().contains("notes.gguf"), "{err}");
    let err = add(new("x"), file(home.path().join("missing.gguf"))).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    let wrong_hash = NewModel {
        sha256: Some("00".repeat(32)),
        ..new("x")
    };
    let err = add(wrong_hash, file(model_file::model_path())).unwrap_err();
    assert!(err.to_string().contains("not the expected"), "{err}");
    let err = add(
        new("Bad Alias"),
        NewModelSource::Url("https://h/x.gguf".into()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Catalog(_)), "{err}");
    // No user catalog was written, and nothing was copied into the cache.
    assert!(UserCatalog::open(home.path()).unwrap().get("x").is_none());
    let store = ingot::cache::Store::open(home.path()).unwrap();
    assert!(store.lookup("x").unwrap().is_none());
    let err = models::remove_model(home.path(), &catalog(home.path()), "smollm2-135m").unwrap_err();
    assert!(matches!(err, Error::NotRemovable { .. }), "{err}");
}
