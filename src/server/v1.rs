//! Seed 004, the engine web API v1 (`/api/v1`): health, the run's status and results, the
//! strategies and exchanges a form is built from, the run lifecycle (one run at a time), the
//! status WebSocket and `/meta` with the deprecation table. Every answer under `/api/v1`, errors
//! included, carries `X-Cracktrader-API-Version: v1` (set in `decorate`, on the way out of the
//! router, so the framework's own refusals carry it too). Errors are seed 004's envelope.
use super::AppState;
use super::errors::envelope::Envelope;
use crate::services::backtest::{self, BacktestRequest, LiveRequest, Refused};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

pub const VERSION_HEADER: &str = "x-cracktrader-api-version";
/// Seed 004's policy: a deprecation is announced at least this long before its sunset.
pub const MIN_NOTICE_DAYS: i64 = 90;

/// A route on its way out: announced in `/meta` and in the headers of its answers.
pub struct Deprecation {
    pub method: &'static str,
    pub path: &'static str,
    /// `YYYY-MM-DD`.
    pub announced: &'static str,
    pub sunset: &'static str,
    pub successor: &'static str,
    pub note: &'static str,
}

/// Today's table: the alias `GET /api/v1/run/status`, which clients guess from the `run/`
/// routes, answers as `/status` until its sunset.
pub const DEPRECATIONS: &[Deprecation] = &[Deprecation {
    method: "GET",
    path: "/api/v1/run/status",
    announced: "2026-12-01",
    sunset: "2027-03-15",
    successor: "/api/v1/status",
    note: "an alias of GET /api/v1/status; use that",
}];

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("deprecation dates are YYYY-MM-DD")
}

impl Deprecation {
    pub fn notice_days(&self) -> i64 {
        (date(self.sunset) - date(self.announced)).num_days()
    }

    /// `Deprecation` (RFC 9745: `@` epoch seconds), `Sunset` (RFC 8594: an HTTP date), `Link`.
    fn headers(&self) -> [(&'static str, String); 3] {
        let at = |d: &str| Utc.from_utc_datetime(&date(d).and_hms_opt(0, 0, 0).expect("midnight"));
        [
            (
                "deprecation",
                format!("@{}", at(self.announced).timestamp()),
            ),
            (
                "sunset",
                at(self.sunset)
                    .format("%a, %d %b %Y %H:%M:%S GMT")
                    .to_string(),
            ),
            (
                "link",
                format!(
                    "<{}>; rel=\"successor-version\", </api/v1/meta>; rel=\"deprecation\"; type=\"application/json\"",
                    self.successor
                ),
            ),
        ]
    }
}

/// Sets the version header on every answer under `/api/v1`, and a deprecated route's headers.
pub fn decorate(method: &Method, path: &str, resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(VERSION_HEADER, HeaderValue::from_static("v1"));
    let path = path.trim_end_matches('/');
    for d in DEPRECATIONS
        .iter()
        .filter(|d| d.path == path && d.method == method.as_str())
    {
        for (k, v) in d.headers() {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/run/status", get(status))
        .route("/api/v1/status/detailed", get(detailed))
        .route("/api/v1/results", get(results))
        .route("/api/v1/strategies", get(strategies))
        .route("/api/v1/exchanges", get(exchanges))
        .route("/api/v1/run/backtest", post(run_backtest))
        .route("/api/v1/run/live", post(run_live))
        .route("/api/v1/run/stop", post(stop))
        .route("/api/v1/run/reset", delete(reset))
        .route("/api/v1/ws/status", get(status_ws))
        .route("/api/v1/meta", get(meta))
}

/// The probe stays open, as `/health` does.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/api/v1/health", get(health))
}

impl From<Refused> for Envelope {
    fn from(r: Refused) -> Self {
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
        Envelope::new(status, r.message).code(r.code)
    }
}

type V1<T> = Result<T, Envelope>;

async fn health(State(s): State<AppState>) -> Json<Value> {
    let queue = s.engine.queue_depth();
    let run = s.backtests.current();
    Json(json!({
        "status": "ok",
        "api_version": "v1",
        "checks": {
            "engine": { "status": "ok", "queue_depth": queue },
            "store": { "status": if s.engine.reader().path().is_some() { "ok" } else { "memory" } },
            "python_sandbox": { "status": s.runs.limits().mode().name() },
        },
        // whether a run is active, not which: the probe needs no session
        "metrics": { "run_active": run.as_ref().is_some_and(|r| r.is_running()) },
        "timestamp": backtest::iso_z(Utc::now()),
    }))
}

async fn status(State(s): State<AppState>) -> Json<Value> {
    Json(s.backtests.status_json(s.backtests.current().as_deref()))
}

async fn detailed(State(s): State<AppState>) -> Json<Value> {
    Json(s.backtests.detailed_json(s.backtests.current().as_deref()))
}

async fn results(State(s): State<AppState>) -> V1<Json<Value>> {
    let run = s.backtests.current().ok_or_else(|| {
        Envelope::new(
            StatusCode::NOT_FOUND,
            "no run yet: start one with POST /api/v1/run/backtest",
        )
        .code("NO_RESULTS")
    })?;
    Ok(Json(s.backtests.results_json(&run)))
}

async fn strategies() -> Json<Value> {
    Json(json!({ "strategies": backtest::strategy::catalogue() }))
}

async fn exchanges(State(s): State<AppState>) -> V1<Json<Value>> {
    let snap = s.engine.snapshot();
    let live = snap.env == crate::engine::model::Env::Live;
    let assets: Vec<String> = snap.assets.iter().map(|a| a.asset.clone()).collect();
    let datasets = s.engine.reader().read(|_, st| st.list_datasets()).await?;
    let list: Vec<Value> = backtest::EXCHANGES
        .iter()
        .map(|(name, description, modes)| {
            let symbols: Vec<Value> = if *name == "datasets" {
                datasets
                    .iter()
                    .map(|d| json!({ "id": d.dataset_id, "name": d.name, "symbol": d.symbol, "timeframe": d.timeframe, "rows": d.row_count }))
                    .collect()
            } else {
                assets.iter().map(|a| json!({ "id": a, "name": a, "symbol": a })).collect()
            };
            json!({ "name": name, "description": description, "modes": modes, "symbols": symbols,
                    "live_allowed": *name == "desk" && live })
        })
        .collect();
    Ok(Json(json!({ "exchanges": list })))
}

async fn meta() -> Json<Value> {
    let deps: Vec<Value> = DEPRECATIONS
        .iter()
        .map(|d| json!({ "method": d.method, "path": d.path, "announced": d.announced, "sunset": d.sunset,
                         "successor": d.successor, "note": d.note, "notice_days": d.notice_days() }))
        .collect();
    Json(json!({
        "api_version": "v1",
        "versions": ["v1"],
        "server": { "name": "brickdesk", "version": env!("CARGO_PKG_VERSION") },
        "deprecation_policy": { "minimum_notice_days": MIN_NOTICE_DAYS,
            "headers": ["Deprecation", "Sunset", "Link"] },
        "deprecations": deps,
    }))
}

/// A JSON body as `T`, or seed 004's 422 saying what is wrong.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> V1<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        Envelope::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "invalid request body: {}",
                crate::engine::command::short(&e)
            ),
        )
        .code("VALIDATION_ERROR")
    })
}

async fn run_backtest(State(s): State<AppState>, bytes: Bytes) -> V1<Json<Value>> {
    let req: BacktestRequest = body(&bytes)?;
    Ok(Json(s.backtests.start_backtest(req).await?))
}

async fn run_live(State(s): State<AppState>, bytes: Bytes) -> V1<Json<Value>> {
    let req: LiveRequest = body(&bytes)?;
    Ok(Json(s.backtests.start_live(req).await?))
}

async fn stop(State(s): State<AppState>) -> V1<Json<Value>> {
    Ok(Json(s.backtests.stop().await?))
}

async fn reset(State(s): State<AppState>) -> V1<Json<Value>> {
    Ok(Json(s.backtests.reset().await?))
}

async fn status_ws(State(s): State<AppState>, ws: axum::extract::ws::WebSocketUpgrade) -> Response {
    let slot = match super::ws::slot(&s, &s.sockets.status, "/api/v1/ws/status") {
        Ok(slot) => slot,
        Err(busy) => return busy.into_response(),
    };
    let rx = s.backtests.status_events();
    let first = s.backtests.status_event(s.backtests.current().as_deref());
    let stop = s.shutdown.clone();
    ws.on_upgrade(move |socket| async move {
        super::ws::forward(socket, rx, Some(first), stop).await;
        drop(slot);
    })
}
