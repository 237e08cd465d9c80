//! Seed 002, the backtest results API: finished backtests newest first, one backtest with its
//! equity curve and trades, and `/ws` pushing each trade of a running backtest or paper run.
//! Errors are `{"detail": …}`.
use super::AppState;
use super::errors::Detail;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/backtests", get(list))
        .route("/api/backtests/{backtest_id}", get(detail))
        .route("/ws", get(trades_ws))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> Result<Response, Detail> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = s.backtests.list(limit, q.offset.unwrap_or(0)).await?;
    Ok(Json(rows).into_response())
}

#[derive(Deserialize)]
struct DetailQuery {
    /// Most equity points (default 5,000; the lowest and highest of each stretch are kept).
    points: Option<usize>,
    /// Most trades (default: all of them).
    trades: Option<usize>,
}

async fn detail(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, Detail> {
    let not_found = || Detail::new(StatusCode::NOT_FOUND, "Backtest not found");
    // FastAPI answers a non-integer id 422; an integer no backtest has, 404
    let id: i64 = id.trim().parse().map_err(|_| {
        Detail::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("backtest_id must be an integer, got {id:?}"),
        )
    })?;
    let points = q.points.unwrap_or(5000).clamp(2, 1_000_000);
    match s.backtests.detail(id, points, q.trades).await? {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(not_found()),
    }
}

async fn trades_ws(State(s): State<AppState>, ws: axum::extract::ws::WebSocketUpgrade) -> Response {
    let slot = match super::ws::slot(&s, &s.sockets.trades, "/ws") {
        Ok(slot) => slot,
        Err(busy) => return busy.into_response(),
    };
    let rx = s.backtests.trade_events();
    let stop = s.shutdown.clone();
    ws.on_upgrade(move |socket| async move {
        super::ws::forward(socket, rx, None, stop).await;
        drop(slot);
    })
}
