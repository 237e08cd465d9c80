//! Seed 000's chat routes (`/chat/health`, `/chat/models`, `POST /chat`) and brickdesk's own
//! beside them: the answer streamed as NDJSON (`POST /chat/stream`), a run's conversation, a
//! proposed fix applied or rejected, and the audit history. Errors are `{"detail": …}`.
use super::AppState;
use super::errors::Detail;
use crate::engine::error::DeskError;
use crate::services::chat::ChatRequest;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/chat/health", get(health))
        .route("/chat/models", get(models))
        .route("/chat", post(chat))
        .route("/chat/stream", post(stream))
        .route("/chat/conversations", get(conversation))
        .route("/chat/apply", post(apply))
        .route("/chat/reject", post(reject))
        .route("/permissions/audit", get(audit))
}

use super::parity::{parse_body as parse, run_error as refused};

async fn health(State(s): State<AppState>) -> Json<Value> {
    Json(s.chat.health().await)
}

/// The models Ollama has; 502 with why when Ollama cannot list them.
async fn models(State(s): State<AppState>) -> Result<Response, Detail> {
    match s.chat.models().await {
        Ok(m) => Ok(Json(m).into_response()),
        Err(e @ crate::services::ollama::OllamaError::Timeout(_)) => {
            Err(Detail::new(StatusCode::GATEWAY_TIMEOUT, e.to_string()))
        }
        Err(e) => Err(Detail::new(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

/// The whole answer at once (the model's or the fallback's). A client that hangs up cancels
/// the generation; the exchange is still kept (its answer says `cancelled`).
async fn chat(State(s): State<AppState>, body: axum::body::Bytes) -> Result<Response, Detail> {
    let req: ChatRequest = parse(&body)?;
    // dropped with the handler (a client that went away): the generation is given up
    let cancel = CancellationToken::new();
    let _give_up = cancel.clone().drop_guard();
    let svc = s.chat.clone();
    let answer = tokio::spawn(async move { svc.chat(req, cancel, |_| {}).await })
        .await
        .map_err(|_| refused(DeskError::Internal))?
        .map_err(refused)?;
    Ok(Json(answer).into_response())
}

/// The answer as it is generated, one JSON object per line: `{"type": "delta", "content"}`
/// pieces, `{"type": "waiting", "seconds"}` each second nothing came, then
/// `{"type": "answer", …}` with seed 000's answer fields. A client that hangs up cancels the
/// generation (noticed at the next line written, within a second).
async fn stream(State(s): State<AppState>, body: axum::body::Bytes) -> Result<Response, Detail> {
    let req: ChatRequest = parse(&body)?;
    // refusals of the request itself come back as a plain 4xx, before any line
    crate::services::chat::validate(&req).map_err(refused)?;
    if let Some(id) = &req.run_id {
        s.runs.exists(id).await.map_err(refused)?;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let cancel = CancellationToken::new();
    {
        let (svc, cancel) = (s.chat.clone(), cancel.clone());
        tokio::spawn(async move {
            let out = svc
                .chat(req, cancel, |d| {
                    let _ = tx.send(json!({ "type": "delta", "content": d }));
                })
                .await;
            let last = match out {
                Ok(a) => {
                    let mut v = json!(a);
                    v["type"] = json!("answer");
                    v
                }
                Err(e) => json!({ "type": "error", "detail": e.to_string() }),
            };
            let _ = tx.send(last);
        });
    }
    // the pump: lines to the body, a `waiting` line each quiet second; the body dropped (the
    // client hung up) ends it, and its GiveUp cancels the generation
    let (out, body) = tokio::sync::mpsc::channel::<axum::body::Bytes>(16);
    tokio::spawn(async move {
        let _give_up = cancel.drop_guard();
        let started = tokio::time::Instant::now();
        let mut quiet = tokio::time::interval(Duration::from_secs(1));
        quiet.tick().await;
        loop {
            let line = tokio::select! {
                l = rx.recv() => match l { Some(l) => l, None => break },
                _ = quiet.tick() => json!({ "type": "waiting", "seconds": started.elapsed().as_secs() }),
            };
            let last = matches!(line["type"].as_str(), Some("answer" | "error"));
            if line["type"] == "delta" {
                quiet.reset();
            }
            let mut text = line.to_string();
            text.push('\n');
            if out.send(text.into()).await.is_err() || last {
                break;
            }
        }
    });
    let lines = futures_util::stream::unfold(body, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(lines),
    )
        .into_response())
}

#[derive(serde::Deserialize)]
struct ConversationQuery {
    run_id: Option<String>,
}

/// A run's conversation (`?run_id=`; none: the questions asked with no run), oldest first.
async fn conversation(
    State(s): State<AppState>,
    Query(q): Query<ConversationQuery>,
) -> Result<Json<Value>, Detail> {
    let run_id = q.run_id.filter(|r| !r.is_empty());
    if let Some(id) = &run_id {
        s.runs.exists(id).await.map_err(refused)?;
    }
    let messages = s.chat.conversation(run_id.clone()).await?;
    Ok(Json(json!({ "run_id": run_id, "messages": messages })))
}

#[derive(serde::Deserialize)]
struct FixBody {
    run_id: String,
    proposed_patch: String,
    #[serde(default)]
    audit_note: Option<String>,
}

/// Applies a proposed fix: 422 for a patch that does not apply, 409 for one no answer of the
/// run proposes (any more), 403 without a write grant (both audited); else the audit entry and
/// the replay run of the patched code. It runs to its end even if the client hangs up.
async fn apply(State(s): State<AppState>, body: axum::body::Bytes) -> Result<Response, Detail> {
    let b: FixBody = parse(&body)?;
    let svc = s.chat.clone();
    let done = tokio::spawn(async move {
        svc.apply_fix(&b.run_id, &b.proposed_patch, b.audit_note)
            .await
    })
    .await
    .map_err(|_| refused(DeskError::Internal))?
    .map_err(refused)?;
    Ok(Json(done).into_response())
}

async fn reject(State(s): State<AppState>, body: axum::body::Bytes) -> Result<Json<Value>, Detail> {
    let b: FixBody = parse(&body)?;
    s.runs.exists(&b.run_id).await.map_err(refused)?;
    let was = s.chat.reject_fix(&b.run_id, &b.proposed_patch).await?;
    if !was {
        return Err(Detail::new(
            StatusCode::CONFLICT,
            format!(
                "run {} has no proposed patch like this still waiting for approval",
                b.run_id
            ),
        ));
    }
    Ok(Json(json!({ "rejected": true, "run_id": b.run_id })))
}

/// Every audited write, oldest first.
async fn audit(
    State(s): State<AppState>,
) -> Result<Json<Vec<crate::engine::runs::artifacts::AuditEntry>>, Detail> {
    Ok(Json(
        s.engine
            .reader()
            .read(|_, st| st.docs(crate::engine::store::DocTable::Audit))
            .await?,
    ))
}
