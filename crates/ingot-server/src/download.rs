//! Explicit downloads (`POST /v1/models/{id}/download`, Foundry's `POST /openai/download`,
//! Ollama's `POST /api/pull`): one download per model, however many clients ask, on
//! whichever route.
//!
//! The first request for a model starts the provider's download on a blocking thread and
//! streams all its events; the requests that arrive while it runs attach to it and stream
//! the same progress (from the latest event when they attach, then every later one, and the
//! final `done` or `error`). So 300
//! clicks on "download" fetch the model once and hold one blocking thread, not 300.
//! The download keeps going when its clients disconnect: a half-fetched model is worth
//! finishing, and providers make downloads resumable anyway.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use http::header;
use ingot_api::{ApiError, DownloadEvent};
use tokio::sync::watch;

use crate::provider::{DownloadProgress, ModelProvider};

/// Progress events are sent at most this often (providers may report every chunk).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// One running download: its events so far (a few a second, so the log stays small), and
/// their count, watched by the clients streaming them.
struct Job {
    log: Mutex<Vec<DownloadEvent>>,
    len: watch::Sender<usize>,
}

impl Job {
    fn push(&self, ev: DownloadEvent) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.push(ev);
        self.len.send_replace(log.len());
    }
}

/// The downloads running now, by canonical model id.
#[derive(Default)]
pub(crate) struct Downloads {
    running: Mutex<HashMap<String, Arc<Job>>>,
}

fn is_final(ev: &DownloadEvent) -> bool {
    ev.status != "progress"
}

fn event(status: &str, file: Option<String>, message: Option<String>) -> DownloadEvent {
    DownloadEvent {
        status: status.into(),
        file,
        downloaded_bytes: 0,
        total_bytes: None,
        message,
    }
}

/// Ends a job however its thread ends: a provider that panics still leaves its clients an
/// `error` event instead of a stream that never ends.
struct Finish {
    downloads: Arc<Downloads>,
    model: String,
    job: Arc<Job>,
    outcome: Option<DownloadEvent>,
}

impl Finish {
    fn set(&mut self, outcome: DownloadEvent) {
        self.outcome = Some(outcome);
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        let last = self.outcome.take().unwrap_or_else(|| {
            event(
                "error",
                None,
                Some("the download stopped unexpectedly".into()),
            )
        });
        // Under the lock: a request either joined before (and sees this final event) or
        // finds no download and starts a new one.
        let mut running = self
            .downloads
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.job.push(last);
        running.remove(&self.model);
    }
}

impl Downloads {
    /// Joins the download of `model` (a canonical id), starting it if none runs, and
    /// returns its events as an SSE response (`POST /v1/models/{id}/download`).
    pub(crate) fn join(
        self: &Arc<Self>,
        provider: Arc<dyn ModelProvider>,
        model: String,
    ) -> Response {
        let (job, from) = self.attach(provider, model);
        sse(job, from)
    }

    /// Joins the download of `model` like [`Downloads::join`], for the routes that render
    /// progress their own way (Foundry's `/openai/download`, Ollama's `/api/pull`): its
    /// events from the latest on, ending with the final `done` or `error` one.
    pub(crate) fn updates(
        self: &Arc<Self>,
        provider: Arc<dyn ModelProvider>,
        model: String,
    ) -> impl Stream<Item = DownloadEvent> + Send + Unpin + 'static {
        let (job, from) = self.attach(provider, model);
        let len = job.len.subscribe();
        let start = Phase::Events {
            job,
            len,
            next: from,
        };
        Box::pin(futures_util::stream::unfold(start, |phase| async {
            match phase {
                Phase::Events { job, len, next } => next_in_log(job, len, next).await,
                Phase::Done | Phase::Ended => None,
            }
        }))
    }

    fn attach(
        self: &Arc<Self>,
        provider: Arc<dyn ModelProvider>,
        model: String,
    ) -> (Arc<Job>, usize) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match running.get(&model) {
            Some(job) => {
                tracing::debug!(%model, "joining a running download");
                // From the latest event: the history is of no use to a new client.
                let len = job.log.lock().unwrap_or_else(|p| p.into_inner()).len();
                (job.clone(), len.saturating_sub(1))
            }
            None => {
                let job = Arc::new(Job {
                    log: Mutex::new(Vec::new()),
                    len: watch::channel(0).0,
                });
                running.insert(model.clone(), job.clone());
                self.start(provider, model, job.clone());
                (job, 0)
            }
        }
    }

    fn start(self: &Arc<Self>, provider: Arc<dyn ModelProvider>, model: String, job: Arc<Job>) {
        let finish = Finish {
            downloads: self.clone(),
            model: model.clone(),
            job: job.clone(),
            outcome: None,
        };
        tokio::task::spawn_blocking(move || {
            let mut finish = finish;
            let last = Mutex::new(None::<Instant>);
            let on_progress = |p: DownloadProgress| {
                let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                let complete = p.total_bytes == Some(p.downloaded_bytes);
                if !complete && last.is_some_and(|t| t.elapsed() < PROGRESS_INTERVAL) {
                    return;
                }
                *last = Some(Instant::now());
                job.push(DownloadEvent {
                    status: "progress".into(),
                    file: Some(p.file),
                    downloaded_bytes: p.downloaded_bytes,
                    total_bytes: p.total_bytes,
                    message: None,
                });
            };
            finish.set(match provider.download(&model, &on_progress) {
                Ok(r) => event("done", Some(r.path.display().to_string()), None),
                Err(e) => event("error", None, Some(e.to_string())),
            });
        });
    }
}

fn data(ev: &DownloadEvent) -> Bytes {
    let json = serde_json::to_string(ev).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("data: {json}\n\n"))
}

/// Where one client's event stream is.
enum Phase {
    /// Sending the job's events from index `next` on.
    Events {
        job: Arc<Job>,
        len: watch::Receiver<usize>,
        next: usize,
    },
    /// The final event went out: `[DONE]` is next.
    Done,
    Ended,
}

/// The job's event at `next` (waiting for it), and the phase after it: [`Phase::Done`] after
/// the final event. `None` if the job ended without one (it cannot: [`Finish`] always pushes
/// one).
async fn next_in_log(
    job: Arc<Job>,
    mut len: watch::Receiver<usize>,
    next: usize,
) -> Option<(DownloadEvent, Phase)> {
    loop {
        let ev = {
            let log = job.log.lock().unwrap_or_else(|p| p.into_inner());
            log.get(next).cloned()
        };
        if let Some(ev) = ev {
            let after = if is_final(&ev) {
                Phase::Done
            } else {
                Phase::Events {
                    job,
                    len,
                    next: next + 1,
                }
            };
            return Some((ev, after));
        }
        // The job holds the sender for as long as this stream holds the job.
        len.changed().await.ok()?;
    }
}

/// The next SSE frame to send, and the phase after it.
async fn next_event(phase: Phase) -> Option<(Bytes, Phase)> {
    match phase {
        Phase::Events { job, len, next } => match next_in_log(job, len, next).await {
            Some((ev, after)) => Some((data(&ev), after)),
            None => Some((Bytes::from_static(b"data: [DONE]\n\n"), Phase::Ended)),
        },
        Phase::Done => Some((Bytes::from_static(b"data: [DONE]\n\n"), Phase::Ended)),
        Phase::Ended => None,
    }
}

/// The SSE body of one client: the job's events from `from` on, then `[DONE]` after the
/// final one.
fn sse(job: Arc<Job>, from: usize) -> Response {
    let len = job.len.subscribe();
    let start = Phase::Events {
        job,
        len,
        next: from,
    };
    let events = futures_util::stream::unfold(start, |phase| async {
        next_event(phase)
            .await
            .map(|(bytes, next)| (Ok::<_, Infallible>(bytes), next))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| ApiError::Internal("building stream response".into()).into_response())
}
