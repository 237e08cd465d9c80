//! Paper bridge: polls `GET /api/orders/pending`, reports WORKING then FILLED at the last simulated
//! price, and sends bridge heartbeats and PnL snapshots of its own book, like a broker bridge.
use super::PriceBoard;
use crate::engine::ClaimedOrder;
use crate::engine::model::AssetConfig;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct BridgeOptions {
    pub base_url: String,
    pub secret: Option<String>,
    pub owner: String,
    pub poll_every: Duration,
    pub heartbeat_every: Duration,
}

/// The bridge's own book: signed qty and average price per desk asset, realized PnL.
#[derive(Default)]
struct Book {
    positions: HashMap<String, (i64, f64)>,
    realized: f64,
}

impl Book {
    fn fill(&mut self, asset: &str, signed: i64, price: f64, point_value: f64) {
        let (q, avg) = self.positions.get(asset).copied().unwrap_or((0, 0.0));
        let new_q = q + signed;
        let new_avg = if q == 0 || q.signum() == signed.signum() {
            (avg * q.abs() as f64 + price * signed.abs() as f64) / new_q.abs().max(1) as f64
        } else {
            let closed = q.abs().min(signed.abs()) as f64;
            self.realized += (price - avg) * q.signum() as f64 * closed * point_value;
            if new_q.signum() == q.signum() {
                avg
            } else {
                price
            }
        };
        self.positions.insert(
            asset.to_string(),
            (new_q, if new_q == 0 { 0.0 } else { new_avg }),
        );
    }
}

pub async fn run(opts: BridgeOptions, assets: Vec<AssetConfig>, board: PriceBoard) {
    let client = reqwest::Client::new();
    let mut book = Book::default();
    let mut poll = tokio::time::interval(opts.poll_every);
    let mut beat = tokio::time::interval(opts.heartbeat_every);
    loop {
        tokio::select! {
            _ = poll.tick() => {
                // orders wait (PENDING) until the market's history is in and its prices are on
                // the board
                if board.is_empty() {
                    continue;
                }
                if let Err(e) = poll_once(&client, &opts, &assets, &board, &mut book).await {
                    tracing::warn!(target: "brickdesk::demo", error = %e, "paper bridge poll failed");
                }
            }
            _ = beat.tick() => {
                if let Err(e) = heartbeat(&client, &opts, &assets, &board, &book).await {
                    tracing::warn!(target: "brickdesk::demo", error = %e, "paper bridge heartbeat failed");
                }
            }
        }
    }
}

async fn poll_once(
    client: &reqwest::Client,
    opts: &BridgeOptions,
    assets: &[AssetConfig],
    board: &PriceBoard,
    book: &mut Book,
) -> reqwest::Result<()> {
    let url = format!("{}/api/orders/pending", opts.base_url);
    let mut q = vec![("owner", opts.owner.clone())];
    if let Some(s) = &opts.secret {
        q.push(("secret", s.clone()));
    }
    let resp: serde_json::Value = client
        .get(&url)
        .query(&q)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let orders: Vec<ClaimedOrder> =
        serde_json::from_value(resp["orders"].clone()).unwrap_or_default();
    for o in orders {
        let report = format!("{}/api/orders/{}/execution-report", opts.base_url, o.id);
        client
            .post(&report)
            .json(&json!({ "secret": opts.secret, "status": "WORKING" }))
            .send()
            .await?
            .error_for_status()?;
        let Some(price) = board.get(&o.desk_asset) else {
            client
                .post(&report)
                .json(&json!({ "secret": opts.secret, "status": "REJECTED" }))
                .send()
                .await?;
            continue;
        };
        client
            .post(&report)
            .json(&json!({
                "secret": opts.secret, "status": "FILLED",
                "extra": { "fill_price": price, "symbol": o.symbol, "side": o.side, "qty": o.qty }
            }))
            .send()
            .await?
            .error_for_status()?;
        let pv = assets
            .iter()
            .find(|a| a.name == o.desk_asset)
            .map(|a| a.point_value)
            .unwrap_or(1.0);
        book.fill(
            &o.desk_asset,
            o.qty as i64 * o.side.sign() as i64,
            price,
            pv,
        );
        tracing::info!(target: "brickdesk::demo", order = %o.id, %price, "paper fill");
    }
    Ok(())
}

async fn heartbeat(
    client: &reqwest::Client,
    opts: &BridgeOptions,
    assets: &[AssetConfig],
    board: &PriceBoard,
    book: &Book,
) -> reqwest::Result<()> {
    client
        .post(format!("{}/api/bridge/heartbeat", opts.base_url))
        .json(&json!({
            "secret": opts.secret, "tsConnected": true, "mdConnected": true, "repoOk": true,
            "account": "PAPER-001", "tradeRoute": "SIM",
            "lastRapiEventUtc": chrono::Utc::now().to_rfc3339(),
        }))
        .send()
        .await?
        .error_for_status()?;
    let mut unrealized = 0.0;
    let mut symbols = Vec::new();
    for a in assets {
        let (q, avg) = book.positions.get(&a.name).copied().unwrap_or((0, 0.0));
        let open = board
            .get(&a.name)
            .map(|p| (p - avg) * q as f64 * a.point_value)
            .unwrap_or(0.0);
        if q != 0 {
            unrealized += open;
        }
        symbols.push(json!({ "symbol": a.symbol, "position": q, "openPnl": if q != 0 { open } else { 0.0 } }));
    }
    client
        .post(format!("{}/api/rithmic/pnl-snapshot", opts.base_url))
        .json(&json!({
            "secret": opts.secret, "realized": book.realized, "unrealized": unrealized,
            "accountBalance": 50_000.0 + book.realized + unrealized, "symbols": symbols,
        }))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
