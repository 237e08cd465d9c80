//! Entries: the gates in the seed's order (first failure wins) with the original desk's
//! messages, market entries, preorders fired by the next `main` brick of their color, the
//! intent, what a rejected entry gives back, and the DEMO/LIVE switch.
use super::Engine;
use super::command::wire;
use super::error::{DeskError, DeskResult};
use super::exits::fmt_mmss;
use super::model::{BrickSize, Color, EntrySizeMode, Env, Side, TradeMode};
use super::orders::{Order, OrderKind, source};
use super::state::{Intent, IntentStatus, Preorder, PreorderStatus, Shade, Zone};
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
    /// Required, as the original desk requires it.
    #[serde(deserialize_with = "wire::trade_mode")]
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

/// Which gates a request passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateSet {
    /// A market entry or a preorder: gates 1–7 and the trade limit (a market entry then passes
    /// gate 8, `check_zone`).
    Entry,
    /// Arming an intent: the daily stop, cooldown, pending order or preorder, position, heartbeat.
    Intent,
}

/// The original desk's refusal messages.
pub mod refusal {
    pub const DAILY_STOP: &str = "Daily stop TRIGGERED — entries blocked for today";
    pub const PENDING: &str = "Pending order already exists";
    pub const IN_TRADE: &str = "Asset already in a trade";
    pub const HEARTBEAT: &str = "Heartbeat stale or missing – cannot trade";
    pub const BRIDGE: &str = "Bridge stale or disconnected – cannot trade LIVE";
    pub const TEMPO: &str = "Tempo token WAIT — need a new 6pt bar";
    pub const NO_STRUCTURE: &str = "8pt/12pt structure unavailable – cannot trade";
    pub const FREE_ZONE: &str = "Free zone: choose direction=BUY/SELL";
    pub const OVERRIDE: &str = "Override entry requires direction=BUY/SELL";
    pub const PREORDER: &str = "Preorder requires direction=BUY/SELL";
}

impl Engine {
    /// Seconds left on the candle lock: one entry per wall-clock candle, account-wide.
    pub fn candle_lock_remaining(&self) -> Option<i64> {
        let last = self.account.last_entry_at?;
        let len = self.settings.candle_lock_secs.max(1);
        let now = self.now();
        let candle = |t: DateTime<Utc>| t.timestamp().div_euclid(len);
        (candle(last) == candle(now)).then(|| (candle(now) + 1) * len - now.timestamp())
    }

    /// Seconds left on the post-exit cooldown (after any position closed).
    pub fn cooldown_remaining(&self) -> Option<i64> {
        let last = self.account.last_exit_at?;
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

    pub(crate) fn trade_limit_reached(&self) -> bool {
        self.account.trade_count >= self.settings.trade_limit
    }

    fn trade_limit_message(&self) -> String {
        format!(
            "Daily trade limit reached — {} of {} trades used today",
            self.account.trade_count, self.settings.trade_limit
        )
    }

    /// Gates 1–7 (and the trade limit before gate 4) in the seed's order; the first failure wins.
    fn check_gates(&self, a: usize, set: GateSet) -> DeskResult<()> {
        let st = &self.desk[a];
        let entry = set != GateSet::Intent;
        if self.account.daily_stop_triggered {
            return Err(DeskError::gate("daily_stop", refusal::DAILY_STOP));
        }
        if let Some(left) = self.cooldown_remaining() {
            return Err(DeskError::gate(
                "cooldown",
                format!("POST-EXIT 5 MIN LOCK ACTIVE ({} remaining)", fmt_mmss(left)),
            ));
        }
        if entry && let Some(left) = self.candle_lock_remaining() {
            return Err(DeskError::gate(
                "candle_lock",
                format!(
                    "5 MIN LOCK ACTIVE — one trade already used this candle ({} remaining)",
                    fmt_mmss(left)
                ),
            ));
        }
        if entry && self.trade_limit_reached() {
            return Err(DeskError::gate("trade_limit", self.trade_limit_message()));
        }
        if self.unfinished_order(a).is_some() || st.preorder_pending() {
            return Err(DeskError::gate("pending_order", refusal::PENDING));
        }
        if st.position.is_some() {
            return Err(DeskError::gate("position", refusal::IN_TRADE));
        }
        if !self.heartbeat_fresh(a) {
            return Err(DeskError::gate("heartbeat", refusal::HEARTBEAT));
        }
        if entry && self.account.env == Env::Live && !self.bridge_fresh() {
            return Err(DeskError::gate("bridge", refusal::BRIDGE));
        }
        if entry && !st.tempo_ready {
            return Err(DeskError::gate("tempo", refusal::TEMPO));
        }
        Ok(())
    }

    /// Gate 8: the zone gives (or checks) the side, then the 2.5pt filter.
    fn check_zone(&self, a: usize, direction: Option<Side>) -> DeskResult<(Side, Zone)> {
        let st = &self.desk[a];
        let (zone, structural) = st.zone();
        let shade = |size| st.shade(size).map_or("none", Shade::as_str).to_string();
        let side = match (zone, structural, direction) {
            (Zone::Unavailable, ..) => {
                return Err(DeskError::gate("structure", refusal::NO_STRUCTURE));
            }
            (Zone::Normal, Some(s), Some(d)) if d != s => {
                let (high, mac) = (shade(BrickSize::High), shade(BrickSize::Macro));
                return Err(DeskError::Structure {
                    message: format!(
                        "Structure is {s} (8pt {high}, 12pt {mac}): {d} entry refused"
                    ),
                    colors: vec![("high", high), ("macro", mac)],
                });
            }
            (Zone::Normal, Some(s), _) => s,
            (_, _, Some(d)) => d,
            (_, _, None) => return Err(DeskError::Invalid(refusal::FREE_ZONE.into())),
        };
        let two_half = st.shade(BrickSize::TwoHalf);
        if two_half != Some(Shade::of(Some(side.color()))) {
            let seen = shade(BrickSize::TwoHalf);
            return Err(DeskError::Structure {
                message: format!("Blocked by 2.5pt Renko: {seen}"),
                colors: vec![("two_half", seen)],
            });
        }
        Ok((side, zone))
    }

    /// What would refuse a market entry now (None: it would pass), for the console: the gates
    /// in order, then the structure; in a FREE zone only a missing or neutral 2.5pt color
    /// blocks, since the operator picks the side.
    pub fn entry_block(&self, a: usize) -> Option<String> {
        if let Err(e) = self.check_gates(a, GateSet::Entry) {
            return Some(e.to_string());
        }
        let st = &self.desk[a];
        // in a FREE zone the operator picks the side: the one the 2.5pt color allows, if any
        let direction = match st.zone() {
            (Zone::Free, _) => Some(match st.shade(BrickSize::TwoHalf) {
                Some(Shade::Red) => Side::Sell,
                _ => Side::Buy,
            }),
            _ => None,
        };
        self.check_zone(a, direction).err().map(|e| e.to_string())
    }

    /// `POST /api/orders`: a market entry or a preorder.
    pub fn place_entry(&mut self, req: EntryRequest) -> DeskResult<EntryOutcome> {
        self.roll_day()?;
        let a = self.asset_index(&req.asset)?;
        if req.entry_override && req.direction.is_none() {
            return Err(DeskError::Invalid(refusal::OVERRIDE.into()));
        }
        match req.order_type {
            OrderType::Market => {
                self.check_gates(a, GateSet::Entry)?;
                let (side, zone) = if req.entry_override {
                    let side = req.direction.expect("checked above");
                    (side, self.desk[a].zone().0)
                } else {
                    self.check_zone(a, req.direction)?
                };
                let order = self.send_entry(a, side, &req, zone, source::UI)?;
                Ok(EntryOutcome::Order(order))
            }
            OrderType::Preorder => {
                let Some(direction) = req.direction else {
                    return Err(DeskError::Invalid(refusal::PREORDER.into()));
                };
                self.check_gates(a, GateSet::Entry)?;
                let p = Preorder {
                    status: PreorderStatus::Pending,
                    reason: None,
                    order_id: None,
                    trade_mode: req.trade_mode,
                    direction: Some(direction),
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
                        "preorder {direction} armed — sent at the next 6pt brick if it is {}",
                        direction.color().as_str()
                    ),
                )?;
                Ok(EntryOutcome::Preorder(p))
            }
        }
    }

    /// Sends an entry that passed its gates: it spends the tempo token and the candle, and
    /// clears the intent. The trade count moves when it fills.
    fn send_entry(
        &mut self,
        a: usize,
        side: Side,
        req: &EntryRequest,
        zone: Zone,
        source: &str,
    ) -> DeskResult<Order> {
        let qty = self.assets[a].entry_qty(req.entry_size_mode);
        let order = self.create_order(
            a,
            side,
            qty,
            OrderKind::Entry,
            req.trade_mode,
            req.entry_size_mode,
            req.entry_override,
            source,
        )?;
        self.account.last_entry_at = Some(order.created_at);
        self.mark_dirty();
        let st = self.asset_mut(a);
        st.tempo_ready = false;
        st.tempo_rearm_on_four = false;
        st.intent = None;
        st.entry_zone = Some(zone);
        self.touch(a);
        Ok(order)
    }

    /// A trade entry came back REJECTED or CANCELLED: its tempo token and its candle are given
    /// back (the candle only if no later entry took it).
    pub(crate) fn give_back_entry(&mut self, a: usize, order: &Order) -> DeskResult<()> {
        let st = self.asset_mut(a);
        st.tempo_ready = true;
        st.entry_zone = None;
        self.touch(a);
        let candle = self.account.last_entry_at == Some(order.created_at);
        if candle {
            self.account.last_entry_at = None;
            self.mark_dirty();
        }
        self.emit(
            "tempo",
            Some(a),
            format!(
                "entry {} {}: tempo token{} given back",
                order.id,
                order.status.as_str(),
                if candle { " and candle" } else { "" }
            ),
        )
    }

    /// At a `main` brick: an armed preorder becomes a PENDING entry if the brick is its color
    /// and nothing holds the asset (position, order, daily stop, trade limit); else CANCELLED.
    pub(crate) fn fire_preorder(&mut self, a: usize, color: Color) -> DeskResult<Option<Order>> {
        if !self.desk[a].preorder_pending() {
            return Ok(None);
        }
        let p = self.desk[a].preorder.clone().expect("pending");
        let (zone, structural) = self.desk[a].zone();
        let direction = p.direction.or(structural);
        let name = &self.assets[a].name;
        let why_not = if self.account.daily_stop_triggered {
            Some("daily stop triggered".to_string())
        } else if self.desk[a].position.is_some() {
            Some(format!("{name} already in a trade"))
        } else if self.unfinished_order(a).is_some() {
            Some("pending order already exists".into())
        } else if self.trade_limit_reached() {
            Some(self.trade_limit_message())
        } else {
            match direction {
                Some(d) if d == color.side() => None,
                Some(d) => Some(format!("6pt brick is {}, preorder is {d}", color.as_str())),
                None => Some("no direction".into()),
            }
        };
        let (status, reason, order) = match why_not {
            Some(r) => (PreorderStatus::Cancelled, r, None),
            None => {
                let side = direction.expect("matched");
                let req = EntryRequest {
                    asset: self.assets[a].name.clone(),
                    trade_mode: p.trade_mode,
                    order_type: OrderType::Market,
                    direction: Some(side),
                    entry_size_mode: p.entry_size_mode,
                    entry_override: p.entry_override,
                };
                let order = self.send_entry(a, side, &req, zone, source::PREORDER)?;
                let r = format!("6pt {} brick: sent as {}", color.as_str(), order.id);
                (PreorderStatus::Filled, r, Some(order))
            }
        };
        let pre = self.asset_mut(a).preorder.as_mut().expect("pending");
        pre.status = status;
        pre.reason = Some(reason.clone());
        pre.order_id = order.as_ref().map(|o| o.id.clone());
        self.touch(a);
        self.emit(
            "preorder",
            Some(a),
            format!("preorder {}: {reason}", status.as_str()),
        )?;
        Ok(order)
    }

    pub fn cancel_preorder(&mut self, asset: &str) -> DeskResult<Preorder> {
        let a = self.asset_index(asset)?;
        if !self.desk[a].preorder_pending() {
            return Err(DeskError::Conflict(format!(
                "no preorder is armed for {}",
                self.assets[a].name
            )));
        }
        let p = self.asset_mut(a).preorder.as_mut().expect("pending");
        p.status = PreorderStatus::Cancelled;
        p.reason = Some("cancelled by the operator".into());
        let p = p.clone();
        self.touch(a);
        self.emit("preorder", Some(a), "preorder CANCELLED by the operator")?;
        Ok(p)
    }

    /// `/api/intent`: READY at the next `main` brick, EXPIRED one `main` brick later. It tells
    /// the operator when to act; the entry still needs the tempo token.
    pub fn set_intent(&mut self, asset: &str) -> DeskResult<Intent> {
        let a = self.asset_index(asset)?;
        if let Some(i) = &self.desk[a].intent
            && i.status != IntentStatus::Expired
        {
            return Err(DeskError::Conflict(format!(
                "an intent is already {} for {}",
                i.status.as_str(),
                self.assets[a].name
            )));
        }
        self.check_gates(a, GateSet::Intent)?;
        let intent = Intent {
            status: IntentStatus::Armed,
            created_at: self.now(),
        };
        self.asset_mut(a).intent = Some(intent.clone());
        self.touch(a);
        self.emit(
            "intent",
            Some(a),
            "intent ARMED: READY at the next 6pt brick",
        )?;
        Ok(intent)
    }

    pub fn cancel_intent(&mut self, asset: &str) -> DeskResult<Intent> {
        let a = self.asset_index(asset)?;
        let active = self.desk[a]
            .intent
            .as_ref()
            .is_some_and(|i| i.status != IntentStatus::Expired);
        if !active {
            return Err(DeskError::Conflict(format!(
                "no intent is active for {}",
                self.assets[a].name
            )));
        }
        let i = self.asset_mut(a).intent.take().expect("active");
        self.touch(a);
        self.emit("intent", Some(a), "intent cancelled by the operator")?;
        Ok(i)
    }

    /// Spends one daily trade slot by hand (reconciliation with trades made elsewhere).
    pub fn consume_trade_slot(&mut self) -> DeskResult<(u32, u32)> {
        self.roll_day()?;
        let limit = self.settings.trade_limit;
        if self.trade_limit_reached() {
            return Err(DeskError::gate("trade_limit", self.trade_limit_message()));
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
