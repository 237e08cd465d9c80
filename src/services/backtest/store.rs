//! The backtest service's own store: a connection of its own to the desk's database (WAL), one
//! row per backtest or paper run (seed 002's integer id), its fills and round trips as rows, and
//! its equity curve as columns under `<data dir>/backtests/<id>/`, written before the row says
//! the run is complete.
use crate::engine::datasets::columnar;
use crate::engine::error::{DeskError, DeskResult};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct BacktestStore {
    conn: Connection,
    dir: PathBuf,
}

/// What a run is when it starts.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run_id: String,
    pub mode: String,
    pub strategy: String,
    pub params: Value,
    pub request: Value,
    pub dataset_id: Option<String>,
    pub asset: String,
    pub timeframe: Option<String>,
    pub initial_capital: f64,
    pub backend: String,
    pub created_at: DateTime<Utc>,
}

/// A fill or a refused order, as seed 002's `TradeResponse` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FillRow {
    pub id: i64,
    pub timestamp: String,
    pub asset: String,
    /// BUY or SELL.
    pub action: String,
    pub price: f64,
    pub reasoning: String,
    /// 0–100.
    pub confidence: f64,
    pub qty: f64,
    pub commission: f64,
    /// FILLED or REJECTED.
    pub status: String,
    /// entry, exit, end_of_data, or why it was refused.
    pub purpose: String,
    pub bar: i64,
    pub signal_bar: Option<i64>,
}

/// A round trip.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TradeRow {
    pub id: i64,
    /// long or short.
    pub side: String,
    pub qty: f64,
    pub entry_bar: i64,
    pub exit_bar: i64,
    pub entry_time: String,
    pub exit_time: String,
    pub entry_price: f64,
    pub exit_price: f64,
    pub commission: f64,
    pub pnl: f64,
    pub return_pct: f64,
    pub reasoning: String,
    pub confidence: f64,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Finish {
    pub status: String,
    pub error: Option<String>,
    pub note: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub final_value: Option<f64>,
    pub total_return_pct: Option<f64>,
    pub metrics: Option<Value>,
    pub bars: usize,
}

/// Seed 002's `BacktestSummary`, and what else a list shows.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Summary {
    pub id: i64,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub initial_capital: f64,
    pub final_value: Option<f64>,
    pub total_return_pct: Option<f64>,
    pub total_trades: i64,
    pub backend: String,
    pub run_id: String,
    pub mode: String,
    pub strategy: String,
    pub asset: String,
    pub dataset_id: Option<String>,
    pub timeframe: Option<String>,
    pub status: String,
    pub note: Option<String>,
    pub created_at: String,
    /// Bars the run covered.
    pub bars: i64,
}

/// One point of seed 002's equity curve (`btc_price` is the seed's name for the asset's price;
/// `price` says the same for clients that are not about bitcoin).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EquityPoint {
    pub timestamp: String,
    pub portfolio_value: f64,
    pub btc_price: f64,
    pub price: f64,
}

fn storage(e: impl std::fmt::Display) -> DeskError {
    DeskError::Storage(e.to_string())
}

/// Seed 002's timestamps: ISO 8601 without a zone (UTC).
pub fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A stored run: its summary, figures (once finished), params and request.
pub type Stored = (Summary, Option<Value>, Value, Value);

impl BacktestStore {
    /// Opens the database the desk store created. Runs left `running` by the last stop are
    /// marked `interrupted` (and are not listed).
    pub fn open(db: &Path) -> DeskResult<Self> {
        let conn = crate::engine::store::Store::side_connection(db)?;
        let dir = db
            .parent()
            .map(|p| p.join("backtests"))
            .unwrap_or_else(|| PathBuf::from("backtests"));
        let n = conn.execute(
            "UPDATE backtests SET status = 'interrupted', finished_at = ?1,
                error = coalesce(error, 'the server stopped while it ran')
             WHERE status = 'running'",
            params![Utc::now().to_rfc3339()],
        )?;
        if n > 0 {
            tracing::warn!(
                runs = n,
                "backtests cut off by the last stop are marked interrupted"
            );
        }
        Ok(BacktestStore { conn, dir })
    }

    /// Ends run `id` `failed` with `error` if it is still `running` (a result already stored
    /// stays). Whether it was.
    pub fn fail_running(&self, id: i64, error: &str) -> DeskResult<bool> {
        let n = self.conn.execute(
            "UPDATE backtests SET status = 'failed', error = ?2, finished_at = ?3
             WHERE id = ?1 AND status = 'running'",
            params![id, error, Utc::now().to_rfc3339()],
        )?;
        Ok(n > 0)
    }

    pub fn create(&self, r: &NewRun) -> DeskResult<i64> {
        self.conn.execute(
            "INSERT INTO backtests(run_id, mode, strategy, params_json, request_json, dataset_id,
                asset, timeframe, initial_capital, backend, status, created_at)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,'running',?11)",
            params![
                r.run_id,
                r.mode,
                r.strategy,
                r.params.to_string(),
                r.request.to_string(),
                r.dataset_id,
                r.asset,
                r.timeframe,
                r.initial_capital,
                r.backend,
                r.created_at.to_rfc3339(),
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn insert_fill(tx: &Connection, id: i64, f: &FillRow) -> DeskResult<i64> {
        tx.prepare_cached(
            "INSERT INTO backtest_fills(backtest_id, bar, signal_bar, timestamp, asset, action, qty,
                price, commission, status, purpose, reasoning, confidence)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
        )?
        .execute(params![
            id,
            f.bar,
            f.signal_bar,
            f.timestamp,
            f.asset,
            f.action,
            f.qty,
            f.price,
            f.commission,
            f.status,
            f.purpose,
            f.reasoning,
            f.confidence
        ])?;
        Ok(tx.last_insert_rowid())
    }

    /// Removes a run that never started (its start was refused after the row was made).
    pub fn delete(&self, id: i64) -> DeskResult<()> {
        self.conn
            .execute("DELETE FROM backtests WHERE id = ?1", [id])?;
        Ok(())
    }

    /// One fill of a paper run, as it happens; its id.
    pub fn add_fill(&self, id: i64, f: &FillRow) -> DeskResult<i64> {
        Self::insert_fill(&self.conn, id, f)
    }

    /// The run's equity columns, then (in one transaction) its fills, round trips and the row's
    /// outcome. The fills get their ids here, in order.
    pub fn finish(
        &mut self,
        id: i64,
        fin: &Finish,
        fills: &mut [FillRow],
        trades: &[TradeRow],
        curve: Option<(&[i64], &[f64], &[f64])>,
    ) -> DeskResult<()> {
        if let Some((ts, equity, price)) = curve {
            let dir = self.dir.join(id.to_string());
            let write = || -> anyhow::Result<()> {
                std::fs::create_dir_all(&dir)?;
                columnar::write_i64(&dir, "ts.i64", ts)?;
                columnar::write_f64(&dir, "equity.f64", equity)?;
                columnar::write_f64(&dir, "price.f64", price)?;
                Ok(())
            };
            write().map_err(storage)?;
        }
        let tx = self.conn.transaction()?;
        for f in fills.iter_mut() {
            f.id = Self::insert_fill(&tx, id, f)?;
        }
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO backtest_trades(backtest_id, side, qty, entry_bar, exit_bar, entry_time,
                    exit_time, entry_price, exit_price, commission, pnl, return_pct, reasoning, confidence)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
            )?;
            for t in trades {
                put.execute(params![
                    id,
                    t.side,
                    t.qty,
                    t.entry_bar,
                    t.exit_bar,
                    t.entry_time,
                    t.exit_time,
                    t.entry_price,
                    t.exit_price,
                    t.commission,
                    t.pnl,
                    t.return_pct,
                    t.reasoning,
                    t.confidence
                ])?;
            }
        }
        let total: i64 = tx.query_row(
            "SELECT count(*) FROM backtest_fills WHERE backtest_id = ?1 AND status = 'FILLED'",
            [id],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE backtests SET status = ?2, error = ?3, note = ?4, start_date = ?5, end_date = ?6,
                final_value = ?7, total_return_pct = ?8, metrics_json = ?9, bars = ?10,
                total_trades = ?11, finished_at = ?12
             WHERE id = ?1",
            params![
                id,
                fin.status,
                fin.error,
                fin.note,
                fin.start_date,
                fin.end_date,
                fin.final_value,
                fin.total_return_pct,
                fin.metrics.as_ref().map(Value::to_string),
                fin.bars as i64,
                total,
                Utc::now().to_rfc3339(),
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    const SUMMARY: &'static str = "SELECT id, start_date, end_date, initial_capital, final_value,
        total_return_pct, total_trades, backend, run_id, mode, strategy, asset, dataset_id,
        timeframe, status, note, created_at, bars FROM backtests";

    fn summary(r: &rusqlite::Row) -> rusqlite::Result<Summary> {
        Ok(Summary {
            id: r.get(0)?,
            start_date: r.get(1)?,
            end_date: r.get(2)?,
            initial_capital: r.get(3)?,
            final_value: r.get(4)?,
            total_return_pct: r.get(5)?,
            total_trades: r.get(6)?,
            backend: r.get(7)?,
            run_id: r.get(8)?,
            mode: r.get(9)?,
            strategy: r.get(10)?,
            asset: r.get(11)?,
            dataset_id: r.get(12)?,
            timeframe: r.get(13)?,
            status: r.get(14)?,
            note: r.get(15)?,
            created_at: r.get(16)?,
            bars: r.get(17)?,
        })
    }

    /// Finished backtests and paper runs with bars, newest first (a live run's figures are the
    /// desk's, not a backtest's: it is kept, by id, but not listed).
    pub fn list(&self, limit: u32, offset: u32) -> DeskResult<Vec<Summary>> {
        let sql = format!(
            "{} WHERE status IN ('completed', 'stopped') AND mode != 'live' AND bars > 0
             ORDER BY id DESC LIMIT ?1 OFFSET ?2",
            Self::SUMMARY
        );
        let rows = self
            .conn
            .prepare_cached(&sql)?
            .query_map(params![limit, offset], Self::summary)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The row, its figures, its params and the request that made it.
    pub fn get(&self, id: i64) -> DeskResult<Option<Stored>> {
        // the summary's columns, then the three JSON ones, in one query
        let sql = format!(
            "{}, metrics_json, params_json, request_json FROM backtests WHERE id = ?1",
            Self::SUMMARY.trim_end_matches(" FROM backtests")
        );
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        let row = self
            .conn
            .query_row(&sql, [id], |r| {
                let (metrics, params, request): (Option<String>, String, String) =
                    (r.get(18)?, r.get(19)?, r.get(20)?);
                Ok((Self::summary(r)?, metrics, params, request))
            })
            .optional()?;
        Ok(row.map(|(s, metrics, params, request)| {
            (
                s,
                metrics.as_deref().map(parse),
                parse(&params),
                parse(&request),
            )
        }))
    }

    /// The run id's backtest id.
    pub fn id_of(&self, run_id: &str) -> DeskResult<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM backtests WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The run's fills in order, the first `limit` when given.
    pub fn fills(&self, id: i64, limit: Option<usize>) -> DeskResult<Vec<FillRow>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT id, timestamp, asset, action, price, reasoning, confidence, qty, commission,
                    status, purpose, bar, signal_bar
                 FROM backtest_fills WHERE backtest_id = ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![id, limit.map_or(-1, |l| l as i64)], |r| {
                Ok(FillRow {
                    id: r.get(0)?,
                    timestamp: r.get(1)?,
                    asset: r.get(2)?,
                    action: r.get(3)?,
                    price: r.get(4)?,
                    reasoning: r.get(5)?,
                    confidence: r.get(6)?,
                    qty: r.get(7)?,
                    commission: r.get(8)?,
                    status: r.get(9)?,
                    purpose: r.get(10)?,
                    bar: r.get(11)?,
                    signal_bar: r.get(12)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn trades(&self, id: i64) -> DeskResult<Vec<TradeRow>> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT id, side, qty, entry_bar, exit_bar, entry_time, exit_time, entry_price,
                    exit_price, commission, pnl, return_pct, reasoning, confidence
                 FROM backtest_trades WHERE backtest_id = ?1 ORDER BY id",
            )?
            .query_map([id], |r| {
                Ok(TradeRow {
                    id: r.get(0)?,
                    side: r.get(1)?,
                    qty: r.get(2)?,
                    entry_bar: r.get(3)?,
                    exit_bar: r.get(4)?,
                    entry_time: r.get(5)?,
                    exit_time: r.get(6)?,
                    entry_price: r.get(7)?,
                    exit_price: r.get(8)?,
                    commission: r.get(9)?,
                    pnl: r.get(10)?,
                    return_pct: r.get(11)?,
                    reasoning: r.get(12)?,
                    confidence: r.get(13)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The equity curve, at most `max_points` points (the lowest and highest of each stretch
    /// when there are more bars, so no drawdown disappears).
    pub fn curve(&self, id: i64, rows: usize, max_points: usize) -> DeskResult<Vec<EquityPoint>> {
        if rows == 0 {
            return Ok(Vec::new());
        }
        let dir = self.dir.join(id.to_string());
        let read = || -> anyhow::Result<(Vec<i64>, Vec<f64>, Vec<f64>)> {
            Ok((
                columnar::read_i64(&dir, "ts.i64", rows)?,
                columnar::read_f64(&dir, "equity.f64", rows)?,
                columnar::read_f64(&dir, "price.f64", rows)?,
            ))
        };
        let (ts, eq, px) = match read() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(backtest = id, error = %e, "equity curve files missing");
                return Ok(Vec::new());
            }
        };
        Ok(curve_points(&ts, &eq, &px, max_points))
    }
}

/// At most `max` points of the curve (`downsample`), as seed 002 shows them.
pub fn curve_points(ts: &[i64], equity: &[f64], price: &[f64], max: usize) -> Vec<EquityPoint> {
    downsample(equity, max)
        .into_iter()
        .map(|i| EquityPoint {
            timestamp: iso(ts[i]),
            portfolio_value: equity[i],
            btc_price: price[i],
            price: price[i],
        })
        .collect()
}

/// Indices of at most `max` points of `y` (≥ 2): all of them when they fit, else the first,
/// the last, and the lowest and highest of each of `max / 2 − 1` equal stretches between (under
/// 4 points, evenly spread ones).
pub fn downsample(y: &[f64], max: usize) -> Vec<usize> {
    let n = y.len();
    let max = max.max(2);
    if n <= max {
        return (0..n).collect();
    }
    if max < 4 {
        // no room for a low and a high per stretch: evenly spread, the ends included
        return (0..max).map(|k| k * (n - 1) / (max - 1)).collect();
    }
    let buckets = max / 2 - 1;
    let mut out = Vec::with_capacity(max);
    out.push(0);
    let inner = n - 2;
    for b in 0..buckets {
        let lo = 1 + b * inner / buckets;
        let hi = 1 + (b + 1) * inner / buckets;
        if lo >= hi {
            continue;
        }
        let (mut mn, mut mx) = (lo, lo);
        for i in lo..hi {
            if y[i] < y[mn] {
                mn = i;
            }
            if y[i] > y[mx] {
                mx = i;
            }
        }
        out.push(mn.min(mx));
        if mn != mx {
            out.push(mn.max(mx));
        }
    }
    out.push(n - 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_task_ends_a_running_row_and_leaves_a_stored_result() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("desk.sqlite3");
        crate::engine::store::Store::open(&db).unwrap();
        let s = BacktestStore::open(&db).unwrap();
        let new = |run_id: &str| NewRun {
            run_id: run_id.into(),
            mode: "backtest".into(),
            strategy: "sma_cross".into(),
            params: serde_json::json!({}),
            request: serde_json::json!({}),
            dataset_id: None,
            asset: "ES".into(),
            timeframe: None,
            initial_capital: 10_000.0,
            backend: "brickdesk".into(),
            created_at: Utc::now(),
        };
        let running = s.create(&new("a")).unwrap();
        assert!(s.fail_running(running, "internal error").unwrap());
        let (sum, ..) = s.get(running).unwrap().unwrap();
        assert_eq!(sum.status, "failed");
        // once ended, it stays as it ended
        assert!(!s.fail_running(running, "again").unwrap());
    }
}
