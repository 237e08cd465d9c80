//! Reads of the desk's history (orders, events, bricks) on read-only connections of their own:
//! WAL lets them run beside the engine's writes, so no read waits in the write queue.
use super::BrickHistory;
use super::error::{DeskError, DeskResult};
use super::model::{AssetConfig, AssetIndex, BrickSize};
use super::orders::Order;
use super::store::{DeskEvent, Store};
use std::path::PathBuf;
use std::sync::Mutex;

/// Most idle read connections kept open.
const POOL: usize = 4;

pub struct DeskReader {
    path: Option<PathBuf>,
    assets: Vec<AssetConfig>,
    lookup: AssetIndex,
    idle: Mutex<Vec<Store>>,
}

impl DeskReader {
    pub fn for_store(store: &Store, assets: Vec<AssetConfig>, lookup: AssetIndex) -> Self {
        DeskReader {
            path: store.path(),
            assets,
            lookup,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The database file (services open their own connections to it).
    pub fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// Runs `f` on a read connection off the async runtime's threads.
    pub async fn read<R, F>(self: &std::sync::Arc<Self>, f: F) -> DeskResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&DeskReader, &Store) -> DeskResult<R> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.with(|s| f(&me, s)))
            .await
            .map_err(|_| DeskError::Internal)?
    }

    /// Runs `f` on a read connection (blocking).
    pub fn with<R>(&self, f: impl FnOnce(&Store) -> DeskResult<R>) -> DeskResult<R> {
        let conn = self.idle.lock().expect("reader pool").pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let path = self.path.as_deref().ok_or_else(|| {
                    DeskError::Storage("an in-memory store has no read connection".into())
                })?;
                Store::open_reader(path)?
            }
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().expect("reader pool");
        if idle.len() < POOL {
            idle.push(conn);
        }
        out
    }

    /// The desk name of an asset given by name or contract, any case.
    pub fn asset_name(&self, name: &str) -> DeskResult<String> {
        Ok(self.assets[self.lookup.find(name)?].name.clone())
    }

    /// Orders newest first (all of them), optionally of one asset.
    pub fn orders(&self, store: &Store, asset: Option<&str>, limit: u32) -> DeskResult<Vec<Order>> {
        let asset = asset.map(|a| self.asset_name(a)).transpose()?;
        store.list_orders(asset.as_deref(), limit)
    }

    /// The newest `limit` bricks of every size of an asset, oldest first, keyed by size name.
    pub fn bricks(&self, store: &Store, asset: &str, limit: usize) -> DeskResult<BrickHistory> {
        let asset = self.asset_name(asset)?;
        let mut bricks = std::collections::BTreeMap::new();
        for size in BrickSize::ALL {
            bricks.insert(
                size.name().to_string(),
                store.recent_bricks(&asset, size, limit as u32)?,
            );
        }
        Ok(BrickHistory { asset, bricks })
    }

    pub fn events(&self, store: &Store, limit: u32) -> DeskResult<Vec<DeskEvent>> {
        store.recent_events(limit)
    }
}
