//! Exits: the operator's (manual, force, exit-all, level) and the automatic triggers (protect,
//! points TP, signal-count TP, 8pt next-bar, 8pt and 6pt flips, 4pt invalidation, daily stop, and
//! the optional server-side stop), the 2.5pt management lock, scale-in, and what a fill arms and
//! a close resets. An asset has at most one unfinished order, so each trigger fires exactly once.
use super::Engine;
use super::entries::refusal;
use super::error::{DeskError, DeskResult};
use super::model::{BrickSize, Color};
use super::orders::{Order, OrderKind, source};
use super::state::{ExitSettings, PointsTp, Protect, ScaleInStage, Shade, SignalTp};
use serde::{Deserialize, Serialize};

/// Thresholds the protect soft stop accepts.
pub const PROTECT_THRESHOLDS: [f64; 2] = [-2.0, 0.5];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitAllOutcome {
    pub orders: Vec<ExitAllOrder>,
    pub skipped: Vec<ExitSkip>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitAllOrder {
    pub asset: String,
    pub order_id: String,
    pub side: super::model::Side,
    pub qty: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitSkip {
    pub asset: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TpArm {
    Toggle,
    On,
    Off,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TakeProfitRequest {
    pub tp_arm: Option<TpArm>,
    pub tp_target: Option<u32>,
    pub reset: bool,
}

pub(crate) fn fmt_mmss(secs: i64) -> String {
    let secs = secs.max(0);
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

impl Engine {
    /// Sends one EXIT order for the whole position, unless there is no position. While another
    /// order of the asset is unfinished (a scale-in) the exit waits, and is sent when that order
    /// settles (`send_waiting_exit`). Returns the order it created.
    pub(crate) fn fire_exit(&mut self, a: usize, reason: &str) -> DeskResult<Option<Order>> {
        let Some(pos) = self.desk[a].position.clone() else {
            return Ok(None);
        };
        if let Some(o) = self.unfinished_order(a) {
            if o.kind == OrderKind::Entry && self.desk[a].exit_waiting.is_none() {
                let msg = format!("exit ({reason}) waits for order {} to settle", o.id);
                self.asset_mut(a).exit_waiting = Some(reason.to_string());
                self.touch(a);
                self.emit("exit", Some(a), msg)?;
            }
            return Ok(None);
        }
        let order = self.create_order(
            a,
            pos.side.opposite(),
            pos.qty,
            OrderKind::Exit,
            pos.trade_mode,
            pos.entry_size_mode,
            false,
            reason,
        )?;
        self.emit(
            "exit",
            Some(a),
            format!(
                "exit {} {} x{} — reason {reason}",
                self.assets[a].name, order.side, order.qty
            ),
        )?;
        Ok(Some(order))
    }

    /// An order of the asset settled: an exit that waited for it is sent now.
    pub(crate) fn send_waiting_exit(&mut self, a: usize) -> DeskResult<Option<Order>> {
        if self.unfinished_order(a).is_some() {
            return Ok(None);
        }
        let Some(reason) = self.asset_mut(a).exit_waiting.take() else {
            return Ok(None);
        };
        self.touch(a);
        self.fire_exit(a, &reason)
    }

    /// The initial exit lock holds: no fresh `main` brick since the last fill.
    pub fn exit_lock_active(&self, a: usize) -> bool {
        self.desk[a]
            .position
            .as_ref()
            .is_some_and(|p| !p.exit_lock_released)
    }

    /// The 2.5pt management lock holds on the asset's trade.
    pub fn two_half_locked(&self, a: usize) -> bool {
        self.desk[a]
            .position
            .as_ref()
            .is_some_and(|p| p.two_half_lock.is_some())
    }

    /// The operator's exit. Refused within the initial exit lock unless forced.
    pub fn manual_exit(&mut self, asset: &str, force: bool) -> DeskResult<Order> {
        self.roll_day()?;
        let a = self.asset_index(asset)?;
        self.check_manual_exit(a, force)?;
        let reason = if force { "manual_force" } else { "manual" };
        self.fire_exit(a, reason)?
            .ok_or_else(|| DeskError::Conflict("exit could not be sent".into()))
    }

    fn no_position(&self, a: usize) -> DeskError {
        DeskError::gate(
            "no_position",
            format!("No open position for {}", self.assets[a].name),
        )
    }

    fn check_manual_exit(&self, a: usize, force: bool) -> DeskResult<()> {
        if self.desk[a].position.is_none() {
            return Err(self.no_position(a));
        }
        if self.unfinished_order(a).is_some() {
            return Err(DeskError::gate("pending_order", refusal::PENDING));
        }
        if !force && self.exit_lock_active(a) {
            return Err(DeskError::gate(
                "exit_lock",
                "Initial exit lock active — wait for a new 6pt bar (or use force)",
            ));
        }
        Ok(())
    }

    pub fn exit_all(&mut self, force: bool) -> DeskResult<ExitAllOutcome> {
        self.roll_day()?;
        let mut out = ExitAllOutcome {
            orders: Vec::new(),
            skipped: Vec::new(),
        };
        for a in 0..self.assets.len() {
            if self.desk[a].position.is_none() {
                continue;
            }
            match self.check_manual_exit(a, force) {
                Err(e) => out.skipped.push(ExitSkip {
                    asset: self.assets[a].name.clone(),
                    reason: e.to_string(),
                }),
                Ok(()) => {
                    let reason = if force { "exit_all_force" } else { "exit_all" };
                    if let Some(o) = self.fire_exit(a, reason)? {
                        out.orders.push(ExitAllOrder {
                            asset: o.asset.clone(),
                            order_id: o.id.clone(),
                            side: o.side,
                            qty: o.qty,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// `/tv_level_exit`: a horizontal level was hit; exit the asset unless an order is pending
    /// (no exit lock: it is automatic).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn level_exit(&mut self, asset: &str) -> DeskResult<Option<Order>> {
        self.roll_day()?;
        let a = self.asset_index(asset)?;
        let order = match self.unfinished_order(a) {
            Some(_) => None,
            None => self.fire_exit(a, "level_exit")?,
        };
        if order.is_none() {
            let why = if self.desk[a].position.is_none() {
                "nothing to exit"
            } else {
                "an order is already pending"
            };
            self.emit("exit", Some(a), format!("level exit received: {why}"))?;
        }
        Ok(order)
    }

    /// The brick-driven exits and the 2.5pt lock. `exit_lock_held`: the initial exit lock
    /// held before this brick (it holds the signal-count TP).
    pub(crate) fn exits_on_brick(
        &mut self,
        a: usize,
        size: BrickSize,
        color: Option<Color>,
        exit_lock_held: bool,
    ) -> DeskResult<Option<Order>> {
        let Some(pos) = self.desk[a].position.clone() else {
            return Ok(None);
        };
        if size == BrickSize::TwoHalf {
            return self.two_half_brick(a, Shade::of(color)).map(|()| None);
        }
        let Some(color) = color else {
            return Ok(None);
        };
        let opposed = pos.side.is_opposed_by(color);
        let ex = &mut self.asset_mut(a).exits;
        let reason = match size {
            BrickSize::Four if ex.four_pt_invalidation && opposed => Some("four_pt_invalidation"),
            BrickSize::Main if opposed => {
                let tp = &mut ex.signal_tp;
                if tp.armed && !exit_lock_held {
                    tp.count += 1;
                }
                if tp.armed && !exit_lock_held && tp.count >= tp.target {
                    tp.armed = false;
                    tp.count = 0;
                    Some("signal_count_tp")
                } else if ex.main_flip {
                    Some("main_flip")
                } else {
                    None
                }
            }
            BrickSize::High if ex.high_next_bar => {
                ex.high_next_bar = false;
                Some("high_next_bar")
            }
            BrickSize::High if ex.high_flip && opposed => Some("high_flip"),
            _ => None,
        };
        self.touch(a);
        match reason {
            Some(r) => self.fire_exit(a, r),
            None => Ok(None),
        }
    }

    /// A 2.5pt brick in the trade's color (or neutral) locks management; one against it unlocks.
    fn two_half_brick(&mut self, a: usize, shade: Shade) -> DeskResult<()> {
        let pos = self.asset_mut(a).position.as_mut().expect("position");
        let against = match shade {
            Shade::Neutral => false,
            Shade::Green => pos.side.is_opposed_by(Color::Green),
            Shade::Red => pos.side.is_opposed_by(Color::Red),
        };
        let now = (!against).then_some(shade);
        let changed = pos.two_half_lock.is_some() != now.is_some();
        pos.two_half_lock = now;
        self.touch(a);
        if !changed {
            return Ok(());
        }
        let msg = match now {
            Some(s) => format!(
                "2.5pt lock ON ({} brick): protect held, TP target locked",
                s.as_str()
            ),
            None => format!("2.5pt lock OFF ({} brick)", shade.as_str()),
        };
        self.emit("two_half", Some(a), msg)
    }

    /// Open points of the asset's position: from the bridge's `openPnl` when its newest PnL
    /// snapshot (newer than the last price) agrees on the position, else from the last price.
    pub fn open_points(&self, a: usize) -> Option<f64> {
        let st = &self.desk[a];
        let pos = st.position.as_ref()?;
        let cfg = &self.assets[a];
        let from_bridge = self.account.pnl_snapshot.as_ref().and_then(|s| {
            if st.last_price_at.is_some_and(|t| t > s.at) {
                return None;
            }
            let sym = s.symbols.iter().find(|x| {
                x.symbol.eq_ignore_ascii_case(&cfg.symbol) && x.position == pos.signed_qty()
            })?;
            Some(sym.open_pnl? / (pos.qty as f64 * cfg.point_value))
        });
        from_bridge.or_else(|| Some(pos.open_points(st.last_price?)))
    }

    pub(crate) fn exits_on_price(&mut self, a: usize) -> DeskResult<Option<Order>> {
        let Some(points) = self.open_points(a) else {
            return Ok(None);
        };
        // the state is copied (copy-on-write) only when the best open points move
        let best = self.desk[a]
            .position
            .as_ref()
            .expect("position")
            .max_favorable_points;
        if points > best {
            let pos = self.asset_mut(a).position.as_mut().expect("position");
            pos.max_favorable_points = points;
            self.touch(a);
        }
        let pos = self.desk[a].position.as_ref().expect("position");
        let ex = &self.desk[a].exits;
        let reason = if self.account.daily_stop_triggered {
            Some("daily_stop")
        } else if self.settings.server_side_stop && points <= -pos.entry_size_mode.stop_points() {
            Some("protective_stop")
        } else if ex.protect.enabled
            && pos.two_half_lock.is_none()
            && points <= ex.protect.threshold
        {
            Some("protect")
        } else if ex.points_tp.enabled && points >= ex.points_tp.target {
            Some("points_tp")
        } else {
            None
        };
        match reason {
            Some(r) => self.fire_exit(a, r),
            None => Ok(None),
        }
    }

    /// Day PnL: the bridge's snapshot when one came this trading day, else the engine's own
    /// realized fills plus open PnL.
    pub fn day_pnl(&self) -> f64 {
        if let Some(s) = &self.account.pnl_snapshot {
            return s.realized + s.unrealized;
        }
        let open: f64 = (0..self.assets.len())
            .filter_map(|a| {
                let points = self.open_points(a)?;
                let qty = self.desk[a].position.as_ref()?.qty as f64;
                Some(points * qty * self.assets[a].point_value)
            })
            .sum();
        self.account.realized_today + open
    }

    /// The account's drawdown (%) from the day's starting balance, when both are known.
    pub fn drawdown_pct(&self) -> Option<f64> {
        let start = self.account.day_start_balance.filter(|b| *b > 0.0)?;
        let now = self.account.pnl_snapshot.as_ref()?.account_balance?;
        Some((start - now) / start * 100.0)
    }

    /// How much of the daily stop the day has used (1.0 triggers it): the drawdown against its
    /// limit, or the day's loss against `daily_stop_usd`, whichever is nearer.
    pub fn daily_stop_used(&self) -> Option<f64> {
        let pct = self.settings.daily_stop_pct;
        let by_drawdown = self.drawdown_pct().filter(|_| pct > 0.0).map(|dd| dd / pct);
        let usd = self.settings.daily_stop_usd.filter(|u| *u > 0.0);
        let by_loss = usd.map(|u| -self.day_pnl() / u);
        let used = match (by_drawdown, by_loss) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        used.map(|u| u.max(0.0))
    }

    /// Why the daily stop should trigger now, if it should.
    fn daily_stop_breach(&self) -> Option<String> {
        let pct = self.settings.daily_stop_pct;
        if let Some(dd) = self.drawdown_pct()
            && dd >= pct
        {
            let start = self.account.day_start_balance.unwrap_or_default();
            return Some(format!(
                "drawdown {dd:.1}% of the day's starting balance {start:.2} (limit {pct}%)"
            ));
        }
        let usd = self.settings.daily_stop_usd?;
        let pnl = self.day_pnl();
        (pnl <= -usd).then(|| format!("day PnL {pnl:.2} reached -{usd:.2}"))
    }

    /// Triggers the daily stop (drawdown, or day PnL if `daily_stop_usd` is set): every
    /// position exits and entries are blocked until the day rolls.
    pub(crate) fn check_daily_stop(&mut self) -> DeskResult<Vec<Order>> {
        let mut orders = Vec::new();
        if self.account.daily_stop_triggered {
            return Ok(orders);
        }
        let Some(why) = self.daily_stop_breach() else {
            return Ok(orders);
        };
        self.account.daily_stop_triggered = true;
        self.account.daily_stop_reason = Some(why.clone());
        self.mark_dirty();
        self.emit(
            "daily_stop",
            None,
            format!("{} — {why}; exiting every position", refusal::DAILY_STOP),
        )?;
        for a in 0..self.assets.len() {
            orders.extend(self.fire_exit(a, "daily_stop")?);
        }
        Ok(orders)
    }

    // ---- what a fill arms and a close resets ----

    /// A fill that opened or added to the trade: the initial exit lock starts again, the points
    /// TP is armed, the 8pt flip (and, for a FREE-zone entry, the 6pt flip) is on, the other
    /// toggles are off.
    pub(crate) fn arm_on_fill(&mut self, a: usize) {
        let Some(free_zone) = self.desk[a].position.as_ref().map(|p| p.free_zone) else {
            return;
        };
        let exits = ExitSettings::on_fill(&self.settings, free_zone);
        let st = self.asset_mut(a);
        st.exits = exits;
        if let Some(pos) = st.position.as_mut() {
            pos.exit_lock_released = false;
        }
        self.touch(a);
    }

    /// The trade closed: every exit toggle and lock resets, the cooldown starts, and the tempo
    /// token waits for the next `main` brick, or for a `four` color change if the trade saw a
    /// fresh `main` brick (early re-arm).
    pub(crate) fn reset_on_close(&mut self, a: usize, saw_main: bool) {
        let now = self.now();
        let exits = ExitSettings::new(&self.settings);
        let st = self.asset_mut(a);
        st.exits = exits;
        st.tempo_ready = false;
        st.tempo_rearm_on_four = saw_main;
        st.entry_zone = None;
        st.exit_waiting = None;
        self.touch(a);
        self.account.last_exit_at = Some(now);
        self.mark_dirty();
    }

    // ---- exit settings ----

    pub fn set_protect(
        &mut self,
        asset: &str,
        enabled: bool,
        threshold: Option<f64>,
    ) -> DeskResult<Protect> {
        let a = self.asset_index(asset)?;
        let threshold = threshold.unwrap_or(self.desk[a].exits.protect.threshold);
        if !PROTECT_THRESHOLDS.contains(&threshold) {
            return Err(DeskError::Invalid(format!(
                "threshold must be -2.0 or 0.5 (got {threshold})"
            )));
        }
        if self.desk[a].position.is_none() {
            return Err(self.no_position(a));
        }
        if self.unfinished_order(a).is_some() {
            return Err(DeskError::gate("pending_order", refusal::PENDING));
        }
        let p = Protect { enabled, threshold };
        self.asset_mut(a).exits.protect = p.clone();
        self.touch(a);
        let held = if self.two_half_locked(a) {
            " (held while the 2.5pt lock is on)"
        } else {
            ""
        };
        self.emit(
            "exit_setting",
            Some(a),
            format!("protect {} at {threshold:+.1} pts{held}", on_off(enabled)),
        )?;
        self.exits_on_price(a)?;
        Ok(p)
    }

    pub fn set_points_tp(
        &mut self,
        asset: &str,
        enabled: bool,
        target: Option<f64>,
    ) -> DeskResult<PointsTp> {
        let a = self.asset_index(asset)?;
        let current = self.desk[a].exits.points_tp.target;
        let target = target.unwrap_or(current);
        if !(target.is_finite() && target > 0.0 && target <= 200.0) {
            return Err(DeskError::Invalid(format!(
                "target must be a number of points in (0, 200] (got {target})"
            )));
        }
        if target != current && self.two_half_locked(a) {
            return Err(DeskError::Locked(
                "2.5pt lock active — the TP target cannot change until a 2.5pt brick against the trade".into(),
            ));
        }
        let p = PointsTp { enabled, target };
        self.asset_mut(a).exits.points_tp = p.clone();
        self.touch(a);
        self.emit(
            "exit_setting",
            Some(a),
            format!("points TP {} at {target} pts", on_off(enabled)),
        )?;
        self.exits_on_price(a)?;
        Ok(p)
    }

    pub fn take_profit(&mut self, asset: &str, req: TakeProfitRequest) -> DeskResult<SignalTp> {
        let a = self.asset_index(asset)?;
        if req.tp_arm.is_none() && req.tp_target.is_none() && !req.reset {
            return Err(DeskError::Invalid(
                "nothing to do: give tp_arm, tp_target or reset".into(),
            ));
        }
        if let Some(n) = req.tp_target
            && !(1..=50).contains(&n)
        {
            return Err(DeskError::Invalid(format!(
                "tp_target must be 1..=50 (got {n})"
            )));
        }
        let tp = &mut self.asset_mut(a).exits.signal_tp;
        if let Some(n) = req.tp_target {
            tp.target = n;
        }
        if req.reset {
            tp.count = 0;
        }
        if let Some(arm) = req.tp_arm {
            let armed = match arm {
                TpArm::Toggle => !tp.armed,
                TpArm::On => true,
                TpArm::Off => false,
            };
            if armed && !tp.armed {
                tp.count = 0;
            }
            tp.armed = armed;
        }
        let tp = tp.clone();
        self.touch(a);
        self.emit(
            "exit_setting",
            Some(a),
            format!(
                "signal-count TP {} ({}/{})",
                on_off(tp.armed),
                tp.count,
                tp.target
            ),
        )?;
        Ok(tp)
    }

    pub fn toggle_high_next_bar(&mut self, asset: &str) -> DeskResult<bool> {
        let a = self.asset_index(asset)?;
        self.check_next_bar_arming(a, BrickSize::High, self.desk[a].exits.high_next_bar)?;
        self.toggle_exit(a, "8pt next-bar exit", |e| &mut e.high_next_bar)
    }

    pub fn toggle_main_flip(&mut self, asset: &str) -> DeskResult<bool> {
        let a = self.asset_index(asset)?;
        self.check_next_bar_arming(a, BrickSize::Main, self.desk[a].exits.main_flip)?;
        self.toggle_exit(a, "6pt flip exit", |e| &mut e.main_flip)
    }

    pub fn toggle_four_pt(&mut self, asset: &str) -> DeskResult<bool> {
        let a = self.asset_index(asset)?;
        self.toggle_exit(a, "4pt invalidation exit", |e| &mut e.four_pt_invalidation)
    }

    /// While the 2.5pt lock holds, the 6pt and 8pt bar exits can be armed only before the
    /// first fresh brick of their size after the entry (disarming is always allowed).
    fn check_next_bar_arming(&self, a: usize, size: BrickSize, on: bool) -> DeskResult<()> {
        let Some(pos) = &self.desk[a].position else {
            return Ok(());
        };
        let seen = match size {
            BrickSize::High => pos.highs_since_entry,
            _ => pos.bars_since_entry,
        };
        if !on && pos.two_half_lock.is_some() && seen > 0 {
            return Err(DeskError::Locked(format!(
                "2.5pt lock active — the {} exit can be armed only before the first new {} bar",
                size.label(),
                size.label()
            )));
        }
        Ok(())
    }

    fn toggle_exit(
        &mut self,
        a: usize,
        what: &str,
        field: impl FnOnce(&mut ExitSettings) -> &mut bool,
    ) -> DeskResult<bool> {
        let f = field(&mut self.asset_mut(a).exits);
        *f = !*f;
        let now_on = *f;
        self.touch(a);
        self.emit(
            "exit_setting",
            Some(a),
            format!("{what} {}", on_off(now_on)),
        )?;
        Ok(now_on)
    }

    /// Scale-in: once per trade, when READY (a fresh 6pt brick in the trade's color, or a 4pt
    /// pullback). Not an entry: no gate applies and it spends no tempo, candle or trade slot.
    /// The bridge gets an `ENTRY` with source `SCALE_IN`.
    pub fn scale_in(&mut self, asset: &str) -> DeskResult<Order> {
        self.roll_day()?;
        let a = self.asset_index(asset)?;
        if let Some(e) = self.scale_in_refusal(a) {
            return Err(e);
        }
        let pos = self.desk[a].position.clone().expect("checked");
        self.create_order(
            a,
            pos.side,
            self.settings.scale_in_qty,
            OrderKind::Entry,
            pos.trade_mode,
            pos.entry_size_mode,
            false,
            source::SCALE_IN,
        )
    }

    /// A scale-in would be taken now (the snapshot's `scale_in_available`).
    pub(crate) fn scale_in_available(&self, a: usize) -> bool {
        self.desk[a].position.is_some() && self.scale_in_refusal(a).is_none()
    }

    fn scale_in_refusal(&self, a: usize) -> Option<DeskError> {
        let Some(pos) = &self.desk[a].position else {
            return Some(self.no_position(a));
        };
        if self.unfinished_order(a).is_some() {
            return Some(DeskError::gate("pending_order", refusal::PENDING));
        }
        let msg = match pos.scale_in {
            ScaleInStage::Done => "Scale-in already used for this trade",
            ScaleInStage::Wait => {
                "Scale-in not available — wait for a new 6pt bar in the trade's color or a 4pt pullback"
            }
            _ => return None,
        };
        Some(DeskError::gate("scale_in", msg))
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}
