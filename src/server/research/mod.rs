//! Seed 003, the research backend: health probes, datasets, walk-forward runs and their
//! predictions, simulations and trades, read-only SQL, measurements, imports and jobs. Errors are
//! `{"error": "…"}`. Every route but the probes needs the operator (session or API token) when a
//! password is set, or `X-Stage1-Token` when `[research] enable_auth` is on.
mod catalog;
mod sql;

use super::AppState;
use super::errors::plain::PlainError;
use crate::services::research::store;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use catalog::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sql::*;

type Answer = Result<Response, PlainError>;

pub fn routes(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/api/datasets", get(list_datasets).post(save_dataset))
        .route("/api/datasets/{id}", get(one_dataset))
        .route("/api/datasets/{id}/runs", get(dataset_runs))
        .route("/api/runs", get(list_runs).post(create_run))
        .route("/api/runs/{id}", get(one_run))
        .route("/api/runs/{id}/predictions", get(predictions))
        .route(
            "/api/simulations",
            get(list_simulations).post(create_simulation),
        )
        .route("/api/simulations/{id}", get(one_simulation))
        .route("/api/simulations/{id}/trades", get(trades))
        .route("/api/questdb/query", post(query))
        .route("/api/questdb/export", post(export))
        .route("/api/questdb/measurements", get(measurements))
        .route("/api/questdb/measurement/{name}", get(measurement))
        .route("/api/questdb/import", post(import_direct))
        .route(
            "/api/questdb/import/async",
            post(import_async).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/jobs", get(list_jobs))
        .route("/api/jobs/{id}", get(one_job))
        .route("/api/jobs/{id}/cancel", post(cancel_job))
}

/// The probes: never behind auth.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/api/health", get(health))
}

/// Seed 003's auth: with `enable_auth`, an `X-Stage1-Token` from `[research] tokens` (or an
/// operator session or API bearer token); without it, the rest of the server's rule.
pub async fn require(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let cfg = s.research.config();
    let token_ok = req
        .headers()
        .get("x-stage1-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|got| super::auth::token_listed(&cfg.tokens, got));
    let allowed = if cfg.enable_auth {
        token_ok || super::auth::has_credentials(&s, req.headers())
    } else {
        token_ok || super::auth::is_authenticated(&s, req.headers())
    };
    if allowed {
        next.run(req).await
    } else {
        let why = if req.headers().contains_key("x-stage1-token") {
            "invalid X-Stage1-Token"
        } else if cfg.enable_auth {
            "authentication required: send X-Stage1-Token"
        } else {
            "login required: POST /api/login, or send Authorization: Bearer <api token> or X-Stage1-Token"
        };
        PlainError::new(StatusCode::UNAUTHORIZED, why).into_response()
    }
}

fn bad(message: impl Into<String>) -> PlainError {
    PlainError::new(StatusCode::BAD_REQUEST, message)
}

fn not_found(message: impl Into<String>) -> PlainError {
    PlainError::new(StatusCode::NOT_FOUND, message)
}

fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, PlainError> {
    super::extract::parse_json(bytes).map_err(|e| bad(e.message))
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.research.ready().await {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "error": "the research store does not answer"})),
        )
            .into_response()
    }
}

async fn health(State(s): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "timestamp": store::now_z(),
        "uptime": s.research.uptime().as_secs(),
    }))
}

/// `limit` and `offset` as seed 003 takes them: whole numbers, `limit` at most `max`.
#[derive(Deserialize, Default)]
struct Page {
    limit: Option<String>,
    offset: Option<String>,
    dataset_id: Option<String>,
    run_id: Option<String>,
    job_type: Option<String>,
    prefix: Option<String>,
    format: Option<String>,
}

impl Page {
    fn get(&self, default: i64, max: i64) -> Result<(i64, i64), PlainError> {
        let num =
            |v: &Option<String>, name: &str, d: i64| -> Result<i64, PlainError> {
                match v.as_deref().map(str::trim) {
                    None | Some("") => Ok(d),
                    Some(t) => t.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                        bad(format!("{name} must be a whole number ≥ 0, got {t:?}"))
                    }),
                }
            };
        // more than `max` reads as `max`: a client asking for everything gets the most a page holds
        let limit = num(&self.limit, "limit", default)?.min(max);
        Ok((limit, num(&self.offset, "offset", 0)?))
    }
}

/// A query string that does not parse is answered in this surface's shape.
fn page(
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Page, PlainError> {
    q.map(|Query(p)| p).map_err(|e| bad(e.body_text()))
}

// ---- jobs ----

async fn list_jobs(
    State(s): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let p = page(q)?;
    let (limit, offset) = p.get(50, 1000)?;
    let kind = p.job_type.clone();
    let (rows, total) = s
        .research
        .db(move |c| store::list_jobs(c, kind.as_deref(), limit, offset))
        .await?;
    Ok(Json(json!({"count": rows.len(), "total": total, "jobs": rows})).into_response())
}

async fn one_job(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
    let i = id.clone();
    s.research
        .db(move |c| store::get_job(c, &i))
        .await?
        .map(|j| Json(j).into_response())
        .ok_or_else(|| not_found(format!("job {id} not found")))
}

async fn cancel_job(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
    match s.research.cancel(id.clone()).await? {
        Ok(Some(job)) => Ok(Json(job).into_response()),
        Ok(None) => Err(not_found(format!("job {id} not found"))),
        Err(status) => Err(PlainError::new(
            StatusCode::CONFLICT,
            format!("job {id} is {status}: only a PENDING or RUNNING job can be cancelled"),
        )),
    }
}
