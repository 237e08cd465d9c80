//! Where the console's data comes from and its commands go: the in-process engine (`Local`), or a
//! running `serve` over REST plus its event WebSocket (`Remote`, `console --connect`).
use super::app::Snapshot;
use crate::engine::BrickHistory;
use crate::engine::command::{CommandAnswer, DeskCommand};
use crate::engine::handle::EngineHandle;
use crate::engine::store::DeskEvent;
use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

/// Bricks of each size the console asks for.
pub const BRICKS: usize = 160;
/// Log lines the console keeps.
pub const LOG_LINES: u32 = 300;
/// Backtests the Backtests tab lists, the equity points of the selected one, and its fills shown.
pub const BACKTESTS: u32 = 200;
pub const CURVE: usize = 400;
pub const FILLS: usize = 1000;
/// Research jobs the Research tab lists (newest first).
pub const JOBS: i64 = 100;

/// A job id's first 8 characters, as the console shows it.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// A Research tab that could not be fetched says why (the rest of the console goes on).
fn failed(e: anyhow::Error) -> super::app::ResearchView {
    super::app::ResearchView {
        error: Some(format!("{e:#}")),
        ..Default::default()
    }
}

/// The Research tab's data from the in-process research service.
async fn local_research(
    r: &crate::services::research::ResearchService,
) -> anyhow::Result<super::app::ResearchView> {
    use crate::services::research::{measure, store};
    let datasets = r.datasets().await?;
    let (measurements, (jobs, _)) = r
        .db(|c| Ok((measure::list(c, None)?, store::list_jobs(c, None, JOBS, 0)?)))
        .await?;
    Ok(super::app::ResearchView {
        datasets,
        measurements,
        jobs,
        error: None,
    })
}

#[derive(Clone)]
pub enum Link {
    /// The in-process engine, and the services the in-process server shares.
    Local(EngineHandle, crate::services::Services),
    Remote(Remote),
}

#[derive(Clone)]
pub struct Remote {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
    /// Sent as `X-Stage1-Token` (seed 003's routes, when the server's research auth is on).
    stage1: Option<String>,
}

impl Remote {
    /// Logs in (when the server wants a password) and checks the server answers.
    pub async fn connect(base: &str, password: Option<&str>) -> anyhow::Result<Remote> {
        let base = base.trim_end_matches('/').to_string();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        let status: Value = client
            .get(format!("{base}/api/auth/status"))
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?
            .json()
            .await
            .with_context(|| format!("{base} is not a brickdesk server"))?;
        let mut cookie = None;
        if status["password_required"] == true {
            let Some(pw) = password else {
                bail!(
                    "{base} needs the operator password: set DASHBOARD_PASSWORD or pass --password"
                );
            };
            let resp = client
                .post(format!("{base}/api/login"))
                .json(&json!({ "password": pw }))
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!("login to {base} refused: wrong password");
            }
            cookie = resp
                .headers()
                .get(reqwest::header::SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(str::to_string);
        }
        Ok(Remote {
            base,
            client,
            cookie,
            stage1: None,
        })
    }

    /// Sends `token` as `X-Stage1-Token` (the research routes' own auth) with every request.
    pub fn with_stage1_token(mut self, token: Option<String>) -> Remote {
        self.stage1 = token;
        self
    }

    fn authed(&self, mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(c) = &self.cookie {
            req = req.header(reqwest::header::COOKIE, c);
        }
        if let Some(t) = &self.stage1 {
            req = req.header("x-stage1-token", t);
        }
        req
    }

    /// The Research tab's data from seed 003's routes.
    async fn research(&self) -> anyhow::Result<super::app::ResearchView> {
        let jobs = format!("/api/jobs?limit={JOBS}");
        let (d, m, j) = tokio::join!(
            self.get("/api/datasets?limit=1000"),
            self.get("/api/questdb/measurements"),
            self.get(&jobs),
        );
        Ok(super::app::ResearchView {
            datasets: d?["datasets"].as_array().cloned().unwrap_or_default(),
            measurements: serde_json::from_value(m?["measurements"].clone())
                .context("unexpected /api/questdb/measurements")?,
            jobs: serde_json::from_value(j?["jobs"].clone()).context("unexpected /api/jobs")?,
            error: None,
        })
    }

    /// How the server runs Python strategies (`/dependencies/status`), if it says.
    pub async fn sandbox_mode(&self) -> Option<String> {
        let deps = self.get("/dependencies/status").await.ok()?;
        let detail = deps["python_sandbox"]["detail"].as_str()?;
        detail.split_once(':').map(|(mode, _)| mode.to_string())
    }

    pub(super) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .authed(self.client.get(format!("{}{path}", self.base)))
            .send()
            .await?;
        let code = resp.status();
        let body: Value = resp.json().await?;
        if !code.is_success() {
            bail!(
                "{path}: {}",
                body["error"]
                    .as_str()
                    .or(body["detail"].as_str())
                    .unwrap_or("request failed")
            );
        }
        Ok(body)
    }

    /// POST to a seed-000 route (answers the object itself, refusals as `{"detail": …}`).
    pub(super) async fn post_raw(&self, path: &str, body: Value) -> Result<Value, String> {
        let resp = self
            .authed(self.client.post(format!("{}{path}", self.base)).json(&body))
            .send()
            .await
            .map_err(|e| format!("server unreachable: {e}"))?;
        let ok = resp.status().is_success();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| format!("bad answer from the server: {e}"))?;
        if ok {
            Ok(body)
        } else {
            Err(body["detail"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("refused")
                .to_string())
        }
    }

    /// A POST whose answer streams for as long as it takes (a chat answer): no overall deadline.
    pub(super) async fn stream_post(
        &self,
        path: &str,
        body: Value,
    ) -> reqwest::Result<reqwest::Response> {
        self.authed(self.client.post(format!("{}{path}", self.base)).json(&body))
            .timeout(std::time::Duration::from_secs(24 * 3600))
            .send()
            .await
    }

    /// POST to a seed-001 route; the success body as a map.
    async fn post(&self, path: &str, body: Value) -> Result<Map<String, Value>, String> {
        match self.post_raw(path, body).await? {
            Value::Object(m) => Ok(m),
            other => Err(format!("unexpected answer from the server: {other}")),
        }
    }
}

fn on_off(v: bool) -> &'static str {
    if v { "ON" } else { "OFF" }
}

/// One status line for a command that succeeded, from its answer.
pub fn describe(cmd: &DeskCommand, out: &CommandAnswer) -> String {
    use CommandAnswer as A;
    match (cmd, out) {
        (DeskCommand::ResolveOrder { .. }, A::Order { order: o, .. }) => format!(
            "{} resolved: {}{}",
            o.label(),
            o.status.as_str(),
            o.fill_price.map(|p| format!(" @ {p}")).unwrap_or_default()
        ),
        (_, A::Order { order: o, .. }) => format!(
            "{} sent: {}{}",
            o.label(),
            o.status.as_str(),
            if o.entry_override { " [override]" } else { "" }
        ),
        (DeskCommand::Entry(r), _) => format!(
            "preorder armed on {}: sent at the next 6pt brick if the gates pass",
            r.asset
        ),
        (_, A::ExitAll { orders, skipped }) => {
            if skipped.is_empty() {
                format!("exit-all: {} exit order(s) sent", orders.len())
            } else {
                let skipped: Vec<String> = skipped
                    .iter()
                    .map(|k| format!("{}: {}", k.asset, k.reason))
                    .collect();
                format!(
                    "exit-all: {} sent, skipped {}",
                    orders.len(),
                    skipped.join("; ")
                )
            }
        }
        (DeskCommand::Protect { asset, .. }, A::Protect { protect: p }) => format!(
            "{asset} protect {} at {:+.1} pts",
            on_off(p.enabled),
            p.threshold
        ),
        (
            DeskCommand::PointsTp { asset, .. },
            A::PointsTp {
                points_take_profit: p,
            },
        ) => format!(
            "{asset} points TP {} at {} pts",
            on_off(p.enabled),
            p.target
        ),
        (DeskCommand::TakeProfit { asset, .. }, A::TakeProfit { take_profit: t }) => format!(
            "{asset} signal-count TP {} ({}/{})",
            if t.armed { "ARMED" } else { "off" },
            t.count,
            t.target
        ),
        (DeskCommand::HighNextBar { asset }, A::Toggle { enabled }) => {
            format!("{asset} 8pt next-bar exit {}", on_off(*enabled))
        }
        (DeskCommand::MainFlip { asset }, A::Toggle { enabled }) => {
            format!("{asset} 6pt flip exit {}", on_off(*enabled))
        }
        (DeskCommand::FourPt { asset }, A::Toggle { enabled }) => {
            format!("{asset} 4pt invalidation exit {}", on_off(*enabled))
        }
        (DeskCommand::AutoExit { asset }, _) => format!("{asset} auto-exit timeframe is 6pt"),
        (DeskCommand::Intent { asset }, _) => {
            format!("{asset} intent armed: READY at the next 6pt brick")
        }
        (DeskCommand::CancelIntent { asset }, _) => format!("{asset} intent cancelled"),
        (DeskCommand::CancelPreorder { asset }, _) => format!("{asset} preorder cancelled"),
        (
            _,
            A::TradeSlot {
                trade_count,
                trade_limit,
            },
        ) => format!("trade slot consumed: {trade_count}/{trade_limit}"),
        (_, A::Env { env }) => format!("environment is now {}", env.as_str()),
        _ => "done".into(),
    }
}

/// The desk's assets, in the desk's order: each one's bricks are fetched.
fn asset_names(state: &crate::engine::view::StateView) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(!state.assets.is_empty(), "the desk has no assets");
    Ok(state.assets.iter().map(|a| a.asset.clone()).collect())
}

impl Link {
    /// A local link with its own services (no in-process server shares them), its chat asking
    /// Ollama at the default URL.
    pub fn local(engine: EngineHandle) -> anyhow::Result<Link> {
        Self::local_with_ollama(engine, crate::config::DEFAULT_OLLAMA)
    }

    /// The same, its chat asking Ollama at `ollama_url`.
    pub fn local_with_ollama(engine: EngineHandle, ollama_url: &str) -> anyhow::Result<Link> {
        // the store's jobs are the server's to run: this one only looks, queues and cancels
        let research =
            crate::services::research::ResearchService::view(engine.clone(), Default::default())?;
        let services = crate::services::Services::start(
            &engine,
            Default::default(),
            crate::services::ollama::Ollama::new(ollama_url, Default::default()),
            research,
            1,
        )?;
        Ok(Link::Local(engine, services))
    }

    /// Starts or stops a parity run; `Ok(summary)` or `Err(the refusal)`.
    pub async fn run(&self, cmd: super::app::RunCommand) -> Result<String, String> {
        use super::app::RunCommand;
        match (self, cmd) {
            (Link::Local(_, s), RunCommand::Live(req)) => s
                .runs
                .start_live(&req)
                .await
                .map(|st| format!("live run {} started: {} bars", st.run_id, st.live_total))
                .map_err(|e| e.to_string()),
            (Link::Local(_, s), RunCommand::CancelJob(id)) => {
                match s.research.cancel(id.clone()).await {
                    Ok(Ok(Some(_))) => Ok(format!("job {} cancelled", short(&id))),
                    Ok(Ok(None)) => Err(format!("job {} is gone", short(&id))),
                    Ok(Err(status)) => Err(format!(
                        "job {} is {status}: only a PENDING or RUNNING job can be cancelled",
                        short(&id)
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
            (Link::Local(_, s), RunCommand::Stop(id)) => s
                .runs
                .stop(&id)
                .await
                .map(|st| {
                    format!(
                        "run {} stopped at bar {}/{}",
                        st.run_id, st.live_progress, st.live_total
                    )
                })
                .map_err(|e| e.to_string()),
            (Link::Remote(r), RunCommand::Live(req)) => {
                let body = serde_json::to_value(&*req).map_err(|e| e.to_string())?;
                r.post_raw("/runs/live", body)
                    .await
                    .map(|v| format!("live run {} started", v["run_id"].as_str().unwrap_or("?")))
            }
            (Link::Remote(r), RunCommand::Stop(id)) => r
                .post_raw(&format!("/runs/{id}/stop"), json!({}))
                .await
                .map(|_| format!("run {id} stopped")),
            (Link::Remote(r), RunCommand::CancelJob(id)) => r
                .post_raw(&format!("/api/jobs/{id}/cancel"), json!({}))
                .await
                .map(|_| format!("job {} cancelled", short(&id))),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Link::Local(..) => "local".into(),
            Link::Remote(r) => r.base.clone(),
        }
    }

    /// State, every asset's bricks and the log, at one moment.
    pub async fn fetch(&self, runs_wanted: super::app::RunsWanted) -> anyhow::Result<Snapshot> {
        match self {
            Link::Local(engine, services) => {
                let (service, backtests, research) =
                    (&services.runs, &services.backtests, &services.research);
                // reads never queue behind the desk's writes: the snapshot, then the read connections
                let state = (*engine.snapshot()).clone();
                let names = asset_names(&state)?;
                let (bricks, events) = engine
                    .reader()
                    .read(move |r, st| {
                        let bricks = names
                            .iter()
                            .map(|n| r.bricks(st, n, BRICKS))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok((bricks, r.events(st, LOG_LINES)?))
                    })
                    .await?;
                let runs = if runs_wanted.list {
                    service.summaries(200).await?
                } else {
                    Vec::new()
                };
                let run = match runs_wanted.detail {
                    Some(id) => service.get(&id).await.ok(),
                    None => None,
                };
                let list = if runs_wanted.backtests {
                    backtests.list(BACKTESTS, 0).await?
                } else {
                    Vec::new()
                };
                let (backtest, backtest_error) = match runs_wanted.backtest {
                    Some(id) => match backtests.detail(id, CURVE, Some(FILLS)).await {
                        Ok(Some(b)) => (Some(b), None),
                        Ok(None) => (None, Some(format!("backtest #{id} is gone"))),
                        Err(e) => (None, Some(e.to_string())),
                    },
                    None => (None, None),
                };
                let research = match runs_wanted.research {
                    true => Some(local_research(research).await.unwrap_or_else(failed)),
                    false => None,
                };
                Ok(Snapshot {
                    runs,
                    run,
                    backtests: list,
                    backtest,
                    backtest_error,
                    backtests_listed: runs_wanted.backtests,
                    research,
                    state,
                    bricks,
                    events,
                })
            }
            Link::Remote(r) => {
                let state = r.get("/api/state").await?;
                let state: crate::engine::view::StateView =
                    serde_json::from_value(state).context("unexpected /api/state")?;
                let names = asset_names(&state)?;
                let bricks =
                    futures_util::future::try_join_all(names.into_iter().map(|name| async {
                        let b = r
                            .get(&format!("/api/bricks?asset={name}&limit={BRICKS}"))
                            .await?;
                        anyhow::Ok(BrickHistory {
                            bricks: serde_json::from_value(b["bricks"].clone())
                                .context("unexpected /api/bricks")?,
                            asset: name,
                        })
                    }));
                let events_path = format!("/api/events?limit={LOG_LINES}");
                let (bricks, events) = tokio::join!(bricks, r.get(&events_path));
                let bricks = bricks?;
                let events = serde_json::from_value(events?["events"].clone())
                    .context("unexpected /api/events")?;
                let runs = if runs_wanted.list {
                    serde_json::from_value(r.get("/runs?summary=true").await?)
                        .context("unexpected /runs?summary=true")?
                } else {
                    Vec::new()
                };
                let run = match &runs_wanted.detail {
                    Some(id) => serde_json::from_value(r.get(&format!("/runs/{id}")).await?).ok(),
                    None => None,
                };
                let backtests = if runs_wanted.backtests {
                    serde_json::from_value(
                        r.get(&format!("/api/backtests?limit={BACKTESTS}")).await?,
                    )
                    .context("unexpected /api/backtests")?
                } else {
                    Vec::new()
                };
                let (backtest, backtest_error) = match runs_wanted.backtest {
                    Some(id) => match r
                        .get(&format!(
                            "/api/backtests/{id}?points={CURVE}&trades={FILLS}"
                        ))
                        .await
                    {
                        Ok(b) => (Some(b), None),
                        Err(e) => (None, Some(format!("backtest #{id}: {e:#}"))),
                    },
                    None => (None, None),
                };
                let research = match runs_wanted.research {
                    true => Some(r.research().await.unwrap_or_else(failed)),
                    false => None,
                };
                Ok(Snapshot {
                    state,
                    bricks,
                    events,
                    runs,
                    run,
                    backtests,
                    backtest,
                    backtest_error,
                    backtests_listed: runs_wanted.backtests,
                    research,
                })
            }
        }
    }

    /// Runs a command; `Ok(summary)` or `Err(the engine's refusal, verbatim)`.
    pub async fn send(&self, cmd: DeskCommand) -> Result<String, String> {
        let out = match self {
            Link::Local(engine, ..) => {
                let c = cmd.clone();
                engine
                    .call(move |e| e.execute(c))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Link::Remote(r) => {
                let (path, body) = cmd.request();
                let answer = r.post(path, body).await?;
                serde_json::from_value::<CommandAnswer>(Value::Object(answer))
                    .map_err(|e| format!("unexpected answer from the server: {e}"))?
            }
        };
        Ok(describe(&cmd, &out))
    }

    /// The engine's events as they happen. For a remote server the WebSocket reconnects by itself.
    pub fn events(&self) -> mpsc::Receiver<DeskEvent> {
        let (tx, rx) = mpsc::channel(256);
        match self.clone() {
            Link::Local(engine, ..) => {
                let mut sub = engine.subscribe();
                tokio::spawn(async move {
                    loop {
                        let ev = match sub.recv().await {
                            Ok(e) => e,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => lagged(),
                            Err(_) => break,
                        };
                        if tx.send(ev).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Link::Remote(r) => {
                tokio::spawn(async move {
                    loop {
                        if let Err(e) = remote_events(&r, &tx).await {
                            tracing::warn!(error = %e, "event stream lost; reconnecting");
                        }
                        if tx.is_closed() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                });
            }
        }
        rx
    }
}

fn lagged() -> DeskEvent {
    DeskEvent {
        id: 0,
        at: chrono::Utc::now(),
        kind: "lagged".into(),
        asset: None,
        message: "missed events: refetching".into(),
    }
}

async fn remote_events(r: &Remote, tx: &mpsc::Sender<DeskEvent>) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/api/ws", r.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request()?;
    if let Some(c) = &r.cookie {
        req.headers_mut().insert("cookie", c.parse()?);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    // a (re)connection may have missed events: ask for a refetch
    tx.send(lagged()).await?;
    while let Some(msg) = ws.next().await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg? {
            let ev = serde_json::from_str::<DeskEvent>(&t).unwrap_or_else(|_| lagged());
            if tx.send(ev).await.is_err() {
                break;
            }
        }
    }
    Ok(())
}
