//! The SQLite store (bundled, WAL, versioned migrations). The engine thread is its only writer;
//! every batch of commands is one `BEGIN IMMEDIATE` transaction committed before any reply.
use super::error::DeskResult;
use super::model::{BrickSize, Color, EntrySizeMode, Env, Side, TradeMode};
use super::orders::{Order, OrderKind, OrderStatus};
use super::schema::MIGRATIONS;
use super::state::Brick;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::path::Path;

#[derive(Debug, Clone, Copy)]
pub enum DocTable {
    BridgeArtifacts,
    Grants,
    /// Writes done or refused under a grant (`AuditEntry`).
    Audit,
}

impl DocTable {
    fn name(self) -> &'static str {
        match self {
            DocTable::BridgeArtifacts => "bridge_artifacts",
            DocTable::Grants => "permission_grants",
            DocTable::Audit => "audit_log",
        }
    }
}

pub struct Store {
    conn: Connection,
    in_tx: bool,
}

/// One line of the engine's event log (stored, broadcast to WebSocket clients and the console).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeskEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub asset: Option<String>,
    pub message: String,
}

/// WAL + FULL (a commit is on disk before it is answered, and readers never block the writer),
/// foreign keys on, and a busy writer waited for up to 5 s: every writing connection's settings.
fn durable(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
}

/// Brings a database to the last of `steps` (its `user_version` counts those applied). The
/// version is read inside the IMMEDIATE transaction that applies the rest: two connections
/// opening a new file at once apply each step once.
pub fn migrate(conn: &mut Connection, steps: &[&str]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, step) in steps.iter().enumerate().skip(version) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i + 1)?;
    }
    tx.commit()
}

impl Store {
    pub fn open(path: &Path) -> DeskResult<Self> {
        let conn = Connection::open(path)?;
        // the operator's alone (SQLite gives the -wal and -shm files the same mode)
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        Self::init(conn)
    }

    pub fn open_in_memory() -> DeskResult<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    /// A connection of a service's own to the desk's database or a database beside it (the
    /// research store's): WAL, so it never holds another's transaction; FULL, so what it commits
    /// is on disk; foreign keys on; a busy writer waited for up to 5 s.
    pub fn side_connection(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open(path)?;
        durable(&conn)?;
        Ok(conn)
    }

    /// A read-only connection to the same database (WAL: it never blocks the writer). Its
    /// writes are refused by SQLite itself (`query_only`).
    pub fn open_reader(path: &Path) -> DeskResult<Self> {
        let conn = Self::reader_connection(path)?;
        Ok(Store { conn, in_tx: false })
    }

    /// The connection `open_reader` wraps: read-only, `query_only`, a busy writer waited for
    /// up to 5 s (the research SQL surface's too, with its limits added).
    pub fn reader_connection(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "query_only", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    /// The database file, if the store is not in memory.
    pub fn path(&self) -> Option<std::path::PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
    }

    fn init(conn: Connection) -> DeskResult<Self> {
        // SQLite's own checkpoint every 1,000 WAL pages stays: measured here, checkpoints taken
        // out of the commit path (when the queue is idle, and on the tick) were slower (31.1k vs
        // 32.6k webhooks/s at 16 connections) with a worse p99; the WAL is reused after each one.
        durable(&conn)?;
        let mut store = Store { conn, in_tx: false };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> DeskResult<()> {
        Ok(migrate(&mut self.conn, MIGRATIONS)?)
    }

    pub fn schema_version(&self) -> DeskResult<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn begin(&mut self) -> DeskResult<()> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_tx = true;
        }
        Ok(())
    }

    pub fn commit(&mut self) -> DeskResult<()> {
        if self.in_tx {
            self.in_tx = false;
            self.conn.execute_batch("COMMIT")?;
        }
        Ok(())
    }

    pub fn rollback(&mut self) {
        if self.in_tx {
            self.in_tx = false;
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rollback failed");
            }
        }
    }

    /// Opens the savepoint of one job inside the batch's transaction.
    pub fn savepoint(&mut self) -> DeskResult<()> {
        self.conn.prepare_cached("SAVEPOINT job")?.execute([])?;
        Ok(())
    }

    pub fn release_savepoint(&mut self) {
        let r = self
            .conn
            .prepare_cached("RELEASE job")
            .and_then(|mut s| s.execute([]));
        if let Err(e) = r {
            tracing::error!(error = %e, "release savepoint failed");
        }
    }

    /// Undoes the job's writes; the batch's transaction stays open for the next job.
    pub fn rollback_to_savepoint(&mut self) {
        if let Err(e) = self.conn.execute_batch("ROLLBACK TO job; RELEASE job") {
            tracing::error!(error = %e, "rollback to savepoint failed");
        }
    }

    /// Copies the WAL into the database (PASSIVE: never waits for readers), then lets the next
    /// commit write the WAL from its start (its file is kept and reused, not regrown). Past
    /// `WAL_RESTART_FRAMES` (readers kept the automatic checkpoints from finishing) a RESTART
    /// waits for readers so the WAL cannot grow without bound. Run by the 1 Hz tick.
    pub fn checkpoint(&mut self) {
        const WAL_RESTART_FRAMES: i64 = 16_384;
        let started = std::time::Instant::now();
        let passive = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            });
        match passive {
            Ok((_, log, done)) if log > WAL_RESTART_FRAMES && done < log => {
                if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(RESTART)") {
                    tracing::warn!(error = %e, "WAL restart checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
        metrics::histogram!("brickdesk_engine_checkpoint_seconds")
            .record(started.elapsed().as_secs_f64());
    }

    // ---- bricks ----

    /// Inserts a brick; `false` when `(asset, size, bar_id)` is already stored (a duplicate).
    #[allow(clippy::too_many_arguments)]
    pub fn insert_brick(
        &self,
        asset: &str,
        size: BrickSize,
        bar_id: &str,
        color: Color,
        open: Option<f64>,
        close: Option<f64>,
        source: &str,
        received_at: DateTime<Utc>,
    ) -> DeskResult<bool> {
        let mut st = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO bricks(asset, size, bar_id, color, open, close, source, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let n = st.execute(params![
            asset,
            size.name(),
            bar_id,
            color.as_str(),
            open,
            close,
            source,
            received_at
        ])?;
        Ok(n == 1)
    }

    /// The newest `limit` bricks of one feed, oldest first.
    pub fn recent_bricks(
        &self,
        asset: &str,
        size: BrickSize,
        limit: u32,
    ) -> DeskResult<Vec<Brick>> {
        let mut st = self.conn.prepare_cached(
            "SELECT * FROM (SELECT id, bar_id, color, open, close, received_at FROM bricks
               WHERE asset = ?1 AND size = ?2 ORDER BY id DESC LIMIT ?3) ORDER BY id",
        )?;
        let rows = st.query_map(params![asset, size.name(), limit], |r| {
            let color: String = r.get(2)?;
            Ok(Brick {
                asset: asset.to_string(),
                size,
                bar_id: r.get(1)?,
                color: Color::parse(&color).ok_or_else(|| bad(2, "color"))?,
                open: r.get(3)?,
                close: r.get(4)?,
                received_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn brick_count(&self, asset: &str, size: BrickSize) -> DeskResult<i64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM bricks WHERE asset = ?1 AND size = ?2",
            params![asset, size.name()],
            |r| r.get(0),
        )?)
    }

    // ---- orders ----

    pub fn insert_order(&self, o: &Order) -> DeskResult<i64> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO orders(id, asset, symbol, exchange, side, qty, kind, trade_mode,
                entry_size_mode, env, status, entry_override, source, owner, stale, fill_price,
                created_at, claimed_at, updated_at)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)",
        )?;
        st.execute(params![
            o.id,
            o.asset,
            o.symbol,
            o.exchange,
            o.side.as_str(),
            o.qty,
            o.kind.as_str(),
            o.trade_mode.as_str(),
            o.entry_size_mode.as_str(),
            o.env.as_str(),
            o.status.as_str(),
            o.entry_override,
            o.source,
            o.owner,
            o.stale,
            o.fill_price,
            o.created_at,
            o.claimed_at,
            o.updated_at
        ])?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn update_order(&self, o: &Order) -> DeskResult<()> {
        let mut st = self.conn.prepare_cached(
            "UPDATE orders SET status = ?2, owner = ?3, stale = ?4, fill_price = ?5,
                claimed_at = ?6, updated_at = ?7 WHERE id = ?1",
        )?;
        st.execute(params![
            o.id,
            o.status.as_str(),
            o.owner,
            o.stale,
            o.fill_price,
            o.claimed_at,
            o.updated_at
        ])?;
        Ok(())
    }

    /// Claims up to `limit` PENDING orders, oldest first, in one statement: an order is handed
    /// to exactly one caller even if several claim at once. Returns the claimed ids by age.
    pub fn claim_pending(
        &self,
        limit: u32,
        owner: &str,
        now: DateTime<Utc>,
    ) -> DeskResult<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "UPDATE orders SET status = 'CLAIMED', owner = ?1, claimed_at = ?2, updated_at = ?2
             WHERE seq IN (SELECT seq FROM orders WHERE status = 'PENDING' ORDER BY seq LIMIT ?3)
             RETURNING seq, id",
        )?;
        let mut rows: Vec<(i64, String)> = st
            .query_map(params![owner, now, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        rows.sort_by_key(|(seq, _)| *seq);
        Ok(rows.into_iter().map(|(_, id)| id).collect())
    }

    pub fn load_order(&self, id: &str) -> DeskResult<Option<Order>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {ORDER_COLS} FROM orders WHERE id = ?1"))?;
        Ok(st.query_row(params![id], row_to_order).optional()?)
    }

    /// Unfinished orders plus the `recent` newest finished ones, oldest first.
    pub fn load_live_orders(&self, recent: u32) -> DeskResult<Vec<Order>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {ORDER_COLS} FROM orders WHERE status IN ('PENDING','CLAIMED','WORKING')
             UNION SELECT * FROM (SELECT {ORDER_COLS} FROM orders
                WHERE status NOT IN ('PENDING','CLAIMED','WORKING') ORDER BY seq DESC LIMIT ?1)
             ORDER BY seq"
        ))?;
        let rows = st.query_map(params![recent], row_to_order)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Orders newest first, optionally of one asset.
    pub fn list_orders(&self, asset: Option<&str>, limit: u32) -> DeskResult<Vec<Order>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {ORDER_COLS} FROM orders WHERE (?1 IS NULL OR asset = ?1) ORDER BY seq DESC LIMIT ?2"
        ))?;
        let rows = st.query_map(params![asset, limit], row_to_order)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn insert_fill(
        &self,
        order_id: &str,
        asset: &str,
        side: Side,
        qty: u32,
        price: f64,
        at: DateTime<Utc>,
    ) -> DeskResult<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO fills(order_id, asset, side, qty, price, at) VALUES (?1,?2,?3,?4,?5,?6)",
        )?;
        st.execute(params![order_id, asset, side.as_str(), qty, price, at])?;
        Ok(())
    }

    // ---- events ----

    pub fn insert_event(
        &self,
        at: DateTime<Utc>,
        kind: &str,
        asset: Option<&str>,
        message: &str,
    ) -> DeskResult<i64> {
        let mut st = self
            .conn
            .prepare_cached("INSERT INTO events(at, kind, asset, message) VALUES (?1,?2,?3,?4)")?;
        st.execute(params![at, kind, asset, message])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest `limit` events, oldest first.
    pub fn recent_events(&self, limit: u32) -> DeskResult<Vec<DeskEvent>> {
        let mut st = self.conn.prepare_cached(
            "SELECT * FROM (SELECT id, at, kind, asset, message FROM events ORDER BY id DESC LIMIT ?1) ORDER BY id",
        )?;
        let rows = st.query_map(params![limit], |r| {
            Ok(DeskEvent {
                id: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                asset: r.get(3)?,
                message: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- datasets ----

    /// Registers a dataset, or replaces one with the same id (a seed 003 dataset registered again
    /// after its bars were imported anew).
    pub fn insert_dataset(&self, d: &super::datasets::DatasetMeta) -> DeskResult<()> {
        let json = serde_json::to_string(d)
            .map_err(|e| super::error::DeskError::Storage(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO datasets(id, name, symbol, timeframe, timezone, row_count, data_path, source_type,
                source_path, meta_json, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)
             ON CONFLICT(id) DO UPDATE SET name = ?2, symbol = ?3, timeframe = ?4, timezone = ?5,
                row_count = ?6, data_path = ?7, source_type = ?8, source_path = ?9, meta_json = ?10",
            params![d.dataset_id, d.name, d.symbol, d.timeframe, d.timezone, d.row_count as i64, d.data_path,
                d.source_type, d.source_path, json, d.created_at],
        )?;
        Ok(())
    }

    /// Every dataset, oldest first.
    pub fn list_datasets(&self) -> DeskResult<Vec<super::datasets::DatasetMeta>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT meta_json FROM datasets ORDER BY created_at, id")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(
                serde_json::from_str(&json?)
                    .map_err(|e| super::error::DeskError::Storage(e.to_string()))?,
            );
        }
        Ok(out)
    }

    pub fn get_dataset(&self, id: &str) -> DeskResult<Option<super::datasets::DatasetMeta>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT meta_json FROM datasets WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| super::error::DeskError::Storage(e.to_string()))
        })
        .transpose()
    }

    // ---- JSON documents (artifacts, grants, runs) ----

    /// Inserts or replaces a JSON document in one of the document tables.
    pub fn put_doc(
        &self,
        table: DocTable,
        id: &str,
        json: &str,
        at: DateTime<Utc>,
    ) -> DeskResult<()> {
        let sql = format!(
            "INSERT INTO {}(id, json, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET json = excluded.json",
            table.name()
        );
        self.conn
            .prepare_cached(&sql)?
            .execute(params![id, json, at])?;
        Ok(())
    }

    pub fn get_doc(&self, table: DocTable, id: &str) -> DeskResult<Option<String>> {
        let sql = format!("SELECT json FROM {} WHERE id = ?1", table.name());
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![id], |r| r.get(0))
            .optional()?)
    }

    /// Every document of a table, oldest first, parsed.
    pub fn docs<T: serde::de::DeserializeOwned>(&self, table: DocTable) -> DeskResult<Vec<T>> {
        self.list_docs(table)?
            .iter()
            .map(|j| {
                serde_json::from_str(j).map_err(|e| super::error::DeskError::Storage(e.to_string()))
            })
            .collect()
    }

    pub fn list_docs(&self, table: DocTable) -> DeskResult<Vec<String>> {
        // written at the same moment: in the order written
        let sql = format!(
            "SELECT json FROM {} ORDER BY created_at, rowid",
            table.name()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- desk state ----

    pub fn save_asset_state(&self, asset: &str, json: &str, at: DateTime<Utc>) -> DeskResult<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO desk_assets(asset, json, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(asset) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at",
        )?;
        st.execute(params![asset, json, at])?;
        Ok(())
    }

    pub fn load_asset_state(&self, asset: &str) -> DeskResult<Option<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT json FROM desk_assets WHERE asset = ?1")?;
        Ok(st.query_row(params![asset], |r| r.get(0)).optional()?)
    }

    pub fn save_account(&self, json: &str, at: DateTime<Utc>) -> DeskResult<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO desk_account(id, json, updated_at) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at",
        )?;
        st.execute(params![json, at])?;
        Ok(())
    }

    pub fn load_account(&self) -> DeskResult<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT json FROM desk_account WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

const ORDER_COLS: &str =
    "seq, id, asset, symbol, exchange, side, qty, kind, trade_mode, entry_size_mode, env,
    status, entry_override, source, owner, stale, fill_price, created_at, claimed_at, updated_at";

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("bad stored value for {what}").into(),
    )
}

fn row_to_order(r: &Row<'_>) -> rusqlite::Result<Order> {
    let side: String = r.get(5)?;
    let kind: String = r.get(7)?;
    let mode: String = r.get(8)?;
    let size: String = r.get(9)?;
    let env: String = r.get(10)?;
    let status: String = r.get(11)?;
    Ok(Order {
        seq: r.get(0)?,
        id: r.get(1)?,
        asset: r.get(2)?,
        symbol: r.get(3)?,
        exchange: r.get(4)?,
        side: Side::parse(&side).ok_or_else(|| bad(5, "side"))?,
        qty: r.get(6)?,
        kind: OrderKind::parse(&kind).ok_or_else(|| bad(7, "kind"))?,
        mode: super::orders::exit_mode(),
        trade_mode: TradeMode::parse(&mode).ok_or_else(|| bad(8, "trade_mode"))?,
        entry_size_mode: EntrySizeMode::parse(&size).ok_or_else(|| bad(9, "entry_size_mode"))?,
        env: Env::parse(&env).ok_or_else(|| bad(10, "env"))?,
        status: OrderStatus::parse(&status).ok_or_else(|| bad(11, "status"))?,
        entry_override: r.get(12)?,
        source: r.get::<_, Option<String>>(13)?.unwrap_or_default(),
        owner: r.get(14)?,
        stale: r.get(15)?,
        fill_price: r.get(16)?,
        created_at: r.get(17)?,
        claimed_at: r.get(18)?,
        updated_at: r.get(19)?,
    })
}
