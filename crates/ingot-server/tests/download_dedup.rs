//! Issue 12 part 4: `POST /v1/models/{id}/download` runs one download per model however
//! many clients ask; the others follow its progress.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ingot_server::{
    DownloadProgress, ModelDescriptor, ModelProvider, ProviderError, ResolvedModel,
};

/// One model, `slow`, whose download takes about a second and is counted.
#[derive(Default)]
struct CountingProvider {
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
    let calls: Vec<_> = (0..300)
        .map(|i| {
            let client = client.clone();
            // Aliases name the same model, so they share its download too.
            let id = if i % 2 == 0 { "slow" } else { "slow-alias" };
            let url = s.url(&format!("/v1/models/{id}/download"));
            tokio::spawn(async move {
                let r = client.post(url).send().await.expect("request");
                assert_eq!(r.status(), 200);
                r.text().await.expect("body")
            })
        })
        .collect();
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
async fn a_follower_sees_progress_and_the_result() {
    let provider = Arc::new(CountingProvider::default());
    let s = start_with_provider(test_config(), Script::default(), provider.clone()).await;
    let first = {
        let url = s.url("/v1/models/slow/download");
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    // Join half-way through.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = s
        .client
        .post(s.url("/v1/models/slow/download"))
        .send()
        .await
        .unwrap();
    let follower = sse_data(&r.text().await.unwrap());
    let leader = sse_data(&first.await.unwrap());
    assert_eq!(provider.downloads.load(Ordering::SeqCst), 1);
    // The follower starts from the latest progress, not from zero.
    let first_progress: serde_json::Value = serde_json::from_str(&follower[0]).unwrap();
    assert_eq!(first_progress["status"], "progress");
    assert!(
        first_progress["downloaded_bytes"].as_u64().unwrap() >= 200,
        "{follower:?}"
    );
    for events in [&leader, &follower] {
        assert!(events[events.len() - 2].contains("\"done\""), "{events:?}");
        assert_eq!(events.last().unwrap(), "[DONE]");
    }
}
