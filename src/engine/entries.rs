//! Entries: the eight gates (first failure wins), the daily trade limit, market entries,
//! preorders released at the next `main` brick, the intent, and the DEMO/LIVE switch.
use super::Engine;
use super::command::wire;
use super::error::{DeskError, DeskResult};
use super::exits::fmt_mmss;
use super::model::{EntrySizeMode, Env, Side, TradeMode};
use super::orders::{Order, OrderKind};
use super::state::{Intent, IntentStatus, Preorder, Zone};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OrderType {
    #[default]
    Market,
    Preorder,
}

/// The body of `POST /api/orders` (seed 001), parsed leniently as TradingView-era clients send it;
/// fields it does not know are ignored, as the original desk ignores them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryRequest {
    pub asset: String,
    #[serde(default = "wire::scalp", deserialize_with = "wire::trade_mode")]
    pub trade_mode: TradeMode,
    #[serde(default, deserialize_with = "wire::order_type")]
    pub order_type: OrderType,
    #[serde(default, deserialize_with = "wire::side")]
    pub direction: Option<Side>,
    #[serde(default = "wire::six", deserialize_with = "wire::size_mode")]
    pub entry_size_mode: EntrySizeMode,
    #[serde(default)]
    pub entry_override: bool,
}

impl EntryRequest {
    pub fn market(asset: &str, direction: Option<Side>) -> Self {
        Self {
            asset: asset.into(),
            trade_mode: TradeMode::Scalp,
            order_type: OrderType::Market,
            direction,
            entry_size_mode: EntrySizeMode::Six,
            entry_override: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryOutcome {
    Order(Order),
    Preorder(Preorder),
}

/// What an entry that passed the gates spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Tempo,
    Intent,
    /// `entry_override` skipped gates 7–8.
    Override,
}

/// Which gates to check: a preorder checks the hard locks when armed and every gate when released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateSet {
    All,
    ArmPreorder,
}

impl Engine {
    /// Seconds left on the 5-minute candle lock (one entry per wall-clock candle).
    pub fn candle_lock_remaining(&self, a: usize) -> Option<i64> {
        let last = self.desk[a].last_entry_at?;
        let len = self.settings.candle_lock_secs.max(1);
        let now = self.now();
        let candle = |t: DateTime<Utc>| t.timestamp().div_euclid(len);
        (candle(last) == candle(now)).then(|| (candle(now) + 1) * len - now.timestamp())
    }

    /// Seconds left on the post-exit cooldown.
    pub fn cooldown_remaining(&self, a: usize) -> Option<i64> {
        let last = self.desk[a].last_exit_at?;
        let left =
            (last + Duration::seconds(self.settings.cooldown_secs) - self.now()).num_milliseconds();
        (left > 0).then(|| (left + 999) / 1000)
    }

    pub fn heartbeat_age(&self, a: usize) -> Option<i64> {
        Some((self.now() - self.desk[a].last_heartbeat_at?).num_seconds())
    }

    pub fn heartbeat_fresh(&self, a: usize) -> bool {
        self.heartbeat_age(a)
            .is_some_and(|age| age < self.settings.heartbeat_fresh_secs)
    }

    pub fn bridge_age(&self) -> Option<i64> {
        Some((self.now() - self.account.bridge.last_heartbeat_at?).num_seconds())
    }

    pub fn bridge_fresh(&self) -> bool {
        let b = &self.account.bridge;
        b.ts_connected
            && b.md_connected
            && self
                .bridge_age()
                .is_some_and(|age| age < self.settings.bridge_fresh_secs)
    }

    /// The entry gates in the documented order; the first failure wins.
    fn check_gates(
        &self,
        a: usize,
        direction: Option<Side>,
        entry_override: bool,
        set: GateSet,
    ) -> DeskResult<(Side, Token)> {
        let name = &self.assets[a].name;
        let st = &self.desk[a];
        // 1. daily stop
        if self.account.daily_stop_triggered {
            return Err(DeskError::gate(
                "daily_stop",
                format!(
                    "DAILY STOP HIT — day PnL {:.2} reached -{:.2}; entries locked until the trading day rolls",
                    self.day_pnl(),
                    self.settings.daily_stop_usd
                ),
            ));
        }
        // the account-wide trade limit sits with the daily stop
        if self.account.trade_count >= self.settings.trade_limit {
            return Err(DeskError::gate(
                "trade_limit",
                format!(
                    "DAILY TRADE LIMIT — {} of {} entries used today",
                    self.account.trade_count, self.settings.trade_limit
                ),
            ));
        }
        // 2. post-exit cooldown
        if set == GateSet::All
            && let Some(left) = self.cooldown_remaining(a)
        {
            return Err(DeskError::gate(
                "cooldown",
                format!(
                    "COOLDOWN ACTIVE — position closed recently ({} remaining)",
                    fmt_mmss(left)
                ),
            ));
        }
        // 3. 5-minute candle lock
        if set == GateSet::All
            && let Some(left) = self.candle_lock_remaining(a)
        {
            return Err(DeskError::gate(
                "candle_lock",
                format!(
                    "5 MIN LOCK ACTIVE — one trade already used this candle ({} remaining)",
                    fmt_mmss(left)
                ),
            ));
        }
        // 4. pending or unfinished order (an armed preorder counts when arming another)
        if let Some(o) = self.unfinished_order(a) {
            return Err(DeskError::gate(
                "pending_order",
                format!(
                    "ORDER PENDING — {name} already has order {} {}",
                    o.id,
                    o.status.as_str()
                ),
            ));
        }
        if set == GateSet::ArmPreorder && st.preorder.is_some() {
            return Err(DeskError::gate(
                "pending_order",
                format!("ORDER PENDING — {name} already has an armed preorder"),
            ));
        }
        // 5. open position
        if let Some(p) = &st.position {
            return Err(DeskError::gate(
                "position",
                format!(
                    "POSITION OPEN — {name} is {} {} (no pyramiding; use scale-in)",
                    p.side, p.qty
                ),
            ));
        }
        if set == GateSet::ArmPreorder {
            return Ok((direction.unwrap_or(Side::Buy), Token::Override));
        }
        // 6. heartbeat (and bridge in LIVE)
        if !self.heartbeat_fresh(a) {
            let age = self
                .heartbeat_age(a)
                .map(|s| format!("last one {} ago", fmt_mmss(s)))
                .unwrap_or_else(|| "none received yet".into());
            return Err(DeskError::gate(
                "heartbeat",
                format!(
                    "HEARTBEAT STALE — {name} price heartbeat {age} (must be under {})",
                    fmt_mmss(self.settings.heartbeat_fresh_secs)
                ),
            ));
        }
        if self.account.env == Env::Live && !self.bridge_fresh() {
            return Err(DeskError::gate(
                "bridge",
                "BRIDGE STALE — LIVE entries need a bridge heartbeat under 60s with tsConnected and mdConnected",
            ));
        }
        let (zone, structural) = st.zone();
        if entry_override {
            let side = direction.or(structural).ok_or_else(|| {
                DeskError::Invalid(
                    "direction is required: the zone gives no structural direction".into(),
                )
            })?;
            return Ok((side, Token::Override));
        }
        // 7. tempo token (or a READY intent)
        let token = if st.tempo_ready {
            Token::Tempo
        } else if st
            .intent
            .as_ref()
            .is_some_and(|i| i.status == IntentStatus::Ready)
        {
            Token::Intent
        } else {
            return Err(DeskError::gate(
                "tempo",
                "TEMPO SPENT — wait for the next 6pt (main) brick",
            ));
        };
        // 8. zone gate
        let side = match (zone, structural, direction) {
            (Zone::Normal, Some(s), None) => s,
            (Zone::Normal, Some(s), Some(d)) if d == s => s,
            (Zone::Normal, Some(s), Some(d)) => {
                return Err(DeskError::gate(
                    "zone",
                    format!("ZONE GATE — NORMAL zone is {s}; a {d} entry is against the structure"),
                ));
            }
            (_, _, Some(d)) => d,
            (_, _, None) => {
                return Err(DeskError::gate(
                    "zone",
                    "ZONE GATE — FREE zone (8pt and 12pt disagree): direction required",
                ));
            }
        };
        Ok((side, token))
    }

    /// What would refuse a market entry right now (for the console), None if it would pass.
    pub fn entry_block(&self, a: usize, direction: Option<Side>) -> Option<String> {
        self.check_gates(a, direction, false, GateSet::All)
            .err()
            .map(|e| e.to_string())
    }

    /// `POST /api/orders`: a market entry or a preorder.
    pub fn place_entry(&mut self, req: EntryRequest) -> DeskResult<EntryOutcome> {
        self.roll_day()?;
        let a = self.asset_index(&req.asset)?;
        match req.order_type {
            OrderType::Market => {
                let (side, token) =
                    self.check_gates(a, req.direction, req.entry_override, GateSet::All)?;
                let order = self.send_entry(
                    a,
                    side,
                    token,
                    &req.trade_mode,
                    req.entry_size_mode,
                    req.entry_override,
                )?;
                Ok(EntryOutcome::Order(order))
            }
            OrderType::Preorder => {
                self.check_gates(a, req.direction, req.entry_override, GateSet::ArmPreorder)?;
                let p = Preorder {
                    trade_mode: req.trade_mode,
                    direction: req.direction,
                    entry_size_mode: req.entry_size_mode,
                    entry_override: req.entry_override,
                    created_at: self.now(),
                };
                self.asset_mut(a).preorder = Some(p.clone());
                self.touch(a);
                self.emit(
                    "preorder",
                    Some(a),
                    format!(
                        "preorder armed {} — sent at the next 6pt brick if every gate passes",
                        p.direction
                            .map(|d| d.as_str())
                            .unwrap_or("(structural direction)")
                    ),
                )?;
                Ok(EntryOutcome::Preorder(p))
            }
        }
    }

    fn send_entry(
        &mut self,
        a: usize,
        side: Side,
        token: Token,
        trade_mode: &TradeMode,
        entry_size_mode: EntrySizeMode,
        entry_override: bool,
    ) -> DeskResult<Order> {
        let qty = self.assets[a].default_qty;
        let order = self.create_order(
            a,
            side,
            qty,
            OrderKind::Entry,
            *trade_mode,
            entry_size_mode,
            entry_override,
            None,
        )?;
        let now = self.now();
        let st = self.asset_mut(a);
        st.last_entry_at = Some(now);
        match token {
            Token::Tempo => st.tempo_ready = false,
            Token::Intent => st.intent = None,
            Token::Override => st.tempo_ready = false,
        }
        self.account.trade_count += 1;
        self.touch(a);
        Ok(order)
    }

    /// At a `main` brick: an armed preorder becomes PENDING if every gate passes, else it is dropped.
    pub(crate) fn release_preorder(&mut self, a: usize) -> DeskResult<Option<Order>> {
        let Some(p) = self.asset_mut(a).preorder.take() else {
            return Ok(None);
        };
        self.touch(a);
        match self.check_gates(a, p.direction, p.entry_override, GateSet::All) {
            Ok((side, token)) => {
                let order = self.send_entry(
                    a,
                    side,
                    token,
                    &p.trade_mode,
                    p.entry_size_mode,
                    p.entry_override,
                )?;
                self.emit(
                    "preorder",
                    Some(a),
                    format!("preorder released as {}", order.id),
                )?;
                Ok(Some(order))
            }
            Err(e) => {
                self.emit("preorder", Some(a), format!("preorder dropped: {e}"))?;
                Ok(None)
            }
        }
    }

    pub fn cancel_preorder(&mut self, asset: &str) -> DeskResult<Preorder> {
        let a = self.asset_index(asset)?;
        let p = self.asset_mut(a).preorder.take().ok_or_else(|| {
            DeskError::Conflict(format!("no preorder is armed for {}", self.assets[a].name))
        })?;
        self.touch(a);
        self.mark_dirty();
        self.emit("preorder", Some(a), "preorder cancelled by the operator")?;
        Ok(p)
    }

    /// `/api/intent`: READY at the next `main` brick, expires one `main` brick later if unused.
    pub fn set_intent(&mut self, asset: &str) -> DeskResult<Intent> {
        let a = self.asset_index(asset)?;
        if let Some(i) = &self.desk[a].intent {
            return Err(DeskError::Conflict(format!(
                "an intent is already {} for {}",
                if i.status == IntentStatus::Ready {
                    "READY"
                } else {
                    "armed"
                },
                self.assets[a].name
            )));
        }
        let intent = Intent {
            status: IntentStatus::Armed,
            created_at: self.now(),
        };
        self.asset_mut(a).intent = Some(intent.clone());
        self.touch(a);
        self.emit(
            "intent",
            Some(a),
            "intent armed: READY at the next 6pt brick",
        )?;
        Ok(intent)
    }

    pub fn cancel_intent(&mut self, asset: &str) -> DeskResult<Intent> {
        let a = self.asset_index(asset)?;
        let i = self.asset_mut(a).intent.take().ok_or_else(|| {
            DeskError::Conflict(format!("no intent is active for {}", self.assets[a].name))
        })?;
        self.touch(a);
        self.emit("intent", Some(a), "intent cancelled by the operator")?;
        Ok(i)
    }

    /// Spends one daily trade slot by hand (reconciliation with trades made elsewhere).
    pub fn consume_trade_slot(&mut self) -> DeskResult<(u32, u32)> {
        self.roll_day()?;
        let limit = self.settings.trade_limit;
        if self.account.trade_count >= limit {
            return Err(DeskError::gate(
                "trade_limit",
                format!("DAILY TRADE LIMIT — {limit} of {limit} entries already used today"),
            ));
        }
        self.account.trade_count += 1;
        self.mark_dirty();
        let used = self.account.trade_count;
        self.emit(
            "trade_limit",
            None,
            format!("trade slot consumed by hand: {used}/{limit}"),
        )?;
        Ok((used, limit))
    }

    /// DEMO ↔ LIVE; refused while any position is open or any order is unfinished.
    pub fn set_env(&mut self, env: Env) -> DeskResult<Env> {
        if let Some(a) = (0..self.assets.len()).find(|&a| self.desk[a].position.is_some()) {
            return Err(DeskError::Conflict(format!(
                "cannot switch to {}: {} has an open position",
                env.as_str(),
                self.assets[a].name
            )));
        }
        if let Some(o) = self.orders_iter().find(|o| o.status.is_unfinished()) {
            return Err(DeskError::Conflict(format!(
                "cannot switch to {}: order {} is {}",
                env.as_str(),
                o.id,
                o.status.as_str()
            )));
        }
        if self.account.env != env {
            self.account.env = env;
            self.mark_dirty();
            self.emit("env", None, format!("environment is now {}", env.as_str()))?;
        }
        Ok(env)
    }
}
