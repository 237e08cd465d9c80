//! Simulated market: a seeded random walk per asset on its tick grid. Every step posts a price
//! heartbeat; every brick the walk completes (six sizes, traditional rule) is posted to its webhook.
//! At start the walk runs ahead at full speed and its newest bricks are posted as history (a
//! chart, a zone, a tempo from the first frame); then it goes on at the configured pace.
use super::PriceBoard;
use crate::engine::model::{AssetConfig, BrickSize};
use crate::engine::renko::{BuiltBrick, RenkoBuilder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct MarketOptions {
    pub base_url: String,
    pub tv_secret: Option<String>,
    pub seed: u64,
    /// Time between price steps.
    pub step: Duration,
    /// Largest move per step, in ticks.
    pub max_ticks_per_step: i64,
    /// Post a history first (not when the desk has a position open: its bricks would move it).
    pub history: bool,
    /// Per asset (in order), where the desk last saw its price: the walk goes on from there.
    pub from: Vec<Option<f64>>,
    /// The desk's price band (`desk.price_band_pct`), which the history's closes must keep.
    pub price_band_pct: f64,
}

/// The webhook path of each size.
pub fn webhook_path(size: BrickSize) -> &'static str {
    match size {
        BrickSize::One => "/tv_renko_one",
        BrickSize::TwoHalf => "/tv_renko_two_half",
        BrickSize::Four => "/tv_renko",
        BrickSize::Main => "/tv_renko_main",
        BrickSize::High => "/tv_renko_high",
        BrickSize::Macro => "/tv_renko_macro",
    }
}

fn start_price(asset: &AssetConfig) -> f64 {
    match asset.name.as_str() {
        "NQ" => 21_000.0,
        "ES" => 5_250.0,
        _ => 1_000.0,
    }
}

/// One asset's walk: its price and a builder per size.
struct Walk {
    price: f64,
    builders: Vec<RenkoBuilder>,
}

impl Walk {
    /// From `from` (where the desk last saw the asset), else the asset's demo start price.
    fn new(asset: &AssetConfig, from: Option<f64>) -> Walk {
        let builders = BrickSize::ALL
            .iter()
            .map(|s| RenkoBuilder::new(s.points()))
            .collect();
        Walk {
            price: from.unwrap_or_else(|| start_price(asset)),
            builders,
        }
    }

    /// One random step on the tick grid: the bricks it completes, smallest size first.
    fn step(
        &mut self,
        asset: &AssetConfig,
        rng: &mut ChaCha8Rng,
        max_ticks: i64,
        ts: i64,
    ) -> Vec<(BrickSize, BuiltBrick)> {
        let ticks = rng.random_range(-max_ticks..=max_ticks);
        self.price = (self.price + ticks as f64 * asset.tick).max(asset.tick);
        let mut out = Vec::new();
        for (size, b) in BrickSize::ALL.iter().zip(self.builders.iter_mut()) {
            out.extend(
                b.push(self.price, ts)
                    .into_iter()
                    .map(|brick| (*size, brick)),
            );
        }
        out
    }
}

/// The history posted at start: the walk runs until every asset has this many 6pt bricks, and
/// the newest `BACKFILL_KEEP` of each size go through the webhooks (the console shows 160).
const BACKFILL_MAIN: u64 = 120;
const BACKFILL_KEEP: usize = 160;
/// At most this many steps of history.
const BACKFILL_MAX_STEPS: usize = 400_000;

/// Runs until the task is dropped; HTTP failures are logged and the walk goes on.
pub async fn run(opts: MarketOptions, assets: Vec<AssetConfig>, board: PriceBoard) {
    let client = reqwest::Client::new();
    let rng = ChaCha8Rng::seed_from_u64(opts.seed);
    // Bar ids stay unique across demo restarts on the same data dir.
    let run_id = chrono::Utc::now().timestamp_millis();
    let walks: Vec<Walk> = (assets.iter().zip(&opts.from))
        .map(|(a, from)| Walk::new(a, *from))
        .collect();
    let (mut walks, mut rng) = if opts.history {
        backfill(&client, &opts, &assets, walks, rng, run_id).await
    } else {
        (walks, rng)
    };
    // the paper bridge fills from here on, at these prices
    for (asset, walk) in assets.iter().zip(&walks) {
        board.set(&asset.name, walk.price);
    }
    let mut every = tokio::time::interval(opts.step);
    loop {
        every.tick().await;
        for (asset, walk) in assets.iter().zip(walks.iter_mut()) {
            let ts = chrono::Utc::now().timestamp_millis();
            let bricks = walk.step(asset, &mut rng, opts.max_ticks_per_step, ts);
            board.set(&asset.name, walk.price);
            tracing::debug!(target: "brickdesk::demo", asset = %asset.name, price = walk.price, "price step");
            heartbeat(&client, &opts, asset, walk.price).await;
            for (size, brick) in bricks {
                post_brick(&client, &opts, asset, size, &brick, run_id).await;
            }
        }
    }
}

/// Walks the market ahead at full speed (off the async threads), then posts the newest
/// `BACKFILL_KEEP` bricks of every size in the order they formed (the assets side by side), with
/// a heartbeat whenever their price has moved on: the desk starts with a chart, a zone and a
/// tempo. Gives the walks back where the history ends.
async fn backfill(
    client: &reqwest::Client,
    opts: &MarketOptions,
    assets: &[AssetConfig],
    walks: Vec<Walk>,
    rng: ChaCha8Rng,
    run_id: i64,
) -> (Vec<Walk>, ChaCha8Rng) {
    let (list, max_ticks) = (assets.to_vec(), opts.max_ticks_per_step);
    let walked = tokio::task::spawn_blocking(move || {
        let (mut walks, mut rng) = (walks, rng);
        let history = walk_ahead(&list, &mut walks, &mut rng, max_ticks);
        (history, walks, rng)
    });
    // the walk is plain arithmetic: a panic there is a bug, and surfaces as one
    let (history, walks, rng) = walked
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    // the band checks a close against the last price: a heartbeat keeps it well inside
    let near = opts.price_band_pct / 100.0 / 4.0;
    let posts = assets.iter().zip(history).map(|(asset, kept)| async move {
        let mut told: Option<f64> = None;
        for (size, brick) in &kept {
            if told.is_none_or(|p| (brick.close - p).abs() > p * near) {
                heartbeat(client, opts, asset, brick.close).await;
                told = Some(brick.close);
            }
            post_brick(client, opts, asset, *size, brick, run_id).await;
        }
        tracing::info!(target: "brickdesk::demo", asset = %asset.name, bricks = kept.len(), "history posted");
    });
    futures_util::future::join_all(posts).await;
    for (asset, walk) in assets.iter().zip(&walks) {
        heartbeat(client, opts, asset, walk.price).await;
    }
    (walks, rng)
}

/// Steps each asset until it has `BACKFILL_MAIN` 6pt bricks (at most `BACKFILL_MAX_STEPS`),
/// keeping the newest `BACKFILL_KEEP` of each size; gives back each asset's kept bricks in the
/// order they formed.
fn walk_ahead(
    assets: &[AssetConfig],
    walks: &mut [Walk],
    rng: &mut ChaCha8Rng,
    max_ticks: i64,
) -> Vec<Vec<(BrickSize, BuiltBrick)>> {
    use std::collections::VecDeque;
    let start = chrono::Utc::now().timestamp_millis();
    let main = BrickSize::Main.index();
    // per asset, per size: (order formed, size, brick)
    let mut kept: Vec<Vec<VecDeque<(u64, BrickSize, BuiltBrick)>>> =
        vec![vec![VecDeque::new(); BrickSize::ALL.len()]; assets.len()];
    let mut seq = 0u64;
    for n in 0..BACKFILL_MAX_STEPS {
        let mut walking = false;
        for ((asset, walk), queues) in assets.iter().zip(walks.iter_mut()).zip(&mut kept) {
            if walk.builders[main].count() >= BACKFILL_MAIN {
                continue;
            }
            walking = true;
            for (size, brick) in walk.step(asset, rng, max_ticks, start + n as i64) {
                let q = &mut queues[size.index()];
                if q.len() == BACKFILL_KEEP {
                    q.pop_front();
                }
                q.push_back((seq, size, brick));
                seq += 1;
            }
        }
        if !walking {
            break;
        }
    }
    kept.into_iter()
        .map(|queues| {
            let mut all: Vec<_> = queues.into_iter().flatten().collect();
            all.sort_by_key(|(seq, ..)| *seq);
            all.into_iter().map(|(_, size, b)| (size, b)).collect()
        })
        .collect()
}

async fn heartbeat(
    client: &reqwest::Client,
    opts: &MarketOptions,
    asset: &AssetConfig,
    price: f64,
) {
    let ts = chrono::Utc::now().timestamp();
    post(
        client,
        opts,
        "/tv_heartbeat",
        json!({
            "secret": opts.tv_secret, "symbol": asset.name, "price": price, "timestamp": ts,
        }),
    )
    .await;
}

/// A brick as a TradingView alert with `"close": "{{close}}"` sends it.
async fn post_brick(
    client: &reqwest::Client,
    opts: &MarketOptions,
    asset: &AssetConfig,
    size: BrickSize,
    brick: &BuiltBrick,
    run_id: i64,
) {
    let body = json!({
        "secret": opts.tv_secret,
        "asset": asset.name,
        "color": brick.color.as_str(),
        "bar_id": format!("demo-{run_id}-{}-{}", size.name(), brick.index),
        "close": brick.close,
    });
    post(client, opts, webhook_path(size), body).await;
}

async fn post(client: &reqwest::Client, opts: &MarketOptions, path: &str, body: serde_json::Value) {
    let url = format!("{}{path}", opts.base_url);
    match client.post(&url).json(&body).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            tracing::warn!(target: "brickdesk::demo", %url, status = %r.status(), "market post refused")
        }
        Err(e) => tracing::warn!(target: "brickdesk::demo", %url, error = %e, "market post failed"),
    }
}
