//! What identifies the server's version of a partially downloaded file, so that a resume asks
//! for the rest of that same version (`If-Range`) and a file changed on the server meanwhile
//! restarts instead of being spliced from two versions (issue 12). Without a known checksum
//! nothing else would catch such a splice.
//!
//! Kept beside the partial (`partials/<key>.validator`, see
//! [`ingot_cache::DownloadLock::validator_path`]) so that a resume by a later process is
//! protected too. The format is a few `name value` lines.

use std::path::Path;

use reqwest::header::{self, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validator {
    /// Which URL it describes (a hash: URLs may carry credentials). Partials of a known
    /// checksum are shared by every source of that file, and each server has its own ETags.
    url_id: String,
    /// A strong ETag (weak ones may not be used with `If-Range`).
    etag: Option<String>,
    last_modified: Option<String>,
    /// The file's full length.
    total: Option<u64>,
}

fn url_id(url: &reqwest::Url) -> String {
    hex::encode(&Sha256::digest(url.as_str().as_bytes())[..8])
}

impl Validator {
    /// From the response that started the partial (200, or 206 when nothing is recorded);
    /// `None` when it says nothing that identifies the version.
    pub(crate) fn from_response(
        url: &reqwest::Url,
        headers: &HeaderMap,
        total: Option<u64>,
    ) -> Option<Validator> {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty() && !v.contains(['\r', '\n']))
        };
        let etag = text(header::ETAG).filter(|e| !e.starts_with("W/"));
        let last_modified = text(header::LAST_MODIFIED);
        if etag.is_none() && last_modified.is_none() && total.is_none() {
            return None;
        }
        Some(Validator {
            url_id: url_id(url),
            etag,
            last_modified,
            total,
        })
    }

    /// The `If-Range` value: the ETag, else the Last-Modified date.
    pub(crate) fn if_range(&self) -> Option<HeaderValue> {
        let v = self.etag.as_deref().or(self.last_modified.as_deref())?;
        HeaderValue::from_str(v).ok()
    }

    /// The file's full length when the version was recorded.
    pub(crate) fn total(&self) -> Option<u64> {
        self.total
    }

    /// The validator recorded for `url` at `path`; `None` when there is none, it is for
    /// another URL, or it cannot be read (then a resume simply goes without `If-Range`).
    pub(crate) fn load(path: &Path, url: &reqwest::Url) -> Option<Validator> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut v = Validator {
            url_id: String::new(),
            etag: None,
            last_modified: None,
            total: None,
        };
        for line in text.lines() {
            let (name, value) = line.split_once(' ')?;
            match name {
                "url" => v.url_id = value.to_string(),
                "etag" => v.etag = Some(value.to_string()),
                "last-modified" => v.last_modified = Some(value.to_string()),
                "total" => v.total = Some(value.parse().ok()?),
                _ => {}
            }
        }
        (v.url_id == url_id(url)).then_some(v)
    }

    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = format!("url {}\n", self.url_id);
        if let Some(e) = &self.etag {
            text.push_str(&format!("etag {e}\n"));
        }
        if let Some(d) = &self.last_modified {
            text.push_str(&format!("last-modified {d}\n"));
        }
        if let Some(t) = self.total {
            text.push_str(&format!("total {t}\n"));
        }
        std::fs::write(path, text)
    }
}

/// Records `validator` at `path` (or removes what is there when there is none). A failure
/// only loses the protection of later resumes, so it is logged, not fatal.
pub(crate) fn record(path: &Path, validator: Option<&Validator>) {
    let result = match validator {
        Some(v) => v.save(path),
        None => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    };
    if let Err(e) = result {
        tracing::debug!(path = %path.display(), "cannot record the download's validator: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_belongs_to_one_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.validator");
        let url = reqwest::Url::parse("http://127.0.0.1:1/m.gguf?sig=secret").unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::ETAG, "\"v1\"".parse().unwrap());
        h.insert(
            header::LAST_MODIFIED,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        let v = Validator::from_response(&url, &h, Some(42)).unwrap();
        assert_eq!(v.if_range().unwrap(), "\"v1\"");
        record(&path, Some(&v));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(Validator::load(&path, &url), Some(v.clone()));
        let other = reqwest::Url::parse("http://127.0.0.1:2/m.gguf").unwrap();
        assert_eq!(Validator::load(&path, &other), None);
        record(&path, None);
        assert!(!path.exists());

        // A weak ETag cannot be used with If-Range: the date is.
        h.insert(header::ETAG, "W/\"v1\"".parse().unwrap());
        let v = Validator::from_response(&url, &h, None).unwrap();
        assert_eq!(v.if_range().unwrap(), "Wed, 21 Oct 2026 07:28:00 GMT");
        assert_eq!(
            Validator::from_response(&url, &HeaderMap::new(), None),
            None
        );
    }
}
