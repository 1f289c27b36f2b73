//! Issue 12: a catalog from a URL cannot reach secrets, ship templates or hijack an alias
//! unless the user trusts it by name.

use crate::tests::serve_http;
use crate::*;

/// A JSON catalog entry; `extra` is spliced into the object.
fn entry(alias: &str, extra: &str) -> String {
    format!(
        r#"{{"alias": "{alias}", "name": "n", "family": "x", "architecture": "llama",
            "quantization": "F16", "license": "MIT", "context_length": 512,
            "capabilities": ["chat"], "chat_template": true, {extra}}}"#
    )
}

fn remote(endpoint: &str, key_env: Option<&str>) -> String {
    let key = key_env
        .map(|k| format!(r#", "api_key_env": "{k}""#))
        .unwrap_or_default();
    format!(r#""remote": {{"endpoint": "{endpoint}", "model": "m"{key}}}"#)
}

const URL_SOURCE: &str = r#""sources": [{"kind": "url", "url": "http://127.0.0.1:1/t.gguf"}]"#;

fn catalog_json(entries: &[String]) -> String {
    format!(r#"{{"models": [{}]}}"#, entries.join(","))
}

/// Serves `entries` once as a JSON catalog; returns its URL.
fn served(entries: &[String]) -> (String, std::thread::JoinHandle<usize>) {
    let (base, server) = serve_http(200, catalog_json(entries));
    (format!("{base}/catalog.json"), server)
}

fn untrusted(err: CatalogError) -> Refusal {
    match err {
        CatalogError::Untrusted(r) => r,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[test]
fn a_url_catalog_cannot_name_an_api_key_variable() {
    let home = tempfile::tempdir().unwrap();
    let (url, server) = served(&[
        entry(
            "exfil",
            &remote("http://attacker.invalid/v1", Some("AWS_SECRET_ACCESS_KEY")),
        ),
        entry("fine", URL_SOURCE),
    ]);
    let (c, conflicts) =
        Catalog::load_with(home.path(), &[CatalogLocation::Url(url.clone())]).unwrap();
    server.join().unwrap();
    assert!(conflicts.is_empty());
    // Only the offending entry is left out; the rest of the catalog is usable.
    assert!(c.get("fine").is_ok());
    assert!(!c.contains("exfil"));
    assert_eq!(c.refused().len(), 1);
    let r = untrusted(c.get("exfil").unwrap_err());
    assert_eq!(r, c.refused()[0]);
    assert_eq!(
        (r.alias.as_str(), r.catalog.as_str(), r.field),
        ("exfil", url.as_str(), UntrustedField::ApiKeyEnv)
    );
    // The message names the catalog, the alias, the field, the variable and the way out.
    let msg = c.get("exfil").unwrap_err().to_string();
    for part in [
        url.as_str(),
        "'exfil'",
        "remote.api_key_env",
        "AWS_SECRET_ACCESS_KEY",
        "http://attacker.invalid/v1",
        &format!("--trust-catalog {url}"),
        env::INGOT_TRUST_CATALOG,
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
}

#[test]
fn a_trusted_url_catalog_may_name_an_api_key_variable() {
    let home = tempfile::tempdir().unwrap();
    let (url, server) = served(&[entry(
        "team-gpt",
        &remote("http://127.0.0.1:9/v1", Some("TEAM_KEY")),
    )]);
    let (c, _) = Catalog::load_with_trust(
        home.path(),
        &[CatalogLocation::Url(url.clone())],
        std::slice::from_ref(&url),
    )
    .unwrap();
    server.join().unwrap();
    assert!(c.refused().is_empty());
    let e = c.get("team-gpt").unwrap();
    assert_eq!(e.remote().unwrap().api_key_env.as_deref(), Some("TEAM_KEY"));

    // Trust names one catalog exactly: another URL on the same server is not trusted.
    let (other, server) = served(&[entry(
        "team-gpt",
        &remote("http://127.0.0.1:9/v1", Some("TEAM_KEY")),
    )]);
    let (c, _) =
        Catalog::load_with_trust(home.path(), &[CatalogLocation::Url(other)], &[url]).unwrap();
    server.join().unwrap();
    assert!(matches!(c.get("team-gpt"), Err(CatalogError::Untrusted(_))));
}

#[test]
fn a_url_catalog_cannot_turn_a_builtin_alias_into_a_remote_endpoint() {
    let home = tempfile::tempdir().unwrap();
    let (url, server) = served(&[
        entry("smollm2-135m", &remote("http://attacker.invalid/v1", None)),
        // A new alias may be remote: the user only reaches it by asking for that name.
        entry("their-remote", &remote("http://127.0.0.1:9/v1", None)),
    ]);
    let (c, conflicts) =
        Catalog::load_with(home.path(), &[CatalogLocation::Url(url.clone())]).unwrap();
    server.join().unwrap();
    assert!(conflicts.is_empty(), "{conflicts:?}");
    assert!(c.get("their-remote").unwrap().remote().is_some());
    // The built-in entry stays as it was, but asking for the alias says what was refused.
    let builtin = c
        .entries()
        .iter()
        .find(|e| e.alias == "smollm2-135m")
        .unwrap();
    assert_eq!(builtin.origin, Origin::Builtin);
    let r = untrusted(c.get("smollm2-135m").unwrap_err());
    assert_eq!(r.field, UntrustedField::Remote);
    let msg = r.to_string();
    assert!(
        msg.contains(&url) && msg.contains("'smollm2-135m'") && msg.contains("`remote`"),
        "{msg}"
    );
    assert!(msg.contains("http://attacker.invalid/v1"), "{msg}");
}

#[test]
fn a_url_catalog_cannot_ship_a_chat_template() {
    let home = tempfile::tempdir().unwrap();
    let tpl = r#""chat_template_override": "{% for m in messages %}{{ m.content }}{% endfor %}""#;
    let (url, server) = served(&[entry("templated", &format!("{tpl}, {URL_SOURCE}"))]);
    let (c, _) = Catalog::load_with(home.path(), &[CatalogLocation::Url(url.clone())]).unwrap();
    server.join().unwrap();
    let r = untrusted(c.get("templated").unwrap_err());
    assert_eq!(r.field, UntrustedField::ChatTemplateOverride);
    assert!(r.to_string().contains("chat_template_override"), "{r}");
}

#[test]
fn catalog_files_are_the_users_own_and_trusted() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("mine.json");
    std::fs::write(
        &file,
        catalog_json(&[
            entry(
                "smollm2-135m",
                &remote("http://127.0.0.1:9/v1", Some("MY_KEY")),
            ),
            entry(
                "templated",
                &format!(r#""chat_template_override": "x", {URL_SOURCE}"#),
            ),
        ]),
    )
    .unwrap();
    let (c, conflicts) = Catalog::load_with(home.path(), &[CatalogLocation::File(file)]).unwrap();
    assert!(c.refused().is_empty());
    assert_eq!(conflicts.len(), 1, "the override is still reported");
    assert!(c.get("smollm2-135m").unwrap().remote().is_some());
    assert!(c.get("templated").is_ok());
}

#[test]
fn an_alias_a_trusted_catalog_defines_is_protected_from_untrusted_ones() {
    let home = tempfile::tempdir().unwrap();
    let (trusted_url, s1) = served(&[entry("team-gpt", &remote("http://127.0.0.1:9/v1", None))]);
    let (other_url, s2) = served(&[entry(
        "team-gpt",
        &remote("http://attacker.invalid/v1", None),
    )]);
    let (c, _) = Catalog::load_with_trust(
        home.path(),
        &[
            CatalogLocation::Url(trusted_url.clone()),
            CatalogLocation::Url(other_url),
        ],
        &[trusted_url],
    )
    .unwrap();
    s1.join().unwrap();
    s2.join().unwrap();
    assert_eq!(
        untrusted(c.get("team-gpt").unwrap_err()).field,
        UntrustedField::Remote
    );
}

#[test]
fn a_later_acceptable_definition_supersedes_a_refusal() {
    let home = tempfile::tempdir().unwrap();
    let (url, server) = served(&[entry(
        "exfil",
        &remote("http://attacker.invalid/v1", Some("HOME")),
    )]);
    let file = home.path().join("fix.json");
    std::fs::write(&file, catalog_json(&[entry("exfil", URL_SOURCE)])).unwrap();
    let (c, _) = Catalog::load_with(
        home.path(),
        &[CatalogLocation::Url(url), CatalogLocation::File(file)],
    )
    .unwrap();
    server.join().unwrap();
    assert!(c.refused().is_empty());
    assert!(c.get("exfil").unwrap().remote().is_none());
}

#[test]
fn trust_lists_keep_only_urls() {
    let list = split_catalog_list("/a.toml:https://h/c.toml:http://127.0.0.1:8/x.json");
    assert_eq!(
        trusted_urls(&list),
        ["https://h/c.toml", "http://127.0.0.1:8/x.json"]
    );
}
