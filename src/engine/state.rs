//! The desk's persistent state: per asset (bricks, tempo, intent, locks, position, armed exits)
//! and account-wide (trading day, trade count, daily stop, env, bridge). Saved as one JSON row per asset plus one for the account.
use super::model::{BrickSize, Color, EntrySizeMode, Env, Side, TradeMode};
use super::renko::RenkoBuilder;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Limits and timings of the desk rules (TOML `[desk]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DeskSettings {
    pub daily_stop_usd: f64,
    pub trade_limit: u32,
    pub cooldown_secs: i64,
    pub candle_lock_secs: i64,
    pub exit_lock_secs: i64,
    pub heartbeat_fresh_secs: i64,
    pub bridge_fresh_secs: i64,
    pub stale_after_secs: i64,
    /// Trading day rolls at this local hour in `timezone`.
    pub day_roll_hour: u32,
    pub timezone: String,
    /// Gain (points) after which the automatic 2.5pt TP lock arms.
    pub two_half_lock_points: f64,
    /// Default N of the signal-count TP.
    pub signal_tp_default: u32,
    /// A price more than this many percent away from the asset's last price is refused (422).
    pub price_band_pct: f64,
}

impl Default for DeskSettings {
    fn default() -> Self {
        Self {
            daily_stop_usd: 500.0,
            trade_limit: 6,
            cooldown_secs: 120,
            candle_lock_secs: 300,
            exit_lock_secs: 10,
            heartbeat_fresh_secs: 600,
            bridge_fresh_secs: 60,
            stale_after_secs: 30,
            day_roll_hour: 17,
            timezone: "America/Chicago".into(),
            two_half_lock_points: 2.5,
            signal_tp_default: 3,
            price_band_pct: 20.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Brick {
    pub asset: String,
    pub size: BrickSize,
    pub color: Color,
    pub bar_id: String,
    pub received_at: DateTime<Utc>,
    /// Grid prices when the engine built the brick; null for TradingView bricks.
    pub open: Option<f64>,
    pub close: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum IntentStatus {
    /// Waiting for the next `main` brick.
    Armed,
    /// Usable in place of the tempo token until the next `main` brick.
    Ready,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Intent {
    pub status: IntentStatus,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Preorder {
    pub trade_mode: TradeMode,
    pub direction: Option<Side>,
    pub entry_size_mode: EntrySizeMode,
    pub entry_override: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Position {
    pub side: Side,
    pub qty: u32,
    pub avg_price: f64,
    pub opened_at: DateTime<Utc>,
    /// `main` bricks printed since the entry fill.
    pub bars_since_entry: u32,
    /// Best open points reached (drives the 2.5pt TP lock).
    pub max_favorable_points: f64,
    pub scaled_in: bool,
    pub entry_size_mode: EntrySizeMode,
    pub trade_mode: TradeMode,
}

impl Position {
    pub fn open_points(&self, price: f64) -> f64 {
        (price - self.avg_price) * self.side.sign()
    }
    pub fn signed_qty(&self) -> i64 {
        self.qty as i64 * self.side.sign() as i64
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Protect {
    pub enabled: bool,
    pub threshold: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PointsTp {
    pub enabled: bool,
    pub target: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignalTp {
    pub armed: bool,
    pub target: u32,
    pub count: u32,
}

/// The operator's armed exits for an asset; they apply to whatever position it holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitSettings {
    pub protect: Protect,
    pub points_tp: PointsTp,
    pub signal_tp: SignalTp,
    pub high_next_bar: bool,
    pub main_flip: bool,
    pub four_pt_invalidation: bool,
}

impl ExitSettings {
    pub fn new(signal_tp_default: u32) -> Self {
        Self {
            protect: Protect {
                enabled: false,
                threshold: -2.0,
            },
            points_tp: PointsTp {
                enabled: false,
                target: 15.0,
            },
            signal_tp: SignalTp {
                armed: false,
                target: signal_tp_default,
                count: 0,
            },
            high_next_bar: false,
            main_flip: false,
            four_pt_invalidation: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssetState {
    /// Last brick of each size, indexed by `BrickSize::index`.
    pub last_bricks: Vec<Option<Brick>>,
    /// Price-to-brick builders (used when the asset's source is `price`).
    pub builders: Vec<RenkoBuilder>,
    pub tempo_ready: bool,
    pub intent: Option<Intent>,
    pub preorder: Option<Preorder>,
    pub last_entry_at: Option<DateTime<Utc>>,
    pub last_exit_at: Option<DateTime<Utc>>,
    pub position: Option<Position>,
    pub exits: ExitSettings,
    pub last_price: Option<f64>,
    pub last_price_at: Option<DateTime<Utc>>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

impl AssetState {
    pub fn new(settings: &DeskSettings) -> Self {
        Self {
            last_bricks: vec![None; BrickSize::ALL.len()],
            builders: BrickSize::ALL
                .iter()
                .map(|s| RenkoBuilder::new(s.points()))
                .collect(),
            tempo_ready: false,
            intent: None,
            preorder: None,
            last_entry_at: None,
            last_exit_at: None,
            position: None,
            exits: ExitSettings::new(settings.signal_tp_default),
            last_price: None,
            last_price_at: None,
            last_heartbeat_at: None,
        }
    }

    pub fn last_color(&self, size: BrickSize) -> Option<Color> {
        self.last_bricks[size.index()].as_ref().map(|b| b.color)
    }

    /// Zone from the 8pt and 12pt colors: `(normal, structural direction)`.
    pub fn zone(&self) -> (Zone, Option<Side>) {
        match (
            self.last_color(BrickSize::High),
            self.last_color(BrickSize::Macro),
        ) {
            (Some(h), Some(m)) if h == m => (Zone::Normal, Some(h.side())),
            _ => (Zone::Free, None),
        }
    }

    pub fn open_points(&self) -> Option<f64> {
        Some(self.position.as_ref()?.open_points(self.last_price?))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Zone {
    Normal,
    Free,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct BridgeStatus {
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub ts_connected: bool,
    pub md_connected: bool,
    pub repo_ok: bool,
    pub account: Option<String>,
    pub trade_route: Option<String>,
    pub last_rapi_event_utc: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PnlSnapshot {
    pub at: DateTime<Utc>,
    pub realized: f64,
    pub unrealized: f64,
    pub account_balance: Option<f64>,
    pub symbols: Vec<SnapshotSymbol>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSymbol {
    pub symbol: String,
    pub position: i64,
    pub open_pnl: Option<f64>,
}

/// One asset where the bridge and the engine disagree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mismatch {
    pub asset: String,
    pub symbol: String,
    pub engine_position: i64,
    pub bridge_position: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PositionMismatch {
    pub at: DateTime<Utc>,
    pub assets: Vec<Mismatch>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Account {
    pub trading_day: Option<NaiveDate>,
    pub trade_count: u32,
    /// Realized PnL (USD) of the engine's own fills this trading day.
    pub realized_today: f64,
    pub daily_stop_triggered: bool,
    pub env: Env,
    pub bridge: BridgeStatus,
    pub pnl_snapshot: Option<PnlSnapshot>,
    pub position_mismatch: Option<PositionMismatch>,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            trading_day: None,
            trade_count: 0,
            realized_today: 0.0,
            daily_stop_triggered: false,
            env: Env::Demo,
            bridge: BridgeStatus::default(),
            pnl_snapshot: None,
            position_mismatch: None,
        }
    }
}
