//! Read-only SQL over the research database (`questdb/query`, `questdb/export`). Three locks:
//! the connection is opened read-only with `query_only`; an authorizer refuses, while the
//! statement is prepared, anything that writes, attaches, changes a setting, opens a transaction
//! or calls `load_extension`; and a statement SQLite does not call read-only is refused too.
//! One statement only. A progress handler interrupts a query past its time limit.
use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a query was refused or stopped (each a 400 with its message).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SqlError {
    #[error("{0}")]
    Refused(String),
    #[error("query timed out after {0} s (limit: research.query_timeout_s)")]
    Timeout(u64),
    #[error("the result has more than {0} rows: add a LIMIT, or use POST /api/questdb/export")]
    TooManyRows(usize),
    #[error("the result is larger than {} MiB: select fewer columns or rows, or use POST /api/questdb/export", JSON_MAX_BYTES >> 20)]
    TooLarge,
    #[error("{0}")]
    Failed(String),
    #[error("{0} queries are running already; try again shortly (research.max_queries)")]
    Busy(usize),
}

/// Most bytes of cells a JSON answer gathers (a row limit alone lets wide rows through).
pub const JSON_MAX_BYTES: usize = 64 << 20;

/// Pragmas that only read (with or without an argument).
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "collation_list",
    "function_list",
    "pragma_list",
];

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    use AuthAction::*;
    match ctx.action {
        Select | Read { .. } | Recursive => Authorization::Allow,
        Function { function_name } => {
            let f = function_name.to_ascii_lowercase();
            if matches!(
                f.as_str(),
                "load_extension" | "readfile" | "writefile" | "edit" | "fts3_tokenizer"
            ) {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        Pragma { pragma_name, .. } => {
            if READ_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        _ => Authorization::Deny,
    }
}

/// A read-only connection with the authorizer and a time limit (`limit`).
pub struct Reader {
    conn: Connection,
    limit: Duration,
    started: std::sync::Arc<std::sync::Mutex<Instant>>,
}

impl Reader {
    pub fn open(db: &Path, limit: Duration) -> Result<Reader, SqlError> {
        let conn = crate::engine::store::Store::reader_connection(db)
            .map_err(|e| SqlError::Failed(format!("cannot open the store: {e}")))?;
        // no one value (a zeroblob, a printf, a group_concat) may take more than 16 MiB: a call
        // that big runs inside one step, where the time limit cannot stop it
        conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, 16 << 20)
            .map_err(|e| SqlError::Failed(e.to_string()))?;
        conn.authorizer(Some(authorize));
        let started = std::sync::Arc::new(std::sync::Mutex::new(Instant::now()));
        let s = started.clone();
        conn.progress_handler(
            10_000,
            Some(move || s.lock().map(|t| t.elapsed() > limit).unwrap_or(true)),
        );
        Ok(Reader {
            conn,
            limit,
            started,
        })
    }

    /// Restarts the clock (an export's limit counts from its last row).
    pub fn touch(&self) {
        if let Ok(mut t) = self.started.lock() {
            *t = Instant::now();
        }
    }

    pub fn classify(&self, e: rusqlite::Error) -> SqlError {
        let text = e.to_string();
        match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                SqlError::Timeout(self.limit.as_secs())
            }
            _ if text.contains("not authorized") => SqlError::Refused(format!(
                "refused: the SQL surface is read-only (no writes, ATTACH, PRAGMA settings, transactions or load_extension): {text}"
            )),
            rusqlite::Error::MultipleStatement => SqlError::Refused(
                "refused: one statement per request (no ';' followed by another)".into(),
            ),
            _ if text.contains("readonly") || text.contains("read-only") => {
                SqlError::Refused(format!("refused: the SQL surface is read-only: {text}"))
            }
            _ => SqlError::Failed(text),
        }
    }

    /// Prepares `sql`: one read-only statement, or a refusal.
    pub fn prepare(&self, sql: &str) -> Result<rusqlite::Statement<'_>, SqlError> {
        if sql.trim().is_empty() {
            return Err(SqlError::Refused("sql is empty".into()));
        }
        if more_than_one_statement(sql) {
            return Err(SqlError::Refused(
                "refused: one statement per request (no ';' followed by another)".into(),
            ));
        }
        self.touch();
        let stmt = self.conn.prepare(sql).map_err(|e| self.classify(e))?;
        if !stmt.readonly() {
            return Err(SqlError::Refused(
                "refused: the statement would write; the SQL surface is read-only".into(),
            ));
        }
        Ok(stmt)
    }

    /// Runs a query for a JSON answer: its columns and at most `max_rows` rows.
    pub fn query(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>), SqlError> {
        let mut stmt = self.prepare(sql)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let width = columns.len();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        loop {
            match rows.next() {
                Ok(Some(row)) => {
                    if out.len() == max_rows {
                        return Err(SqlError::TooManyRows(max_rows));
                    }
                    let cells: Vec<serde_json::Value> = (0..width)
                        .map(|i| json_value(row.get_ref_unwrap(i)))
                        .collect();
                    bytes += cells.iter().map(cell_bytes).sum::<usize>();
                    if bytes > JSON_MAX_BYTES {
                        return Err(SqlError::TooLarge);
                    }
                    out.push(cells);
                }
                Ok(None) => break,
                Err(e) => return Err(self.classify(e)),
            }
        }
        Ok((columns, out))
    }
}

/// Writes a prepared statement's rows as CSV (header first) into `sink`.
pub fn export_rows(
    reader: &Reader,
    stmt: &mut rusqlite::Statement<'_>,
    sink: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<u64, SqlError> {
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let width = columns.len();
    let mut buf = Vec::with_capacity(80 << 10);
    let header: Vec<String> = columns.iter().map(|c| csv_field(c)).collect();
    buf.extend_from_slice(header.join(",").as_bytes());
    buf.push(b'\n');
    let mut rows = stmt.raw_query();
    let mut n = 0u64;
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                for i in 0..width {
                    if i > 0 {
                        buf.push(b',');
                    }
                    write_cell(&mut buf, row.get_ref_unwrap(i));
                }
                buf.push(b'\n');
                n += 1;
                if buf.len() >= 64 << 10 {
                    if !sink(std::mem::replace(&mut buf, Vec::with_capacity(80 << 10))) {
                        return Ok(n);
                    }
                    reader.touch();
                }
            }
            Ok(None) => break,
            Err(e) => return Err(reader.classify(e)),
        }
    }
    if !buf.is_empty() {
        sink(buf);
    }
    Ok(n)
}

/// Whether anything but blanks and comments follows a `;` that ends a statement (outside quotes,
/// identifiers and comments). SQLite would prepare the second statement only after the first.
pub fn more_than_one_statement(sql: &str) -> bool {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut ended = false;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                if ended {
                    return true;
                }
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'[' => {
                if ended {
                    return true;
                }
                while i < b.len() && b[i] != b']' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b';' => ended = true,
            c if c.is_ascii_whitespace() => {}
            _ if ended => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One cell as CSV text (appended to `buf`).
pub fn write_cell(buf: &mut Vec<u8>, v: ValueRef<'_>) {
    use std::io::Write;
    match v {
        ValueRef::Null => {}
        ValueRef::Integer(i) => {
            let _ = write!(buf, "{i}");
        }
        ValueRef::Real(f) => {
            let _ = write!(buf, "{f}");
        }
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            buf.extend_from_slice(csv_field(&s).as_bytes());
        }
        ValueRef::Blob(b) => {
            for byte in b {
                let _ = write!(buf, "{byte:02x}");
            }
        }
    }
}

/// About what a JSON cell costs in memory.
fn cell_bytes(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::String(s) => s.len() + 24,
        _ => 16,
    }
}

/// One cell as JSON (a blob as hex, a non-finite number as null).
pub fn json_value(v: ValueRef<'_>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::more_than_one_statement as many;

    #[test]
    fn a_second_statement_is_seen_outside_quotes_and_comments() {
        assert!(!many("SELECT 1"));
        assert!(!many("SELECT 1;  -- done\n ; /* and */ "));
        assert!(!many("SELECT ';DROP', \"a;b\", [x;y] FROM t -- ; DROP"));
        assert!(!many("SELECT 'it''s; fine'"));
        assert!(many("SELECT 1; DROP TABLE t"));
        assert!(many("SELECT 1;SELECT 2"));
        assert!(many("SELECT 1; /* c */ 'x'"));
    }
}
