//! Seed 003, the research backend: health probes, datasets, walk-forward runs and their
//! predictions, simulations and trades, read-only SQL, measurements, imports and jobs. Errors are
//! `{"error": "…"}`. Every route but the probes needs the operator (session or API token) when a
//! password is set, or `X-Stage1-Token` when `[research] enable_auth` is on.
use super::AppState;
use super::errors::plain::PlainError;
use crate::services::research::{self, measure, sql::SqlError, store};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

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
    use subtle::ConstantTimeEq;
    let cfg = s.research.config();
    let token_ok = req
        .headers()
        .get("x-stage1-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|got| {
            cfg.tokens
                .iter()
                .any(|t| bool::from(t.as_bytes().ct_eq(got.as_bytes())))
        });
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

// ---- datasets ----

async fn list_datasets(
    State(s): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let (limit, offset) = page(q)?.get(50, 1000)?;
    let all = s.research.datasets().await?;
    let total = all.len();
    let rows: Vec<Value> = all
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(Json(json!({"count": rows.len(), "total": total, "datasets": rows})).into_response())
}

async fn one_dataset(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
    let all = s.research.datasets().await?;
    all.into_iter()
        .find(|d| d["dataset_id"] == id.as_str())
        .map(|d| Json(d).into_response())
        .ok_or_else(|| not_found(format!("dataset {id} not found")))
}

#[derive(Deserialize)]
struct DatasetBody {
    dataset_id: String,
    dataset_slug: String,
    #[serde(default)]
    symbol: Option<String>,
    #[serde(default)]
    granularity: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    ohlcv_measurement: Option<String>,
    #[serde(default)]
    indicator_measurement: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

fn check_id(what: &str, id: &str) -> Result<(), PlainError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{what} must be 1 to 128 letters, digits, '-', '_' or '.', got {id:?}"
        )))
    }
}

async fn save_dataset(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let b: DatasetBody = body(&bytes)?;
    check_id("dataset_id", &b.dataset_id)?;
    let slug_ok = !b.dataset_slug.is_empty()
        && b.dataset_slug.len() <= 64
        && b.dataset_slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !slug_ok {
        return Err(bad(format!(
            "dataset_slug must be 1 to 64 letters, digits, '_' or '-', got {:?}",
            b.dataset_slug
        )));
    }
    for m in [&b.ohlcv_measurement, &b.indicator_measurement]
        .into_iter()
        .flatten()
    {
        if let Some(why) = measure::bad_name(m) {
            return Err(bad(why));
        }
    }
    if let Some(m) = b.metadata.as_ref().filter(|m| !m.is_object()) {
        return Err(bad(format!("metadata must be an object, got {m}")));
    }
    let row = store::DatasetRow {
        dataset_id: b.dataset_id,
        dataset_slug: b.dataset_slug,
        symbol: b.symbol,
        granularity: b.granularity,
        source: b.source,
        ohlcv_measurement: b.ohlcv_measurement,
        indicator_measurement: b.indicator_measurement,
        metadata: b.metadata.unwrap_or_else(|| json!({})),
        created_at: store::now_z(),
    };
    let ohlcv = row.ohlcv_measurement.clone();
    let outcome = s
        .research
        .db(move |c| {
            if let Some(other) = store::dataset_by_slug(c, &row.dataset_slug)?
                .filter(|o| o.dataset_id != row.dataset_id)
            {
                return Ok(Err(other.dataset_id));
            }
            let existed = store::dataset(c, &row.dataset_id)?.is_some();
            store::upsert_dataset(c, &row)?;
            Ok(Ok(existed))
        })
        .await?;
    match outcome {
        Err(other) => Err(PlainError::new(
            StatusCode::CONFLICT,
            format!("dataset_slug is taken by dataset {other}"),
        )),
        Ok(existed) => {
            // bars already in its measurement: a desk dataset too (a job)
            if let Some(m) = ohlcv {
                s.research.register_from(m).await?;
            }
            // seed 003 answers 201 to a create and to an update alike
            let message = if existed {
                "Dataset updated successfully"
            } else {
                "Dataset created successfully"
            };
            Ok((
                StatusCode::CREATED,
                Json(json!({"success": true, "message": message})),
            )
                .into_response())
        }
    }
}

async fn dataset_runs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let (limit, offset) = page(q)?.get(50, 1000)?;
    let known = s.research.datasets().await?;
    if !known.iter().any(|d| d["dataset_id"] == id.as_str()) {
        return Err(not_found(format!("dataset {id} not found")));
    }
    let (rows, total) = s
        .research
        .db(move |c| store::runs(c, Some(&id), limit, offset))
        .await?;
    Ok(Json(json!({"count": rows.len(), "total": total, "runs": rows})).into_response())
}

// ---- walk-forward runs ----

async fn list_runs(
    State(s): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let p = page(q)?;
    let (limit, offset) = p.get(50, 1000)?;
    let ds = p.dataset_id.clone();
    let (rows, total) = s
        .research
        .db(move |c| store::runs(c, ds.as_deref(), limit, offset))
        .await?;
    Ok(Json(json!({"count": rows.len(), "total": total, "runs": rows})).into_response())
}

async fn one_run(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
    let i = id.clone();
    s.research
        .db(move |c| store::run(c, &i))
        .await?
        .map(|r| Json(r).into_response())
        .ok_or_else(|| not_found(format!("run {id} not found")))
}

#[derive(Deserialize)]
struct RunBody {
    run_id: String,
    dataset_id: String,
    fold_count: i64,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    thresholds: Vec<f64>,
}

async fn create_run(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let b: RunBody = body(&bytes)?;
    check_id("run_id", &b.run_id)?;
    if b.fold_count < 1 {
        return Err(bad(format!(
            "fold_count must be at least 1, got {}",
            b.fold_count
        )));
    }
    let known = s.research.datasets().await?;
    if !known
        .iter()
        .any(|d| d["dataset_id"] == b.dataset_id.as_str())
    {
        return Err(bad(format!("dataset_id {} does not exist", b.dataset_id)));
    }
    let row = store::RunRow {
        run_id: b.run_id,
        dataset_id: b.dataset_id,
        fold_count: b.fold_count,
        features: json!(b.features),
        thresholds: json!(b.thresholds),
        created_at: store::now_z(),
    };
    let created = s
        .research
        .db(move |c| {
            if store::run(c, &row.run_id)?.is_some() {
                return Ok(Err(row.run_id));
            }
            store::insert_run(c, &row).map(Ok)
        })
        .await?;
    match created {
        Err(id) => Err(PlainError::new(
            StatusCode::CONFLICT,
            format!("run {id} already exists"),
        )),
        Ok(()) => Ok((
            StatusCode::CREATED,
            Json(json!({"success": true, "message": "Run created successfully"})),
        )
            .into_response()),
    }
}

/// `GET /api/runs/{id}/predictions`: the `wf_{run_id}` measurement, streamed as CSV or JSON.
async fn predictions(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let format = page(q)?.format.unwrap_or_else(|| "csv".into());
    if format != "csv" && format != "json" {
        return Err(bad(format!("format must be csv or json, got {format:?}")));
    }
    let i = id.clone();
    let table = format!("wf_{id}");
    let t = table.clone();
    let (run, has) = s
        .research
        .db(move |c| Ok((store::run(c, &i)?, measure::exists(c, &t)?)))
        .await?;
    if run.is_none() {
        return Err(not_found(format!("run {id} not found")));
    }
    if !has {
        return Err(not_found(format!(
            "run {id} has no predictions yet (import them into the measurement {table})"
        )));
    }
    let sql = format!("SELECT * FROM {} ORDER BY rowid", measure::quoted(&table));
    stream_rows(&s, sql, format == "json", None).await
}

// ---- simulations ----

async fn list_simulations(
    State(s): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let p = page(q)?;
    let (limit, offset) = p.get(50, 1000)?;
    let run = p.run_id.clone();
    let (rows, total) = s
        .research
        .db(move |c| store::simulations(c, run.as_deref(), limit, offset))
        .await?;
    Ok(Json(json!({"count": rows.len(), "total": total, "simulations": rows})).into_response())
}

async fn one_simulation(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
    let i = id.clone();
    s.research
        .db(move |c| store::simulation(c, &i))
        .await?
        .map(|r| Json(r).into_response())
        .ok_or_else(|| not_found(format!("simulation {id} not found")))
}

#[derive(Deserialize)]
struct TradeBody {
    #[serde(default)]
    trade_id: Option<String>,
    #[serde(default)]
    bar_timestamp: Option<i64>,
    side: String,
    size: f64,
    #[serde(default)]
    entry_price: Option<f64>,
    #[serde(default)]
    exit_price: Option<f64>,
    #[serde(default)]
    pnl: Option<f64>,
    #[serde(default)]
    return_pct: Option<f64>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct SimulationBody {
    simulation_id: String,
    run_id: String,
    initial_capital: f64,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    results: Option<Value>,
    /// The simulation's trades (seed 003 lists them; this is how they arrive).
    #[serde(default)]
    trades: Vec<TradeBody>,
}

fn trade_row(sim: &str, i: usize, t: TradeBody) -> Result<store::TradeRow, PlainError> {
    let at = format!("trades[{i}]");
    let side = t.side.to_ascii_lowercase();
    if side != "long" && side != "short" {
        return Err(bad(format!(
            "{at}.side must be long or short, got {:?}",
            t.side
        )));
    }
    if !(t.size.is_finite() && t.size > 0.0) {
        return Err(bad(format!("{at}.size must be a positive number")));
    }
    for (name, v) in [("entry_price", t.entry_price), ("exit_price", t.exit_price)] {
        if v.is_some_and(|p| !(p.is_finite() && p > 0.0)) {
            return Err(bad(format!("{at}.{name} must be a positive number")));
        }
    }
    let sign = if side == "long" { 1.0 } else { -1.0 };
    let pnl = t
        .pnl
        .or_else(|| Some((t.exit_price? - t.entry_price?) * t.size * sign));
    let return_pct = t
        .return_pct
        .or_else(|| Some(pnl? / (t.entry_price? * t.size) * 100.0));
    Ok(store::TradeRow {
        trade_id: t
            .trade_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        simulation_id: sim.to_string(),
        bar_timestamp: t.bar_timestamp,
        side,
        size: t.size,
        entry_price: t.entry_price,
        exit_price: t.exit_price,
        pnl,
        return_pct,
        metadata: t.metadata.unwrap_or_else(|| json!({})),
    })
}

async fn create_simulation(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let b: SimulationBody = body(&bytes)?;
    check_id("simulation_id", &b.simulation_id)?;
    if !(b.initial_capital.is_finite() && b.initial_capital > 0.0) {
        return Err(bad("initial_capital must be a positive number"));
    }
    for (name, v) in [("parameters", &b.parameters), ("results", &b.results)] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_object()) {
            return Err(bad(format!("{name} must be an object, got {v}")));
        }
    }
    let trades = b
        .trades
        .into_iter()
        .enumerate()
        .map(|(i, t)| trade_row(&b.simulation_id, i, t))
        .collect::<Result<Vec<_>, _>>()?;
    let sim = store::SimulationRow {
        simulation_id: b.simulation_id,
        run_id: b.run_id,
        initial_capital: b.initial_capital,
        parameters: b.parameters.unwrap_or_else(|| json!({})),
        results: b.results.unwrap_or_else(|| json!({})),
        created_at: store::now_z(),
    };
    let outcome = s
        .research
        .db(move |c| {
            if store::run(c, &sim.run_id)?.is_none() {
                return Ok(Err((
                    StatusCode::BAD_REQUEST,
                    format!("run_id {} does not exist", sim.run_id),
                )));
            }
            if store::simulation(c, &sim.simulation_id)?.is_some() {
                return Ok(Err((
                    StatusCode::CONFLICT,
                    format!("simulation {} already exists", sim.simulation_id),
                )));
            }
            store::insert_simulation(c, &sim, &trades).map(Ok)
        })
        .await?;
    match outcome {
        Err((status, why)) => Err(PlainError::new(status, why)),
        Ok(()) => Ok((
            StatusCode::CREATED,
            Json(json!({"success": true, "message": "Simulation created successfully"})),
        )
            .into_response()),
    }
}

async fn trades(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let (limit, offset) = page(q)?.get(1000, 100_000)?;
    let i = id.clone();
    let found = s
        .research
        .db(move |c| {
            if store::simulation(c, &i)?.is_none() {
                return Ok(None);
            }
            store::trades(c, &i, limit, offset).map(Some)
        })
        .await?;
    let (rows, total) = found.ok_or_else(|| not_found(format!("simulation {id} not found")))?;
    Ok(Json(json!({"count": rows.len(), "total": total, "trades": rows})).into_response())
}

// ---- SQL ----

#[derive(Deserialize)]
struct SqlBody {
    sql: Option<String>,
}

fn sql_of(bytes: &[u8]) -> Result<String, PlainError> {
    let b: SqlBody = body(bytes)?;
    b.sql
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| bad("Missing 'sql' parameter"))
}

/// Every refusal, timeout or SQL error is the query's own fault: 400 (as QuestDB answers); a
/// surface at its limit of queries at once is 503.
fn sql_error(e: SqlError) -> PlainError {
    match e {
        SqlError::Busy(_) => PlainError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        _ => bad(e.to_string()),
    }
}

async fn query(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let sql = sql_of(&bytes)?;
    let max = s.research.config().query_max_rows;
    let (reader, permit) = s.research.reader().await.map_err(sql_error)?;
    let q = sql.clone();
    let (columns, rows) = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        reader.query(&q, max)
    })
    .await
    .map_err(|_| PlainError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?
    .map_err(sql_error)?;
    Ok(
        Json(json!({"query": sql, "columns": columns, "count": rows.len(), "dataset": rows}))
            .into_response(),
    )
}

async fn export(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let sql = sql_of(&bytes)?;
    stream_rows(&s, sql, false, Some("export.csv")).await
}

/// How long a streamed answer waits for a client that stopped reading before it gives up (and
/// frees its query slot and its read snapshot).
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// Hands a piece to the answer's body; false when the client left or stopped reading for `STALL`.
fn send_within(tx: &tokio::sync::mpsc::Sender<Piece>, piece: Piece) -> bool {
    use tokio::sync::mpsc::error::TrySendError;
    let deadline = std::time::Instant::now() + STALL;
    let mut piece = piece;
    loop {
        match tx.try_send(piece) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(p)) => {
                if std::time::Instant::now() > deadline {
                    tracing::warn!(
                        "a streamed answer's client stopped reading: its query is stopped"
                    );
                    return false;
                }
                piece = p;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

/// A piece of a streamed answer, or why it stopped.
enum Piece {
    Data(Bytes),
    Failed(SqlError),
}

/// Streams a query's rows as CSV (or seed 003's `{"dataset": [[…], …]}` JSON), a piece at a time
/// through a channel of 4; the query stops when the client leaves. The head is sent with the
/// first piece (64 KiB, or all of a smaller answer), so a refusal, a timeout or an error before
/// it is a 400; one after it cuts the body short (the client sees a broken transfer, never a
/// complete-looking file).
async fn stream_rows(s: &AppState, sql: String, as_json: bool, attachment: Option<&str>) -> Answer {
    let (reader, permit) = s.research.reader().await.map_err(sql_error)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let done = reader.prepare(&sql).and_then(|mut stmt| {
            let mut send = |piece: Vec<u8>| send_within(&tx, Piece::Data(Bytes::from(piece)));
            if as_json {
                json_rows(&reader, &mut stmt, &mut send)
            } else {
                research::sql::export_rows(&reader, &mut stmt, &mut send).map(|_| ())
            }
        });
        if let Err(e) = done {
            let _ = tx.blocking_send(Piece::Failed(e));
        }
    });
    let first = match rx.recv().await {
        Some(Piece::Data(b)) => b,
        Some(Piece::Failed(e)) => return Err(sql_error(e)),
        // the query's thread ended without a word (a panic): never an empty 200
        None => {
            return Err(PlainError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: the query stopped (see the server log)",
            ));
        }
    };
    let rest = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|p| match p {
        Piece::Data(b) => Ok(b),
        Piece::Failed(e) => {
            tracing::warn!(error = %e, "a streamed query stopped part way");
            Err(std::io::Error::other(e.to_string()))
        }
    });
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest);
    let mut resp = Response::new(Body::from_stream(stream));
    let ct = if as_json {
        "application/json"
    } else {
        "text/csv; charset=utf-8"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    if let Some(name) = attachment {
        resp.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                .expect("ASCII file name"),
        );
    }
    Ok(resp)
}

/// Rows as `{"columns": […], "dataset": [[…], …]}`, written a piece at a time.
fn json_rows(
    reader: &research::sql::Reader,
    stmt: &mut rusqlite::Statement<'_>,
    send: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), SqlError> {
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let width = columns.len();
    let mut buf = format!("{{\"columns\":{},\"dataset\":[", json!(columns)).into_bytes();
    let mut rows = stmt.raw_query();
    let mut first = true;
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                if !first {
                    buf.push(b',');
                }
                first = false;
                let cells: Vec<Value> = (0..width)
                    .map(|i| research::sql::json_value(row.get_ref_unwrap(i)))
                    .collect();
                serde_json::to_writer(&mut buf, &cells)
                    .map_err(|e| SqlError::Failed(e.to_string()))?;
                if buf.len() >= 64 << 10 {
                    if !send(std::mem::take(&mut buf)) {
                        return Ok(());
                    }
                    reader.touch();
                }
            }
            Ok(None) => break,
            Err(e) => return Err(reader.classify(e)),
        }
    }
    buf.extend_from_slice(b"]}");
    send(buf);
    Ok(())
}

// ---- measurements and imports ----

async fn measurements(
    State(s): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let prefix = page(q)?.prefix;
    let rows = s
        .research
        .db(move |c| measure::list(c, prefix.as_deref()))
        .await?;
    // seed 003's `name`, and what `measurement/{name}` says of each
    Ok(Json(json!({"count": rows.len(), "measurements": rows})).into_response())
}

async fn measurement(State(s): State<AppState>, Path(name): Path<String>) -> Answer {
    let n = name.clone();
    s.research
        .db(move |c| measure::get(c, &n))
        .await?
        .map(|m| Json(m).into_response())
        .ok_or_else(|| not_found(format!("measurement {name} not found")))
}

async fn import_direct() -> Answer {
    Err(PlainError::new(
        StatusCode::NOT_IMPLEMENTED,
        "direct import is not implemented: use POST /api/questdb/import/async",
    ))
}

#[derive(Deserialize)]
struct ImportBody<'a> {
    #[serde(default)]
    measurement: Option<String>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    filename: Option<String>,
}

async fn import_async(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let b: ImportBody = serde_json::from_slice(&bytes).map_err(|e| {
        let text = e.to_string();
        bad(format!(
            "request body is not valid JSON: {}",
            text.split(" at line ").next().unwrap_or(&text)
        ))
    })?;
    let measurement = b
        .measurement
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| bad("Missing 'measurement' parameter"))?;
    if let Some(why) = measure::bad_name(&measurement) {
        return Err(bad(why));
    }
    let raw = b.data.ok_or_else(|| bad("Missing 'data' parameter"))?.get();
    if !raw.starts_with('"') {
        return Err(bad("data must be the CSV text as a string"));
    }
    // the header, checked now: a file the job could never import is refused here
    let head = research::first_line(raw);
    let header_line = head.trim();
    if header_line.is_empty() {
        return Err(bad("data is empty: the first row must be the CSV header"));
    }
    let header: Vec<String> = crate::engine::datasets::source::split_csv_line(header_line)
        .into_iter()
        .map(|c| c.trim().to_string())
        .collect();
    if research::import::timestamp_column(&header).is_none() {
        return Err(bad(format!(
            "the CSV must have a timestamp_unix or timestamp column (header: {})",
            header.join(",")
        )));
    }
    // where the string lies in the body: the body is written out from there, never copied
    let start = raw.as_ptr() as usize - bytes.as_ptr() as usize;
    let range = start..start + raw.len();
    let filename = b.filename;
    let job = s
        .research
        .queue_import(measurement, bytes.clone(), range, filename)
        .await?;
    let id = job.job_id.clone();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "job_id": id,
            "status": job.status,
            "message": format!("Import job created. Poll /api/jobs/{id} for status."),
            "poll_url": format!("/api/jobs/{id}"),
        })),
    )
        .into_response())
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
