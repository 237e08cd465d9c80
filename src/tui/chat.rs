//! The Chat tab's state and its keys: the model picked, the targets sent as context, the run whose
//! conversation is open, the answer streaming in, and the proposed patch waiting for approve or
//! reject. What the keys ask of the chat service goes out as `Effect::Chat`; what comes back
//! arrives as `ChatEvent`s.
use super::app::{App, Effect, Modal, Tone};
use crate::services::chat::context::Targets;
use crate::services::chat::store::StoredMessage;
use crate::services::chat::{ChatAnswer, ChatRequest, Message};
use crate::services::ollama::ModelInfo;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What the chat service says about Ollama (`/chat/health`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct OllamaHealth {
    pub base_url: String,
    pub reachable: bool,
    pub version: Option<String>,
    pub detail: String,
}

/// The model asked when the config names none and Ollama has listed none (Ollama's own
/// example model).
pub const DEFAULT_MODEL: &str = "llama3.2";

/// A question sent, its answer arriving.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub question: String,
    /// The model it was asked of.
    pub model: String,
    pub text: String,
    /// Seconds since it was sent (the 1 Hz tick counts).
    pub seconds: u64,
}

/// What the Chat tab asks of the chat service.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatCommand {
    Ask(Box<ChatRequest>),
    /// Give up the generation in flight.
    Cancel,
    /// A run's conversation (`None`: the one with no run).
    Load(Option<String>),
    /// The models and Ollama's health.
    Models,
    Apply {
        run_id: String,
        patch: String,
    },
    Reject {
        run_id: String,
        patch: String,
    },
    /// One write of the Python code (single action, 15 minutes).
    GrantWrite,
}

/// What comes back.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    Delta(String),
    Answer(Box<ChatAnswer>),
    /// The question was refused, or the link failed.
    Failed(String),
    Conversation(Option<String>, Vec<StoredMessage>),
    /// A conversation could not be loaded: why (shown in the pane; no retry until the run
    /// changes).
    LoadFailed(Option<String>, String),
    Models(Result<Vec<ModelInfo>, String>),
    Health(Option<OllamaHealth>),
    /// A command's outcome for the status line (apply, reject, grant); `reload` when the
    /// conversation changed.
    Done {
        result: Result<String, String>,
        reload: bool,
    },
}

pub struct ChatView {
    pub input: ratatui_textarea::TextArea<'static>,
    pub typing: bool,
    pub models: Vec<ModelInfo>,
    pub models_error: Option<String>,
    pub model: Option<String>,
    pub targets: Targets,
    /// Ask for a fix (`intent: apply_fix`) instead of an analysis.
    pub fix: bool,
    /// Whose conversation is open: a run, or none.
    pub run: Option<String>,
    pub messages: Vec<StoredMessage>,
    /// Counts changes of `messages`: the draw keeps their rendered lines until it moves.
    pub revision: u64,
    pub rendered: std::cell::RefCell<(u64, Vec<ratatui::text::Line<'static>>)>,
    /// The conversation `messages` holds (`None` until one is loaded).
    pub loaded: Option<Option<String>>,
    pub pending: Option<Pending>,
    /// Why the open conversation could not be loaded.
    pub load_error: Option<String>,
    /// A fix being applied (its replay runs): A waits for it.
    pub applying: bool,
    /// Transcript lines scrolled up from the bottom, and the most there are (set by the draw).
    pub scroll: u16,
    pub scroll_max: std::cell::Cell<u16>,
}

impl ChatView {
    /// `model`: `[chat] model`, else `DEFAULT_MODEL` until Ollama lists what it has (with
    /// Ollama down, a question still gets the built-in analysis).
    pub fn new(model: Option<String>) -> ChatView {
        ChatView {
            input: ratatui_textarea::TextArea::default(),
            typing: false,
            models: Vec::new(),
            models_error: None,
            model: Some(model.unwrap_or_else(|| DEFAULT_MODEL.into())),
            targets: Targets::ALL,
            fix: false,
            run: None,
            messages: Vec::new(),
            revision: 0,
            rendered: std::cell::RefCell::new((u64::MAX, Vec::new())),
            loaded: None,
            pending: None,
            load_error: None,
            applying: false,
            scroll: 0,
            scroll_max: std::cell::Cell::new(0),
        }
    }

    /// PgUp/PgDn: five lines up or down, within the transcript.
    pub fn scroll_by(&mut self, up: bool) {
        self.scroll = if up {
            self.scroll.saturating_add(5).min(self.scroll_max.get())
        } else {
            self.scroll.saturating_sub(5)
        };
    }

    /// The newest answer's patch, while it waits for approve or reject.
    pub fn proposed(&self) -> Option<&StoredMessage> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "assistant")
            .filter(|m| m.patch_state.as_deref() == Some("proposed") && m.proposed_patch.is_some())
    }

    /// The models that can chat, as Ollama lists them.
    pub fn chat_models(&self) -> Vec<&ModelInfo> {
        self.models.iter().filter(|m| m.chat_capable).collect()
    }
}

impl App {
    /// Chat keys while typing: every key is text; Enter sends, Alt-Enter (or Ctrl-J) is a new
    /// line, Esc cancels a generation in flight or else leaves typing.
    pub(super) fn on_text_key(&mut self, key: KeyEvent) -> Effect {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        if ctrl && key.code == KeyCode::Char('c') {
            return Effect::Quit;
        }
        match key.code {
            KeyCode::Esc if self.chat.pending.is_some() => self.cancel_chat(),
            KeyCode::Esc => {
                self.chat.typing = false;
                self.set_status(Tone::Info, "keys are commands again");
                Effect::None
            }
            KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
                self.chat.input.insert_newline();
                Effect::None
            }
            KeyCode::Char('j') if ctrl => {
                self.chat.input.insert_newline();
                Effect::None
            }
            KeyCode::PageUp | KeyCode::PageDown => {
                self.chat.scroll_by(key.code == KeyCode::PageUp);
                Effect::None
            }
            KeyCode::Enter => self.send_chat(),
            _ => {
                self.chat.input.input(key);
                Effect::None
            }
        }
    }

    pub(super) fn cancel_chat(&mut self) -> Effect {
        if self.chat.pending.is_none() {
            self.set_status(Tone::Info, "no answer is being generated");
            return Effect::None;
        }
        self.set_status(Tone::Info, "cancelling the generation…");
        Effect::Chat(ChatCommand::Cancel)
    }

    fn send_chat(&mut self) -> Effect {
        let text = self.chat.input.lines().join("\n");
        if text.trim().is_empty() {
            return Effect::None;
        }
        if self.chat.pending.is_some() {
            self.set_status(
                Tone::Refused,
                "an answer is still coming: Esc cancels it first",
            );
            return Effect::None;
        }
        let Some(model) = self.chat.model.clone() else {
            self.set_status(
                Tone::Refused,
                "no model picked: m picks one (Ollama lists none that can chat)",
            );
            return Effect::None;
        };
        // the conversation so far, then the question
        let mut messages: Vec<Message> = self
            .chat
            .messages
            .iter()
            .filter(|m| m.status.as_deref() != Some("fallback"))
            .map(|m| Message {
                role: m.role.clone(),
                content: m.content.clone(),
            })
            .collect();
        let keep = messages.len().saturating_sub(20);
        messages.drain(..keep);
        messages.push(Message {
            role: "user".into(),
            content: text.clone(),
        });
        let req = ChatRequest {
            model,
            intent: if self.chat.fix && self.chat.run.is_some() {
                "apply_fix".into()
            } else {
                "analysis".into()
            },
            messages,
            include_targets: self.chat.targets.names(),
            run_id: self.chat.run.clone(),
        };
        self.chat.input = ratatui_textarea::TextArea::default();
        self.chat.pending = Some(Pending {
            question: text,
            model: req.model.clone(),
            text: String::new(),
            seconds: 0,
        });
        self.chat.scroll = 0;
        self.set_status(Tone::Info, "asking the model… (Esc cancels)");
        Effect::Chat(ChatCommand::Ask(Box::new(req)))
    }

    /// What the chat service sent back.
    pub fn chat_event(&mut self, ev: ChatEvent) -> Option<ChatCommand> {
        match ev {
            ChatEvent::Delta(d) => {
                if let Some(p) = &mut self.chat.pending {
                    p.text.push_str(&d);
                }
                None
            }
            ChatEvent::Answer(a) => {
                self.chat.pending = None;
                let (tone, what) = match (a.status.as_str(), a.error_class.as_deref()) {
                    ("ok", _) if a.requires_approval => (
                        Tone::Ok,
                        "answered with a patch: A applies it (needs a write grant), X rejects"
                            .to_string(),
                    ),
                    ("ok", _) => (Tone::Ok, "answered".to_string()),
                    ("cancelled", _) => (Tone::Info, "generation cancelled".to_string()),
                    (_, Some(class)) => (
                        Tone::Refused,
                        format!("no answer from the model ({class}): built-in analysis shown"),
                    ),
                    _ => (Tone::Info, a.status.clone()),
                };
                self.set_status(tone, what);
                Some(ChatCommand::Load(self.chat.run.clone()))
            }
            ChatEvent::Failed(why) => {
                if let Some(p) = self.chat.pending.take() {
                    // the question comes back to the input, to fix and send again
                    self.chat.input = ratatui_textarea::TextArea::from(p.question.lines());
                }
                self.set_status(Tone::Refused, why);
                None
            }
            ChatEvent::Conversation(run, messages) => {
                if run == self.chat.run {
                    self.chat.messages = messages;
                    self.chat.revision += 1;
                    self.chat.loaded = Some(run);
                    self.chat.load_error = None;
                }
                None
            }
            ChatEvent::LoadFailed(run, why) => {
                if run == self.chat.run {
                    // tried: no retry until the run changes (or an answer reloads it)
                    self.chat.loaded = Some(run);
                    self.chat.load_error = Some(why);
                }
                None
            }
            ChatEvent::Models(Ok(models)) => {
                self.chat.models = models;
                self.chat.models_error = None;
                let names: Vec<String> = self
                    .chat
                    .chat_models()
                    .iter()
                    .map(|m| m.name.clone())
                    .collect();
                // a model Ollama does not list (gone, or a config typo) gives way to one it does
                if !self.chat.model.as_ref().is_some_and(|m| names.contains(m))
                    && let Some(first) = names.first()
                {
                    self.chat.model = Some(first.clone());
                }
                None
            }
            ChatEvent::Models(Err(why)) => {
                self.chat.models_error = Some(why);
                None
            }
            ChatEvent::Health(h) => {
                let was_up = self.ollama.as_ref().is_some_and(|h| h.reachable);
                let up = h.as_ref().is_some_and(|h| h.reachable);
                if !up {
                    self.chat.models_error = Some(match &h {
                        Some(h) => h.detail.clone(),
                        None => "the chat service did not say how Ollama is".into(),
                    });
                }
                self.ollama = h;
                // Ollama came up (at start too): what models does it have? Once: an Ollama with
                // none is asked again by m, not in a loop
                (up && !was_up).then_some(ChatCommand::Models)
            }
            ChatEvent::Done { result, reload } => {
                self.chat.applying = false;
                self.command_done(result);
                reload.then(|| ChatCommand::Load(self.chat.run.clone()))
            }
        }
    }

    /// The Chat tab's conversation follows the run chosen for it.
    pub fn chat_wants(&self) -> Option<ChatCommand> {
        (self.tab == super::app::Tab::Chat && self.chat.loaded.as_ref() != Some(&self.chat.run))
            .then(|| ChatCommand::Load(self.chat.run.clone()))
    }

    /// `[` / `]`: the previous or next run's conversation (before the newest run: none).
    pub(super) fn chat_run(&mut self, step: i64) -> Effect {
        if self.chat.pending.is_some() {
            self.set_status(
                Tone::Refused,
                "an answer is still coming for this run: wait, or Esc cancels it",
            );
            return Effect::None;
        }
        let runs: Vec<Option<String>> = std::iter::once(None)
            .chain(
                self.snapshot
                    .iter()
                    .flat_map(|s| s.runs.iter().map(|r| Some(r.run_id.clone()))),
            )
            .collect();
        let at = runs.iter().position(|r| *r == self.chat.run).unwrap_or(0) as i64;
        let next = (at + step).rem_euclid(runs.len() as i64) as usize;
        self.chat.run = runs[next].clone();
        self.chat.messages.clear();
        self.chat.revision += 1;
        self.chat.loaded = None;
        self.chat.load_error = None;
        self.chat.scroll = 0;
        let what = match &self.chat.run {
            Some(r) => format!("conversation of run {r}"),
            None => "conversation with no run (no context is sent)".into(),
        };
        self.set_status(Tone::Info, what);
        Effect::Chat(ChatCommand::Load(self.chat.run.clone()))
    }

    pub(super) fn chat_toggle(&mut self, target: &str) -> Effect {
        let t = &mut self.chat.targets;
        let on = match target {
            "pine_code" => {
                t.pine_code = !t.pine_code;
                t.pine_code
            }
            "python_code" => {
                t.python_code = !t.python_code;
                t.python_code
            }
            _ => {
                t.run_artifacts = !t.run_artifacts;
                t.run_artifacts
            }
        };
        let word = if on { "sent" } else { "not sent" };
        self.set_status(Tone::Info, format!("{target}: {word} as context"));
        Effect::None
    }

    pub(super) fn chat_apply(&mut self) -> Effect {
        if self.chat.applying {
            self.set_status(Tone::Info, "the patch is being applied and replayed…");
            return Effect::None;
        }
        let Some(m) = self.chat.proposed() else {
            self.set_status(Tone::Refused, "no proposed patch waits for approval");
            return Effect::None;
        };
        let (run_id, patch) = (
            m.run_id.clone().unwrap_or_default(),
            m.proposed_patch.clone().unwrap_or_default(),
        );
        self.modal = Some(Modal::ConfirmChat {
            prompt: format!(
                "Apply this patch to run {run_id}'s Python code and replay it? It needs a write grant on python_code (W grants one)."
            ),
            cmd: ChatCommand::Apply { run_id, patch },
        });
        Effect::None
    }

    pub(super) fn chat_reject(&mut self) -> Effect {
        let Some(m) = self.chat.proposed() else {
            self.set_status(Tone::Refused, "no proposed patch waits for approval");
            return Effect::None;
        };
        Effect::Chat(ChatCommand::Reject {
            run_id: m.run_id.clone().unwrap_or_default(),
            patch: m.proposed_patch.clone().unwrap_or_default(),
        })
    }

    pub(super) fn chat_grant(&mut self) -> Effect {
        self.modal = Some(Modal::ConfirmChat {
            prompt: "Grant ONE write of Python code (single action, expires in 15 minutes)?".into(),
            cmd: ChatCommand::GrantWrite,
        });
        Effect::None
    }

    /// The model picker: ↑/↓ move, Enter picks, Esc leaves.
    pub(super) fn on_models_key(&mut self, index: usize, key: KeyEvent) -> Effect {
        let n = self.chat.chat_models().len();
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.modal = Some(Modal::Models {
                    index: index.saturating_sub(1),
                })
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.modal = Some(Modal::Models {
                    index: (index + 1).min(n.saturating_sub(1)),
                })
            }
            KeyCode::Enter => {
                if let Some(m) = self.chat.chat_models().get(index) {
                    let name = m.name.clone();
                    self.set_status(Tone::Ok, format!("model: {name}"));
                    self.chat.model = Some(name);
                }
            }
            KeyCode::Esc | KeyCode::Char('q') => {}
            // the list may have changed under the picker
            _ => {
                self.modal = Some(Modal::Models {
                    index: index.min(n.saturating_sub(1)),
                })
            }
        }
        Effect::None
    }

    pub(super) fn open_models(&mut self) -> Effect {
        let index = self
            .chat
            .chat_models()
            .iter()
            .position(|m| Some(&m.name) == self.chat.model.as_ref())
            .unwrap_or(0);
        self.modal = Some(Modal::Models { index });
        Effect::Chat(ChatCommand::Models)
    }

    /// The 1 Hz tick: the waiting answer's clock moves.
    pub fn chat_tick(&mut self) -> bool {
        match &mut self.chat.pending {
            Some(p) => {
                p.seconds += 1;
                true
            }
            None => false,
        }
    }
}
