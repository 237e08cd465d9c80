//! The run service: replay and live parity runs for the server and the console, beside the desk
//! actor. The rules (comparison, runner) live in `engine::runs`; this owns the async parts: Python
//! runs on a bounded pool, a live run's player (cancellable, joined at shutdown), its
//! `LiveBarEvent` stream, and the runs' own store.
pub mod store;

use crate::engine::error::{DeskError, DeskResult};
use crate::engine::handle::EngineHandle;
use crate::engine::runs::{self, Lifecycle, RunRequest, RunStatus, RunSummary, python::Limits};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::RunStore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

struct LiveRun {
    events: broadcast::Sender<Value>,
    stop: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct RunService {
    engine: EngineHandle,
    limits: Arc<Limits>,
    store: Arc<Mutex<RunStore>>,
    live: Arc<Mutex<HashMap<String, LiveRun>>>,
    /// Every run event (`LiveBarEvent`s and lifecycle changes), for `/ws/stream`.
    stream: broadcast::Sender<Value>,
    /// Python runs and comparisons at once (CPU-bound); the rest wait their turn.
    pool: Arc<Semaphore>,
    /// Runs waiting for the pool.
    waiting: Arc<AtomicUsize>,
    /// Live players, joined at shutdown.
    players: Arc<Mutex<JoinSet<()>>>,
    cancel: CancellationToken,
}

impl RunService {
    /// The service over the engine's database (a connection of its own). Runs left running or
    /// live by the last stop are marked `interrupted` here.
    pub fn new(engine: EngineHandle, limits: Limits) -> DeskResult<Self> {
        let db = engine.reader().path().ok_or_else(|| {
            DeskError::Storage("parity runs need a database file, not an in-memory store".into())
        })?;
        let store = RunStore::open(&db)?;
        let concurrency = limits.concurrency.max(1);
        crate::engine::runs::python::sandbox::protect_server_process();
        let mode = limits.mode();
        // SAFETY: geteuid has no preconditions.
        if mode == runs::python::sandbox::Mode::Unsandboxed && unsafe { libc::geteuid() } != 0 {
            runs::python::sandbox::become_subreaper();
        }
        match mode {
            runs::python::sandbox::Mode::Bubblewrap(_) => {
                tracing::info!(sandbox = mode.name(), concurrency, "{}", mode.describe())
            }
            _ => tracing::warn!(sandbox = mode.name(), concurrency, "{}", mode.describe()),
        }
        Ok(RunService {
            engine,
            limits: Arc::new(limits),
            store: Arc::new(Mutex::new(store)),
            live: Arc::default(),
            stream: broadcast::channel(1024).0,
            pool: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::default(),
            players: Arc::new(Mutex::new(JoinSet::new())),
            cancel: CancellationToken::new(),
        })
    }

    /// How strategies run here.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn stream(&self) -> broadcast::Receiver<Value> {
        self.stream.subscribe()
    }

    /// Runs `f` on the service's store off the async workers.
    async fn db<R: Send + 'static>(
        &self,
        f: impl FnOnce(&RunStore) -> DeskResult<R> + Send + 'static,
    ) -> DeskResult<R> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store.lock().expect("run store")))
            .await
            .map_err(|_| DeskError::Internal)?
    }

    /// One run in full (bars and series up to its progress).
    pub async fn get(&self, id: &str) -> DeskResult<RunStatus> {
        let id = id.to_string();
        self.db(move |s| s.get(&id)).await
    }

    /// Runs newest first, without bars.
    pub async fn summaries(&self, limit: u32) -> DeskResult<Vec<RunSummary>> {
        self.db(move |s| s.summaries(limit)).await
    }

    /// Checks the request, spends a permission grant if one is needed, records the run.
    /// `granted`: a write grant under which this code was just written covers reading it.
    async fn begin(
        &self,
        req: &RunRequest,
        lifecycle: Lifecycle,
        granted: bool,
    ) -> DeskResult<(
        RunStatus,
        crate::engine::datasets::DatasetMeta,
        Option<runs::artifacts::BridgeArtifact>,
    )> {
        validate(req)?;
        let run_id = runs::new_run_id();
        let r = req.clone();
        let (dataset, bridge, mut st) = self
            .engine
            .call(move |e| {
                let dataset = e.dataset(&r.dataset_id)?;
                let bridge = r
                    .bridge_artifact_id
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(|id| e.bridge_artifact(id))
                    .transpose()?;
                if !granted {
                    e.authorize(
                        "python_code",
                        r.python_artifact.permissions.read_allowed,
                        &run_id,
                    )?;
                }
                let st = runs::replay_pending(run_id, &r, &dataset, e.now());
                Ok((dataset, bridge, st))
            })
            .await?;
        st.lifecycle = lifecycle;
        let row = st.clone();
        self.db(move |s| s.put(&row)).await?;
        Ok((st, dataset, bridge))
    }

    /// Records a finished run: its row, and a line in the operator's log.
    async fn finish(&self, st: &RunStatus) -> DeskResult<()> {
        let row = st.clone();
        self.db(move |s| s.put(&row)).await?;
        let what = match &st.error {
            Some(e) => format!(
                "run {} failed: {}",
                st.run_id,
                e.lines().last().unwrap_or(e)
            ),
            None => format!("run {} {}", st.run_id, st.lifecycle),
        };
        self.engine.call(move |e| e.log_event("run", what)).await?;
        let _ = self
            .stream
            .send(json!({ "type": "run", "run_id": st.run_id, "lifecycle": st.lifecycle }));
        Ok(())
    }

    /// Waits for a runner. A run that has to wait is saved with its place in the queue (and
    /// says so in the log and on `/ws/stream`) until its turn comes.
    async fn turn(&self, st: &mut RunStatus) -> DeskResult<OwnedSemaphorePermit> {
        if let Ok(p) = self.pool.clone().try_acquire_owned() {
            return Ok(p);
        }
        struct InLine(Arc<AtomicUsize>);
        impl Drop for InLine {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let in_line = InLine(self.waiting.clone());
        let position = ahead + 1;
        st.queue_position = Some(position);
        let (row, id) = (st.clone(), st.run_id.clone());
        let queued = async {
            self.db(move |s| s.put(&row)).await?;
            let what = format!("run {id} queued: {ahead} ahead of it");
            self.engine.call(move |e| e.log_event("run", what)).await?;
            let _ = self.stream.send(json!({ "type": "run", "run_id": st.run_id,
                "lifecycle": st.lifecycle, "queue_position": position }));
            Ok::<_, DeskError>(())
        };
        let saved = queued.await;
        let permit = tokio::select! {
            p = self.pool.clone().acquire_owned() => p.ok(),
            // the server is stopping: a run still in line never starts
            _ = self.cancel.cancelled() => None,
        };
        drop(in_line);
        saved?;
        let Some(permit) = permit else {
            st.lifecycle = Lifecycle::Interrupted;
            st.queue_position = None;
            self.finish(st).await?;
            return Err(DeskError::ShuttingDown);
        };
        st.queue_position = None;
        let row = st.clone();
        self.db(move |s| s.put(&row)).await?;
        Ok(permit)
    }

    /// A deterministic replay of the whole window; a failing strategy gives a `failed` run.
    /// The run goes on to its end even if the caller stops waiting for it.
    pub async fn replay(&self, req: &RunRequest) -> DeskResult<RunStatus> {
        self.replay_spawned(req, false).await
    }

    /// A replay of code just written under a write grant the caller has used (a fix applied):
    /// the grant covers reading it, whatever the artifact's `read_allowed` says.
    pub async fn replay_granted(&self, req: &RunRequest) -> DeskResult<RunStatus> {
        self.replay_spawned(req, true).await
    }

    async fn replay_spawned(&self, req: &RunRequest, granted: bool) -> DeskResult<RunStatus> {
        let (svc, req) = (self.clone(), req.clone());
        tokio::spawn(async move { svc.replay_to_end(&req, granted).await })
            .await
            .map_err(|_| DeskError::Internal)?
    }

    /// 404 unless the run exists (its row only: no bars or series read).
    pub async fn exists(&self, id: &str) -> DeskResult<()> {
        let id = id.to_string();
        self.db(move |s| s.exists(&id)).await
    }

    /// Whether `req` could start now: well-formed, its dataset and bridge artifact there (asked
    /// before a grant is spent on it).
    pub async fn check(&self, req: &RunRequest) -> DeskResult<()> {
        validate(req)?;
        let r = req.clone();
        self.engine
            .call(move |e| {
                e.dataset(&r.dataset_id)?;
                if let Some(id) = r.bridge_artifact_id.as_deref().filter(|s| !s.is_empty()) {
                    e.bridge_artifact(id)?;
                }
                Ok(())
            })
            .await
    }

    async fn replay_to_end(&self, req: &RunRequest, granted: bool) -> DeskResult<RunStatus> {
        let (mut st, dataset, bridge) = self.begin(req, Lifecycle::Running, granted).await?;
        let _permit = self.turn(&mut st).await?;
        let (limits, req, store) = (Limits::clone(&self.limits), req.clone(), self.store.clone());
        let run = tokio::task::spawn_blocking(move || {
            let mut st = st;
            match runs::load_run(&req, &dataset, bridge.as_ref(), &limits) {
                Ok(data) => {
                    runs::fill_status(&mut st, &data, &req.run_config, data.bars.len(), false);
                    st.lifecycle = Lifecycle::Completed;
                    let saved = store
                        .lock()
                        .expect("run store")
                        .save_series(&st.run_id, &data);
                    if let Err(e) = saved {
                        tracing::error!(error = %e, run = %st.run_id, "run series not saved");
                    }
                }
                Err(e) => {
                    st.lifecycle = Lifecycle::Failed;
                    st.error = Some(e);
                }
            }
            st
        })
        .await
        .map_err(|_| DeskError::Internal)?;
        let mut run = run;
        run.updated_at = chrono::Utc::now();
        self.finish(&run).await?;
        Ok(run)
    }

    /// Starts a live run: the Python side runs once, then one bar is revealed per step
    /// (`bars_per_second`, default 1) with the comparison updated; answers at once.
    pub async fn start_live(&self, req: &RunRequest) -> DeskResult<RunStatus> {
        let (mut st, dataset, bridge) = self.begin(req, Lifecycle::Live, false).await?;
        let loaded = {
            let _permit = self.turn(&mut st).await?;
            let (limits, r, store, id) = (
                Limits::clone(&self.limits),
                req.clone(),
                self.store.clone(),
                st.run_id.clone(),
            );
            tokio::task::spawn_blocking(move || {
                let data = runs::load_run(&r, &dataset, bridge.as_ref(), &limits)?;
                store
                    .lock()
                    .expect("run store")
                    .save_series(&id, &data)
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(data)
            })
            .await
            .map_err(|_| DeskError::Internal)?
        };
        let data = match loaded {
            Ok(d) => d,
            Err(e) => {
                st.lifecycle = Lifecycle::Failed;
                st.error = Some(e);
                self.finish(&st).await?;
                return Ok(st);
            }
        };
        st.live_total = data.bars.len();
        let row = st.clone();
        self.db(move |s| s.put(&row)).await?;
        let (events, _) = broadcast::channel(256);
        let (stop, stopped) = watch::channel(false);
        self.live.lock().expect("live runs").insert(
            st.run_id.clone(),
            LiveRun {
                events: events.clone(),
                stop,
            },
        );
        let svc = self.clone();
        let first = st.clone();
        let req = req.clone();
        let cancel = self.cancel.clone();
        self.players
            .lock()
            .expect("players")
            .spawn(async move { svc.play(st, req, data, events, stopped, cancel).await });
        Ok(first)
    }

    async fn play(
        &self,
        mut st: RunStatus,
        req: RunRequest,
        data: runs::RunData,
        events: broadcast::Sender<Value>,
        mut stopped: watch::Receiver<bool>,
        cancel: CancellationToken,
    ) {
        let step = Duration::from_secs_f64(1.0 / req.run_config.bars_per_second.unwrap_or(1.0));
        let total = data.bars.len();
        let mut tick = tokio::time::interval(step);
        let mut last_save = std::time::Instant::now();
        let data = Arc::new(data);
        for k in 1..=total {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => {}
                _ = cancel.cancelled() => {
                    // the process is stopping: the row says so, with its progress
                    st.lifecycle = Lifecycle::Interrupted;
                    st.updated_at = chrono::Utc::now();
                    let row = st.clone();
                    let _ = self.db(move |s| s.put(&row)).await;
                    self.live.lock().expect("live runs").remove(&st.run_id);
                    return;
                }
            }
            if *stopped.borrow() {
                st.lifecycle = Lifecycle::Stopped;
                break;
            }
            // the comparison of the revealed prefix is CPU work: off the async workers
            let (d, cfg, mut s) = (data.clone(), req.run_config.clone(), st.clone());
            st = match tokio::task::spawn_blocking(move || {
                runs::advance_live(&mut s, &d, &cfg, k);
                s
            })
            .await
            {
                Ok(s) => s,
                Err(_) => break,
            };
            st.updated_at = chrono::Utc::now();
            if k == total {
                st.lifecycle = Lifecycle::Completed;
            }
            let ev = live_event(&st, candle(&data, k));
            let _ = events.send(ev.clone());
            let _ = self.stream.send(ev);
            if k == total {
                let _ = self.finish(&st).await;
            } else if last_save.elapsed() > Duration::from_secs(1) {
                let row = st.clone();
                let _ = self.db(move |s| s.put(&row)).await;
                last_save = std::time::Instant::now();
            }
        }
        if st.lifecycle == Lifecycle::Stopped {
            let _ = self.finish(&st).await;
            let ev = live_event(&st, candle(&data, st.live_progress));
            let _ = events.send(ev.clone());
            let _ = self.stream.send(ev);
        }
        self.live.lock().expect("live runs").remove(&st.run_id);
    }

    /// The `LiveBarEvent`s of a live run, if it is still playing.
    pub fn subscribe(&self, run_id: &str) -> Option<broadcast::Receiver<Value>> {
        self.live
            .lock()
            .expect("live runs")
            .get(run_id)
            .map(|r| r.events.subscribe())
    }

    /// Stops a live run; its status is `stopped` once the player notices (at once).
    pub async fn stop(&self, run_id: &str) -> DeskResult<RunStatus> {
        let signalled = self
            .live
            .lock()
            .expect("live runs")
            .get(run_id)
            .map(|r| r.stop.send(true).is_ok());
        match signalled {
            Some(_) => {
                for _ in 0..100 {
                    let st = self.get(run_id).await?;
                    if st.lifecycle != Lifecycle::Live {
                        return Ok(st);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(DeskError::Conflict(format!(
                    "run {run_id} did not stop in time"
                )))
            }
            None => {
                let st = self.get(run_id).await?;
                Err(DeskError::Conflict(format!(
                    "run {run_id} is {}, not live",
                    st.lifecycle
                )))
            }
        }
    }

    /// The server is stopping: runs waiting in line are interrupted, live players stop.
    pub fn stopping(&self) {
        self.cancel.cancel();
    }

    /// Stops every live player (their runs read `interrupted`) and waits for them, at most
    /// `within`.
    pub async fn shutdown(&self, within: Duration) {
        self.cancel.cancel();
        let mut players = std::mem::take(&mut *self.players.lock().expect("players"));
        let all = async { while players.join_next().await.is_some() {} };
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("live players did not stop in time; aborted");
        }
    }
}

/// Refuses a run request that cannot run, before anything is spent or written.
fn validate(req: &RunRequest) -> DeskResult<()> {
    if !(req.run_config.tolerance.is_finite() && req.run_config.tolerance >= 0.0) {
        return Err(DeskError::Invalid("tolerance must be a number ≥ 0".into()));
    }
    if !req.python_artifact.language.eq_ignore_ascii_case("python") {
        return Err(DeskError::Invalid(
            "python_artifact.language must be python".into(),
        ));
    }
    if let Some(bps) = req.run_config.bars_per_second
        && !(bps.is_finite() && bps > 0.0 && bps <= 1000.0)
    {
        return Err(DeskError::Invalid(
            "bars_per_second must be in (0, 1000]".into(),
        ));
    }
    Ok(())
}

/// The `k`-th bar (1-based) as a candle.
fn candle(data: &runs::RunData, k: usize) -> Option<runs::Candle> {
    let i = k.checked_sub(1).filter(|&i| i < data.bars.len())?;
    Some(runs::candle_at(&data.bars, i))
}

/// `LiveBarEvent`: the latest revealed bar and the comparison so far.
pub fn live_event(st: &RunStatus, latest: Option<runs::Candle>) -> Value {
    let summary = st
        .comparison
        .as_ref()
        .map(|c| json!({ "summary": c["summary"], "first_mismatch": c["first_mismatch"] }));
    json!({
        "type": "live_bar",
        "run_id": st.run_id,
        "lifecycle": st.lifecycle,
        "current_index": st.live_progress,
        "total": st.live_total,
        "latest_candle": latest,
        "comparison": summary,
        "updated_at": st.updated_at.to_rfc3339(),
    })
}
