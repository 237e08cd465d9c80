//! Test harness: the real router on an ephemeral port over a temp-dir SQLite store, with a
//! `ManualClock` the test moves, and a logged-in HTTP client.
#![allow(dead_code)]
pub mod fixture;
pub mod ollama;
use brickdesk::config::{Config, Secrets};
use brickdesk::engine::Engine;
use brickdesk::engine::clock::ManualClock;
use brickdesk::engine::handle::EngineHandle;
use brickdesk::engine::model::AssetConfig;
use brickdesk::engine::state::DeskSettings;
use brickdesk::engine::store::Store;
use brickdesk::server::{self, AppState};
use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

thread_local! {
    /// (key, base URL) of a stand-in polygon for the next desk started on this thread.
    pub static POLYGON: std::cell::RefCell<Option<(String, String)>> = const { std::cell::RefCell::new(None) };
    static PYTHON: std::cell::RefCell<Option<brickdesk::engine::runs::python::Limits>> = const { std::cell::RefCell::new(None) };
    /// Secrets, browser policy and upload limit of the next desk's server.
    static SERVER: std::cell::RefCell<Option<(Secrets, server::guard::BrowserPolicy, usize)>> = const { std::cell::RefCell::new(None) };
    /// Import roots of the next desk's server (its temp dir by default).
    static ROOTS: std::cell::RefCell<Option<Vec<std::path::PathBuf>>> = const { std::cell::RefCell::new(None) };
    /// The Ollama base URL of the next desk's server.
    static OLLAMA: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// `[research]` of the next desk's server.
    static RESEARCH: std::cell::RefCell<Option<brickdesk::services::research::ResearchConfig>> = const { std::cell::RefCell::new(None) };
    /// `[chat]` of the next desk's server.
    static CHAT: std::cell::RefCell<Option<brickdesk::services::chat::ChatConfig>> = const { std::cell::RefCell::new(None) };
}

/// Every test request and socket read gives up after this long: a hung server fails its test
/// instead of hanging the suite.
pub const IO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// An HTTP client with `IO_TIMEOUT` on every request, without cookies.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(IO_TIMEOUT)
        .build()
        .unwrap()
}

/// An HTTP client with `IO_TIMEOUT` that keeps the cookies it is given (a session).
pub fn http_with_cookies() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(IO_TIMEOUT)
        .cookie_store(true)
        .build()
        .unwrap()
}

/// `fut`, or a failure naming `what` after `IO_TIMEOUT`.
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(IO_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {IO_TIMEOUT:?}"))
}

/// The `brickdesk` binary as a test runs it: no developer's config file, environment or colors
/// reach it (`BRICKDESK_CONFIG=/dev/null`, no password, log filter, tokens or data dir).
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_brickdesk"));
    c.env("BRICKDESK_CONFIG", "/dev/null")
        .env("NO_COLOR", "1")
        .env_remove("DASHBOARD_PASSWORD")
        .env_remove("BRICKDESK_LOG")
        .env_remove("BRICKDESK_API_TOKENS")
        .env_remove("BRICKDESK_DATA_DIR");
    c
}

/// A WebSocket to `url` (`ws://…`) with an operator session's `cookie`, connected within
/// `IO_TIMEOUT`.
pub async fn ws_connect(
    url: &str,
    cookie: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    within(
        "a WebSocket handshake",
        tokio_tungstenite::connect_async(req),
    )
    .await
    .unwrap()
    .0
}

/// The HTTP status a WebSocket handshake to `url` with these extra headers gets (101 when it is
/// upgraded).
pub async fn ws_handshake(url: &str, headers: &[(&'static str, String)]) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    match within(
        "a WebSocket handshake",
        tokio_tungstenite::connect_async(req),
    )
    .await
    {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{url}: {e}"),
    }
}

/// `cmd`'s exit status and output, or a failure after `secs` (the child is killed then): a
/// command that hangs fails its test instead of hanging the suite.
pub fn output_within(cmd: &mut std::process::Command, secs: u64) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // both pipes drain on threads of their own, so a chatty child never blocks on one
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).ok();
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// A child's output, read line by line on a thread of its own, so every wait has a deadline.
pub struct Lines(std::sync::mpsc::Receiver<String>);

impl Lines {
    pub fn of(out: impl std::io::Read + Send + 'static) -> Lines {
        use std::io::BufRead;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // keeps draining after the reader is gone, so the child never blocks on its pipe
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Lines(rx)
    }

    /// The lines up to the first that contains `needle`, which is the last; fails after `secs`
    /// or when the output ends first.
    pub fn until(&self, needle: &str, secs: u64) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(e) => panic!("no line with {needle:?} ({e}); output so far: {seen:#?}"),
            }
        }
    }

    /// The next line within `secs`; `None` when the output has ended.
    pub fn next(&self, secs: u64) -> Option<String> {
        match self.0.recv_timeout(std::time::Duration::from_secs(secs)) {
            Ok(line) => Some(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(e) => panic!("no output line within {secs} s ({e})"),
        }
    }

    /// Every line until the output ends; fails after `secs`.
    pub fn rest(&self, secs: u64) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return seen,
                Err(e) => panic!("the output did not end within {secs} s ({e}): {seen:#?}"),
            }
        }
    }
}

pub const PASSWORD: &str = "operator-pw";
pub const BRIDGE: &str = "bridge-secret";
pub const TV: &str = "tv-secret";
pub const TOKEN: &str = "api-token";

/// Every brick webhook and the size it feeds, as `/api/state` names it.
pub const BRICK_ROUTES: [(&str, &str); 7] = [
    ("/tv_renko_small", "one"),
    ("/tv_renko_one", "one"),
    ("/tv_renko_two_half", "two_half"),
    ("/tv_renko", "four"),
    ("/tv_renko_main", "main"),
    ("/tv_renko_high", "high"),
    ("/tv_renko_macro", "macro"),
];

/// Tuesday 2026-03-10 14:31:00 UTC = 09:31 in Chicago (CDT), one minute into a 5-minute candle.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 14, 31, 0).unwrap()
}

pub fn secrets() -> Secrets {
    Secrets {
        dashboard_password: Some(PASSWORD.into()),
        bridge_heartbeat_secret: Some(BRIDGE.into()),
        tv_webhook_secret: Some(TV.into()),
        api_tokens: vec![TOKEN.into()],
    }
}

pub struct TestDesk {
    pub base: String,
    pub clock: ManualClock,
    pub engine: EngineHandle,
    /// Logged in as the operator.
    pub client: reqwest::Client,
    /// No cookies: for the bridge, webhooks and anonymous checks.
    pub anon: reqwest::Client,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestDesk {
    pub async fn start() -> TestDesk {
        Self::start_with(AssetConfig::defaults(), DeskSettings::default()).await
    }

    pub async fn start_with(assets: Vec<AssetConfig>, settings: DeskSettings) -> TestDesk {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(start_time());
        Self::start_in(dir, clock, assets, settings).await
    }

    /// A desk whose Python runner uses these limits.
    pub async fn start_with_python(limits: brickdesk::engine::runs::python::Limits) -> TestDesk {
        PYTHON.with(|p| *p.borrow_mut() = Some(limits));
        Self::start().await
    }

    /// A desk whose server runs with these secrets and this browser policy (hosts, CORS origins).
    pub async fn start_server(secrets: Secrets, browser: server::guard::BrowserPolicy) -> TestDesk {
        let limit = server::ServerOptions::default().upload_limit;
        SERVER.with(|p| *p.borrow_mut() = Some((secrets, browser, limit)));
        Self::start().await
    }

    /// A desk whose server takes the browser policy and upload limit of `options`.
    pub async fn start_with_options(options: server::ServerOptions) -> TestDesk {
        SERVER.with(|p| *p.borrow_mut() = Some((secrets(), options.browser, options.upload_limit)));
        Self::start().await
    }

    /// A desk whose imports may read files under `roots` only.
    pub async fn start_with_import_roots(roots: &[std::path::PathBuf]) -> TestDesk {
        ROOTS.with(|r| *r.borrow_mut() = Some(roots.to_vec()));
        Self::start().await
    }

    /// A desk whose server reaches Ollama at `url` (a stand-in the test started, or a closed port).
    pub async fn start_with_ollama(url: &str) -> TestDesk {
        OLLAMA.with(|o| *o.borrow_mut() = Some(url.to_string()));
        Self::start().await
    }

    /// A desk whose server reaches Ollama at `url` with these deadlines and generations at once.
    pub async fn start_with_chat(
        url: &str,
        cfg: brickdesk::services::chat::ChatConfig,
    ) -> TestDesk {
        CHAT.with(|c| *c.borrow_mut() = Some(cfg));
        Self::start_with_ollama(url).await
    }

    /// A desk whose research backend runs with `cfg` (auth, workers, query limits).
    pub async fn start_with_research(
        cfg: brickdesk::services::research::ResearchConfig,
    ) -> TestDesk {
        RESEARCH.with(|r| *r.borrow_mut() = Some(cfg));
        Self::start().await
    }

    /// Stops the server and the engine, then starts both again on the same database.
    pub async fn restart(mut self) -> TestDesk {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let clock = self.clock.clone();
        drop(self);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Self::start_in(dir, clock, AssetConfig::defaults(), DeskSettings::default()).await
    }

    pub async fn start_in(
        dir: tempfile::TempDir,
        clock: ManualClock,
        assets: Vec<AssetConfig>,
        settings: DeskSettings,
    ) -> TestDesk {
        let store = Store::open(&dir.path().join("desk.sqlite3")).unwrap();
        let engine = Engine::new(assets, settings, store, Arc::new(clock.clone())).unwrap();
        let (engine, _thread) = EngineHandle::spawn(engine);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let options = server::ServerOptions {
            data_dir: dir.path().to_path_buf(),
            ollama_url: OLLAMA
                .with(|o| o.borrow_mut().take())
                .unwrap_or_else(|| brickdesk::config::DEFAULT_OLLAMA.into()),
            polygon_key: POLYGON.with(|p| p.borrow().clone().map(|(k, _)| k)),
            polygon_base_url: POLYGON
                .with(|p| p.borrow().clone().map(|(_, u)| u))
                .unwrap_or_default(),
            python: PYTHON.with(|p| p.borrow_mut().take()).unwrap_or(
                brickdesk::engine::runs::python::Limits {
                    timeout: std::time::Duration::from_secs(5),
                    memory_bytes: 2 << 30,
                    ..Default::default()
                },
            ),
            files: brickdesk::engine::datasets::files::FilePolicy::new(
                &ROOTS
                    .with(|r| r.borrow_mut().take())
                    .unwrap_or_else(|| vec![dir.path().to_path_buf()]),
                512 << 20,
            ),
            clock: Arc::new(clock.clone()),
            research: RESEARCH.with(|r| r.borrow_mut().take()).unwrap_or_default(),
            chat: CHAT.with(|c| c.borrow_mut().take()).unwrap_or_default(),
            ..server::ServerOptions::default()
        };
        let (secrets, options) = match SERVER.with(|p| p.borrow_mut().take()) {
            Some((secrets, browser, upload_limit)) => (
                secrets,
                server::ServerOptions {
                    browser,
                    upload_limit,
                    ..options
                },
            ),
            None => (secrets(), options),
        };
        let state = AppState::with_options(engine.clone(), secrets, options).unwrap();
        tokio::spawn(server::serve(listener, state, async {
            let _ = rx.await;
        }));
        let client = http_with_cookies();
        let desk = TestDesk {
            base,
            clock,
            engine,
            client,
            anon: http(),
            dir,
            shutdown: Some(tx),
        };
        let (code, body) = desk
            .post("/api/login", json!({ "password": PASSWORD }))
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        desk
    }

    /// `POST /api/login` with `password`, from a client with no session; the raw answer.
    pub async fn login_with(&self, password: &str) -> reqwest::Response {
        self.anon
            .post(self.url("/api/login"))
            .json(&json!({ "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// A fresh operator session as a `Cookie` header value (for WebSocket clients).
    pub async fn session_cookie(&self) -> String {
        session_cookie(&self.base).await
    }

    /// Moves the clock, then runs the engine's 1 Hz housekeeping as the server would (lock
    /// expiry, stale flags, day roll) so the published state is as of the new time.
    pub async fn advance(&self, secs: i64) {
        self.clock.advance_secs(secs);
        self.engine.tick().await.unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST as the logged-in operator.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_with(&self.client, path, body).await
    }

    /// POST with no session (bridge, webhooks, refusals).
    pub async fn post_anon(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_with(&self.anon, path, body).await
    }

    async fn post_with(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        read(
            client
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        read(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn state(&self) -> Value {
        let (code, body) = self.get("/api/state").await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body
    }

    /// The state without the fields that only say what time it is.
    pub async fn state_without_clock(&self) -> Value {
        let mut s = self.state().await;
        s.as_object_mut().unwrap().remove("now");
        s
    }

    /// The state (minus the clock) and every asset's orders: what a refusal leaves as it was.
    pub async fn desk(&self) -> Value {
        let state = self.state_without_clock().await;
        let mut orders = serde_json::Map::new();
        for a in state["assets"].as_array().unwrap() {
            let name = a["asset"].as_str().unwrap();
            orders.insert(name.into(), Value::Array(self.orders(name).await));
        }
        json!({ "state": state, "orders": orders })
    }

    /// POSTs what must be refused with `code`; asserts the desk is unchanged. The message.
    pub async fn refused(&self, path: &str, body: Value, code: StatusCode) -> String {
        let before = self.desk().await;
        let (c, b) = self.post(path, body.clone()).await;
        assert_eq!(c, code, "{path} {body}: {b}");
        assert_eq!(b["ok"], false, "{b}");
        assert_eq!(
            self.desk().await,
            before,
            "{path} {body} was refused, yet the desk changed"
        );
        b["error"].as_str().unwrap().to_string()
    }

    /// Is there a line in the event log (the newest 200) containing `needle`?
    pub async fn logged(&self, needle: &str) -> bool {
        let (_, events) = self.get("/api/events?limit=200").await;
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"].as_str().unwrap_or_default().contains(needle))
    }

    pub async fn asset(&self, name: &str) -> Value {
        let s = self.state().await;
        s["assets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["asset"] == name)
            .cloned()
            .unwrap()
    }

    pub async fn heartbeat(&self, asset: &str, price: f64) -> Value {
        let (code, body) = self
            .post_anon(
                "/tv_heartbeat",
                json!({ "secret": TV, "symbol": asset, "price": price }),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body
    }

    /// Posts a brick to the webhook of `path` (e.g. `/tv_renko_main`).
    pub async fn brick(&self, path: &str, asset: &str, color: &str, bar_id: &str) -> Value {
        let (code, body) = self
            .post_anon(
                path,
                json!({ "secret": TV, "asset": asset, "color": color, "bar_id": bar_id }),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{path} {body}");
        body
    }

    /// A fresh heartbeat, and 8pt, 12pt, 2.5pt and 6pt bricks of `color`: a NORMAL zone that
    /// passes the 2.5pt filter, and the tempo token READY.
    pub async fn make_ready(&self, asset: &str, color: &str, price: f64) {
        self.heartbeat(asset, price).await;
        let n = next_id();
        for (path, key) in [
            ("/tv_renko_high", "h"),
            ("/tv_renko_macro", "m"),
            ("/tv_renko_two_half", "q"),
            ("/tv_renko_main", "t"),
        ] {
            self.brick(path, asset, color, &format!("{key}{n}")).await;
        }
    }

    /// `POST /api/orders`; a body without `trade_mode` gets `SCALP` (the route requires one).
    pub async fn entry(&self, mut body: Value) -> (StatusCode, Value) {
        if body.get("trade_mode").is_none() {
            body["trade_mode"] = json!("SCALP");
        }
        self.post("/api/orders", body).await
    }

    /// A fresh 6pt brick: releases the initial exit lock of an open trade.
    pub async fn main_brick(&self, asset: &str, color: &str) -> Value {
        let n = next_id();
        self.brick("/tv_renko_main", asset, color, &format!("mb{n}"))
            .await
    }

    /// Claims every PENDING order as the bridge would.
    pub async fn poll(&self) -> Vec<Value> {
        let (code, body) = read(
            self.anon
                .get(self.url(&format!("/api/orders/pending?secret={BRIDGE}&owner=test")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body["orders"].as_array().unwrap().clone()
    }

    pub async fn report(&self, id: &str, body: Value) -> (StatusCode, Value) {
        self.post_anon(
            &format!("/api/orders/{id}/execution-report?secret={BRIDGE}"),
            body,
        )
        .await
    }

    /// Polls, then reports WORKING and FILLED at `price` for every claimed order.
    pub async fn fill_all(&self, price: f64) -> Vec<Value> {
        let orders = self.poll().await;
        for o in &orders {
            let id = o["id"].as_str().unwrap();
            let (c, b) = self.report(id, json!({ "status": "WORKING" })).await;
            assert_eq!(c, StatusCode::OK, "{b}");
            let (c, b) = self
                .report(
                    id,
                    json!({ "status": "FILLED", "extra": { "fill_price": price } }),
                )
                .await;
            assert_eq!(c, StatusCode::OK, "{b}");
        }
        orders
    }

    /// Opens a position of `side` at `price` through the public routes.
    pub async fn open_position(&self, asset: &str, side: &str, price: f64) {
        let color = if side == "BUY" { "green" } else { "red" };
        self.make_ready(asset, color, price).await;
        let (code, body) = self.entry(json!({ "asset": asset })).await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
        assert_eq!(self.fill_all(price).await.len(), 1);
        let a = self.asset(asset).await;
        assert_eq!(a["position"]["side"], side, "{a}");
    }

    /// Every order of an asset, newest first.
    pub async fn orders(&self, asset: &str) -> Vec<Value> {
        let (code, body) = self.get(&format!("/api/orders?asset={asset}")).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        body["orders"].as_array().unwrap().clone()
    }

    pub async fn exit_orders(&self, asset: &str) -> Vec<Value> {
        self.orders(asset)
            .await
            .into_iter()
            .filter(|o| o["kind"] == "EXIT")
            .collect()
    }

    pub fn config(&self) -> Config {
        Config::default()
    }
}

impl Drop for TestDesk {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let code = resp.status();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, body)
}

/// Unique bar ids across a test.
pub fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The real `brickdesk serve` on a free port with the test secrets, `config` as its config file
/// (`/dev/null`: the defaults). Returns the child and its base URL; its log keeps being drained.
pub fn spawn_serve(data: &std::path::Path, config: &std::path::Path) -> (Serve, String) {
    spawn_serve_with(data, config, &[])
}

/// A `serve` child process that is killed when dropped, so a failing test leaves no server behind.
pub struct Serve(pub std::process::Child);

impl std::ops::Deref for Serve {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Serve {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `spawn_serve` with more environment (an API token, say).
pub fn spawn_serve_with(
    data: &std::path::Path,
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> (Serve, String) {
    let mut cmd = bin();
    cmd.envs(env.iter().copied())
        .env("BRICKDESK_CONFIG", config)
        .env("DASHBOARD_PASSWORD", PASSWORD)
        .env("BRIDGE_HEARTBEAT_SECRET", BRIDGE)
        .env("TV_WEBHOOK_SECRET", TV)
        .env_remove("BRICKDESK_DATA_DIR")
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--port", "0"]);
    let (child, base, _) = spawn_listening(cmd);
    (child, base)
}

/// Starts `cmd` (a `serve` or a headless `demo`) and waits (at most 30 s) for its "listening on"
/// line: the child, its base URL, and the rest of its output.
pub fn spawn_listening(mut cmd: std::process::Command) -> (Serve, String, Lines) {
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let lines = Lines::of(child.stdout.take().unwrap());
    let child = Serve(child);
    let seen = lines.until("listening on http://", 30);
    let line = seen.last().unwrap();
    let i = line.find("listening on http://").unwrap();
    let base = line[i + "listening on ".len()..].trim().to_string();
    (child, base, lines)
}

/// A fresh operator session on the server at `base`, as a `Cookie` header value.
pub async fn session_cookie(base: &str) -> String {
    let resp = http()
        .post(format!("{base}/api/login"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    set.split(';').next().unwrap().to_string()
}

/// `GET url` read as JSON, whatever its status.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// A client logged in as the operator on a server at `base`.
pub async fn login(base: &str) -> reqwest::Client {
    let client = http_with_cookies();
    let resp = client
        .post(format!("{base}/api/login"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    client
}
