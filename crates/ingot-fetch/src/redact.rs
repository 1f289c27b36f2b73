//! Keeps credentials out of messages.

/// Query parameters whose values are hidden: tokens, signatures and keys of signed URLs.
const SECRET_PARAMS: &[&str] = &[
    "token",
    "key",
    "sig",
    "secret",
    "pass",
    "auth",
    "credential",
    "policy",
    "amz",
];

/// `url` with any user name/password and secret-looking query values replaced by `***`,
/// for error messages and logs. Unparseable input is returned with everything after the
/// scheme's host hidden, to be safe.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        return match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_string(),
        };
    };
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("***");
        let _ = u.set_password(None);
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let lk = k.to_ascii_lowercase();
                let secret = SECRET_PARAMS.iter().any(|s| lk.contains(s));
                (
                    k.into_owned(),
                    if secret {
                        "***".to_string()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue2_credentials_are_redacted() {
        assert_eq!(
            redact_url(
                "https://user:hunter2@example.com/m.gguf?download=1&token=abc&X-Amz-Signature=zz"
            ),
            "https://***@example.com/m.gguf?download=1&token=***&X-Amz-Signature=***"
        );
        assert_eq!(
            redact_url("https://example.com/a/b.gguf"),
            "https://example.com/a/b.gguf"
        );
        assert_eq!(redact_url("not a url"), "***");
        assert!(!redact_url("https://h/x?api_key=s3cret").contains("s3cret"));
    }
}
