//! `brickdesk backtest`: one backtest from the shell, through the same service (checks, storage,
//! desk log) as `POST /api/v1/run/backtest`, with a progress bar on stderr and the figures on
//! stdout (or, with `--json`, the results as `/api/v1/results` gives them).
use super::wiring;
use crate::config::Config;
use crate::services::backtest::{BacktestRequest, BacktestService};
use anyhow::{Context, bail};
use serde_json::{Map, Value};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BacktestArgs {
    /// Dataset id, name or symbol (an id wins, then a name, then the newest dataset with the symbol)
    #[arg(long)]
    dataset: String,
    /// Strategy: sma_cross, ema_cross, renko_trend, rsi_reversion, python, llm
    #[arg(long)]
    strategy: String,
    /// A strategy or simulator parameter, k=v (repeatable): fast=10, commission=0.002, allow_short=true
    #[arg(long = "param", value_name = "K=V")]
    params: Vec<String>,
    /// The Python strategy's source file (sets param code)
    #[arg(long)]
    python: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 10_000.0)]
    cash: f64,
    /// First day (YYYY-MM-DD or ISO 8601)
    #[arg(long)]
    from: Option<String>,
    /// Last day, included
    #[arg(long)]
    to: Option<String>,
    /// Print the results as JSON instead of the table
    #[arg(long)]
    json: bool,
}

/// `k=v` pairs as JSON values: numbers and booleans as such, the rest as strings.
fn params(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut out = Map::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            bail!("--param {p:?} is not k=v");
        };
        let v = v.trim();
        let value = serde_json::from_str::<Value>(v)
            .ok()
            .filter(|j| j.is_number() || j.is_boolean())
            .unwrap_or_else(|| Value::String(v.to_string()));
        out.insert(k.trim().to_string(), value);
    }
    Ok(out)
}

pub fn run(cfg: Config, args: BacktestArgs) -> anyhow::Result<()> {
    let mut strategy_params = params(&args.params)?;
    if let Some(p) = &args.python {
        let code =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        strategy_params.insert("code".into(), Value::String(code));
    }
    let req = BacktestRequest {
        strategy_name: args.strategy.clone(),
        strategy_params,
        symbols: vec![args.dataset.clone()],
        timeframe: None,
        start_date: args.from.clone(),
        end_date: args.to.clone(),
        initial_cash: args.cash,
        exchange: None,
    };
    wiring::tokio_main(backtest(cfg, req, args.json))
}

async fn backtest(cfg: Config, req: BacktestRequest, as_json: bool) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir();
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    let svc = BacktestService::new(engine.clone(), cfg.runner_limits(), cfg.ollama())?;
    let started = svc
        .start_backtest(req)
        .await
        .map_err(|r| anyhow::anyhow!("{} ({})", r.message, r.code))?;
    let run_id = started["run_id"].as_str().unwrap_or_default().to_string();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let t0 = Instant::now();
    let mut last_phase = String::new();
    let st = loop {
        let st = svc.current().context("the run vanished")?;
        let p = &st.progress;
        let phase = p.phase().to_string();
        let (done, total) = (
            p.done.load(std::sync::atomic::Ordering::Relaxed),
            p.total.load(std::sync::atomic::Ordering::Relaxed),
        );
        let running = st.is_running();
        let filled = if running {
            (super::BAR_CELLS as f64 * p.fraction()) as usize
        } else {
            super::BAR_CELLS
        };
        let count = if total > 0 {
            format!(" {done}/{total}")
        } else {
            String::new()
        };
        // on a terminal the bar is redrawn each poll; elsewhere a line per phase
        if tty || phase != last_phase {
            super::show_progress(tty, filled, &format!("{phase}{count}"), t0);
        }
        last_phase = phase;
        if !running {
            break st;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if tty {
        eprintln!();
    }
    // where the time went, phase by phase (a quick run passes phases between two polls)
    let took: Vec<String> = st
        .progress
        .timings()
        .iter()
        .map(|(phase, s)| format!("{phase} {s:.3}s"))
        .collect();
    eprintln!("{}", took.join(" · "));
    let results = svc.results_json(&st);
    drop(svc);
    drop(engine);
    thread.join().ok();
    if let Some(e) = results["error"].as_str() {
        bail!("backtest {run_id} failed: {e}");
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    let m = &results["performance_metrics"];
    let f = |k: &str, unit: &str| match m[k].as_f64() {
        Some(x) => format!("{x:.2}{unit}"),
        None => "—".into(),
    };
    println!(
        "backtest {run_id}  {}  {} bars",
        results["config"]["request"]["strategy_name"]
            .as_str()
            .unwrap_or("?"),
        m["bars"]
    );
    for (name, value) in [
        ("initial capital", f("initial_capital", "")),
        ("final value", f("final_value", "")),
        ("total return", f("total_return_pct", " %")),
        ("CAGR", f("cagr_pct", " %")),
        ("Sharpe", f("sharpe_ratio", "")),
        ("Sortino", f("sortino_ratio", "")),
        ("max drawdown", f("max_drawdown_pct", " %")),
        ("max drawdown bars", m["max_drawdown_bars"].to_string()),
        ("round trips", m["round_trips"].to_string()),
        ("win rate", f("win_rate_pct", " %")),
        ("profit factor", f("profit_factor", "")),
        ("exposure", f("exposure_pct", " %")),
    ] {
        println!("  {name:<18} {value:>16}");
    }
    let id = results["backtest_id"].as_i64().unwrap_or_default();
    println!(
        "stored as backtest #{id} in {} (GET /api/backtests/{id})",
        data_dir.join(wiring::DB_FILE).display()
    );
    std::io::stdout().flush().ok();
    Ok(())
}
