//! Streams whose client stopped reading are cancelled.
//!
//! A socket that stops draining is caught by the connection's write timeout, but an HTTP/2
//! client can stop reading one stream and keep its connection busy with others (or just
//! answer pings): its flow-control window fills, hyper stops asking for the stream's next
//! chunk, and the generation would wait for it forever, holding a decoding slot. So an SSE
//! body that has handed out a chunk and is not asked for the next one within the limit is
//! dropped (which cancels its engine sequence) and ends.

use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};

struct Shared<S> {
    inner: Mutex<Option<S>>,
    /// When the last chunk was handed out, while the consumer has not asked for the next.
    handed_out: Mutex<Option<Instant>>,
}

/// `inner`, dropped and ended once its consumer has not asked for the next item for
/// `limit` after taking one.
pub(crate) fn cancel_when_stalled<S>(
    inner: S,
    limit: Duration,
) -> impl Stream<Item = S::Item> + Send
where
    S: Stream + Send + Unpin + 'static,
    S::Item: Send,
{
    let shared = Arc::new(Shared {
        inner: Mutex::new(Some(inner)),
        handed_out: Mutex::new(None),
    });
    let watched = Arc::downgrade(&shared);
    tokio::spawn(async move {
        let tick = (limit / 4).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(tick).await;
            // Gone: the response was sent or dropped.
            let Some(sh) = watched.upgrade() else { return };
            let stalled = sh
                .handed_out
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|t| t.elapsed() >= limit);
            let mut inner = sh.inner.lock().unwrap_or_else(|p| p.into_inner());
            if inner.is_none() {
                return;
            }
            if stalled {
                tracing::info!(
                    secs = limit.as_secs_f64(),
                    "cancelling a stream whose client stopped reading"
                );
                // Dropped outside the lock's scope would be nicer, but dropping cancels
                // the sequence without blocking.
                *inner = None;
                return;
            }
        }
    });
    futures_util::stream::poll_fn(move |cx| {
        *shared.handed_out.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let mut inner = shared.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = inner.as_mut() else {
            return Poll::Ready(None);
        };
        match s.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => {
                drop(inner);
                *shared.handed_out.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                *inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    })
}
