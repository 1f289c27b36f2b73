//! Issue 19: `ingot service stop` stops a service without signals (Windows) through
//! `POST /ingot/shutdown`, which only the service's own token may call.

mod common;

use std::time::Duration;

use common::*;
use ingot_server::ServerConfig;

async fn post_shutdown(s: &TestServer, token: Option<&str>) -> reqwest::Response {
    let mut req = s.client.post(s.url("/ingot/shutdown"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request")
}

async fn requested(s: &TestServer) -> bool {
    tokio::time::timeout(Duration::from_millis(200), s.handle.stop_requested())
        .await
        .is_ok()
}

#[tokio::test]
async fn only_the_shutdown_token_asks_the_server_to_stop() {
    let s = start_with(
        ServerConfig {
            api_key: Some("client-key".into()),
            shutdown_token: Some("service-token".into()),
            ..test_config()
        },
        Script::default(),
    )
    .await;
    // No token, the clients' API key, or a wrong token: 401, and nothing happens.
    for token in [None, Some("client-key"), Some("service-token-"), Some("")] {
        let r = post_shutdown(&s, token).await;
        assert_eq!(r.status(), 401, "token {token:?}");
        assert!(!requested(&s).await, "token {token:?}");
    }
    // GET is not a shutdown either.
    let r = s
        .client
        .get(s.url("/ingot/shutdown"))
        .bearer_auth("service-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(!requested(&s).await);
    // The token (not the API key) is what the route checks: accepted, and the owner learns.
    let r = post_shutdown(&s, Some("service-token")).await;
    assert_eq!(r.status(), 202);
    assert!(requested(&s).await);
}

#[tokio::test]
async fn without_a_token_there_is_no_shutdown_route() {
    let s = start_with(test_config(), Script::default()).await;
    for token in [None, Some("anything")] {
        let r = post_shutdown(&s, token).await;
        assert_eq!(r.status(), 404, "token {token:?}");
    }
    assert!(!requested(&s).await);
}
