//! Bridge routes: the broker bridge on another host polls and claims orders, reports executions,
//! and sends heartbeats and PnL snapshots. The secret comes in the body or the query string.
use super::AppState;
use super::auth::require_secret;
use super::desk::{Ok, OrderAnswer, ok};
use super::errors::{ApiError, ApiResult};
use super::extract::{RawBody, de, secret_first, signed};
use crate::engine::state::SnapshotSymbol;
use crate::engine::{BridgeHeartbeat, ExecutionReport, PnlSnapshotInput};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct Orders<T: Serialize> {
    orders: T,
}
#[derive(Serialize)]
struct Fresh {
    bridge_fresh: bool,
}
#[derive(Serialize)]
struct Mismatch<T: Serialize> {
    position_mismatch: T,
}

signed!(ReportBody, HeartbeatBody, SnapshotBody);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/orders/pending", get(pending))
        .route(
            "/api/orders/{order_id}/execution-report",
            post(execution_report),
        )
        .route("/api/bridge/heartbeat", post(heartbeat))
        .route("/api/rithmic/pnl-snapshot", post(pnl_snapshot))
}

#[derive(Deserialize, Default)]
struct SecretQuery {
    secret: Option<String>,
    limit: Option<String>,
    owner: Option<String>,
}

fn check(state: &AppState, body: Option<&str>, query: Option<&str>) -> ApiResult<()> {
    require_secret(
        body.or(query),
        &state.secrets.bridge_heartbeat_secret,
        "bridge",
    )
}

async fn pending(
    State(state): State<AppState>,
    Query(q): Query<SecretQuery>,
) -> ApiResult<Json<Ok<impl Serialize>>> {
    check(&state, None, q.secret.as_deref())?;
    let limit = match q.limit.as_deref() {
        None => 20,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be an integer 1..=500 (got {s:?})"))
            })?,
    };
    let owner = q.owner.unwrap_or_else(|| "bridge".into());
    if owner.is_empty() || owner.len() > 64 {
        return Err(ApiError::bad_request("owner must be 1..=64 characters"));
    }
    let orders = state
        .engine
        .call(move |e| e.claim_pending(limit, &owner))
        .await?;
    Ok(ok(Orders { orders }))
}

#[derive(Deserialize)]
struct ReportBody {
    #[serde(default, deserialize_with = "de::loose_text")]
    secret: Option<String>,
    status: String,
    #[serde(default)]
    extra: ReportExtra,
}

#[derive(Deserialize, Default)]
struct ReportExtra {
    fill_price: Option<f64>,
    symbol: Option<String>,
    side: Option<String>,
    qty: Option<u32>,
}

async fn execution_report(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    Query(q): Query<SecretQuery>,
    RawBody(bytes): RawBody,
) -> ApiResult<Json<Ok<impl Serialize>>> {
    let body: ReportBody = secret_first(&bytes, |s| check(&state, s, q.secret.as_deref()))?;
    let report = ExecutionReport {
        status: body.status,
        fill_price: body.extra.fill_price,
        symbol: body.extra.symbol,
        side: body.extra.side,
        qty: body.extra.qty,
    };
    let order = state
        .engine
        .call(move |e| e.execution_report(&order_id, report))
        .await?;
    Ok(ok(OrderAnswer { order }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeartbeatBody {
    #[serde(default, deserialize_with = "de::loose_text")]
    secret: Option<String>,
    ts_connected: bool,
    md_connected: bool,
    #[serde(default)]
    repo_ok: bool,
    account: Option<String>,
    trade_route: Option<String>,
    last_rapi_event_utc: Option<String>,
}

async fn heartbeat(
    State(state): State<AppState>,
    Query(q): Query<SecretQuery>,
    RawBody(bytes): RawBody,
) -> ApiResult<Json<Ok<impl Serialize>>> {
    let body: HeartbeatBody = secret_first(&bytes, |s| check(&state, s, q.secret.as_deref()))?;
    let hb = BridgeHeartbeat {
        ts_connected: body.ts_connected,
        md_connected: body.md_connected,
        repo_ok: body.repo_ok,
        account: body.account,
        trade_route: body.trade_route,
        last_rapi_event_utc: body.last_rapi_event_utc,
    };
    let fresh = state
        .engine
        .call(move |e| {
            e.bridge_heartbeat(hb)?;
            Ok(e.bridge_fresh())
        })
        .await?;
    Ok(ok(Fresh {
        bridge_fresh: fresh,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotBody {
    #[serde(default, deserialize_with = "de::loose_text")]
    secret: Option<String>,
    realized: f64,
    unrealized: f64,
    account_balance: Option<f64>,
    #[serde(default)]
    symbols: Vec<SnapshotSymbol>,
}

async fn pnl_snapshot(
    State(state): State<AppState>,
    Query(q): Query<SecretQuery>,
    RawBody(bytes): RawBody,
) -> ApiResult<Json<Ok<impl Serialize>>> {
    let body: SnapshotBody = secret_first(&bytes, |s| check(&state, s, q.secret.as_deref()))?;
    let input = PnlSnapshotInput {
        realized: body.realized,
        unrealized: body.unrealized,
        account_balance: body.account_balance,
        symbols: body.symbols,
    };
    let mismatch = state.engine.call(move |e| e.pnl_snapshot(input)).await?;
    Ok(ok(Mismatch {
        position_mismatch: mismatch,
    }))
}
