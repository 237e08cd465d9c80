//! The engine runs on its own thread; everyone else holds an `EngineHandle`. Commands queue on a
//! bounded channel; the thread drains what is queued into one batch, runs it inside one SQLite
//! transaction, commits (durable), and only then answers each command and broadcasts its events
//! (group commit: one fsync for many webhooks).
use super::Engine;
use super::error::{DeskError, DeskResult};
use super::store::DeskEvent;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Queue depth between the server/console and the engine; a full queue makes callers wait.
const QUEUE: usize = 4096;
/// Most commands in one transaction.
const MAX_BATCH: usize = 512;

type Reply = Box<dyn FnOnce(bool) + Send>;
type Job = Box<dyn FnOnce(&mut Engine) -> Reply + Send>;

#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Job>,
    events: broadcast::Sender<DeskEvent>,
}

impl EngineHandle {
    /// Starts the engine thread. It stops when the last handle is dropped.
    pub fn spawn(engine: Engine) -> (EngineHandle, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let (events, _) = broadcast::channel(1024);
        let ev = events.clone();
        let thread = std::thread::Builder::new()
            .name("brickdesk-engine".into())
            .spawn(move || run(engine, rx, ev))
            .expect("spawn engine thread");
        (EngineHandle { tx, events }, thread)
    }

    /// Runs `f` on the engine; its changes are committed before the answer arrives.
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

    /// Every event the engine logs from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DeskEvent> {
        self.events.subscribe()
    }
}

fn job<R, F>(f: F, otx: oneshot::Sender<DeskResult<R>>) -> Job
where
    R: Send + 'static,
    F: FnOnce(&mut Engine) -> DeskResult<R> + Send + 'static,
{
    Box::new(move |engine: &mut Engine| {
        let result = f(engine);
        Box::new(move |committed: bool| {
            let result = if committed {
                result
            } else {
                Err(DeskError::Storage(
                    "the change could not be saved; nothing was applied".into(),
                ))
            };
            let _ = otx.send(result);
        }) as Reply
    })
}

fn run(mut engine: Engine, mut rx: mpsc::Receiver<Job>, events: broadcast::Sender<DeskEvent>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut replies: Vec<Reply> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let committed = match engine.store.begin() {
            Ok(()) => {
                for j in batch.drain(..) {
                    replies.push(j(&mut engine));
                }
                engine
                    .persist()
                    .and_then(|()| engine.store.commit())
                    .map_err(|e| tracing::error!(error = %e, "commit failed; batch rolled back"))
                    .is_ok()
            }
            Err(e) => {
                tracing::error!(error = %e, "could not start a transaction");
                false
            }
        };
        if !committed {
            // Memory may hold changes the store refused: reload the last committed state.
            engine.store.rollback();
            // jobs that never ran (no transaction could start) are dropped: their callers get an error
            batch.clear();
            if let Err(e) = engine.load() {
                tracing::error!(error = %e, "reload after a failed commit failed");
            }
        }
        for r in replies.drain(..) {
            r(committed);
        }
        if committed {
            for e in engine.take_events() {
                let _ = events.send(e);
            }
        }
    }
    tracing::debug!("engine thread stopped");
}
