//! The job queue: jobs are rows of `bd_jobs`; a pool of worker threads (2 by default), each with
//! its own connection, claims the oldest PENDING job with one `UPDATE … RETURNING` (SQLite's
//! write lock makes the claim atomic), reports progress in the transaction of each batch, and
//! ends the job in the transaction that publishes its result. A cancel is a row update the
//! worker sees before its next batch. At start, a job a stopped process left RUNNING is started
//! again from scratch (its file is still there, up to 3 attempts) or marked FAILED; its staging
//! table is dropped either way, so nothing is ever half visible.
use super::import;
use super::store;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Attempts before an interrupted job is given up as FAILED.
pub const MAX_ATTEMPTS: i64 = 3;

pub const IMPORT: &str = "questdb_import";

/// A claimed job, as the worker runs it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub job_id: String,
    pub job_type: String,
    pub payload: Value,
}

/// How a job's work ended short of completing.
#[derive(Debug)]
pub enum Stop {
    /// Cancelled by request: the row already says so.
    Cancelled,
    /// The server is stopping: the job goes back to PENDING.
    Stopping,
    Failed(String),
}

impl From<rusqlite::Error> for Stop {
    fn from(e: rusqlite::Error) -> Self {
        Stop::Failed(format!("storage: {e}"))
    }
}

/// What a worker tells the job's row as it goes.
pub struct Report<'a> {
    pub conn: &'a mut Connection,
    pub job_id: &'a str,
    pub stopping: &'a AtomicBool,
}

impl Report<'_> {
    /// Whether the job is still wanted, without opening a transaction (for long work between
    /// transactions).
    pub fn check(&self) -> Result<(), Stop> {
        wanted(self.conn, self.job_id, self.stopping)
    }

    /// Opens a batch's transaction, after checking the job is still wanted.
    pub fn begin(&mut self) -> Result<rusqlite::Transaction<'_>, Stop> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(Stop::Stopping);
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        wanted(&tx, self.job_id, self.stopping)?;
        Ok(tx)
    }
}

/// Whether job `id` is still wanted: the server is not stopping, and the job is RUNNING (not
/// cancelled).
fn wanted(conn: &Connection, id: &str, stopping: &AtomicBool) -> Result<(), Stop> {
    if stopping.load(Ordering::Relaxed) {
        return Err(Stop::Stopping);
    }
    let status: Option<String> = conn
        .query_row("SELECT status FROM bd_jobs WHERE job_id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    match status.as_deref() {
        Some("RUNNING") => Ok(()),
        _ => Err(Stop::Cancelled),
    }
}

/// Sets a job's progress (and total) inside a batch's transaction.
pub fn progress(
    tx: &rusqlite::Transaction,
    id: &str,
    done: i64,
    total: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE bd_jobs SET progress = ?2, total = max(?3, ?2), updated_at = ?4 WHERE job_id = ?1",
        params![id, done, total, store::now_plain()],
    )?;
    Ok(())
}

/// Ends a RUNNING job as COMPLETED inside the transaction that published its result; false when
/// it was cancelled meanwhile (the caller then rolls back).
pub fn complete(tx: &rusqlite::Transaction, id: &str, result: &Value) -> rusqlite::Result<bool> {
    let now = store::now_plain();
    let n = tx.execute(
        "UPDATE bd_jobs SET status = 'COMPLETED', progress = total, result = ?2, error = NULL,
            updated_at = ?3, completed_at = ?3 WHERE job_id = ?1 AND status = 'RUNNING'",
        params![id, result.to_string(), now],
    )?;
    Ok(n == 1)
}

fn fail(conn: &Connection, id: &str, error: &str) -> rusqlite::Result<()> {
    let now = store::now_plain();
    conn.execute(
        "UPDATE bd_jobs SET status = 'FAILED', error = ?2, updated_at = ?3, completed_at = ?3
         WHERE job_id = ?1 AND status = 'RUNNING'",
        params![id, error, now],
    )?;
    Ok(())
}

/// Back to PENDING. A crash's attempt counts towards `MAX_ATTEMPTS`; a clean stop's does not
/// (`counted` false), so restarts alone never use a job's attempts up.
fn requeue(conn: &Connection, id: &str, why: &str, counted: bool) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE bd_jobs SET status = 'PENDING', progress = 0, error = ?2, updated_at = ?3,
            started_at = NULL, attempts = attempts - ?4 WHERE job_id = ?1 AND status = 'RUNNING'",
        params![id, why, store::now_plain(), i64::from(!counted)],
    )?;
    Ok(())
}

/// Claims the oldest PENDING job, atomically.
pub fn claim(conn: &Connection) -> rusqlite::Result<Option<Claimed>> {
    let now = store::now_plain();
    conn.query_row(
        "UPDATE bd_jobs SET status = 'RUNNING', started_at = ?1, updated_at = ?1, progress = 0,
            attempts = attempts + 1
         WHERE job_id = (SELECT job_id FROM bd_jobs WHERE status = 'PENDING'
                         ORDER BY created_at, rowid LIMIT 1)
         RETURNING job_id, job_type, payload",
        [now],
        |r| {
            let payload: String = r.get(2)?;
            Ok(Claimed {
                job_id: r.get(0)?,
                job_type: r.get(1)?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
            })
        },
    )
    .optional()
}

/// Cancels a PENDING or RUNNING job. `Err(status)` names the state that cannot be cancelled;
/// `Ok(None)`: no such job. A PENDING job ends at once; a RUNNING one gets its `completed_at`
/// from its worker, once the worker has stopped and removed what the job had made.
pub fn cancel(
    conn: &mut Connection,
    id: &str,
) -> rusqlite::Result<Result<Option<store::Job>, String>> {
    let now = store::now_plain();
    // one transaction: what it read is what it changes (a worker cannot claim it in between)
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let was = store::get_job(&tx, id)?;
    let Some(was) = was else { return Ok(Ok(None)) };
    let n = tx.execute(
        "UPDATE bd_jobs SET status = 'CANCELLED', error = 'cancelled by request', updated_at = ?2,
            completed_at = CASE status WHEN 'PENDING' THEN ?2 END
         WHERE job_id = ?1 AND status IN ('PENDING', 'RUNNING')",
        params![id, now],
    )?;
    if n == 0 {
        return Ok(Err(was.status));
    }
    let job = store::get_job(&tx, id)?;
    tx.commit()?;
    if was.status == "PENDING" {
        // no worker will see it: its file goes now
        remove_upload(&was.payload);
    }
    Ok(Ok(job))
}

fn remove_upload(payload: &str) {
    let v: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    if let Some(p) = v["file_path"].as_str() {
        let _ = std::fs::remove_file(p);
    }
}

/// At start: jobs a stopped process left RUNNING are started again (their file still there, fewer
/// than `MAX_ATTEMPTS` tries) or FAILED; every staging table is dropped. Returns (requeued, failed).
pub fn recover(conn: &Connection) -> rusqlite::Result<(usize, usize)> {
    let left: Vec<(String, String, i64)> = conn
        .prepare("SELECT job_id, payload, attempts FROM bd_jobs WHERE status = 'RUNNING'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let (mut again, mut failed) = (0, 0);
    for (id, payload, attempts) in left {
        let v: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
        // an import needs its upload; the dataset jobs need nothing but the store
        let input_there = v["file_path"]
            .as_str()
            .is_none_or(|p| Path::new(p).exists());
        if input_there && attempts < MAX_ATTEMPTS {
            requeue(
                conn,
                &id,
                &format!(
                    "interrupted (the server stopped during attempt {attempts}); started again"
                ),
                true,
            )?;
            again += 1;
        } else {
            fail(
                conn,
                &id,
                &format!(
                    "interrupted: the server stopped during attempt {attempts}, and it is not started again"
                ),
            )?;
            remove_upload(&payload);
            failed += 1;
        }
    }
    super::measure::drop_stale_staging(conn)?;
    Ok((again, failed))
}

/// Removes the uploads (`import_*.csv` in `dir`) no PENDING or RUNNING job will read: what a
/// crash between writing a file and queueing its job, or between ending a job and removing its
/// file, left behind. Other files there (seed 000's uploaded sources) are not touched.
pub fn sweep_uploads(conn: &Connection, dir: &Path) -> rusqlite::Result<usize> {
    let wanted: Vec<String> = conn
        .prepare(
            "SELECT json_extract(payload, '$.file_path') FROM bd_jobs
             WHERE status IN ('PENDING', 'RUNNING') AND json_extract(payload, '$.file_path') IS NOT NULL",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path().display().to_string();
        if name.starts_with("import_") && name.ends_with(".csv") && !wanted.contains(&path) {
            let _ = std::fs::remove_file(e.path());
            n += 1;
        }
    }
    Ok(n)
}

/// The worker pool.
pub struct Pool {
    wake: Arc<(Mutex<u64>, Condvar)>,
    stopping: Arc<AtomicBool>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Pool {
    /// Starts `n` workers on the database at `db` (none: a pool that only queues).
    pub fn start(db: PathBuf, n: usize, ctx: Arc<super::sync::Ctx>) -> Pool {
        let wake = Arc::new((Mutex::new(0u64), Condvar::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|i| {
                let (db, wake, stopping) = (db.clone(), wake.clone(), stopping.clone());
                let ctx = ctx.clone();
                std::thread::Builder::new()
                    .name(format!("research-worker-{i}"))
                    .spawn(move || worker(&db, &wake, &stopping, &ctx))
                    .expect("spawn a research worker")
            })
            .collect();
        Pool {
            wake,
            stopping,
            threads: Mutex::new(threads),
        }
    }

    /// A job was queued: a waiting worker looks now.
    pub fn poke(&self) {
        let (lock, cv) = &*self.wake;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        cv.notify_all();
    }

    /// Stops the workers: a running job is put back to PENDING at its next batch.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.poke();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}

fn worker(db: &Path, wake: &(Mutex<u64>, Condvar), stopping: &AtomicBool, ctx: &super::sync::Ctx) {
    let mut conn = match store::open(db) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "research worker cannot open its database");
            return;
        }
    };
    let mut seen = 0u64;
    while !stopping.load(Ordering::Relaxed) {
        match claim(&conn) {
            Ok(Some(job)) => run(&mut conn, &job, stopping, ctx),
            Ok(None) => {
                let (lock, cv) = wake;
                let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                if *guard == seen {
                    let (guard, _) = cv
                        .wait_timeout(guard, Duration::from_millis(500))
                        .unwrap_or_else(|p| p.into_inner());
                    seen = *guard;
                } else {
                    seen = *guard;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "research worker cannot claim a job; retrying");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

fn run(conn: &mut Connection, job: &Claimed, stopping: &AtomicBool, ctx: &super::sync::Ctx) {
    tracing::info!(job = %job.job_id, kind = %job.job_type, "job started");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut report = Report {
            conn,
            job_id: &job.job_id,
            stopping,
        };
        match job.job_type.as_str() {
            IMPORT => import::run(&mut report, &job.payload),
            super::sync::REGISTER => super::sync::register(&mut report, ctx, &job.payload),
            super::sync::MEASURE => super::sync::measure(&mut report, &job.payload),
            other => Err(Stop::Failed(format!("unknown job type {other:?}"))),
        }
    }))
    .unwrap_or_else(|_| Err(Stop::Failed("the job panicked (see the server log)".into())));
    // whatever the job left the connection at, the next one starts durable
    let _ = conn.pragma_update(None, "synchronous", "FULL");
    // cancelled meanwhile (even while the server stops): nothing of it is kept
    let cancelled = conn
        .query_row(
            "SELECT status = 'CANCELLED' FROM bd_jobs WHERE job_id = ?1",
            [&job.job_id],
            |r| r.get::<_, bool>(0),
        )
        .unwrap_or(false);
    // the upload goes first (unless the job runs again), then the staging table: once the table
    // is gone, nothing of the job is left
    if (cancelled || !matches!(outcome, Err(Stop::Stopping)))
        && let Some(p) = job.payload["file_path"].as_str()
    {
        let _ = std::fs::remove_file(p);
    }
    let staging = import::staging_name(&job.job_id);
    let _ = conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS {}",
        super::measure::quoted(&staging)
    ));
    let done = |conn: &Connection| -> rusqlite::Result<()> {
        match &outcome {
            Ok(()) => {}
            Err(Stop::Stopping) => requeue(
                conn,
                &job.job_id,
                "the server stopped; started again at its next start",
                false,
            )?,
            Err(Stop::Cancelled) => tracing::info!(job = %job.job_id, "job cancelled"),
            Err(Stop::Failed(why)) => {
                tracing::warn!(job = %job.job_id, error = %why, "job failed");
                fail(conn, &job.job_id, why)?;
            }
        }
        // a cancelled job ends when its worker has let go of it, however its work stopped
        conn.execute(
            "UPDATE bd_jobs SET completed_at = ?2, updated_at = ?2
             WHERE job_id = ?1 AND status = 'CANCELLED' AND completed_at IS NULL",
            params![job.job_id, store::now_plain()],
        )?;
        Ok(())
    };
    if let Err(e) = done(conn) {
        tracing::error!(job = %job.job_id, error = %e, "cannot record how the job ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_stop_gives_the_attempt_back_and_a_crash_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let conn = store::open(&dir.path().join("r.sqlite3")).unwrap();
        store::insert_job(&conn, "j", IMPORT, &serde_json::json!({})).unwrap();
        let attempts = || -> i64 {
            conn.query_row("SELECT attempts FROM bd_jobs WHERE job_id = 'j'", [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        for _ in 0..5 {
            claim(&conn).unwrap().expect("pending");
            assert_eq!(attempts(), 1);
            requeue(&conn, "j", "stopped", false).unwrap();
            assert_eq!(attempts(), 0);
        }
        claim(&conn).unwrap().expect("pending");
        requeue(&conn, "j", "crashed", true).unwrap();
        assert_eq!(attempts(), 1);
    }
}
