//! The axum server: thin routes per surface (desk, bridge, webhooks, parity) that turn HTTP into
//! engine calls or service calls, each surface wrapped in its own error shape (`errors/`), with
//! request spans and `/metrics`. `router(state)` is built once, by the CLI and by the tests.
mod auth;
mod backtests;
mod bridge;
mod chat;
pub mod desk;
pub mod errors;
pub mod extract;
pub mod guard;
pub mod listen;
pub mod metrics;
mod parity;
mod research;
mod ui;
mod upload;
pub mod v1;
mod webhooks;
mod ws;

use crate::config::Secrets;
use crate::engine::handle::EngineHandle;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{Next, from_fn_with_state};
use errors::Surface;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

/// What every route can reach. Cloned for each request (axum's `State`), so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub engine: EngineHandle,
    pub secrets: Secrets,
    pub options: ServerOptions,
    pub runs: crate::services::runs::RunService,
    /// Backtests and the v1 run (seeds 002, 004).
    pub backtests: crate::services::backtest::BacktestService,
    /// Seed 003's research backend and its job queue.
    pub research: crate::services::research::ResearchService,
    /// The LLM chat (seed 000's `/chat` routes).
    pub chat: crate::services::chat::ChatService,
    /// Cancelled when the server stops: open WebSockets close so the graceful stop can finish.
    pub shutdown: CancellationToken,
    sessions: crate::services::sessions::Sessions,
    /// Open WebSockets per route, each capped at `options.max_websockets`.
    pub sockets: ws::Sockets,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What the non-desk surfaces need besides the engine.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where datasets are written.
    pub data_dir: std::path::PathBuf,
    /// Where Ollama answers (`OLLAMA_HOST`, default `http://127.0.0.1:11434`).
    pub ollama_url: String,
    /// `[chat]`: Ollama's deadlines, generations at once.
    pub chat: crate::services::chat::ChatConfig,
    pub polygon_key: Option<String>,
    /// Where polygon answers (tests point it at a local stand-in).
    pub polygon_base_url: String,
    /// Limits of the Python runner (timeout, memory, interpreter).
    pub python: crate::engine::runs::python::Limits,
    /// Which `Host`s and `Origin`s a request may carry (`[server]` in the config).
    pub browser: guard::BrowserPolicy,
    /// Largest body of the dataset and bridge-artifact routes, in bytes (default 256 MiB).
    pub upload_limit: usize,
    /// Which server-side files a dataset import may read.
    pub files: crate::engine::datasets::files::FilePolicy,
    /// How long a client may take, and how many connect at once.
    pub timeouts: listen::Timeouts,
    /// WebSockets at once on each WebSocket route.
    pub max_websockets: usize,
    /// A session ends after this long unused, or this long after login.
    pub session_idle: std::time::Duration,
    pub session_max: std::time::Duration,
    /// Time for sessions and the login throttle (tests move it).
    pub clock: crate::engine::clock::SharedClock,
    /// `[research]`: seed 003's auth, workers and query limits.
    pub research: crate::services::research::ResearchConfig,
}

impl Default for ServerOptions {
    /// Loopback only, no CORS origin, data in the temp dir: what tests and `AppState::new` use.
    fn default() -> Self {
        ServerOptions {
            data_dir: std::env::temp_dir().join("brickdesk-data"),
            ollama_url: crate::config::DEFAULT_OLLAMA.into(),
            chat: Default::default(),
            polygon_key: None,
            polygon_base_url: crate::services::providers::polygon::DEFAULT_BASE.into(),
            python: Default::default(),
            browser: guard::BrowserPolicy::new("127.0.0.1", &[], &[]),
            upload_limit: 256 << 20,
            files: crate::engine::datasets::files::FilePolicy::new(
                &[std::env::temp_dir().join("brickdesk-data")],
                512 << 20,
            ),
            timeouts: listen::Timeouts::default(),
            max_websockets: 64,
            session_idle: std::time::Duration::from_secs(12 * 3600),
            session_max: std::time::Duration::from_secs(7 * 86400),
            clock: Arc::new(crate::engine::clock::SystemClock),
            research: Default::default(),
        }
    }
}

impl ServerOptions {
    /// The Ollama client of these options.
    pub fn ollama(&self) -> crate::services::ollama::Ollama {
        crate::services::ollama::Ollama::new(&self.ollama_url, self.chat.timeouts())
    }

    /// The options a server started from `cfg` runs with.
    pub fn from_config(cfg: &crate::config::Config) -> Self {
        ServerOptions {
            data_dir: cfg.data_dir(),
            ollama_url: cfg.ollama_url(),
            chat: cfg.chat.clone(),
            polygon_key: cfg.polygon_api_key.clone(),
            polygon_base_url: std::env::var("POLYGON_BASE_URL")
                .unwrap_or_else(|_| crate::services::providers::polygon::DEFAULT_BASE.into()),
            python: cfg.runner_limits(),
            browser: guard::BrowserPolicy::new(
                &cfg.server.host,
                &cfg.server.allowed_hosts,
                &cfg.server.cors_origins,
            ),
            upload_limit: cfg.server.upload_limit_mb << 20,
            files: crate::engine::datasets::files::FilePolicy::new(
                &cfg.import_roots(),
                cfg.server.import_max_mb << 20,
            ),
            timeouts: listen::Timeouts {
                headers: std::time::Duration::from_secs(cfg.server.header_timeout_s),
                body_idle: std::time::Duration::from_secs(cfg.server.body_idle_timeout_s),
                body_total: std::time::Duration::from_secs(cfg.server.body_timeout_s),
                max_connections: cfg.server.max_connections,
            },
            max_websockets: cfg.server.max_websockets,
            session_idle: std::time::Duration::from_secs(cfg.server.session_idle_hours * 3600),
            session_max: std::time::Duration::from_secs(cfg.server.session_max_days * 86400),
            clock: Arc::new(crate::engine::clock::SystemClock),
            research: cfg.research.clone(),
        }
    }
}

impl AppState {
    pub fn new(engine: EngineHandle, secrets: Secrets) -> crate::engine::error::DeskResult<Self> {
        Self::with_options(engine, secrets, ServerOptions::default())
    }

    pub fn with_options(
        engine: EngineHandle,
        secrets: Secrets,
        options: ServerOptions,
    ) -> crate::engine::error::DeskResult<Self> {
        let research = crate::services::research::ResearchService::open(
            engine.clone(),
            options.research.clone(),
        )?;
        let services = crate::services::Services::start(
            &engine,
            options.python.clone(),
            options.ollama(),
            research,
            options.chat.concurrency,
        )?;
        Ok(Self::with_services(engine, secrets, options, services))
    }

    /// With services shared with someone else (the in-process console).
    pub fn with_services(
        engine: EngineHandle,
        secrets: Secrets,
        options: ServerOptions,
        services: crate::services::Services,
    ) -> Self {
        let crate::services::Services {
            runs,
            backtests,
            research,
            chat,
        } = services;
        let sessions = crate::services::sessions::Sessions::open(
            engine.reader().path().as_deref(),
            options.clock.clone(),
            chrono::Duration::from_std(options.session_idle).unwrap_or(chrono::Duration::hours(12)),
            chrono::Duration::from_std(options.session_max).unwrap_or(chrono::Duration::days(7)),
        );
        let sockets = ws::Sockets::new(options.max_websockets);
        AppState(Arc::new(Shared {
            runs,
            backtests,
            research,
            chat,
            engine,
            secrets,
            options,
            shutdown: CancellationToken::new(),
            sessions,
            sockets,
        }))
    }
}

/// Every request, in one pass: counted and timed by route, checked by the browser guard
/// (`guard.rs`), and a refusal axum made itself (not JSON) rewritten into the shape of the
/// surface its path belongs to.
async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> axum::response::Response {
    let surface = Surface::for_path(req.uri().path());
    let v1 = (surface == Surface::Envelope)
        .then(|| (req.method().clone(), req.uri().path().to_string()));
    let resp = metrics::track(req, |req| async move {
        match guard::refusal(&state.options.browser, &req) {
            Some(refused) => refused,
            None => next.run(req).await,
        }
    })
    .await;
    let mut resp = errors::shape_rejection(surface, resp).await;
    if let Some((method, path)) = v1 {
        v1::decorate(&method, &path, &mut resp);
    }
    resp
}

pub fn router(state: AppState) -> Router {
    metrics::handle();
    let operator = || from_fn_with_state(state.clone(), auth::require_operator);
    let desk = Router::new()
        .route("/api/login", axum::routing::post(auth::login))
        .route("/api/logout", axum::routing::post(auth::logout))
        .route("/api/auth/status", axum::routing::get(auth::status))
        .merge(desk::routes().route_layer(operator()))
        .route(
            "/metrics",
            axum::routing::get(metrics::render).route_layer(operator()),
        )
        .merge(bridge::routes())
        .merge(webhooks::routes());
    let parity = parity::routes(state.options.upload_limit)
        .merge(chat::routes())
        .route_layer(operator())
        .route("/health", axum::routing::get(parity::health));
    let research = research::routes(state.options.upload_limit)
        .route_layer(from_fn_with_state(state.clone(), research::require))
        .merge(research::public_routes());
    let runs = backtests::routes()
        .merge(v1::routes())
        .route_layer(operator())
        .merge(v1::public_routes())
        .route("/ui", axum::routing::get(ui::ui));
    let app = Router::new()
        .merge(desk)
        .merge(parity)
        .merge(runs)
        .merge(research)
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT));
    // with no CORS origin configured no CORS header is ever sent: no layer to pass
    let app = match cors(&state.options.browser) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.layer(from_fn_with_state(state.clone(), observe))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", |m| m.as_str());
                    tracing::info_span!("request", method = %req.method(), route, status = tracing::field::Empty)
                })
                .on_response(
                    |res: &axum::response::Response, latency: Duration, span: &tracing::Span| {
                        span.record("status", res.status().as_u16());
                        tracing::debug!(latency_us = latency.as_micros() as u64, "answered");
                    },
                ),
        )
        .with_state(state)
}

/// CORS for the configured origins only (seed 000's and seed 003's browser clients): credentials
/// (the session cookie) and the `Authorization` header allowed. With none configured, no CORS
/// header is ever sent. A preflight from any other origin never gets here: the guard refuses it.
fn cors(policy: &guard::BrowserPolicy) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if !policy.has_cors() {
        return None;
    }
    // the guard's own comparison, so the two never disagree on what an origin is
    let policy = policy.clone();
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().is_ok_and(|o| policy.is_cors_origin(o))
        }))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-stage1-token"),
        ])
        .max_age(Duration::from_secs(600));
    Some(layer)
}

/// Runs the engine's once-a-second housekeeping (stale flags, day roll) until the engine stops.
pub fn spawn_housekeeping(engine: EngineHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            if let Err(crate::engine::error::DeskError::ShuttingDown) = engine.tick().await {
                break;
            }
            metrics::handle().run_upkeep();
        }
    })
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    let runs = state.runs.clone();
    let backtests = state.backtests.clone();
    let research = state.research.clone();
    let limits = state.options.timeouts;
    let app = router(state);
    listen::run(listener, app, limits, async move {
        shutdown.await;
        // open WebSockets (consoles, run streams) and queued runs end now, or the graceful stop
        // waits for them
        token.cancel();
        runs.stopping();
        backtests.stopping();
        research.stopping();
    })
    .await
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called (not when
/// first polled), so call it before announcing the address: a signal sent right after the
/// announcement must not hit the default action and kill the process mid-write.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                    _ = int.recv() => tracing::info!("SIGINT: shutting down"),
                },
                _ => {
                    tracing::warn!("cannot install signal handlers; stop with SIGKILL");
                    std::future::pending::<()>().await
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C: shutting down");
    }
}
