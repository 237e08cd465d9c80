//! Seed 003's catalog: datasets, walk-forward runs (their predictions streamed by `sql`), and
//! simulations with their trades.
use super::{Answer, Page, bad, body, not_found, page};
use crate::server::AppState;
use crate::server::errors::plain::PlainError;
use crate::services::research::{measure, store};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

// ---- datasets ----

pub(super) async fn list_datasets(
    State(s): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let (limit, offset) = page(q)?.get(50, 1000)?;
    let (rows, total) = s
        .research
        .datasets_page(offset as usize, limit as usize)
        .await?;
    Ok(Json(json!({"count": rows.len(), "total": total, "datasets": rows})).into_response())
}

pub(super) async fn one_dataset(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
    s.research
        .dataset(id.clone())
        .await?
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

fn check_id(what: &str, id: &str, max: usize) -> Result<(), PlainError> {
    let ok = !id.is_empty()
        && id.len() <= max
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "{what} must be 1 to {max} letters, digits, '-', '_' or '.', got {id:?}"
        )))
    }
}

pub(super) async fn save_dataset(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let b: DatasetBody = body(&bytes)?;
    check_id("dataset_id", &b.dataset_id, 128)?;
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
    let id = row.dataset_id.clone();
    let on_desk = s
        .engine
        .reader()
        .read(move |_, st| st.get_dataset(&id))
        .await?
        .is_some();
    let outcome = s
        .research
        .db(move |c| {
            if let Some(other) = store::dataset_by_slug(c, &row.dataset_slug)?
                .filter(|o| o.dataset_id != row.dataset_id)
            {
                return Ok(Err(other.dataset_id));
            }
            let old = store::dataset(c, &row.dataset_id)?;
            store::upsert_dataset(c, &row)?;
            // the bars it names are new to it
            let rebind = old.as_ref().map(|o| &o.ohlcv_measurement) != Some(&row.ohlcv_measurement);
            Ok(Ok((old.is_some(), rebind)))
        })
        .await?;
    match outcome {
        Err(other) => Err(PlainError::new(
            StatusCode::CONFLICT,
            format!("dataset_slug is taken by dataset {other}"),
        )),
        Ok((existed, rebind)) => {
            // bars already in its measurement: a desk dataset too (a job), when it names other
            // bars than before or the desk lacks it (saved again unchanged, nothing is queued;
            // bars imported anew queue their own)
            if let Some(m) = ohlcv.filter(|_| rebind || !on_desk) {
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

pub(super) async fn dataset_runs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let (limit, offset) = page(q)?.get(50, 1000)?;
    if s.research.dataset(id.clone()).await?.is_none() {
        return Err(not_found(format!("dataset {id} not found")));
    }
    let (rows, total) = s
        .research
        .db(move |c| store::runs(c, Some(&id), limit, offset))
        .await?;
    Ok(Json(json!({"count": rows.len(), "total": total, "runs": rows})).into_response())
}

// ---- walk-forward runs ----

pub(super) async fn list_runs(
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

pub(super) async fn one_run(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
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

pub(super) async fn create_run(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let b: RunBody = body(&bytes)?;
    // its predictions are the measurement `wf_<run_id>`, a name of at most 127
    check_id("run_id", &b.run_id, 127 - "wf_".len())?;
    if b.fold_count < 1 {
        return Err(bad(format!(
            "fold_count must be at least 1, got {}",
            b.fold_count
        )));
    }
    if s.research.dataset(b.dataset_id.clone()).await?.is_none() {
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
pub(super) async fn predictions(
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
    super::sql::stream_rows(&s, sql, format == "json", None).await
}

// ---- simulations ----

pub(super) async fn list_simulations(
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

pub(super) async fn one_simulation(State(s): State<AppState>, Path(id): Path<String>) -> Answer {
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

pub(super) async fn create_simulation(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let b: SimulationBody = body(&bytes)?;
    check_id("simulation_id", &b.simulation_id, 128)?;
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

pub(super) async fn trades(
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
