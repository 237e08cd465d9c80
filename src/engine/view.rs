//! `GET /api/state`: everything the console shows, computed at one instant (locks with seconds
//! remaining, ages, freshness). Serializable both ways so an attached console can read it.
use super::Engine;
use super::model::{BrickSize, BrickSource, Env, Side};
use super::orders::Order;
use super::state::{
    Brick, BridgeStatus, ClosedTrade, ExitSettings, Intent, PositionMismatch, Preorder,
    ScaleInStage, Shade, Zone,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StateView {
    pub now: DateTime<Utc>,
    pub env: Env,
    pub assets: Vec<AssetView>,
    pub account: AccountView,
    pub bridge: BridgeView,
    pub flags: FlagsView,
    /// The newest orders (all assets), newest first. Shared between snapshots until an order
    /// changes.
    pub orders: std::sync::Arc<Vec<Order>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockView {
    pub active: bool,
    pub seconds_remaining: i64,
}

impl LockView {
    fn from_remaining(left: Option<i64>) -> Self {
        LockView {
            active: left.is_some(),
            seconds_remaining: left.unwrap_or(0),
        }
    }
}

/// The initial exit lock of the asset's trade.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitLockView {
    /// Manual exits need `force` (and the signal-count TP is held) until a fresh 6pt brick.
    pub active: bool,
    /// A fresh 6pt brick came after the last fill.
    pub released: bool,
}

/// The 2.5pt management lock of the asset's trade.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TwoHalfLockView {
    pub locked: bool,
    /// The brick that set it (the trade's color or neutral); null when unlocked.
    pub color: Option<Shade>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocksView {
    /// Account-wide: the same on every asset.
    pub candle_lock: LockView,
    /// Account-wide: the same on every asset.
    pub cooldown: LockView,
    pub exit_lock: ExitLockView,
    pub two_half_lock: TwoHalfLockView,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PositionView {
    pub side: Side,
    pub qty: u32,
    pub avg_price: f64,
    pub open_points: Option<f64>,
    pub open_pnl: Option<f64>,
    pub bars_since_entry: u32,
    pub opened_at: DateTime<Utc>,
    pub max_favorable_points: f64,
    pub scale_in: ScaleInStage,
    pub entry_size_mode: String,
    pub trade_mode: String,
    /// The stop at the entry size's distance (6 or 9 points): held by the broker, and by the
    /// server too when `server_side_stop` is on.
    pub protective_stop_price: f64,
    /// The trade was entered in a FREE zone (its 6pt flip was armed).
    pub free_zone: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArmedExitsView {
    #[serde(flatten)]
    pub settings: ExitSettings,
    /// The server-side stop distance, when `server_side_stop` is on and a trade is open.
    pub protective_stop_points: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssetView {
    pub asset: String,
    pub symbol: String,
    pub exchange: String,
    pub tick: f64,
    pub point_value: f64,
    pub default_qty: u32,
    pub source: BrickSource,
    /// Last brick of each size, by size name (`one`, `two_half`, `four`, `main`, `high`, `macro`).
    pub bricks: BTreeMap<String, Option<Brick>>,
    /// NORMAL, FREE, or NONE (an 8pt or 12pt color missing or neutral: no market entries).
    pub zone: Zone,
    /// The zone is FREE: 8pt and 12pt disagree, the operator chooses the direction.
    pub conflict_mode: bool,
    pub structural_direction: Option<Side>,
    /// `READY` or `WAIT` (the original's words).
    pub tempo_token: String,
    pub intent: Option<Intent>,
    pub preorder: Option<Preorder>,
    pub locks: LocksView,
    pub pending_order: Option<Order>,
    pub position: Option<PositionView>,
    pub exits: ArmedExitsView,
    /// The trade's scale-in stage (null when flat).
    pub scale_in_stage: Option<ScaleInStage>,
    /// An automatic exit (its reason) waiting for the asset's unfinished order to settle.
    pub exit_waiting: Option<String>,
    pub scale_in_available: bool,
    pub last_price: Option<f64>,
    pub last_price_age_secs: Option<i64>,
    pub heartbeat_age_secs: Option<i64>,
    pub heartbeat_fresh: bool,
    /// What would refuse a market entry now: the first failing gate (null: the gates pass).
    pub entry_block: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountView {
    pub trading_day: Option<NaiveDate>,
    pub day_ends_at: DateTime<Utc>,
    pub trade_count: u32,
    pub trade_limit: u32,
    pub day_pnl: f64,
    pub realized_today: f64,
    /// The daily stop: a drawdown of this many percent from the day's starting balance ...
    pub daily_stop_pct: f64,
    /// ... or, if set, a day PnL of −this USD.
    pub daily_stop_usd: Option<f64>,
    pub daily_stop_triggered: bool,
    pub daily_stop_reason: Option<String>,
    /// The first `accountBalance` of the trading day, and the latest.
    pub day_start_balance: Option<f64>,
    pub account_balance: Option<f64>,
    /// How far the balance is below the day's start (%), when both are known.
    pub drawdown_pct: Option<f64>,
    /// The trades closed this trading day, oldest first (the newest `TRADES_KEPT`).
    #[serde(default)]
    pub trades_today: Vec<ClosedTrade>,
    /// How much of the daily stop the day has used (1: it triggers), by the nearer of its rules;
    /// null while neither can be measured.
    #[serde(default)]
    pub daily_stop_used: Option<f64>,
    pub candle_lock: LockView,
    pub cooldown: LockView,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BridgeView {
    pub fresh: bool,
    pub age_secs: Option<i64>,
    #[serde(flatten)]
    pub status: BridgeStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlagsView {
    pub position_mismatch: Option<PositionMismatch>,
    pub stale_orders: Vec<String>,
    pub daily_stop_triggered: bool,
}

impl Engine {
    /// Forgets locks whose time is over (the 1 Hz tick).
    pub(crate) fn release_expired_locks(&mut self) {
        if self.account.last_entry_at.is_some() && self.candle_lock_remaining().is_none() {
            self.account.last_entry_at = None;
            self.mark_dirty();
        }
        if self.account.last_exit_at.is_some() && self.cooldown_remaining().is_none() {
            self.account.last_exit_at = None;
            self.mark_dirty();
        }
    }

    /// The view without housekeeping (read-only).
    pub fn snapshot(&self) -> StateView {
        let now = self.now();
        let assets = (0..self.assets.len()).map(|a| self.asset_view(a)).collect();
        let orders = self.recent_orders_view();
        StateView {
            now,
            env: self.account.env,
            assets,
            account: AccountView {
                trading_day: self.account.trading_day,
                day_ends_at: self.trading_day_end(now),
                trade_count: self.account.trade_count,
                trade_limit: self.settings.trade_limit,
                day_pnl: self.day_pnl(),
                realized_today: self.account.realized_today,
                daily_stop_pct: self.settings.daily_stop_pct,
                daily_stop_usd: self.settings.daily_stop_usd,
                daily_stop_triggered: self.account.daily_stop_triggered,
                daily_stop_reason: self.account.daily_stop_reason.clone(),
                day_start_balance: self.account.day_start_balance,
                account_balance: self
                    .account
                    .pnl_snapshot
                    .as_ref()
                    .and_then(|s| s.account_balance),
                drawdown_pct: self.drawdown_pct(),
                trades_today: self.account.trades_today.clone(),
                daily_stop_used: self.daily_stop_used(),
                candle_lock: LockView::from_remaining(self.candle_lock_remaining()),
                cooldown: LockView::from_remaining(self.cooldown_remaining()),
            },
            bridge: BridgeView {
                fresh: self.bridge_fresh(),
                age_secs: self.bridge_age(),
                status: self.account.bridge.clone(),
            },
            flags: FlagsView {
                position_mismatch: self.account.position_mismatch.clone(),
                stale_orders: self
                    .orders_iter()
                    .filter(|o| o.stale && o.status.is_unfinished())
                    .map(|o| o.id.clone())
                    .collect(),
                daily_stop_triggered: self.account.daily_stop_triggered,
            },
            orders,
        }
    }

    fn asset_view(&self, a: usize) -> AssetView {
        let cfg = &self.assets[a];
        let st = &self.desk[a];
        let now = self.now();
        let (zone, structural_direction) = st.zone();
        let open_points = self.open_points(a);
        let position = st.position.as_ref().map(|p| PositionView {
            side: p.side,
            qty: p.qty,
            avg_price: p.avg_price,
            open_points,
            open_pnl: open_points.map(|pts| pts * p.qty as f64 * cfg.point_value),
            bars_since_entry: p.bars_since_entry,
            opened_at: p.opened_at,
            max_favorable_points: p.max_favorable_points,
            scale_in: p.scale_in,
            entry_size_mode: p.entry_size_mode.as_str().into(),
            trade_mode: p.trade_mode.as_str().into(),
            protective_stop_price: p.avg_price - p.side.sign() * p.entry_size_mode.stop_points(),
            free_zone: p.free_zone,
        });
        AssetView {
            asset: cfg.name.clone(),
            symbol: cfg.symbol.clone(),
            exchange: cfg.exchange.clone(),
            tick: cfg.tick,
            point_value: cfg.point_value,
            default_qty: cfg.default_qty,
            source: cfg.source,
            bricks: BrickSize::ALL
                .iter()
                .map(|s| (s.name().to_string(), st.last_bricks[s.index()].clone()))
                .collect(),
            zone,
            conflict_mode: zone == Zone::Free,
            structural_direction,
            tempo_token: if st.tempo_ready { "READY" } else { "WAIT" }.into(),
            intent: st.intent.clone(),
            preorder: st.preorder.clone(),
            locks: LocksView {
                candle_lock: LockView::from_remaining(self.candle_lock_remaining()),
                cooldown: LockView::from_remaining(self.cooldown_remaining()),
                exit_lock: ExitLockView {
                    active: self.exit_lock_active(a),
                    released: st.position.as_ref().is_some_and(|p| p.exit_lock_released),
                },
                two_half_lock: TwoHalfLockView {
                    locked: self.two_half_locked(a),
                    color: st.position.as_ref().and_then(|p| p.two_half_lock),
                },
            },
            pending_order: self.unfinished_order(a).cloned(),
            exits: ArmedExitsView {
                settings: st.exits.clone(),
                protective_stop_points: st
                    .position
                    .as_ref()
                    .filter(|_| self.settings.server_side_stop)
                    .map(|p| p.entry_size_mode.stop_points()),
            },
            scale_in_stage: st.position.as_ref().map(|p| p.scale_in),
            exit_waiting: st.exit_waiting.clone(),
            position,
            scale_in_available: self.scale_in_available(a),
            last_price: st.last_price,
            last_price_age_secs: st.last_price_at.map(|t| (now - t).num_seconds()),
            heartbeat_age_secs: self.heartbeat_age(a),
            heartbeat_fresh: self.heartbeat_fresh(a),
            entry_block: self.entry_block(a),
        }
    }
}
