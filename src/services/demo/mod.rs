//! The demo: a simulated market (seeded random walk → heartbeats and bricks posted to the
//! webhooks) and a paper bridge (polls, claims and fills at the last price through the bridge
//! routes). Both talk to the server over real HTTP, exactly like TradingView and a VPS bridge.
pub mod market;
pub mod paper_bridge;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Last simulated price per desk asset, shared by the market (writer) and the paper bridge.
#[derive(Clone, Default)]
pub struct PriceBoard(Arc<Mutex<HashMap<String, f64>>>);

impl PriceBoard {
    pub fn set(&self, asset: &str, price: f64) {
        self.0
            .lock()
            .expect("price board")
            .insert(asset.to_string(), price);
    }
    pub fn get(&self, asset: &str) -> Option<f64> {
        self.0.lock().expect("price board").get(asset).copied()
    }
    /// No price yet: the market is still posting its history.
    pub fn is_empty(&self) -> bool {
        self.0.lock().expect("price board").is_empty()
    }
}
