//! The `brickdesk` command line.
use anyhow::Context;
use brickdesk::config::Config;
use brickdesk::demo::{self, PriceBoard};
use brickdesk::engine::datasets::SourceConfig;
use brickdesk::cli::{renko, wiring};
use brickdesk::tui::app::{App, View};
use brickdesk::tui::link::{Link, Remote};
use brickdesk::tui::theme::Theme;
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
    command: Option<Command>,
}

#[derive(clap::Args, Clone)]
struct ConsoleArgs {
    /// Attach to a running `brickdesk serve` instead of starting an engine here
    #[arg(long, value_name = "URL")]
    connect: Option<String>,
    /// Operator password for --connect (default: $DASHBOARD_PASSWORD)
    #[arg(long, env = "DASHBOARD_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// One pane full-screen, for tmux dashboards: desk, renko, positions, orders, log
    #[arg(long)]
    view: Option<String>,
    /// Color theme: dark, light, high-contrast, monochrome, or a file in <config dir>/brickdesk/themes/
    #[arg(long, default_value = "dark")]
    theme: String,
}

#[derive(Subcommand)]
enum Command {
    /// The console (TUI) with the server in the same process; the default command
    Console {
        #[command(flatten)]
        ui: ConsoleArgs,
        #[arg(long)]
        host: Option<String>,
        /// Port of the in-process server (0 picks a free one)
        #[arg(long)]
        port: Option<u16>,
    },
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
        /// Largest simulated move per step, in ticks
        #[arg(long, default_value_t = 6)]
        ticks: i64,
        /// No console: log to stdout instead
        #[arg(long)]
        headless: bool,
        #[command(flatten)]
        ui: ConsoleArgs,
    },
    /// Import a CSV or xlsx file as a dataset (mapping inferred; issues listed)
    Import {
        file: PathBuf,
        /// Dataset name (default: the file name)
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        symbol: Option<String>,
        #[arg(long)]
        timeframe: Option<String>,
        /// Timezone of naive timestamps in the file (IANA name); default UTC
        #[arg(long)]
        timezone: Option<String>,
        /// Worksheet of an xlsx file (default: the first)
        #[arg(long)]
        sheet: Option<String>,
        /// Column for a field, e.g. --map timestamp=dt --map close=Last (repeatable)
        #[arg(long = "map", value_name = "FIELD=COLUMN")]
        map: Vec<String>,
    },
    /// Run a Python strategy on a dataset and compare it with a Pine bridge artifact
    Replay {
        /// Dataset id (see GET /datasets, or `brickdesk import`)
        #[arg(long)]
        dataset: String,
        /// The Python artifact: a file defining run_strategy(frame) -> frame
        #[arg(long)]
        python: PathBuf,
        /// A saved bridge artifact id
        #[arg(long, conflicts_with = "pine_export")]
        bridge: Option<String>,
        /// A bridge artifact JSON file (the POST /bridge-artifacts body); saved, then used
        #[arg(long)]
        pine_export: Option<PathBuf>,
        /// Outputs to compare, comma-separated (default: every Pine series)
        #[arg(long, value_delimiter = ',')]
        outputs: Vec<String>,
        #[arg(long, default_value_t = 0)]
        warmup: usize,
        #[arg(long, default_value_t = 0.001)]
        tolerance: f64,
        #[arg(long)]
        date_from: Option<String>,
        #[arg(long)]
        date_to: Option<String>,
        /// Allow several open positions when deriving trade events
        #[arg(long)]
        no_one_open_position: bool,
        /// Print the whole comparison as JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the Renko bricks of a price CSV as index,timestamp,open,close,color
    Renko(renko::RenkoArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(d) = cli.data_dir {
        cfg.data_dir = Some(d);
    }
    let command = cli.command.unwrap_or(Command::Console {
        ui: ConsoleArgs {
            connect: None,
            password: None,
            view: None,
            theme: "dark".into(),
        },
        host: None,
        port: None,
    });
    match command {
        Command::Console { ui, host, port } => {
            let host = host.unwrap_or_else(|| cfg.server.host.clone());
            let port = port.unwrap_or(cfg.server.port);
            let app = console_app(&ui)?;
            if ui.connect.is_none() {
                cfg.check_bind(&host, false)?;
            }
            init_file_logs(&log_path(&cfg, ui.connect.is_some()))?;
            tokio_main(async move { console(cfg, ui, app, host, port).await })
        }
        Command::Import {
            file,
            name,
            symbol,
            timeframe,
            timezone,
            sheet,
            map,
        } => {
            let src = import_source(&file, name, symbol, timeframe, timezone, sheet, &map)?;
            tokio_main(async move { import(cfg, src).await })
        }
        Command::Replay {
            dataset,
            python,
            bridge,
            pine_export,
            outputs,
            warmup,
            tolerance,
            date_from,
            date_to,
            no_one_open_position,
            json,
        } => {
            let source = std::fs::read_to_string(&python)
                .with_context(|| format!("cannot read {}", python.display()))?;
            let export = pine_export
                .map(|p| -> anyhow::Result<serde_json::Value> {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read {}", p.display()))?;
                    serde_json::from_str(&text)
                        .with_context(|| format!("{} is not a bridge artifact JSON", p.display()))
                })
                .transpose()?;
            let req = serde_json::json!({
                "dataset_id": dataset,
                "run_config": { "mode": "pine_bridge", "date_from": date_from, "date_to": date_to,
                    "one_open_position": !no_one_open_position, "tolerance": tolerance, "warmup_bars": warmup,
                    "selected_outputs": outputs },
                "python_artifact": { "language": "python", "name": python.display().to_string(), "source_code": source },
                "pine_artifact": null,
                "bridge_artifact_id": bridge,
            });
            let req: brickdesk::engine::runs::RunRequest = serde_json::from_value(req)?;
            tokio_main(async move { replay_cli(cfg, req, export, json).await })
        }
        Command::Renko(args) => renko::run(args),
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
            ticks,
            headless,
            ui,
        } => {
            let app = if headless {
                init_logs();
                None
            } else {
                Some(console_app(&ui)?)
            };
            tokio_main(async move { run_demo(cfg, host, port, (seed, step_ms, ticks), app).await })
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
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    let bound = wiring::bind(&host, port).await?;
    let shutdown = brickdesk::server::shutdown_signal();
    tracing::info!(data_dir = %data_dir.display(), secrets = ?cfg.secrets, "brickdesk serve");
    tracing::info!("listening on http://{}", bound.addr);
    wiring::run_server(bound, engine, &cfg, None, shutdown).await?;
    thread.join().ok();
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The console's UI state from its flags (checked before the terminal is taken over).
fn console_app(ui: &ConsoleArgs) -> anyhow::Result<App> {
    let theme = Theme::load(&ui.theme)?;
    let mut app = App::new(theme, "starting…".into());
    if let Some(v) = &ui.view {
        app.view = Some(View::parse(v).with_context(|| {
            format!("--view {v:?}: choose one of desk, renko, positions, orders, log")
        })?);
    }
    Ok(app)
}

fn log_path(cfg: &Config, attached: bool) -> PathBuf {
    if attached {
        dirs::state_dir()
            .or_else(dirs::data_dir)
            .unwrap_or_else(std::env::temp_dir)
            .join("brickdesk")
            .join("console.log")
    } else {
        cfg.data_dir().join("brickdesk.log")
    }
}

/// The console never logs to the screen: tracing goes to a file.
fn init_file_logs(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("BRICKDESK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(())
}

async fn console(
    cfg: Config,
    ui: ConsoleArgs,
    mut app: App,
    host: String,
    port: u16,
) -> anyhow::Result<()> {
    app.ollama_url = Some(ollama_url(&cfg));
    if let Some(url) = &ui.connect {
        let remote = Remote::connect(url, ui.password.as_deref()).await?;
        let link = Link::Remote(remote);
        app.link_label = format!("attached to {}", link.label());
        return brickdesk::tui::run_on_terminal(&mut app, link).await;
    }
    let data_dir = cfg.data_dir();
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    let bound = wiring::bind(&host, port).await?;
    app.link_label = format!(
        "local engine · server http://{} · data {}",
        bound.addr,
        data_dir.display()
    );
    tracing::info!("console; server on http://{}", bound.addr);
    let result = console_with_server(&mut app, engine, bound, &cfg).await;
    thread.join().ok();
    result
}

/// The in-process server in the background and the console in front, sharing one engine and one
/// run service; the server stops when the console does.
async fn console_with_server(
    app: &mut App,
    engine: brickdesk::engine::handle::EngineHandle,
    bound: wiring::Bound,
    cfg: &Config,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runs = brickdesk::parity::RunService::new(engine.clone(), Default::default());
    let link = Link::Local(engine.clone(), runs.clone());
    let server = {
        let cfg = cfg.clone();
        tokio::spawn(async move {
            wiring::run_server(bound, engine, &cfg, Some(runs), async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let result = brickdesk::tui::run_on_terminal(app, link).await;
    let _ = stop.send(());
    let _ = server.await;
    result
}

fn ollama_url(cfg: &Config) -> String {
    cfg.ollama_host
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:11434".into())
}

#[allow(clippy::too_many_arguments)]
fn import_source(
    file: &std::path::Path,
    name: Option<String>,
    symbol: Option<String>,
    timeframe: Option<String>,
    timezone: Option<String>,
    sheet: Option<String>,
    map: &[String],
) -> anyhow::Result<SourceConfig> {
    let mut mapping = serde_json::Map::new();
    for m in map {
        let (k, v) = m
            .split_once('=')
            .with_context(|| format!("--map {m:?}: write FIELD=COLUMN"))?;
        if !brickdesk::engine::datasets::COLUMNS.contains(&k) {
            anyhow::bail!(
                "--map {m:?}: the field must be one of {:?}",
                brickdesk::engine::datasets::COLUMNS
            );
        }
        mapping.insert(k.into(), v.into());
    }
    let abs = std::path::absolute(file)?;
    let name = name.unwrap_or_else(|| {
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    Ok(serde_json::from_value(serde_json::json!({
        "type": "auto", "name": name, "file_path": abs, "symbol": symbol, "timeframe": timeframe,
        "timezone": timezone, "mapping": mapping, "extra": { "sheet": sheet },
    }))?)
}

/// `brickdesk import`: a staged progress bar on stderr, then the dataset and its issues.
async fn import(cfg: Config, src: SourceConfig) -> anyhow::Result<()> {
    use brickdesk::engine::datasets::{self, STAGES};
    use std::io::Write;
    let started = std::time::Instant::now();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let total = STAGES.len() + 1;
    let show = move |k: usize, what: &str| {
        let filled = 24 * k / total;
        let bar = format!(
            "[{}{}] {k}/{total} {what} ({:.1}s)",
            "#".repeat(filled),
            "-".repeat(24 - filled),
            started.elapsed().as_secs_f64()
        );
        if tty {
            eprint!("\r\x1b[2K{bar}");
        } else {
            eprintln!("{bar}");
        }
        let _ = std::io::stderr().flush();
    };
    let src2 = src.clone();
    let p = tokio::task::spawn_blocking(move || {
        datasets::prepare_with_progress(&src2, &mut |k| show(k, STAGES[k]))
    })
    .await??;
    let data_dir = cfg.data_dir();
    let result = if p.bars.is_some() {
        show(total - 1, "writing columns and registering");
        let meta = datasets::persist(&data_dir, &src, &p, chrono::Utc::now())?;
        let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
        let meta = engine.call(move |e| e.register_dataset(meta)).await?;
        drop(engine);
        thread.join().ok();
        show(total, "imported");
        Some(meta)
    } else {
        None
    };
    if tty {
        eprintln!();
    }
    for i in &p.issues {
        eprintln!(
            "{:>7} {:<24} {}",
            format!("{:?}", i.severity).to_lowercase(),
            i.code,
            i.message
        );
    }
    match result {
        Some(meta) => {
            println!(
                "{}  {} rows  {}  ({:.1}s)",
                meta.dataset_id,
                meta.row_count,
                meta.data_path,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        None => anyhow::bail!(
            "{} cannot be imported (see the issues above)",
            src.file_path.unwrap_or_default()
        ),
    }
}

/// `brickdesk replay`: one replay run from the shell, stored like any other, summarised.
async fn replay_cli(
    cfg: Config,
    mut req: brickdesk::engine::runs::RunRequest,
    export: Option<serde_json::Value>,
    as_json: bool,
) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir();
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    if let Some(export) = export {
        let artifact: brickdesk::engine::runs::artifacts::BridgeArtifact =
            serde_json::from_value(export)?;
        let saved = engine
            .call(move |e| e.save_bridge_artifact(artifact))
            .await?;
        eprintln!("saved bridge artifact {}", saved.bridge_artifact_id);
        req.bridge_artifact_id = Some(saved.bridge_artifact_id);
    }
    eprintln!(
        "running {} on {} …",
        req.python_artifact.name, req.dataset_id
    );
    let service = brickdesk::parity::RunService::new(engine.clone(), Default::default());
    let run = service.replay(&req).await?;
    drop(service);
    drop(engine);
    thread.join().ok();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&run.comparison)?);
    }
    if let Some(e) = &run.error {
        anyhow::bail!("run {} failed: {e}", run.run_id);
    }
    let c = run.comparison.clone().unwrap_or_default();
    let s = &c["summary"];
    println!(
        "run {}  {} bars  {}",
        run.run_id,
        run.live_total,
        if s["aligned"] == true {
            "ALIGNED"
        } else {
            "MISMATCH"
        }
    );
    for r in c["series_results"].as_array().cloned().unwrap_or_default() {
        println!(
            "  {:<24} {:>8} compared  {:>6} mismatched  (pine: {})",
            r["series"].as_str().unwrap_or("?"),
            r["compared"],
            r["mismatch_count"],
            r["pine_name"].as_str().unwrap_or("—")
        );
    }
    if let Some(m) = c["first_mismatch"].as_object() {
        println!(
            "  first mismatch: {} bar {} at {}: python {} vs pine {} (diff {})",
            m["series"],
            m["bar_index"],
            m["timestamp"],
            m["python_value"],
            m["pine_value"],
            m["difference"]
        );
    }
    println!(
        "  trade events: {} ({} unmatched)",
        s["total_trade_events"], s["mismatched_trade_events"]
    );
    for w in &run.warnings {
        println!("  warning: {w}");
    }
    for w in c["unsupported_feature_warnings"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!("  warning: {}", w.as_str().unwrap_or_default());
    }
    println!(
        "  next: {}",
        c["suggested_next_action"].as_str().unwrap_or("—")
    );
    Ok(())
}

fn random_secret() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn run_demo(
    mut cfg: Config,
    host: String,
    port: u16,
    (seed, step_ms, ticks): (u64, u64, i64),
    app: Option<App>,
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
    if app.is_some() {
        init_file_logs(&data_dir.join("brickdesk.log"))?;
    }
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    let bound = wiring::bind(&host, port).await?;
    let base_url = format!("http://{}", bound.addr);
    tracing::info!(data_dir = %data_dir.display(), "brickdesk demo: simulated market + paper bridge");
    let shutdown = app.is_none().then(brickdesk::server::shutdown_signal);
    tracing::info!("listening on {base_url}");
    let board = PriceBoard::default();
    let market = tokio::spawn(demo::market::run(
        demo::market::MarketOptions {
            base_url: base_url.clone(),
            tv_secret: cfg.secrets.tv_webhook_secret.clone(),
            seed,
            step: Duration::from_millis(step_ms.max(10)),
            max_ticks_per_step: ticks.clamp(1, 400),
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
    let result = match app {
        None => {
            let shutdown = shutdown.expect("headless demo has a shutdown signal");
            wiring::run_server(bound, engine, &cfg, None, shutdown).await
        }
        Some(mut app) => {
            app.link_label = format!(
                "demo · simulated market + paper bridge · http://{}",
                bound.addr
            );
            app.ollama_url = Some(ollama_url(&cfg));
            console_with_server(&mut app, engine, bound, &cfg).await
        }
    };
    market.abort();
    bridge.abort();
    thread.join().ok();
    result
}
