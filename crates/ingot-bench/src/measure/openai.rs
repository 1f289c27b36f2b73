//! What the two OpenAI-compatible clients share: the benchmarked server
//! ([`HttpTarget`](crate::measure::target::HttpTarget)) and the judge's endpoint
//! ([`HttpJudge`](crate::score::judge::HttpJudge)): the base URL, its query, the key, and the
//! authenticated POST. Their clients come from [`crate::util::http::client_builder`].

/// An OpenAI-compatible server's address.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL ending in `/v1`, without the query.
    base: String,
    /// The endpoint's query string (`?key=...` for proxies that authenticate that way), kept
    /// on every request.
    query: Option<String>,
    api_key: Option<String>,
}

impl Endpoint {
    /// `endpoint` with or without the trailing `/v1`; a query string is kept apart and sent
    /// with every request (`http://h/v1?api-version=1` asks
    /// `http://h/v1/chat/completions?api-version=1`). Targets and judges both read their URL
    /// here.
    pub fn new(endpoint: &str, api_key: Option<String>) -> Self {
        let (base, query) = split_query(endpoint);
        Self {
            base: normalize_base(base),
            query: query.map(str::to_string),
            api_key,
        }
    }

    /// The base URL (ending in `/v1`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base/path`, with the endpoint's query.
    pub fn url(&self, path: &str) -> String {
        match &self.query {
            Some(q) => format!("{}/{path}?{q}", self.base),
            None => format!("{}/{path}", self.base),
        }
    }

    /// A POST to `url` on `client`, with the key as a bearer token.
    pub fn post(&self, client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
        let req = client.post(url);
        match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }
}

/// `http://h/v1?key=x` → (`http://h/v1`, `key=x`).
pub(crate) fn split_query(endpoint: &str) -> (&str, Option<&str>) {
    match endpoint.split_once('?') {
        Some((b, q)) => (b, Some(q).filter(|q| !q.is_empty())),
        None => (endpoint, None),
    }
}

pub(crate) fn normalize_base(endpoint: &str) -> String {
    let e = endpoint.trim_end_matches('/');
    if e.ends_with("/v1") {
        e.to_string()
    } else {
        format!("{e}/v1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_goes_before_the_query() {
        let url = |e: &str| Endpoint::new(e, None).url("chat/completions");
        assert_eq!(
            url("http://h/v1?api-version=2024-06-01"),
            "http://h/v1/chat/completions?api-version=2024-06-01"
        );
        assert_eq!(
            url("http://h/?k=1&b=2"),
            "http://h/v1/chat/completions?k=1&b=2"
        );
        assert_eq!(url("http://h/v1/"), "http://h/v1/chat/completions");
        assert_eq!(url("http://h:8/x?"), "http://h:8/x/v1/chat/completions");
        assert_eq!(Endpoint::new("http://h/v1?k=1", None).base(), "http://h/v1");
    }
}
