//! Embedding requests (issue 15): a batch of texts sent to an in-process model's `embed()` or
//! to an endpoint's `POST /v1/embeddings`, timed from the send to the whole answer, with the
//! vectors checked (declared dimension, finite values, unit length when normalized) and then
//! dropped. The executors of [`crate::measure::exec`] drive it like any [`Target`]: request
//! `i` carries the texts of [`crate::spec::embed::batch_for`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use ingot_core::embed::{EmbedInput, EmbedRequest};
use ingot_core::LoadedModel;

use crate::measure::openai::Endpoint;
use crate::measure::record::{CountSource, EmbedRecord, RequestRecord};
use crate::measure::response::{error_chain, ms, truncate};
use crate::measure::target::{Job, Target};
use crate::spec::embed::batch_for;

/// Largest deviation of a normalized vector's L2 norm from 1 that still passes.
pub const NORM_TOLERANCE: f64 = 1e-3;

/// What vectors should look like (from the model's `embedding_info`, or unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Expected {
    pub dimensions: Option<u32>,
    pub normalized: Option<bool>,
}

/// Where embedding requests go.
pub enum EmbedBackend {
    /// A model loaded by ingot's engine (its `embed` runs on a blocking thread).
    InProcess(Arc<dyn LoadedModel>),
    /// An OpenAI-compatible server's `/v1/embeddings`.
    Http {
        client: reqwest::Client,
        endpoint: Endpoint,
        model: String,
    },
}

/// Sends batches of texts and measures each request.
pub struct EmbedTarget {
    backend: EmbedBackend,
    texts: Vec<Arc<str>>,
    batch: usize,
    timeout_s: f64,
    expected: Expected,
}

impl EmbedTarget {
    /// `texts` are cycled into batches of `batch` (see [`crate::spec::embed`]).
    pub fn new(
        backend: EmbedBackend,
        texts: Vec<Arc<str>>,
        batch: usize,
        timeout_s: f64,
        expected: Expected,
    ) -> Self {
        Self {
            backend,
            texts,
            batch: batch.max(1),
            timeout_s,
            expected,
        }
    }

    /// An endpoint's `/v1/embeddings` (`url` with or without `/v1`), pooled connections.
    pub fn http(
        url: &str,
        model: &str,
        api_key: Option<String>,
        texts: Vec<Arc<str>>,
        batch: usize,
        timeout_s: f64,
    ) -> anyhow::Result<Self> {
        let client = crate::util::http::client_builder()
            .tcp_nodelay(true)
            .build()?;
        let backend = EmbedBackend::Http {
            client,
            endpoint: Endpoint::new(url, api_key),
            model: model.to_string(),
        };
        Ok(Self::new(
            backend,
            texts,
            batch,
            timeout_s,
            Expected::default(),
        ))
    }

    async fn run(&self, texts: Vec<Arc<str>>, t0: Instant, r: &mut RequestRecord) {
        let outcome = match &self.backend {
            EmbedBackend::InProcess(model) => {
                r.send_ms = ms(t0, Instant::now());
                in_process(model.clone(), texts, self.timeout_s).await
            }
            EmbedBackend::Http {
                client,
                endpoint,
                model,
            } => {
                let body = serde_json::json!({
                    "model": model,
                    "input": texts.iter().map(|t| t.as_ref()).collect::<Vec<_>>(),
                    "encoding_format": "float",
                });
                let req = endpoint
                    .post(client, &endpoint.url("embeddings"))
                    .json(&body);
                r.send_ms = ms(t0, Instant::now());
                http(req, t0, r).await
            }
        };
        r.end_ms = ms(t0, Instant::now());
        match outcome {
            Err(e) => r.error = Some(e),
            Ok(got) => self.record(got, r),
        }
    }

    fn record(&self, got: Got, r: &mut RequestRecord) {
        let e = r.embedding.get_or_insert_with(EmbedRecord::default);
        e.vectors = got.vectors.len() as u32;
        e.dimensions = got.vectors.first().map(|v| v.len() as u32);
        e.pooling = got.pooling;
        e.normalized = got.normalized.or(self.expected.normalized);
        let dims = self.expected.dimensions.or(e.dimensions);
        let (invalid, problem) = check_vectors(&got.vectors, dims, e.normalized == Some(true));
        e.invalid = invalid;
        e.problem = problem;
        r.prompt_tokens = got.prompt_tokens;
        r.count_source = got.source;
        if got.vectors.len() as u32 != e.inputs {
            r.error = Some(format!(
                "{} vector(s) for {} input(s)",
                got.vectors.len(),
                e.inputs
            ));
        }
    }
}

/// An answer's vectors and counts.
struct Got {
    vectors: Vec<Vec<f32>>,
    prompt_tokens: Option<u32>,
    source: CountSource,
    pooling: Option<String>,
    normalized: Option<bool>,
}

async fn in_process(
    model: Arc<dyn LoadedModel>,
    texts: Vec<Arc<str>>,
    timeout_s: f64,
) -> Result<Got, String> {
    let req = EmbedRequest {
        inputs: texts
            .iter()
            .map(|t| EmbedInput::Text(t.to_string()))
            .collect(),
        // As `/v1/embeddings` does: an input longer than the context is refused, not cut.
        truncate: false,
        cancel: Default::default(),
    };
    let cancel = req.cancel.clone();
    let task = tokio::task::spawn_blocking(move || model.embed(req));
    let timeout = Duration::from_secs_f64(timeout_s.max(0.001));
    match tokio::time::timeout(timeout, task).await {
        Err(_) => {
            cancel.cancel();
            Err(format!("timeout after {timeout_s:.0} s"))
        }
        Ok(Err(e)) => Err(format!("embedding task failed: {e}")),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Ok(Ok(emb))) => Ok(Got {
            prompt_tokens: Some(u32::try_from(emb.prompt_tokens).unwrap_or(u32::MAX)),
            source: CountSource::Engine,
            pooling: Some(emb.pooling.as_str().to_string()),
            normalized: Some(emb.normalized),
            vectors: emb.vectors,
        }),
    }
}

async fn http(
    req: reqwest::RequestBuilder,
    t0: Instant,
    r: &mut RequestRecord,
) -> Result<Got, String> {
    let resp = req
        .send()
        .await
        .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
    r.first_byte_ms = Some(ms(t0, Instant::now()));
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading the response failed: {}", error_chain(&e)))?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {}: {}",
            status.as_u16(),
            truncate(&String::from_utf8_lossy(&body), 300)
        ));
    }
    parse_response(&body)
}

/// `{"data":[{"embedding":[...],"index":i}],"usage":{"prompt_tokens":n},"pooling","normalized"}`
/// → the vectors in `index` order and the counts.
fn parse_response(body: &[u8]) -> Result<Got, String> {
    #[derive(serde::Deserialize)]
    struct Item {
        embedding: Vec<f32>,
        #[serde(default)]
        index: Option<usize>,
    }
    #[derive(serde::Deserialize)]
    struct Usage {
        prompt_tokens: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Resp {
        data: Vec<Item>,
        usage: Option<Usage>,
        pooling: Option<String>,
        normalized: Option<bool>,
    }
    let resp: Resp = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not an embeddings response ({e}): {}",
            truncate(&String::from_utf8_lossy(body), 200)
        )
    })?;
    let mut data = resp.data;
    data.sort_by_key(|d| d.index.unwrap_or(usize::MAX));
    let prompt_tokens = resp.usage.and_then(|u| u.prompt_tokens);
    Ok(Got {
        vectors: data.into_iter().map(|d| d.embedding).collect(),
        prompt_tokens: prompt_tokens.map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        source: if prompt_tokens.is_some() {
            CountSource::ServerUsage
        } else {
            CountSource::None
        },
        pooling: resp.pooling,
        normalized: resp.normalized,
    })
}

/// The sanity check: each vector has `dims` values (when known), all finite, and an L2 norm
/// within [`NORM_TOLERANCE`] of 1 when `normalized`. Returns the vectors that fail and the
/// first problem.
pub fn check_vectors(
    vectors: &[Vec<f32>],
    dims: Option<u32>,
    normalized: bool,
) -> (u32, Option<String>) {
    let mut invalid = 0;
    let mut first = None;
    for (i, v) in vectors.iter().enumerate() {
        let problem = if dims.is_some_and(|d| v.len() != d as usize) {
            Some(format!(
                "vector {i} has {} dimensions, not {}",
                v.len(),
                dims.unwrap_or(0)
            ))
        } else if v.is_empty() {
            Some(format!("vector {i} is empty"))
        } else if let Some(k) = v.iter().position(|x| !x.is_finite()) {
            Some(format!("vector {i} holds a non-finite value at {k}"))
        } else {
            let norm = v
                .iter()
                .map(|x| f64::from(*x) * f64::from(*x))
                .sum::<f64>()
                .sqrt();
            (normalized && (norm - 1.0).abs() > NORM_TOLERANCE)
                .then(|| format!("vector {i} has norm {norm:.4}, declared normalized"))
        };
        if let Some(p) = problem {
            invalid += 1;
            first.get_or_insert(p);
        }
    }
    (invalid, first)
}

impl Target for EmbedTarget {
    fn execute(self: Arc<Self>, job: Job, t0: Instant) -> BoxFuture<'static, RequestRecord> {
        Box::pin(async move {
            let mut r = RequestRecord::start(
                "",
                "",
                job.index,
                job.round,
                &job.prompt.id,
                job.warmup,
                job.intended_ms,
                ms(t0, Instant::now()),
            );
            let texts = batch_for(&self.texts, job.index, self.batch);
            r.embedding = Some(EmbedRecord {
                inputs: texts.len() as u32,
                ..EmbedRecord::default()
            });
            let timeout = Duration::from_secs_f64(self.timeout_s.max(0.001));
            if tokio::time::timeout(timeout, self.run(texts, t0, &mut r))
                .await
                .is_err()
            {
                r.error = Some(format!("timeout after {:.0} s", self.timeout_s));
                r.end_ms = ms(t0, Instant::now());
            }
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanity_check_flags_each_problem() {
        let unit = vec![0.6f32, 0.8];
        assert_eq!(check_vectors(&[unit.clone()], Some(2), true), (0, None));
        let (n, p) = check_vectors(&[unit.clone(), vec![1.0, 1.0]], Some(2), true);
        assert_eq!(n, 1);
        assert!(p.unwrap().contains("norm 1.4142"));
        // Not declared normalized: any finite norm passes.
        assert_eq!(check_vectors(&[vec![3.0, 4.0]], Some(2), false).0, 0);
        let (n, p) = check_vectors(&[unit.clone(), vec![1.0]], Some(2), false);
        assert_eq!(n, 1);
        assert!(p.unwrap().contains("1 dimensions, not 2"));
        let (n, p) = check_vectors(&[vec![f32::NAN, 0.0]], None, false);
        assert_eq!(n, 1);
        assert!(p.unwrap().contains("non-finite"));
    }

    #[test]
    fn responses_are_read_in_index_order_with_usage() {
        let body = br#"{"data":[{"embedding":[0,1],"index":1},{"embedding":[1,0],"index":0}],
            "usage":{"prompt_tokens":7,"total_tokens":7},"pooling":"mean","normalized":true}"#;
        let got = parse_response(body).unwrap();
        assert_eq!(got.vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert_eq!(got.prompt_tokens, Some(7));
        assert_eq!(got.source, CountSource::ServerUsage);
        assert_eq!(got.pooling.as_deref(), Some("mean"));
        assert_eq!(got.normalized, Some(true));
        let err = parse_response(b"{\"choices\":[]}").err().unwrap();
        assert!(err.starts_with("not an embeddings response"), "{err}");
    }
}
