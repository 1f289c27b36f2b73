use super::*;
use std::io::Write;
use std::sync::mpsc;

fn sha_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Writes `bytes` as the partial of a fresh download and commits it as `alias`.
fn put(store: &Store, alias: &str, bytes: &[u8]) -> CachedEntry {
    let sha = sha_of(bytes);
    let lock = store.lock(&PartialKey::for_sha256(&sha).unwrap()).unwrap();
    fs::write(lock.partial_path(), bytes).unwrap();
    store
        .commit(&lock, alias, &sha, bytes.len() as u64, "test:put")
        .unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn open_creates_the_versioned_layout() {
    let (dir, store) = open();
    for sub in ["blobs", "manifests", "partials", "locks", "tmp"] {
        assert!(dir.path().join("models-v1").join(sub).is_dir(), "{sub}");
    }
    assert_eq!(store.root(), dir.path());
    assert_eq!(store.models_dir(), dir.path().join("models-v1"));
}

#[test]
fn commit_makes_a_model_visible() {
    let (_dir, store) = open();
    assert!(store.list().unwrap().is_empty());
    assert!(store.lookup("m").unwrap().is_none());
    let e = put(&store, "m", b"GGUF hello");
    assert_eq!(e.path, store.blob_path(&sha_of(b"GGUF hello")));
    assert_eq!(fs::read(&e.path).unwrap(), b"GGUF hello");
    assert_eq!(e.size(), 10);
    assert_eq!(e.manifest.source, "test:put");

    let listed = store.list().unwrap();
    assert_eq!(listed, vec![e.clone()]);
    assert_eq!(store.lookup("m").unwrap(), Some(e.clone()));
    // The partial was moved, not copied.
    assert_eq!(fs::read_dir(store.partials_dir()).unwrap().count(), 0);

    // The manifest is plain JSON with RFC 3339 times.
    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(store.manifest_path("m")).unwrap()).unwrap();
    assert_eq!(json["alias"], "m");
    assert!(json["downloaded_at"].as_str().unwrap().contains('T'));
}

#[test]
fn cached_path_records_last_use() {
    let (_dir, store) = open();
    let e = put(&store, "m", b"abc");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(store.cached_path("m").unwrap(), Some(e.path.clone()));
    let after = store.lookup("m").unwrap().unwrap();
    assert!(after.manifest.last_used_at > e.manifest.last_used_at);
    assert_eq!(after.manifest.downloaded_at, e.manifest.downloaded_at);
    assert_eq!(store.cached_path("other").unwrap(), None);
}

/// Issue 12: a use recorded from a manifest read before a new download of the alias was
/// committed must not write the old manifest back over the new one.
#[test]
fn a_stale_touch_does_not_undo_a_commit() {
    let (_dir, store) = open();
    put(&store, "m", b"old");
    let stale = store.lookup("m").unwrap().unwrap();
    let fresh = put(&store, "m", b"new file");
    store.touch(&stale.manifest).unwrap();
    let now = store.lookup("m").unwrap().unwrap();
    assert_eq!(now.manifest.sha256, fresh.manifest.sha256);
    assert_eq!(now.manifest.size, 8);
    assert!(now.manifest.last_used_at >= fresh.manifest.last_used_at);
    // A model removed meanwhile stays removed.
    store.rm("m").unwrap();
    store.touch(&stale.manifest).unwrap();
    assert!(store.lookup("m").unwrap().is_none());
}

/// Issue 12: uses recorded from several threads while downloads of the alias commit: the
/// manifest always ends up describing the last commit.
#[test]
fn concurrent_touches_and_commits_keep_the_last_commit() {
    let (_dir, store) = open();
    put(&store, "m", b"v0");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let touchers: Vec<_> = (0..3)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store.cached_path("m").unwrap();
                }
            })
        })
        .collect();
    for i in 1..=60 {
        let body = format!("version {i}");
        let committed = put(&store, "m", body.as_bytes());
        // Whatever the touchers do between the commits, they never bring back an older one.
        let seen = store.lookup("m").unwrap().unwrap();
        assert_eq!(
            seen.manifest.sha256, committed.manifest.sha256,
            "commit {i}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in touchers {
        t.join().unwrap();
    }
    let last = store.lookup("m").unwrap().unwrap();
    assert_eq!(last.manifest.sha256, sha_of(b"version 60"));
}

/// Issue 12: the validator kept beside a partial (for `If-Range`) goes with it.
#[test]
fn validators_go_with_their_partials() {
    let (_dir, store) = open();
    let key = |n: u8| PartialKey::for_sha256(&format!("{n:064}")).unwrap();
    // Committed: the validator is removed with the partial.
    let lock = store
        .lock(&PartialKey::for_alias_source("v.1", "url:x").unwrap())
        .unwrap();
    assert_eq!(
        lock.validator_path(),
        lock.partial_path()
            .with_file_name(format!("{}.validator", lock.key().stem()))
    );
    fs::write(lock.partial_path(), b"body").unwrap();
    fs::write(lock.validator_path(), b"etag \"1\"").unwrap();
    store
        .commit(&lock, "v.1", &sha_of(b"body"), 4, "url:x")
        .unwrap();
    assert!(!lock.validator_path().exists());
    drop(lock);
    // Abandoned: gc removes an old one, and keeps that of a live download.
    let old = store.lock(&key(1)).unwrap().validator_path();
    fs::write(&old, b"etag \"1\"").unwrap();
    age(&old, Duration::from_secs(8 * 24 * 3600));
    let live_lock = store.lock(&key(2)).unwrap();
    fs::write(live_lock.validator_path(), b"etag \"2\"").unwrap();
    let report = store
        .gc(&GcOptions {
            all_partials: true,
            ..GcOptions::default()
        })
        .unwrap();
    assert!(!old.exists() && report.removed.contains(&old));
    assert!(live_lock.validator_path().exists());
}

#[test]
fn partials_and_broken_blobs_are_not_visible() {
    let (_dir, store) = open();
    let key = PartialKey::for_sha256(&"0".repeat(64)).unwrap();
    fs::write(store.partial_path(&key), b"half a model").unwrap();
    assert!(store.list().unwrap().is_empty());

    let e = put(&store, "m", b"whole model");
    // A blob truncated behind the store's back is not a cached model.
    fs::write(&e.path, b"whole").unwrap();
    assert!(store.lookup("m").unwrap().is_none());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn commit_checks_size_and_alias() {
    let (_dir, store) = open();
    let sha = sha_of(b"abc");
    let lock = store.lock(&PartialKey::for_sha256(&sha).unwrap()).unwrap();
    fs::write(lock.partial_path(), b"abc").unwrap();
    let err = store.commit(&lock, "m", &sha, 4, "t").unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::SizeMismatch {
                expected: 4,
                actual: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = store.commit(&lock, "../m", &sha, 3, "t").unwrap_err();
    assert!(matches!(err, CacheError::InvalidAlias(_)), "{err}");
    let err = store.commit(&lock, "m", "xyz", 3, "t").unwrap_err();
    assert!(matches!(err, CacheError::InvalidSha256(_)), "{err}");
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn issue2_aliases_cannot_escape_the_store() {
    let (_dir, store) = open();
    for bad in ["../x", "..", "a/b", "/etc/passwd", ""] {
        assert!(
            matches!(store.lookup(bad), Err(CacheError::InvalidAlias(_))),
            "{bad}"
        );
        assert!(
            matches!(store.cached_path(bad), Err(CacheError::InvalidAlias(_))),
            "{bad}"
        );
        assert!(
            matches!(store.rm(bad), Err(CacheError::InvalidAlias(_))),
            "{bad}"
        );
    }
}

#[test]
fn rm_keeps_shared_blobs_and_reports_bytes_freed() {
    let (_dir, store) = open();
    let a = put(&store, "a", b"same bytes");
    let b = put(&store, "b", b"same bytes");
    assert_eq!(a.path, b.path);
    put(&store, "c", b"other");

    let freed = store.rm("a").unwrap();
    assert_eq!(freed, 0, "the blob is still used by 'b'");
    assert!(b.path.exists());
    assert!(store.lookup("a").unwrap().is_none());
    let freed = store.rm("b").unwrap();
    assert_eq!(freed, 10);
    assert!(!b.path.exists());
    assert_eq!(store.list().unwrap().len(), 1);

    let err = store.rm("a").unwrap_err();
    assert!(matches!(err, CacheError::NotCached { .. }));
    assert_eq!(err.to_string(), "model 'a' is not in the cache");
}

#[test]
fn rm_removes_a_corrupt_manifest() {
    let (_dir, store) = open();
    fs::write(store.manifest_path("m"), b"{not json").unwrap();
    assert!(matches!(
        store.lookup("m"),
        Err(CacheError::CorruptManifest { .. })
    ));
    assert!(store.list().unwrap().is_empty());
    store.rm("m").unwrap();
    assert!(store.lookup("m").unwrap().is_none());
}

fn age(path: &Path, by: Duration) {
    // Opened read-only so that folders can be aged too (futimens only needs ownership).
    let f = fs::File::open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

#[test]
fn gc_removes_orphans_stale_partials_and_keeps_live_ones() {
    let (_dir, store) = open();
    let kept = put(&store, "kept", b"kept model");
    // Orphan blob, dangling manifest, corrupt manifest, crashed writer's temp file.
    let orphan = store.blob_path(&sha_of(b"orphan"));
    fs::write(&orphan, b"orphan").unwrap();
    let dangling = put(&store, "dangling", b"dangling");
    fs::remove_file(&dangling.path).unwrap();
    fs::write(store.manifest_path("corrupt"), b"[]").unwrap();
    let tmp = store.manifests_dir().join(".tmp-abc");
    fs::write(&tmp, b"x").unwrap();

    let key = |n: u8| PartialKey::for_sha256(&format!("{n:064}")).unwrap();
    let old = store.partial_path(&key(1));
    fs::write(&old, vec![0u8; 1000]).unwrap();
    age(&old, Duration::from_secs(8 * 24 * 3600));
    let young = store.partial_path(&key(2));
    fs::write(&young, b"young").unwrap();
    let live_lock = store.lock(&key(3)).unwrap();
    let live = live_lock.partial_path().to_path_buf();
    fs::write(&live, b"live").unwrap();
    age(&live, Duration::from_secs(30 * 24 * 3600));
    let live_scratch = store.scratch_dir(&live_lock).unwrap();
    let dead_scratch = store.tmp_dir().join(format!("{}~xyz", key(4).stem()));
    fs::create_dir(&dead_scratch).unwrap();
    fs::write(dead_scratch.join("w.whl"), b"wheel").unwrap();
    age(&dead_scratch, Duration::from_secs(8 * 24 * 3600));

    let report = store.gc(&GcOptions::default()).unwrap();
    for gone in [
        &orphan,
        &store.manifest_path("dangling"),
        &store.manifest_path("corrupt"),
        &tmp,
        &old,
        &dead_scratch,
    ] {
        assert!(!gone.exists(), "{} should be gone", gone.display());
        assert!(
            report.removed.contains(gone),
            "{} not reported",
            gone.display()
        );
    }
    for here in [
        &kept.path,
        &young,
        &live,
        &live_scratch.path().to_path_buf(),
    ] {
        assert!(here.exists(), "{} should be kept", here.display());
    }
    assert!(report.skipped_in_use.contains(&live));
    assert!(report.bytes_freed >= 6 + 1000 + 5, "{}", report.bytes_freed);
    assert_eq!(store.list().unwrap().len(), 1);

    // --all takes young partials too, but still not a live download's.
    let report = store
        .gc(&GcOptions {
            all_partials: true,
            ..Default::default()
        })
        .unwrap();
    assert!(!young.exists() && live.exists());
    assert_eq!(report.removed, vec![young]);
    drop(live_scratch);
    drop(live_lock);
    store
        .gc(&GcOptions {
            all_partials: true,
            ..Default::default()
        })
        .unwrap();
    assert!(!live.exists());
    assert!(kept.path.exists());
}

#[test]
fn issue2_lock_serialises_threads() {
    let (_dir, store) = open();
    let key = PartialKey::for_alias_source("m", "url:x").unwrap();
    let first = store.lock(&key).unwrap();
    assert!(store.try_lock(&key).unwrap().is_none());

    let (tx, rx) = mpsc::channel();
    let (store2, key2) = (store.clone(), key.clone());
    let waiter = std::thread::spawn(move || {
        let lock = store2.lock(&key2).unwrap();
        tx.send(()).unwrap();
        // The winner cached the model while we waited.
        assert!(store2.lookup("m").unwrap().is_some());
        drop(lock);
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "second locker must wait"
    );
    let mut f = fs::File::create(first.partial_path()).unwrap();
    f.write_all(b"data").unwrap();
    store
        .commit(&first, "m", &sha_of(b"data"), 4, "url:x")
        .unwrap();
    drop(first);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("second locker proceeds");
    waiter.join().unwrap();
}

#[test]
fn default_home_honours_ingot_home() {
    // The only test that touches INGOT_HOME, so it cannot race another.
    std::env::set_var(ingot_catalog::env::INGOT_HOME, "/some/where");
    assert_eq!(default_home().unwrap(), PathBuf::from("/some/where"));
    std::env::set_var(ingot_catalog::env::INGOT_HOME, "");
    let fallback = default_home().unwrap();
    assert!(fallback.ends_with("ingot"), "{}", fallback.display());
    std::env::remove_var(ingot_catalog::env::INGOT_HOME);
}
