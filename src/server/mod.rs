//! The axum server: thin routes that translate HTTP into engine calls. `router(state)` is built
//! once and used by `main` and by the tests, which bind it to an ephemeral port.
mod auth;
mod bridge;
mod desk;
pub mod errors;
pub mod extract;
mod parity;
mod webhooks;
mod ws;

use crate::config::Secrets;
use crate::engine::handle::EngineHandle;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use errors::ApiError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub secrets: Arc<Secrets>,
    pub options: Arc<ServerOptions>,
    pub runs: crate::parity::RunService,
    sessions: Arc<auth::Sessions>,
}

/// What the non-desk surfaces need besides the engine.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where datasets are written.
    pub data_dir: std::path::PathBuf,
    pub ollama_url: Option<String>,
    pub polygon_key: Option<String>,
    /// Where polygon answers (tests point it at a local stand-in).
    pub polygon_base_url: String,
    /// Limits of the Python runner (timeout, memory, interpreter).
    pub python: crate::engine::runs::python::Limits,
}

impl AppState {
    pub fn new(engine: EngineHandle, secrets: Secrets) -> Self {
        Self::with_options(
            engine,
            secrets,
            ServerOptions {
                data_dir: std::env::temp_dir().join("brickdesk-data"),
                ollama_url: None,
                polygon_key: None,
                polygon_base_url: crate::providers::polygon::DEFAULT_BASE.into(),
                python: Default::default(),
            },
        )
    }

    pub fn with_options(engine: EngineHandle, secrets: Secrets, options: ServerOptions) -> Self {
        let runs = crate::parity::RunService::new(engine.clone(), options.python.clone());
        Self::with_runs(engine, secrets, options, runs)
    }

    /// With a run service shared with someone else (the in-process console).
    pub fn with_runs(
        engine: EngineHandle,
        secrets: Secrets,
        options: ServerOptions,
        runs: crate::parity::RunService,
    ) -> Self {
        Self {
            runs,
            engine,
            secrets: Arc::new(secrets),
            options: Arc::new(options),
            sessions: Arc::default(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let operator = desk::routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_operator,
    ));
    Router::new()
        .route("/api/login", axum::routing::post(auth::login))
        .route("/api/logout", axum::routing::post(auth::logout))
        .route("/api/auth/status", axum::routing::get(auth::status))
        .merge(operator)
        .merge(bridge::routes())
        .merge(webhooks::routes())
        .merge(
            parity::routes().route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::require_operator,
            )),
        )
        .route("/health", axum::routing::get(parity::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!("no route {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Runs the engine's once-a-second housekeeping (stale flags, day roll) until the engine stops.
pub fn spawn_housekeeping(engine: EngineHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            if let Err(crate::engine::error::DeskError::ShuttingDown) =
                engine.call(|e| e.tick()).await
            {
                break;
            }
        }
    })
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
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
