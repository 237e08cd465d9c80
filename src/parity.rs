//! The run service: starts replay and live parity runs for the server and the console. The rules
//! (comparison, runner) live in `engine::runs`; this adds the async parts: the Python run off the
//! engine thread, a live run's timer, its `LiveBarEvent` stream, and stopping it.
use crate::engine::error::{DeskError, DeskResult};
use crate::engine::handle::EngineHandle;
use crate::engine::runs::{self, RunRequest, RunStatus, python::Limits};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

struct LiveRun {
    events: broadcast::Sender<Value>,
    stop: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct RunService {
    engine: EngineHandle,
    limits: Limits,
    live: Arc<Mutex<HashMap<String, LiveRun>>>,
    /// Every run event (`LiveBarEvent`s and lifecycle changes), for `/ws/stream`.
    stream: broadcast::Sender<Value>,
}

impl RunService {
    pub fn new(engine: EngineHandle, limits: Limits) -> Self {
        RunService {
            engine,
            limits,
            live: Arc::default(),
            stream: broadcast::channel(1024).0,
        }
    }

    pub fn stream(&self) -> broadcast::Receiver<Value> {
        self.stream.subscribe()
    }

    /// Checks the request, spends a permission grant if one is needed, records the run.
    async fn begin(
        &self,
        req: &RunRequest,
        lifecycle: &str,
    ) -> DeskResult<(
        RunStatus,
        runs::RunRequest,
        crate::engine::datasets::DatasetMeta,
        Option<runs::artifacts::BridgeArtifact>,
    )> {
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
        let run_id = runs::new_run_id();
        let (r, lc) = (req.clone(), lifecycle.to_string());
        let (dataset, bridge, st) = self
            .engine
            .call(move |e| {
                let dataset = e.dataset(&r.dataset_id)?;
                let bridge = r
                    .bridge_artifact_id
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(|id| e.bridge_artifact(id))
                    .transpose()?;
                e.authorize(
                    "python_code",
                    r.python_artifact.permissions.read_allowed,
                    &run_id,
                )?;
                let mut st = runs::replay_pending(run_id, &r, &dataset, e.now());
                st.lifecycle = lc;
                e.save_run(&st)?;
                Ok((dataset, bridge, st))
            })
            .await?;
        Ok((st, req.clone(), dataset, bridge))
    }

    async fn save(&self, st: &RunStatus) -> DeskResult<()> {
        let s = st.clone();
        self.engine.call(move |e| e.save_run(&s)).await
    }

    /// A deterministic replay of the whole window; a failing strategy gives a `failed` run.
    pub async fn replay(&self, req: &RunRequest) -> DeskResult<RunStatus> {
        let (st, req, dataset, bridge) = self.begin(req, "running").await?;
        let limits = self.limits.clone();
        let created = st.created_at;
        let mut run = tokio::task::spawn_blocking(move || {
            runs::replay(
                st.run_id.clone(),
                &req,
                &dataset,
                bridge.as_ref(),
                &limits,
                created,
            )
        })
        .await
        .map_err(|_| DeskError::Storage("the run worker failed".into()))?;
        run.updated_at = chrono::Utc::now();
        self.save(&run).await?;
        let _ = self
            .stream
            .send(json!({ "type": "run", "run_id": run.run_id, "lifecycle": run.lifecycle }));
        Ok(run)
    }

    /// Starts a live run: the Python side runs once, then one bar is revealed per step
    /// (`bars_per_second`, default 1) with the comparison updated; answers at once.
    pub async fn start_live(&self, req: &RunRequest) -> DeskResult<RunStatus> {
        let (mut st, req, dataset, bridge) = self.begin(req, "live").await?;
        let limits = self.limits.clone();
        let r = req.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            runs::load_run(&r, &dataset, bridge.as_ref(), &limits)
        })
        .await
        .map_err(|_| DeskError::Storage("the run worker failed".into()))?;
        let data = match loaded {
            Ok(d) => d,
            Err(e) => {
                st.lifecycle = "failed".into();
                st.error = Some(e);
                self.save(&st).await?;
                return Ok(st);
            }
        };
        st.live_total = data.bars.len();
        self.save(&st).await?;
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
        tokio::spawn(async move { svc.play(st, req, data, events, stopped).await });
        Ok(first)
    }

    async fn play(
        &self,
        mut st: RunStatus,
        req: RunRequest,
        data: runs::RunData,
        events: broadcast::Sender<Value>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let step = Duration::from_secs_f64(1.0 / req.run_config.bars_per_second.unwrap_or(1.0));
        let total = data.bars.len();
        let mut tick = tokio::time::interval(step);
        let mut last_save = std::time::Instant::now();
        for k in 1..=total {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => {}
            }
            if *stopped.borrow() {
                st.lifecycle = "stopped".into();
                break;
            }
            runs::fill_status(&mut st, &data, &req.run_config, k, true);
            st.updated_at = chrono::Utc::now();
            if k == total {
                st.lifecycle = "completed".into();
            }
            let ev = live_event(&st);
            let _ = events.send(ev.clone());
            let _ = self.stream.send(ev);
            if k == total || last_save.elapsed() > Duration::from_secs(1) {
                let _ = self.save(&st).await;
                last_save = std::time::Instant::now();
            }
        }
        if st.lifecycle == "stopped" {
            let _ = self.save(&st).await;
            let ev = live_event(&st);
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
                    let id = run_id.to_string();
                    let st = self.engine.call(move |e| e.run(&id)).await?;
                    if st.lifecycle != "live" {
                        return Ok(st);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(DeskError::Conflict(format!(
                    "run {run_id} did not stop in time"
                )))
            }
            None => {
                let id = run_id.to_string();
                let st = self.engine.call(move |e| e.run(&id)).await?;
                Err(DeskError::Conflict(format!(
                    "run {run_id} is {}, not live",
                    st.lifecycle
                )))
            }
        }
    }
}

/// `LiveBarEvent`: the latest revealed bar and the comparison so far.
pub fn live_event(st: &RunStatus) -> Value {
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
        "latest_candle": st.candles.last(),
        "comparison": summary,
        "updated_at": st.updated_at.to_rfc3339(),
    })
}
