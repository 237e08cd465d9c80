//! The research backend (seed 003, SPEC §5): seed 003's datasets over the desk's, walk-forward
//! runs and their predictions, simulations and trades, read-only SQL, measurements, and the
//! durable job queue that imports CSV files into measurements. Its database is its own file
//! (`store::DB_FILE`) beside the desk's; the workers and every query have connections of their own.
pub mod import;
pub mod ingest;
pub mod jobs;
pub mod measure;
pub mod sql;
pub mod store;
pub mod sync;

use crate::engine::datasets::DatasetMeta;
use crate::engine::error::{DeskError, DeskResult};
use crate::engine::handle::EngineHandle;
use rusqlite::Connection;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `[research]` in the config.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResearchConfig {
    /// Require `X-Stage1-Token` (one of `tokens`) on seed 003's routes (seed 003's `enable_auth`).
    /// A logged-in operator session or an API bearer token is accepted too.
    pub enable_auth: bool,
    /// The accepted `X-Stage1-Token` values (`STAGE1_TOKENS`, comma-separated).
    pub tokens: Vec<String>,
    /// Job workers.
    pub workers: usize,
    /// A query (or an export that has sent no row for this long) is stopped after this many seconds.
    pub query_timeout_s: u64,
    /// Most rows a JSON query answers (exports stream any number).
    pub query_max_rows: usize,
    /// Queries and exports at once (the rest wait).
    pub max_queries: usize,
}

impl Default for ResearchConfig {
    fn default() -> Self {
        ResearchConfig {
            enable_auth: false,
            tokens: Vec::new(),
            workers: 2,
            query_timeout_s: 5,
            query_max_rows: 100_000,
            max_queries: 4,
        }
    }
}

#[derive(Clone)]
pub struct ResearchService(Arc<Inner>);

struct Inner {
    db: PathBuf,
    uploads: PathBuf,
    conn: Mutex<Connection>,
    pool: jobs::Pool,
    pub config: ResearchConfig,
    started: Instant,
    queries: Arc<tokio::sync::Semaphore>,
    engine: EngineHandle,
}

fn storage(e: impl std::fmt::Display) -> DeskError {
    DeskError::Storage(e.to_string())
}

/// The research database beside the desk's database file.
pub fn db_path(desk_db: &Path) -> PathBuf {
    desk_db.with_file_name(store::DB_FILE)
}

impl ResearchService {
    /// Opens the research database beside the desk's, recovers what a stopped process left
    /// running, gives every desk dataset its seed 003 row, and starts the workers.
    pub fn open(engine: EngineHandle, config: ResearchConfig) -> DeskResult<Self> {
        Self::start(engine, config, true)
    }

    /// A second view of a research store another service runs (the console beside an
    /// in-process server): it reads, queues and cancels, but recovers nothing and runs no job.
    pub fn view(engine: EngineHandle, config: ResearchConfig) -> DeskResult<Self> {
        Self::start(engine, config, false)
    }

    fn start(engine: EngineHandle, config: ResearchConfig, owner: bool) -> DeskResult<Self> {
        let desk_db = engine.reader().path().ok_or_else(|| {
            DeskError::Storage("research needs a database file, not an in-memory store".into())
        })?;
        let db = db_path(&desk_db);
        let uploads = desk_db.with_file_name("uploads");
        std::fs::create_dir_all(&uploads).map_err(storage)?;
        let conn = store::open(&db).map_err(storage)?;
        let (again, failed) = if owner {
            let r = jobs::recover(&conn).map_err(storage)?;
            let swept = jobs::sweep_uploads(&conn, &uploads).map_err(storage)?;
            if swept > 0 {
                tracing::info!(files = swept, "removed uploads no job will read");
            }
            r
        } else {
            (0, 0)
        };
        if again + failed > 0 {
            tracing::warn!(
                restarted = again,
                failed,
                "research jobs interrupted by the last stop"
            );
        }
        let ctx = Arc::new(sync::Ctx {
            data_dir: desk_db.parent().map(Path::to_path_buf).unwrap_or_default(),
            registrar: registrar(&engine),
        });
        if owner {
            // desk datasets from before research existed get their measurements
            match engine.reader().with(|st| st.list_datasets()) {
                Ok(desk) => {
                    let n = sync::queue_backfill(&conn, &desk).map_err(storage)?;
                    if n > 0 {
                        tracing::info!(datasets = n, "queued measurements for older datasets");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list the desk's datasets"),
            }
        }
        let pool = jobs::Pool::start(db.clone(), if owner { config.workers } else { 0 }, ctx);
        let queries = Arc::new(tokio::sync::Semaphore::new(config.max_queries.max(1)));
        Ok(ResearchService(Arc::new(Inner {
            db,
            uploads,
            conn: Mutex::new(conn),
            pool,
            config,
            started: Instant::now(),
            queries,
            engine,
        })))
    }

    pub fn config(&self) -> &ResearchConfig {
        &self.0.config
    }

    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }

    /// Runs `f` on the service's own connection, off the async workers.
    pub async fn db<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> DeskResult<R> {
        let me = self.0.clone();
        tokio::task::spawn_blocking(move || {
            f(&mut me.conn.lock().unwrap_or_else(|p| p.into_inner())).map_err(storage)
        })
        .await
        .map_err(|_| DeskError::Internal)?
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ready(&self) -> bool {
        self.db(|c| c.query_row("SELECT count(*) FROM bd_jobs", [], |r| r.get::<_, i64>(0)))
            .await
            .is_ok()
    }

    /// A read-only SQL connection, once a query slot is free (`max_queries` at once).
    pub async fn reader(
        &self,
    ) -> Result<(sql::Reader, tokio::sync::OwnedSemaphorePermit), sql::SqlError> {
        // a slot within the query time limit, or the surface is busy
        let wait = Duration::from_secs(self.0.config.query_timeout_s.max(1));
        let permit = tokio::time::timeout(wait, self.0.queries.clone().acquire_owned())
            .await
            .map_err(|_| sql::SqlError::Busy(self.0.config.max_queries))?
            .map_err(|_| sql::SqlError::Failed("the server is stopping".into()))?;
        let db = self.0.db.clone();
        let limit = Duration::from_secs(self.0.config.query_timeout_s.max(1));
        let reader = tokio::task::spawn_blocking(move || sql::Reader::open(&db, limit))
            .await
            .map_err(|_| sql::SqlError::Failed("internal error".into()))??;
        Ok((reader, permit))
    }

    /// Queues an import of CSV text: `body[data]` is a JSON string's raw text, unescaped into
    /// the upload file as it is written (the body is never held twice).
    pub async fn queue_import(
        &self,
        measurement: String,
        body: bytes::Bytes,
        data: std::ops::Range<usize>,
        filename: Option<String>,
    ) -> DeskResult<store::Job> {
        let me = self.clone();
        let job = tokio::task::spawn_blocking(move || -> DeskResult<store::Job> {
            let id = uuid::Uuid::new_v4().to_string();
            let path = me.0.uploads.join(format!(
                "import_{}_{}.csv",
                chrono::Utc::now().format("%Y%m%d%H%M%S"),
                &id[..8]
            ));
            let raw = std::str::from_utf8(&body[data]).map_err(storage)?;
            // the file and its name on disk before the job that names it
            let written = write_unescaped(&path, raw)
                .and_then(|_| std::fs::File::open(&me.0.uploads)?.sync_all());
            if let Err(e) = written {
                let _ = std::fs::remove_file(&path);
                return Err(storage(e));
            }
            drop(body);
            let payload = json!({
                "measurement": measurement,
                "file_path": path.display().to_string(),
                "filename": filename,
            });
            let conn = me.0.conn.lock().unwrap_or_else(|p| p.into_inner());
            store::insert_job(&conn, &id, jobs::IMPORT, &payload).map_err(|e| {
                let _ = std::fs::remove_file(&path);
                storage(e)
            })
        })
        .await
        .map_err(|_| DeskError::Internal)??;
        self.0.pool.poke();
        Ok(job)
    }

    /// Queues `dataset_register` for the datasets whose bars are `measurement` (if it exists).
    pub async fn register_from(&self, measurement: String) -> DeskResult<usize> {
        let n = self
            .db(move |c| sync::queue_register(c, &measurement))
            .await?;
        if n > 0 {
            self.0.pool.poke();
        }
        Ok(n)
    }

    pub async fn cancel(&self, id: String) -> DeskResult<Result<Option<store::Job>, String>> {
        self.db(move |c| jobs::cancel(c, &id)).await
    }

    /// Stops the workers (a running job goes back to PENDING for the next start).
    pub fn stopping(&self) {
        let me = self.0.clone();
        std::thread::spawn(move || me.pool.stop());
    }

    /// Seed 003's datasets: every desk dataset (with its bars' measurements) and every dataset
    /// created here, oldest first.
    pub async fn datasets(&self) -> DeskResult<Vec<Value>> {
        Ok(self.datasets_page(0, usize::MAX).await?.0)
    }

    /// `limit` of `datasets()` from `offset`, and how many there are: only the page's rows are
    /// built into JSON (each looks up its measurements).
    pub async fn datasets_page(
        &self,
        offset: usize,
        limit: usize,
    ) -> DeskResult<(Vec<Value>, usize)> {
        let desk = self
            .0
            .engine
            .reader()
            .read(|_, st| st.list_datasets())
            .await?;
        self.db(move |c| {
            let by_id: std::collections::HashMap<&str, &DatasetMeta> =
                desk.iter().map(|d| (d.dataset_id.as_str(), d)).collect();
            let mut rows = store::datasets(c)?;
            let known: std::collections::HashSet<String> =
                rows.iter().map(|r| r.dataset_id.clone()).collect();
            // in the desk's order, so names taken twice get their suffixes the same way each time
            for d in desk.iter().filter(|d| !known.contains(&d.dataset_id)) {
                rows.push(desk_row(c, d)?);
            }
            rows.sort_by(|a, b| a.created_at.cmp(&b.created_at));
            let total = rows.len();
            let page = rows
                .iter()
                .skip(offset)
                .take(limit)
                .map(|r| dataset_json(c, r, by_id.get(r.dataset_id.as_str()).copied()))
                .collect::<rusqlite::Result<Vec<Value>>>()?;
            Ok((page, total))
        })
        .await
    }

    /// One of `datasets()`, without listing the others: `None` when neither surface knows it.
    pub async fn dataset(&self, id: String) -> DeskResult<Option<Value>> {
        let i = id.clone();
        let desk = self
            .0
            .engine
            .reader()
            .read(move |_, st| st.get_dataset(&i))
            .await?;
        self.db(move |c| {
            let row = match (store::dataset(c, &id)?, &desk) {
                (Some(r), _) => r,
                (None, Some(d)) => desk_row(c, d)?,
                (None, None) => return Ok(None),
            };
            dataset_json(c, &row, desk.as_ref()).map(Some)
        })
        .await
    }

    /// Writes a dataset's bars as its measurements (`<slug>_ohlcv` and the `<slug>_indicators`
    /// view) and records its seed 003 row.
    pub async fn attach_bars(
        &self,
        meta: DatasetMeta,
        bars: Arc<crate::engine::datasets::Bars>,
    ) -> DeskResult<()> {
        // a connection of its own: the other routes do not wait behind a big dataset's write
        let db = self.0.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = store::open(&db).map_err(storage)?;
            ingest::attach_bars(&mut c, &meta, &bars)
                .map(|_| ())
                .map_err(|e| storage(format!("{e:#}")))
        })
        .await
        .map_err(|_| DeskError::Internal)?
    }
}

/// How the workers register a dataset with the desk: through the engine, on the runtime that
/// started the service (None outside one: nothing registers then).
fn registrar(engine: &EngineHandle) -> Option<sync::Registrar> {
    let rt = tokio::runtime::Handle::try_current().ok()?;
    let engine = engine.clone();
    Some(Arc::new(move |meta| {
        rt.block_on(engine.call(move |e| e.register_dataset(meta)))
            .map_err(|e| e.to_string())
    }))
}

/// The seed 003 row of a desk dataset from before research existed, made once. Checked and
/// written in one IMMEDIATE transaction: a worker that publishes the dataset's measurements
/// meanwhile (its own connection) keeps its row rather than losing it to this one.
fn desk_row(c: &mut Connection, d: &DatasetMeta) -> rusqlite::Result<store::DatasetRow> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(row) = store::dataset(&tx, &d.dataset_id)? {
        return Ok(row);
    }
    let row = store::DatasetRow {
        dataset_id: d.dataset_id.clone(),
        dataset_slug: store::free_slug(&tx, &d.name)?,
        symbol: d.symbol.clone(),
        granularity: d.timeframe.clone(),
        source: Some(d.source_type.clone()),
        ohlcv_measurement: None,
        indicator_measurement: None,
        metadata: json!({ "name": d.name }),
        created_at: crate::services::backtest::views::iso_z(d.created_at),
    };
    store::upsert_dataset(&tx, &row)?;
    tx.commit()?;
    Ok(row)
}

/// Seed 003's dataset object: its row with the row counts and µs time ranges of its measurements.
pub fn dataset_json(
    c: &Connection,
    r: &store::DatasetRow,
    desk: Option<&DatasetMeta>,
) -> rusqlite::Result<Value> {
    let m = |name: &Option<String>| -> rusqlite::Result<Option<measure::MeasurementInfo>> {
        match name {
            Some(n) => measure::get(c, n),
            None => Ok(None),
        }
    };
    let (o, i) = (m(&r.ohlcv_measurement)?, m(&r.indicator_measurement)?);
    Ok(json!({
        "dataset_id": r.dataset_id,
        "dataset_slug": r.dataset_slug,
        "symbol": r.symbol,
        "granularity": r.granularity,
        "source": r.source,
        "ohlcv_measurement": r.ohlcv_measurement,
        "indicator_measurement": r.indicator_measurement,
        "ohlcv_row_count": o.as_ref().map(|m| m.row_count),
        "indicator_row_count": i.as_ref().map(|m| m.row_count),
        "ohlcv_first_ts": o.as_ref().and_then(|m| m.first_ts),
        "ohlcv_last_ts": o.as_ref().and_then(|m| m.last_ts),
        "indicator_first_ts": i.as_ref().and_then(|m| m.first_ts),
        "indicator_last_ts": i.as_ref().and_then(|m| m.last_ts),
        "metadata": r.metadata,
        "name": desk.map(|d| d.name.clone()),
        "created_at": r.created_at,
    }))
}

/// The first line of a JSON string's raw text (quotes included), decoded from at most its first
/// 64 KiB (the rest is never copied), a BOM dropped: a CSV upload's header.
pub fn first_line(raw: &str) -> String {
    let inner = raw.strip_prefix('"').unwrap_or(raw);
    let b = inner.as_bytes();
    let cap = b.len().min(1 << 16);
    let mut i = 0;
    while i < cap {
        match b[i] {
            b'"' => break,
            b'\\' => match b.get(i + 1) {
                Some(b'n' | b'r') => break,
                Some(b'u') => {
                    let hex = inner.get(i + 2..i + 6).unwrap_or("");
                    if hex.eq_ignore_ascii_case("000a") || hex.eq_ignore_ascii_case("000d") {
                        break;
                    }
                    i += 6;
                }
                _ => i += 2,
            },
            _ => i += 1,
        }
    }
    let mut end = i.min(b.len());
    while !inner.is_char_boundary(end) {
        end -= 1;
    }
    let line: String = serde_json::from_str(&format!("\"{}\"", &inner[..end])).unwrap_or_default();
    line.trim_start_matches('\u{feff}').to_string()
}

/// Writes a JSON string's raw text (quotes included) to `path` unescaped, a piece at a time.
pub fn write_unescaped(path: &Path, raw: &str) -> std::io::Result<()> {
    use std::io::Write;
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| std::io::Error::other("data is not a JSON string"))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut start = 0;
    let mut utf8 = [0u8; 4];
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        out.write_all(&bytes[start..i])?;
        let esc = bytes.get(i + 1).copied().unwrap_or(b'\\');
        let plain = match esc {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'"' | b'\\' | b'/' => Some(esc),
            _ => None,
        };
        match plain {
            Some(b) => {
                out.write_all(&[b])?;
                i += 2;
            }
            None => {
                // \uXXXX, with a surrogate pair as one character (serde_json checked the text)
                let hex = |at: usize| {
                    inner
                        .get(at..at + 4)
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                };
                let hi = hex(i + 2).unwrap_or(0xfffd);
                let (code, used) = if (0xd800..0xdc00).contains(&hi) {
                    match hex(i + 8) {
                        Some(lo) if (0xdc00..0xe000).contains(&lo) => {
                            (0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00), 12)
                        }
                        _ => (0xfffd, 6),
                    }
                } else {
                    (hi, 6)
                };
                let c = char::from_u32(code).unwrap_or('\u{fffd}');
                out.write_all(c.encode_utf8(&mut utf8).as_bytes())?;
                i += used;
            }
        }
        start = i;
    }
    out.write_all(&bytes[start.min(bytes.len())..])?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_header_is_read_from_the_raw_text_up_to_its_first_line_end() {
        let h = |text: &str| super::first_line(&serde_json::to_string(text).unwrap());
        assert_eq!(h("\u{feff}timestamp,v\n1,2\n"), "timestamp,v");
        assert_eq!(h("a\\nb,c\r\n1"), "a\\nb,c");
        assert_eq!(h("é😀,timestamp"), "é😀,timestamp");
        assert_eq!(super::first_line("\"t\\u000Av\""), "t");
        assert_eq!(h(""), "");
        let long = format!("{},x\n", "é".repeat(40_000));
        assert!(h(&long).starts_with("éé"), "cut at a character, not a byte");
    }

    #[test]
    fn a_json_string_is_unescaped_into_the_file() {
        let text = "ts,v\n1,\"a\\b\"\n2,é😀\t/\n";
        let raw = serde_json::to_string(text).unwrap().replace('/', "\\/");
        let raw = raw.replace("é", "\\u00e9").replace("😀", "\\ud83d\\ude00");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        super::write_unescaped(&p, &raw).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
    }
}
