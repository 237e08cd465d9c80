//! Datasets (seed 000, SPEC §3): a source file is read (`source`), its columns mapped (`infer`),
//! timestamps normalised to UTC (`timeparse`), problems listed as validation issues rather than
//! thrown, and the bars persisted as columnar files plus a SQLite row. Heavy work runs off the
//! engine thread; only the registry row goes through the engine.
pub mod columnar;
pub mod files;
pub mod infer;
pub mod source;
pub mod stream;
pub mod timeparse;

use anyhow::Context;
use chrono_tz::Tz;
pub use infer::Mapping;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use source::{Format, Loaded, Sample};
use std::path::{Path, PathBuf};

/// `DataSourceConfig`, the body of `/data-sources/preview` and `POST /datasets`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceConfig {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub file_path: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub timeframe: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    /// `null` until the client has inferred one (CONTRACTS.md): inferred here then.
    #[serde(default, deserialize_with = "null_as_default")]
    pub mapping: Mapping,
    #[serde(default)]
    pub session: Option<Value>,
    /// `sheet`: which worksheet of a workbook.
    #[serde(default, deserialize_with = "null_as_default")]
    pub extra: Map<String, Value>,
}

/// A field a client may send as `null`: read as its default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The dataset cannot be made, or rows were dropped.
    Error,
    /// Fixed or kept as is (sorted, deduplicated, high < low kept).
    Warning,
    Info,
}

/// A problem found in the source, with where it is (1-based data rows, the first few).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationIssue {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub column: Option<String>,
    pub rows: Vec<usize>,
    pub count: usize,
}

impl ValidationIssue {
    pub fn new(
        code: &str,
        severity: Severity,
        column: Option<&str>,
        rows: &[usize],
        count: usize,
        message: String,
    ) -> Self {
        ValidationIssue {
            code: code.into(),
            severity,
            message,
            column: column.map(str::to_string),
            rows: rows.iter().take(5).map(|r| r + 1).collect(),
            count,
        }
    }
}

/// The issues an import finds, worded once (the whole-file and the streaming import both use
/// them). `rows` are 0-based data rows (the first few are kept), `count` how many there are.
impl ValidationIssue {
    pub fn unparseable_timestamps(col: Option<&str>, rows: &[usize], count: usize) -> Self {
        // rows, not cell text: no file content travels in a message
        let examples: Vec<String> = rows
            .iter()
            .take(3)
            .map(|i| format!("row {}", i + 1))
            .collect();
        let message = format!(
            "{count} row(s) have no readable timestamp (e.g. {}); they were dropped",
            examples.join(", ")
        );
        Self::new(
            "unparseable_timestamps",
            Severity::Error,
            col,
            rows,
            count,
            message,
        )
    }

    pub fn non_numeric_cells(col: Option<&str>, rows: &[usize], count: usize) -> Self {
        let message = format!(
            "{count} cell(s) of {} are empty or not numbers; those rows were dropped",
            col.unwrap_or("?")
        );
        Self::new(
            "non_numeric_cells",
            Severity::Error,
            col,
            rows,
            count,
            message,
        )
    }

    pub fn unsorted_timestamps(col: Option<&str>, first: usize, count: usize) -> Self {
        let message = format!("timestamps go backwards {count} time(s); the rows were sorted");
        Self::new(
            "unsorted_timestamps",
            Severity::Warning,
            col,
            &[first],
            count,
            message,
        )
    }

    pub fn duplicate_timestamps(col: Option<&str>, rows: &[usize], count: usize) -> Self {
        let message = format!("{count} duplicate timestamp(s); the first row of each was kept");
        Self::new(
            "duplicate_timestamps",
            Severity::Warning,
            col,
            rows,
            count,
            message,
        )
    }

    pub fn high_below_low(col: Option<&str>, rows: &[usize], count: usize) -> Self {
        let message = format!("{count} row(s) have high < low; kept as they are");
        Self::new(
            "high_below_low",
            Severity::Warning,
            col,
            rows,
            count,
            message,
        )
    }

    pub fn gaps(col: Option<&str>, rows: &[usize], count: usize, step_ms: i64) -> Self {
        let message = format!(
            "{count} gap(s) longer than 3× the usual {} s step (sessions, weekends or missing data)",
            step_ms / 1000
        );
        Self::new("gaps", Severity::Info, col, rows, count, message)
    }

    pub fn close_only() -> Self {
        let message = "no open/high/low columns: they were filled from close".to_string();
        Self::new("close_only", Severity::Info, None, &[], 0, message)
    }
}

/// Normalised bars: UTC epoch milliseconds, sorted, unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bars {
    pub ts: Vec<i64>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
}

impl Bars {
    pub fn len(&self) -> usize {
        self.ts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// A copy of rows `r`.
    pub fn range(&self, r: std::ops::Range<usize>) -> Bars {
        Bars {
            ts: self.ts[r.clone()].to_vec(),
            open: self.open[r.clone()].to_vec(),
            high: self.high[r.clone()].to_vec(),
            low: self.low[r.clone()].to_vec(),
            close: self.close[r.clone()].to_vec(),
            volume: self.volume[r].to_vec(),
        }
    }

    /// Rows `r`, cut in place (a whole dataset is not copied).
    pub fn into_range(mut self, r: std::ops::Range<usize>) -> Bars {
        for col in [
            &mut self.open,
            &mut self.high,
            &mut self.low,
            &mut self.close,
            &mut self.volume,
        ] {
            col.truncate(r.end);
            col.drain(..r.start);
        }
        self.ts.truncate(r.end);
        self.ts.drain(..r.start);
        self
    }
}

/// Everything a preview shows and an import persists.
#[derive(Debug)]
pub struct Prepared {
    pub format: Format,
    pub path: PathBuf,
    pub exists: bool,
    pub sample: Sample,
    pub inferred: Mapping,
    pub mapping: Mapping,
    pub source_rows: usize,
    pub bars: Option<Bars>,
    pub issues: Vec<ValidationIssue>,
    pub timezone: Option<Tz>,
}

pub const COLUMNS: [&str; 6] = ["timestamp", "open", "high", "low", "close", "volume"];

fn issue(code: &str, message: impl Into<String>) -> ValidationIssue {
    ValidationIssue::new(code, Severity::Error, None, &[], 1, message.into())
}

/// What reading a source needs once its columns are mapped: the open file, the column indexes
/// (timestamp, open, high, low, close, volume) and the source timezone.
#[derive(Debug)]
pub struct Plan {
    pub file: files::Opened,
    pub format: Format,
    pub sheet: Option<String>,
    pub idx: [Option<usize>; 6],
    pub width: usize,
}

/// Samples and maps a source. `Ok(None)`: it cannot be read as bars (the reasons are in
/// `p.issues`); otherwise the plan to read it.
pub fn plan(
    cfg: &SourceConfig,
    files: &files::FilePolicy,
) -> anyhow::Result<(Prepared, Option<Plan>)> {
    let path = PathBuf::from(
        cfg.file_path
            .as_deref()
            .context("file_path is required for csv and excel sources")?,
    );
    let format = Format::from_path(&path, &cfg.kind);
    let timezone = match cfg.timezone.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => Some(t.parse::<Tz>().map_err(|_| {
            anyhow::anyhow!("unknown timezone {t:?} (use an IANA name like Asia/Kolkata)")
        })?),
        None => None,
    };
    let mut p = Prepared {
        format,
        exists: false,
        path: path.clone(),
        sample: Sample::default(),
        inferred: Mapping::default(),
        mapping: cfg.mapping.clone(),
        source_rows: 0,
        bars: None,
        issues: Vec::new(),
        timezone,
    };
    let file = match files.open(&path) {
        Ok(f) => f,
        Err(files::FileRefusal::NotFound(_)) => {
            p.issues.push(issue(
                "file_not_found",
                format!("{} does not exist", path.display()),
            ));
            return Ok((p, None));
        }
        Err(refused) => return Err(refused.into()),
    };
    p.exists = true;
    let sheet = cfg.extra.get("sheet").and_then(Value::as_str);
    p.sample = source::sample(&file, format, sheet, 200)?;
    if p.sample.columns.is_empty() || p.sample.rows.is_empty() {
        p.issues
            .push(issue("empty_file", "the file has no data rows"));
        return Ok((p, None));
    }
    p.inferred = infer::infer(&p.sample.columns, &p.sample.rows);
    p.mapping = cfg.mapping.or(&p.inferred);
    let index = |name: &Option<String>| -> Result<Option<usize>, String> {
        match name {
            None => Ok(None),
            Some(n) => p
                .sample
                .columns
                .iter()
                .position(|c| c == n)
                .map(Some)
                .ok_or_else(|| n.clone()),
        }
    };
    let mut idx = [None; 6];
    for (k, (field, name)) in p.mapping.fields().iter().enumerate() {
        match index(name) {
            Ok(i) => idx[k] = i,
            Err(n) => {
                p.issues.push(issue(
                    "unknown_column",
                    format!(
                        "mapping.{field} names {n:?}, which is not a column ({})",
                        p.sample.columns.join(", ")
                    ),
                ));
            }
        }
    }
    if idx[0].is_none() {
        p.issues.push(issue(
            "no_timestamp_column",
            format!(
                "no timestamp column found among: {}",
                p.sample.columns.join(", ")
            ),
        ));
        return Ok((p, None));
    }
    if idx[4].is_none() {
        p.issues.push(issue(
            "no_close_column",
            format!(
                "no close column found among: {}",
                p.sample.columns.join(", ")
            ),
        ));
        return Ok((p, None));
    }
    let width = p.sample.columns.len();
    let plan = Plan {
        file,
        format,
        sheet: sheet.map(str::to_string),
        idx,
        width,
    };
    Ok((p, Some(plan)))
}

/// Reads, maps and validates a source; `bars` is None when it cannot become a dataset.
pub fn prepare(cfg: &SourceConfig, files: &files::FilePolicy) -> anyhow::Result<Prepared> {
    let (p, plan) = plan(cfg, files)?;
    match plan {
        Some(plan) => load_planned(p, plan),
        None => Ok(p),
    }
}

/// The rest of `prepare` for a source already planned: its rows read whole and normalized.
pub fn load_planned(mut p: Prepared, plan: Plan) -> anyhow::Result<Prepared> {
    let idx = plan.idx;
    let loaded = source::load(
        &plan.file,
        plan.format,
        plan.sheet.as_deref(),
        idx[0].expect("planned"),
        [idx[1], idx[2], idx[3], idx[4], idx[5]],
        plan.width,
        p.timezone,
    )?;
    p.source_rows = loaded.ts.len();
    let (bars, issues) = normalize(loaded, &p.mapping);
    p.issues.extend(issues);
    p.bars = (!bars.is_empty()).then_some(bars);
    if p.bars.is_none() {
        p.issues.push(no_bars(p.source_rows));
    }
    Ok(p)
}

/// Why a source that was read gave no bar: it had no rows, or none with a timestamp and a close.
pub fn no_bars(rows_read: usize) -> ValidationIssue {
    if rows_read > 0 {
        issue(
            "no_valid_rows",
            "no row has both a valid timestamp and a close",
        )
    } else {
        issue("empty_file", "the file has no data rows")
    }
}

/// Drops what cannot be used, sorts, removes duplicate timestamps, and lists every problem.
/// Clean, sorted input (the usual case) moves into the bars without a copy.
pub fn normalize(loaded: Loaded, mapping: &Mapping) -> (Bars, Vec<ValidationIssue>) {
    let Loaded { ts, fields } = loaded;
    let n = ts.len();
    let mut issues = Vec::new();
    let ts_name = mapping.timestamp.as_deref();
    let mut bad_row = vec![false; n];
    let bad_ts: Vec<usize> = (0..n).filter(|&i| ts[i] == source::BAD_TS).collect();
    if !bad_ts.is_empty() {
        issues.push(ValidationIssue::unparseable_timestamps(
            ts_name,
            &bad_ts,
            bad_ts.len(),
        ));
        for &i in &bad_ts {
            bad_row[i] = true;
        }
    }
    let names = [
        &mapping.open,
        &mapping.high,
        &mapping.low,
        &mapping.close,
        &mapping.volume,
    ];
    for (k, col) in fields.iter().enumerate() {
        let Some(col) = col else { continue };
        let bad: Vec<usize> = (0..n)
            .filter(|&i| !col.get(i).is_some_and(|v| v.is_finite()))
            .collect();
        if bad.is_empty() {
            continue;
        }
        let name = names[k].as_deref();
        issues.push(ValidationIssue::non_numeric_cells(name, &bad, bad.len()));
        for i in bad {
            bad_row[i] = true;
        }
    }
    let clean = !bad_row.iter().any(|b| *b);
    let strictly_sorted = ts.windows(2).all(|w| w[1] > w[0]);
    let [open, high, low, close, volume] = fields;
    let close = close.unwrap_or_default();
    let mut bars = if clean && strictly_sorted {
        // fast path: nothing to drop, sort or deduplicate
        Bars {
            open: open.unwrap_or_else(|| close.clone()),
            high: high.unwrap_or_else(|| close.clone()),
            low: low.unwrap_or_else(|| close.clone()),
            volume: volume.unwrap_or_else(|| vec![0.0; n]),
            close,
            ts,
        }
    } else {
        let mut rows: Vec<(i64, usize)> = (0..n)
            .filter(|&i| !bad_row[i])
            .map(|i| (ts[i], i))
            .collect();
        if rows.windows(2).any(|w| w[1].0 < w[0].0) {
            let first = rows
                .windows(2)
                .position(|w| w[1].0 < w[0].0)
                .map(|p| rows[p + 1].1)
                .unwrap_or(0);
            let count = rows.windows(2).filter(|w| w[1].0 < w[0].0).count();
            issues.push(ValidationIssue::unsorted_timestamps(ts_name, first, count));
            rows.sort_by_key(|r| r.0);
        }
        let dups: Vec<usize> = rows
            .windows(2)
            .filter(|w| w[1].0 == w[0].0)
            .map(|w| w[1].1)
            .collect();
        if !dups.is_empty() {
            issues.push(ValidationIssue::duplicate_timestamps(
                ts_name,
                &dups,
                dups.len(),
            ));
            rows.dedup_by_key(|r| r.0);
        }
        let pick = |col: &Option<Vec<f64>>, default: &dyn Fn(usize) -> f64| -> Vec<f64> {
            rows.iter()
                .map(|&(_, i)| col.as_ref().map_or_else(|| default(i), |c| c[i]))
                .collect()
        };
        let close_at = |i: usize| close[i];
        Bars {
            ts: rows.iter().map(|r| r.0).collect(),
            open: pick(&open, &close_at),
            high: pick(&high, &close_at),
            low: pick(&low, &close_at),
            volume: pick(&volume, &|_| 0.0),
            close: rows.iter().map(|&(_, i)| close[i]).collect(),
        }
    };
    let inverted: Vec<usize> = (0..bars.len())
        .filter(|&k| bars.high[k] < bars.low[k])
        .collect();
    if !inverted.is_empty() {
        issues.push(ValidationIssue::high_below_low(
            mapping.high.as_deref(),
            &inverted,
            inverted.len(),
        ));
    }
    if bars.len() > 2 {
        // the usual step: the median of (a sample of) the steps
        let stride = (bars.len() / 100_000).max(1);
        let mut steps: Vec<i64> = bars
            .ts
            .windows(2)
            .step_by(stride)
            .map(|w| w[1] - w[0])
            .collect();
        let mid = steps.len() / 2;
        let median = *steps.select_nth_unstable(mid).1;
        let gaps: Vec<usize> = (1..bars.len())
            .filter(|&k| bars.ts[k] - bars.ts[k - 1] > median * 3)
            .collect();
        if median > 0 && !gaps.is_empty() {
            issues.push(ValidationIssue::gaps(ts_name, &gaps, gaps.len(), median));
        }
    }
    if mapping.open.is_none() || mapping.high.is_none() || mapping.low.is_none() {
        issues.push(ValidationIssue::close_only());
    }
    bars.volume.truncate(bars.ts.len());
    (bars, issues)
}

/// A provider's bars (already UTC, any order) as a prepared source, validated like a file.
pub fn prepared_from_bars(label: &str, bars: Bars) -> Prepared {
    let n = bars.len();
    let mapping = Mapping {
        timestamp: Some("t".into()),
        open: Some("o".into()),
        high: Some("h".into()),
        low: Some("l".into()),
        close: Some("c".into()),
        volume: Some("v".into()),
    };
    let loaded = Loaded {
        ts: bars.ts,
        fields: [
            Some(bars.open),
            Some(bars.high),
            Some(bars.low),
            Some(bars.close),
            Some(bars.volume),
        ],
    };
    let (bars, mut issues) = normalize(loaded, &mapping);
    if n == 0 {
        issues.push(issue(
            "empty_file",
            "the provider returned no bars for this symbol and range",
        ));
    }
    Prepared {
        format: Format::Provider,
        path: PathBuf::from(label),
        exists: true,
        sample: Sample {
            columns: ["t", "o", "h", "l", "c", "v"]
                .iter()
                .map(|c| c.to_string())
                .collect(),
            ..Default::default()
        },
        inferred: mapping.clone(),
        mapping,
        source_rows: n,
        bars: (!bars.is_empty()).then_some(bars),
        issues,
        timezone: None,
    }
}

/// A persisted dataset, as `POST /datasets` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    pub dataset_id: String,
    pub name: String,
    pub symbol: Option<String>,
    pub timeframe: Option<String>,
    pub timezone: Option<String>,
    pub row_count: usize,
    pub columns: Vec<String>,
    pub data_path: String,
    pub source_type: String,
    pub source_path: Option<String>,
    pub validation_issues: Vec<ValidationIssue>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub fn new_dataset_id() -> String {
    format!(
        "dataset-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Writes the bars under `<data dir>/datasets/<id>/` and returns the metadata (not yet registered).
pub fn persist(
    data_dir: &Path,
    cfg: &SourceConfig,
    p: &Prepared,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<DatasetMeta> {
    let bars = p.bars.as_ref().context("nothing to persist")?;
    let id = new_dataset_id();
    let dir = data_dir.join("datasets").join(&id);
    columnar::write(&dir, bars)?;
    Ok(DatasetMeta {
        dataset_id: id,
        name: cfg.name.clone(),
        symbol: cfg.symbol.clone(),
        timeframe: cfg.timeframe.clone(),
        timezone: cfg.timezone.clone(),
        row_count: bars.len(),
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        data_path: dir.display().to_string(),
        source_type: p.format.as_str().into(),
        source_path: cfg.file_path.clone(),
        validation_issues: p.issues.clone(),
        created_at: now,
    })
}
