//! Market data into the desk: TradingView bricks, price heartbeats, and bricks the engine builds
//! from prices. A brick updates zone, tempo, intent, the trade's locks and scale-in, then the
//! exits are evaluated and a preorder may fire.
use super::Engine;
use super::error::{DeskError, DeskResult};
use super::model::{BrickSize, BrickSource, Color};
use super::orders::Order;
use super::renko::BuiltBrick;
use super::state::{Brick, IntentStatus, ScaleInStage};
use serde::{Deserialize, Serialize};

/// A brick as a TradingView alert sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrickInput {
    /// A name, symbol, alias or TradingView ticker (`CME_MINI:MES1!`).
    pub asset: String,
    pub size: BrickSize,
    /// `None`: a color other than green or red (a plot value, a hex color): neutral, logged
    /// and shown, not applied.
    pub color: Option<Color>,
    /// What the alert sent as the color (for the log line of a neutral brick).
    pub sent_color: String,
    /// `bar_id`, else `bar_ts`; `None`: the alert has no bar key, so a retry of it cannot be told
    /// from a new brick (no duplicate detection).
    pub bar_id: Option<String>,
    /// The brick's close as the alert sent it (`"close": "{{close}}"`): the console then draws
    /// the brick at its price rather than from the colors alone. One that is not a plausible
    /// price is left out (said in the answer and the log): it must not cost the desk its brick.
    pub close: Option<String>,
}

impl BrickInput {
    pub fn new(asset: &str, size: BrickSize, color: Color, bar_id: &str) -> Self {
        BrickInput {
            asset: asset.into(),
            size,
            color: Some(color),
            sent_color: color.as_str().into(),
            bar_id: Some(bar_id.into()),
            close: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrickOutcome {
    /// The desk asset and the brick size the alert was read as.
    pub asset: String,
    pub size: BrickSize,
    /// `green`, `red` or `neutral`.
    pub color: String,
    /// The brick moved the desk (a new green or red brick).
    pub applied: bool,
    /// Seen before (same asset, size and bar key): nothing changed.
    pub duplicate: bool,
    /// Whether a retried alert is recognised: false when it carried no `bar_id` or `bar_ts`.
    pub duplicate_check: bool,
    /// Why the brick did not move the desk, or what to fix in the alert.
    pub note: Option<String>,
    /// The stored brick; null for a neutral one.
    pub brick: Option<Brick>,
    /// Orders the brick caused: exits it triggered, a preorder it released.
    pub orders: Vec<Order>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatInput {
    pub asset: String,
    pub price: f64,
    /// The sender's timestamp (epoch seconds); informational, freshness uses receipt time.
    pub timestamp: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatOutcome {
    pub asset: String,
    pub price: f64,
    /// Bricks built from this price (assets whose source is `price`).
    pub bricks: Vec<Brick>,
    pub orders: Vec<Order>,
}

impl Engine {
    /// A brick posted by TradingView. `(asset, size, bar key)` seen before → duplicate, no
    /// change. A neutral color is logged and answered, and changes nothing else.
    #[tracing::instrument(level = "debug", skip_all, fields(asset = %input.asset, size = %input.size, bar_id = ?input.bar_id))]
    pub fn webhook_brick(&mut self, input: BrickInput) -> DeskResult<BrickOutcome> {
        self.roll_day()?;
        let a = self.asset_index(&input.asset)?;
        if let Some(id) = &input.bar_id {
            super::limits::text("bar_id", id)?;
        }
        let asset = self.assets[a].name.clone();
        let (close, close_note) = self.brick_close(a, input.close.as_deref());
        let duplicate_check = input.bar_id.is_some();
        let no_key = (!duplicate_check).then(|| {
            "the alert has no bar_id or bar_ts: a retried alert would count as a new brick (add \"bar_ts\": \"{{time}}\")".to_string()
        });
        // what the sender should know: no bar key, a close left out
        let notes = [no_key, close_note.clone()]
            .into_iter()
            .flatten()
            .reduce(|a, b| format!("{a}; {b}"));
        let mut out = BrickOutcome {
            asset: asset.clone(),
            size: input.size,
            color: input.color.map_or("neutral", Color::as_str).into(),
            applied: false,
            duplicate: false,
            duplicate_check,
            note: notes.clone(),
            brick: None,
            orders: Vec::new(),
        };
        let Some(color) = input.color else {
            // a neutral 8pt/12pt brick leaves no zone; a neutral 2.5pt brick locks management
            let applied = matches!(
                input.size,
                BrickSize::High | BrickSize::Macro | BrickSize::TwoHalf
            );
            let msg = format!(
                "neutral {} brick on {asset} (color {:?}): {}",
                input.size,
                input.sent_color,
                if applied {
                    "applied as neutral"
                } else {
                    "logged, not applied"
                }
            );
            self.emit("brick", Some(a), msg.clone())?;
            if applied {
                out.orders = self.apply_neutral(a, input.size)?;
                out.applied = true;
            }
            out.note = Some(match notes {
                Some(k) => format!("{msg}; {k}"),
                None => msg,
            });
            return Ok(out);
        };
        let now = self.now();
        let bar_id = input.bar_id.unwrap_or_else(|| {
            format!(
                "nokey-{}-{}",
                now.timestamp_micros(),
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            )
        });
        let brick = Brick {
            asset,
            size: input.size,
            color,
            bar_id,
            received_at: now,
            // a brick opens one box from its close, on the side its color says
            open: close.map(|c| match color {
                Color::Green => c - input.size.points(),
                Color::Red => c + input.size.points(),
            }),
            close,
        };
        if !self.store_brick(&brick, "webhook")? {
            out.duplicate = true;
            out.brick = Some(brick);
            return Ok(out);
        }
        // logged once, for the brick it was sent with (not for a retry, nor a neutral brick)
        if let Some(n) = close_note {
            let size = input.size;
            self.emit(
                "brick",
                Some(a),
                format!("{} {size} brick: {n}", brick.asset),
            )?;
        }
        out.orders = self.apply_brick(a, brick.clone())?;
        out.applied = true;
        out.brick = Some(brick);
        Ok(out)
    }

    /// A brick alert's close: the price, or why it is left out.
    fn brick_close(&self, a: usize, sent: Option<&str>) -> (Option<f64>, Option<String>) {
        let Some(text) = sent.map(str::trim) else {
            return (None, None);
        };
        let checked = match text.parse::<f64>() {
            Ok(p) => self.price_in_band(a, "close", p).map(|_| p),
            Err(_) => Err(DeskError::Invalid("close is not a number".into())),
        };
        match checked {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(format!("close {text:?} left out: {e}"))),
        }
    }

    fn store_brick(&mut self, b: &Brick, source: &str) -> DeskResult<bool> {
        self.store.insert_brick(
            &b.asset,
            b.size,
            &b.bar_id,
            b.color,
            b.open,
            b.close,
            source,
            b.received_at,
        )
    }

    /// A price heartbeat: freshness, last price, bricks built from it, price-driven exits.
    #[tracing::instrument(level = "debug", skip_all, fields(asset = %input.asset))]
    pub fn heartbeat(&mut self, input: HeartbeatInput) -> DeskResult<HeartbeatOutcome> {
        self.roll_day()?;
        let a = self.asset_index(&input.asset)?;
        self.check_price(a, "price", input.price)?;
        let now = self.now();
        let st = self.asset_mut(a);
        st.last_heartbeat_at = Some(now);
        self.touch(a);
        let mut orders = Vec::new();
        let mut bricks = Vec::new();
        if self.assets[a].source == BrickSource::Price {
            let mut built: Vec<(BrickSize, BuiltBrick)> = Vec::new();
            let mut scratch = Vec::new();
            for size in BrickSize::ALL {
                scratch.clear();
                let skipped = self.asset_mut(a).builders[size.index()].push_capped_into(
                    input.price,
                    now.timestamp_millis(),
                    &mut scratch,
                    super::limits::MAX_BRICKS_PER_TICK,
                );
                if skipped > 0 {
                    let msg = format!(
                        "{} price {} jumped {} {size} bricks: only the last {} were built",
                        self.assets[a].name,
                        input.price,
                        skipped + scratch.len() as u64,
                        scratch.len()
                    );
                    self.emit("brick", Some(a), msg)?;
                }
                built.extend(scratch.iter().map(|b| (size, *b)));
            }
            for (size, b) in built {
                let brick = Brick {
                    asset: self.assets[a].name.clone(),
                    size,
                    color: b.color,
                    bar_id: format!("built-{}", b.index),
                    received_at: now,
                    open: Some(b.open),
                    close: Some(b.close),
                };
                if self.store_brick(&brick, "price")? {
                    orders.extend(self.apply_brick(a, brick.clone())?);
                    bricks.push(brick);
                }
            }
        }
        orders.extend(self.set_price(a, input.price)?);
        Ok(HeartbeatOutcome {
            asset: self.assets[a].name.clone(),
            price: input.price,
            bricks,
            orders,
        })
    }

    /// Records the last price and evaluates the price-driven exits and the daily stop.
    pub(crate) fn set_price(&mut self, a: usize, price: f64) -> DeskResult<Vec<Order>> {
        let now = self.now();
        let st = self.asset_mut(a);
        st.last_price = Some(price);
        st.last_price_at = Some(now);
        self.touch(a);
        let mut orders: Vec<Order> = self.exits_on_price(a)?.into_iter().collect();
        orders.extend(self.check_daily_stop()?);
        Ok(orders)
    }

    /// A neutral 8pt, 12pt or 2.5pt alert: the size's color is neutral until its next brick.
    fn apply_neutral(&mut self, a: usize, size: BrickSize) -> DeskResult<Vec<Order>> {
        let (zone_before, _) = self.desk[a].zone();
        self.asset_mut(a).neutral[size.index()] = true;
        self.touch(a);
        self.zone_changed(a, zone_before, size)?;
        let held = self.exit_lock_active(a);
        let mut orders: Vec<Order> = self
            .exits_on_brick(a, size, None, held)?
            .into_iter()
            .collect();
        if orders.is_empty() {
            orders.extend(self.exits_on_price(a)?);
        }
        Ok(orders)
    }

    fn zone_changed(
        &mut self,
        a: usize,
        before: super::state::Zone,
        size: BrickSize,
    ) -> DeskResult<()> {
        let (after, dir) = self.desk[a].zone();
        if after != before && matches!(size, BrickSize::High | BrickSize::Macro) {
            let dir = dir.map(|d| format!(" {d}")).unwrap_or_default();
            self.emit("zone", Some(a), format!("zone {}{dir}", after.as_str()))?;
        }
        Ok(())
    }

    /// Applies a new confirmed brick to the desk state and runs what it triggers.
    fn apply_brick(&mut self, a: usize, brick: Brick) -> DeskResult<Vec<Order>> {
        let size = brick.size;
        let color = brick.color;
        let (zone_before, _) = self.desk[a].zone();
        self.notify(
            "brick",
            Some(a),
            format!(
                "{} {} brick {} ({})",
                size.label(),
                color.as_str(),
                brick.bar_id,
                self.assets[a].name
            ),
        )?;
        let prev = self.desk[a].last_color(size);
        let st = self.asset_mut(a);
        st.last_bricks[size.index()] = Some(brick);
        st.neutral[size.index()] = false;
        self.touch(a);
        self.zone_changed(a, zone_before, size)?;
        let exit_lock_held = self.exit_lock_active(a);
        match size {
            BrickSize::Main => self.on_main_brick(a, color)?,
            BrickSize::Four => self.on_four_brick(a, color, prev)?,
            BrickSize::High => {
                if let Some(p) = self.asset_mut(a).position.as_mut() {
                    p.highs_since_entry += 1;
                }
            }
            _ => {}
        }
        let mut orders: Vec<Order> = self
            .exits_on_brick(a, size, Some(color), exit_lock_held)?
            .into_iter()
            .collect();
        // a brick can lift a lock (the 2.5pt lock): the price exits are evaluated too
        if orders.is_empty() {
            orders.extend(self.exits_on_price(a)?);
        }
        if size == BrickSize::Main {
            orders.extend(self.fire_preorder(a, color)?);
        }
        Ok(orders)
    }

    /// A `main` brick: the tempo token is READY again, the intent advances, and the trade ages:
    /// the initial exit lock is released, and a brick in the trade's color readies the scale-in.
    fn on_main_brick(&mut self, a: usize, color: Color) -> DeskResult<()> {
        let st = self.asset_mut(a);
        st.tempo_ready = true;
        st.tempo_rearm_on_four = false;
        let mut notes = Vec::new();
        if let Some(p) = st.position.as_mut() {
            p.bars_since_entry += 1;
            if !p.exit_lock_released {
                p.exit_lock_released = true;
                notes.push((
                    "exit_lock",
                    "initial exit lock released: new 6pt bar".to_string(),
                ));
            }
            if p.scale_in == ScaleInStage::Wait && color.side() == p.side {
                p.scale_in = ScaleInStage::Ready6pt;
                notes.push((
                    "scale_in",
                    "scale-in READY_6PT: new 6pt bar in the trade's color".into(),
                ));
            }
        }
        match st.intent.as_ref().map(|i| i.status) {
            Some(IntentStatus::Armed) => {
                st.intent.as_mut().expect("intent").status = IntentStatus::Ready;
                notes.push(("intent", "intent READY for this 6pt bar".into()));
            }
            Some(IntentStatus::Ready) => {
                st.intent.as_mut().expect("intent").status = IntentStatus::Expired;
                notes.push(("intent", "intent EXPIRED unused".into()));
            }
            _ => {}
        }
        for (kind, msg) in notes {
            self.emit(kind, Some(a), msg)?;
        }
        Ok(())
    }

    /// A `four` brick: a flip against the trade readies the scale-in (pullback); while flat
    /// after a trade that saw a fresh `main` brick, a color change re-arms the tempo token.
    fn on_four_brick(&mut self, a: usize, color: Color, prev: Option<Color>) -> DeskResult<()> {
        let flipped = prev.is_some_and(|p| p != color);
        let st = self.asset_mut(a);
        let note = match st.position.as_mut() {
            Some(p) => {
                if p.scale_in == ScaleInStage::Wait && flipped && p.side.is_opposed_by(color) {
                    p.scale_in = ScaleInStage::Ready4ptPullback;
                    Some((
                        "scale_in",
                        "scale-in READY_4PT_PULLBACK: 4pt bar turned against the trade".to_string(),
                    ))
                } else {
                    None
                }
            }
            None if flipped && st.tempo_rearm_on_four && !st.tempo_ready => {
                st.tempo_ready = true;
                st.tempo_rearm_on_four = false;
                Some((
                    "tempo",
                    format!(
                        "tempo READY: 4pt bar turned {} after the exit",
                        color.as_str()
                    ),
                ))
            }
            None => None,
        };
        self.touch(a);
        if let Some((kind, msg)) = note {
            self.emit(kind, Some(a), msg)?;
        }
        Ok(())
    }
}
