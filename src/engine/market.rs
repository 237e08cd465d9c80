//! Market data into the desk: TradingView bricks, price heartbeats, and bricks the engine builds
//! from prices. A brick updates zone, tempo, intent and preorders, then the exits are evaluated.
use super::Engine;
use super::error::DeskResult;
use super::model::{BrickSize, BrickSource, Color};
use super::orders::Order;
use super::renko::BuiltBrick;
use super::state::{Brick, IntentStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrickInput {
    pub asset: String,
    pub size: BrickSize,
    pub color: Color,
    pub bar_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrickOutcome {
    pub duplicate: bool,
    pub brick: Brick,
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
    /// A brick posted by TradingView. `(asset, size, bar_id)` seen before → duplicate, no change.
    #[tracing::instrument(level = "debug", skip_all, fields(asset = %input.asset, size = %input.size, bar_id = %input.bar_id))]
    pub fn webhook_brick(&mut self, input: BrickInput) -> DeskResult<BrickOutcome> {
        self.roll_day()?;
        let a = self.asset_index(&input.asset)?;
        let brick = Brick {
            asset: self.assets[a].name.clone(),
            size: input.size,
            color: input.color,
            bar_id: input.bar_id,
            received_at: self.now(),
            open: None,
            close: None,
        };
        if !self.store_brick(&brick, "webhook")? {
            return Ok(BrickOutcome {
                duplicate: true,
                brick,
                orders: Vec::new(),
            });
        }
        let orders = self.apply_brick(a, brick.clone())?;
        Ok(BrickOutcome {
            duplicate: false,
            brick,
            orders,
        })
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
        if !input.price.is_finite() || input.price <= 0.0 {
            return Err(super::error::DeskError::Invalid(
                "price must be a positive number".into(),
            ));
        }
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
                self.asset_mut(a).builders[size.index()].push_into(
                    input.price,
                    now.timestamp_millis(),
                    &mut scratch,
                );
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
