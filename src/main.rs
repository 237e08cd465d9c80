//! The `brickdesk` command line.
use anyhow::Context;
use brickdesk::config::Config;
use brickdesk::demo::{self, PriceBoard};
use brickdesk::runtime;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "brickdesk",
    version,
    about = "Terminal trading console for a Renko futures operator"
)]
struct Cli {
    /// TOML configuration file (default: $BRICKDESK_CONFIG, else <config dir>/brickdesk/config.toml)
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Where the SQLite database and datasets live (default: $BRICKDESK_DATA_DIR, else the XDG data dir)
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Headless server (webhooks, bridge, operator API); logs to stdout; stops on SIGTERM/SIGINT
    Serve {
        #[arg(long)]
        host: Option<String>,
        /// Port (0 picks a free one; the address is logged)
        #[arg(long)]
        port: Option<u16>,
        /// Allow binding off loopback with no dashboard password or secrets
        #[arg(long)]
        insecure_no_password: bool,
    },
    /// Everything with no account: simulated ES/NQ market, paper bridge, a throwaway database
    Demo {
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
    },
    /// Print the Renko bricks of a price CSV as index,timestamp,open,close,color
    Renko {
        file: PathBuf,
        /// Box size in points
        #[arg(long)]
        size: f64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(d) = cli.data_dir {
        cfg.data_dir = Some(d);
    }
    match cli.command {
        Command::Renko { file, size } => {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let stdout = std::io::stdout();
            brickdesk::renko_csv::write_bricks(std::io::BufReader::new(f), size, stdout.lock())?;
            Ok(())
        }
        Command::Serve {
            host,
            port,
            insecure_no_password,
        } => {
            init_logs();
            let host = host.unwrap_or_else(|| cfg.server.host.clone());
            let port = port.unwrap_or(cfg.server.port);
            cfg.check_bind(&host, insecure_no_password)?;
            tokio_main(async move { serve(cfg, host, port).await })
        }
        Command::Demo {
            host,
            port,
            seed,
            step_ms,
        } => {
            init_logs();
            tokio_main(async move { run_demo(cfg, host, port, seed, step_ms).await })
        }
    }
}

fn tokio_main<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BRICKDESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let color = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .init();
}

async fn serve(cfg: Config, host: String, port: u16) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir();
    let (engine, thread) = runtime::start_engine(&cfg, &data_dir, runtime::system_clock())?;
    let bound = runtime::bind(&host, port).await?;
    tracing::info!(data_dir = %data_dir.display(), secrets = ?cfg.secrets, "brickdesk serve");
    tracing::info!("listening on http://{}", bound.addr);
    runtime::run_server(bound, engine, &cfg, brickdesk::server::shutdown_signal()).await?;
    thread.join().ok();
    tracing::info!("stopped cleanly");
    Ok(())
}

fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn run_demo(
    mut cfg: Config,
    host: String,
    port: u16,
    seed: u64,
    step_ms: u64,
) -> anyhow::Result<()> {
    // A throwaway database unless --data-dir / BRICKDESK_DATA_DIR names one.
    let temp = tempfile::Builder::new()
        .prefix("brickdesk-demo-")
        .tempdir()?;
    let data_dir = cfg
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let s = &mut cfg.secrets;
    s.tv_webhook_secret.get_or_insert_with(random_secret);
    s.bridge_heartbeat_secret.get_or_insert_with(random_secret);
    let (engine, thread) = runtime::start_engine(&cfg, &data_dir, runtime::system_clock())?;
    let bound = runtime::bind(&host, port).await?;
    let base_url = format!("http://{}", bound.addr);
    tracing::info!(data_dir = %data_dir.display(), "brickdesk demo: simulated market + paper bridge");
    tracing::info!("listening on {base_url}");
    let board = PriceBoard::default();
    let market = tokio::spawn(demo::market::run(
        demo::market::MarketOptions {
            base_url: base_url.clone(),
            tv_secret: cfg.secrets.tv_webhook_secret.clone(),
            seed,
            step: Duration::from_millis(step_ms.max(10)),
            max_ticks_per_step: 6,
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
    runtime::run_server(bound, engine, &cfg, brickdesk::server::shutdown_signal()).await?;
    market.abort();
    bridge.abort();
    thread.join().ok();
    Ok(())
}
