//! Who may drive the server: the `Host` it is addressed by, the web page a request comes
//! from, and the content type of JSON bodies.
//!
//! A server on 127.0.0.1 without an API key is still reachable by every web page the user
//! opens: a page can send "simple" cross-site requests (`text/plain` bodies, no preflight),
//! and a DNS-rebinding page can even read the answers, because its own host name resolves
//! to 127.0.0.1. So, for every route of the router:
//!
//! - without an API key, a request whose `Host` is not a loopback name, a loopback IP or the
//!   bind address gets a 403 `forbidden_host` (rebinding pages send their own host name);
//! - a request from a web page of another origin (`Origin`, or `Sec-Fetch-Site: cross-site`
//!   / `same-site` when a browser sends no `Origin`) gets a 403 `forbidden_origin` unless
//!   `cors_origins` allows that origin; allowed origins get CORS answers (preflights
//!   included, before authentication, which browsers never send on a preflight);
//! - a body that is not `application/json` gets a 415 (checked in the body reader:
//!   [`check_json_content_type`]).
//!
//! Clients that are not browsers send no `Origin` or `Sec-Fetch-Site`, and are unaffected.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use ingot_api::ApiError;

use crate::config::{ServeError, ServerConfig};
use crate::AppState;

/// Methods a preflight may ask for: the API only uses these.
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Request headers a page may send: the key and the JSON content type.
const ALLOW_HEADERS: &str = "Authorization, Content-Type";
/// How long browsers may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";
/// Longest piece of a header value quoted back in an error message.
const QUOTE_MAX: usize = 200;

/// The origin and host rules of one server, fixed at start-up.
#[derive(Debug, Clone)]
pub(crate) struct OriginPolicy {
    /// Allowed origins, normalized ([`normalize_origin`]).
    allowed: Vec<String>,
    /// `--cors-origin '*'`: any origin may call (the `Host` check still applies).
    any: bool,
    /// Without an API key: the host names, besides loopback names and IPs, that requests may
    /// address (the configured host and the bound IP). `None` with a key: any host.
    hosts: Option<Vec<String>>,
}

/// `Scheme://host[:port]`, lowercased, without a trailing slash; `None` for anything else
/// (paths, queries, `null`).
fn normalize_origin(origin: &str) -> Option<String> {
    let o = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = o.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority_ok = !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@', ' ', ','])
        && !authority.starts_with(':');
    (scheme_ok && authority_ok).then_some(o)
}

/// The host of a `Host` header or URI authority (`name`, `1.2.3.4`, `[::1]`), lowercased,
/// without its port, brackets or trailing dot.
fn host_name(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default().to_string()
    } else if a.matches(':').count() == 1 {
        a.split(':').next().unwrap_or_default().to_string()
    } else {
        // No port, or a bare IPv6 address (not valid in a Host header, but unambiguous).
        a
    };
    host.trim_end_matches('.').to_string()
}

fn is_loopback_name(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

fn quote(value: &str) -> String {
    if value.chars().count() <= QUOTE_MAX {
        value.to_string()
    } else {
        let cut: String = value.chars().take(QUOTE_MAX).collect();
        format!("{cut}...")
    }
}

impl OriginPolicy {
    /// Checks `cors_origins` and fixes the rules for a server bound to `bound`.
    pub(crate) fn new(config: &ServerConfig, bound: SocketAddr) -> Result<Self, ServeError> {
        let mut allowed = Vec::new();
        let mut any = false;
        for o in &config.cors_origins {
            let o = o.trim();
            if o.is_empty() {
                continue;
            }
            if o == "*" {
                any = true;
                continue;
            }
            match normalize_origin(o) {
                Some(n) => allowed.push(n),
                None => {
                    return Err(ServeError::InvalidConfig(format!(
                        "invalid CORS origin `{o}`: expected scheme://host[:port] (e.g. http://localhost:3000, no path) or *"
                    )))
                }
            }
        }
        let hosts = config.api_key.is_none().then(|| {
            let mut h = vec![host_name(&config.host), bound.ip().to_string()];
            h.dedup();
            h
        });
        Ok(Self {
            allowed,
            any,
            hosts,
        })
    }

    /// Whether browsers need `Vary: Origin`: answers differ by origin only when some are
    /// allowed.
    fn varies(&self) -> bool {
        self.any || !self.allowed.is_empty()
    }

    /// The request's host (`Host`, or the URI authority of HTTP/2 requests).
    fn request_host(req: &Request) -> Option<String> {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()))
    }

    /// Without a key, the host must be one the server is known by. A request without any
    /// host (HTTP/1.0 tools) passes: browsers always send one, and rebinding needs one.
    fn check_host(&self, host: Option<&str>) -> Result<(), ApiError> {
        let (Some(hosts), Some(host)) = (&self.hosts, host) else {
            return Ok(());
        };
        let name = host_name(host);
        if is_loopback_name(&name) || hosts.iter().any(|h| *h == name) {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            message: format!(
                "refusing a request for host `{}`: without an API key this server only answers requests addressed to localhost, 127.0.0.1 or [::1] (or {}), which keeps web pages from reaching it through DNS rebinding. Use one of those in the URL, or set an API key (--api-key / INGOT_API_KEY)",
                quote(host),
                hosts.join(", ")
            ),
            code: "forbidden_host".into(),
        })
    }

    /// `Ok(Some(origin))` for an allowed cross-origin request (its answer gets CORS
    /// headers), `Ok(None)` for a request that is not cross-origin, `Err` for a page of
    /// another origin that is not allowed.
    fn check_origin(
        &self,
        headers: &HeaderMap,
        host: Option<&str>,
    ) -> Result<Option<HeaderValue>, ApiError> {
        let refuse = |who: &str| {
            ApiError::Forbidden {
            message: format!(
                "refusing a request from a web page ({who}): pages of other sites may not use this server. To let a page at that origin call it, start the server with --cors-origin ORIGIN (or INGOT_CORS_ORIGIN)"
            ),
            code: "forbidden_origin".into(),
        }
        };
        if let Some(origin) = headers.get(header::ORIGIN) {
            let text = origin.to_str().unwrap_or_default();
            let Some(norm) = normalize_origin(text) else {
                // `null` (sandboxed frames, file: pages) and garbage.
                return Err(refuse(&format!("origin `{}`", quote(text))));
            };
            if self.any || self.allowed.contains(&norm) {
                return Ok(Some(origin.clone()));
            }
            let same_origin = host.is_some_and(|h| {
                norm.split_once("://")
                    .is_some_and(|(_, authority)| authority == h.trim().to_ascii_lowercase())
            });
            if same_origin {
                return Ok(None);
            }
            return Err(refuse(&format!("origin `{}`", quote(text))));
        }
        // No Origin (GETs from <img>, <script>, no-cors fetches in some browsers): the
        // fetch metadata still tells a page of another site from a typed-in URL (`none`)
        // or this server's own origin (`same-origin`). `same-site` is another port of
        // localhost, which is another origin.
        match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some(site @ ("cross-site" | "same-site")) => {
                Err(refuse(&format!("Sec-Fetch-Site: {site}, no Origin")))
            }
            _ => Ok(None),
        }
    }
}

/// The preflight answer for an allowed origin.
fn preflight(origin: HeaderValue, req_headers: &HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    // Chrome's Private Network Access: a public page calling a loopback server asks for
    // this first. The origin is allowed explicitly, so say yes.
    if req_headers
        .get("access-control-request-private-network")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"))
    {
        h.insert(
            "access-control-allow-private-network",
            HeaderValue::from_static("true"),
        );
    }
    h.append(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    );
    resp
}

/// The middleware: host and origin checks, preflights, and CORS headers on the answers
/// (SSE streams included: headers go out before the body).
pub(crate) async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let policy = &st.origins;
    let host = OriginPolicy::request_host(&req);
    if let Err(e) = policy.check_host(host.as_deref()) {
        tracing::warn!(host = host.as_deref().unwrap_or(""), path = %req.uri().path(), "refused a request for a foreign host");
        return e.into_response();
    }
    let allowed = match policy.check_origin(req.headers(), host.as_deref()) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, path = %req.uri().path(), "refused a cross-site request");
            return e.into_response();
        }
    };
    if let Some(origin) = &allowed {
        if req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return preflight(origin.clone(), req.headers());
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(origin) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
    }
    if policy.varies() {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

/// A request body that is not JSON by its `Content-Type` gets a 415. Empty bodies pass
/// (`curl -X POST .../load`). `application/json` with parameters (`; charset=utf-8`)
/// passes; the "simple" types a page can send without a preflight (`text/plain`, forms)
/// and a missing type do not.
///
/// Ollama's routes (`/api/*`) are the exception for clients that are not browsers: Ollama
/// ignores the type and its documented examples are `curl ... -d '{...}'`, which sends a form
/// type. A request with neither `Origin` nor `Sec-Fetch-Site` cannot come from a page (every
/// current browser sends one of them on a POST), so it is taken as JSON whatever its type.
pub(crate) fn check_json_content_type(
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(());
    }
    let from_browser =
        headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site");
    if path.starts_with("/api/") && !from_browser {
        return Ok(());
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = ct.as_deref().map(|c| {
        c.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    if essence.as_deref() == Some("application/json") {
        return Ok(());
    }
    let got = match &ct {
        Some(c) => format!("`{}`", quote(c)),
        None => "none".to_string(),
    };
    Err(ApiError::UnsupportedMediaType(format!(
        "request bodies must be JSON sent with `Content-Type: application/json` (got {got}); with curl, add -H 'Content-Type: application/json' or use --json"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(key: bool, origins: &[&str]) -> OriginPolicy {
        let config = ServerConfig {
            api_key: key.then(|| "k".to_string()),
            cors_origins: origins.iter().map(|s| s.to_string()).collect(),
            ..ServerConfig::default()
        };
        OriginPolicy::new(&config, "127.0.0.1:5273".parse().unwrap()).unwrap()
    }

    #[test]
    fn loopback_hosts_pass_and_others_are_refused_without_a_key() {
        let p = policy(false, &[]);
        for ok in [
            "localhost",
            "localhost:5273",
            "LOCALHOST.:80",
            "127.0.0.1",
            "127.0.0.1:5273",
            "[::1]",
            "[::1]:5273",
            "127.1.2.3:9",
        ] {
            assert!(p.check_host(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:5273",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1",
            "[::2]:5273",
        ] {
            let e = p.check_host(Some(bad)).unwrap_err();
            assert_eq!(e.status(), StatusCode::FORBIDDEN, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        // A key protects the server by itself: any host.
        assert!(policy(true, &[]).check_host(Some("evil.example")).is_ok());
    }

    #[test]
    fn origins_are_refused_unless_same_origin_or_allowed() {
        let p = policy(false, &["http://localhost:3000/"]);
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        let host = Some("127.0.0.1:5273");
        assert!(p.check_origin(&h(&[]), host).unwrap().is_none());
        assert!(p
            .check_origin(&h(&[("origin", "http://127.0.0.1:5273")]), host)
            .unwrap()
            .is_none());
        assert_eq!(
            p.check_origin(&h(&[("origin", "http://LOCALHOST:3000")]), host)
                .unwrap()
                .unwrap(),
            "http://LOCALHOST:3000"
        );
        for bad in [
            "https://evil.example",
            "http://localhost:8000",
            "null",
            "http://127.0.0.1:5273.evil.example",
        ] {
            let mut m = HeaderMap::new();
            m.insert("origin", HeaderValue::from_str(bad).unwrap());
            let e = p.check_origin(&m, host).unwrap_err();
            assert_eq!(e.code(), Some("forbidden_origin"), "{bad}");
        }
        for site in ["cross-site", "same-site"] {
            let mut m = HeaderMap::new();
            m.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert!(p.check_origin(&m, host).is_err(), "{site}");
        }
        for site in ["same-origin", "none"] {
            let mut m = HeaderMap::new();
            m.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert!(p.check_origin(&m, host).unwrap().is_none(), "{site}");
        }
        let any = policy(false, &["*"]);
        assert!(any
            .check_origin(&h(&[("origin", "https://evil.example")]), host)
            .unwrap()
            .is_some());
    }

    #[test]
    fn invalid_cors_origins_are_refused_at_start() {
        for bad in ["localhost:3000", "http://h/path", "http://", "null"] {
            let config = ServerConfig {
                cors_origins: vec![bad.into()],
                ..ServerConfig::default()
            };
            assert!(
                OriginPolicy::new(&config, "127.0.0.1:1".parse().unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_json_bodies_pass() {
        let mut h = HeaderMap::new();
        assert!(check_json_content_type("/v1/chat/completions", &h, b"").is_ok());
        assert!(check_json_content_type("/v1/chat/completions", &h, b" \n").is_ok());
        assert!(check_json_content_type("/v1/chat/completions", &h, b"{}").is_err());
        for ok in ["application/json", "Application/JSON; charset=utf-8"] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ok));
            assert!(
                check_json_content_type("/v1/chat/completions", &h, b"{}").is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(bad));
            let e = check_json_content_type("/v1/chat/completions", &h, b"{}").unwrap_err();
            assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad}");
        }
    }

    /// Ollama's documented `curl -d` examples send a form type; only a browser (which sends
    /// `Origin` or `Sec-Fetch-Site`) is held to JSON on `/api/*`.
    #[test]
    fn ollama_routes_take_curl_form_bodies_but_not_from_a_page() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert!(check_json_content_type("/api/chat", &h, b"{}").is_ok());
        assert!(check_json_content_type("/v1/chat/completions", &h, b"{}").is_err());
        for (name, value) in [
            ("origin", "http://127.0.0.1:5273"),
            ("sec-fetch-site", "same-origin"),
        ] {
            let mut h = h.clone();
            h.insert(name, HeaderValue::from_static(value));
            let e = check_json_content_type("/api/chat", &h, b"{}").unwrap_err();
            assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}");
        }
    }
}
