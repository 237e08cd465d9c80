//! `brickdesk demo`: everything with no account — a simulated ES/NQ market and a paper bridge
//! posting to a local engine and server, in a throwaway database, headless or under the console.
use super::{LOG_TARGET, console, logs, wiring};
use crate::config::Config;
use crate::engine::handle::EngineHandle;
use crate::services::demo::{self, PriceBoard};
use crate::tui::app::App;
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Random-walk seed of the simulated market
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Milliseconds between simulated price steps
    #[arg(long, default_value_t = 250)]
    step_ms: u64,
    /// Largest simulated move per step, in ticks
    #[arg(long, default_value_t = 6)]
    ticks: i64,
    /// No console: log to stdout instead
    #[arg(long)]
    headless: bool,
    #[command(flatten)]
    ui: console::UiArgs,
}

pub fn run(cfg: Config, args: DemoArgs) -> anyhow::Result<()> {
    let app = if args.headless {
        logs::init_stdout();
        None
    } else {
        Some(console::app(&args.ui)?)
    };
    wiring::tokio_main(run_demo(cfg, args, app))
}

async fn run_demo(mut cfg: Config, args: DemoArgs, app: Option<App>) -> anyhow::Result<()> {
    // A throwaway database unless --data-dir / BRICKDESK_DATA_DIR names one.
    let temp = tempfile::Builder::new()
        .prefix("brickdesk-demo-")
        .tempdir()?;
    let data_dir = cfg
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    // everything the demo writes (datasets' files too) goes there
    cfg.data_dir = Some(data_dir.clone());
    cfg.server.host = args.host.clone();
    // the paper bridge holds no stop, as a broker would: the desk's server-side stop stands in
    cfg.desk.server_side_stop = true;
    let s = &mut cfg.secrets;
    s.tv_webhook_secret.get_or_insert_with(random_secret);
    s.bridge_heartbeat_secret.get_or_insert_with(random_secret);
    if app.is_some() {
        logs::init_file(&data_dir.join("brickdesk.log"))?;
    }
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    let bound = wiring::bind(&args.host, args.port).await?;
    let base_url = format!("http://{}", bound.addr);
    tracing::info!(target: LOG_TARGET, data_dir = %data_dir.display(), "brickdesk demo: simulated market + paper bridge");
    let shutdown = app.is_none().then(crate::server::shutdown_signal);
    tracing::info!(target: LOG_TARGET, "listening on {base_url}");
    // a demo restarted on its data dir: the market goes on from the desk's last prices, and
    // with a position open posts no history (its bricks would move the position)
    let desk = engine.snapshot();
    let open = desk.assets.iter().any(|a| a.position.is_some());
    if open {
        tracing::info!(target: LOG_TARGET, "a position is open: the market starts without a history");
    }
    let from = cfg
        .assets
        .iter()
        .map(|c| desk.assets.iter().find(|a| a.asset == c.name)?.last_price)
        .collect();
    let (market, bridge) = spawn_simulators(&cfg, base_url, &args, !open, from);
    let result = match app {
        None => {
            let shutdown = shutdown.expect("headless demo has a shutdown signal");
            wiring::run_server(bound, engine, &cfg, None, shutdown).await
        }
        Some(app) => under_console(app, engine, bound, &cfg).await,
    };
    market.abort();
    bridge.abort();
    thread.join().ok();
    result
}

fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The simulated market (posting TradingView webhooks) and the paper bridge, sharing one board.
fn spawn_simulators(
    cfg: &Config,
    base_url: String,
    args: &DemoArgs,
    history: bool,
    from: Vec<Option<f64>>,
) -> (JoinHandle<()>, JoinHandle<()>) {
    let board = PriceBoard::default();
    let market = tokio::spawn(demo::market::run(
        demo::market::MarketOptions {
            base_url: base_url.clone(),
            tv_secret: cfg.secrets.tv_webhook_secret.clone(),
            seed: args.seed,
            step: Duration::from_millis(args.step_ms.max(10)),
            max_ticks_per_step: args.ticks.clamp(1, 400),
            history,
            from,
            price_band_pct: cfg.desk.price_band_pct,
        },
        cfg.assets.clone(),
        board.clone(),
    ));
    let bridge = tokio::spawn(demo::paper_bridge::run(
        demo::paper_bridge::BridgeOptions {
            base_url,
            secret: cfg.secrets.bridge_heartbeat_secret.clone(),
            owner: "paper".into(),
            poll_every: Duration::from_millis(500),
            heartbeat_every: Duration::from_secs(5),
        },
        cfg.assets.clone(),
        board,
    ));
    (market, bridge)
}

async fn under_console(
    mut app: App,
    engine: EngineHandle,
    bound: wiring::Bound,
    cfg: &Config,
) -> anyhow::Result<()> {
    app.link_label = format!(
        "demo · simulated market + paper bridge · http://{}",
        bound.addr
    );
    app.chat = crate::tui::chat::ChatView::new(cfg.chat.model.clone());
    console::with_server(&mut app, engine, bound, cfg).await
}
