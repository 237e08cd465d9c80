//! The engine runs on its own thread; everyone else holds an `EngineHandle`. Writes queue on a
//! bounded channel; the thread drains what is queued into one batch, runs each job under its own
//! savepoint (a failing or panicking job rolls back alone), commits (durable), publishes a fresh
//! snapshot, and only then answers each command and broadcasts its events (group commit).
//! Reads never queue: the snapshot is a `watch`, history comes from a read-only connection.
use super::Engine;
use super::error::{DeskError, DeskResult};
use super::reader::DeskReader;
use super::store::DeskEvent;
use super::view::StateView;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Queue depth between the server/console and the engine; a full queue makes callers wait.
const QUEUE: usize = 4096;
/// Most commands in one transaction.
const MAX_BATCH: usize = 512;

/// What became of a job's changes.
enum Fate {
    Committed,
    /// Rolled back (its own failure already answered) or lost with a failed commit.
    NotSaved,
}

type Reply = Box<dyn FnOnce(Fate) + Send>;
/// A job runs on the engine and says whether it succeeded, with how to answer its caller.
type Job = Box<dyn FnOnce(&mut Engine) -> (bool, Reply) + Send>;

#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Job>,
    events: broadcast::Sender<DeskEvent>,
    snapshot: watch::Receiver<Arc<StateView>>,
    reader: Arc<DeskReader>,
}

impl EngineHandle {
    /// Starts the engine thread. It stops when the last handle is dropped.
    pub fn spawn(engine: Engine) -> (EngineHandle, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let (events, _) = broadcast::channel(1024);
        let (snap_tx, snapshot) = watch::channel(Arc::new(engine.snapshot()));
        let reader = Arc::new(DeskReader::for_store(
            &engine.store,
            engine.assets().to_vec(),
            engine.asset_lookup().clone(),
        ));
        let ev = events.clone();
        let thread = std::thread::Builder::new()
            .name(ENGINE_THREAD.into())
            .spawn(move || run(engine, rx, ev, snap_tx))
            .expect("spawn engine thread");
        (
            EngineHandle {
                tx,
                events,
                snapshot,
                reader,
            },
            thread,
        )
    }

    /// Runs `f` on the engine; its changes are committed before the answer arrives. If `f` fails
    /// or panics, its changes are rolled back (store and memory) and the rest of the batch goes on.
    pub async fn call<R, F>(&self, f: F) -> DeskResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Engine) -> DeskResult<R> + Send + 'static,
    {
        let (otx, orx) = oneshot::channel();
        self.tx
            .send(job(f, otx))
            .await
            .map_err(|_| DeskError::ShuttingDown)?;
        orx.await.map_err(|_| DeskError::ShuttingDown)?
    }

    /// The same from synchronous code (CLI, tests outside a runtime).
    pub fn call_blocking<R, F>(&self, f: F) -> DeskResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Engine) -> DeskResult<R> + Send + 'static,
    {
        let (otx, orx) = oneshot::channel();
        self.tx
            .blocking_send(job(f, otx))
            .map_err(|_| DeskError::ShuttingDown)?;
        orx.blocking_recv().map_err(|_| DeskError::ShuttingDown)?
    }

    /// The 1 Hz housekeeping: day roll, stale flags, expired locks, a WAL checkpoint; then a
    /// fresh snapshot is published.
    pub async fn tick(&self) -> DeskResult<()> {
        self.call(|e| e.tick()).await
    }

    /// The desk as of the last commit or tick. Never waits for the write queue.
    pub fn snapshot(&self) -> Arc<StateView> {
        self.snapshot.borrow().clone()
    }

    /// Changes whenever a new snapshot is published.
    pub fn watch(&self) -> watch::Receiver<Arc<StateView>> {
        self.snapshot.clone()
    }

    /// Read-only access to the store's history (orders, events, bricks).
    pub fn reader(&self) -> &Arc<DeskReader> {
        &self.reader
    }

    /// Every event the engine logs from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DeskEvent> {
        self.events.subscribe()
    }

    /// Jobs waiting for the engine thread.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// The engine thread's name (the console's panic hook leaves the terminal alone for it: a
/// panicking job is caught and rolled back, the desk goes on).
pub const ENGINE_THREAD: &str = "brickdesk-engine";

fn job<R, F>(f: F, otx: oneshot::Sender<DeskResult<R>>) -> Job
where
    R: Send + 'static,
    F: FnOnce(&mut Engine) -> DeskResult<R> + Send + 'static,
{
    Box::new(move |engine: &mut Engine| {
        let result = match catch_unwind(AssertUnwindSafe(|| f(engine))) {
            Ok(r) => r,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(panic = %what, "an engine job panicked; it was rolled back");
                metrics::counter!("brickdesk_engine_job_panics_total").increment(1);
                Err(DeskError::Internal)
            }
        };
        let ok = result.is_ok();
        let reply = Box::new(move |fate: Fate| {
            let result = match (fate, result) {
                (Fate::Committed, r) => r,
                (Fate::NotSaved, Err(e)) => Err(e),
                (Fate::NotSaved, Ok(_)) => Err(DeskError::Storage(
                    "the change could not be saved; nothing was applied".into(),
                )),
            };
            let _ = otx.send(result);
        }) as Reply;
        (ok, reply)
    })
}

fn run(
    mut engine: Engine,
    mut rx: mpsc::Receiver<Job>,
    events: broadcast::Sender<DeskEvent>,
    snapshot: watch::Sender<Arc<StateView>>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<(bool, Reply)> = Vec::with_capacity(MAX_BATCH);
    let mut commits_since_checkpoint = 0u64;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        metrics::histogram!("brickdesk_engine_batch_size").record(batch.len() as f64);
        metrics::gauge!("brickdesk_engine_queue_depth").set(rx.len() as f64);
        let committed = match engine.store.begin() {
            Ok(()) => {
                for j in batch.drain(..) {
                    replies.push(run_job(&mut engine, j));
                }
                let started = Instant::now();
                let done = engine
                    .persist()
                    .and_then(|()| engine.store.commit())
                    .map_err(|e| tracing::error!(error = %e, "commit failed; batch rolled back"))
                    .is_ok();
                metrics::histogram!("brickdesk_engine_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                done
            }
            Err(e) => {
                tracing::error!(error = %e, "could not start a transaction");
                false
            }
        };
        if committed {
            commits_since_checkpoint += 1;
        } else {
            // Memory may hold changes the store refused: reload the last committed state.
            engine.store.rollback();
            // jobs that never ran (no transaction could start) are dropped: their callers get an error
            batch.clear();
            engine.discard_events();
            if let Err(e) = engine.load() {
                tracing::error!(error = %e, "reload after a failed commit failed");
            }
        }
        // readers see the committed state before any caller hears of it (read-your-writes)
        snapshot.send_replace(Arc::new(engine.snapshot()));
        for (ok, r) in replies.drain(..) {
            r(if committed && ok {
                Fate::Committed
            } else {
                Fate::NotSaved
            });
        }
        if committed {
            for e in engine.take_events() {
                let _ = events.send(e);
            }
        }
        // the tick's guard checkpoint, after the answers are out
        if engine.take_checkpoint_request() && commits_since_checkpoint > 0 {
            engine.store.checkpoint();
            commits_since_checkpoint = 0;
        }
    }
    engine.store.checkpoint();
    tracing::debug!("engine thread stopped");
}

/// One job under its own savepoint: on failure (or panic) the store rolls back to the savepoint
/// and memory to the job's pre-image, so only this job's changes are gone.
fn run_job(engine: &mut Engine, job: Job) -> (bool, Reply) {
    let mark = engine.mark();
    if let Err(e) = engine.store.savepoint() {
        tracing::error!(error = %e, "could not open a savepoint");
    }
    let (ok, reply) = job(engine);
    if ok {
        engine.store.release_savepoint();
    } else {
        engine.store.rollback_to_savepoint();
        engine.undo_since(mark);
    }
    engine.flush_refusal_log();
    (ok, reply)
}
