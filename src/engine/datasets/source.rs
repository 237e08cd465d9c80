//! Reading source files into columns: CSV through polars (multi-threaded, only the mapped
//! columns, numeric cells parsed by polars), xlsx through calamine (sheet choice). Nothing here
//! judges the data; `normalize` does.
use super::files::Opened;
use super::timeparse::{self, Stamp};
use anyhow::{Context, bail};
use calamine::{Data, Reader};
use polars::prelude::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Excel,
    /// Fetched from a market data provider (no file).
    Provider,
}

impl Format {
    pub fn from_path(path: &Path, declared: &str) -> Format {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if matches!(declared, "excel" | "xlsx")
            || matches!(ext.as_str(), "xlsx" | "xlsm" | "xls" | "ods")
        {
            Format::Excel
        } else {
            Format::Csv
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Excel => "excel",
            Format::Provider => "provider",
        }
    }
}

/// The header and the first rows as text, for inference and previews.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub sheet_names: Vec<String>,
    pub active_sheet: Option<String>,
}

/// The mapped columns of a whole file: timestamps already in UTC ms (`BAD_TS` where the cell is
/// not a timestamp), prices NaN where the cell is empty or not a number.
#[derive(Debug, Default)]
pub struct Loaded {
    pub ts: Vec<i64>,
    /// open, high, low, close, volume (None: the column is not mapped).
    pub fields: [Option<Vec<f64>>; 5],
}

/// Marks a cell that is not a timestamp (or a local time inside a DST gap).
pub const BAD_TS: i64 = i64::MIN;

/// A CSV header line's cells, trimmed (a BOM and a trailing `\r` dropped).
pub fn header_cells(line: &str) -> Vec<String> {
    let line = line.trim_start_matches('\u{feff}').trim_end_matches('\r');
    split_csv_line(line)
        .into_iter()
        .map(|c| c.trim().to_string())
        .collect()
}

/// Splits one CSV line, honouring double quotes.
pub fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A handle on `file` read from its start (clones share the offset).
fn from_start(file: &std::fs::File) -> anyhow::Result<std::fs::File> {
    let mut f = file.try_clone()?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))?;
    Ok(f)
}

/// Most of a CSV file a sample reads.
const SAMPLE_BYTES: u64 = 1 << 20;

pub fn sample(
    src: &Opened,
    format: Format,
    sheet: Option<&str>,
    n: usize,
) -> anyhow::Result<Sample> {
    match format {
        Format::Provider => Ok(Sample::default()),
        Format::Csv => {
            let f = from_start(&src.file)?;
            let mut lines = BufReader::new(std::io::Read::take(f, SAMPLE_BYTES)).lines();
            let Some(header) = lines.next().transpose()? else {
                return Ok(Sample::default());
            };
            let columns = header_cells(&header);
            let mut rows = Vec::new();
            for l in lines.take(n) {
                let l = l?;
                if !l.trim().is_empty() {
                    rows.push(split_csv_line(l.trim_end_matches('\r')));
                }
            }
            Ok(Sample {
                columns,
                rows,
                sheet_names: Vec::new(),
                active_sheet: None,
            })
        }
        Format::Excel => {
            let (names, active, range) = excel_range(src, sheet)?;
            let mut it = range.rows();
            let columns = it
                .next()
                .map(|r| r.iter().map(cell_text).collect())
                .unwrap_or_default();
            let rows = it
                .take(n)
                .map(|r| r.iter().map(cell_text).collect())
                .collect();
            Ok(Sample {
                columns,
                rows,
                sheet_names: names,
                active_sheet: Some(active),
            })
        }
    }
}

fn excel_range(
    src: &Opened,
    sheet: Option<&str>,
) -> anyhow::Result<(Vec<String>, String, calamine::Range<Data>)> {
    // from the checked handle, not the path: what was checked is what is read
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut from_start(&src.file)?, &mut bytes)?;
    // a cursor over a borrowed slice: the format probe clones its reader once per format it
    // tries, and this clone copies no bytes
    let mut wb = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.as_slice()))
        .with_context(|| format!("cannot open workbook {}", src.path.display()))?;
    let names = wb.sheet_names();
    let active = match sheet {
        Some(s) if names.iter().any(|n| n == s) => s.to_string(),
        Some(s) => bail!(
            "no sheet {s:?} in the workbook (sheets: {})",
            names.join(", ")
        ),
        None => names
            .first()
            .cloned()
            .context("the workbook has no sheets")?,
    };
    let range = wb
        .worksheet_range(&active)
        .with_context(|| format!("cannot read sheet {active}"))?;
    Ok((names, active, range))
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::DateTime(dt) => dt
            .as_datetime()
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_default(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn cell_stamp(d: &Data) -> Option<Stamp> {
    match d {
        Data::DateTime(dt) => dt
            .as_datetime()
            .map(|t| Stamp::Naive(t.and_utc().timestamp_millis())),
        Data::Int(n) => timeparse::parse(&n.to_string()),
        Data::Float(f) if f.fract() == 0.0 => timeparse::parse(&format!("{f:.0}")),
        Data::String(s) | Data::DateTimeIso(s) => timeparse::parse(s),
        _ => None,
    }
}

fn cell_number(d: &Data) -> Option<f64> {
    match d {
        Data::Float(f) => Some(*f),
        Data::Int(n) => Some(*n as f64),
        Data::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses timestamps and converts them to UTC on every core (the import's hot path after the CSV
/// parse itself).
fn parse_stamps(texts: &[Option<&str>], tz: Option<chrono_tz::Tz>) -> Vec<i64> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let chunk = texts.len().div_ceil(threads).max(1);
    let parts: Vec<Vec<i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = texts
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    let mut to_utc = timeparse::ToUtc::new(tz);
                    c.iter()
                        .map(|t| {
                            t.and_then(timeparse::parse)
                                .and_then(|st| to_utc.convert(st))
                                .unwrap_or(BAD_TS)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("parser thread"))
            .collect()
    });
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        parts.concat()
    }
}

/// Reads the whole file: the timestamp column (to UTC with `tz`) and the mapped price columns.
pub fn load(
    src: &Opened,
    format: Format,
    sheet: Option<&str>,
    ts: usize,
    fields: [Option<usize>; 5],
    width: usize,
    tz: Option<chrono_tz::Tz>,
) -> anyhow::Result<Loaded> {
    match format {
        Format::Csv => load_csv(&src.path, from_start(&src.file)?, ts, fields, width, tz),
        Format::Provider => anyhow::bail!("provider data is fetched, not read from a file"),
        Format::Excel => {
            let (_, _, range) = excel_range(src, sheet)?;
            let rows: Vec<&[Data]> = range.rows().skip(1).collect();
            let mut to_utc = timeparse::ToUtc::new(tz);
            let stamps: Vec<i64> = rows
                .iter()
                .map(|r| {
                    r.get(ts)
                        .and_then(cell_stamp)
                        .and_then(|s| to_utc.convert(s))
                        .unwrap_or(BAD_TS)
                })
                .collect();
            let fields = fields.map(|f| {
                f.map(|j| {
                    rows.iter()
                        .map(|r| r.get(j).and_then(cell_number).unwrap_or(f64::NAN))
                        .collect()
                })
            });
            Ok(Loaded { ts: stamps, fields })
        }
    }
}

/// How a CSV's bar columns are read: our own names (c0, c1, …: header cells may be empty or
/// repeated), the mapped price columns as numbers, the timestamp as text; only those columns.
pub fn bar_columns(width: usize, ts: usize, fields: [Option<usize>; 5]) -> (Schema, Vec<usize>) {
    let mut schema = Schema::with_capacity(width);
    for j in 0..width {
        let numeric = fields.contains(&Some(j)) && j != ts;
        schema.with_column(
            format!("c{j}").into(),
            if numeric {
                DataType::Float64
            } else {
                DataType::String
            },
        );
    }
    let mut projection: Vec<usize> = fields.iter().flatten().copied().chain([ts]).collect();
    projection.sort_unstable();
    projection.dedup();
    (schema, projection)
}

fn load_csv(
    path: &Path,
    file: std::fs::File,
    ts: usize,
    fields: [Option<usize>; 5],
    width: usize,
    tz: Option<chrono_tz::Tz>,
) -> anyhow::Result<Loaded> {
    let (schema, projection) = bar_columns(width, ts, fields);
    let df = CsvReadOptions::default()
        .with_has_header(false)
        .with_skip_rows(1)
        .with_schema(Some(Arc::new(schema)))
        .with_projection(Some(Arc::new(projection)))
        .with_ignore_errors(true)
        .with_raise_if_empty(false)
        .with_parse_options(CsvParseOptions::default().with_truncate_ragged_lines(true))
        .into_reader_with_file_handle(file)
        .finish()
        .map_err(|e| anyhow::anyhow!("cannot read {} as CSV: {e}", path.display()))?;
    frame_bars(&df, ts, fields, tz)
}

/// The timestamp (to UTC with `tz`) and price columns of a frame read with `c{j}` names.
pub fn frame_bars(
    df: &DataFrame,
    ts: usize,
    fields: [Option<usize>; 5],
    tz: Option<chrono_tz::Tz>,
) -> anyhow::Result<Loaded> {
    let ts = {
        let ts_col = df.column(&format!("c{ts}"))?.str()?;
        let texts: Vec<Option<&str>> = ts_col.iter().collect();
        parse_stamps(&texts, tz)
    };
    let fields = fields.map(|f| {
        f.map(|j| {
            df.column(&format!("c{j}"))
                .ok()
                .and_then(|c| c.f64().ok())
                .map(|ca| {
                    if ca.null_count() == 0 {
                        ca.into_no_null_iter().collect::<Vec<f64>>()
                    } else {
                        ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
                    }
                })
                .unwrap_or_default()
        })
    });
    Ok(Loaded { ts, fields })
}
