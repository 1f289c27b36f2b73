//! Weights shared between loaded models of one file and kept a moment after an unload
//! (src/weights_cache.rs, issue 18: a warm load under 50 ms). One test, in its own binary:
//! what it checks depends on which models the process has loaded, in order.

mod common;
use common::*;
use ingot_engine::weights_cache::{forget, holds_released_weights, set_keep_for};
use ingot_engine::*;
use std::time::Duration;

fn reused(m: &std::sync::Arc<dyn LoadedModel>) -> bool {
    m.info()
        .load_phases
        .expect("llama.cpp loads report their phases")
        .weights_reused
}

#[test]
fn weights_are_shared_kept_after_an_unload_and_loaded_afresh_when_the_file_changes() {
    set_keep_for(Duration::from_secs(60));
    let a = load(&opts());
    assert!(!reused(&a), "the first load of the file reads it");
    let want = collect(
        a.generate(helpful("What is the capital of France?", 8))
            .unwrap(),
    );

    // A second model of the same file, with other options, shares the weights.
    let b = load(&LoadOptions {
        n_parallel: 2,
        ..opts()
    });
    assert!(reused(&b));
    drop(a);
    assert!(
        !holds_released_weights(),
        "nothing is kept while another model uses the weights"
    );
    drop(b);
    assert!(holds_released_weights(), "the last unload keeps them");

    // Loading again takes the kept weights, and answers as before.
    let c = load(&opts());
    assert!(reused(&c));
    assert!(!holds_released_weights(), "taken back, not kept twice");
    let got = collect(
        c.generate(helpful("What is the capital of France?", 8))
            .unwrap(),
    );
    assert_eq!(got.text, want.text);
    drop(c);

    // What a benchmark's cold load does first.
    forget();
    assert!(!holds_released_weights());
    let d = load(&opts());
    assert!(!reused(&d));

    // Kept weights expire.
    set_keep_for(Duration::from_millis(100));
    drop(d);
    assert!(holds_released_weights());
    std::thread::sleep(Duration::from_secs(2));
    assert!(!holds_released_weights(), "expired after 100 ms");

    // Keeping off: an unload frees everything.
    set_keep_for(Duration::ZERO);
    drop(load(&opts()));
    assert!(!holds_released_weights());

    // A file that changed is a different file, however it is named.
    set_keep_for(Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("model.gguf");
    std::fs::copy(model_path(), &copy).unwrap();
    let e = LlamaEngine::new().load(&copy, &opts()).unwrap();
    assert!(!reused(&e));
    drop(e);
    assert!(holds_released_weights());
    let f = std::fs::File::options().write(true).open(&copy).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    drop(f);
    let e2 = LlamaEngine::new().load(&copy, &opts()).unwrap();
    assert!(!reused(&e2), "modified since it was kept");
    drop(e2);
    set_keep_for(Duration::ZERO);
}
