//! The desk's persistent state: per asset (bricks, tempo, intent, locks, position, armed exits)
//! and account-wide (trading day, trade count, daily stop, candle lock, cooldown, env, bridge).
//! Saved as one JSON row per asset plus one for the account; `migrate` upgrades older rows.
use super::model::{BrickSize, Color, EntrySizeMode, Env, Side, TradeMode};
use super::renko::RenkoBuilder;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Limits and timings of the desk rules (TOML `[desk]`). The defaults are the original desk's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DeskSettings {
    /// The daily stop triggers when the account balance has fallen this many percent from the
    /// day's starting balance (PnL snapshots' `accountBalance`).
    pub daily_stop_pct: f64,
    /// If set, the daily stop also triggers when the day's realized + open PnL reaches −this.
    pub daily_stop_usd: Option<f64>,
    /// Entries filled per trading day, account-wide.
    pub trade_limit: u32,
    /// Account-wide lock after any position closes.
    pub cooldown_secs: i64,
    /// One entry per wall-clock candle of this length, account-wide.
    pub candle_lock_secs: i64,
    pub heartbeat_fresh_secs: i64,
    pub bridge_fresh_secs: i64,
    pub stale_after_secs: i64,
    /// Trading day rolls at this local hour in `timezone`.
    pub day_roll_hour: u32,
    pub timezone: String,
    /// The points TP every fill arms.
    pub points_tp_default: f64,
    /// Default N of the signal-count TP.
    pub signal_tp_default: u32,
    /// Contracts a scale-in adds.
    pub scale_in_qty: u32,
    /// The broker holds the protective stop; `true` adds a server-side exit at the entry size's
    /// distance (6 or 9 points).
    pub server_side_stop: bool,
    /// A price more than this many percent away from the asset's last price is refused (422).
    pub price_band_pct: f64,
    /// No longer used (the initial exit lock now lasts until the first fresh 6pt brick); read so
    /// an older config still loads, and warned about.
    #[serde(skip_serializing)]
    pub exit_lock_secs: Option<f64>,
    /// No longer used (the 2.5pt lock follows 2.5pt brick colors); read and warned about.
    #[serde(skip_serializing)]
    pub two_half_lock_points: Option<f64>,
}

impl Default for DeskSettings {
    fn default() -> Self {
        Self {
            daily_stop_pct: 30.0,
            daily_stop_usd: None,
            trade_limit: 6,
            cooldown_secs: 180,
            candle_lock_secs: 300,
            heartbeat_fresh_secs: 600,
            bridge_fresh_secs: 60,
            stale_after_secs: 30,
            day_roll_hour: 17,
            timezone: "America/Chicago".into(),
            points_tp_default: 15.0,
            signal_tp_default: 3,
            scale_in_qty: 5,
            server_side_stop: false,
            price_band_pct: 20.0,
            exit_lock_secs: None,
            two_half_lock_points: None,
        }
    }
}

impl DeskSettings {
    /// Settings an older config names but the rules no longer use.
    pub fn retired_keys(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.exit_lock_secs.is_some() {
            out.push("exit_lock_secs");
        }
        if self.two_half_lock_points.is_some() {
            out.push("two_half_lock_points");
        }
        out
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
    /// This `main` brick is the one to act on (the tempo token is still required).
    Ready,
    /// A `main` brick passed after READY without an entry.
    Expired,
}

impl IntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Armed => "ARMED",
            IntentStatus::Ready => "READY",
            IntentStatus::Expired => "EXPIRED",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Intent {
    pub status: IntentStatus,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum PreorderStatus {
    /// Armed: waiting for the next `main` brick.
    #[default]
    Pending,
    /// Sent as an entry order at a `main` brick of its color.
    Filled,
    /// Dropped (the brick's color, a position, an order, the daily stop) or cancelled.
    Cancelled,
}

impl PreorderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PreorderStatus::Pending => "PENDING",
            PreorderStatus::Filled => "FILLED",
            PreorderStatus::Cancelled => "CANCELLED",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Preorder {
    #[serde(default)]
    pub status: PreorderStatus,
    /// Why it was sent or dropped.
    #[serde(default)]
    pub reason: Option<String>,
    /// The entry order it became.
    #[serde(default)]
    pub order_id: Option<String>,
    pub trade_mode: TradeMode,
    /// Always set on a new preorder; null only on one armed before the direction was required.
    pub direction: Option<Side>,
    pub entry_size_mode: EntrySizeMode,
    pub entry_override: bool,
    pub created_at: DateTime<Utc>,
}

/// A neutral brick, or the color of one: what the 2.5pt lock and the zone read.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Shade {
    Green,
    Red,
    Neutral,
}

impl Shade {
    pub fn of(color: Option<Color>) -> Self {
        match color {
            Some(Color::Green) => Shade::Green,
            Some(Color::Red) => Shade::Red,
            None => Shade::Neutral,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Shade::Green => "green",
            Shade::Red => "red",
            Shade::Neutral => "neutral",
        }
    }
}

/// Scale-in, once per trade: READY after a fresh `main` brick in the trade's color or a `four`
/// brick flipping against it; DONE once it filled.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScaleInStage {
    #[default]
    Wait,
    #[serde(rename = "READY_6PT")]
    Ready6pt,
    #[serde(rename = "READY_4PT_PULLBACK")]
    Ready4ptPullback,
    Done,
}

impl ScaleInStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleInStage::Wait => "WAIT",
            ScaleInStage::Ready6pt => "READY_6PT",
            ScaleInStage::Ready4ptPullback => "READY_4PT_PULLBACK",
            ScaleInStage::Done => "DONE",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Position {
    pub side: Side,
    pub qty: u32,
    pub avg_price: f64,
    pub opened_at: DateTime<Utc>,
    /// `main` bricks printed since the entry fill.
    pub bars_since_entry: u32,
    /// `high` bricks printed since the entry fill.
    #[serde(default)]
    pub highs_since_entry: u32,
    /// Best open points reached (shown; no rule reads it).
    pub max_favorable_points: f64,
    #[serde(default)]
    pub scale_in: ScaleInStage,
    pub entry_size_mode: EntrySizeMode,
    pub trade_mode: TradeMode,
    /// The initial exit lock is over: a fresh `main` brick came after the last fill.
    #[serde(default)]
    pub exit_lock_released: bool,
    /// The 2.5pt management lock: the brick that set it (trade color or neutral); None: unlocked.
    #[serde(default)]
    pub two_half_lock: Option<Shade>,
    /// The entry was made in a FREE zone: the 6pt flip exit is armed for the trade.
    #[serde(default)]
    pub free_zone: bool,
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

/// The exits of an asset's trade. Every fill arms the points TP and the trade's flips and turns
/// the other toggles off; a close turns everything off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitSettings {
    pub protect: Protect,
    pub points_tp: PointsTp,
    pub signal_tp: SignalTp,
    pub high_next_bar: bool,
    /// Exit on a `high` brick against the position: set for every trade.
    #[serde(default)]
    pub high_flip: bool,
    pub main_flip: bool,
    pub four_pt_invalidation: bool,
}

impl ExitSettings {
    /// Everything off: flat, or after a close.
    pub fn new(settings: &DeskSettings) -> Self {
        Self {
            protect: Protect {
                enabled: false,
                threshold: -2.0,
            },
            points_tp: PointsTp {
                enabled: false,
                target: settings.points_tp_default,
            },
            signal_tp: SignalTp {
                armed: false,
                target: settings.signal_tp_default,
                count: 0,
            },
            high_next_bar: false,
            high_flip: false,
            main_flip: false,
            four_pt_invalidation: false,
        }
    }

    /// What a fill arms: the points TP, the 8pt flip, and the 6pt flip for a FREE-zone trade.
    pub fn on_fill(settings: &DeskSettings, free_zone: bool) -> Self {
        let mut ex = Self::new(settings);
        ex.points_tp.enabled = true;
        ex.high_flip = true;
        ex.main_flip = free_zone;
        ex
    }

    /// Every toggle that can exit by itself.
    pub fn any_on(&self) -> bool {
        self.protect.enabled
            || self.points_tp.enabled
            || self.signal_tp.armed
            || self.high_next_bar
            || self.high_flip
            || self.main_flip
            || self.four_pt_invalidation
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AssetState {
    /// Last green or red brick of each size, indexed by `BrickSize::index`.
    pub last_bricks: Vec<Option<Brick>>,
    /// Per size: the newest alert of that size was neutral (neither green nor red).
    #[serde(default)]
    pub neutral: Vec<bool>,
    /// Price-to-brick builders (used when the asset's source is `price`).
    pub builders: Vec<RenkoBuilder>,
    pub tempo_ready: bool,
    /// The last trade saw a fresh `main` brick: a `four` color change while flat re-arms tempo.
    #[serde(default)]
    pub tempo_rearm_on_four: bool,
    pub intent: Option<Intent>,
    pub preorder: Option<Preorder>,
    /// The zone the entry in flight was made in (read when it fills).
    #[serde(default)]
    pub entry_zone: Option<Zone>,
    /// An automatic exit met while another order of the asset was unfinished (a scale-in): sent
    /// when that order settles.
    #[serde(default)]
    pub exit_waiting: Option<String>,
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
            neutral: vec![false; BrickSize::ALL.len()],
            builders: BrickSize::ALL
                .iter()
                .map(|s| RenkoBuilder::new(s.points()))
                .collect(),
            tempo_ready: false,
            tempo_rearm_on_four: false,
            intent: None,
            preorder: None,
            entry_zone: None,
            exit_waiting: None,
            position: None,
            exits: ExitSettings::new(settings),
            last_price: None,
            last_price_at: None,
            last_heartbeat_at: None,
        }
    }

    pub fn last_color(&self, size: BrickSize) -> Option<Color> {
        self.last_bricks[size.index()].as_ref().map(|b| b.color)
    }

    /// The newest alert of a size: its color, neutral, or None before the first.
    pub fn shade(&self, size: BrickSize) -> Option<Shade> {
        if self.neutral.get(size.index()).copied().unwrap_or(false) {
            return Some(Shade::Neutral);
        }
        self.last_color(size).map(|c| Shade::of(Some(c)))
    }

    /// Zone from the 8pt and 12pt colors: `(zone, structural direction)`.
    pub fn zone(&self) -> (Zone, Option<Side>) {
        match (self.shade(BrickSize::High), self.shade(BrickSize::Macro)) {
            (Some(Shade::Green), Some(Shade::Green)) => (Zone::Normal, Some(Side::Buy)),
            (Some(Shade::Red), Some(Shade::Red)) => (Zone::Normal, Some(Side::Sell)),
            (Some(Shade::Green | Shade::Red), Some(Shade::Green | Shade::Red)) => {
                (Zone::Free, None)
            }
            _ => (Zone::Unavailable, None),
        }
    }

    /// Has an armed (PENDING) preorder.
    pub fn preorder_pending(&self) -> bool {
        self.preorder
            .as_ref()
            .is_some_and(|p| p.status == PreorderStatus::Pending)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Zone {
    /// 8pt and 12pt agree: entries go their way.
    #[serde(rename = "NORMAL")]
    Normal,
    /// 8pt and 12pt disagree (`conflict_mode`): the operator chooses.
    #[serde(rename = "FREE")]
    Free,
    /// An 8pt or 12pt color is missing or neutral: market entries are refused.
    #[serde(rename = "NONE")]
    Unavailable,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Normal => "NORMAL",
            Zone::Free => "FREE",
            Zone::Unavailable => "NONE",
        }
    }
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
    /// Entries filled this trading day.
    pub trade_count: u32,
    /// Realized PnL (USD) of the engine's own fills this trading day.
    pub realized_today: f64,
    pub daily_stop_triggered: bool,
    /// What triggered the daily stop.
    #[serde(default)]
    pub daily_stop_reason: Option<String>,
    /// The first `accountBalance` of the trading day: the daily stop's drawdown is from it.
    #[serde(default)]
    pub day_start_balance: Option<f64>,
    /// The last entry order (the candle lock, account-wide).
    #[serde(default)]
    pub last_entry_at: Option<DateTime<Utc>>,
    /// The last position close (the cooldown, account-wide).
    #[serde(default)]
    pub last_exit_at: Option<DateTime<Utc>>,
    pub env: Env,
    pub bridge: BridgeStatus,
    pub pnl_snapshot: Option<PnlSnapshot>,
    pub position_mismatch: Option<PositionMismatch>,
    /// The trades closed this trading day, oldest first (at most `TRADES_KEPT`).
    #[serde(default)]
    pub trades_today: Vec<ClosedTrade>,
}

/// How many of the day's closed trades the account keeps (the day strip shows the last few).
pub const TRADES_KEPT: usize = 50;

/// A position closed (or reduced) by a fill: what the day strip lists and sums.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClosedTrade {
    pub asset: String,
    /// The side of the position that was closed.
    pub side: Side,
    pub qty: u32,
    pub entry_price: f64,
    pub exit_price: f64,
    /// Realized USD of this close.
    pub pnl: f64,
    /// The day's realized USD after it (the day's curve, also once older trades are dropped).
    pub realized_after: f64,
    pub closed_at: DateTime<Utc>,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            trading_day: None,
            trade_count: 0,
            realized_today: 0.0,
            daily_stop_triggered: false,
            daily_stop_reason: None,
            day_start_balance: None,
            last_entry_at: None,
            last_exit_at: None,
            env: Env::Demo,
            bridge: BridgeStatus::default(),
            pnl_snapshot: None,
            position_mismatch: None,
            trades_today: Vec::new(),
        }
    }
}
