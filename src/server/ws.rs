//! `GET /api/ws` [auth]: the engine's events as a WebSocket stream of JSON `DeskEvent`s, for
//! attached consoles. A client that falls behind gets `{"kind":"lagged"}` and should refetch state.
//! With `?snapshots=true` the desk state itself is pushed too (`{"kind":"state","state":…}`), read
//! from the published snapshot whenever it changes, at most ten times a second.
use super::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// The places for WebSockets on each route (`[server] max_websockets` each).
pub struct Sockets {
    pub desk: Arc<Semaphore>,
    pub stream: Arc<Semaphore>,
    pub runs: Arc<Semaphore>,
    /// Seed 002's `/ws` and seed 004's `/api/v1/ws/status`.
    pub trades: Arc<Semaphore>,
    pub status: Arc<Semaphore>,
}

impl Sockets {
    pub fn new(max: usize) -> Sockets {
        let route = || Arc::new(Semaphore::new(max));
        Sockets {
            desk: route(),
            stream: route(),
            runs: route(),
            trades: route(),
            status: route(),
        }
    }
}

/// A place on a WebSocket route, given back when its socket ends.
pub type Slot = OwnedSemaphorePermit;

/// A route at its cap of WebSockets: 503 in the route's surface shape.
pub struct Busy {
    path: &'static str,
    max: usize,
}

impl axum::response::IntoResponse for Busy {
    fn into_response(self) -> Response {
        super::errors::Surface::for_path(self.path).error(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} WebSocket clients are already connected to {}; try again later",
                self.max, self.path
            ),
        )
    }
}

/// A place on the route whose places are `places`, or its refusal.
pub fn slot(state: &AppState, places: &Arc<Semaphore>, path: &'static str) -> Result<Slot, Busy> {
    let max = state.options.max_websockets;
    places
        .clone()
        .try_acquire_owned()
        .map_err(|_| Busy { path, max })
}

/// Has the client gone? Resolves when it closes, errs or drops the connection; a client's own
/// messages (pings, text) are read and ignored. Polled beside every send, so a closed client
/// is noticed at once, not at the next event.
pub async fn closed(socket: &mut WebSocket) {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            Some(Ok(_)) => continue,
        }
    }
}

#[derive(Deserialize, Default)]
pub struct WsQuery {
    #[serde(default)]
    snapshots: bool,
}

#[derive(Serialize)]
struct StatePush<'a> {
    kind: &'static str,
    state: &'a crate::engine::view::StateView,
}

pub async fn events(
    State(state): State<AppState>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let slot = match slot(&state, &state.sockets.desk, "/api/ws") {
        Ok(s) => s,
        Err(busy) => return axum::response::IntoResponse::into_response(busy),
    };
    let rx = state.engine.subscribe();
    let snaps = q.snapshots.then(|| state.engine.watch());
    let stop = state.shutdown.clone();
    ws.on_upgrade(move |socket| async move {
        stream(socket, rx, snaps, stop).await;
        drop(slot);
    })
}

async fn changed(snaps: &mut Option<watch::Receiver<Arc<crate::engine::view::StateView>>>) -> bool {
    match snaps {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

async fn stream(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<crate::engine::store::DeskEvent>,
    mut snaps: Option<watch::Receiver<Arc<crate::engine::view::StateView>>>,
    stop: CancellationToken,
) {
    if let Some(s) = &mut snaps {
        s.mark_changed(); // the current state first
    }
    loop {
        let text = tokio::select! {
            _ = stop.cancelled() => break,
            ev = rx.recv() => match ev {
                Ok(e) => serde_json::to_string(&e).unwrap_or_default(),
                Err(RecvError::Lagged(n)) => format!(r#"{{"kind":"lagged","missed":{n}}}"#),
                Err(RecvError::Closed) => break,
            },
            ok = changed(&mut snaps) => {
                if !ok {
                    break;
                }
                // coalesce bursts: one push per 100 ms at most, of the newest state
                tokio::time::sleep(Duration::from_millis(100)).await;
                match snaps.as_mut().map(|s| s.borrow_and_update().clone()) {
                    Some(st) => serde_json::to_string(&StatePush { kind: "state", state: &st })
                        .unwrap_or_default(),
                    None => continue,
                }
            }
            _ = closed(&mut socket) => break,
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
}

/// Forwards `rx` to the socket as JSON text (after `first`, if any) until the client leaves or
/// the server stops; a client that falls behind gets `{"type":"lagged","missed":n}`.
pub async fn forward(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<serde_json::Value>,
    first: Option<serde_json::Value>,
    stop: CancellationToken,
) {
    if let Some(v) = first
        && socket
            .send(Message::Text(v.to_string().into()))
            .await
            .is_err()
    {
        return;
    }
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            _ = closed(&mut socket) => break,
            ev = rx.recv() => match ev {
                Ok(v) => v,
                Err(RecvError::Lagged(n)) => serde_json::json!({ "type": "lagged", "missed": n }),
                Err(RecvError::Closed) => break,
            },
        };
        if socket
            .send(Message::Text(msg.to_string().into()))
            .await
            .is_err()
        {
            break;
        }
    }
}
