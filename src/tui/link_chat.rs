//! The Chat tab's link: the in-process chat service, or an attached server's chat routes (the
//! answer read from `POST /chat/stream` as it is generated).
use super::chat::{ChatCommand, ChatEvent, OllamaHealth};
use super::link::{Link, Remote};
use crate::services::chat::ChatAnswer;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// The console's one-write grant: single action, 15 minutes.
fn write_grant() -> Value {
    json!({ "target": "python_code", "access": "write", "scope": "single_action", "approved": true,
            "ttl_minutes": 15, "audit_note": "granted from the console for one fix" })
}

/// A command's outcome for the status line; `reload`: the conversation changed.
fn done(result: Result<String, String>, reload: bool) -> Vec<ChatEvent> {
    vec![ChatEvent::Done { result, reload }]
}

fn granted_words(grant_id: &str) -> String {
    format!("{grant_id}: one write of python_code, for 15 minutes")
}

fn applied_words(v: &Value) -> String {
    let run = &v["replay_run"];
    let verdict = match (
        run["error"].as_str(),
        run["comparison"]["summary"]["aligned"].as_bool(),
    ) {
        (Some(e), _) => format!("the replay failed ({})", e.lines().last().unwrap_or(e)),
        (None, Some(true)) => "the mismatch went away".into(),
        (None, _) => format!(
            "{} series still differ",
            run["comparison"]["summary"]["mismatched_series"]
        ),
    };
    // the verdict first: a narrow status line cuts the end
    format!(
        "patch applied, {verdict}: replay {} ({}, {})",
        run["run_id"].as_str().unwrap_or("?"),
        v["audit"]["grant_id"].as_str().unwrap_or("?"),
        v["audit"]["audit_id"].as_str().unwrap_or("?"),
    )
}

impl Link {
    /// Ollama as the server's chat service sees it.
    pub async fn ollama_health(&self) -> Option<OllamaHealth> {
        let v = match self {
            Link::Local(_, s) => s.chat.health().await,
            Link::Remote(r) => r.get("/chat/health").await.ok()?,
        };
        serde_json::from_value(v).ok()
    }

    /// Runs a Chat tab command; what comes of it goes to `tx`. `cancel` gives up an `Ask`.
    pub async fn chat(
        &self,
        cmd: ChatCommand,
        cancel: CancellationToken,
        tx: UnboundedSender<ChatEvent>,
    ) {
        let ev = match self {
            Link::Local(engine, s) => local(engine, &s.chat, cmd, cancel, &tx).await,
            Link::Remote(r) => remote(r, cmd, cancel, &tx).await,
        };
        for e in ev {
            let _ = tx.send(e);
        }
    }
}

async fn local(
    engine: &crate::engine::handle::EngineHandle,
    chat: &crate::services::chat::ChatService,
    cmd: ChatCommand,
    cancel: CancellationToken,
    tx: &UnboundedSender<ChatEvent>,
) -> Vec<ChatEvent> {
    match cmd {
        ChatCommand::Ask(req) => {
            let delta = tx.clone();
            match chat
                .chat(*req, cancel, move |d| {
                    let _ = delta.send(ChatEvent::Delta(d.to_string()));
                })
                .await
            {
                Ok(a) => vec![ChatEvent::Answer(Box::new(a))],
                Err(e) => vec![ChatEvent::Failed(e.to_string())],
            }
        }
        ChatCommand::Cancel => Vec::new(),
        ChatCommand::Load(run) => match chat.conversation(run.clone()).await {
            Ok(m) => vec![ChatEvent::Conversation(run, m)],
            Err(e) => vec![ChatEvent::LoadFailed(run, e.to_string())],
        },
        ChatCommand::Models => {
            let models = chat.models().await.map_err(|e| e.to_string());
            let health = serde_json::from_value(chat.health().await).ok();
            vec![ChatEvent::Models(models), ChatEvent::Health(health)]
        }
        ChatCommand::Apply { run_id, patch } => {
            let out = chat
                .apply_fix(&run_id, &patch, Some("applied from the console".into()))
                .await
                .map(|a| applied_words(&json!(a)))
                .map_err(|e| e.to_string());
            done(out, true)
        }
        ChatCommand::Reject { run_id, patch } => {
            let out = match chat.reject_fix(&run_id, &patch).await {
                Ok(true) => Ok("patch rejected".into()),
                Ok(false) => Err("that patch no longer waits for approval".into()),
                Err(e) => Err(e.to_string()),
            };
            done(out, true)
        }
        ChatCommand::GrantWrite => {
            let req = serde_json::from_value(write_grant()).expect("a grant request");
            let out = engine
                .call(move |e| e.grant(req))
                .await
                .map(|g| granted_words(&g.grant_id))
                .map_err(|e| e.to_string());
            done(out, false)
        }
    }
}

async fn remote(
    r: &Remote,
    cmd: ChatCommand,
    cancel: CancellationToken,
    tx: &UnboundedSender<ChatEvent>,
) -> Vec<ChatEvent> {
    match cmd {
        ChatCommand::Ask(req) => {
            let model = req.model.clone();
            match stream(r, &req, &cancel, tx).await {
                Ok(Some(last)) => vec![last],
                // the server notices at its next line (within a second) and keeps the
                // cancelled answer: the reload that follows finds it
                Ok(None) => {
                    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
                    vec![ChatEvent::Answer(Box::new(ChatAnswer {
                        model,
                        content: "(cancelled)".into(),
                        requires_approval: false,
                        proposed_patch: None,
                        status: "cancelled".into(),
                        error_class: Some("cancelled".into()),
                        fallback_used: false,
                    }))]
                }
                Err(e) => vec![ChatEvent::Failed(e)],
            }
        }
        ChatCommand::Cancel => Vec::new(),
        ChatCommand::Load(run) => {
            let path = match &run {
                Some(id) => format!("/chat/conversations?run_id={id}"),
                None => "/chat/conversations".into(),
            };
            match r.get(&path).await {
                Ok(v) => match serde_json::from_value(v["messages"].clone()) {
                    Ok(m) => vec![ChatEvent::Conversation(run, m)],
                    Err(e) => vec![ChatEvent::LoadFailed(
                        run,
                        format!("unexpected {path}: {e}"),
                    )],
                },
                Err(e) => vec![ChatEvent::LoadFailed(run, format!("{e:#}"))],
            }
        }
        ChatCommand::Models => {
            let models = match r.get("/chat/models").await {
                Ok(v) => serde_json::from_value(v).map_err(|e| e.to_string()),
                Err(e) => Err(format!("{e:#}")),
            };
            let health = match r.get("/chat/health").await {
                Ok(v) => serde_json::from_value(v).ok(),
                Err(_) => None,
            };
            vec![ChatEvent::Models(models), ChatEvent::Health(health)]
        }
        ChatCommand::Apply { run_id, patch } => {
            let body = json!({ "run_id": run_id, "proposed_patch": patch, "audit_note": "applied from the console" });
            done(
                r.post_raw("/chat/apply", body)
                    .await
                    .map(|v| applied_words(&v)),
                true,
            )
        }
        ChatCommand::Reject { run_id, patch } => {
            let body = json!({ "run_id": run_id, "proposed_patch": patch });
            done(
                r.post_raw("/chat/reject", body)
                    .await
                    .map(|_| "patch rejected".into()),
                true,
            )
        }
        ChatCommand::GrantWrite => {
            let out = r
                .post_raw("/permissions/grant", write_grant())
                .await
                .map(|g| granted_words(g["grant_id"].as_str().unwrap_or("?")));
            done(out, false)
        }
    }
}

/// Reads `POST /chat/stream` line by line: `Some(the answer)`, `None` when cancelled first.
async fn stream(
    r: &Remote,
    req: &crate::services::chat::ChatRequest,
    cancel: &CancellationToken,
    tx: &UnboundedSender<ChatEvent>,
) -> Result<Option<ChatEvent>, String> {
    let send = r.stream_post("/chat/stream", json!(req));
    let resp = tokio::select! {
        r = send => r.map_err(|e| format!("server unreachable: {e}"))?,
        _ = cancel.cancelled() => return Ok(None),
    };
    if !resp.status().is_success() {
        let v: Value = resp.json().await.unwrap_or_default();
        return Err(v["detail"].as_str().unwrap_or("refused").to_string());
    }
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = tokio::select! {
            c = body.next() => c,
            _ = cancel.cancelled() => return Ok(None),
        };
        let Some(chunk) = chunk else {
            return Err("the server ended the answer early".into());
        };
        buf.extend_from_slice(&chunk.map_err(|e| format!("the answer broke off: {e}"))?);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let v: Value = serde_json::from_slice(&line)
                .map_err(|e| format!("bad line from the server: {e}"))?;
            match v["type"].as_str() {
                Some("delta") => {
                    let _ = tx.send(ChatEvent::Delta(v["content"].as_str().unwrap_or("").into()));
                }
                Some("answer") => {
                    let a: ChatAnswer = serde_json::from_value(v)
                        .map_err(|e| format!("bad answer from the server: {e}"))?;
                    return Ok(Some(ChatEvent::Answer(Box::new(a))));
                }
                Some("error") => return Err(v["detail"].as_str().unwrap_or("refused").to_string()),
                _ => {}
            }
        }
    }
}
