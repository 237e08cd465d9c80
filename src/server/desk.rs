//! Operator routes [auth]: the desk state and history (reads: the published snapshot and the
//! read connections, never the write queue), and one route per operator command, registered from
//! the command table in `engine::command`.
use super::AppState;
use super::errors::{ApiError, ApiResult};
use super::extract::RawBody;
use crate::engine::command::{CommandAnswer, CommandRoute, DeskCommand, ROUTES};
use crate::engine::orders::Order;
use crate::engine::state::Brick;
use crate::engine::store::DeskEvent;
use crate::engine::view::StateView;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/state", get(state_view))
        .route("/api/orders", get(list_orders))
        .route("/api/events", get(events))
        .route("/api/bricks", get(bricks))
        .route("/api/ws", get(super::ws::events))
        .route("/api/two-half-tp-lock", post(two_half_tp_lock));
    for route in ROUTES {
        router = router.route(
            route.path,
            post(move |s: State<AppState>, body: RawBody| command(s, route, body)),
        );
    }
    router
}

/// `{ "ok": true, …T }`: every success answer of this surface.
#[derive(Serialize)]
pub struct Ok<T: Serialize> {
    ok: bool,
    #[serde(flatten)]
    body: T,
}

pub fn ok<T: Serialize>(body: T) -> Json<Ok<T>> {
    Json(Ok { ok: true, body })
}

/// `{ "order": … }`: the answer of the routes that make or change one order.
#[derive(Serialize)]
pub struct OrderAnswer<T: Serialize> {
    pub order: T,
}

async fn state_view(State(s): State<AppState>) -> Json<Arc<StateView>> {
    Json(s.engine.snapshot())
}

/// Runs the operator command of `route` with the request's body. A created entry (an order or
/// an armed preorder) answers 201, as the original desk does.
async fn command(
    State(s): State<AppState>,
    route: &'static CommandRoute,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Ok<CommandAnswer>>)> {
    let cmd: DeskCommand = route.parse(&body).map_err(ApiError::bad_request)?;
    let entry = matches!(cmd, DeskCommand::Entry(_));
    let answer = s.engine.call(move |e| e.execute(cmd)).await?;
    // the snapshot published with this command's commit (or a newer one)
    if entry {
        let answer = answer.with_state((*s.engine.snapshot()).clone());
        return Ok((StatusCode::CREATED, ok(answer)));
    }
    Ok((StatusCode::OK, ok(answer)))
}

#[derive(Deserialize)]
struct ListQuery {
    asset: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
struct OrdersBody {
    orders: Vec<Order>,
}

async fn list_orders(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Ok<OrdersBody>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let orders = s
        .engine
        .reader()
        .read(move |r, st| r.orders(st, q.asset.as_deref(), limit))
        .await?;
    Ok(ok(OrdersBody { orders }))
}

#[derive(Deserialize)]
struct EventsQuery {
    limit: Option<u32>,
}

#[derive(Serialize)]
struct EventsBody {
    events: Vec<DeskEvent>,
}

async fn events(
    State(s): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Json<Ok<EventsBody>>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 5_000);
    let events = s
        .engine
        .reader()
        .read(move |r, st| r.events(st, limit))
        .await?;
    Ok(ok(EventsBody { events }))
}

#[derive(Deserialize)]
struct BricksQuery {
    asset: String,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct BricksBody {
    asset: String,
    bricks: BTreeMap<String, Vec<Brick>>,
}

async fn bricks(
    State(s): State<AppState>,
    Query(q): Query<BricksQuery>,
) -> ApiResult<Json<Ok<BricksBody>>> {
    let limit = q
        .limit
        .unwrap_or(120)
        .clamp(1, crate::engine::BRICK_HISTORY);
    let h = s
        .engine
        .reader()
        .read(move |r, st| r.bricks(st, &q.asset, limit))
        .await?;
    Ok(ok(BricksBody {
        asset: h.asset,
        bricks: h.bricks,
    }))
}

async fn two_half_tp_lock() -> ApiError {
    ApiError::new(
        StatusCode::LOCKED,
        "2.5pt TP lock is automatic only: manual management is disabled",
    )
}
