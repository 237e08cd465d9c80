//! The LLM chat (seed 000's `/chat` routes and the console's Chat tab): questions about a parity
//! run asked of the local Ollama model with the run as context, a deterministic fallback when
//! the model cannot answer, and fixes that apply only by grant.
//!
//! `context` builds what the model sees, `patch` finds and applies a proposed fix, `store` keeps
//! the conversations. The service streams an answer to whoever asked (the HTTP route, the
//! console), records both sides of each exchange, and runs at most `[chat] concurrency`
//! generations at once.
pub mod context;
pub mod patch;
pub mod store;

use crate::engine::error::{DeskError, DeskResult};
use crate::engine::handle::EngineHandle;
use crate::engine::runs::RunStatus;
use crate::engine::runs::artifacts::AuditEntry;
use crate::services::ollama::{ModelInfo, Ollama, OllamaError};
use crate::services::runs::RunService;
use context::{Code, Targets};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use store::StoredMessage;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The longest message taken, and the most messages in one request.
const MAX_MESSAGE: usize = 64 << 10;
const MAX_MESSAGES: usize = 200;
/// Messages of a conversation the console loads.
pub const CONVERSATION: u32 = 200;

const ROLE: &str = "You are the analyst of a Pine-vs-Python parity desk. A TradingView Pine Script strategy was ported to Python (pandas; `run_strategy(frame) -> frame`), and both were run on the same bars and compared bar by bar. Explain divergences precisely: name the series, the bar and the cause in the code. Be brief; use Markdown, and fenced code blocks for code.";

const FIX: &str = "The operator asks for a fix. Propose the smallest change to the Python code that makes it match the Pine code, as ONE unified diff against the Python code in a ```diff block (--- a/strategy.py, +++ b/strategy.py, @@ hunks with a few lines of unchanged context). Say in one or two sentences what it changes. Change nothing else.";

/// Seed 000's `POST /chat` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    #[serde(default = "analysis")]
    pub intent: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub include_targets: Vec<String>,
    #[serde(default)]
    pub run_id: Option<String>,
}

fn analysis() -> String {
    "analysis".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// Seed 000's answer: the model's, or the fallback's (`status: "fallback"`, `error_class`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatAnswer {
    pub model: String,
    pub content: String,
    pub requires_approval: bool,
    pub proposed_patch: Option<String>,
    pub status: String,
    pub error_class: Option<String>,
    pub fallback_used: bool,
}

/// A fix applied: its audit entry and the replay run of the patched code.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub applied: bool,
    pub audit: AuditEntry,
    pub replay_run: RunStatus,
}

/// `[chat]`: which model the console picks first, Ollama's deadlines, generations at once.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// The console's model to start with; unset: the first chat-capable model Ollama lists.
    pub model: Option<String>,
    pub connect_timeout_s: u64,
    /// From the request to the first streamed line of the answer.
    pub first_chunk_timeout_s: u64,
    /// Between two lines of the answer.
    pub idle_timeout_s: u64,
    /// The whole answer.
    pub total_timeout_s: u64,
    /// Generations at once; the rest wait their turn.
    pub concurrency: usize,
}

impl Default for ChatConfig {
    /// The client's own deadlines (`ollama::Timeouts::default`), two generations at once.
    fn default() -> Self {
        let t = crate::services::ollama::Timeouts::default();
        ChatConfig {
            model: None,
            connect_timeout_s: t.connect.as_secs(),
            first_chunk_timeout_s: t.first_chunk.as_secs(),
            idle_timeout_s: t.idle.as_secs(),
            total_timeout_s: t.total.as_secs(),
            concurrency: 2,
        }
    }
}

impl ChatConfig {
    pub fn timeouts(&self) -> crate::services::ollama::Timeouts {
        use std::time::Duration;
        crate::services::ollama::Timeouts {
            connect: Duration::from_secs(self.connect_timeout_s),
            first_chunk: Duration::from_secs(self.first_chunk_timeout_s),
            idle: Duration::from_secs(self.idle_timeout_s),
            total: Duration::from_secs(self.total_timeout_s),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if [
            self.connect_timeout_s,
            self.first_chunk_timeout_s,
            self.idle_timeout_s,
            self.total_timeout_s,
        ]
        .contains(&0)
            || self.concurrency == 0
        {
            anyhow::bail!("chat: every *_timeout_s and concurrency must be positive");
        }
        if self.first_chunk_timeout_s > self.total_timeout_s {
            anyhow::bail!(
                "chat: first_chunk_timeout_s ({}) is longer than total_timeout_s ({})",
                self.first_chunk_timeout_s,
                self.total_timeout_s
            );
        }
        Ok(())
    }
}

struct Inner {
    engine: EngineHandle,
    runs: RunService,
    ollama: Ollama,
    db: Mutex<rusqlite::Connection>,
    slots: Arc<Semaphore>,
}

#[derive(Clone)]
pub struct ChatService(Arc<Inner>);

/// A request checked: its targets, and whether it asks for a fix.
struct Checked {
    targets: Targets,
    fix: bool,
}

/// Refuses a malformed request (before anything is asked or kept).
pub fn validate(req: &ChatRequest) -> DeskResult<()> {
    check(req).map(|_| ())
}

fn check(req: &ChatRequest) -> DeskResult<Checked> {
    let bad = |m: String| Err(DeskError::Invalid(m));
    if req.model.trim().is_empty() {
        return bad("model is required (GET /chat/models lists them)".into());
    }
    let fix = match req.intent.as_str() {
        "analysis" => false,
        "apply_fix" => true,
        other => {
            return bad(format!(
                "intent must be analysis or apply_fix (got {other:?})"
            ));
        }
    };
    if req.messages.is_empty() || req.messages.len() > MAX_MESSAGES {
        return bad(format!("messages must hold 1 to {MAX_MESSAGES} messages"));
    }
    for (i, m) in req.messages.iter().enumerate() {
        if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
            return bad(format!(
                "messages[{i}].role must be system, user or assistant (got {:?})",
                m.role
            ));
        }
        if m.content.len() > MAX_MESSAGE {
            return bad(format!(
                "messages[{i}].content is over {} KiB",
                MAX_MESSAGE >> 10
            ));
        }
    }
    let last = req.messages.last().expect("not empty");
    if last.role != "user" || last.content.trim().is_empty() {
        return bad("the last message must be the user's question, not empty".into());
    }
    if fix && req.run_id.is_none() {
        return bad(
            "apply_fix needs a run_id: the fix is a patch to that run's Python code".into(),
        );
    }
    let targets = Targets::parse(&req.include_targets).map_err(DeskError::Invalid)?;
    Ok(Checked { targets, fix })
}

impl ChatService {
    pub fn new(
        engine: EngineHandle,
        runs: RunService,
        ollama: Ollama,
        concurrency: usize,
    ) -> DeskResult<Self> {
        let db = engine.reader().path().ok_or_else(|| {
            DeskError::Storage("the chat needs a database file, not an in-memory store".into())
        })?;
        let conn = crate::engine::store::Store::side_connection(&db)?;
        Ok(ChatService(Arc::new(Inner {
            engine,
            runs,
            ollama,
            db: Mutex::new(conn),
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
        })))
    }

    pub fn ollama(&self) -> &Ollama {
        &self.0.ollama
    }

    async fn db<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> DeskResult<R> {
        let me = self.0.clone();
        tokio::task::spawn_blocking(move || f(&me.db.lock().expect("chat store")))
            .await
            .map_err(|_| DeskError::Internal)?
            .map_err(DeskError::from)
    }

    /// `GET /chat/health`: where Ollama is, whether it answers (and its version), and whether an
    /// `ollama` binary is on the server's PATH.
    pub async fn health(&self) -> Value {
        let binary = crate::engine::runs::python::sandbox::on_path("ollama");
        let (reachable, version, error) = match self.0.ollama.version().await {
            Ok(v) => (true, Some(v), None),
            Err(e) => (false, None, Some(e.to_string())),
        };
        let detail = match (&version, &error) {
            (Some(v), _) => format!("Ollama {v} answers at {}", self.0.ollama.base()),
            (None, Some(e)) => format!("{e}; chat answers with a structured fallback"),
            _ => String::new(),
        };
        json!({
            "base_url": self.0.ollama.base(),
            "binary_found": binary.is_some(),
            "binary_path": binary.map(|p| p.display().to_string()),
            "reachable": reachable,
            "version": version,
            "error": error,
            "detail": detail,
        })
    }

    /// `GET /chat/models`.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, OllamaError> {
        self.0.ollama.models().await
    }

    /// A run's conversation (or the one with no run), oldest first.
    pub async fn conversation(&self, run_id: Option<String>) -> DeskResult<Vec<StoredMessage>> {
        self.db(move |c| store::conversation(c, run_id.as_deref(), CONVERSATION))
            .await
    }

    /// The code a target shows, or why it is withheld: an artifact that forbids reading needs a
    /// read grant (a single-action one is spent by this question).
    async fn code(&self, run: &RunStatus, target: &'static str) -> Option<Code> {
        let req = run.request.as_ref()?;
        let (artifact, from_bridge) = match target {
            "python_code" => (Some(&req.python_artifact), None),
            _ => (req.pine_artifact.as_ref(), run.bridge_artifact_id.clone()),
        };
        let (source, allowed) = match (artifact, from_bridge) {
            (Some(a), _) if !a.source_code.trim().is_empty() => {
                (a.source_code.clone(), a.permissions.read_allowed)
            }
            (_, Some(bridge)) => {
                let a = match self
                    .0
                    .engine
                    .call(move |e| e.bridge_artifact(&bridge))
                    .await
                {
                    Ok(a) => a,
                    Err(e) => {
                        return Some(Err(format!("its bridge artifact could not be read: {e}")));
                    }
                };
                if a.source_code.trim().is_empty() {
                    return Some(Err(
                        "the run has no Pine code (its bridge artifact carries none)".into(),
                    ));
                }
                (a.source_code, true)
            }
            _ => return Some(Err("the run has no Pine code".into())),
        };
        let by = format!("chat:{}", run.run_id);
        let ok = self
            .0
            .engine
            .call(move |e| e.authorize(target, allowed, &by))
            .await;
        Some(ok.map(|_| source).map_err(|e| e.to_string()))
    }

    /// Answers `req`: the model's answer, streamed piece by piece to `on_delta`, or the fallback.
    /// Both the question and the answer are kept in the run's conversation. `cancel` gives up
    /// (the connection to Ollama is dropped at once); the answer then says `cancelled`.
    pub async fn chat(
        &self,
        req: ChatRequest,
        cancel: CancellationToken,
        mut on_delta: impl FnMut(&str) + Send,
    ) -> DeskResult<ChatAnswer> {
        let checked = check(&req)?;
        let run = match &req.run_id {
            Some(id) => Some(self.0.runs.get(id).await?),
            None => None,
        };
        let mut messages = vec![json!({ "role": "system", "content": ROLE })];
        let mut python_code = None;
        if let Some(run) = &run {
            let t = checked.targets;
            let pine = match t.pine_code {
                true => self.code(run, "pine_code").await,
                false => None,
            };
            // a fix is a patch to the Python code: the model has to see it
            let python = match t.python_code || checked.fix {
                true => self.code(run, "python_code").await,
                false => None,
            };
            python_code = python.clone();
            let ctx = context::message(run, pine, python, t.run_artifacts);
            messages.push(json!({ "role": "system", "content": ctx }));
        }
        if checked.fix {
            messages.push(json!({ "role": "system", "content": FIX }));
        }
        messages.extend(
            req.messages
                .iter()
                .map(|m| json!({ "role": m.role, "content": m.content })),
        );
        let question = StoredMessage {
            id: 0,
            run_id: req.run_id.clone(),
            role: "user".into(),
            content: req
                .messages
                .last()
                .map(|m| m.content.clone())
                .unwrap_or_default(),
            model: Some(req.model.clone()),
            intent: Some(req.intent.clone()),
            status: None,
            error_class: None,
            targets: checked.targets.names(),
            proposed_patch: None,
            patch_state: None,
            created_at: chrono::Utc::now().to_rfc3339(),
        };
        self.db(move |c| store::append(c, &question)).await?;
        let body = json!({ "model": req.model, "messages": messages });
        let slot = tokio::select! {
            s = self.0.slots.clone().acquire_owned() => s.ok(),
            _ = cancel.cancelled() => None,
        };
        let outcome = match slot {
            None => Err((OllamaError::Cancelled, String::new())),
            Some(_slot) => {
                let mut so_far = String::new();
                let r = self
                    .0
                    .ollama
                    .chat(body, &cancel, |d| {
                        so_far.push_str(d);
                        on_delta(d);
                    })
                    .await;
                r.map(|reply| reply.content).map_err(|e| (e, so_far))
            }
        };
        let answer = answer(&req, run.as_ref(), checked.fix, python_code, outcome);
        let record = StoredMessage {
            id: 0,
            run_id: req.run_id.clone(),
            role: "assistant".into(),
            content: answer.content.clone(),
            model: Some(answer.model.clone()),
            intent: Some(req.intent.clone()),
            status: Some(answer.status.clone()),
            error_class: answer.error_class.clone(),
            targets: checked.targets.names(),
            proposed_patch: answer.proposed_patch.clone(),
            patch_state: answer.proposed_patch.as_ref().map(|_| "proposed".into()),
            created_at: chrono::Utc::now().to_rfc3339(),
        };
        self.db(move |c| store::append(c, &record)).await?;
        Ok(answer)
    }

    /// Applies `patch` to `run_id`'s Python code, if a write grant allows it (a single-action
    /// one is spent): the audit history keeps the attempt either way, and the patched code runs
    /// at once in a fresh replay run. A patch that does not apply is refused before any grant
    /// is looked at.
    pub async fn apply_fix(
        &self,
        run_id: &str,
        patch: &str,
        audit_note: Option<String>,
    ) -> DeskResult<Applied> {
        let run = self.0.runs.get(run_id).await?;
        let Some(mut req) = run.request.clone() else {
            return Err(DeskError::Invalid(format!(
                "run {run_id} has no request to replay (it predates stored requests)"
            )));
        };
        let patched = patch::apply(&req.python_artifact.source_code, patch).map_err(|why| {
            DeskError::Invalid(format!(
                "the patch does not apply to run {run_id}'s Python code: {why}"
            ))
        })?;
        req.python_artifact.source_code = patched;
        // a patch the model proposed for this run and nobody has applied or rejected yet;
        // anything else is refused (and audited) before a grant is looked at
        let (id, p) = (run_id.to_string(), patch.to_string());
        let waiting = self.db(move |c| store::is_proposed(c, &id, &p)).await?;
        let refusal = (!waiting).then(|| {
            format!(
                "run {run_id} has no proposed patch like this waiting for approval (applied, rejected, or never proposed)"
            )
        });
        // what the replay needs is there before a grant is spent on it
        if refusal.is_none() {
            self.0.runs.check(&req).await?;
        }
        let (id, p) = (run_id.to_string(), patch.to_string());
        let refused = refusal.is_some();
        let mut entry = self
            .0
            .engine
            .call(move |e| e.authorize_write("python_code", &id, p, audit_note, refusal))
            .await?;
        match (entry.outcome.as_str(), refused) {
            ("applied", _) => {}
            (_, true) => return Err(DeskError::Conflict(entry.detail)),
            // the proposal still waits: a grant may come
            _ => return Err(DeskError::Forbidden(entry.detail)),
        }
        let (id, p) = (run_id.to_string(), patch.to_string());
        self.db(move |c| store::set_patch_state(c, &id, &p, "applied"))
            .await?;
        let mut meta = match req.python_artifact.adapter_metadata.take() {
            Value::Object(m) => m,
            _ => Default::default(),
        };
        meta.insert("patched_from".into(), json!(run_id));
        meta.insert("audit_id".into(), json!(entry.audit_id));
        req.python_artifact.adapter_metadata = Value::Object(meta);
        // the write grant covers reading what it wrote (the artifact's read_allowed stays)
        let replay = match self.0.runs.replay_granted(&req).await {
            Ok(r) => r,
            Err(e) => {
                entry.detail = format!("{}; the replay could not start: {e}", entry.detail);
                let e2 = entry.clone();
                self.0.engine.call(move |en| en.put_audit(&e2)).await?;
                return Err(e);
            }
        };
        entry.replay_run_id = Some(replay.run_id.clone());
        let (e2, line) = (
            entry.clone(),
            format!(
                "{} fix of {run_id} replayed as {}: {}",
                entry.audit_id,
                replay.run_id,
                context::analysis(Some(&replay))
            ),
        );
        self.0
            .engine
            .call(move |e| {
                e.put_audit(&e2)?;
                e.log_event("permission", line)
            })
            .await?;
        Ok(Applied {
            applied: true,
            audit: entry,
            replay_run: replay,
        })
    }

    /// The operator turns a proposed patch down; whether it was still proposed.
    pub async fn reject_fix(&self, run_id: &str, patch: &str) -> DeskResult<bool> {
        let (id, p) = (run_id.to_string(), patch.to_string());
        self.db(move |c| store::set_patch_state(c, &id, &p, "rejected"))
            .await
    }
}

/// The answer to `req` from what the model said (or why it said nothing usable).
fn answer(
    req: &ChatRequest,
    run: Option<&RunStatus>,
    fix: bool,
    python_code: Option<Code>,
    outcome: Result<String, (OllamaError, String)>,
) -> ChatAnswer {
    let model = req.model.clone();
    match outcome {
        Ok(mut content) => {
            let mut proposed = None;
            if fix {
                let found = patch::extract(&content);
                let note = match (found, python_code) {
                    (_, None) => Some(
                        "The run has no stored Python code, so no fix can be applied.".to_string(),
                    ),
                    (_, Some(Err(why))) => Some(format!(
                        "The Python code was not shown ({why}), so no fix can be applied."
                    )),
                    (None, Some(_)) => {
                        Some("The answer holds no unified diff: nothing to approve.".to_string())
                    }
                    (Some(d), Some(Ok(code))) => match patch::apply(&code, &d) {
                        Ok(_) => {
                            proposed = Some(d);
                            None
                        }
                        Err(why) => Some(format!(
                            "The proposed diff does not apply to the run's Python code ({why}): nothing to approve."
                        )),
                    },
                };
                if let Some(n) = note {
                    content.push_str(&format!("\n\n({n})"));
                }
            }
            ChatAnswer {
                model,
                content,
                requires_approval: proposed.is_some(),
                proposed_patch: proposed,
                status: "ok".into(),
                error_class: None,
                fallback_used: false,
            }
        }
        Err((OllamaError::Cancelled, partial)) => ChatAnswer {
            model,
            content: format!("{partial}\n\n(cancelled)").trim_start().to_string(),
            requires_approval: false,
            proposed_patch: None,
            status: "cancelled".into(),
            error_class: Some("cancelled".into()),
            fallback_used: false,
        },
        Err((e, _)) => {
            let why = match &e {
                OllamaError::ModelMissing(_) => format!(
                    "Selected model is not available locally. Model '{model}' is not available locally."
                ),
                OllamaError::Unreachable(m) => format!(
                    "Ollama is not reachable, so this is the built-in analysis. {}",
                    sentence(m)
                ),
                OllamaError::Timeout(m) => format!(
                    "The model did not answer in time, so this is the built-in analysis. {}",
                    sentence(m)
                ),
                OllamaError::BadResponse(_) | OllamaError::Cancelled => format!(
                    "The model's answer could not be used, so this is the built-in analysis. {}",
                    sentence(&e.to_string())
                ),
            };
            ChatAnswer {
                content: format!("{why} {}", context::analysis(run)),
                model,
                requires_approval: false,
                proposed_patch: None,
                status: "fallback".into(),
                error_class: Some(e.class().into()),
                fallback_used: true,
            }
        }
    }
}

/// `s` ending as a sentence does (Ollama's own words may end with a period, or not).
fn sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_string()
    } else {
        format!("{s}.")
    }
}
