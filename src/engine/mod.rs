//! The engine: the single source of truth for the desk. It owns the desk state and the store; the
//! server and the console send it commands (`handle`), read its published snapshot and its
//! read-only connections (`reader`), and hear its events. No HTTP or terminal code lives here.
pub mod clock;
pub mod command;
pub mod datasets;
pub mod error;
pub mod handle;
pub mod limits;
pub mod model;
pub mod orders;
pub mod reader;
pub mod renko;
pub mod runs;
pub mod state;
pub mod store;
pub mod view;

mod bridge;
mod entries;
mod exits;
mod market;
mod migrate;
mod registry;
mod schema;

pub use bridge::{BridgeHeartbeat, ClaimedOrder, ExecutionReport, PnlSnapshotInput, Resolution};
pub use entries::{EntryOutcome, EntryRequest, OrderType};
pub use exits::{ExitAllOutcome, ExitSkip, TakeProfitRequest, TpArm};
pub use market::{BrickInput, BrickOutcome, HeartbeatInput};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use clock::SharedClock;
use error::{DeskError, DeskResult};
use model::{AssetConfig, EntrySizeMode, Env, Side, TradeMode};
use orders::{Order, OrderKind, OrderStatus};
use serde::Serialize;
use state::{Account, AssetState, DeskSettings};
use std::collections::{BTreeMap, HashMap};
use store::{DeskEvent, Store};

/// Most bricks of each feed a history read returns (all of them live in the store).
pub const BRICK_HISTORY: usize = 240;

/// Recent bricks of one asset, per size name, oldest first.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct BrickHistory {
    pub asset: String,
    pub bricks: BTreeMap<String, Vec<state::Brick>>,
}

/// How many finished orders stay in memory (older ones live in the store only).
const RECENT_FINISHED_ORDERS: usize = 200;

pub struct Engine {
    pub(crate) settings: DeskSettings,
    tz: Tz,
    pub(crate) assets: Vec<AssetConfig>,
    lookup: model::AssetIndex,
    /// Per asset; copy-on-write (`asset_mut`), so a job's pre-image is a cheap copy of the `Arc`s.
    pub(crate) desk: Vec<std::sync::Arc<AssetState>>,
    pub(crate) account: Account,
    /// Unfinished orders plus the recent finished ones, by store sequence.
    orders: BTreeMap<i64, Order>,
    order_seq: HashMap<String, i64>,
    /// Unfinished order sequences per asset, oldest first.
    unfinished: Vec<Vec<i64>>,
    pub(crate) store: Store,
    clock: SharedClock,
    events: Vec<DeskEvent>,
    /// Account changed since the last persist.
    dirty: bool,
    /// Assets whose state changed since the last persist.
    dirty_assets: Vec<bool>,
    /// Counts changes to memory, so a failed job that changed nothing needs no reload.
    mutations: u64,
    /// The newest orders as the last snapshot showed them, until an order changes.
    orders_view: std::cell::RefCell<Option<std::sync::Arc<Vec<Order>>>>,
    /// The housekeeping tick asked for a WAL checkpoint after this batch.
    checkpoint_wanted: bool,
    /// Log lines of refusals: written after the refused job rolls back, so they survive it.
    refusal_log: Vec<(&'static str, Option<usize>, String)>,
}

/// Where a job started: what `undo_since` rolls memory back to. The desk state and the account
/// are persisted once per batch, so their pre-images are kept here (the assets' `Arc`s: a copy is
/// made only of an asset the job changes); orders are in the store at once and are reloaded from
/// it after the job's savepoint is rolled back.
pub(crate) struct Mark {
    events: usize,
    mutations: u64,
    desk: Vec<std::sync::Arc<AssetState>>,
    account: Account,
    dirty: bool,
    dirty_assets: Vec<bool>,
}

impl Engine {
    pub fn new(
        assets: Vec<AssetConfig>,
        settings: DeskSettings,
        store: Store,
        clock: SharedClock,
    ) -> DeskResult<Self> {
        if assets.is_empty() {
            return Err(DeskError::Invalid(
                "at least one asset must be configured".into(),
            ));
        }
        let tz: Tz = settings
            .timezone
            .parse()
            .map_err(|_| DeskError::Invalid(format!("unknown timezone {:?}", settings.timezone)))?;
        if settings.day_roll_hour > 23 {
            return Err(DeskError::Invalid("day_roll_hour must be 0..=23".into()));
        }
        let lookup = model::AssetIndex::new(&assets)?;
        let desk = assets
            .iter()
            .map(|_| std::sync::Arc::new(AssetState::new(&settings)))
            .collect();
        let mut engine = Engine {
            settings,
            tz,
            assets,
            lookup,
            desk,
            account: Account::default(),
            orders: BTreeMap::new(),
            order_seq: HashMap::new(),
            unfinished: Vec::new(),
            store,
            clock,
            events: Vec::new(),
            dirty: false,
            dirty_assets: Vec::new(),
            mutations: 0,
            orders_view: Default::default(),
            checkpoint_wanted: false,
            refusal_log: Vec::new(),
        };
        engine.load()?;
        Ok(engine)
    }

    /// (Re)loads the desk state and live orders from the store: what a restart resumes.
    pub fn load(&mut self) -> DeskResult<()> {
        let unreadable = |e: serde_json::Error| {
            DeskError::Storage(format!("stored desk state is unreadable: {e}"))
        };
        self.desk.clear();
        let mut legacy = migrate::Legacy::default();
        let mut upgraded = Vec::new();
        for a in &self.assets {
            let (st, old) = match self.store.load_asset_state(&a.name)? {
                Some(json) => {
                    migrate::asset(&json, &self.settings, &mut legacy).map_err(unreadable)?
                }
                None => (AssetState::new(&self.settings), false),
            };
            upgraded.push(old);
            self.desk.push(std::sync::Arc::new(st));
        }
        self.account = match self.store.load_account()? {
            Some(json) => serde_json::from_str(&json).map_err(unreadable)?,
            None => Account::default(),
        };
        let moved = legacy.apply(&mut self.account);
        self.load_orders()?;
        self.events.clear();
        // an upgraded state is saved in the new format with the next batch
        self.dirty = moved;
        self.dirty_assets = upgraded;
        if self.dirty_assets.iter().any(|u| *u) {
            tracing::info!(target: "brickdesk::desk", "desk state upgraded to the original desk's rules");
        }
        Ok(())
    }

    /// (Re)loads what the store holds as soon as it changes: the live and recent orders.
    fn load_orders(&mut self) -> DeskResult<()> {
        self.orders.clear();
        self.orders_view.take();
        self.order_seq.clear();
        self.unfinished = vec![Vec::new(); self.assets.len()];
        for o in self.store.load_live_orders(RECENT_FINISHED_ORDERS as u32)? {
            self.remember_order(o);
        }
        Ok(())
    }

    /// The 50 newest orders, newest first (shared by snapshots until an order changes).
    pub(crate) fn recent_orders_view(&self) -> std::sync::Arc<Vec<Order>> {
        self.orders_view
            .borrow_mut()
            .get_or_insert_with(|| {
                std::sync::Arc::new(self.orders_iter().rev().take(50).cloned().collect())
            })
            .clone()
    }

    /// The state of one asset, to change it (copied first if a job's pre-image still shares it).
    pub(crate) fn asset_mut(&mut self, a: usize) -> &mut AssetState {
        std::sync::Arc::make_mut(&mut self.desk[a])
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn settings(&self) -> &DeskSettings {
        &self.settings
    }

    pub fn assets(&self) -> &[AssetConfig] {
        &self.assets
    }

    pub fn env(&self) -> Env {
        self.account.env
    }

    /// Resolves an asset by desk name (`ES`) or contract (`MESM6`), any case.
    pub fn asset_index(&self, name: &str) -> DeskResult<usize> {
        limits::text("asset", name)?;
        self.lookup.find(name)
    }

    /// Checks a price from outside for asset `a` (see `limits::price`); a refusal is logged.
    pub(crate) fn check_price(&mut self, a: usize, what: &str, p: f64) -> DeskResult<()> {
        self.price_in_band(a, what, p).inspect_err(|e| {
            let msg = format!("{} {what} refused: {e}", self.assets[a].name);
            tracing::warn!("{msg}");
            self.log_refusal("refused", Some(a), msg);
        })
    }

    /// `limits::price` against asset `a`'s last price and the desk's band, nothing logged.
    pub(crate) fn price_in_band(&self, a: usize, what: &str, p: f64) -> DeskResult<()> {
        let last = self.desk[a].last_price;
        limits::price(what, p, last, self.settings.price_band_pct)
    }

    /// The asset lookup, for readers beside the engine.
    pub(crate) fn asset_lookup(&self) -> &model::AssetIndex {
        &self.lookup
    }

    // ---- events and persistence ----

    /// Records one event in the log (same transaction as the change it describes).
    pub(crate) fn emit(
        &mut self,
        kind: &str,
        asset: Option<usize>,
        message: impl Into<String>,
    ) -> DeskResult<()> {
        self.event(kind, asset, message.into(), true)
    }

    /// Broadcasts an event without a log row, for facts already stored elsewhere (bricks live
    /// in the `bricks` table); its id is 0.
    pub(crate) fn notify(
        &mut self,
        kind: &str,
        asset: Option<usize>,
        message: String,
    ) -> DeskResult<()> {
        self.event(kind, asset, message, false)
    }

    fn event(
        &mut self,
        kind: &str,
        asset: Option<usize>,
        message: String,
        store: bool,
    ) -> DeskResult<()> {
        let at = self.now();
        let asset = asset.map(|i| self.assets[i].name.clone());
        self.mutations += 1;
        let id = if store {
            self.store
                .insert_event(at, kind, asset.as_deref(), &message)?
        } else {
            0
        };
        // stored events are the operator's log; broadcast-only ones (a brick per webhook) are noise there
        if store {
            tracing::info!(target: "brickdesk::desk", kind, asset = asset.as_deref().unwrap_or("-"), "{message}");
        } else {
            tracing::debug!(target: "brickdesk::desk", kind, asset = asset.as_deref().unwrap_or("-"), "{message}");
        }
        self.events.push(DeskEvent {
            id,
            at,
            kind: kind.to_string(),
            asset,
            message,
        });
        Ok(())
    }

    /// The account-wide state changed.
    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
        self.mutations += 1;
    }

    /// An asset's state changed.
    pub(crate) fn touch(&mut self, a: usize) {
        self.dirty_assets[a] = true;
        self.mutations += 1;
    }

    /// Where the next job starts.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            events: self.events.len(),
            mutations: self.mutations,
            desk: self.desk.clone(),
            account: self.account.clone(),
            dirty: self.dirty,
            dirty_assets: self.dirty_assets.clone(),
        }
    }

    /// Rolls memory back to `mark` after a failed job (its store writes are already rolled back
    /// to the job's savepoint): its events are dropped, the desk state and account return to their
    /// pre-images, and if it changed anything, orders are reloaded from the store.
    pub(crate) fn undo_since(&mut self, mark: Mark) {
        self.events.truncate(mark.events);
        if self.mutations == mark.mutations {
            return;
        }
        self.desk = mark.desk;
        self.account = mark.account;
        self.dirty = mark.dirty;
        self.dirty_assets = mark.dirty_assets;
        if let Err(e) = self.load_orders() {
            tracing::error!(error = %e, "reload after a failed job failed");
        }
        self.mutations += 1;
    }

    /// Logs a refusal that must stay in the operator's log although its job fails.
    pub(crate) fn log_refusal(
        &mut self,
        kind: &'static str,
        asset: Option<usize>,
        message: String,
    ) {
        self.refusal_log.push((kind, asset, message));
    }

    /// Writes the refusals of the job that just ended (after its rollback, in the batch).
    pub(crate) fn flush_refusal_log(&mut self) {
        for (kind, asset, message) in std::mem::take(&mut self.refusal_log) {
            if let Err(e) = self.emit(kind, asset, message) {
                tracing::error!(error = %e, "could not log a refusal");
            }
        }
    }

    /// Drops the events of a batch that was not committed.
    pub(crate) fn discard_events(&mut self) {
        self.events.clear();
    }

    pub(crate) fn take_checkpoint_request(&mut self) -> bool {
        std::mem::take(&mut self.checkpoint_wanted)
    }

    /// Writes what changed (dirty assets, the account); called once per batch before commit.
    pub fn persist(&mut self) -> DeskResult<()> {
        let now = self.now();
        for a in 0..self.assets.len() {
            if self.dirty_assets[a] {
                let json = to_json(&self.desk[a])?;
                self.store
                    .save_asset_state(&self.assets[a].name, &json, now)?;
                self.dirty_assets[a] = false;
            }
        }
        if self.dirty {
            let json = to_json(&self.account)?;
            self.store.save_account(&json, now)?;
            self.dirty = false;
        }
        Ok(())
    }

    pub fn take_events(&mut self) -> Vec<DeskEvent> {
        std::mem::take(&mut self.events)
    }

    // ---- time ----

    /// The trading day an instant belongs to: it rolls at `day_roll_hour` local time.
    pub fn trading_day(&self, at: DateTime<Utc>) -> NaiveDate {
        let local = at.with_timezone(&self.tz);
        let date = local.date_naive();
        if local.hour() >= self.settings.day_roll_hour {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        }
    }

    /// When the current trading day ends (UTC): the roll hour, local time, of its date.
    pub fn trading_day_end(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let naive = self
            .trading_day(at)
            .and_hms_opt(self.settings.day_roll_hour, 0, 0)
            .expect("roll hour checked at start");
        self.tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
    }

    /// Starts a new trading day when the roll hour has passed: trade count, realized PnL, the
    /// day's starting balance and the daily stop reset.
    pub(crate) fn roll_day(&mut self) -> DeskResult<()> {
        let today = self.trading_day(self.now());
        if self.account.trading_day != Some(today) {
            let first = self.account.trading_day.is_none();
            self.account.trading_day = Some(today);
            self.account.trade_count = 0;
            self.account.realized_today = 0.0;
            self.account.daily_stop_triggered = false;
            self.account.daily_stop_reason = None;
            self.account.day_start_balance = None;
            self.account.pnl_snapshot = None;
            self.account.trades_today.clear();
            self.mark_dirty();
            if !first {
                self.emit("day", None, format!("trading day {today} started"))?;
            }
        }
        Ok(())
    }

    /// Periodic housekeeping (once a second): day roll, stale flags, expired locks; the WAL is
    /// checkpointed after this batch commits.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn tick(&mut self) -> DeskResult<()> {
        self.roll_day()?;
        self.flag_stale_orders()?;
        self.release_expired_locks();
        self.checkpoint_wanted = true;
        Ok(())
    }

    // ---- orders ----

    pub(crate) fn orders_iter(&self) -> impl DoubleEndedIterator<Item = &Order> {
        self.orders.values()
    }

    pub fn order(&self, id: &str) -> Option<&Order> {
        self.order_seq.get(id).and_then(|s| self.orders.get(s))
    }

    pub(crate) fn order_mut(&mut self, id: &str) -> Option<&mut Order> {
        self.mutations += 1;
        self.orders_view.take();
        let seq = *self.order_seq.get(id)?;
        self.orders.get_mut(&seq)
    }

    /// The unfinished order of an asset, if any (an asset has at most one).
    pub fn unfinished_order(&self, asset: usize) -> Option<&Order> {
        self.unfinished[asset]
            .first()
            .and_then(|s| self.orders.get(s))
    }

    /// Creates and stores a new PENDING order.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_order(
        &mut self,
        asset: usize,
        side: Side,
        qty: u32,
        kind: OrderKind,
        trade_mode: TradeMode,
        entry_size_mode: EntrySizeMode,
        entry_override: bool,
        source: &str,
    ) -> DeskResult<Order> {
        let now = self.now();
        let a = &self.assets[asset];
        let mut order = Order {
            id: format!("ord-{}", uuid::Uuid::new_v4().simple()),
            asset: a.name.clone(),
            symbol: a.symbol.clone(),
            exchange: a.exchange.clone(),
            side,
            qty,
            kind,
            mode: orders::exit_mode(),
            trade_mode,
            entry_size_mode,
            env: self.account.env,
            status: OrderStatus::Pending,
            entry_override,
            source: source.to_string(),
            owner: None,
            stale: false,
            fill_price: None,
            created_at: now,
            claimed_at: None,
            updated_at: now,
            seq: 0,
        };
        order.seq = self.store.insert_order(&order)?;
        let msg = format!(
            "{} {} {} {} x{} ({}){}",
            order.kind.as_str(),
            order.side,
            order.asset,
            order.symbol,
            order.qty,
            order.source,
            if entry_override { " [override]" } else { "" }
        );
        self.remember_order(order.clone());
        self.emit("order", Some(asset), msg)?;
        self.evict_old_orders();
        Ok(order)
    }

    fn evict_old_orders(&mut self) {
        let finished = self
            .orders
            .values()
            .filter(|o| !o.status.is_unfinished())
            .count();
        if finished <= RECENT_FINISHED_ORDERS {
            return;
        }
        let drop: Vec<i64> = self
            .orders
            .values()
            .filter(|o| !o.status.is_unfinished())
            .take(finished - RECENT_FINISHED_ORDERS)
            .map(|o| o.seq)
            .collect();
        for seq in drop {
            if let Some(o) = self.orders.remove(&seq) {
                self.order_seq.remove(&o.id);
            }
        }
    }

    /// Looks an order up in memory, then in the store (old finished orders).
    pub(crate) fn find_order(&self, id: &str) -> DeskResult<Order> {
        if let Some(o) = self.order(id) {
            return Ok(o.clone());
        }
        self.store
            .load_order(id)?
            .ok_or_else(|| DeskError::UnknownOrder(id.to_string()))
    }

    /// Puts an order (new or updated) in memory and keeps the per-asset unfinished index.
    pub(crate) fn remember_order(&mut self, order: Order) {
        self.mutations += 1;
        self.orders_view.take();
        if let Ok(a) = self.asset_index(&order.asset) {
            let list = &mut self.unfinished[a];
            list.retain(|s| *s != order.seq);
            if order.status.is_unfinished() {
                let at = list.partition_point(|s| *s < order.seq);
                list.insert(at, order.seq);
            }
        }
        self.order_seq.insert(order.id.clone(), order.seq);
        self.orders.insert(order.seq, order);
    }

    /// Flags CLAIMED orders that got no report within `stale_after_secs`.
    fn flag_stale_orders(&mut self) -> DeskResult<()> {
        let now = self.now();
        let limit = Duration::seconds(self.settings.stale_after_secs);
        let stale: Vec<String> = self
            .orders
            .values()
            .filter(|o| {
                o.status == OrderStatus::Claimed
                    && !o.stale
                    && o.claimed_at.is_some_and(|c| now - c >= limit)
            })
            .map(|o| o.id.clone())
            .collect();
        for id in stale {
            let order = {
                let o = self.order_mut(&id).expect("order in memory");
                o.stale = true;
                o.clone()
            };
            self.store.update_order(&order)?;
            let asset = self.asset_index(&order.asset).ok();
            self.emit(
                "stale",
                asset,
                format!(
                    "order {} claimed by {} has had no report for {}s: check the bridge",
                    order.id,
                    order.owner.as_deref().unwrap_or("?"),
                    self.settings.stale_after_secs
                ),
            )?;
        }
        Ok(())
    }
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> DeskResult<String> {
    serde_json::to_string(v).map_err(|e| DeskError::Storage(e.to_string()))
}
