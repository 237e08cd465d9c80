//! Parity runs (seed 000): a Python artifact run on a dataset and compared with the Pine series of
//! a bridge artifact. `python` runs the strategy, `compare` judges the two sides; this module
//! assembles the `RunStatus`. Bridge artifacts and permission grants live in `artifacts`.
pub mod artifacts;
pub mod compare;
pub mod python;

use super::datasets::{Bars, DatasetMeta, columnar, timeparse};
use artifacts::BridgeArtifact;
use compare::{Series, SeriesResult, TradeEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Permissions {
    #[serde(default = "yes")]
    pub read_allowed: bool,
    #[serde(default)]
    pub write_allowed: bool,
}

fn yes() -> bool {
    true
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            read_allowed: true,
            write_allowed: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Artifact {
    pub language: String,
    pub name: String,
    pub source_code: String,
    #[serde(default)]
    pub declared_outputs: Vec<String>,
    #[serde(default)]
    pub permissions: Permissions,
    #[serde(default)]
    pub adapter_metadata: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    #[serde(default = "pine_bridge")]
    pub mode: String,
    pub symbol: Option<String>,
    pub timeframe: Option<String>,
    pub date_from: Option<String>,
    pub date_to: Option<String>,
    #[serde(default = "yes")]
    pub one_open_position: bool,
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    #[serde(default)]
    pub warmup_bars: usize,
    #[serde(default)]
    pub selected_outputs: Vec<String>,
    pub timezone: Option<String>,
    /// Live runs: bars revealed per second (default 1).
    #[serde(default)]
    pub bars_per_second: Option<f64>,
}

fn pine_bridge() -> String {
    "pine_bridge".into()
}
fn default_tolerance() -> f64 {
    1e-3
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRequest {
    pub dataset_id: String,
    pub run_config: RunConfig,
    pub python_artifact: Artifact,
    pub pine_artifact: Option<Artifact>,
    pub bridge_artifact_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Candle {
    pub timestamp: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Point {
    pub timestamp: String,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NamedSeries {
    pub name: String,
    pub values: Vec<Point>,
}

/// Where a run is in its life. `interrupted`: it was running or playing when the process stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Running,
    Live,
    Completed,
    Stopped,
    Failed,
    Interrupted,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Running => "running",
            Lifecycle::Live => "live",
            Lifecycle::Completed => "completed",
            Lifecycle::Stopped => "stopped",
            Lifecycle::Failed => "failed",
            Lifecycle::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Lifecycle::Running,
            Lifecycle::Live,
            Lifecycle::Completed,
            Lifecycle::Stopped,
            Lifecycle::Failed,
            Lifecycle::Interrupted,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }

    /// Still producing bars.
    pub fn is_active(self) -> bool {
        matches!(self, Lifecycle::Running | Lifecycle::Live)
    }
}

impl std::fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one run knows (`GET /runs/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunStatus {
    pub run_id: String,
    pub lifecycle: Lifecycle,
    pub mode: String,
    pub symbol: Option<String>,
    pub timeframe: Option<String>,
    pub dataset_id: String,
    pub dataset_name: String,
    pub bridge_artifact_id: Option<String>,
    pub candles: Vec<Candle>,
    pub python_series: Vec<NamedSeries>,
    pub pine_series: Vec<NamedSeries>,
    pub trade_events: Vec<TradeEvent>,
    pub comparison: Option<Value>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub live_progress: usize,
    pub live_total: usize,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// What started the run (to run it again, or live).
    #[serde(default)]
    pub request: Option<RunRequest>,
    /// Waiting for a runner: how many runs were ahead when it was queued. Absent once it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<usize>,
}

/// A run in a list: no bars, no series.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSummary {
    pub run_id: String,
    pub lifecycle: Lifecycle,
    pub dataset_name: String,
    pub live_progress: usize,
    pub live_total: usize,
    pub aligned: Option<bool>,
    pub mismatched_series: Option<usize>,
    pub error: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<usize>,
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

fn point(ts: i64, v: f64) -> Point {
    Point {
        timestamp: iso(ts),
        value: (!v.is_nan()).then_some(v),
    }
}

pub fn new_run_id() -> String {
    format!("run-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// The rows of sorted `ts` from `from` to `to` (both kept, either open): `(start, end)`, which may
/// be empty or crossed when the window holds none.
pub fn span(ts: &[i64], from: Option<i64>, to: Option<i64>) -> (usize, usize) {
    let start = from.map_or(0, |f| ts.partition_point(|&t| t < f));
    let end = to.map_or(ts.len(), |t| ts.partition_point(|&x| x <= t));
    (start, end)
}

/// The window of bars a run covers.
pub fn window(bars: &Bars, cfg: &RunConfig) -> Result<(usize, usize), String> {
    let bound = |s: &Option<String>, what: &str| -> Result<Option<i64>, String> {
        match s.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(t) => {
                let stamp = timeparse::parse(t)
                    .ok_or_else(|| format!("{what} {t:?} is not a timestamp"))?;
                Ok(timeparse::ToUtc::new(None).convert(stamp))
            }
        }
    };
    let from = bound(&cfg.date_from, "date_from")?;
    let to = bound(&cfg.date_to, "date_to")?;
    let (start, end) = span(&bars.ts, from, to);
    if start >= end {
        return Err("the date window holds no bars of this dataset".into());
    }
    Ok((start, end))
}

/// The Pine series of a bridge artifact on UTC timestamps, sorted.
pub fn pine_series(artifact: &BridgeArtifact) -> Vec<Series> {
    artifact
        .indicator_series
        .iter()
        .map(|s| {
            let mut pts: Vec<(i64, f64, bool)> = s
                .values
                .iter()
                .filter_map(|p| {
                    let ts = timeparse::parse(p.timestamp.as_str())
                        .and_then(|st| timeparse::ToUtc::new(None).convert(st))?;
                    let (v, b) = match &p.value {
                        Value::Bool(b) => (if *b { 1.0 } else { 0.0 }, true),
                        Value::Number(n) => (n.as_f64().unwrap_or(f64::NAN), false),
                        _ => (f64::NAN, false),
                    };
                    Some((ts, v, b))
                })
                .collect();
            pts.sort_by_key(|p| p.0);
            Series {
                name: s.name.clone(),
                is_bool: !pts.is_empty() && pts.iter().all(|p| p.2 || p.1.is_nan()),
                ts: pts.iter().map(|p| p.0).collect(),
                values: pts.iter().map(|p| p.1).collect(),
            }
        })
        .collect()
}

/// Compares what the Python side produced with the Pine side over `candles`.
pub fn compare_all(
    candles: &[i64],
    python: &[python::Column],
    pine: &[Series],
    cfg: &RunConfig,
    pine_trades: &[TradeEvent],
    pine_source: &str,
) -> (Value, Vec<TradeEvent>, Vec<String>) {
    let mut warnings = Vec::new();
    let wanted: Vec<String> = if cfg.selected_outputs.is_empty() {
        pine.iter().map(|s| s.name.clone()).collect()
    } else {
        cfg.selected_outputs.clone()
    };
    let mut results: Vec<SeriesResult> = Vec::new();
    let mut missing_series = 0;
    for w in &wanted {
        let key = compare::canonical(w);
        let py = python.iter().find(|c| compare::canonical(&c.name) == key);
        let pn = pine.iter().find(|s| compare::canonical(&s.name) == key);
        match (py, pn) {
            (Some(py), Some(pn)) => {
                let is_bool = py.is_bool || pn.is_bool;
                let mut r = compare::compare_pair(
                    &py.name,
                    candles,
                    &py.values,
                    pn,
                    is_bool,
                    cfg.tolerance,
                    cfg.warmup_bars,
                );
                r.python_name = Some(py.name.clone());
                results.push(r);
            }
            (py, pn) => {
                missing_series += 1;
                let side = if py.is_none() { "Python" } else { "Pine" };
                let names: Vec<String> = if py.is_none() {
                    python.iter().map(|c| c.name.clone()).collect()
                } else {
                    pine.iter().map(|s| s.name.clone()).collect()
                };
                warnings.push(format!(
                    "selected output {w:?} has no {side} series (the {side} side has: {})",
                    names.join(", ")
                ));
                let _ = pn;
            }
        }
    }
    let cols: Vec<(String, bool, &[f64])> = python
        .iter()
        .map(|c| (c.name.clone(), c.is_bool, c.values.as_slice()))
        .collect();
    let py_trades = compare::python_trades(candles, &cols, cfg.warmup_bars, cfg.one_open_position);
    let warm_ts = candles
        .get(cfg.warmup_bars)
        .map(|t| iso(*t))
        .unwrap_or_default();
    let pine_trades: Vec<TradeEvent> = pine_trades
        .iter()
        .filter(|e| e.timestamp >= warm_ts)
        .map(|e| TradeEvent {
            timestamp: timeparse::parse(&e.timestamp)
                .and_then(|s| timeparse::ToUtc::new(None).convert(s))
                .map(iso)
                .unwrap_or_else(|| e.timestamp.clone()),
            side: e.side.clone(),
            action: if e.action.is_empty() {
                "entry".into()
            } else {
                e.action.clone()
            },
            source: "pine".into(),
        })
        .collect();
    // an export without trade events did not export trades: nothing to compare them with
    let trade_mis = if pine_trades.is_empty() {
        if !py_trades.is_empty() {
            warnings.push(format!(
                "the Pine export has no trade events: the {} Python trade events were not compared",
                py_trades.len()
            ));
        }
        Vec::new()
    } else {
        compare::trade_mismatches(&py_trades, &pine_trades)
    };
    let unsupported = compare::unsupported_features(pine_source);
    let first = results
        .iter()
        .filter_map(|r| r.first_mismatch.clone())
        .min_by(|a, b| a.timestamp.cmp(&b.timestamp));
    let mismatched = results.iter().filter(|r| r.mismatch_count > 0).count() + missing_series;
    let aligned = mismatched == 0 && trade_mis.is_empty() && !results.is_empty();
    let suggestion = suggest(
        &results,
        cfg,
        candles.len(),
        &trade_mis,
        &unsupported,
        missing_series,
        aligned,
    );
    let comparison = json!({
        "summary": {
            "aligned": aligned,
            "total_series": results.len() + missing_series,
            "mismatched_series": mismatched,
            "total_trade_events": py_trades.len() + pine_trades.len(),
            "mismatched_trade_events": trade_mis.len(),
            "compared_values": results.iter().map(|r| r.compared).sum::<usize>(),
        },
        "series_mismatches": results.iter().filter(|r| r.mismatch_count > 0).collect::<Vec<_>>(),
        "series_results": results,
        "trade_mismatches": trade_mis,
        "first_mismatch": first,
        "unsupported_feature_warnings": unsupported,
        "suggested_next_action": suggestion,
    });
    let mut trades = py_trades;
    trades.extend(pine_trades);
    (comparison, trades, warnings)
}

fn suggest(
    results: &[SeriesResult],
    cfg: &RunConfig,
    bars: usize,
    trades: &[TradeEvent],
    unsupported: &[String],
    missing: usize,
    aligned: bool,
) -> String {
    if aligned {
        return format!(
            "Aligned: every selected series matches within {} after {} warmup bars. Next: a live playback run, or tighten the tolerance.",
            cfg.tolerance, cfg.warmup_bars
        );
    }
    if missing > 0 {
        return "Name the same outputs on both sides: a selected output is missing from Python or Pine (see warnings).".into();
    }
    if let Some(r) = results
        .iter()
        .find(|r| r.missing_in_pine + r.missing_in_python > 0)
    {
        return format!(
            "Timestamps differ for {} ({} bars only in Python, {} only in Pine): check the dataset's timezone against the TradingView export's.",
            r.series, r.missing_in_pine, r.missing_in_python
        );
    }
    let worst = results.iter().max_by_key(|r| r.mismatch_count);
    if let Some(r) = worst
        && let Some(last) = r.last_mismatch_index
    {
        let tail = bars.saturating_sub(last + 1);
        if r.mismatch_count == 1 {
            let at = r
                .first_mismatch
                .as_ref()
                .map(|m| m.timestamp.clone())
                .unwrap_or_default();
            return format!(
                "A single bar differs in {} (at {at}): check that bar in the Pine export or the dataset.",
                r.series
            );
        }
        if tail * 2 >= bars.saturating_sub(cfg.warmup_bars) {
            return format!(
                "Mismatches in {} stop at bar {last} and the rest agrees: the indicator's seeding differs (Pine's ta.ema starts from an SMA). Raise warmup_bars to at least {}.",
                r.series,
                last + 1
            );
        }
        return format!(
            "{} diverges throughout ({} of {} bars): compare the formula and inputs of {} with the Pine source{}.",
            r.series,
            r.mismatch_count,
            r.compared,
            r.series,
            if unsupported.is_empty() {
                ""
            } else {
                " (it uses features the comparison does not model)"
            }
        );
    }
    if !trades.is_empty() {
        return "Series agree but trade events differ: check one_open_position and the entry/exit conditions.".into();
    }
    "Nothing compared: select outputs that both sides produce.".into()
}

/// The status of a run that has not produced anything yet.
pub fn replay_pending(
    run_id: String,
    req: &RunRequest,
    dataset: &DatasetMeta,
    now: chrono::DateTime<chrono::Utc>,
) -> RunStatus {
    RunStatus {
        run_id,
        lifecycle: Lifecycle::Running,
        mode: req.run_config.mode.clone(),
        symbol: req
            .run_config
            .symbol
            .clone()
            .or_else(|| dataset.symbol.clone()),
        timeframe: req
            .run_config
            .timeframe
            .clone()
            .or_else(|| dataset.timeframe.clone()),
        dataset_id: dataset.dataset_id.clone(),
        dataset_name: dataset.name.clone(),
        bridge_artifact_id: req.bridge_artifact_id.clone(),
        candles: Vec::new(),
        python_series: Vec::new(),
        pine_series: Vec::new(),
        trade_events: Vec::new(),
        comparison: None,
        warnings: Vec::new(),
        error: None,
        live_progress: 0,
        live_total: 0,
        created_at: now,
        updated_at: now,
        request: Some(req.clone()),
        queue_position: None,
    }
}

/// What a run computes once: the window's bars, the Python outputs, the Pine side.
pub struct RunData {
    pub bars: Bars,
    pub python: Vec<python::Column>,
    pub pine: Vec<Series>,
    pub pine_source: String,
    pub pine_trades: Vec<TradeEvent>,
    pub has_bridge: bool,
}

/// Reads the dataset window and runs the Python artifact (the slow part, off the engine thread).
pub fn load_run(
    req: &RunRequest,
    dataset: &DatasetMeta,
    bridge: Option<&BridgeArtifact>,
    limits: &python::Limits,
) -> Result<RunData, String> {
    let all = columnar::read(std::path::Path::new(&dataset.data_path))
        .map_err(|e| format!("dataset {} cannot be read: {e:#}", dataset.dataset_id))?;
    let (start, end) = window(&all, &req.run_config)?;
    let python = python::run_strategy(
        &req.python_artifact.source_code,
        std::path::Path::new(&dataset.data_path),
        start,
        end,
        limits,
    )
    .map_err(|e| e.to_string())?;
    Ok(RunData {
        bars: all.into_range(start..end),
        python,
        pine: bridge.map(pine_series).unwrap_or_default(),
        pine_source: bridge
            .map(|b| b.source_code.clone())
            .or_else(|| req.pine_artifact.as_ref().map(|a| a.source_code.clone()))
            .unwrap_or_default(),
        pine_trades: bridge.map(|b| b.trade_events.clone()).unwrap_or_default(),
        has_bridge: bridge.is_some(),
    })
}

/// Fills `st` with the first `upto` bars of the run and their comparison.
pub fn fill_status(st: &mut RunStatus, data: &RunData, cfg: &RunConfig, upto: usize, live: bool) {
    fill_series(st, data, upto);
    compare_prefix(st, data, cfg, upto, live);
}

/// Bar `i` as a candle.
pub fn candle_at(b: &Bars, i: usize) -> Candle {
    Candle {
        timestamp: iso(b.ts[i]),
        open: b.open[i],
        high: b.high[i],
        low: b.low[i],
        close: b.close[i],
        volume: b.volume[i],
    }
}

/// The first `upto` bars of the run's candles and both sides' series (no comparison).
pub fn fill_series(st: &mut RunStatus, data: &RunData, upto: usize) {
    let upto = upto.min(data.bars.len());
    let b = &data.bars;
    let candles = &b.ts[..upto];
    let upto_ts = candles.last().copied().unwrap_or(i64::MIN);
    st.candles = (0..upto).map(|i| candle_at(b, i)).collect();
    st.python_series = data
        .python
        .iter()
        .map(|c| NamedSeries {
            name: c.name.clone(),
            values: candles
                .iter()
                .zip(&c.values[..upto.min(c.values.len())])
                .map(|(t, v)| point(*t, *v))
                .collect(),
        })
        .collect();
    st.pine_series = data
        .pine
        .iter()
        .map(|s| {
            let n = s.ts.partition_point(|&t| t <= upto_ts);
            NamedSeries {
                name: s.name.clone(),
                values: s.ts[..n]
                    .iter()
                    .zip(&s.values[..n])
                    .map(|(t, v)| point(*t, *v))
                    .collect(),
            }
        })
        .collect();
    st.live_progress = upto;
    st.live_total = b.len();
}

/// A live run's step: the comparison of the first `upto` bars and the progress, without
/// materialising the candles and series (a reader gets those from the run's columns).
pub fn advance_live(st: &mut RunStatus, data: &RunData, cfg: &RunConfig, upto: usize) {
    compare_prefix(st, data, cfg, upto, true);
    st.live_progress = upto.min(data.bars.len());
    st.live_total = data.bars.len();
}

/// The comparison, trade events and warnings of the first `upto` bars.
fn compare_prefix(st: &mut RunStatus, data: &RunData, cfg: &RunConfig, upto: usize, live: bool) {
    let upto = upto.min(data.bars.len());
    let b = &data.bars;
    let candles = &b.ts[..upto];
    let upto_ts = candles.last().copied().unwrap_or(i64::MIN);
    let py: Vec<python::Column> = data
        .python
        .iter()
        .map(|c| python::Column {
            name: c.name.clone(),
            is_bool: c.is_bool,
            values: c.values[..upto].to_vec(),
        })
        .collect();
    // the Pine side is revealed up to the same bar
    let pine: Vec<Series> = data
        .pine
        .iter()
        .map(|s| {
            let n = s.ts.partition_point(|&t| t <= upto_ts);
            Series {
                name: s.name.clone(),
                is_bool: s.is_bool,
                ts: s.ts[..n].to_vec(),
                values: s.values[..n].to_vec(),
            }
        })
        .collect();
    let (mut comparison, trades, warnings) = compare_all(
        candles,
        &py,
        &pine,
        cfg,
        &data.pine_trades,
        &data.pine_source,
    );
    st.warnings.clear();
    if !data.has_bridge {
        st.warnings
            .push("no bridge artifact: nothing to compare the Python outputs with".into());
    }
    st.warnings.extend(warnings);
    comparison["run_mode"] = json!(st.mode);
    comparison["dataset_id"] = json!(st.dataset_id);
    comparison["live"] = json!(live);
    comparison["artifact_refs"] = json!(
        [st.dataset_id.clone()]
            .into_iter()
            .chain(st.bridge_artifact_id.clone())
            .collect::<Vec<_>>()
    );
    st.comparison = Some(comparison);
    st.trade_events = trades;
}

/// A replay: the whole window at once. Returns the status (completed or failed).
pub fn replay(
    run_id: String,
    req: &RunRequest,
    dataset: &DatasetMeta,
    bridge: Option<&BridgeArtifact>,
    limits: &python::Limits,
    now: chrono::DateTime<chrono::Utc>,
) -> RunStatus {
    let mut st = replay_pending(run_id, req, dataset, now);
    match load_run(req, dataset, bridge, limits) {
        Ok(data) => {
            fill_status(&mut st, &data, &req.run_config, data.bars.len(), false);
            st.lifecycle = Lifecycle::Completed;
        }
        Err(e) => {
            st.lifecycle = Lifecycle::Failed;
            st.error = Some(e);
        }
    }
    st
}
