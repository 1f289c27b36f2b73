//! Issue 12 part 5: a huge `ttl` neither wraps nor panics. Above 365 days the load route
//! answers a 400 naming the limit; a library caller's huge default saturates.

mod common;

use std::time::Duration;

use common::*;
use ingot_server::{ServerConfig, MAX_TTL_SECS};

#[tokio::test]
async fn a_ttl_above_the_maximum_is_a_400_naming_it() {
    let s = start().await;
    for ttl in [u64::MAX, u64::MAX / 1000 + 1, MAX_TTL_SECS + 1] {
        let r = s
            .post_json(
                "/v1/models/tiny-chat/load",
                serde_json::json!({ "ttl": ttl }),
            )
            .await;
        assert_eq!(r.status(), 400, "ttl {ttl}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"]["param"], "ttl");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&MAX_TTL_SECS.to_string()),
            "{v}"
        );
    }
    // The maximum itself is fine, and shows as set (not wrapped to a tiny or zero TTL).
    let r = s
        .post_json(
            "/v1/models/tiny-chat/load",
            serde_json::json!({ "ttl": MAX_TTL_SECS }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ttl"], MAX_TTL_SECS);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires = v["expires_at"].as_u64().unwrap();
    assert!(expires >= now + MAX_TTL_SECS - 60, "{v}");
    // Still served, and still loaded a moment later.
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny"))
            .await
            .status(),
        200
    );
    let ps = s.get_json("/v1/ps").await;
    assert_eq!(ps["data"][0]["id"], "tiny-chat");
}

#[tokio::test]
async fn a_huge_default_ttl_saturates() {
    let s = start_with(
        ServerConfig {
            default_ttl: Duration::MAX,
            ..test_config()
        },
        Script::default(),
    )
    .await;
    assert_eq!(
        s.post_json("/v1/chat/completions", chat_body("tiny"))
            .await
            .status(),
        200
    );
    let ps = s.get_json("/v1/ps").await;
    assert_eq!(ps["data"][0]["ttl"], MAX_TTL_SECS, "{ps}");
    // The reaper runs every 250 ms: it must not panic on the deadline arithmetic either.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(s.get_json("/health").await["status"], "ok");
    assert_eq!(s.get_json("/v1/ps").await["data"][0]["id"], "tiny-chat");
}
