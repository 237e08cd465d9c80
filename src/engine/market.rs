//! Market data into the desk: TradingView bricks, price heartbeats, and bricks the engine builds
//! from prices. A brick updates zone, tempo, intent and preorders, then the exits are evaluated.
use super::Engine;
use super::error::DeskResult;
use super::model::{BrickSize, BrickSource, Color};
use super::orders::Order;
use super::renko::BuiltBrick;
use super::state::{Brick, IntentStatus};
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
}

impl BrickInput {
    pub fn new(asset: &str, size: BrickSize, color: Color, bar_id: &str) -> Self {
        BrickInput {
            asset: asset.into(),
            size,
            color: Some(color),
            sent_color: color.as_str().into(),
            bar_id: Some(bar_id.into()),
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
        let duplicate_check = input.bar_id.is_some();
        let no_key = (!duplicate_check).then(|| {
            "the alert has no bar_id or bar_ts: a retried alert would count as a new brick (add \"bar_ts\": \"{{time}}\")".to_string()
        });
        let mut out = BrickOutcome {
            asset: asset.clone(),
            size: input.size,
            color: input.color.map_or("neutral", Color::as_str).into(),
            applied: false,
            duplicate: false,
            duplicate_check,
            note: no_key.clone(),
            brick: None,
            orders: Vec::new(),
        };
        let Some(color) = input.color else {
            let msg = format!(
                "neutral {} brick on {asset} (color {:?}): logged, not applied",
                input.size, input.sent_color
            );
            self.emit("brick", Some(a), msg.clone())?;
            out.note = Some(match no_key {
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
            open: None,
            close: None,
        };
        if !self.store_brick(&brick, "webhook")? {
            out.duplicate = true;
            out.brick = Some(brick);
            return Ok(out);
        }
        out.orders = self.apply_brick(a, brick.clone())?;
        out.applied = true;
        out.brick = Some(brick);
        Ok(out)
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
        self.asset_mut(a).last_bricks[size.index()] = Some(brick);
        self.touch(a);
        let (zone_after, dir) = self.desk[a].zone();
        if zone_after != zone_before && matches!(size, BrickSize::High | BrickSize::Macro) {
            let dir = dir.map(|d| format!(" {d}")).unwrap_or_default();
            self.emit(
                "zone",
                Some(a),
                format!("zone {zone_after:?}{dir}").to_uppercase(),
            )?;
        }
        if size == BrickSize::Main {
            self.on_main_brick(a)?;
        }
        let mut orders: Vec<Order> = self.exits_on_brick(a, size, color)?.into_iter().collect();
        if size == BrickSize::Main {
            orders.extend(self.release_preorder(a)?);
        }
        Ok(orders)
    }

    /// A `main` brick: the tempo token is READY again, intents advance, positions age.
    fn on_main_brick(&mut self, a: usize) -> DeskResult<()> {
        let st = self.asset_mut(a);
        st.tempo_ready = true;
        if let Some(p) = st.position.as_mut() {
            p.bars_since_entry += 1;
        }
        match st.intent.as_ref().map(|i| i.status) {
            Some(IntentStatus::Armed) => {
                st.intent.as_mut().expect("intent").status = IntentStatus::Ready;
                self.emit("intent", Some(a), "intent READY for this 6pt brick")?;
            }
            Some(IntentStatus::Ready) => {
                st.intent = None;
                self.emit("intent", Some(a), "intent expired unused")?;
            }
            None => {}
        }
        Ok(())
    }
}
