//! The accept loop (what `axum::serve` does, plus what it cannot): at most `max_connections`
//! connections at once (more wait in the kernel's backlog), a deadline for a request's headers
//! (and so for an idle keep-alive connection), each request's body read under an idle and a total
//! deadline, the peer's address on every request (`ConnectInfo`), and a graceful stop that lets
//! requests in flight finish.
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// How long a client may take (`[server]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A request's headers, from the connection's first byte or the previous response.
    pub headers: Duration,
    /// Between two pieces of a request body.
    pub body_idle: Duration,
    /// A whole request body.
    pub body_total: Duration,
    /// Connections at once.
    pub max_connections: usize,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            headers: Duration::from_secs(10),
            body_idle: Duration::from_secs(15),
            body_total: Duration::from_secs(120),
            max_connections: 1024,
        }
    }
}

/// What a body that missed its deadline says (and what the extractors answer 408 with).
pub const TOO_SLOW: &str = "the request body came too slowly";

/// Did reading a body fail on its deadline? `error` is the failure as a layer above the body
/// shows it (an extractor, a JSON reader, the multipart parser): the deadline's error is
/// somewhere in its chain of sources.
pub fn came_too_slowly(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.to_string().contains(TOO_SLOW))
}

type Timer = Pin<Box<tokio::time::Sleep>>;

/// A request body that fails once it has taken longer than its deadlines. The timers start
/// only when the body is first not there yet: a body that came with its headers (every webhook,
/// most requests) never arms one.
struct Deadline {
    inner: axum::body::Body,
    idle: Duration,
    /// The total deadline, from when the request arrived.
    until: tokio::time::Instant,
    /// (idle, total), armed at the first wait.
    timers: Option<(Timer, Timer)>,
}

impl Deadline {
    fn new(inner: axum::body::Body, limits: &Timeouts) -> Self {
        Deadline {
            inner,
            idle: limits.body_idle,
            until: tokio::time::Instant::now() + limits.body_total,
            timers: None,
        }
    }
}

impl http_body::Body for Deadline {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let me = &mut *self;
        let polled = Pin::new(&mut me.inner).poll_frame(cx);
        if polled.is_ready() {
            if let Some((wait, _)) = me.timers.as_mut() {
                wait.as_mut().reset(tokio::time::Instant::now() + me.idle);
            }
            return polled;
        }
        let (idle, until) = (me.idle, me.until);
        let (wait, total) = me.timers.get_or_insert_with(|| {
            (
                Box::pin(tokio::time::sleep(idle)),
                Box::pin(tokio::time::sleep_until(until)),
            )
        });
        if wait.as_mut().poll(cx).is_ready() || total.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(TOO_SLOW))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

use std::future::Future;

/// Serves `app` on `listener` until `shutdown`, then waits for the connections to finish.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.expect("never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // out of descriptors, say: back off instead of spinning
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = tower::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            let body = axum::body::Body::new(Deadline::new(axum::body::Body::new(body), &limits));
            app.clone()
                .oneshot(axum::http::Request::from_parts(parts, body))
        });
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.headers)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop((permit, done));
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    // every connection task holds a receiver: closed() resolves when the last one ends
    done_tx.closed().await;
    Ok(())
}
