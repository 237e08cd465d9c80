//! Datasets into measurements. A dataset's bars are its `<slug>_ohlcv` measurement (timestamp in
//! µs as the primary key) with a `<slug>_indicators` view over it, beside the columnar files the
//! runs and backtests read. `csv` is the streaming import (`brickdesk import`): batches are
//! parsed on one thread while the last is validated and written on this one, so memory stays
//! flat whatever the file's size; the validation issues are the in-memory import's.
use super::measure::{self, Staging};
use super::store::{self, DatasetRow};
use crate::engine::datasets::{
    self, Bars, DatasetMeta, SourceConfig, ValidationIssue, columnar, files, source, stream,
};
use rusqlite::Connection;
use serde_json::json;
use std::path::Path;

/// The columns of a dataset's OHLCV measurement.
pub const OHLCV: [&str; 6] = ["timestamp", "open", "high", "low", "close", "volume"];

/// The staging table of dataset `id`'s bars.
fn staging_for(id: &str) -> String {
    format!("{}ds_{}", measure::STAGING_PREFIX, id.replace('-', "_"))
}

fn bars_staging(conn: &Connection, id: &str) -> rusqlite::Result<Staging> {
    let cols: Vec<(String, &'static str)> = OHLCV
        .iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), if i == 0 { "INTEGER" } else { "REAL" }))
        .collect();
    Staging::create(conn, &staging_for(id), &cols, true)
}

/// Makes the staging table the dataset's OHLCV measurement (replacing an older one), with its
/// indicator view, and records the dataset's seed 003 row, in one transaction.
fn publish(conn: &mut Connection, st: &Staging, meta: &DatasetMeta) -> anyhow::Result<DatasetRow> {
    // IMMEDIATE: it reads before it writes, and a read transaction cannot wait to write in WAL
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let slug = match store::dataset(&tx, &meta.dataset_id)? {
        Some(r) => r.dataset_slug,
        None => store::free_slug(&tx, &meta.name)?,
    };
    let (ohlcv, ind) = (format!("{slug}_ohlcv"), format!("{slug}_indicators"));
    tx.execute_batch(&format!(
        "DROP VIEW IF EXISTS {}; DROP TABLE IF EXISTS {};",
        measure::quoted(&ind),
        measure::quoted(&ohlcv)
    ))?;
    let now = store::now_z();
    let info = st.publish(&tx, &ohlcv, &now).map_err(anyhow::Error::msg)?;
    measure::create_indicator_view(&tx, &ind, &ohlcv)?;
    let cols: Vec<String> = measure::INDICATOR_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .collect();
    let view = measure::MeasurementInfo {
        name: ind.clone(),
        kind: "view".into(),
        columns: cols,
        ..info
    };
    measure::record(&tx, &view)?;
    let row = DatasetRow {
        dataset_id: meta.dataset_id.clone(),
        dataset_slug: slug,
        symbol: meta.symbol.clone(),
        granularity: meta.timeframe.clone(),
        source: Some(meta.source_type.clone()),
        ohlcv_measurement: Some(ohlcv),
        indicator_measurement: Some(ind),
        metadata: json!({ "name": meta.name, "timezone": meta.timezone }),
        created_at: crate::services::backtest::views::iso_z(meta.created_at),
    };
    store::upsert_dataset(&tx, &row)?;
    tx.commit()?;
    Ok(row)
}

/// Writes bars already in memory (seed 000's save, a provider's bars, a dataset from before
/// research existed) as the dataset's measurements.
pub fn attach_bars(
    conn: &mut Connection,
    meta: &DatasetMeta,
    bars: &Bars,
) -> anyhow::Result<DatasetRow> {
    let mut st = bars_staging(conn, &meta.dataset_id)?;
    let row = (|| {
        for start in (0..bars.len()).step_by(100_000) {
            let tx = conn.transaction()?;
            st.insert_bars(
                &tx,
                &bars.ts,
                [&bars.open, &bars.high, &bars.low, &bars.close, &bars.volume],
                start..(start + 100_000).min(bars.len()),
            )?;
            tx.commit()?;
        }
        publish(conn, &st, meta)
    })();
    if row.is_err() {
        // a failed batch or publish: its staging table goes now, not at the next start
        let _ = conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS {}",
            measure::quoted(&st.table)
        ));
    }
    row
}

/// The in-memory import's checks, made as the batches pass.
struct Checks {
    ts_name: Option<String>,
    names: [Option<String>; 5],
    bad_ts: (usize, Vec<usize>),
    bad_cells: [(usize, Vec<usize>); 5],
    backwards: (usize, Option<usize>),
    dups: (usize, Vec<usize>),
    inverted: (usize, Vec<usize>),
    gaps: (usize, Vec<usize>),
    median: Option<i64>,
    last: Option<i64>,
}

fn note(slot: &mut (usize, Vec<usize>), row: usize) {
    slot.0 += 1;
    if slot.1.len() < 5 {
        slot.1.push(row);
    }
}

impl Checks {
    /// The rows of a batch that become bars (`offset`: the batch's first data row).
    fn keep(&mut self, l: &source::Loaded, offset: usize) -> Vec<usize> {
        let n = l.ts.len();
        if self.median.is_none() {
            let mut steps: Vec<i64> =
                l.ts.windows(2)
                    .map(|w| w[1] - w[0])
                    .filter(|d| *d > 0)
                    .collect();
            if steps.len() > 1 {
                let mid = steps.len() / 2;
                self.median = Some(*steps.select_nth_unstable(mid).1);
            }
        }
        let mut keep = Vec::with_capacity(n);
        'rows: for i in 0..n {
            let row = offset + i;
            if l.ts[i] == source::BAD_TS {
                note(&mut self.bad_ts, row);
                continue;
            }
            let mut bad = false;
            for (k, col) in l.fields.iter().enumerate() {
                if let Some(col) = col
                    && !col.get(i).is_some_and(|v| v.is_finite())
                {
                    note(&mut self.bad_cells[k], row);
                    bad = true;
                }
            }
            if bad {
                continue 'rows;
            }
            let t = l.ts[i];
            if let Some(prev) = self.last {
                if t == prev {
                    note(&mut self.dups, row);
                    continue;
                }
                if t < prev {
                    self.backwards.0 += 1;
                    self.backwards.1.get_or_insert(row);
                } else if let Some(m) = self.median.filter(|m| *m > 0)
                    && t - prev > m * 3
                {
                    note(&mut self.gaps, row);
                }
            }
            self.last = Some(t);
            if let (Some(h), Some(lo)) = (&l.fields[1], &l.fields[2])
                && h[i] < lo[i]
            {
                note(&mut self.inverted, row);
            }
            keep.push(i);
        }
        keep
    }

    fn issues(&self, close_only: bool, ignored: usize) -> Vec<ValidationIssue> {
        let mut out = Vec::new();
        let ts = self.ts_name.as_deref();
        if self.bad_ts.0 > 0 {
            out.push(ValidationIssue::unparseable_timestamps(
                ts,
                &self.bad_ts.1,
                self.bad_ts.0,
            ));
        }
        for (k, (n, rows)) in self.bad_cells.iter().enumerate() {
            if *n > 0 {
                out.push(ValidationIssue::non_numeric_cells(
                    self.names[k].as_deref(),
                    rows,
                    *n,
                ));
            }
        }
        if let (n @ 1.., Some(first)) = self.backwards {
            out.push(ValidationIssue::unsorted_timestamps(ts, first, n));
        }
        let dups = self.dups.0 + ignored;
        if dups > 0 {
            out.push(ValidationIssue::duplicate_timestamps(
                ts,
                &self.dups.1,
                dups,
            ));
        }
        if self.inverted.0 > 0 {
            out.push(ValidationIssue::high_below_low(
                self.names[1].as_deref(),
                &self.inverted.1,
                self.inverted.0,
            ));
        }
        if self.gaps.0 > 0 && self.backwards.0 == 0 {
            out.push(ValidationIssue::gaps(
                ts,
                &self.gaps.1,
                self.gaps.0,
                self.median.unwrap_or(0),
            ));
        }
        if close_only {
            out.push(ValidationIssue::close_only());
        }
        out
    }
}

/// What a streaming import made: the prepared source (sample, mapping, issues) and the dataset,
/// persisted with its measurements but not yet registered with the desk.
pub type Ingested = (datasets::Prepared, Option<DatasetMeta>);

/// Imports a CSV source a batch at a time into its columnar files and its measurements;
/// `progress(rows read, rows in the file)`. Other formats are read whole (`load_planned`).
pub fn csv(
    research_db: &Path,
    data_dir: &Path,
    cfg: &SourceConfig,
    policy: &files::FilePolicy,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Ingested> {
    let (mut p, plan) = datasets::plan(cfg, policy)?;
    let Some(plan) = plan else {
        return Ok((p, None));
    };
    let mut conn = store::open(research_db)?;
    if plan.format != source::Format::Csv {
        let p = datasets::load_planned(p, plan)?;
        if p.bars.is_none() {
            return Ok((p, None));
        }
        let meta = datasets::persist(data_dir, cfg, &p, chrono::Utc::now())?;
        if let Err(e) = attach_bars(&mut conn, &meta, p.bars.as_ref().expect("checked")) {
            let _ = std::fs::remove_dir_all(&meta.data_path);
            return Err(e);
        }
        return Ok((p, Some(meta)));
    }
    let id = datasets::new_dataset_id();
    let dir = data_dir.join("datasets").join(&id);
    let made = stream_in(&mut conn, &mut p, &plan, &id, &dir, progress).and_then(|st| {
        let Some(st) = st else { return Ok(None) };
        let meta = DatasetMeta {
            dataset_id: id.clone(),
            name: cfg.name.clone(),
            symbol: cfg.symbol.clone(),
            timeframe: cfg.timeframe.clone(),
            timezone: cfg.timezone.clone(),
            row_count: st.rows as usize,
            columns: datasets::COLUMNS.iter().map(|c| c.to_string()).collect(),
            data_path: dir.display().to_string(),
            source_type: p.format.as_str().into(),
            source_path: cfg.file_path.clone(),
            validation_issues: p.issues.clone(),
            created_at: chrono::Utc::now(),
        };
        publish(&mut conn, &st, &meta)?;
        Ok(Some(meta))
    });
    match made {
        Ok(Some(meta)) => Ok((p, Some(meta))),
        Ok(None) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok((p, None))
        }
        Err(e) => {
            // a failed stream or publish: its folder and its own staging table go (only its own:
            // the server's imports may be running beside it)
            let _ = std::fs::remove_dir_all(&dir);
            let own = measure::quoted(&staging_for(&id));
            let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {own}"));
            Err(e)
        }
    }
}

/// Streams the file into a staging table and the columnar files; None when no row is a bar.
fn stream_in(
    conn: &mut Connection,
    p: &mut datasets::Prepared,
    plan: &datasets::Plan,
    id: &str,
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Option<Staging>> {
    let idx = plan.idx;
    let (ts, fields) = (
        idx[0].expect("planned"),
        [idx[1], idx[2], idx[3], idx[4], idx[5]],
    );
    let (width, tz) = (plan.width, p.timezone);
    let batches = stream::CsvBatches::open(plan.file.file.try_clone()?, stream::BATCH_BYTES)?;
    let size = batches.size;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let mut st = bars_staging(conn, id)?;
    let mut cols = columnar::ColumnWriter::create(dir)?;
    let m = &p.mapping;
    let mut checks = Checks {
        ts_name: m.timestamp.clone(),
        names: [
            m.open.clone(),
            m.high.clone(),
            m.low.clone(),
            m.close.clone(),
            m.volume.clone(),
        ],
        bad_ts: (0, vec![]),
        bad_cells: Default::default(),
        backwards: (0, None),
        dups: (0, vec![]),
        inverted: (0, vec![]),
        gaps: (0, vec![]),
        median: None,
        last: None,
    };
    let (mut read, mut kept_total) = (0usize, 0usize);
    let parse = |b: Vec<u8>| stream::bars_batch(b, ts, fields, width, tz);
    stream::parse_ahead(batches, parse, |rx| -> anyhow::Result<()> {
        for batch in rx {
            let (l, consumed) = batch?;
            let keep = checks.keep(&l, read);
            read += l.ts.len();
            kept_total += keep.len();
            let close = l.fields[3].as_deref().unwrap_or(&[]);
            let pick = |c: &Option<Vec<f64>>, dflt: &dyn Fn(usize) -> f64| -> Vec<f64> {
                keep.iter()
                    .map(|&i| c.as_ref().map_or_else(|| dflt(i), |c| c[i]))
                    .collect()
            };
            let by_close = |i: usize| close[i];
            let b = Bars {
                ts: keep.iter().map(|&i| l.ts[i]).collect(),
                open: pick(&l.fields[0], &by_close),
                high: pick(&l.fields[1], &by_close),
                low: pick(&l.fields[2], &by_close),
                close: keep.iter().map(|&i| close[i]).collect(),
                volume: pick(&l.fields[4], &|_| 0.0),
            };
            let tx = conn.transaction()?;
            st.insert_bars(
                &tx,
                &b.ts,
                [&b.open, &b.high, &b.low, &b.close, &b.volume],
                0..b.len(),
            )?;
            tx.commit()?;
            cols.push(&b.ts, [&b.open, &b.high, &b.low, &b.close, &b.volume])?;
            progress(
                read as u64,
                stream::estimate_rows(read as u64, consumed, size),
            );
        }
        Ok(())
    })?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    p.source_rows = read;
    let ignored = kept_total.saturating_sub(st.rows as usize);
    if checks.backwards.0 > 0 {
        // out of order: the table has them sorted (and repeated times dropped); the columns follow it
        drop(cols);
        cols = columnar::ColumnWriter::create(dir)?;
        rewrite_sorted(conn, &st.table, &mut cols)?;
    }
    let m = &p.mapping;
    let close_only = m.open.is_none() || m.high.is_none() || m.low.is_none();
    p.issues.extend(checks.issues(close_only, ignored));
    if st.rows == 0 {
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS {}",
            measure::quoted(&st.table)
        ))?;
        p.issues.push(datasets::no_bars(read));
        return Ok(None);
    }
    cols.finish()?;
    Ok(Some(st))
}

/// Writes the columnar files from the staging table in time order, 100,000 rows at a time.
fn rewrite_sorted(
    conn: &Connection,
    table: &str,
    cols: &mut columnar::ColumnWriter,
) -> anyhow::Result<()> {
    let mut stmt = conn.prepare(&format!(
        "SELECT timestamp, open, high, low, close, volume FROM {} ORDER BY timestamp",
        measure::quoted(table)
    ))?;
    let mut rows = stmt.query([])?;
    let mut b = Bars::default();
    while let Some(r) = rows.next()? {
        b.ts.push(r.get::<_, i64>(0)? / 1000);
        b.open.push(r.get(1)?);
        b.high.push(r.get(2)?);
        b.low.push(r.get(3)?);
        b.close.push(r.get(4)?);
        b.volume.push(r.get(5)?);
        if b.len() >= 100_000 {
            cols.push(&b.ts, [&b.open, &b.high, &b.low, &b.close, &b.volume])?;
            b = Bars::default();
        }
    }
    cols.push(&b.ts, [&b.open, &b.high, &b.low, &b.close, &b.volume])?;
    Ok(())
}
