//! What a run request is, and its checks before anything starts: seed 004's bodies, the
//! refusal in its envelope's terms, where symbols find their dataset, dates, and the exchanges.
use super::run::{self, Job};
use super::{BacktestService, strategy};
use crate::engine::datasets::DatasetMeta;
use crate::engine::error::DeskError;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A run refused before it starts: seed 004's envelope fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// The strategy and its checked params, or seed 004's refusal.
pub(super) fn resolve_strategy(
    name: &str,
    given: &Map<String, Value>,
) -> Result<(&'static strategy::StrategyDef, super::params::Params), Refused> {
    strategy::resolve(name, given).map_err(|m| {
        let code = if strategy::find(name).is_none() {
            "UNKNOWN_STRATEGY"
        } else {
            "INVALID_PARAMS"
        };
        refused(422, code, m)
    })
}

/// `exchange` (its first accepted name when absent) is one of `accepted`.
pub(super) fn check_exchange(
    exchange: Option<&str>,
    accepted: &[&str],
    otherwise: &str,
) -> Result<(), Refused> {
    let e = exchange.unwrap_or(accepted[0]).trim().to_ascii_lowercase();
    if e.is_empty() || accepted.contains(&e.as_str()) {
        return Ok(());
    }
    Err(refused(
        422,
        "UNKNOWN_EXCHANGE",
        format!(
            "exchange {e:?} {otherwise}; use {:?} (GET /api/v1/exchanges)",
            accepted[0]
        ),
    ))
}

/// The one symbol a run names.
pub(super) fn one_symbol<'a>(symbols: &'a [String], what: &str) -> Result<&'a str, Refused> {
    match symbols {
        [one] => Ok(one),
        _ => Err(refused(
            422,
            "VALIDATION_ERROR",
            format!(
                "symbols must name exactly one {what}; got {}",
                symbols.len()
            ),
        )),
    }
}

/// Cash a run may start with: positive, and small enough that sizes and PnL stay finite.
pub(super) fn cash_ok(c: f64) -> bool {
    c.is_finite() && c > 0.0 && c <= 1e12
}

pub(super) fn refused(status: u16, code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        status,
        code,
        message: message.into(),
    }
}

impl From<DeskError> for Refused {
    fn from(e: DeskError) -> Self {
        let (status, code) = match &e {
            DeskError::Forbidden(_) => (403, "FORBIDDEN"),
            DeskError::NotFound(_) => (404, "NOT_FOUND"),
            DeskError::ShuttingDown => (503, "UNAVAILABLE"),
            DeskError::Storage(_) | DeskError::Internal => (500, "INTERNAL_ERROR"),
            _ => (409, "CONFLICT"),
        };
        let message = match &e {
            DeskError::Storage(_) | DeskError::Internal => {
                tracing::error!(error = %e, "backtest service");
                "internal error: the run was not started (see the server log)".to_string()
            }
            _ => e.to_string(),
        };
        refused(status, code, message)
    }
}

fn ten_thousand() -> f64 {
    10_000.0
}

/// `POST /api/v1/run/backtest`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BacktestRequest {
    pub strategy_name: String,
    #[serde(default)]
    pub strategy_params: Map<String, Value>,
    pub symbols: Vec<String>,
    #[serde(default)]
    pub timeframe: Option<String>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default = "ten_thousand")]
    pub initial_cash: f64,
    #[serde(default)]
    pub exchange: Option<String>,
}

/// `POST /api/v1/run/live`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct LiveRequest {
    pub strategy_name: String,
    #[serde(default)]
    pub strategy_params: Map<String, Value>,
    pub symbols: Vec<String>,
    #[serde(default)]
    pub timeframe: Option<String>,
    #[serde(default)]
    pub exchange: Option<String>,
    #[serde(default)]
    pub exchange_config: Map<String, Value>,
    pub mode: String,
}

/// Where runs get their data: `GET /api/v1/exchanges`.
pub const EXCHANGES: &[(&str, &str, &[&str])] = &[
    (
        "datasets",
        "backtests over the datasets of seed 000 (symbols: a dataset's id, name or symbol)",
        &["backtest"],
    ),
    (
        "desk",
        "the desk's live feed (symbols: its assets); paper fills simulated here, live orders through the desk's order path and every gate, only in the LIVE env",
        &["paper", "live"],
    ),
];

/// `YYYY-MM-DD` (an end date means the end of that day), or a date and time (UTC unless it says).
pub fn parse_date(s: &str, end: bool) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let t = if end {
            d.and_hms_milli_opt(23, 59, 59, 999)
        } else {
            d.and_hms_opt(0, 0, 0)
        };
        return Ok(t.expect("valid time").and_utc().timestamp_millis());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(format!("{s:?} is not a date (YYYY-MM-DD or ISO 8601)"))
}

/// The dataset a symbol names: an id wins, then a name, then a symbol (the newest dataset with
/// it); names and symbols compare without case.
pub fn pick_dataset(all: &[DatasetMeta], wanted: &str) -> Option<DatasetMeta> {
    let w = wanted.trim();
    all.iter()
        .find(|d| d.dataset_id == w)
        .or_else(|| all.iter().find(|d| d.name.eq_ignore_ascii_case(w)))
        .or_else(|| {
            all.iter()
                .filter(|d| {
                    d.symbol
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case(w))
                })
                .max_by_key(|d| d.created_at)
        })
        .cloned()
}
impl BacktestService {
    pub(super) async fn datasets(&self) -> Result<Vec<DatasetMeta>, Refused> {
        Ok(self
            .0
            .engine
            .reader()
            .read(|_, st| st.list_datasets())
            .await?)
    }

    /// Checks a backtest request; the job and the dataset's symbol.
    pub(super) async fn check_backtest(&self, req: &BacktestRequest) -> Result<Job, Refused> {
        let (def, params) = resolve_strategy(&req.strategy_name, &req.strategy_params)?;
        check_exchange(
            req.exchange.as_deref(),
            &["datasets", "dataset", "backtest"],
            "has no data for backtests",
        )?;
        let wanted = one_symbol(&req.symbols, "dataset (by id, name or symbol)")?;
        if !cash_ok(req.initial_cash) {
            return Err(refused(
                422,
                "VALIDATION_ERROR",
                "initial_cash must be a number > 0 and at most 1e12",
            ));
        }
        let date = |s: &Option<String>, end: bool| {
            s.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_date(s, end))
                .transpose()
                .map_err(|m| refused(422, "VALIDATION_ERROR", m))
        };
        let (start, end) = (date(&req.start_date, false)?, date(&req.end_date, true)?);
        if let (Some(a), Some(b)) = (start, end)
            && a > b
        {
            return Err(refused(
                422,
                "VALIDATION_ERROR",
                "start_date is after end_date",
            ));
        }
        let all = self.datasets().await?;
        let dataset = pick_dataset(&all, wanted).ok_or_else(|| {
            refused(404, "DATASET_NOT_FOUND", format!("no dataset has the id, name or symbol {wanted:?} (GET /data-sources lists them)"))
        })?;
        if let (Some(want), Some(have)) = (
            req.timeframe.as_deref().filter(|t| !t.trim().is_empty()),
            dataset.timeframe.as_deref(),
        ) && !want.trim().eq_ignore_ascii_case(have.trim())
        {
            return Err(refused(
                422,
                "TIMEFRAME_MISMATCH",
                format!(
                    "dataset {} has {have} bars; resampling to {want} is not supported (send timeframe {have:?} or none)",
                    dataset.dataset_id
                ),
            ));
        }
        let asset = dataset
            .symbol
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| dataset.name.clone());
        let sim = run::sim_config(&params, req.initial_cash, &asset);
        Ok(Job {
            def,
            params,
            dataset,
            asset,
            start,
            end,
            sim,
        })
    }
}
