//! The `brickdesk` command line.
use anyhow::Context;
use brickdesk::config::Config;
use brickdesk::engine::datasets::SourceConfig;
use brickdesk::cli::{console, demo, renko, serve, wiring};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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

#[derive(Subcommand)]
enum Command {
    /// The console (TUI) with the server in the same process; the default command
    Console(console::ConsoleArgs),
    /// Headless server (webhooks, bridge, operator API); logs to stdout; stops on SIGTERM/SIGINT
    Serve(serve::ServeArgs),
    /// Everything with no account: simulated ES/NQ market, paper bridge, a throwaway database
    Demo(demo::DemoArgs),
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
    let command = cli
        .command
        .unwrap_or_else(|| Command::Console(Default::default()));
    match command {
        Command::Console(args) => console::run(cfg, args),
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
            wiring::tokio_main(async move { import(cfg, src).await })
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
            wiring::tokio_main(async move { replay_cli(cfg, req, export, json).await })
        }
        Command::Renko(args) => renko::run(args),
        Command::Serve(args) => serve::run(cfg, args),
        Command::Demo(args) => demo::run(cfg, args),
    }
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
