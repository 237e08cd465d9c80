//! TradingView webhooks: price heartbeats, the six Renko feeds (one table, one handler), and the
//! level exit. The secret travels in the JSON body.
use super::AppState;
use super::auth::require_secret;
use super::desk::{Ok, OrderAnswer, ok};
use super::errors::{ApiError, ApiResult};
use super::extract::{RawBody, de, secret_first, signed};
use crate::engine::model::{BrickSize, Color};
use crate::engine::{BrickInput, HeartbeatInput};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Webhook path → brick size (both 1pt paths feed the same size).
pub const BRICK_ROUTES: [(&str, BrickSize); 7] = [
    ("/tv_renko_small", BrickSize::One),
    ("/tv_renko_one", BrickSize::One),
    ("/tv_renko_two_half", BrickSize::TwoHalf),
    ("/tv_renko", BrickSize::Four),
    ("/tv_renko_main", BrickSize::Main),
    ("/tv_renko_high", BrickSize::High),
    ("/tv_renko_macro", BrickSize::Macro),
];

signed!(BrickBody, HeartbeatBody, AssetBody);

pub fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/tv_heartbeat", post(heartbeat))
        .route("/tv_level_exit", post(level_exit));
    for (path, size) in BRICK_ROUTES {
        r = r.route(path, post(move |state, body| brick(size, state, body)));
    }
    r
}

/// TradingView's shared secret travels in the JSON body.
fn check_tv(state: &AppState, secret: Option<&str>) -> ApiResult<()> {
    require_secret(secret, &state.secrets.tv_webhook_secret, "webhook")
}

/// A brick alert as TradingView really sends it (CONTRACTS.md): the original deployment guide's
/// message is `{"secret", "asset": "{{ticker}}", "color": "{{plot_0}}", "bar_ts": "{{time}}"}`.
/// Unknown fields are ignored.
#[derive(Deserialize)]
struct BrickBody {
    #[serde(default, deserialize_with = "de::loose_text")]
    secret: Option<String>,
    #[serde(default, deserialize_with = "de::loose_text")]
    asset: Option<String>,
    #[serde(default, deserialize_with = "de::loose_text")]
    symbol: Option<String>,
    /// `green`/`red` (any case); anything else, or nothing, is neutral.
    #[serde(default, deserialize_with = "de::loose_text")]
    color: Option<String>,
    #[serde(default, deserialize_with = "de::loose_text")]
    bar_id: Option<String>,
    #[serde(default, deserialize_with = "de::loose_text")]
    bar_ts: Option<String>,
    /// Optional: the brick's close (`"{{close}}"`), a number or numeric text; the engine reads it.
    #[serde(default, deserialize_with = "de::loose_text")]
    close: Option<String>,
}

/// The asset from `asset`, else `symbol` (the original reads both).
fn asset_of(asset: Option<String>, symbol: Option<String>) -> ApiResult<String> {
    asset.or(symbol).ok_or_else(|| {
        ApiError::bad_request("invalid request: missing field `asset` (or `symbol`)")
    })
}

async fn brick(
    size: BrickSize,
    State(state): State<AppState>,
    RawBody(bytes): RawBody,
) -> ApiResult<Json<Ok<impl Serialize>>> {
    let body: BrickBody = secret_first(&bytes, |s| check_tv(&state, s))?;
    let sent_color = body.color.unwrap_or_default();
    let input = BrickInput {
        asset: asset_of(body.asset, body.symbol)?,
        size,
        color: Color::parse(sent_color.trim()),
        sent_color,
        bar_id: body.bar_id.or(body.bar_ts),
        close: body.close,
    };
    let out = state.engine.call(move |e| e.webhook_brick(input)).await?;
    Ok(ok(out))
}

#[derive(Deserialize)]
struct HeartbeatBody {
    #[serde(default, deserialize_with = "de::loose_text")]
    secret: Option<String>,
    #[serde(default, deserialize_with = "de::loose_text")]
    asset: Option<String>,
    #[serde(default, deserialize_with = "de::loose_text")]
    symbol: Option<String>,
    /// A number, or a numeric string (`"{{close}}"` in an alert message).
    #[serde(deserialize_with = "de::number_or_numeric_string")]
    price: f64,
    #[serde(default)]
    timestamp: Option<Value>,
}

async fn heartbeat(
    State(state): State<AppState>,
    RawBody(bytes): RawBody,
) -> ApiResult<Json<Ok<impl Serialize>>> {
    let body: HeartbeatBody = secret_first(&bytes, |s| check_tv(&state, s))?;
    let input = HeartbeatInput {
        asset: asset_of(body.asset, body.symbol)?,
        price: body.price,
        timestamp: body.timestamp.as_ref().and_then(Value::as_i64),
    };
    let out = state.engine.call(move |e| e.heartbeat(input)).await?;
    Ok(ok(out))
}

#[derive(Deserialize)]
struct AssetBody {
    #[serde(default, deserialize_with = "de::loose_text")]
    secret: Option<String>,
    #[serde(default, deserialize_with = "de::loose_text")]
    asset: Option<String>,
    #[serde(default, deserialize_with = "de::loose_text")]
    symbol: Option<String>,
}

async fn level_exit(
    State(state): State<AppState>,
    RawBody(bytes): RawBody,
) -> ApiResult<Json<Ok<impl Serialize>>> {
    let body: AssetBody = secret_first(&bytes, |s| check_tv(&state, s))?;
    let asset = asset_of(body.asset, body.symbol)?;
    let order = state.engine.call(move |e| e.level_exit(&asset)).await?;
    Ok(ok(OrderAnswer { order }))
}
