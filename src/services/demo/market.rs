//! Simulated market: a seeded random walk per asset on its tick grid. Every step posts a price
//! heartbeat; every brick the walk completes (six sizes, traditional rule) is posted to its webhook.
//! The walk first runs at full speed until every asset has 8pt and 12pt bricks (a zone), then at
//! the configured pace.
use super::PriceBoard;
use crate::engine::model::{AssetConfig, BrickSize};
use crate::engine::renko::RenkoBuilder;
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

/// Runs until the task is dropped; HTTP failures are logged and the walk goes on.
pub async fn run(opts: MarketOptions, assets: Vec<AssetConfig>, board: PriceBoard) {
    let client = reqwest::Client::new();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    // Bar ids stay unique across demo restarts on the same data dir.
    let run_id = chrono::Utc::now().timestamp_millis();
    let mut walks: Vec<(f64, Vec<RenkoBuilder>)> = assets
        .iter()
        .map(|a| {
            let builders = BrickSize::ALL
                .iter()
                .map(|s| RenkoBuilder::new(s.points()))
                .collect();
            (start_price(a), builders)
        })
        .collect();
    // warm-up: the walk runs at full speed until every asset has 8pt and 12pt bricks, so the
    // desk has a zone (entries need one) when the live pace begins
    let structure = [BrickSize::High.index(), BrickSize::Macro.index()];
    for _ in 0..WARM_UP_MAX_STEPS {
        let ready = walks
            .iter()
            .all(|(_, b)| structure.iter().all(|&s| b[s].last_close().is_some()));
        if ready {
            break;
        }
        step(
            &client, &opts, &assets, &mut walks, &mut rng, &board, run_id,
        )
        .await;
    }
    let mut every = tokio::time::interval(opts.step);
    loop {
        every.tick().await;
        step(
            &client, &opts, &assets, &mut walks, &mut rng, &board, run_id,
        )
        .await;
    }
}

/// At most this many steps of warm-up.
const WARM_UP_MAX_STEPS: usize = 20_000;

/// One price step of every asset: a heartbeat, then every brick the step completes.
async fn step(
    client: &reqwest::Client,
    opts: &MarketOptions,
    assets: &[AssetConfig],
    walks: &mut [(f64, Vec<RenkoBuilder>)],
    rng: &mut ChaCha8Rng,
    board: &PriceBoard,
    run_id: i64,
) {
    for (asset, (price, builders)) in assets.iter().zip(walks.iter_mut()) {
        let ticks = rng.random_range(-opts.max_ticks_per_step..=opts.max_ticks_per_step);
        *price = (*price + ticks as f64 * asset.tick).max(asset.tick);
        board.set(&asset.name, *price);
        tracing::debug!(target: "brickdesk::demo", asset = %asset.name, price = *price, "price step");
        let ts = chrono::Utc::now().timestamp_millis();
        post(client, opts, "/tv_heartbeat", json!({
            "secret": opts.tv_secret, "symbol": asset.name, "price": *price, "timestamp": ts / 1000,
        }))
        .await;
        for (size, b) in BrickSize::ALL.iter().zip(builders.iter_mut()) {
            for brick in b.push(*price, ts) {
                post(
                    client,
                    opts,
                    webhook_path(*size),
                    json!({
                        "secret": opts.tv_secret,
                        "asset": asset.name,
                        "color": brick.color.as_str(),
                        "bar_id": format!("demo-{run_id}-{}-{}", size.name(), brick.index),
                    }),
                )
                .await;
            }
        }
    }
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
