//! `brickdesk replay`: one replay run from the shell (a Python strategy on a dataset, compared
//! with a Pine bridge artifact), stored like any other, summarised on stdout (or, with `--json`,
//! the comparison alone). The exit status says the verdict, as `diff` does: 0 aligned,
//! 1 a mismatch, 2 the run could not be done.
use super::wiring;
use crate::config::Config;
use crate::engine::runs::artifacts::BridgeArtifact;
use crate::engine::runs::{RunRequest, RunStatus};
use crate::services::runs::RunService;
use anyhow::Context;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ReplayArgs {
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
    /// Print only the whole comparison, as JSON, instead of the summary
    #[arg(long)]
    json: bool,
}

/// Exit statuses: the verdict, or trouble.
pub const ALIGNED: u8 = 0;
pub const MISMATCH: u8 = 1;
pub const TROUBLE: u8 = 2;

/// The run, its summary (or JSON) on stdout; the exit status: `ALIGNED`, `MISMATCH`, or
/// `TROUBLE` after the error on stderr (a config that could not be read is trouble too).
pub fn run(cfg: anyhow::Result<Config>, args: ReplayArgs) -> u8 {
    let as_json = args.json;
    let verdict = cfg.and_then(|cfg| {
        let (req, export) = request(args)?;
        wiring::tokio_main(replay(cfg, req, export, as_json))
    });
    std::io::Write::flush(&mut std::io::stdout()).ok();
    match verdict {
        Ok(true) => ALIGNED,
        Ok(false) => MISMATCH,
        Err(e) => {
            eprintln!("Error: {e:#}");
            TROUBLE
        }
    }
}

/// The run request and the Pine export (if any) the flags name, read before the engine starts.
fn request(args: ReplayArgs) -> anyhow::Result<(RunRequest, Option<Value>)> {
    let python = &args.python;
    let source = std::fs::read_to_string(python)
        .with_context(|| format!("cannot read {}", python.display()))?;
    let export = args.pine_export.as_deref().map(read_export).transpose()?;
    let req = serde_json::json!({
        "dataset_id": args.dataset,
        "run_config": { "mode": "pine_bridge", "date_from": args.date_from, "date_to": args.date_to,
            "one_open_position": !args.no_one_open_position, "tolerance": args.tolerance,
            "warmup_bars": args.warmup, "selected_outputs": args.outputs },
        "python_artifact": { "language": "python", "name": python.display().to_string(), "source_code": source },
        "pine_artifact": null,
        "bridge_artifact_id": args.bridge,
    });
    Ok((serde_json::from_value(req)?, export))
}

fn read_export(p: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a bridge artifact JSON", p.display()))
}

async fn replay(
    cfg: Config,
    mut req: RunRequest,
    export: Option<Value>,
    as_json: bool,
) -> anyhow::Result<bool> {
    let data_dir = cfg.data_dir();
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    if let Some(export) = export {
        let artifact: BridgeArtifact = serde_json::from_value(export)?;
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
    let service = RunService::new(engine.clone(), cfg.runner_limits())?;
    let run = service.replay(&req).await?;
    drop(service);
    drop(engine);
    thread.join().ok();
    if let Some(e) = &run.error {
        anyhow::bail!("run {} failed: {e}", run.run_id);
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&run.comparison)?);
    } else {
        print_summary(&run);
    }
    let aligned = run.comparison.as_ref().map(|c| &c["summary"]["aligned"]);
    Ok(aligned == Some(&Value::Bool(true)))
}

/// The verdict, one line per series, the first mismatch, trade events, warnings, what to do next.
fn print_summary(run: &RunStatus) {
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
    print_warnings(run, &c);
    println!(
        "  next: {}",
        c["suggested_next_action"].as_str().unwrap_or("—")
    );
}

fn print_warnings(run: &RunStatus, c: &Value) {
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
}
