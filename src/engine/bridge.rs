//! The broker bridge's side of the desk: atomic claiming of PENDING orders, execution reports
//! (fills open, grow, shrink and close positions), bridge heartbeats and PnL snapshots.
use super::Engine;
use super::error::{DeskError, DeskResult};
use super::model::Side;
use super::orders::{Order, OrderKind, OrderStatus, source};
use super::state::{
    ClosedTrade, Mismatch, PnlSnapshot, Position, PositionMismatch, ScaleInStage, SnapshotSymbol,
    TRADES_KEPT, Zone,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An order as the bridge receives it from `GET /api/orders/pending`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClaimedOrder {
    pub id: String,
    /// The broker contract (the seed calls it `asset`).
    pub asset: String,
    pub symbol: String,
    pub desk_asset: String,
    pub exchange: String,
    pub side: Side,
    pub qty: u32,
    /// The exit mode, as the original desk sends it: always `"A"` (CONTRACTS.md).
    pub mode: String,
    /// The trade mode (`SCALP` | `RUNNER`).
    pub trade_mode: String,
    pub env: String,
    /// `ENTRY` or `EXIT` (a scale-in is an `ENTRY` with source `SCALE_IN`).
    pub kind: String,
    /// `UI`, `PREORDER`, `SCALE_IN`, or an exit's reason.
    pub source: String,
    pub entry_size_mode: String,
    pub created_at: DateTime<Utc>,
}

impl From<&Order> for ClaimedOrder {
    fn from(o: &Order) -> Self {
        ClaimedOrder {
            id: o.id.clone(),
            asset: o.symbol.clone(),
            symbol: o.symbol.clone(),
            desk_asset: o.asset.clone(),
            exchange: o.exchange.clone(),
            side: o.side,
            qty: o.qty,
            mode: o.mode.clone(),
            trade_mode: o.trade_mode.as_str().into(),
            env: o.env.as_str().into(),
            kind: o.kind.as_str().into(),
            entry_size_mode: o.entry_size_mode.as_str().into(),
            source: o.source.clone(),
            created_at: o.created_at,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecutionReport {
    pub status: String,
    pub fill_price: Option<f64>,
    pub symbol: Option<String>,
    pub side: Option<String>,
    pub qty: Option<u32>,
}

/// How the operator settles a stuck order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// The broker has no such order (or it was cancelled there): CANCELLED, the asset is free.
    Cancel,
    /// The broker filled it: FILLED at the given price, the position follows.
    Filled,
}

impl Resolution {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cancel" | "cancelled" | "canceled" => Some(Resolution::Cancel),
            "filled" | "fill" => Some(Resolution::Filled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BridgeHeartbeat {
    pub ts_connected: bool,
    pub md_connected: bool,
    pub repo_ok: bool,
    pub account: Option<String>,
    pub trade_route: Option<String>,
    pub last_rapi_event_utc: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PnlSnapshotInput {
    pub realized: f64,
    pub unrealized: f64,
    pub account_balance: Option<f64>,
    pub symbols: Vec<SnapshotSymbol>,
}

impl Engine {
    /// Hands up to `limit` PENDING orders, oldest first, to `owner`; each one exactly once.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn claim_pending(&mut self, limit: u32, owner: &str) -> DeskResult<Vec<ClaimedOrder>> {
        super::limits::text("owner", owner)?;
        let now = self.now();
        let ids = self.store.claim_pending(limit, owner, now)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut order = self.find_order(&id)?;
            order.status = OrderStatus::Claimed;
            order.owner = Some(owner.to_string());
            order.claimed_at = Some(now);
            order.updated_at = now;
            out.push(ClaimedOrder::from(&order));
            let asset = self.asset_index(&order.asset).ok();
            let msg = format!("order {} claimed by {owner}", order.id);
            self.remember_order(order);
            self.emit("claim", asset, msg)?;
        }
        Ok(out)
    }

    /// The bridge reports what happened to an order.
    #[tracing::instrument(level = "debug", skip(self, report), fields(status = %report.status))]
    pub fn execution_report(&mut self, id: &str, report: ExecutionReport) -> DeskResult<Order> {
        self.roll_day()?;
        let to = OrderStatus::parse(&report.status).ok_or_else(|| {
            DeskError::Invalid(format!(
                "status must be WORKING, FILLED, REJECTED or CANCELLED (got {:?})",
                report.status
            ))
        })?;
        let order = self.find_order(id)?;
        if order.status == to && !matches!(to, OrderStatus::Pending | OrderStatus::Claimed) {
            // the bridge repeats a report (a retry after a lost answer): the same outcome is
            // acknowledged and changes nothing; another fill price is a conflict
            let same_price = match (report.fill_price, order.fill_price) {
                (Some(new), Some(old)) => (new - old).abs() < 1e-9,
                _ => true,
            };
            if same_price {
                tracing::debug!(
                    order = id,
                    status = to.as_str(),
                    "repeated execution report: nothing to change"
                );
                return Ok(order);
            }
            let e = DeskError::Conflict(format!(
                "order {id} is already FILLED @ {}; a second FILLED report at {} is refused",
                order.fill_price.unwrap_or_default(),
                report.fill_price.unwrap_or_default()
            ));
            self.log_refusal(
                "refused",
                self.asset_index(&order.asset).ok(),
                format!("execution report for {id} refused: {e}"),
            );
            return Err(e);
        }
        if let Err(e) = order.status.transition(to) {
            // the refusal is logged even though the job fails (and rolls back)
            self.log_refusal(
                "refused",
                self.asset_index(&order.asset).ok(),
                format!("execution report for {id} refused: {e}"),
            );
            return Err(e.into());
        }
        for (what, v) in [
            ("extra.symbol", &report.symbol),
            ("extra.side", &report.side),
        ] {
            if let Some(v) = v {
                super::limits::text(what, v)?;
            }
        }
        let a = self.asset_index(&order.asset)?;
        let price = match (to, report.fill_price) {
            // a price that is not a positive number is refused (and logged) with the rest
            (OrderStatus::Filled, Some(p)) => {
                self.check_price(a, "extra.fill_price", p)?;
                Some(p)
            }
            // a FILLED report without a price fills at the last price (SPEC §2 Positions)
            (OrderStatus::Filled, None) => Some(self.desk[a].last_price.ok_or_else(|| {
                DeskError::Invalid(
                    "a FILLED report without extra.fill_price needs a last price, and there is none yet".into(),
                )
            })?),
            _ => None,
        };
        if let Some(sym) = &report.symbol
            && !sym.eq_ignore_ascii_case(&order.symbol)
            && !sym.eq_ignore_ascii_case(&order.asset)
        {
            return Err(DeskError::Invalid(format!(
                "extra.symbol {sym} does not match order symbol {}",
                order.symbol
            )));
        }
        if let Some(side) = &report.side
            && Side::parse(side) != Some(order.side)
        {
            return Err(DeskError::Invalid(format!(
                "extra.side {side} does not match order side {}",
                order.side
            )));
        }
        if let Some(q) = report.qty
            && q != order.qty
        {
            return Err(DeskError::Invalid(format!(
                "extra.qty {q} does not match order qty {} (partial fills are not supported)",
                order.qty
            )));
        }
        self.settle(order, to, price, "report", None)
    }

    /// The operator settles an order the bridge never finished (CLAIMED or WORKING, usually
    /// flagged stale): after checking the broker, cancel it or mark it filled at `fill_price`.
    /// `confirm` must be true: the desk's record changes without the bridge.
    #[tracing::instrument(level = "debug", skip(self))]
    pub fn resolve_order(
        &mut self,
        id: &str,
        action: Resolution,
        fill_price: Option<f64>,
        confirm: bool,
    ) -> DeskResult<Order> {
        self.roll_day()?;
        if !confirm {
            return Err(DeskError::Invalid(
                "resolving an order changes the desk's record without the bridge: check the broker, then send \"confirm\": true".into(),
            ));
        }
        let order = self.find_order(id)?;
        let was = order.status;
        let to = match (action, was) {
            (_, s) if !s.is_unfinished() => {
                return Err(DeskError::Conflict(format!(
                    "order {id} is already {}: nothing to resolve",
                    s.as_str()
                )));
            }
            (Resolution::Filled, OrderStatus::Pending) => {
                return Err(DeskError::Conflict(format!(
                    "order {id} is PENDING: the bridge never took it, so it cannot have filled; cancel it"
                )));
            }
            (Resolution::Cancel, _) => OrderStatus::Cancelled,
            (Resolution::Filled, _) => OrderStatus::Filled,
        };
        let price = match (action, fill_price) {
            (Resolution::Filled, Some(p)) => {
                let a = self.asset_index(&order.asset)?;
                self.check_price(a, "fill_price", p)?;
                Some(p)
            }
            (Resolution::Filled, None) => {
                return Err(DeskError::Invalid(
                    "marking an order filled needs fill_price, a positive number".into(),
                ));
            }
            (Resolution::Cancel, _) => None,
        };
        let how = format!(
            "resolved by the operator (was {}{})",
            was.as_str(),
            if order.stale { ", stale" } else { "" }
        );
        self.settle(order, to, price, "resolve", Some(how))
    }

    /// Records an order's new status (and its fill), logs it and moves the position.
    fn settle(
        &mut self,
        mut order: Order,
        to: OrderStatus,
        price: Option<f64>,
        kind: &str,
        how: Option<String>,
    ) -> DeskResult<Order> {
        let now = self.now();
        order.status = to;
        order.updated_at = now;
        order.stale = false;
        order.fill_price = price.or(order.fill_price);
        self.store.update_order(&order)?;
        self.remember_order(order.clone());
        let a = self.asset_index(&order.asset)?;
        self.emit(
            kind,
            Some(a),
            format!(
                "order {} {}{}{}",
                order.id,
                to.as_str(),
                price.map(|p| format!(" @ {p}")).unwrap_or_default(),
                how.map(|h| format!(" — {h}")).unwrap_or_default()
            ),
        )?;
        if let Some(p) = price {
            self.apply_fill(a, &order, p)?;
        } else if matches!(to, OrderStatus::Rejected | OrderStatus::Cancelled) {
            if order.is_trade_entry() {
                self.give_back_entry(a, &order)?;
            } else if order.source == source::SCALE_IN {
                self.emit(
                    "scale_in",
                    Some(a),
                    format!("scale-in {}: available again", to.as_str()),
                )?;
            }
        }
        if !to.is_unfinished() {
            self.send_waiting_exit(a)?;
        }
        Ok(order)
    }

    /// A fill changes the position: opens, grows (average price), shrinks or closes it. An
    /// entry fill counts a trade and arms the trade's exits; a close resets them.
    fn apply_fill(&mut self, a: usize, order: &Order, price: f64) -> DeskResult<()> {
        let now = self.now();
        self.store
            .insert_fill(&order.id, &order.asset, order.side, order.qty, price, now)?;
        let pv = self.assets[a].point_value;
        let fill_signed = order.qty as i64 * order.side.sign() as i64;
        let fresh = |side, qty, free_zone| Position {
            side,
            qty,
            avg_price: price,
            opened_at: now,
            bars_since_entry: 0,
            highs_since_entry: 0,
            max_favorable_points: 0.0,
            scale_in: ScaleInStage::Wait,
            entry_size_mode: order.entry_size_mode,
            trade_mode: order.trade_mode,
            exit_lock_released: false,
            two_half_lock: None,
            free_zone,
        };
        let free_zone = self.desk[a].entry_zone == Some(Zone::Free);
        let (msg, armed, closed) = match self.asset_mut(a).position.take() {
            None if order.kind == OrderKind::Exit => {
                let m = format!("exit {} filled with no position open", order.id);
                self.emit("mismatch", Some(a), m)?;
                (None, false, None)
            }
            None => {
                let pos = fresh(order.side, order.qty, free_zone);
                self.asset_mut(a).position = Some(pos);
                let m = format!("position opened {} {} @ {price}", order.side, order.qty);
                (Some(m), true, None)
            }
            Some(mut pos) if pos.side == order.side => {
                let total = pos.qty + order.qty;
                pos.avg_price =
                    (pos.avg_price * pos.qty as f64 + price * order.qty as f64) / total as f64;
                pos.qty = total;
                if order.source == source::SCALE_IN {
                    pos.scale_in = ScaleInStage::Done;
                }
                let m = format!(
                    "position now {} {} @ {:.2}",
                    pos.side, pos.qty, pos.avg_price
                );
                self.asset_mut(a).position = Some(pos);
                (Some(m), true, None)
            }
            Some(pos) => {
                let closed = pos.qty.min(order.qty);
                let pnl = (price - pos.avg_price) * pos.side.sign() * closed as f64 * pv;
                self.account.realized_today += pnl;
                self.record_trade(ClosedTrade {
                    asset: self.assets[a].name.clone(),
                    side: pos.side,
                    qty: closed,
                    entry_price: pos.avg_price,
                    exit_price: price,
                    pnl,
                    realized_after: self.account.realized_today,
                    closed_at: now,
                });
                let remaining = pos.signed_qty() + fill_signed;
                let saw_main = pos.bars_since_entry > 0;
                if remaining == 0 {
                    let m = format!("position closed @ {price}: {pnl:+.2} USD");
                    (Some(m), false, Some(saw_main))
                } else if remaining.signum() == pos.side.sign() as i64 {
                    let qty = remaining.unsigned_abs() as u32;
                    let m = format!("position reduced to {} {qty}: {pnl:+.2} USD", pos.side);
                    self.asset_mut(a).position = Some(Position { qty, ..pos });
                    (Some(m), false, None)
                } else {
                    let side = pos.side.opposite();
                    let qty = remaining.unsigned_abs() as u32;
                    self.asset_mut(a).position = Some(fresh(side, qty, false));
                    let m = format!("position flipped to {side} {qty}: {pnl:+.2} USD");
                    (Some(m), true, None)
                }
            }
        };
        if let Some(m) = msg {
            self.emit("position", Some(a), m)?;
        }
        if let Some(saw_main) = closed {
            self.reset_on_close(a, saw_main);
        }
        if armed {
            self.arm_on_fill(a);
            self.asset_mut(a).entry_zone = None;
        }
        if order.is_trade_entry() {
            self.account.trade_count += 1;
            let (n, limit) = (self.account.trade_count, self.settings.trade_limit);
            self.emit(
                "trade_limit",
                Some(a),
                format!("trade {n} of {limit} filled today"),
            )?;
        }
        self.touch(a);
        self.mark_dirty();
        self.set_price(a, price)?;
        Ok(())
    }

    /// Keeps a closed trade for the day strip (the newest `TRADES_KEPT`).
    fn record_trade(&mut self, t: ClosedTrade) {
        let kept = &mut self.account.trades_today;
        if kept.len() >= TRADES_KEPT {
            kept.remove(0);
        }
        kept.push(t);
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub fn bridge_heartbeat(&mut self, hb: BridgeHeartbeat) -> DeskResult<()> {
        let was_fresh = self.bridge_fresh();
        let now = self.now();
        let b = &mut self.account.bridge;
        b.last_heartbeat_at = Some(now);
        b.ts_connected = hb.ts_connected;
        b.md_connected = hb.md_connected;
        b.repo_ok = hb.repo_ok;
        b.account = hb.account;
        b.trade_route = hb.trade_route;
        b.last_rapi_event_utc = hb.last_rapi_event_utc;
        self.mark_dirty();
        if !was_fresh && self.bridge_fresh() {
            self.emit("bridge", None, "bridge connected")?;
        }
        Ok(())
    }

    /// The bridge's PnL and positions: compared with the engine's (a disagreement raises the
    /// `position_mismatch` flag, never overwrites), then the daily stop and exits are checked.
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn pnl_snapshot(
        &mut self,
        input: PnlSnapshotInput,
    ) -> DeskResult<Option<PositionMismatch>> {
        self.roll_day()?;
        use super::limits;
        limits::money("realized", input.realized)?;
        limits::money("unrealized", input.unrealized)?;
        if let Some(b) = input.account_balance {
            limits::money("account_balance", b)?;
        }
        if input.symbols.len() > 256 {
            return Err(DeskError::Invalid(
                "at most 256 symbols in a snapshot".into(),
            ));
        }
        for s in &input.symbols {
            limits::text("symbol", &s.symbol)?;
            if let Some(p) = s.open_pnl {
                limits::money("open_pnl", p)?;
            }
            if s.position.unsigned_abs() > 1_000_000 {
                return Err(DeskError::OutOfRange(format!(
                    "position {} of {} is beyond ±1,000,000 contracts",
                    s.position, s.symbol
                )));
            }
        }
        let now = self.now();
        let mut mismatches = Vec::new();
        for (a, cfg) in self.assets.iter().enumerate() {
            // an order in flight makes a transient difference, not a mismatch
            if self.unfinished_order(a).is_some() {
                continue;
            }
            let engine_pos = self.desk[a]
                .position
                .as_ref()
                .map(|p| p.signed_qty())
                .unwrap_or(0);
            let bridge_pos: i64 = input
                .symbols
                .iter()
                .filter(|s| {
                    s.symbol.eq_ignore_ascii_case(&cfg.symbol)
                        || s.symbol.eq_ignore_ascii_case(&cfg.name)
                })
                .map(|s| s.position)
                .sum();
            if engine_pos != bridge_pos {
                mismatches.push(Mismatch {
                    asset: cfg.name.clone(),
                    symbol: cfg.symbol.clone(),
                    engine_position: engine_pos,
                    bridge_position: bridge_pos,
                });
            }
        }
        if self.account.day_start_balance.is_none() {
            self.account.day_start_balance = input.account_balance;
        }
        self.account.pnl_snapshot = Some(PnlSnapshot {
            at: now,
            realized: input.realized,
            unrealized: input.unrealized,
            account_balance: input.account_balance,
            symbols: input.symbols,
        });
        let had = self.account.position_mismatch.is_some();
        if mismatches.is_empty() {
            self.account.position_mismatch = None;
            if had {
                self.emit(
                    "mismatch",
                    None,
                    "position mismatch cleared: bridge and engine agree",
                )?;
            }
        } else {
            let text = mismatches
                .iter()
                .map(|m| {
                    format!(
                        "{} engine {} vs bridge {}",
                        m.asset, m.engine_position, m.bridge_position
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let changed =
                self.account.position_mismatch.as_ref().map(|m| &m.assets) != Some(&mismatches);
            self.account.position_mismatch = Some(PositionMismatch {
                at: now,
                assets: mismatches,
            });
            if changed {
                self.emit("mismatch", None, format!("POSITION MISMATCH — {text}"))?;
            }
        }
        self.mark_dirty();
        self.check_daily_stop()?;
        for a in 0..self.assets.len() {
            self.exits_on_price(a)?;
        }
        Ok(self.account.position_mismatch.clone())
    }
}
