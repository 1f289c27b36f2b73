//! Issue 12 part 4: `POST /v1/models/{id}/download` runs one download per model however
//! many clients ask; the others follow its progress.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ingot_server::{
    DownloadProgress, ModelDescriptor, ModelProvider, ProviderError, ResolvedModel,
};

/// One model, `slow`, whose download takes about a second once `released` and is counted.
#[derive(Default)]
struct CountingProvider {
    /// Until set, the download reports progress but does not finish (so that every caller
    /// of a test joins it while it runs, however loaded the machine is).
    released: AtomicBool,
    downloads: AtomicUsize,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
}

impl ModelProvider for CountingProvider {
    fn list(&self) -> Vec<ModelDescriptor> {
        vec![ModelDescriptor {
            id: "slow".into(),
            aliases: vec!["slow-alias".into()],
            ..Default::default()
        }]
    }

    fn resolve(&self, id: &str) -> Result<ResolvedModel, ProviderError> {
        if id != "slow" && id != "slow-alias" {
            return Err(ProviderError::NotFound(id.into()));
        }
        Ok(ResolvedModel {
            id: "slow".into(),
            path: PathBuf::from("/models/slow.gguf"),
            chat_template: None,
            context_length: None,
        })
    }

    fn download(
        &self,
        id: &str,
        progress: &(dyn Fn(DownloadProgress) + Send + Sync),
    ) -> Result<ResolvedModel, ProviderError> {
        self.downloads.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !self.released.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            progress(DownloadProgress {
                file: "slow.gguf".into(),
                downloaded_bytes: 0,
                total_bytes: Some(1000),
            });
        }
        for i in 1..=10u64 {
            std::thread::sleep(Duration::from_millis(100));
            progress(DownloadProgress {
                file: "slow.gguf".into(),
                downloaded_bytes: i * 100,
                total_bytes: Some(1000),
            });
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.resolve(id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_downloads_of_one_model_share_one_download() {
    let provider = Arc::new(CountingProvider::default());
    let s = start_with_provider(test_config(), Script::default(), provider.clone()).await;
    let client = reqwest::Client::new();
    let joined = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..300)
        .map(|i| {
            let client = client.clone();
            // Aliases name the same model, so they share its download too.
            let id = if i % 2 == 0 { "slow" } else { "slow-alias" };
            let url = s.url(&format!("/v1/models/{id}/download"));
            let joined = joined.clone();
            tokio::spawn(async move {
                let r = client.post(url).send().await.expect("request");
                assert_eq!(r.status(), 200);
                // The headers come once the call has joined (or started) the download.
                joined.fetch_add(1, Ordering::SeqCst);
                r.text().await.expect("body")
            })
        })
        .collect();
    assert!(
        eventually(Duration::from_secs(120), || async {
            joined.load(Ordering::SeqCst) == 300
        })
        .await,
        "not every call was answered"
    );
    provider.released.store(true, Ordering::SeqCst);
    for c in calls {
        let body = c.await.unwrap();
        let events = sse_data(&body);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{body}");
        let last: serde_json::Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
        assert_eq!(last["status"], "done", "{body}");
        assert!(last["file"].as_str().unwrap().ends_with("slow.gguf"));
    }
    assert_eq!(
        provider.downloads.load(Ordering::SeqCst),
        1,
        "one download for 300 calls"
    );
    assert_eq!(provider.most_at_once.load(Ordering::SeqCst), 1);

    // Once it is over, a new call starts a new download (which finds the model on disk,
    // for a real provider) rather than replaying the old result forever.
    let r = client
        .post(s.url("/v1/models/slow/download"))
        .send()
        .await
        .unwrap();
    let events = sse_data(&r.text().await.unwrap());
    assert!(
        events.iter().any(|e| e.contains("\"progress\"")),
        "{events:?}"
    );
    assert_eq!(provider.downloads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_follower_starts_from_the_latest_progress_and_sees_the_result() {
    use futures_util::StreamExt;
    let provider = Arc::new(CountingProvider::default());
    provider.released.store(true, Ordering::SeqCst);
    let s = start_with_provider(test_config(), Script::default(), provider.clone()).await;
    let leader = reqwest::Client::new()
        .post(s.url("/v1/models/slow/download"))
        .send()
        .await
        .unwrap();
    // Read the leader's stream until the download is past 300 bytes, then join.
    let mut chunks = leader.bytes_stream();
    let mut seen = String::new();
    while !sse_data(&seen)
        .iter()
        .any(|e| e.contains("\"downloaded_bytes\":300") || e.contains("\"downloaded_bytes\":400"))
    {
        let chunk = chunks
            .next()
            .await
            .expect("the leader's stream ended early")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let r = s
        .client
        .post(s.url("/v1/models/slow/download"))
        .send()
        .await
        .unwrap();
    let follower = sse_data(&r.text().await.unwrap());
    while let Some(chunk) = chunks.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let leader = sse_data(&seen);
    assert_eq!(provider.downloads.load(Ordering::SeqCst), 1);
    // The follower starts from the latest progress, not from zero.
    let first: serde_json::Value = serde_json::from_str(&follower[0]).unwrap();
    assert_eq!(first["status"], "progress");
    assert!(
        first["downloaded_bytes"].as_u64().unwrap() >= 300,
        "{follower:?}"
    );
    for events in [&leader, &follower] {
        assert!(events[events.len() - 2].contains("\"done\""), "{events:?}");
        assert_eq!(events.last().unwrap(), "[DONE]");
    }
}
