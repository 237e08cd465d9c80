//! `GET /metrics` (Prometheus text) and the request metrics middleware: requests by route and
//! status, request latency by route (webhooks included). The engine records its queue depth,
//! batch sizes and commit times through the same `metrics` recorder.
use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use (one per process, shared by every server).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let seconds = [
            0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0,
        ];
        let counts = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("brickdesk_engine_batch_size".into()),
                    &counts,
                )
            })
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder is installed; /metrics shows only brickdesk's own"
            );
        }
        handle
    })
}

/// The handles of one (route, method, status), made once: a request then costs a map lookup,
/// not a metric key built from strings.
type Handles = (metrics::Counter, metrics::Histogram);
type ByRoute = HashMap<String, HashMap<(Method, u16), Handles>>;
static HANDLES: OnceLock<RwLock<ByRoute>> = OnceLock::new();

fn handles(route: &str, method: &Method, status: u16) -> Handles {
    let map = HANDLES.get_or_init(Default::default);
    let found = map
        .read()
        .expect("metric handles")
        .get(route)
        .and_then(|m| m.get(&(method.clone(), status)).cloned());
    if let Some(h) = found {
        return h;
    }
    let h = (
        metrics::counter!("brickdesk_http_requests_total", "route" => route.to_string(),
            "method" => method.as_str().to_string(), "status" => status.to_string()),
        metrics::histogram!("brickdesk_http_request_duration_seconds", "route" => route.to_string()),
    );
    map.write()
        .expect("metric handles")
        .entry(route.to_string())
        .or_default()
        .insert((method.clone(), status), h.clone());
    h
}

/// Counts and times every request by its matched route (unknown paths count as `unmatched`),
/// answered by `run` (the rest of the stack, or a refusal made before it).
pub async fn track<F, Fut>(req: Request, run: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let resp = run(req).await;
    let route = route.as_ref().map_or("unmatched", |m| m.as_str());
    let (count, time) = handles(route, &method, resp.status().as_u16());
    count.increment(1);
    time.record(started.elapsed().as_secs_f64());
    resp
}

/// Prometheus text. With a password set the operator session or an API token is needed.
pub async fn render(State(s): State<AppState>) -> Response {
    metrics::gauge!("brickdesk_engine_queue_depth").set(s.engine.queue_depth() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response()
}
