//! Wiring shared by the commands: the tokio runtime, the engine thread over the store in the data
//! dir, and the server bound and run with its housekeeping.
use crate::config::Config;
use crate::engine::Engine;
use crate::engine::clock::{SharedClock, SystemClock};
use crate::engine::handle::EngineHandle;
use crate::engine::store::Store;
use crate::server::{self, AppState};
use anyhow::Context;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

pub const DB_FILE: &str = "brickdesk.sqlite3";

/// Creates `dir` (and its parents) if it is missing, as the operator's alone (0700): a strategy
/// run as another user cannot look inside. An existing directory is left as it is.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens (creating if needed) the data dir and its database, and starts the engine.
pub fn start_engine(
    cfg: &Config,
    data_dir: &Path,
    clock: SharedClock,
) -> anyhow::Result<(EngineHandle, std::thread::JoinHandle<()>)> {
    private_dir(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    // where `/data-sources/save` reads files by path, and where uploads land (import roots
    // that exist are resolved through their symlinks)
    for dir in ["imports", "uploads"] {
        let _ = std::fs::create_dir_all(data_dir.join(dir));
    }
    let db = data_dir.join(DB_FILE);
    let store =
        Store::open(&db).with_context(|| format!("cannot open database {}", db.display()))?;
    for key in cfg.desk.retired_keys() {
        tracing::warn!(
            "config [desk] {key} is no longer used: the desk follows the original's rules (see the README's [desk] table)"
        );
    }
    let engine = Engine::new(cfg.assets.clone(), cfg.desk.clone(), store, clock)
        .context("cannot start the engine")?;
    Ok(EngineHandle::spawn(engine))
}

pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A bound server ready to run.
pub struct Bound {
    pub listener: TcpListener,
    pub addr: SocketAddr,
}

pub async fn bind(host: &str, port: u16) -> anyhow::Result<Bound> {
    let listener = TcpListener::bind((host, port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}"))?;
    let addr = listener.local_addr()?;
    Ok(Bound { listener, addr })
}

/// Runs the server and housekeeping until `shutdown`; returns when requests in flight are done.
pub async fn run_server(
    bound: Bound,
    engine: EngineHandle,
    cfg: &Config,
    services: Option<crate::services::Services>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let housekeeping = server::spawn_housekeeping(engine.clone());
    let options = crate::server::ServerOptions::from_config(cfg);
    let state = match services {
        Some(services) => AppState::with_services(engine, cfg.secrets.clone(), options, services),
        None => AppState::with_options(engine, cfg.secrets.clone(), options)?,
    };
    let (runs, backtests) = (state.runs.clone(), state.backtests.clone());
    server::serve(bound.listener, state, shutdown).await?;
    // live players stop within a second; their runs read `interrupted`; a paper run is saved
    runs.shutdown(std::time::Duration::from_secs(1)).await;
    backtests.shutdown(std::time::Duration::from_secs(2)).await;
    housekeeping.abort();
    Ok(())
}

/// Runs a command's async body on a multi-threaded tokio runtime.
pub fn tokio_main<T, F: std::future::Future<Output = anyhow::Result<T>>>(
    f: F,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}
