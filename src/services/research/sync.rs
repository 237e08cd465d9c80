//! One set of datasets for both surfaces (SPEC §5): a dataset imported through seed 000 gets its
//! measurements as it is saved (`ingest`); the two jobs here cover the rest.
//! - `dataset_register`: a seed 003 dataset whose OHLCV measurement holds bars becomes a desk
//!   dataset (columnar files written from the table, then registered), so runs and backtests
//!   can use it. Queued when such a dataset is saved, and when its measurement is imported.
//! - `dataset_measurement`: a desk dataset from before research existed gets its measurements,
//!   from its columnar files. Queued once, at start.
use super::jobs::{Report, Stop};
use super::{ingest, measure, store};
use crate::engine::datasets::{self, Bars, DatasetMeta, columnar};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

pub const REGISTER: &str = "dataset_register";
pub const MEASURE: &str = "dataset_measurement";

/// Registers (or re-registers) a dataset with the desk; the workers call it, off the runtime.
pub type Registrar = Arc<dyn Fn(DatasetMeta) -> Result<DatasetMeta, String> + Send + Sync>;

/// What the workers need besides their connection.
pub struct Ctx {
    /// Where datasets' columnar files go.
    pub data_dir: PathBuf,
    pub registrar: Option<Registrar>,
}

/// Queues `dataset_register` for every seed 003 dataset whose OHLCV measurement is
/// `measurement`, when that measurement exists (and the dataset has none PENDING). Returns how
/// many were queued.
pub fn queue_register(conn: &Connection, measurement: &str) -> rusqlite::Result<usize> {
    if !measure::exists(conn, measurement)? {
        return Ok(0);
    }
    // a dataset with a register job still PENDING gets none more (that one reads the bars)
    let ids: Vec<String> = conn
        .prepare(
            "SELECT dataset_id FROM bd_datasets d WHERE ohlcv_measurement = ?1
             AND NOT EXISTS (SELECT 1 FROM bd_jobs WHERE job_type = ?2 AND status = 'PENDING'
                             AND json_extract(payload, '$.dataset_id') = d.dataset_id)",
        )?
        .query_map(params![measurement, REGISTER], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &ids {
        store::insert_job(
            conn,
            &uuid::Uuid::new_v4().to_string(),
            REGISTER,
            &json!({ "dataset_id": id, "measurement": measurement }),
        )?;
    }
    Ok(ids.len())
}

/// Queues `dataset_measurement` for each desk dataset with no measurement yet (and no such job
/// queued already).
pub fn queue_backfill(conn: &Connection, desk: &[DatasetMeta]) -> rusqlite::Result<usize> {
    let queued: std::collections::HashSet<String> = conn
        .prepare(
            "SELECT json_extract(payload, '$.dataset_id') FROM bd_jobs
             WHERE job_type = ?1 AND status IN ('PENDING', 'RUNNING')",
        )?
        .query_map([MEASURE], |r| r.get::<_, Option<String>>(0))?
        .filter_map(|r| r.transpose())
        .collect::<rusqlite::Result<_>>()?;
    let mut n = 0;
    for d in desk {
        let has = store::dataset(conn, &d.dataset_id)?
            .and_then(|r| r.ohlcv_measurement)
            .map(|m| measure::exists(conn, &m))
            .transpose()?
            .unwrap_or(false);
        let columnar = std::path::Path::new(&d.data_path)
            .join("meta.json")
            .exists();
        if has || queued.contains(&d.dataset_id) || !columnar {
            continue;
        }
        let meta = serde_json::to_value(d).unwrap_or(Value::Null);
        store::insert_job(
            conn,
            &uuid::Uuid::new_v4().to_string(),
            MEASURE,
            &json!({ "dataset_id": d.dataset_id, "dataset": meta }),
        )?;
        n += 1;
    }
    Ok(n)
}

/// `dataset_measurement`: the desk dataset's columnar bars written as its measurements.
pub fn measure(report: &mut Report, payload: &Value) -> Result<(), Stop> {
    let job_id = report.job_id;
    let meta: DatasetMeta = serde_json::from_value(payload["dataset"].clone())
        .map_err(|e| Stop::Failed(format!("the job's dataset is unreadable: {e}")))?;
    let bars = columnar::read(std::path::Path::new(&meta.data_path))
        .map_err(|e| Stop::Failed(format!("dataset {} cannot be read: {e:#}", meta.dataset_id)))?;
    {
        let tx = report.begin()?;
        super::jobs::progress(&tx, job_id, 0, bars.len() as i64)?;
        tx.commit()?;
    }
    let row = ingest::attach_bars(report.conn, &meta, &bars)
        .map_err(|e| Stop::Failed(format!("{e:#}")))?;
    let tx = report.begin()?;
    super::jobs::progress(&tx, job_id, bars.len() as i64, bars.len() as i64)?;
    let result = json!({
        "success": true,
        "message": format!("{} bars written as {}", bars.len(), row.ohlcv_measurement.unwrap_or_default()),
        "dataset_id": meta.dataset_id,
    });
    if !super::jobs::complete(&tx, job_id, &result)? {
        return Err(Stop::Cancelled);
    }
    tx.commit()?;
    Ok(())
}

/// The column of `cols` named `name` (any case).
fn col(cols: &[String], name: &str) -> Option<String> {
    cols.iter().find(|c| c.eq_ignore_ascii_case(name)).cloned()
}

/// `dataset_register`: the measurement's bars written as columnar files and registered with the
/// desk under the seed 003 dataset's id.
pub fn register(report: &mut Report, ctx: &Ctx, payload: &Value) -> Result<(), Stop> {
    let job_id = report.job_id;
    let id = payload["dataset_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let registrar = ctx
        .registrar
        .clone()
        .ok_or_else(|| Stop::Failed("no desk to register datasets with".into()))?;
    let row = store::dataset(report.conn, &id)?
        .ok_or_else(|| Stop::Failed(format!("dataset {id} is gone")))?;
    let m = row
        .ohlcv_measurement
        .clone()
        .ok_or_else(|| Stop::Failed(format!("dataset {id} names no ohlcv_measurement")))?;
    let cols = measure::table_columns(report.conn, &m)?;
    let close = col(&cols, "close").ok_or_else(|| {
        Stop::Failed(format!(
            "measurement {m} has no close column (columns: {})",
            cols.join(", ")
        ))
    })?;
    let pick = |name: &str, default: &str| {
        col(&cols, name).map_or_else(|| default.to_string(), |c| measure::quoted(&c))
    };
    let q = measure::quoted(&close);
    let sql = format!(
        "SELECT timestamp, {o}, {h}, {l}, {q}, {v} FROM {t} WHERE {q} IS NOT NULL ORDER BY timestamp",
        o = pick("open", &q),
        h = pick("high", &q),
        l = pick("low", &q),
        v = pick("volume", "0"),
        t = measure::quoted(&m)
    );
    let total: i64 = measure::get(report.conn, &m)?.map_or(0, |i| i.row_count);
    let dir = ctx
        .data_dir
        .join("datasets")
        .join(format!("{id}.{}", chrono::Utc::now().timestamp_millis()));
    let mut cols_out =
        columnar::ColumnWriter::create(&dir).map_err(|e| Stop::Failed(format!("{e:#}")))?;
    let written = (|| -> Result<usize, Stop> {
        let mut stmt = report.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut b = Bars::default();
        let mut last = i64::MIN;
        let mut n = 0usize;
        while let Some(r) = rows.next()? {
            let us: Option<i64> = r.get(0)?;
            let vals: [Option<f64>; 5] = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?];
            let Some(us) = us else { continue };
            let ms = us.div_euclid(1000);
            if ms <= last || vals[3].is_none_or(|c| !c.is_finite()) {
                continue;
            }
            last = ms;
            let c = vals[3].unwrap_or(f64::NAN);
            b.ts.push(ms);
            b.open.push(vals[0].unwrap_or(c));
            b.high.push(vals[1].unwrap_or(c));
            b.low.push(vals[2].unwrap_or(c));
            b.close.push(c);
            b.volume.push(vals[4].unwrap_or(0.0));
            if b.len() == 100_000 {
                // still wanted? (a cancel or a stop ends it here, its folder removed below)
                report.check()?;
                cols_out
                    .push(&b.ts, [&b.open, &b.high, &b.low, &b.close, &b.volume])
                    .map_err(|e| Stop::Failed(format!("{e:#}")))?;
                n += b.len();
                b = Bars::default();
            }
        }
        cols_out
            .push(&b.ts, [&b.open, &b.high, &b.low, &b.close, &b.volume])
            .map_err(|e| Stop::Failed(format!("{e:#}")))?;
        Ok(n + b.len())
    })();
    let written = match written {
        Ok(0) => Err(Stop::Failed(format!(
            "measurement {m} has no bar with a timestamp and a close"
        ))),
        other => other,
    };
    let finished = written.and_then(|n| {
        cols_out
            .finish()
            .map(|_| n)
            .map_err(|e| Stop::Failed(format!("{e:#}")))
    });
    let n = match finished {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let meta = DatasetMeta {
        dataset_id: id.clone(),
        name: row.dataset_slug.clone(),
        symbol: row.symbol.clone(),
        timeframe: row.granularity.clone(),
        timezone: Some("UTC".into()),
        row_count: n,
        columns: datasets::COLUMNS.iter().map(|c| c.to_string()).collect(),
        data_path: dir.display().to_string(),
        source_type: "measurement".into(),
        source_path: Some(m.clone()),
        validation_issues: Vec::new(),
        created_at: chrono::Utc::now(),
    };
    // the desk's row first: a job cancelled now leaves a registered dataset, never a half one
    let meta = registrar(meta).map_err(Stop::Failed)?;
    let tx = report.begin()?;
    super::jobs::progress(&tx, job_id, total.max(n as i64), total.max(n as i64))?;
    let result = json!({
        "success": true,
        "message": format!("dataset {id} registered with the desk: {n} bars from {m}"),
        "dataset_id": id,
        "data_path": meta.data_path,
    });
    if !super::jobs::complete(&tx, job_id, &result)? {
        return Err(Stop::Cancelled);
    }
    tx.commit()?;
    Ok(())
}
