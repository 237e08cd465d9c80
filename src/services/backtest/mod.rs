//! The backtest service (SPEC §4): the strategy registry, the deterministic simulator and its
//! figures, and the run that seed 004's `/api/v1/run/*` controls, one at a time: a backtest over
//! a dataset, or a paper or live run on the desk's feed (`paper.rs`). Every finished run is a
//! backtest of seed 002 in its own store; every fill is pushed to seed 002's `/ws` as it is
//! stored, and every change of the run to `/api/v1/ws/status`.
pub mod indicators;
pub mod llm;
pub mod metrics;
mod paper;
pub mod params;
mod request;
pub mod run;
pub mod sim;
pub mod store;
pub mod strategy;
pub mod views;

use request::refused;
pub use request::{BacktestRequest, EXCHANGES, LiveRequest, Refused, parse_date, pick_dataset};
pub use views::iso_z;

use crate::engine::error::{DeskError, DeskResult};
use crate::engine::handle::EngineHandle;
use chrono::{DateTime, Utc};
use run::{Ctx, Job, Progress};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{BacktestStore, EquityPoint, FillRow, Finish, NewRun, TradeRow};
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Trade events `/ws` holds for its slowest listener.
const TRADE_QUEUE: usize = 4096;

/// Equity points kept for `/status/detailed` and `/results` (the stored curve has every bar).
const CURVE_POINTS: usize = 2000;

/// What `/status`, `/status/detailed` and `/results` read of the run.
#[derive(Default)]
struct View {
    status: &'static str,
    ended: Option<DateTime<Utc>>,
    errors: Vec<String>,
    backtest_id: Option<i64>,
    value: Option<f64>,
    cash: Option<f64>,
    positions: Vec<Value>,
    orders: Vec<FillRow>,
    trades: Vec<TradeRow>,
    equity: Vec<EquityPoint>,
    metrics: Option<Value>,
    note: Option<String>,
}

/// The current run of seed 004.
pub struct RunState {
    pub run_id: String,
    pub mode: &'static str,
    pub strategy: String,
    pub symbols: Vec<String>,
    pub config: Value,
    pub started: DateTime<Utc>,
    pub initial_cash: f64,
    pub progress: Progress,
    pub stop: CancellationToken,
    view: Mutex<View>,
}

impl RunState {
    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().expect("run view")
    }
    pub fn is_running(&self) -> bool {
        self.view().status == "running"
    }
}

struct Inner {
    engine: EngineHandle,
    store: Mutex<BacktestStore>,
    ctx: Ctx,
    /// Seed 002's `/ws`: `{"type":"trade","data":{…}}`.
    trades: broadcast::Sender<Value>,
    /// Seed 004's `/api/v1/ws/status`.
    status: broadcast::Sender<Value>,
    current: Mutex<Option<Arc<RunState>>>,
    /// One start at a time: the check for an active run and the claim are one step.
    starting: tokio::sync::Mutex<()>,
    tasks: Mutex<JoinSet<()>>,
    cancel: CancellationToken,
}

#[derive(Clone)]
pub struct BacktestService(Arc<Inner>);

fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

impl BacktestService {
    pub fn new(
        engine: EngineHandle,
        python: crate::engine::runs::python::Limits,
        ollama: llm::Ollama,
    ) -> DeskResult<Self> {
        let db = engine.reader().path().ok_or_else(|| {
            DeskError::Storage("backtests need a database file, not an in-memory store".into())
        })?;
        let store = BacktestStore::open(&db)?;
        Ok(BacktestService(Arc::new(Inner {
            engine,
            store: Mutex::new(store),
            ctx: Ctx { python, ollama },
            trades: broadcast::channel(TRADE_QUEUE).0,
            status: broadcast::channel(256).0,
            current: Mutex::new(None),
            starting: tokio::sync::Mutex::new(()),
            tasks: Mutex::new(JoinSet::new()),
            cancel: CancellationToken::new(),
        })))
    }

    /// Runs `f` on the service's store off the async workers.
    pub async fn db<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut BacktestStore) -> DeskResult<R> + Send + 'static,
    ) -> DeskResult<R> {
        let me = self.0.clone();
        tokio::task::spawn_blocking(move || f(&mut me.store.lock().expect("backtest store")))
            .await
            .map_err(|_| DeskError::Internal)?
    }

    pub fn trade_events(&self) -> broadcast::Receiver<Value> {
        self.0.trades.subscribe()
    }

    pub fn status_events(&self) -> broadcast::Receiver<Value> {
        self.0.status.subscribe()
    }

    pub fn current(&self) -> Option<Arc<RunState>> {
        self.0.current.lock().expect("current run").clone()
    }

    /// Seed 002's list, newest first.
    pub async fn list(&self, limit: u32, offset: u32) -> DeskResult<Vec<store::Summary>> {
        self.db(move |s| s.list(limit, offset)).await
    }

    /// Seed 002's detail: the row, its figures, its equity curve (at most `points` points) and
    /// its fills (the first `max_fills`, when given) and round trips.
    pub async fn detail(
        &self,
        id: i64,
        points: usize,
        max_fills: Option<usize>,
    ) -> DeskResult<Option<Value>> {
        self.db(move |s| {
            let Some((sum, metrics, params, request)) = s.get(id)? else {
                return Ok(None);
            };
            let bars = sum.bars.max(0) as usize;
            let curve = s.curve(id, bars, points)?;
            let fills = s.fills(id, max_fills)?;
            let trades = s.trades(id)?;
            let m = metrics.clone().unwrap_or(Value::Null);
            let mut v =
                serde_json::to_value(&sum).map_err(|e| DeskError::Storage(e.to_string()))?;
            let o = v.as_object_mut().expect("summary is an object");
            o.insert("sharpe_ratio".into(), m["sharpe_ratio"].clone());
            o.insert("max_drawdown_pct".into(), m["max_drawdown_pct"].clone());
            o.insert("metrics".into(), m);
            o.insert("strategy_params".into(), params);
            o.insert("request".into(), request);
            o.insert("equity_curve".into(), json!(curve));
            o.insert("trades".into(), json!(fills));
            o.insert("round_trips".into(), json!(trades));
            Ok(Some(v))
        })
        .await
    }

    /// Seed 004's status event for `st` (`None`: idle), as `/api/v1/ws/status` sends it.
    pub fn status_event(&self, st: Option<&RunState>) -> Value {
        json!({
            "type": "status_update",
            "payload": self.status_json(st),
            "timestamp": iso_z(Utc::now()),
        })
    }

    /// Tells `/api/v1/ws/status` (the event is made only when someone listens: a paper run
    /// publishes every bar).
    fn publish(&self, st: &RunState) {
        if self.0.status.receiver_count() > 0 {
            let _ = self.0.status.send(self.status_event(Some(st)));
        }
    }

    /// A fill, pushed to seed 002's `/ws` (only built when someone listens).
    fn push_fill(&self, f: &FillRow, backtest_id: i64, run_id: &str) {
        if f.status != "FILLED" || self.0.trades.receiver_count() == 0 {
            return;
        }
        let _ = self.0.trades.send(json!({
            "type": "trade",
            "data": {
                "id": f.id, "action": f.action, "asset": f.asset, "price": f.price,
                "timestamp": f.timestamp, "qty": f.qty, "reasoning": f.reasoning,
                "confidence": f.confidence, "backtest_id": backtest_id, "run_id": run_id,
            }
        }));
    }

    /// A finished backtest's fills, pushed at the pace the listeners read them: the channel is
    /// never filled past half (a burst of 50,000 fills would leave them `lagged`), and a
    /// listener that stalls holds the run's end back 10 s at most.
    async fn push_fills(&self, fills: &[FillRow], id: i64, run_id: &str) {
        let started = std::time::Instant::now();
        for (k, f) in fills.iter().enumerate() {
            while k % 64 == 0
                && self.0.trades.len() > TRADE_QUEUE / 2
                && started.elapsed() < Duration::from_secs(10)
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            self.push_fill(f, id, run_id);
        }
    }

    /// Claims the run slot for `st` and records its row (refused while a run is active), then
    /// spends a Python read grant when the strategy needs one: last, so a run refused for any
    /// other reason spends none; a refused grant gives the slot back and leaves no row. The
    /// caller holds the start lock. The row's id.
    async fn claim(
        &self,
        st: &Arc<RunState>,
        row: NewRun,
        python_read: Option<bool>,
    ) -> Result<i64, Refused> {
        if let Some(r) = self.current().filter(|r| r.is_running()) {
            return Err(refused(
                409,
                "RUN_ALREADY_ACTIVE",
                format!(
                    "run {} is already in progress ({}); stop it first (POST /api/v1/run/stop)",
                    r.run_id, r.mode
                ),
            ));
        }
        if self.0.cancel.is_cancelled() {
            return Err(refused(503, "UNAVAILABLE", "the server is stopping"));
        }
        let id = self.db(move |s| s.create(&row)).await?;
        if let Some(allowed) = python_read {
            let run = st.run_id.clone();
            let spent = self
                .0
                .engine
                .call(move |e| e.authorize("python_code", allowed, &run).map(|_| ()))
                .await;
            if let Err(e) = spent {
                let _ = self.db(move |s| s.delete(id)).await;
                return Err(e.into());
            }
        }
        *self.0.current.lock().expect("current run") = Some(st.clone());
        st.view().backtest_id = Some(id);
        Ok(id)
    }

    /// Runs a run's task; if it panics, the run ends `failed` instead of holding the slot.
    fn spawn_run(
        &self,
        st: Arc<RunState>,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        use futures_util::FutureExt;
        let svc = self.clone();
        let mut tasks = self.0.tasks.lock().expect("tasks");
        // finished runs leave the set here
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            if std::panic::AssertUnwindSafe(task)
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!(run = %st.run_id, "the run's task panicked");
                let why = "internal error: the run stopped (see the server log)";
                // its row too, or GET /api/backtests/{id} says running until the next start
                let id = st.view().backtest_id;
                if let Some(id) = id {
                    let _ = svc.db(move |s| s.fail_running(id, why)).await;
                }
                svc.end(&st, "failed", Some(why.into())).await;
            }
        });
    }

    fn run_state(
        &self,
        mode: &'static str,
        strategy: &str,
        symbols: &[String],
        config: Value,
        cash: f64,
    ) -> Arc<RunState> {
        Arc::new(RunState {
            run_id: new_run_id(),
            mode,
            strategy: strategy.to_string(),
            symbols: symbols.to_vec(),
            config,
            started: Utc::now(),
            initial_cash: cash,
            progress: Progress::default(),
            stop: self.0.cancel.child_token(),
            view: Mutex::new(View {
                status: "running",
                ..View::default()
            }),
        })
    }

    /// Starts a backtest; answers at once with seed 004's run answer.
    pub async fn start_backtest(&self, req: BacktestRequest) -> Result<Value, Refused> {
        let job = self.check_backtest(&req).await?;
        let _one = self.0.starting.lock().await;
        let config = json!({ "request": req, "strategy_params": job.params, "simulator": job.sim,
                             "dataset_id": job.dataset.dataset_id });
        let st = self.run_state(
            "backtest",
            job.def.name,
            &req.symbols,
            config,
            req.initial_cash,
        );
        let python = (job.def.name == "python").then(|| job.params.b("read_allowed"));
        let row = NewRun {
            run_id: st.run_id.clone(),
            mode: "backtest".into(),
            strategy: job.def.name.into(),
            params: json!(job.params),
            request: json!(req),
            dataset_id: Some(job.dataset.dataset_id.clone()),
            asset: job.asset.clone(),
            timeframe: job.dataset.timeframe.clone(),
            initial_capital: req.initial_cash,
            backend: job.def.backend.into(),
            created_at: st.started,
        };
        let id = self.claim(&st, row, python).await?;
        self.publish(&st);
        let (svc, run) = (self.clone(), st.clone());
        self.spawn_run(st.clone(), async move { svc.backtest(run, job, id).await });
        Ok(json!({ "run_id": st.run_id, "status": "running", "message": "backtest started" }))
    }

    async fn backtest(&self, st: Arc<RunState>, job: Job, id: i64) {
        let out = run::execute(&job, &self.0.ctx, &st.progress, &st.stop).await;
        let (status, error) = match out {
            Ok(out) => {
                st.progress.set("storing", 1);
                let (mut fills, trades) = run::rows(&out, &job.asset);
                let m = &out.metrics;
                let fin = Finish {
                    status: "completed".into(),
                    error: None,
                    note: out.decisions.note.clone(),
                    start_date: out.bars.ts.first().map(|&t| store::iso(t)),
                    end_date: out.bars.ts.last().map(|&t| store::iso(t)),
                    final_value: Some(m.final_value),
                    total_return_pct: Some(m.total_return_pct),
                    metrics: Some(json!(m)),
                    bars: out.bars.len(),
                };
                let curve = store::curve_points(
                    &out.bars.ts,
                    &out.run.equity,
                    &out.bars.close,
                    CURVE_POINTS,
                );
                let (cash, metrics, note) =
                    (out.run.sim.cash, json!(m), out.decisions.note.clone());
                let saved = self
                    .db(move |s| {
                        s.finish(
                            id,
                            &fin,
                            &mut fills,
                            &trades,
                            Some((&out.bars.ts, &out.run.equity, &out.bars.close)),
                        )?;
                        Ok((fills, trades))
                    })
                    .await;
                match saved {
                    Ok((fills, trades)) => {
                        self.push_fills(&fills, id, &st.run_id).await;
                        let mut v = st.view();
                        v.value = Some(cash);
                        v.cash = Some(cash);
                        v.orders = fills;
                        v.trades = trades;
                        v.equity = curve;
                        v.note = note;
                        v.metrics = Some(metrics);
                        ("completed", None)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, backtest = id, "backtest result not saved");
                        (
                            "failed",
                            Some("the result could not be saved (see the server log)".into()),
                        )
                    }
                }
            }
            Err(e) if st.stop.is_cancelled() => ("stopped", Some(e).filter(|e| e != "stopped")),
            Err(e) => ("failed", Some(e)),
        };
        if status != "completed" {
            let fin = Finish {
                status: if status == "stopped" {
                    "cancelled"
                } else {
                    "failed"
                }
                .into(),
                error: error.clone(),
                note: None,
                start_date: None,
                end_date: None,
                final_value: None,
                total_return_pct: None,
                metrics: None,
                bars: 0,
            };
            let _ = self
                .db(move |s| s.finish(id, &fin, &mut [], &[], None))
                .await;
        }
        self.end(&st, status, error).await;
    }

    /// Marks the run ended, tells the status socket and the desk's log.
    async fn end(&self, st: &RunState, status: &'static str, error: Option<String>) {
        // a new run cannot start between this status and its event: their order is the truth
        let _one = self.0.starting.lock().await;
        st.progress.set(status, 0);
        let line = {
            let mut v = st.view();
            v.status = status;
            v.ended = Some(Utc::now());
            if let Some(e) = &error {
                v.errors.push(e.clone());
            }
            let id = v
                .backtest_id
                .map(|i| format!(" (backtest #{i})"))
                .unwrap_or_default();
            match (status, &v.metrics) {
                ("completed", Some(m)) => format!(
                    "{} {} {} on {}{id}: {:+.2} % over {} round trips",
                    st.mode,
                    st.run_id,
                    st.strategy,
                    st.symbols.join(","),
                    m["total_return_pct"].as_f64().unwrap_or(0.0),
                    m["round_trips"]
                ),
                _ => format!(
                    "{} {} {} {status}{id}{}",
                    st.mode,
                    st.run_id,
                    st.strategy,
                    error
                        .as_deref()
                        .map(|e| format!(": {}", e.lines().last().unwrap_or(e)))
                        .unwrap_or_default()
                ),
            }
        };
        self.publish(st);
        drop(_one);
        let _ = self
            .0
            .engine
            .call(move |e| e.log_event("backtest", line))
            .await;
    }

    /// Stops the active run (a backtest is discarded, a paper run keeps what it did).
    pub async fn stop(&self) -> Result<Value, Refused> {
        let Some(st) = self.current().filter(|r| r.is_running()) else {
            return Err(refused(409, "RUN_NOT_ACTIVE", "no run is in progress"));
        };
        st.stop.cancel();
        for _ in 0..500 {
            if !st.is_running() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = st.view().status;
        let message = match status {
            "stopped" => format!("{} stopped", st.mode),
            // still on a step that takes its time (an answer, the save): it stops after it
            "running" => format!("{} stopping: it ends when its current step does", st.mode),
            other => format!("{} {other} before it could be stopped", st.mode),
        };
        let status = if status == "running" {
            "stopping"
        } else {
            status
        };
        Ok(json!({ "run_id": st.run_id, "status": status, "message": message }))
    }

    /// Forgets the last run (refused while it runs).
    pub async fn reset(&self) -> Result<Value, Refused> {
        let _one = self.0.starting.lock().await;
        let mut cur = self.0.current.lock().expect("current run");
        match cur.as_ref() {
            Some(r) if r.is_running() => Err(refused(
                409,
                "RUN_ALREADY_ACTIVE",
                format!(
                    "run {} is in progress; stop it first (POST /api/v1/run/stop)",
                    r.run_id
                ),
            )),
            Some(r) => {
                let id = r.run_id.clone();
                *cur = None;
                drop(cur);
                let _ = self.0.status.send(self.status_event(None));
                Ok(json!({ "run_id": id, "status": "idle", "message": "run reset" }))
            }
            None => Ok(json!({ "run_id": null, "status": "idle", "message": "nothing to reset" })),
        }
    }

    /// The server is stopping: the active run stops (a paper run saves what it did).
    pub async fn shutdown(&self, within: Duration) {
        self.0.cancel.cancel();
        let mut tasks = std::mem::take(&mut *self.0.tasks.lock().expect("tasks"));
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("backtest runs did not stop in time; aborted");
        }
    }

    pub fn stopping(&self) {
        self.0.cancel.cancel();
    }
}
