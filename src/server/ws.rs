//! `GET /api/ws` [auth]: the engine's events as a WebSocket stream of JSON `DeskEvent`s, for
//! attached consoles. A client that falls behind gets `{"kind":"lagged"}` and should refetch state.
use super::AppState;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

pub async fn events(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let rx = state.engine.subscribe();
    let stop = state.shutdown.clone();
    ws.on_upgrade(move |socket| stream(socket, rx, stop))
}

async fn stream(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<crate::engine::store::DeskEvent>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            ev = rx.recv() => {
                let text = match ev {
                    Ok(e) => serde_json::to_string(&e).expect("events serialize"),
                    Err(RecvError::Lagged(n)) => format!(r#"{{"kind":"lagged","missed":{n}}}"#),
                    Err(RecvError::Closed) => break,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
}
