//! Extra catalogs: files or http(s) URLs, and the `INGOT_CATALOG` list syntax.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{parse, CatalogError, Format, ModelEntry, Origin, Result};

/// Largest catalog accepted from a URL: catalogs are a few KB, and a server that sends more
/// is broken or hostile.
const MAX_URL_CATALOG_BYTES: usize = 8 << 20;
const URL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where an extra catalog comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogLocation {
    /// A TOML or JSON file.
    File(PathBuf),
    /// An `http://` or `https://` URL serving a TOML or JSON catalog.
    Url(String),
}

impl CatalogLocation {
    /// A URL if `s` starts with `http://` or `https://` (any case), else a file path.
    pub fn parse(s: &str) -> CatalogLocation {
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            CatalogLocation::Url(s.to_string())
        } else {
            CatalogLocation::File(PathBuf::from(s))
        }
    }

    /// Reads (or fetches) and validates the catalog. A URL is fetched with a 30 s timeout;
    /// its entries may not name local files.
    pub fn load(&self) -> Result<Vec<ModelEntry>> {
        match self {
            CatalogLocation::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
                    path: path.clone(),
                    source,
                })?;
                parse(
                    &text,
                    Format::detect(path, &text),
                    Origin::File(path.clone()),
                )
            }
            CatalogLocation::Url(url) => {
                let shown = redact(url);
                let text = fetch(url).map_err(|message| CatalogError::Fetch {
                    url: shown.clone(),
                    message,
                })?;
                // The URL's path decides the format like a file name would (query ignored).
                let url_path = url.split(['?', '#']).next().unwrap_or(url);
                parse(
                    &text,
                    Format::detect(Path::new(url_path), &text),
                    Origin::Url(shown),
                )
            }
        }
    }
}

impl std::fmt::Display for CatalogLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogLocation::File(p) => write!(f, "{}", p.display()),
            CatalogLocation::Url(u) => f.write_str(&redact(u)),
        }
    }
}

/// `https://user:secret@host/x` -> `https://***@host/x`: catalog URLs end up in warnings
/// and error messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// GETs `url` as text. Runs on its own thread with its own runtime, so it works the same
/// from plain code and from inside an async runtime (the server loads catalogs there).
fn fetch(url: &str) -> std::result::Result<String, String> {
    let url = url.to_string();
    let worker = std::thread::spawn(move || -> std::result::Result<String, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start an HTTP runtime: {e}"))?;
        rt.block_on(async {
            let client = reqwest::Client::builder()
                .user_agent(concat!("ingot/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .timeout(URL_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?;
            let mut response = client
                .get(&url)
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| e.without_url().to_string())?
            {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_URL_CATALOG_BYTES {
                    return Err(format!(
                        "the response is larger than {MAX_URL_CATALOG_BYTES} bytes"
                    ));
                }
            }
            String::from_utf8(body).map_err(|_| "the response is not UTF-8 text".to_string())
        })
    });
    worker
        .join()
        .unwrap_or_else(|_| Err("the download thread panicked".to_string()))
}

/// The list separator of `INGOT_CATALOG`: the platform's `PATH` separator.
const SEPARATOR: char = if cfg!(windows) { ';' } else { ':' };

/// Splits an `INGOT_CATALOG` value into catalogs. Entries are separated like `PATH`
/// (`:` on Unix, `;` on Windows); a `:` that belongs to a URL (`https://`, a port,
/// an IPv6 address) does not split. Empty entries are ignored.
///
/// ```
/// use ingot_catalog::{split_catalog_list, CatalogLocation};
/// let list = split_catalog_list("/a/x.toml:http://127.0.0.1:8080/c.json:b.toml");
/// assert_eq!(list, vec![
///     CatalogLocation::File("/a/x.toml".into()),
///     CatalogLocation::Url("http://127.0.0.1:8080/c.json".into()),
///     CatalogLocation::File("b.toml".into()),
/// ]);
/// ```
pub fn split_catalog_list(list: &str) -> Vec<CatalogLocation> {
    let pieces: Vec<&str> = list.split(SEPARATOR).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let mut item = pieces[i].to_string();
        i += 1;
        let scheme = item.to_ascii_lowercase();
        if SEPARATOR == ':'
            && (scheme == "http" || scheme == "https")
            && pieces.get(i).is_some_and(|p| p.starts_with("//"))
        {
            item.push(':');
            item.push_str(pieces[i]);
            i += 1;
            // Inside the authority (no `/` after `//` yet), a `:` starts a port or is part
            // of a bracketed IPv6 address.
            while let Some(next) = pieces.get(i) {
                let authority = &item[item.find("//").map_or(0, |p| p + 2)..];
                let in_brackets = authority.contains('[') && !authority.contains(']');
                let open = !authority.contains('/');
                let port = next.starts_with(|c: char| c.is_ascii_digit());
                if in_brackets || (open && port) {
                    item.push(':');
                    item.push_str(next);
                    i += 1;
                } else {
                    break;
                }
            }
        }
        if !item.is_empty() {
            out.push(CatalogLocation::parse(&item));
        }
    }
    out
}

/// Joins catalogs into one `INGOT_CATALOG` value (the inverse of [`split_catalog_list`]).
pub fn join_catalog_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| s.as_ref())
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{serve_http, USER_TOML};
    use crate::Catalog;

    #[test]
    fn splits_paths_and_urls() {
        let f = |s: &str| CatalogLocation::File(s.into());
        let u = |s: &str| CatalogLocation::Url(s.into());
        assert_eq!(
            split_catalog_list("a.toml::/b/c.json:"),
            vec![f("a.toml"), f("/b/c.json")]
        );
        assert_eq!(
            split_catalog_list(
                "https://h/x.toml:HTTP://h:1/y:http://[::1]:8080/z.json:http://h/p:123/q.toml"
            ),
            vec![
                u("https://h/x.toml"),
                u("HTTP://h:1/y"),
                u("http://[::1]:8080/z.json"),
                u("http://h/p"),
                f("123/q.toml"),
            ]
        );
        // A file literally named "http" is still a file.
        assert_eq!(split_catalog_list("http:x"), vec![f("http"), f("x")]);
        let items = ["/a.toml", "http://127.0.0.1:9/c.toml"];
        assert_eq!(
            split_catalog_list(&join_catalog_list(&items)),
            vec![f("/a.toml"), u("http://127.0.0.1:9/c.toml")]
        );
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact("https://u:p@h/x?a=b@c"), "https://***@h/x?a=b@c");
        assert_eq!(redact("http://h:1/x"), "http://h:1/x");
    }

    #[test]
    fn issue7_url_catalog_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (base, server) = serve_http(404, "nope".into());
        let err = Catalog::load_with(
            dir.path(),
            &[CatalogLocation::Url(format!("{base}/c.toml"))],
        )
        .unwrap_err();
        server.join().unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains("cannot fetch catalog") && msg.contains("404"),
            "{msg}"
        );

        // Nothing listens on port 1.
        let err = CatalogLocation::Url("http://127.0.0.1:1/c.json".into())
            .load()
            .unwrap_err();
        assert!(matches!(err, CatalogError::Fetch { .. }), "{err}");

        // Credentials in the URL stay out of messages.
        let err = CatalogLocation::Url("https://user:pw@127.0.0.1:1/c.toml".into())
            .load()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            !msg.contains("pw") && msg.contains("***@127.0.0.1:1"),
            "{msg}"
        );

        // A catalog served over HTTP may not point at files of this machine.
        let (base, server) = serve_http(200, USER_TOML.to_string());
        let err = CatalogLocation::Url(format!("{base}/c.toml"))
            .load()
            .unwrap_err();
        server.join().unwrap();
        assert!(err.to_string().contains("cannot name local files"), "{err}");
    }
}
