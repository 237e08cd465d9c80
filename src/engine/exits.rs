//! Exits: the operator's (manual, force, exit-all, level) and the automatic triggers (protective
//! stop, protect, points TP, signal-count TP, next-bar, flip, 4pt invalidation, 2.5pt lock, daily
//! stop). An asset has at most one unfinished EXIT order, so each trigger fires exactly once.
use super::Engine;
use super::error::{DeskError, DeskResult};
use super::model::{BrickSize, Color};
use super::orders::{Order, OrderKind};
use super::state::{PointsTp, Protect, SignalTp};
use chrono::Duration;
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
    /// Sends one EXIT order for the whole position, unless there is no position or an exit is
    /// already on its way. Returns the order it created.
    pub(crate) fn fire_exit(&mut self, a: usize, reason: &str) -> DeskResult<Option<Order>> {
        let Some(pos) = self.desk[a].position.clone() else {
            return Ok(None);
        };
        if self.unfinished_exit(a).is_some() {
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
            Some(reason.to_string()),
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

    /// Seconds left on the initial exit lock of the asset's position.
    pub fn exit_lock_remaining(&self, a: usize) -> Option<i64> {
        let pos = self.desk[a].position.as_ref()?;
        let left = (pos.opened_at + Duration::seconds(self.settings.exit_lock_secs) - self.now())
            .num_milliseconds();
        (left > 0).then(|| (left + 999) / 1000)
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

    fn check_manual_exit(&self, a: usize, force: bool) -> DeskResult<()> {
        let name = &self.assets[a].name;
        if self.desk[a].position.is_none() {
            return Err(DeskError::gate(
                "no_position",
                format!("NO POSITION — {name} is flat"),
            ));
        }
        if let Some(o) = self.unfinished_exit(a) {
            return Err(DeskError::gate(
                "exit_pending",
                format!(
                    "EXIT ALREADY SENT — order {} is {}",
                    o.id,
                    o.status.as_str()
                ),
            ));
        }
        if !force && let Some(left) = self.exit_lock_remaining(a) {
            return Err(DeskError::gate(
                "exit_lock",
                format!(
                    "EXIT LOCK ACTIVE — position opened under {}s ago ({} remaining); use force to override",
                    self.settings.exit_lock_secs,
                    fmt_mmss(left)
                ),
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

    /// `/tv_level_exit`: a horizontal level was hit; exit the asset (no exit lock: it is automatic).
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn level_exit(&mut self, asset: &str) -> DeskResult<Option<Order>> {
        self.roll_day()?;
        let a = self.asset_index(asset)?;
        let order = self.fire_exit(a, "level_exit")?;
        if order.is_none() {
            self.emit("exit", Some(a), "level exit received with nothing to exit")?;
        }
        Ok(order)
    }

    pub(crate) fn exits_on_brick(
        &mut self,
        a: usize,
        size: BrickSize,
        color: Color,
    ) -> DeskResult<Option<Order>> {
        let Some(pos) = self.desk[a].position.clone() else {
            return Ok(None);
        };
        let opposed = pos.side.is_opposed_by(color);
        let lock_points = self.settings.two_half_lock_points;
        let ex = &mut self.asset_mut(a).exits;
        let reason = match size {
            BrickSize::Four if ex.four_pt_invalidation && opposed => Some("four_pt_invalidation"),
            BrickSize::Main if opposed => {
                let tp = &mut ex.signal_tp;
                if tp.armed {
                    tp.count += 1;
                }
                if tp.armed && tp.count >= tp.target {
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
            BrickSize::TwoHalf if opposed && pos.max_favorable_points >= lock_points => {
                Some("two_half_tp_lock")
            }
            _ => None,
        };
        self.touch(a);
        match reason {
            Some(r) => self.fire_exit(a, r),
            None => Ok(None),
        }
    }

    pub(crate) fn exits_on_price(&mut self, a: usize) -> DeskResult<Option<Order>> {
        let Some(points) = self.desk[a].open_points() else {
            return Ok(None);
        };
        let pos = self.asset_mut(a).position.as_mut().expect("position");
        if points > pos.max_favorable_points {
            pos.max_favorable_points = points;
            self.touch(a);
        }
        let pos = self.desk[a].position.as_ref().expect("position");
        let ex = &self.desk[a].exits;
        let reason = if points <= -pos.entry_size_mode.stop_points() {
            Some("protective_stop")
        } else if ex.protect.enabled && points <= ex.protect.threshold {
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
    /// realized fills plus open PnL at the last prices.
    pub fn day_pnl(&self) -> f64 {
        if let Some(s) = &self.account.pnl_snapshot {
            return s.realized + s.unrealized;
        }
        let open: f64 = (0..self.assets.len())
            .filter_map(|a| {
                let points = self.desk[a].open_points()?;
                let qty = self.desk[a].position.as_ref()?.qty as f64;
                Some(points * qty * self.assets[a].point_value)
            })
            .sum();
        self.account.realized_today + open
    }

    /// Triggers the daily stop when day PnL reaches −daily_stop_usd: every position exits.
    pub(crate) fn check_daily_stop(&mut self) -> DeskResult<Vec<Order>> {
        let pnl = self.day_pnl();
        let mut orders = Vec::new();
        if self.account.daily_stop_triggered || pnl > -self.settings.daily_stop_usd {
            return Ok(orders);
        }
        self.account.daily_stop_triggered = true;
        self.mark_dirty();
        self.emit(
            "daily_stop",
            None,
            format!(
                "DAILY STOP — day PnL {pnl:.2} ≤ -{:.2}; exiting every position, entries locked until the day rolls",
                self.settings.daily_stop_usd
            ),
        )?;
        for a in 0..self.assets.len() {
            orders.extend(self.fire_exit(a, "daily_stop")?);
        }
        Ok(orders)
    }

    // ---- armed exit settings ----

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
        let p = Protect { enabled, threshold };
        self.asset_mut(a).exits.protect = p.clone();
        self.touch(a);
        self.emit(
            "exit_setting",
            Some(a),
            format!("protect {} at {threshold:+.1} pts", on_off(enabled)),
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
        let target = target.unwrap_or(self.desk[a].exits.points_tp.target);
        if !(target.is_finite() && target > 0.0 && target <= 1000.0) {
            return Err(DeskError::Invalid(format!(
                "target must be a number of points in (0, 1000] (got {target})"
            )));
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
        self.toggle_exit(asset, "8pt next-bar exit", |e| &mut e.high_next_bar)
    }

    pub fn toggle_main_flip(&mut self, asset: &str) -> DeskResult<bool> {
        self.toggle_exit(asset, "6pt flip exit", |e| &mut e.main_flip)
    }

    pub fn toggle_four_pt(&mut self, asset: &str) -> DeskResult<bool> {
        self.toggle_exit(asset, "4pt invalidation exit", |e| {
            &mut e.four_pt_invalidation
        })
    }

    fn toggle_exit(
        &mut self,
        asset: &str,
        what: &str,
        field: impl FnOnce(&mut super::state::ExitSettings) -> &mut bool,
    ) -> DeskResult<bool> {
        let a = self.asset_index(asset)?;
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

    /// Scale-in: one more default-qty order on the position's side, once it is at least one
    /// `main` brick (6 points) in profit and has not scaled in yet.
    pub fn scale_in(&mut self, asset: &str) -> DeskResult<Order> {
        self.roll_day()?;
        let a = self.asset_index(asset)?;
        if let Some(msg) = self.scale_in_block(a) {
            return Err(DeskError::gate("scale_in", msg));
        }
        let pos = self.desk[a].position.clone().expect("checked");
        let qty = self.assets[a].default_qty;
        self.create_order(
            a,
            pos.side,
            qty,
            OrderKind::ScaleIn,
            pos.trade_mode,
            pos.entry_size_mode,
            false,
            None,
        )
    }

    /// Why a scale-in is not available now (None: it is).
    pub fn scale_in_block(&self, a: usize) -> Option<String> {
        let name = &self.assets[a].name;
        let Some(pos) = &self.desk[a].position else {
            return Some(format!("SCALE-IN UNAVAILABLE — {name} is flat"));
        };
        if pos.scaled_in {
            return Some("SCALE-IN UNAVAILABLE — this position already scaled in".into());
        }
        if let Some(o) = self.unfinished_order(a) {
            return Some(format!(
                "SCALE-IN UNAVAILABLE — order {} is {}",
                o.id,
                o.status.as_str()
            ));
        }
        let need = BrickSize::Main.points();
        match self.desk[a].open_points() {
            Some(p) if p >= need => None,
            p => Some(format!(
                "SCALE-IN UNAVAILABLE — position is {} pts, needs ≥ {need} pts (one 6pt brick) in profit",
                p.map(|p| format!("{p:+.2}"))
                    .unwrap_or_else(|| "n/a".into())
            )),
        }
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}
