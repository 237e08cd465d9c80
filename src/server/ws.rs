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
use tokio_util::sync::CancellationToken;

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
    let rx = state.engine.subscribe();
    let snaps = q.snapshots.then(|| state.engine.watch());
    let stop = state.shutdown.clone();
    ws.on_upgrade(move |socket| stream(socket, rx, snaps, stop))
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
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => continue,
            },
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
}
