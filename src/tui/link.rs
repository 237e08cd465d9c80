//! Where the console's data comes from and its commands go: the in-process engine (`Local`), or a
//! running `serve` over REST plus its event WebSocket (`Remote`, `console --connect`).
use super::app::Snapshot;
use crate::engine::command::DeskCommand;
use crate::engine::handle::EngineHandle;
use crate::engine::store::DeskEvent;
use crate::engine::{BrickHistory, TpArm};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

/// Bricks of each size the console asks for.
pub const BRICKS: usize = 160;
/// Log lines the console keeps.
pub const LOG_LINES: u32 = 300;

#[derive(Clone)]
pub enum Link {
    /// The in-process engine, and the run service the in-process server shares.
    Local(EngineHandle, crate::parity::RunService),
    Remote(Remote),
}

#[derive(Clone)]
pub struct Remote {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
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
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header(reqwest::header::COOKIE, c);
        }
        let resp = req.send().await?;
        let code = resp.status();
        let body: Value = resp.json().await?;
        if !code.is_success() {
            bail!(
                "{path}: {}",
                body["error"].as_str().unwrap_or("request failed")
            );
        }
        Ok(body)
    }

    /// POST to a seed-000 route (answers the object itself, refusals as `{"detail": …}`).
    async fn post_raw(&self, path: &str, body: Value) -> Result<Value, String> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(c) = &self.cookie {
            req = req.header(reqwest::header::COOKIE, c);
        }
        let resp = req
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

    /// POST to a seed-001 route; the success body as a map.
    async fn post(&self, path: &str, body: Value) -> Result<Map<String, Value>, String> {
        match self.post_raw(path, body).await? {
            Value::Object(m) => Ok(m),
            other => Err(format!("unexpected answer from the server: {other}")),
        }
    }
}

/// The seed-001 route and body of an operator command.
pub fn route(cmd: &DeskCommand) -> (&'static str, Value) {
    match cmd {
        DeskCommand::Entry(r) => (
            "/api/orders",
            json!({
                "asset": r.asset, "trade_mode": r.trade_mode, "order_type": r.order_type,
                "direction": r.direction, "entry_size_mode": r.entry_size_mode, "entry_override": r.entry_override,
            }),
        ),
        DeskCommand::Exit { asset, force } => {
            ("/api/exit", json!({ "asset": asset, "force": force }))
        }
        DeskCommand::ExitAll { force } => ("/api/exit-all", json!({ "force": force })),
        DeskCommand::ScaleIn { asset } => ("/api/scale-in", json!({ "asset": asset })),
        DeskCommand::Protect {
            asset,
            enabled,
            threshold,
        } => (
            "/api/protect",
            json!({ "asset": asset, "enabled": enabled, "threshold": threshold }),
        ),
        DeskCommand::PointsTp {
            asset,
            enabled,
            target,
        } => (
            "/api/points-take-profit",
            json!({ "asset": asset, "enabled": enabled, "target": target }),
        ),
        DeskCommand::TakeProfit {
            asset,
            tp_arm,
            tp_target,
            reset,
        } => {
            let arm = tp_arm.map(|a| match a {
                TpArm::Toggle => json!("toggle"),
                TpArm::On => json!(true),
                TpArm::Off => json!(false),
            });
            (
                "/api/take-profit",
                json!({ "asset": asset, "tp_arm": arm, "tp_target": tp_target, "reset": reset }),
            )
        }
        DeskCommand::HighNextBar { asset } => {
            ("/api/high-next-bar-exit", json!({ "asset": asset }))
        }
        DeskCommand::MainFlip { asset } => ("/api/main-flip-exit", json!({ "asset": asset })),
        DeskCommand::FourPt { asset } => ("/api/four-pt-invalidation", json!({ "asset": asset })),
        DeskCommand::AutoExit { asset } => ("/api/auto-exit", json!({ "asset": asset })),
        DeskCommand::Intent { asset } => ("/api/intent", json!({ "asset": asset })),
        DeskCommand::CancelIntent { asset } => ("/api/intent/cancel", json!({ "asset": asset })),
        DeskCommand::CancelPreorder { asset } => {
            ("/api/preorder/cancel", json!({ "asset": asset }))
        }
        DeskCommand::ConsumeTradeSlot => ("/api/trade-limit/consume", json!({})),
        DeskCommand::SetEnv { env } => ("/api/env", json!({ "env": env })),
    }
}

fn on_off(v: &Value) -> &'static str {
    if v.as_bool() == Some(true) {
        "ON"
    } else {
        "OFF"
    }
}

/// One status line for a command that succeeded, from its answer.
pub fn describe(cmd: &DeskCommand, out: &Map<String, Value>) -> String {
    if let Some(o) = out.get("order").filter(|o| o.is_object()) {
        return format!(
            "{} {} {} x{} sent: {}{}",
            o["kind"].as_str().unwrap_or("?"),
            o["side"].as_str().unwrap_or("?"),
            o["asset"].as_str().unwrap_or("?"),
            o["qty"],
            o["status"].as_str().unwrap_or("?"),
            if o["entry_override"] == true {
                " [override]"
            } else {
                ""
            }
        );
    }
    match cmd {
        DeskCommand::Entry(r) => format!(
            "preorder armed on {}: sent at the next 6pt brick if the gates pass",
            r.asset
        ),
        DeskCommand::ExitAll { .. } => {
            let sent = out
                .get("orders")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let skipped: Vec<String> = out
                .get("skipped")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .map(|k| {
                            format!(
                                "{}: {}",
                                k["asset"].as_str().unwrap_or("?"),
                                k["reason"].as_str().unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if skipped.is_empty() {
                format!("exit-all: {sent} exit order(s) sent")
            } else {
                format!("exit-all: {sent} sent, skipped {}", skipped.join("; "))
            }
        }
        DeskCommand::Protect { asset, .. } => {
            let p = &out["protect"];
            format!(
                "{asset} protect {} at {:+.1} pts",
                on_off(&p["enabled"]),
                p["threshold"].as_f64().unwrap_or(0.0)
            )
        }
        DeskCommand::PointsTp { asset, .. } => {
            let p = &out["points_take_profit"];
            format!(
                "{asset} points TP {} at {} pts",
                on_off(&p["enabled"]),
                p["target"]
            )
        }
        DeskCommand::TakeProfit { asset, .. } => {
            let t = &out["take_profit"];
            format!(
                "{asset} signal-count TP {} ({}/{})",
                if t["armed"] == true { "ARMED" } else { "off" },
                t["count"],
                t["target"]
            )
        }
        DeskCommand::HighNextBar { asset } => {
            format!("{asset} 8pt next-bar exit {}", on_off(&out["enabled"]))
        }
        DeskCommand::MainFlip { asset } => {
            format!("{asset} 6pt flip exit {}", on_off(&out["enabled"]))
        }
        DeskCommand::FourPt { asset } => {
            format!("{asset} 4pt invalidation exit {}", on_off(&out["enabled"]))
        }
        DeskCommand::AutoExit { asset } => format!("{asset} auto-exit timeframe is 6pt"),
        DeskCommand::Intent { asset } => {
            format!("{asset} intent armed: READY at the next 6pt brick")
        }
        DeskCommand::CancelIntent { asset } => format!("{asset} intent cancelled"),
        DeskCommand::CancelPreorder { asset } => format!("{asset} preorder cancelled"),
        DeskCommand::ConsumeTradeSlot => format!(
            "trade slot consumed: {}/{}",
            out["trade_count"], out["trade_limit"]
        ),
        DeskCommand::SetEnv { .. } => {
            format!("environment is now {}", out["env"].as_str().unwrap_or("?"))
        }
        DeskCommand::Exit { .. } | DeskCommand::ScaleIn { .. } => "done".into(),
    }
}

impl Link {
    /// A local link with its own run service (no in-process server shares it).
    pub fn local(engine: EngineHandle) -> Link {
        let runs = crate::parity::RunService::new(engine.clone(), Default::default());
        Link::Local(engine, runs)
    }

    /// Starts or stops a parity run; `Ok(summary)` or `Err(the refusal)`.
    pub async fn run(&self, cmd: super::app::RunCommand) -> Result<String, String> {
        use super::app::RunCommand;
        match (self, cmd) {
            (Link::Local(_, runs), RunCommand::Live(req)) => runs
                .start_live(&req)
                .await
                .map(|st| format!("live run {} started: {} bars", st.run_id, st.live_total))
                .map_err(|e| e.to_string()),
            (Link::Local(_, runs), RunCommand::Stop(id)) => runs
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
        }
    }

    pub fn label(&self) -> String {
        match self {
            Link::Local(..) => "local".into(),
            Link::Remote(r) => r.base.clone(),
        }
    }

    /// State, the selected asset's bricks and the log, at one moment.
    pub async fn fetch(
        &self,
        asset: Option<String>,
        runs_wanted: super::app::RunsWanted,
    ) -> anyhow::Result<Snapshot> {
        match self {
            Link::Local(engine, _) => Ok(engine
                .call(move |e| {
                    let state = e.state_view()?;
                    let name = asset.unwrap_or_else(|| e.assets()[0].name.clone());
                    let bricks = e
                        .brick_history(&name, BRICKS)
                        .or_else(|_| e.brick_history(&e.assets()[0].name.clone(), BRICKS))?;
                    let events = e.recent_events(LOG_LINES)?;
                    let runs = if runs_wanted.list {
                        e.run_summaries(200)?
                    } else {
                        Vec::new()
                    };
                    let run = match &runs_wanted.detail {
                        Some(id) => e.run(id).ok(),
                        None => None,
                    };
                    Ok(Snapshot {
                        runs,
                        run,
                        state,
                        bricks,
                        events,
                    })
                })
                .await?),
            Link::Remote(r) => {
                let state = r.get("/api/state").await?;
                let state: crate::engine::view::StateView =
                    serde_json::from_value(state).context("unexpected /api/state")?;
                let name = asset
                    .filter(|a| state.assets.iter().any(|x| &x.asset == a))
                    .or_else(|| state.assets.first().map(|a| a.asset.clone()))
                    .context("the server has no assets")?;
                let (bricks_path, events_path) = (
                    format!("/api/bricks?asset={name}&limit={BRICKS}"),
                    format!("/api/events?limit={LOG_LINES}"),
                );
                let (bricks, events) = tokio::join!(r.get(&bricks_path), r.get(&events_path));
                let bricks = bricks?;
                let bricks = BrickHistory {
                    asset: name,
                    bricks: serde_json::from_value(bricks["bricks"].clone())
                        .context("unexpected /api/bricks")?,
                };
                let events = serde_json::from_value(events?["events"].clone())
                    .context("unexpected /api/events")?;
                let runs = if runs_wanted.list {
                    serde_json::from_value(r.get("/runs").await?).context("unexpected /runs")?
                } else {
                    Vec::new()
                };
                let run = match &runs_wanted.detail {
                    Some(id) => serde_json::from_value(r.get(&format!("/runs/{id}")).await?).ok(),
                    None => None,
                };
                Ok(Snapshot {
                    state,
                    bricks,
                    events,
                    runs,
                    run,
                })
            }
        }
    }

    /// Runs a command; `Ok(summary)` or `Err(the engine's refusal, verbatim)`.
    pub async fn send(&self, cmd: DeskCommand) -> Result<String, String> {
        let out = match self {
            Link::Local(engine, _) => {
                let c = cmd.clone();
                engine
                    .call(move |e| e.execute(c))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Link::Remote(r) => {
                let (path, body) = route(&cmd);
                r.post(path, body).await?
            }
        };
        Ok(describe(&cmd, &out))
    }

    /// The engine's events as they happen. For a remote server the WebSocket reconnects by itself.
    pub fn events(&self) -> mpsc::Receiver<DeskEvent> {
        let (tx, rx) = mpsc::channel(256);
        match self.clone() {
            Link::Local(engine, _) => {
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
