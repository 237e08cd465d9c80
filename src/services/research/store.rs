//! The research database (`research.sqlite3` beside the desk's): seed 003's datasets, walk-forward
//! runs, simulations and trades, the job queue, the measurement catalog, and the measurements
//! themselves. A file of its own, so a 10M-row import never holds the desk's write lock.
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

pub const DB_FILE: &str = "research.sqlite3";

const SCHEMA: &[&str] = &[
    // 1
    "CREATE TABLE bd_jobs(
        job_id TEXT PRIMARY KEY, job_type TEXT NOT NULL, status TEXT NOT NULL,
        payload TEXT NOT NULL, progress INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,
        result TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        started_at TEXT, completed_at TEXT, attempts INTEGER NOT NULL DEFAULT 0);
     CREATE INDEX bd_jobs_queue ON bd_jobs(status, created_at);
     CREATE TABLE bd_measurements(
        name TEXT PRIMARY KEY, kind TEXT NOT NULL, row_count INTEGER NOT NULL,
        first_ts INTEGER, last_ts INTEGER, columns TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
     CREATE TABLE bd_datasets(
        dataset_id TEXT PRIMARY KEY, dataset_slug TEXT NOT NULL UNIQUE, symbol TEXT,
        granularity TEXT, source TEXT, ohlcv_measurement TEXT, indicator_measurement TEXT,
        metadata TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
     CREATE TABLE bd_runs(
        run_id TEXT PRIMARY KEY, dataset_id TEXT NOT NULL, fold_count INTEGER NOT NULL,
        features TEXT NOT NULL, thresholds TEXT NOT NULL, created_at TEXT NOT NULL);
     CREATE INDEX bd_runs_dataset ON bd_runs(dataset_id, created_at);
     CREATE TABLE bd_simulations(
        simulation_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, initial_capital REAL NOT NULL,
        parameters TEXT NOT NULL, results TEXT NOT NULL, created_at TEXT NOT NULL);
     CREATE INDEX bd_simulations_run ON bd_simulations(run_id, created_at);
     CREATE TABLE bd_trades(
        simulation_id TEXT NOT NULL, seq INTEGER NOT NULL, trade_id TEXT NOT NULL,
        bar_timestamp INTEGER, side TEXT NOT NULL, size REAL NOT NULL, entry_price REAL,
        exit_price REAL, pnl REAL, return_pct REAL, metadata TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY(simulation_id, seq));",
];

/// Opens (creating and migrating) the research database for writing.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = crate::engine::store::Store::side_connection(path)?;
    // two workers' batches may hold the write lock in turn: wait longer than the desk's 5 s
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    // 64 MiB of pages: an import's batch never spills mid-transaction
    conn.pragma_update(None, "cache_size", -65536)?;
    crate::engine::store::migrate(&mut conn, SCHEMA)?;
    Ok(conn)
}

/// Seed 003's times: `2025-11-10T01:30:00Z` on datasets, runs and simulations.
pub fn now_z() -> String {
    crate::services::backtest::views::iso_z(chrono::Utc::now())
}

/// The job's times, as seed 003 shows them (`2025-11-10T01:30:00`, UTC).
pub fn now_plain() -> String {
    crate::services::backtest::store::iso(chrono::Utc::now().timestamp_millis())
}

fn json_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

fn parse_json(s: String) -> Value {
    serde_json::from_str(&s).unwrap_or(Value::Null)
}

// ---- jobs ----

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Job {
    pub job_id: String,
    pub job_type: String,
    pub status: String,
    pub payload: String,
    pub progress: i64,
    pub total: i64,
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

const JOB_COLUMNS: &str = "job_id, job_type, status, payload, progress, total, result, error,
    created_at, updated_at, started_at, completed_at";

fn job_row(r: &rusqlite::Row) -> rusqlite::Result<Job> {
    Ok(Job {
        job_id: r.get(0)?,
        job_type: r.get(1)?,
        status: r.get(2)?,
        payload: r.get(3)?,
        progress: r.get(4)?,
        total: r.get(5)?,
        result: r.get(6)?,
        error: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        started_at: r.get(10)?,
        completed_at: r.get(11)?,
    })
}

pub fn insert_job(
    conn: &Connection,
    id: &str,
    kind: &str,
    payload: &Value,
) -> rusqlite::Result<Job> {
    let now = now_plain();
    // the row as inserted: a worker may claim it before anyone reads it back
    conn.query_row(
        &format!(
            "INSERT INTO bd_jobs(job_id, job_type, status, payload, created_at, updated_at)
             VALUES (?1, ?2, 'PENDING', ?3, ?4, ?4) RETURNING {JOB_COLUMNS}"
        ),
        params![id, kind, json_text(payload), now],
        job_row,
    )
}

pub fn get_job(conn: &Connection, id: &str) -> rusqlite::Result<Option<Job>> {
    conn.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM bd_jobs WHERE job_id = ?1"),
        [id],
        job_row,
    )
    .optional()
}

/// Newest first; `(page, all matching)`.
pub fn list_jobs(
    conn: &Connection,
    kind: Option<&str>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<Job>, i64)> {
    let page = conn
        .prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM bd_jobs WHERE ?1 IS NULL OR job_type = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(params![kind, limit, offset], job_row)?
        .collect::<rusqlite::Result<_>>()?;
    let all = conn.query_row(
        "SELECT count(*) FROM bd_jobs WHERE ?1 IS NULL OR job_type = ?1",
        [kind],
        |r| r.get(0),
    )?;
    Ok((page, all))
}

// ---- datasets (seed 003's fields; the bars are the desk's datasets) ----

/// Seed 003's own fields of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetRow {
    pub dataset_id: String,
    pub dataset_slug: String,
    pub symbol: Option<String>,
    pub granularity: Option<String>,
    pub source: Option<String>,
    pub ohlcv_measurement: Option<String>,
    pub indicator_measurement: Option<String>,
    pub metadata: Value,
    pub created_at: String,
}

const DATASET: &str = "SELECT dataset_id, dataset_slug, symbol, granularity, source,
    ohlcv_measurement, indicator_measurement, metadata, created_at FROM bd_datasets";

fn dataset_row(r: &rusqlite::Row) -> rusqlite::Result<DatasetRow> {
    Ok(DatasetRow {
        dataset_id: r.get(0)?,
        dataset_slug: r.get(1)?,
        symbol: r.get(2)?,
        granularity: r.get(3)?,
        source: r.get(4)?,
        ohlcv_measurement: r.get(5)?,
        indicator_measurement: r.get(6)?,
        metadata: parse_json(r.get(7)?),
        created_at: r.get(8)?,
    })
}

pub fn datasets(conn: &Connection) -> rusqlite::Result<Vec<DatasetRow>> {
    conn.prepare_cached(&format!("{DATASET} ORDER BY created_at, dataset_id"))?
        .query_map([], dataset_row)?
        .collect()
}

pub fn dataset(conn: &Connection, id: &str) -> rusqlite::Result<Option<DatasetRow>> {
    conn.query_row(
        &format!("{DATASET} WHERE dataset_id = ?1"),
        [id],
        dataset_row,
    )
    .optional()
}

pub fn dataset_by_slug(conn: &Connection, slug: &str) -> rusqlite::Result<Option<DatasetRow>> {
    conn.query_row(
        &format!("{DATASET} WHERE dataset_slug = ?1 COLLATE NOCASE"),
        [slug],
        dataset_row,
    )
    .optional()
}

/// Creates or replaces a dataset's seed 003 fields (its first `created_at` kept).
pub fn upsert_dataset(conn: &Connection, d: &DatasetRow) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO bd_datasets(dataset_id, dataset_slug, symbol, granularity, source,
            ohlcv_measurement, indicator_measurement, metadata, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
         ON CONFLICT(dataset_id) DO UPDATE SET dataset_slug = ?2, symbol = ?3, granularity = ?4,
            source = ?5, ohlcv_measurement = ?6, indicator_measurement = ?7, metadata = ?8,
            updated_at = ?9",
        params![
            d.dataset_id,
            d.dataset_slug,
            d.symbol,
            d.granularity,
            d.source,
            d.ohlcv_measurement,
            d.indicator_measurement,
            json_text(&d.metadata),
            d.created_at
        ],
    )?;
    Ok(())
}

/// A slug for `name` no other dataset (nor measurement) has: lower-case letters, digits and `_`.
pub fn free_slug(conn: &Connection, name: &str) -> rusqlite::Result<String> {
    let stem = name
        .rsplit_once('.')
        .filter(|(_, ext)| {
            matches!(
                ext.to_ascii_lowercase().as_str(),
                "csv" | "xlsx" | "xls" | "txt"
            )
        })
        .map_or(name, |(stem, _)| stem);
    let mut base: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    base = base.trim_matches('_').to_string();
    while base.contains("__") {
        base = base.replace("__", "_");
    }
    base.truncate(48);
    if base.is_empty() || base.starts_with("bd_") || base.starts_with("sqlite") {
        base = format!("ds_{base}");
    }
    let taken = |s: &str| -> rusqlite::Result<bool> {
        Ok(dataset_by_slug(conn, s)?.is_some()
            || super::measure::exists(conn, &format!("{s}_ohlcv"))?
            || super::measure::exists(conn, &format!("{s}_indicators"))?)
    };
    let mut slug = base.clone();
    let mut n = 2;
    while taken(&slug)? {
        slug = format!("{base}_{n}");
        n += 1;
    }
    Ok(slug)
}

// ---- walk-forward runs ----

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub dataset_id: String,
    pub fold_count: i64,
    pub features: Value,
    pub thresholds: Value,
    pub created_at: String,
}

const RUN: &str =
    "SELECT run_id, dataset_id, fold_count, features, thresholds, created_at FROM bd_runs";

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        run_id: r.get(0)?,
        dataset_id: r.get(1)?,
        fold_count: r.get(2)?,
        features: parse_json(r.get(3)?),
        thresholds: parse_json(r.get(4)?),
        created_at: r.get(5)?,
    })
}

pub fn insert_run(conn: &Connection, run: &RunRow) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO bd_runs(run_id, dataset_id, fold_count, features, thresholds, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            run.run_id,
            run.dataset_id,
            run.fold_count,
            json_text(&run.features),
            json_text(&run.thresholds),
            run.created_at
        ],
    )?;
    Ok(())
}

pub fn run(conn: &Connection, id: &str) -> rusqlite::Result<Option<RunRow>> {
    conn.query_row(&format!("{RUN} WHERE run_id = ?1"), [id], run_row)
        .optional()
}

/// Newest first, of one dataset or all; `(page, all matching)`.
pub fn runs(
    conn: &Connection,
    dataset: Option<&str>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<RunRow>, i64)> {
    let page = conn
        .prepare_cached(&format!(
            "{RUN} WHERE ?1 IS NULL OR dataset_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(params![dataset, limit, offset], run_row)?
        .collect::<rusqlite::Result<_>>()?;
    let all = conn.query_row(
        "SELECT count(*) FROM bd_runs WHERE ?1 IS NULL OR dataset_id = ?1",
        [dataset],
        |r| r.get(0),
    )?;
    Ok((page, all))
}

// ---- simulations and their trades ----

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulationRow {
    pub simulation_id: String,
    pub run_id: String,
    pub initial_capital: f64,
    pub parameters: Value,
    pub results: Value,
    pub created_at: String,
}

const SIMULATION: &str = "SELECT simulation_id, run_id, initial_capital, parameters, results,
    created_at FROM bd_simulations";

fn simulation_row(r: &rusqlite::Row) -> rusqlite::Result<SimulationRow> {
    Ok(SimulationRow {
        simulation_id: r.get(0)?,
        run_id: r.get(1)?,
        initial_capital: r.get(2)?,
        parameters: parse_json(r.get(3)?),
        results: parse_json(r.get(4)?),
        created_at: r.get(5)?,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeRow {
    pub trade_id: String,
    pub simulation_id: String,
    pub bar_timestamp: Option<i64>,
    pub side: String,
    pub size: f64,
    pub entry_price: Option<f64>,
    pub exit_price: Option<f64>,
    pub pnl: Option<f64>,
    pub return_pct: Option<f64>,
    pub metadata: Value,
}

/// A simulation and its trades, in one transaction.
pub fn insert_simulation(
    conn: &mut Connection,
    sim: &SimulationRow,
    trades: &[TradeRow],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO bd_simulations(simulation_id, run_id, initial_capital, parameters, results, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            sim.simulation_id,
            sim.run_id,
            sim.initial_capital,
            json_text(&sim.parameters),
            json_text(&sim.results),
            sim.created_at
        ],
    )?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO bd_trades(simulation_id, seq, trade_id, bar_timestamp, side, size,
                entry_price, exit_price, pnl, return_pct, metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for (i, t) in trades.iter().enumerate() {
            stmt.execute(params![
                sim.simulation_id,
                i as i64,
                t.trade_id,
                t.bar_timestamp,
                t.side,
                t.size,
                t.entry_price,
                t.exit_price,
                t.pnl,
                t.return_pct,
                json_text(&t.metadata)
            ])?;
        }
    }
    tx.commit()
}

pub fn simulation(conn: &Connection, id: &str) -> rusqlite::Result<Option<SimulationRow>> {
    conn.query_row(
        &format!("{SIMULATION} WHERE simulation_id = ?1"),
        [id],
        simulation_row,
    )
    .optional()
}

pub fn simulations(
    conn: &Connection,
    run: Option<&str>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<SimulationRow>, i64)> {
    let page = conn
        .prepare_cached(&format!(
            "{SIMULATION} WHERE ?1 IS NULL OR run_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(params![run, limit, offset], simulation_row)?
        .collect::<rusqlite::Result<_>>()?;
    let all = conn.query_row(
        "SELECT count(*) FROM bd_simulations WHERE ?1 IS NULL OR run_id = ?1",
        [run],
        |r| r.get(0),
    )?;
    Ok((page, all))
}

/// A simulation's trades in the order they were given; `(page, all)`.
pub fn trades(
    conn: &Connection,
    sim: &str,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<(Vec<TradeRow>, i64)> {
    let page = conn
        .prepare_cached(
            "SELECT trade_id, simulation_id, bar_timestamp, side, size, entry_price, exit_price,
                pnl, return_pct, metadata FROM bd_trades WHERE simulation_id = ?1
             ORDER BY seq LIMIT ?2 OFFSET ?3",
        )?
        .query_map(params![sim, limit, offset], |r| {
            Ok(TradeRow {
                trade_id: r.get(0)?,
                simulation_id: r.get(1)?,
                bar_timestamp: r.get(2)?,
                side: r.get(3)?,
                size: r.get(4)?,
                entry_price: r.get(5)?,
                exit_price: r.get(6)?,
                pnl: r.get(7)?,
                return_pct: r.get(8)?,
                metadata: parse_json(r.get(9)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let all = conn.query_row(
        "SELECT count(*) FROM bd_trades WHERE simulation_id = ?1",
        [sim],
        |r| r.get(0),
    )?;
    Ok((page, all))
}
