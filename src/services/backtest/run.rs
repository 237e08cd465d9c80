//! One backtest from request to result, without the service around it (the CLI runs it too):
//! the dataset's window is read, the strategy decides (rules, the Python sandbox, or Ollama),
//! the simulator runs, the figures are computed, and the rows to store are made.
use super::llm::Ollama;
use super::metrics::{self, Metrics};
use super::params::Params;
use super::sim::{self, OrderStatus, SimConfig, SimOrder, SimRun};
use super::store::{FillRow, TradeRow, iso};
use super::strategy::{self, Decisions, StrategyDef};
use crate::engine::datasets::{Bars, DatasetMeta, columnar};
use crate::engine::runs::python::Limits;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// A backtest, checked and ready to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub def: &'static StrategyDef,
    pub params: Params,
    pub dataset: DatasetMeta,
    /// The asset the results name (the dataset's symbol, else its name).
    pub asset: String,
    /// Window, UTC epoch ms, both ends included.
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub sim: SimConfig,
}

/// What the strategies need from outside.
pub struct Ctx {
    pub python: Limits,
    pub ollama: Ollama,
}

/// How far a run is: its phase, done of total in that phase, and how long each phase took.
#[derive(Default)]
pub struct Progress {
    phase: Mutex<Phase>,
    pub done: AtomicU64,
    pub total: AtomicU64,
}

#[derive(Default)]
struct Phase {
    name: &'static str,
    since: Option<std::time::Instant>,
    /// Seconds of each finished phase, in order.
    took: Vec<(&'static str, f64)>,
}

impl Progress {
    pub fn phase(&self) -> &'static str {
        self.phase.lock().expect("progress").name
    }

    /// Enters `phase` (the one before is timed).
    pub fn set(&self, phase: &'static str, total: u64) {
        let mut p = self.phase.lock().expect("progress");
        if let Some(t) = p.since
            && !p.name.is_empty()
        {
            let name = p.name;
            p.took.push((name, t.elapsed().as_secs_f64()));
        }
        p.name = phase;
        p.since = Some(std::time::Instant::now());
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Seconds spent in each finished phase.
    pub fn timings(&self) -> Vec<(&'static str, f64)> {
        self.phase.lock().expect("progress").took.clone()
    }
    /// 0–1 within the phase.
    pub fn fraction(&self) -> f64 {
        let t = self.total.load(Ordering::Relaxed);
        if t == 0 {
            0.0
        } else {
            (self.done.load(Ordering::Relaxed) as f64 / t as f64).min(1.0)
        }
    }
}

pub struct Outcome {
    pub bars: Arc<Bars>,
    pub decisions: Decisions,
    pub run: SimRun,
    pub metrics: Metrics,
}

/// The tick of a symbol when the request gives none: ES and NQ (and their micros) 0.25.
pub fn default_tick(symbol: &str) -> f64 {
    let s = symbol.to_ascii_uppercase();
    let root = s.trim_end_matches(|c: char| c == '!' || c.is_ascii_digit());
    match root {
        "ES" | "MES" | "NQ" | "MNQ" => 0.25,
        _ => 0.01,
    }
}

/// The simulator's settings from checked params.
pub fn sim_config(p: &Params, initial_cash: f64, symbol: &str) -> SimConfig {
    let tick = match p.f("tick_size") {
        t if t > 0.0 => t,
        _ => default_tick(symbol),
    };
    SimConfig {
        initial_cash,
        commission: p.f("commission"),
        slippage: p.f("slippage_ticks") * tick,
        fixed_qty: (p.s("sizing") == "fixed").then(|| p.i("qty") as f64),
        allow_short: p.b("allow_short"),
    }
}

/// Rows `start..end` of `all` within the window.
pub fn window(ts: &[i64], start: Option<i64>, end: Option<i64>) -> (usize, usize) {
    let (a, b) = crate::engine::runs::span(ts, start, end);
    (a, b.max(a))
}

async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| "the backtest's worker failed (see the server log)".to_string())
}

/// Runs `job` to its outcome.
pub async fn execute(
    job: &Job,
    ctx: &Ctx,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Result<Outcome, String> {
    progress.set("loading", job.dataset.row_count as u64);
    let path = std::path::PathBuf::from(&job.dataset.data_path);
    let id = job.dataset.dataset_id.clone();
    let (start, end) = (job.start, job.end);
    let (bars, a, b) = blocking(move || {
        let all =
            columnar::read(&path).map_err(|e| format!("dataset {id} cannot be read: {e:#}"))?;
        let (a, b) = window(&all.ts, start, end);
        Ok::<_, String>((Arc::new(all.into_range(a..b)), a, b))
    })
    .await??;
    if bars.len() < 2 {
        return Err(format!(
            "the window holds {} bar(s) of dataset {}: a backtest needs at least 2",
            bars.len(),
            job.dataset.dataset_id
        ));
    }
    progress
        .done
        .store(job.dataset.row_count as u64, Ordering::Relaxed);
    if cancel.is_cancelled() {
        return Err("stopped".into());
    }
    strategy::check_data(job.def, &job.params, &bars)?;
    let decisions = match job.def.name {
        "python" => {
            progress.set("python", 1);
            let (code, path, limits) = (
                job.params.s("code").to_string(),
                std::path::PathBuf::from(&job.dataset.data_path),
                ctx.python.clone(),
            );
            let n = bars.len();
            let cols = blocking(move || {
                crate::engine::runs::python::run_strategy(&code, &path, a, b, &limits)
            })
            .await?
            .map_err(|e| e.to_string())?;
            strategy::python_decisions(&cols, n)
        }
        "llm" => {
            let n = bars.len();
            let total =
                super::llm::decision_bars(n, job.params.n("window"), job.params.n("every")).count();
            progress.set("asking the model", total as u64);
            super::llm::decisions(
                &ctx.ollama,
                &bars,
                &job.params,
                &job.asset,
                &progress.done,
                cancel,
            )
            .await?
        }
        _ => {
            progress.set("deciding", 1);
            let (def, p, bars) = (job.def, job.params.clone(), Arc::clone(&bars));
            blocking(move || strategy::rule_decisions(def, &p, &bars)).await?
        }
    };
    if cancel.is_cancelled() {
        return Err("stopped".into());
    }
    progress.set("simulating", bars.len() as u64);
    let cfg = job.sim.clone();
    let n = bars.len() as u64;
    let (bars, decisions, run, metrics) = blocking(move || {
        let run = sim::run(cfg, &bars.open, &bars.close, &decisions.action);
        let m = metrics::compute(
            run.sim.cfg.initial_cash,
            &run.equity,
            &bars.ts,
            &run.sim.trades,
            run.bars_in_market,
        );
        (bars, decisions, run, m)
    })
    .await?;
    progress.done.store(n, Ordering::Relaxed);
    Ok(Outcome {
        bars,
        decisions,
        run,
        metrics,
    })
}

/// An order as seed 002's trade row (its id is given when it is stored).
pub fn fill_row(o: &SimOrder, bars: &Bars, d: &Decisions, asset: &str) -> FillRow {
    let (reasoning, confidence) = match o.signal_bar {
        Some(i) => (d.reasoning(bars, i), f64::from(d.confidence(i))),
        None => (
            "the data ended with the position open: closed at the last bar's open".to_string(),
            100.0,
        ),
    };
    order_row(o, iso(bars.ts[o.bar]), asset, reasoning, confidence)
}

/// An order as a stored row at `timestamp`: a refused one is an `entry` whose reasoning ends
/// with why it was refused.
pub fn order_row(
    o: &SimOrder,
    timestamp: String,
    asset: &str,
    reasoning: String,
    confidence: f64,
) -> FillRow {
    let (reasoning, purpose) = match o.status {
        OrderStatus::Rejected => (format!("{reasoning} — {}", o.purpose), "entry"),
        OrderStatus::Filled => (reasoning, o.purpose),
    };
    FillRow {
        id: 0,
        timestamp,
        asset: asset.to_string(),
        action: if o.side > 0 { "BUY" } else { "SELL" }.into(),
        price: o.price,
        reasoning,
        confidence,
        qty: o.qty,
        commission: o.commission,
        status: match o.status {
            OrderStatus::Filled => "FILLED",
            OrderStatus::Rejected => "REJECTED",
        }
        .into(),
        purpose: purpose.into(),
        bar: o.bar as i64,
        signal_bar: o.signal_bar.map(|b| b as i64),
    }
}

/// The rows a finished backtest stores.
pub fn rows(out: &Outcome, asset: &str) -> (Vec<FillRow>, Vec<TradeRow>) {
    let d = &out.decisions;
    let fills = out
        .run
        .sim
        .orders
        .iter()
        .map(|o| fill_row(o, &out.bars, d, asset))
        .collect();
    let trades = out
        .run
        .sim
        .trades
        .iter()
        .map(|t| {
            let (reasoning, confidence) = match t.entry_signal_bar {
                Some(i) => (
                    out.decisions.reasoning(&out.bars, i),
                    f64::from(out.decisions.confidence(i)),
                ),
                None => (String::new(), 0.0),
            };
            let at = |i: usize| iso(out.bars.ts[i]);
            trip_row(t, (at(t.entry_bar), at(t.exit_bar)), reasoning, confidence)
        })
        .collect();
    (fills, trades)
}

/// A round trip as a stored row, with its entry and exit times and its entry's reasoning.
pub fn trip_row(
    t: &super::sim::RoundTrip,
    (entry_time, exit_time): (String, String),
    reasoning: String,
    confidence: f64,
) -> TradeRow {
    TradeRow {
        id: 0,
        side: if t.side > 0 { "long" } else { "short" }.into(),
        qty: t.qty,
        entry_bar: t.entry_bar as i64,
        exit_bar: t.exit_bar as i64,
        entry_time,
        exit_time,
        entry_price: t.entry_price,
        exit_price: t.exit_price,
        commission: t.commission,
        pnl: t.pnl,
        return_pct: t.return_pct,
        reasoning,
        confidence,
    }
}
