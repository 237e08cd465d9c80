//! The `questdb_import` job: a CSV file (first row the header, a `timestamp_unix` or `timestamp`
//! column) into a measurement. Batches are parsed by polars on one thread while the previous
//! batch is inserted on this one; each batch's rows and the job's progress commit together.
//! Timestamps in s, ms, µs (or ns) are told apart by their size, once per file, and stored as µs.
use super::jobs::{self, Report, Stop};
use super::measure::{self, Staging};
use crate::engine::datasets::stream::{self, Cells, CsvBatches, Table};
use serde_json::{Value, json};

pub fn staging_name(job_id: &str) -> String {
    format!("{}{}", measure::STAGING_PREFIX, job_id.replace('-', ""))
}

/// The timestamp column of a header: `timestamp_unix` first, else `timestamp` (any case).
pub fn timestamp_column(header: &[String]) -> Option<usize> {
    let find = |want: &str| header.iter().position(|h| h.eq_ignore_ascii_case(want));
    find("timestamp_unix").or_else(|| find("timestamp"))
}

/// The unit of epoch timestamps, told by their size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl Unit {
    pub fn of(v: f64) -> Unit {
        let a = v.abs();
        if a < 1e11 {
            Unit::Seconds
        } else if a < 1e14 {
            Unit::Millis
        } else if a < 1e17 {
            Unit::Micros
        } else {
            Unit::Nanos
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Millis => "ms",
            Unit::Micros => "us",
            Unit::Nanos => "ns",
        }
    }
    fn micros_i(self, v: i64) -> Option<i64> {
        match self {
            Unit::Seconds => v.checked_mul(1_000_000),
            Unit::Millis => v.checked_mul(1_000),
            Unit::Micros => Some(v),
            Unit::Nanos => Some(v / 1_000),
        }
    }
    fn micros_f(self, v: f64) -> Option<i64> {
        let us = match self {
            Unit::Seconds => v * 1e6,
            Unit::Millis => v * 1e3,
            Unit::Micros => v,
            Unit::Nanos => v / 1e3,
        };
        (us.is_finite() && us.abs() < 9.2e18).then(|| us.round() as i64)
    }
}

/// A timestamp written as a date (ISO 8601 and the dataset import's other forms) in µs.
fn text_micros(s: &str) -> Option<i64> {
    use crate::engine::datasets::timeparse::{self, Stamp};
    match timeparse::parse(s)? {
        Stamp::Utc(ms) | Stamp::Naive(ms) => ms.checked_mul(1_000),
    }
}

/// The timestamps of a batch in µs (None where a cell is empty or not a time), the unit fixed by
/// the file's first stamp.
fn micros(col: &Cells, unit: &mut Option<Unit>) -> Vec<Option<i64>> {
    match col {
        Cells::Int(v) => v
            .iter()
            .map(|x| {
                let x = (*x)?;
                let u = *unit.get_or_insert_with(|| Unit::of(x as f64));
                u.micros_i(x)
            })
            .collect(),
        Cells::Float(v) => v
            .iter()
            .map(|x| {
                let x = x.filter(|x| x.is_finite())?;
                let u = *unit.get_or_insert_with(|| Unit::of(x));
                u.micros_f(x)
            })
            .collect(),
        Cells::Text(v) => v
            .iter()
            .map(|s| {
                let s = s.as_deref()?;
                // a number in text is an epoch in the file's unit (the first one fixes it)
                match s.trim().parse::<f64>() {
                    Ok(n) => unit.get_or_insert_with(|| Unit::of(n)).micros_f(n),
                    Err(_) => text_micros(s),
                }
            })
            .collect(),
    }
}

/// Column names for the table: `timestamp` first, then the others as the header names them
/// (an empty name becomes `column_N`, a repeated one gets `_2`, …).
fn names(header: &[String], ts: usize) -> Vec<String> {
    let mut out = vec!["timestamp".to_string()];
    for (j, h) in header.iter().enumerate() {
        if j == ts {
            continue;
        }
        let base = if h.is_empty() {
            format!("column_{}", j + 1)
        } else {
            h.clone()
        };
        let mut name = base.clone();
        let mut n = 2;
        while out.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
            name = format!("{base}_{n}");
            n += 1;
        }
        out.push(name);
    }
    out
}

/// Runs one import job (payload: `measurement`, `file_path`, `filename`).
pub fn run(report: &mut Report, payload: &Value) -> Result<(), Stop> {
    let name = payload["measurement"]
        .as_str()
        .ok_or_else(|| Stop::Failed("the job has no measurement".into()))?
        .to_string();
    let path = payload["file_path"]
        .as_str()
        .ok_or_else(|| Stop::Failed("the job has no file".into()))?
        .to_string();
    let file = std::fs::File::open(&path)
        .map_err(|e| Stop::Failed(format!("the uploaded file is gone: {e}")))?;
    let batches =
        CsvBatches::open(file, stream::BATCH_BYTES).map_err(|e| Stop::Failed(format!("{e:#}")))?;
    let header = batches.header.clone();
    let ts = timestamp_column(&header).ok_or_else(|| {
        Stop::Failed(format!(
            "the CSV has no timestamp_unix or timestamp column (columns: {})",
            header.join(", ")
        ))
    })?;
    let width = header.len();
    let size = batches.size;
    let staging_table = staging_name(report.job_id);
    // batch k+1 is parsed while batch k is inserted; the first batch fixes the column types
    let mut schema = None;
    let parse = move |bytes: Vec<u8>| match &schema {
        None => stream::first_table(bytes, width).map(|(sc, t)| {
            schema = Some(sc);
            t
        }),
        Some(sc) => stream::next_table(bytes, sc, width),
    };
    stream::parse_ahead(batches, parse, |rx| {
        insert_all(report, rx, &name, &staging_table, &header, ts, size)
    })
}

fn insert_all(
    report: &mut Report,
    rx: std::sync::mpsc::Receiver<stream::Parsed<Table>>,
    name: &str,
    staging_table: &str,
    header: &[String],
    ts: usize,
    size: u64,
) -> Result<(), Stop> {
    let job_id = report.job_id;
    let cols = names(header, ts);
    let mut staging: Option<Staging> = None;
    let mut unit = None;
    let (mut read, mut skipped) = (0i64, 0i64);
    {
        let tx = report.begin()?;
        jobs::progress(&tx, job_id, 0, 0)?;
        tx.commit()?;
    }
    report
        .conn
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(Stop::from)?;
    for batch in rx {
        let (t, consumed) = batch.map_err(|e| Stop::Failed(format!("{e:#}")))?;
        let stamps = micros(&t.columns[ts], &mut unit);
        let keep: Vec<usize> = (0..t.rows).filter(|&r| stamps[r].is_some()).collect();
        let others: Vec<&Cells> = t
            .columns
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != ts)
            .map(|(_, c)| c)
            .collect();
        let stamps: Vec<i64> = stamps.into_iter().map(|s| s.unwrap_or(0)).collect();
        let tx = report.begin()?;
        if staging.is_none() {
            let typed: Vec<(String, &'static str)> = cols
                .iter()
                .cloned()
                .zip(std::iter::once("INTEGER").chain(others.iter().map(|c| c.sql_type())))
                .collect();
            staging = Some(Staging::create(&tx, staging_table, &typed, false)?);
        }
        let st = staging.as_mut().expect("made above");
        st.insert(&tx, &stamps, &others, &keep)?;
        read += t.rows as i64;
        skipped += (t.rows - keep.len()) as i64;
        let total = stream::estimate_rows(read as u64, consumed, size) as i64;
        jobs::progress(&tx, job_id, read, total)?;
        tx.commit()?;
    }
    report
        .conn
        .pragma_update(None, "synchronous", "FULL")
        .map_err(Stop::from)?;
    let st = staging.ok_or_else(|| Stop::Failed("the CSV has a header but no rows".into()))?;
    if st.rows == 0 {
        return Err(Stop::Failed(format!(
            "none of the {read} rows has a readable timestamp in column {}",
            header[ts]
        )));
    }
    let tx = report.begin()?;
    let info = st
        .publish(&tx, name, &super::store::now_z())
        .map_err(Stop::Failed)?;
    let result = json!({
        "success": true,
        "message": "CSV imported successfully",
        "measurement": name,
        "rows_imported": st.rows,
        "rows_skipped": skipped,
        "timestamp_column": header[ts],
        "timestamp_unit": unit.map(Unit::name),
        "columns": info.columns,
        "row_count": info.row_count,
    });
    jobs::progress(&tx, job_id, read, read)?;
    if !jobs::complete(&tx, job_id, &result)? {
        return Err(Stop::Cancelled);
    }
    // a seed 003 dataset whose bars these are becomes (again) a desk dataset
    super::sync::queue_register(&tx, name)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_told_by_size() {
        let mut u = None;
        let col = Cells::Int(vec![None, Some(1_609_459_200), Some(1_609_459_260)]);
        assert_eq!(
            micros(&col, &mut u),
            [
                None,
                Some(1_609_459_200_000_000),
                Some(1_609_459_260_000_000)
            ]
        );
        assert_eq!(u, Some(Unit::Seconds));
        for (v, unit) in [
            (1_609_459_200_000.0, Unit::Millis),
            (1_609_459_200_000_000.0, Unit::Micros),
            (1_609_459_200_000_000_000.0, Unit::Nanos),
            (1_609_459_200.5, Unit::Seconds),
        ] {
            let mut u = None;
            assert_eq!(
                micros(&Cells::Float(vec![Some(v)]), &mut u),
                [Some(
                    1_609_459_200_000_000 + if v.fract() != 0.0 { 500_000 } else { 0 }
                )]
            );
            assert_eq!(u, Some(unit));
        }
        let mut u = None;
        assert_eq!(
            micros(
                &Cells::Text(vec![Some("2021-01-01T00:00:00Z".into()), Some("x".into())]),
                &mut u
            ),
            [Some(1_609_459_200_000_000), None]
        );
    }

    #[test]
    fn column_names_are_unique() {
        let h: Vec<String> = ["timestamp_unix", "a", "", "A", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(names(&h, 0), ["timestamp", "a", "column_3", "A_2", "a_3"]);
    }
}
