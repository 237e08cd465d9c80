//! Operator routes [auth]: state, entries, exits and armed exits, intent, preorder, trade limit,
//! env. Each parses its body, calls one engine method, and answers `{ ok: true, … }`.
use super::AppState;
use super::errors::{ApiError, ApiResult};
use super::extract::{JsonBody, de};
use crate::engine::command::DeskCommand;
use crate::engine::model::{EntrySizeMode, Env, Side, TradeMode};
use crate::engine::{EntryRequest, OrderType, TpArm};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/state", get(state_view))
        .route("/api/orders", post(place_order).get(list_orders))
        .route("/api/events", get(events))
        .route("/api/bricks", get(bricks))
        .route("/api/ws", get(super::ws::events))
        .route("/api/exit", post(exit))
        .route("/api/exit-all", post(exit_all))
        .route("/api/scale-in", post(scale_in))
        .route("/api/protect", post(protect))
        .route("/api/points-take-profit", post(points_tp))
        .route("/api/take-profit", post(take_profit))
        .route("/api/high-next-bar-exit", post(high_next_bar))
        .route("/api/main-flip-exit", post(main_flip))
        .route("/api/four-pt-invalidation", post(four_pt))
        .route("/api/auto-exit", post(auto_exit))
        .route("/api/intent", post(intent))
        .route("/api/intent/cancel", post(intent_cancel))
        .route("/api/preorder/cancel", post(preorder_cancel))
        .route("/api/two-half-tp-lock", post(two_half_tp_lock))
        .route("/api/trade-limit/consume", post(trade_limit_consume))
        .route("/api/env", post(set_env))
}

async fn state_view(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let view = s.engine.call(|e| e.state_view()).await?;
    Ok(Json(serde_json::to_value(view).expect("state serializes")))
}

fn de_side<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Side>, D::Error> {
    Option::<String>::deserialize(d)?
        .filter(|s| !s.is_empty())
        .map(|s| {
            Side::parse(&s).ok_or_else(|| {
                serde::de::Error::custom(format!("direction {s:?} is not one of BUY, SELL"))
            })
        })
        .transpose()
}
fn de_mode<'de, D: Deserializer<'de>>(d: D) -> Result<TradeMode, D::Error> {
    de::parsed(d, TradeMode::parse, "SCALP, RUNNER")
}
fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<EntrySizeMode, D::Error> {
    de::parsed(d, EntrySizeMode::parse, "6pt, 9pt")
}
fn de_order_type<'de, D: Deserializer<'de>>(d: D) -> Result<OrderType, D::Error> {
    de::parsed(
        d,
        |s| match s.to_ascii_lowercase().as_str() {
            "market" => Some(OrderType::Market),
            "preorder" => Some(OrderType::Preorder),
            _ => None,
        },
        "market, preorder",
    )
}
fn scalp() -> TradeMode {
    TradeMode::Scalp
}
fn six() -> EntrySizeMode {
    EntrySizeMode::Six
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    asset: String,
    #[serde(default = "scalp", deserialize_with = "de_mode")]
    trade_mode: TradeMode,
    #[serde(default, deserialize_with = "de_order_type")]
    order_type: OrderType,
    #[serde(default, deserialize_with = "de_side")]
    direction: Option<Side>,
    #[serde(default = "six", deserialize_with = "de_size")]
    entry_size_mode: EntrySizeMode,
    #[serde(default)]
    entry_override: bool,
}

async fn place_order(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<OrderBody>,
) -> ApiResult<Json<Value>> {
    let cmd = DeskCommand::Entry(EntryRequest {
        asset: b.asset,
        trade_mode: b.trade_mode,
        order_type: b.order_type,
        direction: b.direction,
        entry_size_mode: b.entry_size_mode,
        entry_override: b.entry_override,
    });
    let (mut out, state) = s
        .engine
        .call(move |e| {
            let out = e.execute(cmd)?;
            Ok((out, e.snapshot()))
        })
        .await?;
    out.insert(
        "state".into(),
        serde_json::to_value(state).expect("state serializes"),
    );
    Ok(ok(out))
}

/// Runs one operator command and answers `{ "ok": true, … }`.
async fn run(s: &AppState, cmd: DeskCommand) -> ApiResult<Json<Value>> {
    Ok(ok(s.engine.call(move |e| e.execute(cmd)).await?))
}

fn ok(mut body: Map<String, Value>) -> Json<Value> {
    body.insert("ok".into(), Value::Bool(true));
    Json(Value::Object(body))
}

#[derive(Deserialize)]
struct ListQuery {
    asset: Option<String>,
    limit: Option<u32>,
}

async fn list_orders(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let orders = s
        .engine
        .call(move |e| e.list_orders(q.asset.as_deref(), limit))
        .await?;
    Ok(Json(json!({ "ok": true, "orders": orders })))
}

#[derive(Deserialize)]
struct EventsQuery {
    limit: Option<u32>,
}

async fn events(State(s): State<AppState>, Query(q): Query<EventsQuery>) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(200).clamp(1, 5_000);
    let events = s.engine.call(move |e| e.recent_events(limit)).await?;
    Ok(Json(json!({ "ok": true, "events": events })))
}

#[derive(Deserialize)]
struct BricksQuery {
    asset: String,
    limit: Option<usize>,
}

async fn bricks(State(s): State<AppState>, Query(q): Query<BricksQuery>) -> ApiResult<Json<Value>> {
    let limit = q
        .limit
        .unwrap_or(120)
        .clamp(1, crate::engine::BRICK_HISTORY);
    let h = s
        .engine
        .call(move |e| e.brick_history(&q.asset, limit))
        .await?;
    Ok(Json(
        json!({ "ok": true, "asset": h.asset, "bricks": h.bricks }),
    ))
}

#[derive(Deserialize)]
struct AssetBody {
    asset: String,
}

#[derive(Deserialize)]
struct ExitBody {
    asset: String,
    #[serde(default)]
    force: bool,
}

async fn exit(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<ExitBody>,
) -> ApiResult<Json<Value>> {
    run(
        &s,
        DeskCommand::Exit {
            asset: b.asset,
            force: b.force,
        },
    )
    .await
}

#[derive(Deserialize)]
struct ForceBody {
    #[serde(default)]
    force: bool,
}

async fn exit_all(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<ForceBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::ExitAll { force: b.force }).await
}

async fn scale_in(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AssetBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::ScaleIn { asset: b.asset }).await
}

#[derive(Deserialize)]
struct ProtectBody {
    asset: String,
    enabled: bool,
    threshold: Option<f64>,
}

async fn protect(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<ProtectBody>,
) -> ApiResult<Json<Value>> {
    run(
        &s,
        DeskCommand::Protect {
            asset: b.asset,
            enabled: b.enabled,
            threshold: b.threshold,
        },
    )
    .await
}

#[derive(Deserialize)]
struct PointsTpBody {
    asset: String,
    enabled: bool,
    target: Option<f64>,
}

async fn points_tp(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<PointsTpBody>,
) -> ApiResult<Json<Value>> {
    run(
        &s,
        DeskCommand::PointsTp {
            asset: b.asset,
            enabled: b.enabled,
            target: b.target,
        },
    )
    .await
}

#[derive(Deserialize)]
struct TakeProfitBody {
    asset: String,
    #[serde(default, deserialize_with = "de_tp_arm")]
    tp_arm: Option<TpArm>,
    tp_target: Option<u32>,
    #[serde(default)]
    reset: bool,
}

fn de_tp_arm<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TpArm>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(TpArm::On)),
        Some(Value::Bool(false)) => Ok(Some(TpArm::Off)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("toggle") => Ok(Some(TpArm::Toggle)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "tp_arm must be \"toggle\", true or false (got {other})"
        ))),
    }
}

async fn take_profit(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<TakeProfitBody>,
) -> ApiResult<Json<Value>> {
    let cmd = DeskCommand::TakeProfit {
        asset: b.asset,
        tp_arm: b.tp_arm,
        tp_target: b.tp_target,
        reset: b.reset,
    };
    run(&s, cmd).await
}

async fn high_next_bar(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AssetBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::HighNextBar { asset: b.asset }).await
}

async fn main_flip(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AssetBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::MainFlip { asset: b.asset }).await
}

async fn four_pt(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AssetBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::FourPt { asset: b.asset }).await
}

async fn auto_exit(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AssetBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::AutoExit { asset: b.asset }).await
}

async fn intent(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AssetBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::Intent { asset: b.asset }).await
}

async fn intent_cancel(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AssetBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::CancelIntent { asset: b.asset }).await
}

async fn preorder_cancel(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<AssetBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::CancelPreorder { asset: b.asset }).await
}

async fn two_half_tp_lock() -> ApiError {
    ApiError::new(
        StatusCode::LOCKED,
        "2.5pt TP lock is automatic only: manual management is disabled",
    )
}

async fn trade_limit_consume(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::ConsumeTradeSlot).await
}

#[derive(Deserialize)]
struct EnvBody {
    #[serde(deserialize_with = "de_env")]
    env: Env,
}

fn de_env<'de, D: Deserializer<'de>>(d: D) -> Result<Env, D::Error> {
    de::parsed(d, Env::parse, "DEMO, LIVE")
}

async fn set_env(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<EnvBody>,
) -> ApiResult<Json<Value>> {
    run(&s, DeskCommand::SetEnv { env: b.env }).await
}
