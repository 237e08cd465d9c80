//! Measurements (seed 003's QuestDB tables) are tables in the research database. An import
//! writes a hidden staging table in batches and then, in one transaction with its job's
//! completion, renames it into place (or appends it to the existing table) and records it in the
//! catalog: a measurement is absent or whole, never half there.
use crate::engine::datasets::stream::Cells;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

/// Rows bound per INSERT statement (a multi-row VALUES list: far fewer statement steps), within
/// SQLite's 32,766 parameters however wide the table.
fn rows_per_insert(width: usize) -> usize {
    (32_766 / width.max(1)).clamp(1, 64)
}

/// Prefix of the hidden tables an import writes before its measurement exists.
pub const STAGING_PREFIX: &str = "_import_";

/// Why a measurement name is refused, or None.
pub fn bad_name(name: &str) -> Option<String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > 127 || !ok_chars {
        return Some(format!(
            "measurement name {name:?} must be 1 to 127 letters, digits, '_', '-' or '.'"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with('_') || lower.starts_with("bd_") || lower.starts_with("sqlite") {
        return Some(format!(
            "measurement name {name:?} is reserved (names starting with '_', 'bd_' or 'sqlite' are the store's own)"
        ));
    }
    None
}

/// A name quoted as an SQL identifier.
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `GET /api/questdb/measurement/{name}`, and what the console lists.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct MeasurementInfo {
    pub name: String,
    pub row_count: i64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    /// table or view
    pub kind: String,
    pub columns: Vec<String>,
    pub updated_at: String,
}

fn info_row(r: &rusqlite::Row) -> rusqlite::Result<MeasurementInfo> {
    let cols: String = r.get(5)?;
    Ok(MeasurementInfo {
        name: r.get(0)?,
        row_count: r.get(1)?,
        first_ts: r.get(2)?,
        last_ts: r.get(3)?,
        kind: r.get(4)?,
        columns: serde_json::from_str(&cols).unwrap_or_default(),
        updated_at: r.get(6)?,
    })
}

const INFO: &str =
    "SELECT name, row_count, first_ts, last_ts, kind, columns, updated_at FROM bd_measurements";

/// Every measurement, by name; only those starting with `prefix` when given.
pub fn list(conn: &Connection, prefix: Option<&str>) -> rusqlite::Result<Vec<MeasurementInfo>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{INFO} WHERE ?1 IS NULL OR substr(name, 1, length(?1)) = ?1 ORDER BY name"
    ))?;
    stmt.query_map([prefix], info_row)?.collect()
}

/// A measurement by name (SQLite's table names ignore case, and so does this).
pub fn get(conn: &Connection, name: &str) -> rusqlite::Result<Option<MeasurementInfo>> {
    conn.query_row(
        &format!("{INFO} WHERE name = ?1 COLLATE NOCASE"),
        [name],
        info_row,
    )
    .optional()
}

/// Records (or updates) a measurement in the catalog, inside the transaction that made it.
pub fn record(tx: &Transaction, m: &MeasurementInfo) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO bd_measurements(name, kind, row_count, first_ts, last_ts, columns, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
         ON CONFLICT(name) DO UPDATE SET kind = ?2, row_count = ?3, first_ts = ?4, last_ts = ?5,
           columns = ?6, updated_at = ?7",
        params![
            m.name,
            m.kind,
            m.row_count,
            m.first_ts,
            m.last_ts,
            serde_json::to_string(&m.columns).unwrap_or_default(),
            m.updated_at
        ],
    )?;
    Ok(())
}

/// The columns of an existing table, in order.
pub fn table_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", quoted(table)))?;
    stmt.query_map([], |r| r.get::<_, String>(1))?.collect()
}

/// The name a table or view has in the store, if one is called `table` in any case (SQLite's
/// names ignore case: `BTC` and `btc` are one table).
pub fn actual_name(conn: &Connection, table: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT name FROM sqlite_master WHERE name = ?1 COLLATE NOCASE AND type IN ('table', 'view')",
        [table],
        |r| r.get(0),
    )
    .optional()
}

pub fn exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    actual_name(conn, table).map(|n| n.is_some())
}

/// Whether a table's `timestamp` is its primary key (a dataset's bars: one row per time).
fn time_keyed(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", quoted(table)))?;
    let keyed = stmt
        .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)?)))?
        .filter_map(Result::ok)
        .any(|(name, pk)| pk > 0 && name.eq_ignore_ascii_case("timestamp"));
    Ok(keyed)
}

/// A staging table being filled: its columns, and what has gone in so far.
pub struct Staging {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: i64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    or_ignore: bool,
    /// Rows per INSERT, and the INSERT of that many (built once: every chunk but the last uses it).
    chunk: usize,
    full_sql: String,
}

impl Staging {
    /// Creates the staging table (dropping a leftover of the same name). `timestamp` is the
    /// first column; with `unique_ts` it is the primary key and a repeated timestamp is ignored
    /// (the first row kept), which also keeps the rows in time order.
    pub fn create(
        conn: &Connection,
        table: &str,
        columns: &[(String, &'static str)],
        unique_ts: bool,
    ) -> rusqlite::Result<Staging> {
        let defs: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| {
                if i == 0 && unique_ts {
                    format!("{} INTEGER PRIMARY KEY", quoted(name))
                } else {
                    format!("{} {ty}", quoted(name))
                }
            })
            .collect();
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS {t}; CREATE TABLE {t}({});",
            defs.join(", "),
            t = quoted(table)
        ))?;
        let mut st = Staging {
            table: table.into(),
            columns: columns.iter().map(|c| c.0.clone()).collect(),
            rows: 0,
            first_ts: None,
            last_ts: None,
            or_ignore: unique_ts,
            chunk: rows_per_insert(columns.len()),
            full_sql: String::new(),
        };
        st.full_sql = st.insert_sql(st.chunk);
        Ok(st)
    }

    /// The INSERT of `rows` rows (the full chunk's is kept).
    fn sql_for(&self, rows: usize) -> std::borrow::Cow<'_, str> {
        if rows == self.chunk {
            std::borrow::Cow::Borrowed(&self.full_sql)
        } else {
            std::borrow::Cow::Owned(self.insert_sql(rows))
        }
    }

    fn insert_sql(&self, rows: usize) -> String {
        let one = format!("({})", vec!["?"; self.columns.len()].join(","));
        format!(
            "INSERT {}INTO {} VALUES {}",
            if self.or_ignore { "OR IGNORE " } else { "" },
            quoted(&self.table),
            vec![one; rows].join(",")
        )
    }

    /// Inserts rows `keep` of a batch: the timestamp (µs) and the other columns' cells.
    /// Returns how many rows went in (fewer than asked when repeated timestamps are ignored).
    pub fn insert(
        &mut self,
        conn: &Connection,
        ts: &[i64],
        cells: &[&Cells],
        keep: &[usize],
    ) -> rusqlite::Result<usize> {
        let before = conn.total_changes();
        let width = 1 + cells.len();
        for chunk in keep.chunks(self.chunk) {
            let mut stmt = conn.prepare_cached(&self.sql_for(chunk.len()))?;
            let mut p = 1;
            for &r in chunk {
                stmt.raw_bind_parameter(p, ts[r])?;
                for (k, c) in cells.iter().enumerate() {
                    let at = p + 1 + k;
                    match c {
                        Cells::Int(v) => stmt.raw_bind_parameter(at, v[r])?,
                        Cells::Float(v) => {
                            stmt.raw_bind_parameter(at, v[r].filter(|x| x.is_finite()))?
                        }
                        Cells::Text(v) => stmt.raw_bind_parameter(at, v[r].as_deref())?,
                    }
                }
                p += width;
            }
            stmt.raw_execute()?;
        }
        for &r in keep {
            let t = ts[r];
            self.first_ts = Some(self.first_ts.map_or(t, |f| f.min(t)));
            self.last_ts = Some(self.last_ts.map_or(t, |l| l.max(t)));
        }
        let added = (conn.total_changes() - before) as usize;
        self.rows += added as i64;
        Ok(added)
    }

    /// Inserts bars `rows` (ms timestamps, stored as µs; open, high, low, close, volume).
    pub fn insert_bars(
        &mut self,
        conn: &Connection,
        ts_ms: &[i64],
        cols: [&[f64]; 5],
        rows: std::ops::Range<usize>,
    ) -> rusqlite::Result<usize> {
        let before = conn.total_changes();
        let mut at = rows.start;
        while at < rows.end {
            let chunk = at..(at + self.chunk).min(rows.end);
            at = chunk.end;
            let mut stmt = conn.prepare_cached(&self.sql_for(chunk.len()))?;
            let mut p = 1;
            for r in chunk {
                stmt.raw_bind_parameter(p, ts_ms[r] * 1000)?;
                for (k, c) in cols.iter().enumerate() {
                    stmt.raw_bind_parameter(p + 1 + k, c[r])?;
                }
                p += 6;
            }
            stmt.raw_execute()?;
        }
        if let (Some(&a), Some(&b)) = (ts_ms[rows.clone()].iter().min(), ts_ms[rows].iter().max()) {
            self.first_ts = Some(self.first_ts.map_or(a * 1000, |f| f.min(a * 1000)));
            self.last_ts = Some(self.last_ts.map_or(b * 1000, |l| l.max(b * 1000)));
        }
        let added = (conn.total_changes() - before) as usize;
        self.rows += added as i64;
        Ok(added)
    }

    /// Makes the staging table the measurement `name`, inside `tx`: renamed into place, or
    /// appended to an existing table with the same columns. Returns the measurement's totals.
    pub fn publish(
        &self,
        tx: &Transaction,
        name: &str,
        now: &str,
    ) -> Result<MeasurementInfo, String> {
        let sql = |e: rusqlite::Error| e.to_string();
        // appending to `BTC` when `btc` exists appends to `btc`
        let found = actual_name(tx, name).map_err(sql)?;
        let name = found.as_deref().unwrap_or(name);
        let existing = get(tx, name).map_err(sql)?;
        let (rows, first, last) = if found.is_some() {
            let have = table_columns(tx, name).map_err(sql)?;
            if have != self.columns {
                return Err(format!(
                    "measurement {name} exists with columns ({}); this file has ({}): import it under another name",
                    have.join(", "),
                    self.columns.join(", ")
                ));
            }
            let list = self
                .columns
                .iter()
                .map(|c| quoted(c))
                .collect::<Vec<_>>()
                .join(", ");
            // a time-keyed table (a dataset's bars) keeps its first row of a time
            let or_ignore = if time_keyed(tx, name).map_err(sql)? {
                "OR IGNORE "
            } else {
                ""
            };
            let added = tx
                .execute(
                    &format!(
                        "INSERT {or_ignore}INTO {n}({list}) SELECT {list} FROM {s}",
                        n = quoted(name),
                        s = quoted(&self.table)
                    ),
                    [],
                )
                .map_err(sql)? as i64;
            tx.execute_batch(&format!("DROP TABLE {}", quoted(&self.table)))
                .map_err(sql)?;
            let (rows, first, last) = match existing {
                Some(m) => (
                    m.row_count + added,
                    min_opt(m.first_ts, self.first_ts),
                    max_opt(m.last_ts, self.last_ts),
                ),
                None => tx
                    .query_row(
                        &format!(
                            "SELECT count(*), min(timestamp), max(timestamp) FROM {}",
                            quoted(name)
                        ),
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .map_err(sql)?,
            };
            (rows, first, last)
        } else {
            tx.execute_batch(&format!(
                "ALTER TABLE {} RENAME TO {}",
                quoted(&self.table),
                quoted(name)
            ))
            .map_err(sql)?;
            if !self.or_ignore {
                // a time-keyed table is its own index
                tx.execute_batch(&format!(
                    "CREATE INDEX {} ON {}(timestamp)",
                    quoted(&format!("{name}__ts")),
                    quoted(name)
                ))
                .map_err(sql)?;
            }
            (self.rows, self.first_ts, self.last_ts)
        };
        let m = MeasurementInfo {
            name: name.into(),
            row_count: rows,
            first_ts: first,
            last_ts: last,
            kind: "table".into(),
            columns: self.columns.clone(),
            updated_at: now.into(),
        };
        record(tx, &m).map_err(sql)?;
        // a dataset's indicator view (`<slug>_indicators` over `<slug>_ohlcv`) has its rows
        if let Some(stem) = name.strip_suffix("_ohlcv") {
            tx.execute(
                "UPDATE bd_measurements SET row_count = ?2, first_ts = ?3, last_ts = ?4, updated_at = ?5
                 WHERE name = ?1 COLLATE NOCASE AND kind = 'view'",
                params![format!("{stem}_indicators"), rows, first, last, now],
            )
            .map_err(sql)?;
        }
        get(tx, name)
            .map_err(sql)?
            .ok_or_else(|| "the catalog lost the measurement".to_string())
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Drops every staging table (what a stopped import left).
pub fn drop_stale_staging(conn: &Connection) -> rusqlite::Result<usize> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 8) = ?1")?
        .query_map([STAGING_PREFIX], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut n = 0;
    for name in &names {
        conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quoted(name)))?;
        n += 1;
    }
    Ok(n)
}

/// The indicator view of a dataset's OHLCV measurement: SMA 10/20, RSI 14 (Cutler's: simple
/// averages of gains and losses), and the 20-bar high and low. A view costs no import time and
/// no space, and is always in step with its bars.
pub fn create_indicator_view(tx: &Transaction, view: &str, ohlcv: &str) -> rusqlite::Result<()> {
    tx.execute_batch(&format!(
        "DROP VIEW IF EXISTS {v};
         CREATE VIEW {v} AS SELECT timestamp,
           AVG(close) OVER w10 AS sma_10,
           AVG(close) OVER w20 AS sma_20,
           CASE WHEN AVG(MAX(-chg, 0)) OVER w14 = 0 THEN 100.0
                ELSE 100.0 - 100.0 / (1.0 + AVG(MAX(chg, 0)) OVER w14 / AVG(MAX(-chg, 0)) OVER w14)
           END AS rsi_14,
           MAX(high) OVER w20 AS high_20,
           MIN(low) OVER w20 AS low_20
         FROM (SELECT timestamp, high, low, close,
                      close - LAG(close) OVER (ORDER BY timestamp) AS chg FROM {o})
         WINDOW w10 AS (ORDER BY timestamp ROWS 9 PRECEDING),
                w14 AS (ORDER BY timestamp ROWS 13 PRECEDING),
                w20 AS (ORDER BY timestamp ROWS 19 PRECEDING);",
        v = quoted(view),
        o = quoted(ohlcv)
    ))
}

/// The columns of the indicator view.
pub const INDICATOR_COLUMNS: [&str; 6] = [
    "timestamp",
    "sma_10",
    "sma_20",
    "rsi_14",
    "high_20",
    "low_20",
];
