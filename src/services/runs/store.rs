//! The run service's own store: a connection of its own to the same database (WAL: its writes
//! never hold the desk's transaction), runs as typed rows, bars and series as columnar files
//! written once per run. A live run only updates its row's progress and comparison.
use crate::engine::datasets::{Bars, columnar};
use crate::engine::error::{DeskError, DeskResult};
use crate::engine::runs::compare::{Series, TradeEvent};
use crate::engine::runs::python::Column;
use crate::engine::runs::{self, Lifecycle, RunData, RunStatus, RunSummary};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub struct RunStore {
    conn: Connection,
    /// `<data dir>/runs`: one folder of columns per run.
    dir: PathBuf,
}

/// What `series.json` lists beside the column files.
#[derive(Serialize, Deserialize)]
struct SeriesIndex {
    rows: usize,
    python: Vec<(String, bool)>,
    pine: Vec<(String, bool, usize)>,
    pine_source: String,
    pine_trades: Vec<TradeEvent>,
    has_bridge: bool,
}

fn storage(e: impl std::fmt::Display) -> DeskError {
    DeskError::Storage(e.to_string())
}

fn json<T: Serialize>(v: &T) -> DeskResult<String> {
    serde_json::to_string(v).map_err(storage)
}

impl RunStore {
    /// Opens the database the desk store created (its migrations made the table), and marks
    /// every run that was running or playing when the process stopped as `interrupted`.
    pub fn open(db: &Path) -> DeskResult<Self> {
        let conn = crate::engine::store::Store::side_connection(db)?;
        let dir = db
            .parent()
            .map(|p| p.join("runs"))
            .unwrap_or_else(|| PathBuf::from("runs"));
        let store = RunStore { conn, dir };
        let n = store.conn.execute(
            "UPDATE parity_runs SET lifecycle = 'interrupted', updated_at = ?1, queue_position = NULL
             WHERE lifecycle IN ('running', 'live')",
            params![Utc::now()],
        )?;
        if n > 0 {
            tracing::warn!(
                runs = n,
                "runs cut off by the last stop are marked interrupted"
            );
        }
        Ok(store)
    }

    /// Inserts or replaces the run's row (not its series).
    pub fn put(&self, st: &RunStatus) -> DeskResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO parity_runs(id, lifecycle, mode, symbol, timeframe, dataset_id,
                    dataset_name, bridge_artifact_id, error, warnings_json, trade_events_json,
                    comparison_json, live_progress, live_total, request_json, created_at, updated_at,
                    queue_position)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)
                 ON CONFLICT(id) DO UPDATE SET lifecycle = excluded.lifecycle, error = excluded.error,
                    warnings_json = excluded.warnings_json, trade_events_json = excluded.trade_events_json,
                    comparison_json = excluded.comparison_json, live_progress = excluded.live_progress,
                    live_total = excluded.live_total, updated_at = excluded.updated_at,
                    queue_position = excluded.queue_position",
            )?
            .execute(params![
                st.run_id,
                st.lifecycle.as_str(),
                st.mode,
                st.symbol,
                st.timeframe,
                st.dataset_id,
                st.dataset_name,
                st.bridge_artifact_id,
                st.error,
                json(&st.warnings)?,
                json(&st.trade_events)?,
                st.comparison.as_ref().map(json).transpose()?,
                st.live_progress as i64,
                st.live_total as i64,
                st.request.as_ref().map(json).transpose()?,
                st.created_at,
                st.updated_at,
                st.queue_position.map(|v| v as i64),
            ])?;
        Ok(())
    }

    /// Writes the run's bars and both sides' series once, as columns.
    pub fn save_series(&self, id: &str, data: &RunData) -> DeskResult<()> {
        let dir = self.dir.join(id);
        let write = || -> anyhow::Result<()> {
            columnar::write(&dir.join("bars"), &data.bars)?;
            for (i, c) in data.python.iter().enumerate() {
                columnar::write_f64(&dir, &format!("python-{i}.f64"), &c.values)?;
            }
            for (i, s) in data.pine.iter().enumerate() {
                columnar::write_i64(&dir, &format!("pine-{i}.i64"), &s.ts)?;
                columnar::write_f64(&dir, &format!("pine-{i}.f64"), &s.values)?;
            }
            let index = SeriesIndex {
                rows: data.bars.len(),
                python: data
                    .python
                    .iter()
                    .map(|c| (c.name.clone(), c.is_bool))
                    .collect(),
                pine: data
                    .pine
                    .iter()
                    .map(|s| (s.name.clone(), s.is_bool, s.ts.len()))
                    .collect(),
                pine_source: data.pine_source.clone(),
                pine_trades: data.pine_trades.clone(),
                has_bridge: data.has_bridge,
            };
            std::fs::write(dir.join("series.json"), serde_json::to_vec(&index)?)?;
            Ok(())
        };
        write().map_err(|e| storage(format!("run {id}: series not written: {e:#}")))?;
        self.conn.execute(
            "UPDATE parity_runs SET series_dir = ?2 WHERE id = ?1",
            params![id, dir.display().to_string()],
        )?;
        Ok(())
    }

    fn load_series(dir: &Path) -> anyhow::Result<RunData> {
        let index: SeriesIndex = serde_json::from_slice(&std::fs::read(dir.join("series.json"))?)?;
        let bars: Bars = columnar::read(&dir.join("bars"))?;
        let python = index
            .python
            .into_iter()
            .enumerate()
            .map(|(i, (name, is_bool))| {
                Ok(Column {
                    name,
                    is_bool,
                    values: columnar::read_f64(dir, &format!("python-{i}.f64"), index.rows)?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let pine = index
            .pine
            .into_iter()
            .enumerate()
            .map(|(i, (name, is_bool, n))| {
                Ok(Series {
                    name,
                    is_bool,
                    ts: columnar::read_i64(dir, &format!("pine-{i}.i64"), n)?,
                    values: columnar::read_f64(dir, &format!("pine-{i}.f64"), n)?,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(RunData {
            bars,
            python,
            pine,
            pine_source: index.pine_source,
            pine_trades: index.pine_trades,
            has_bridge: index.has_bridge,
        })
    }

    /// One run in full: its row, and its bars and series up to its progress.
    /// 404 unless the run has a row.
    pub fn exists(&self, id: &str) -> DeskResult<()> {
        self.conn
            .prepare_cached("SELECT 1 FROM parity_runs WHERE id = ?1")?
            .query_row(params![id], |_| Ok(()))
            .optional()?
            .ok_or_else(|| DeskError::NotFound(format!("unknown run {id}")))
    }

    pub fn get(&self, id: &str) -> DeskResult<RunStatus> {
        let row = self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM parity_runs WHERE id = ?1"))?
            .query_row(params![id], read_row)
            .optional()?
            .ok_or_else(|| DeskError::NotFound(format!("unknown run {id}")))?;
        let (mut st, series_dir, legacy) = row;
        if let Some(legacy) = legacy {
            let mut old: RunStatus = serde_json::from_str(&legacy).map_err(storage)?;
            old.lifecycle = st.lifecycle;
            return Ok(old);
        }
        if let Some(dir) = series_dir {
            let data = Self::load_series(Path::new(&dir))
                .map_err(|e| storage(format!("run {id}: series unreadable: {e:#}")))?;
            let (progress, total) = (st.live_progress, st.live_total);
            runs::fill_series(&mut st, &data, progress);
            st.live_total = total.max(st.live_total);
        }
        Ok(st)
    }

    /// Runs newest first, without bars or series.
    pub fn summaries(&self, limit: u32) -> DeskResult<Vec<RunSummary>> {
        let mut q = self.conn.prepare_cached(
            "SELECT id, lifecycle, dataset_name, live_progress, live_total,
                json_extract(comparison_json, '$.summary.aligned'),
                json_extract(comparison_json, '$.summary.mismatched_series'), error, created_at,
                queue_position
             FROM parity_runs ORDER BY created_at DESC, id LIMIT ?1",
        )?;
        let rows = q.query_map(params![limit], |r| {
            let created: DateTime<Utc> = r.get(8)?;
            Ok(RunSummary {
                run_id: r.get(0)?,
                lifecycle: lifecycle(r, 1)?,
                dataset_name: r.get(2)?,
                live_progress: r.get::<_, i64>(3)? as usize,
                live_total: r.get::<_, i64>(4)? as usize,
                aligned: r.get::<_, Option<i64>>(5)?.map(|v| v != 0),
                mismatched_series: r.get::<_, Option<i64>>(6)?.map(|v| v as usize),
                error: r.get(7)?,
                created_at: created.to_rfc3339(),
                queue_position: r.get::<_, Option<i64>>(9)?.map(|v| v as usize),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const COLS: &str = "id, lifecycle, mode, symbol, timeframe, dataset_id, dataset_name, \
    bridge_artifact_id, error, warnings_json, trade_events_json, comparison_json, live_progress, \
    live_total, request_json, created_at, updated_at, series_dir, legacy_json, queue_position";

fn lifecycle(r: &Row, i: usize) -> rusqlite::Result<Lifecycle> {
    let s: String = r.get(i)?;
    Lifecycle::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown lifecycle {s:?}").into(),
        )
    })
}

fn parsed<T: serde::de::DeserializeOwned>(r: &Row, i: usize) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

type RunRow = (RunStatus, Option<String>, Option<String>);

fn read_row(r: &Row) -> rusqlite::Result<RunRow> {
    let opt_json = |i: usize| -> rusqlite::Result<Option<serde_json::Value>> {
        match r.get::<_, Option<String>>(i)? {
            Some(_) => parsed(r, i).map(Some),
            None => Ok(None),
        }
    };
    let request = match r.get::<_, Option<String>>(14)? {
        Some(_) => Some(parsed(r, 14)?),
        None => None,
    };
    let st = RunStatus {
        run_id: r.get(0)?,
        lifecycle: lifecycle(r, 1)?,
        mode: r.get(2)?,
        symbol: r.get(3)?,
        timeframe: r.get(4)?,
        dataset_id: r.get(5)?,
        dataset_name: r.get(6)?,
        bridge_artifact_id: r.get(7)?,
        candles: Vec::new(),
        python_series: Vec::new(),
        pine_series: Vec::new(),
        trade_events: parsed(r, 10)?,
        comparison: opt_json(11)?,
        warnings: parsed(r, 9)?,
        error: r.get(8)?,
        live_progress: r.get::<_, i64>(12)? as usize,
        live_total: r.get::<_, i64>(13)? as usize,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        request,
        queue_position: r.get::<_, Option<i64>>(19)?.map(|v| v as usize),
    };
    Ok((st, r.get(17)?, r.get(18)?))
}
