//! Keeps credentials out of everything a run writes: endpoint URLs with `user:pass@` or a
//! token in the query reach results.json, requests.jsonl and the reports only redacted.
//!
//! The rules are ingot-fetch's [`redact_url`] (one list of secret-looking query parameters for
//! the whole project); this module adds [`redact_urls_in`] for free text such as reqwest's
//! error messages, which quote the URL they failed on.

use std::sync::OnceLock;

/// `url` with its user name, password and secret-looking query values replaced by `***`
/// (ingot-fetch's rules). A URL with nothing to hide is returned exactly as given, so that
/// reports keep the endpoint as the user wrote it (no trailing `/` added by re-serialising).
pub fn redact_url(url: &str) -> String {
    let r = ingot_fetch::redact_url(url);
    if r.contains("***") {
        r
    } else {
        url.to_string()
    }
}

/// `text` with every `scheme://...` URL in it redacted (see [`redact_url`]). Text without a
/// URL is returned unchanged.
pub fn redact_urls_in(text: &str) -> String {
    static URL: OnceLock<regex::Regex> = OnceLock::new();
    let re = URL.get_or_init(|| {
        // A URL runs until whitespace, a quote, or the closing parenthesis reqwest puts
        // around it ("error sending request for url (http://...)").
        regex::Regex::new(r#"[A-Za-z][A-Za-z0-9+.\-]*://[^\s()<>"'`]+"#).expect("valid regex")
    });
    if !text.contains("://") {
        return text.to_string();
    }
    re.replace_all(text, |c: &regex::Captures<'_>| redact_url(&c[0]))
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_inside_messages_lose_their_credentials() {
        let msg = "request failed: error sending request for url \
                   (http://bob:hunter2@10.0.0.1:8080/v1/chat/completions?api_key=s3cret): \
                   connection refused";
        let r = redact_urls_in(msg);
        assert!(!r.contains("hunter2") && !r.contains("s3cret"), "{r}");
        assert!(r.contains("10.0.0.1:8080/v1/chat/completions"), "{r}");
        assert!(r.ends_with("): connection refused"), "{r}");
        assert_eq!(redact_urls_in("HTTP 500: boom"), "HTTP 500: boom");
        assert_eq!(redact_url("http://127.0.0.1:5273"), "http://127.0.0.1:5273");
        assert_eq!(redact_url("http://u:p@h:1/v1"), "http://***@h:1/v1");
    }
}
