//! The `brickdesk` binary: the clap command tree (global flags, one variant per subcommand) and
//! the dispatch; each subcommand's flags and work live in `brickdesk::cli`.
use brickdesk::cli::{backtest, console, demo, import, renko, replay, serve};
use brickdesk::config::Config;
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
    Import(import::ImportArgs),
    /// Run a Python strategy on a dataset and compare it with a Pine bridge artifact
    Replay(replay::ReplayArgs),
    /// Backtest a strategy on a dataset; the result is stored (GET /api/backtests)
    Backtest(backtest::BacktestArgs),
    /// Print the Renko bricks of a price CSV as index,timestamp,open,close,color
    Renko(renko::RenkoArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Console(Default::default()));
    let cfg = Config::load(cli.config.as_deref()).map(|mut cfg| {
        if let Some(d) = cli.data_dir {
            cfg.data_dir = Some(d);
        }
        cfg
    });
    match command {
        // its exit status is its verdict (0 aligned, 1 mismatch, 2 trouble), a config that
        // cannot be read included
        Command::Replay(args) => std::process::exit(replay::run(cfg, args) as i32),
        Command::Console(args) => console::run(cfg?, args),
        Command::Serve(args) => serve::run(cfg?, args),
        Command::Demo(args) => demo::run(cfg?, args),
        Command::Import(args) => import::run(cfg?, args),
        Command::Backtest(args) => backtest::run(cfg?, args),
        Command::Renko(args) => renko::run(args),
    }
}
