//! UI state and its update: a key, looked up in the current tab's key map (or taken as text in
//! the input mode), becomes at most one engine command (`Effect::Send`). Drawing reads this state
//! only; nothing here awaits or locks.
use super::keys::{Action, Scope, action_for};
use super::theme::Theme;
use crate::engine::Resolution;
use crate::engine::command::DeskCommand;
use crate::engine::model::{EntrySizeMode, Env, Side, TradeMode};
use crate::engine::orders::{Order, OrderStatus};
use crate::engine::runs::Lifecycle;
use crate::engine::store::DeskEvent;
use crate::engine::view::{AssetView, StateView};
use crate::engine::{BrickHistory, EntryRequest, OrderType, TpArm};
use crossterm::event::{KeyCode, KeyEvent};

/// What the console shows, fetched from the engine (local) or the server (attached).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: StateView,
    pub bricks: BrickHistory,
    pub events: Vec<DeskEvent>,
    /// Parity runs, newest first (fetched while the Runs tab is open).
    pub runs: Vec<crate::engine::runs::RunSummary>,
    /// The selected run in full.
    pub run: Option<crate::engine::runs::RunStatus>,
}

/// What to fetch about runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunsWanted {
    pub list: bool,
    pub detail: Option<String>,
}

/// A parity-run command from the Runs tab.
#[derive(Debug, Clone, PartialEq)]
pub enum RunCommand {
    /// Play a run's request again as a live run.
    Live(Box<crate::engine::runs::RunRequest>),
    Stop(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    Desk,
    Runs,
    Backtests,
    Research,
    Chat,
    Log,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Desk,
        Tab::Runs,
        Tab::Backtests,
        Tab::Research,
        Tab::Chat,
        Tab::Log,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Desk => "Desk",
            Tab::Runs => "Runs",
            Tab::Backtests => "Backtests",
            Tab::Research => "Research",
            Tab::Chat => "Chat",
            Tab::Log => "Log",
        }
    }
}

/// One pane full-screen, for tmux dashboards (`--view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Desk,
    Renko,
    Positions,
    Orders,
    Log,
}

impl View {
    pub fn parse(s: &str) -> Option<View> {
        match s {
            "desk" => Some(View::Desk),
            "renko" => Some(View::Renko),
            "positions" => Some(View::Positions),
            "orders" => Some(View::Orders),
            "log" => Some(View::Log),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Ok,
    Refused,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    PointsTarget,
    SignalTarget,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    /// A destructive command waits for `y`.
    Confirm {
        cmd: DeskCommand,
        prompt: String,
    },
    /// Going LIVE: the operator types `LIVE`.
    TypeLive {
        typed: String,
    },
    Input {
        kind: InputKind,
        buffer: String,
    },
    /// A CLAIMED or WORKING order the bridge never finished: `c` cancels it, `f`/Enter marks it
    /// filled at `price` (editable; the last price to start with). Each then asks `y`/`n`.
    Resolve {
        order_id: String,
        /// `ENTRY BUY ES x5, CLAIMED, stale`.
        summary: String,
        price: String,
    },
    Help,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    None,
    Send(DeskCommand),
    Run(RunCommand),
    Quit,
}

pub struct App {
    pub snapshot: Option<Snapshot>,
    pub asset: usize,
    pub tab: Tab,
    pub view: Option<View>,
    pub status: Option<Status>,
    pub modal: Option<Modal>,
    pub trade_mode: TradeMode,
    pub size_mode: EntrySizeMode,
    pub override_next: bool,
    pub theme: Theme,
    /// Where the console gets its data (`local · 127.0.0.1:8000` or the attached URL).
    pub link_label: String,
    pub link_ok: bool,
    /// Ollama reachability, when known.
    pub ollama: Option<bool>,
    /// Where to probe Ollama (`/api/version`), if anywhere.
    pub ollama_url: Option<String>,
    /// Runs tab: selected run (index in the list), selected series, following the newest live run.
    pub run_index: usize,
    pub series_index: usize,
    pub follow: bool,
    /// In LIVE, entry keys send at once (config `one_click`); otherwise they ask `y`/`n`.
    pub one_click: bool,
    /// Chat: the message being typed, and whether the text-input mode has every key.
    pub chat_input: ratatui_textarea::TextArea<'static>,
    pub typing: bool,
    /// Chat: what was typed so far this session, oldest first.
    pub chat_lines: Vec<String>,
}

impl App {
    pub fn new(theme: Theme, link_label: String) -> App {
        App {
            snapshot: None,
            asset: 0,
            tab: Tab::Desk,
            view: None,
            status: None,
            modal: None,
            trade_mode: TradeMode::Scalp,
            size_mode: EntrySizeMode::Six,
            override_next: false,
            theme,
            link_label,
            link_ok: true,
            ollama: None,
            ollama_url: None,
            run_index: 0,
            series_index: 0,
            follow: false,
            one_click: false,
            chat_input: ratatui_textarea::TextArea::default(),
            typing: false,
            chat_lines: Vec::new(),
        }
    }

    pub fn state(&self) -> Option<&StateView> {
        self.snapshot.as_ref().map(|s| &s.state)
    }

    pub fn current(&self) -> Option<&AssetView> {
        self.state().and_then(|s| s.assets.get(self.asset))
    }

    /// The selected asset's name, for fetching its brick history.
    pub fn asset_name(&self) -> Option<String> {
        self.current().map(|a| a.asset.clone())
    }

    pub fn set_status(&mut self, tone: Tone, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            tone,
        });
    }

    /// What the next fetch should bring about runs.
    pub fn runs_wanted(&self) -> RunsWanted {
        let list = self.tab == Tab::Runs;
        let detail = if list {
            self.selected_run().map(|r| r.run_id.clone())
        } else {
            None
        };
        RunsWanted { list, detail }
    }

    pub fn selected_run(&self) -> Option<&crate::engine::runs::RunSummary> {
        self.snapshot
            .as_ref()
            .and_then(|s| s.runs.get(self.run_index))
    }

    pub fn set_snapshot(&mut self, snap: Snapshot) {
        if self.asset >= snap.state.assets.len() {
            self.asset = 0;
        }
        if self.follow
            && let Some(i) = snap
                .runs
                .iter()
                .position(|r| r.lifecycle == Lifecycle::Live)
        {
            self.run_index = i;
        }
        if self.run_index >= snap.runs.len() {
            self.run_index = snap.runs.len().saturating_sub(1);
        }
        self.snapshot = Some(snap);
        self.link_ok = true;
    }

    /// The result of a command the console sent: success summary or the engine's refusal, verbatim.
    pub fn command_done(&mut self, result: Result<String, String>) {
        match result {
            Ok(s) => self.set_status(Tone::Ok, s),
            Err(e) => self.set_status(Tone::Refused, e),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Effect {
        if let Some(modal) = self.modal.take() {
            return self.on_modal_key(modal, key);
        }
        if self.typing {
            return self.on_text_key(key);
        }
        match action_for(&key, self.scope()) {
            Some(a) => self.on_action(a),
            None => Effect::None,
        }
    }

    /// The key map in force: the tab's, or the Desk's for a single-pane `--view`.
    pub fn scope(&self) -> Scope {
        match self.view {
            Some(_) => Scope::Tab(Tab::Desk),
            None => Scope::Tab(self.tab),
        }
    }

    /// Text-input mode: every key is text (Ctrl-C still quits); Esc leaves, Enter sends.
    fn on_text_key(&mut self, key: KeyEvent) -> Effect {
        use crossterm::event::KeyModifiers;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Effect::Quit;
        }
        match key.code {
            KeyCode::Esc => {
                self.typing = false;
                self.set_status(Tone::Info, "keys are commands again");
            }
            KeyCode::Enter => {
                let text = self.chat_input.lines().join("\n");
                if !text.trim().is_empty() {
                    self.chat_lines.push(text);
                    self.chat_input = ratatui_textarea::TextArea::default();
                    self.set_status(
                        Tone::Info,
                        "kept in this session: no chat service is connected yet",
                    );
                }
            }
            _ => {
                self.chat_input.input(key);
            }
        }
        Effect::None
    }

    fn on_modal_key(&mut self, modal: Modal, key: KeyEvent) -> Effect {
        match modal {
            Modal::Help => Effect::None, // any key closes it
            Modal::Confirm { cmd, prompt } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => Effect::Send(cmd),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.set_status(Tone::Info, "cancelled");
                    Effect::None
                }
                _ => {
                    self.modal = Some(Modal::Confirm { cmd, prompt });
                    Effect::None
                }
            },
            Modal::TypeLive { mut typed } => match key.code {
                KeyCode::Esc => {
                    self.set_status(Tone::Info, "stayed in DEMO");
                    Effect::None
                }
                KeyCode::Enter if typed == "LIVE" => {
                    Effect::Send(DeskCommand::SetEnv { env: Env::Live })
                }
                KeyCode::Enter => {
                    self.set_status(
                        Tone::Refused,
                        "type LIVE (capitals) and Enter to go live; Esc stays in DEMO",
                    );
                    self.modal = Some(Modal::TypeLive {
                        typed: String::new(),
                    });
                    Effect::None
                }
                KeyCode::Backspace => {
                    typed.pop();
                    self.modal = Some(Modal::TypeLive { typed });
                    Effect::None
                }
                KeyCode::Char(c) if typed.len() < 8 => {
                    typed.push(c);
                    self.modal = Some(Modal::TypeLive { typed });
                    Effect::None
                }
                _ => {
                    self.modal = Some(Modal::TypeLive { typed });
                    Effect::None
                }
            },
            Modal::Resolve {
                order_id,
                summary,
                price,
            } => self.on_resolve_key(order_id, summary, price, key),
            Modal::Input { kind, mut buffer } => match key.code {
                KeyCode::Esc => Effect::None,
                KeyCode::Enter => self.submit_input(kind, &buffer),
                KeyCode::Backspace => {
                    buffer.pop();
                    self.modal = Some(Modal::Input { kind, buffer });
                    Effect::None
                }
                KeyCode::Char(c) if (c.is_ascii_digit() || c == '.') && buffer.len() < 8 => {
                    buffer.push(c);
                    self.modal = Some(Modal::Input { kind, buffer });
                    Effect::None
                }
                _ => {
                    self.modal = Some(Modal::Input { kind, buffer });
                    Effect::None
                }
            },
        }
    }

    fn on_resolve_key(
        &mut self,
        order_id: String,
        summary: String,
        mut price: String,
        key: KeyEvent,
    ) -> Effect {
        let cmd = |action, fill_price| DeskCommand::ResolveOrder {
            order_id: order_id.clone(),
            action,
            fill_price,
            confirm: true,
        };
        match key.code {
            KeyCode::Esc => {
                self.set_status(Tone::Info, "order left as it is");
                Effect::None
            }
            KeyCode::Char('c') | KeyCode::Char('C') => {
                let prompt = format!("mark {summary} as CANCELLED? Check the broker first.");
                self.confirm(cmd(Resolution::Cancel, None), prompt)
            }
            KeyCode::Char('f') | KeyCode::Char('F') | KeyCode::Enter => {
                match price.parse::<f64>() {
                    Ok(p) if p.is_finite() && p > 0.0 => {
                        let prompt =
                            format!("mark {summary} as FILLED @ {p}? The position follows.");
                        self.confirm(cmd(Resolution::Filled, Some(p)), prompt)
                    }
                    _ => {
                        self.set_status(Tone::Refused, format!("{price:?} is not a fill price"));
                        self.modal = Some(Modal::Resolve {
                            order_id,
                            summary,
                            price,
                        });
                        Effect::None
                    }
                }
            }
            KeyCode::Backspace => {
                price.pop();
                self.modal = Some(Modal::Resolve {
                    order_id,
                    summary,
                    price,
                });
                Effect::None
            }
            KeyCode::Char(c) if (c.is_ascii_digit() || c == '.') && price.len() < 12 => {
                price.push(c);
                self.modal = Some(Modal::Resolve {
                    order_id,
                    summary,
                    price,
                });
                Effect::None
            }
            _ => {
                self.modal = Some(Modal::Resolve {
                    order_id,
                    summary,
                    price,
                });
                Effect::None
            }
        }
    }

    /// The selected asset's order the bridge left unfinished (stale ones first), for `O`.
    fn stuck_order(&self, asset: &str) -> Option<Order> {
        let s = self.state()?;
        let stuck = s.orders.iter().filter(|o| {
            o.asset == asset && matches!(o.status, OrderStatus::Claimed | OrderStatus::Working)
        });
        stuck
            .clone()
            .find(|o| o.stale)
            .or_else(|| stuck.clone().next())
            .cloned()
    }

    fn submit_input(&mut self, kind: InputKind, buffer: &str) -> Effect {
        let Some(asset) = self.asset_name() else {
            return Effect::None;
        };
        match kind {
            InputKind::PointsTarget => match buffer.parse::<f64>() {
                Ok(t) => Effect::Send(DeskCommand::PointsTp {
                    asset,
                    enabled: true,
                    target: Some(t),
                }),
                Err(_) => {
                    self.set_status(
                        Tone::Refused,
                        format!("{buffer:?} is not a number of points"),
                    );
                    Effect::None
                }
            },
            InputKind::SignalTarget => match buffer.parse::<u32>() {
                Ok(n) => Effect::Send(DeskCommand::TakeProfit {
                    asset,
                    tp_arm: None,
                    tp_target: Some(n),
                    reset: false,
                }),
                Err(_) => {
                    self.set_status(
                        Tone::Refused,
                        format!("{buffer:?} is not a whole number of bricks"),
                    );
                    Effect::None
                }
            },
        }
    }

    fn confirm(&mut self, cmd: DeskCommand, prompt: String) -> Effect {
        self.modal = Some(Modal::Confirm { cmd, prompt });
        Effect::None
    }

    fn entry(&mut self, asset: String, direction: Option<Side>, order_type: OrderType) -> Effect {
        let entry_override = std::mem::take(&mut self.override_next);
        let cmd = DeskCommand::Entry(EntryRequest {
            asset: asset.clone(),
            trade_mode: self.trade_mode,
            order_type,
            direction,
            entry_size_mode: self.size_mode,
            entry_override,
        });
        let dir = direction.map(|d| d.as_str()).unwrap_or("structural");
        if cmd.is_destructive() {
            return self.confirm(
                cmd,
                format!("OVERRIDE tempo and zone gates: {dir} entry on {asset}?"),
            );
        }
        if self.is_live() && !self.one_click {
            let what = match order_type {
                OrderType::Market => "market entry",
                OrderType::Preorder => "preorder",
            };
            return self.confirm(cmd, format!("LIVE — real order: {dir} {what} on {asset}?"));
        }
        Effect::Send(cmd)
    }

    fn is_live(&self) -> bool {
        self.state().is_some_and(|s| s.env == Env::Live)
    }

    pub fn on_action(&mut self, action: Action) -> Effect {
        // actions that need no data
        match action {
            Action::Quit => return Effect::Quit,
            Action::ChatInput => {
                self.typing = true;
                self.set_status(
                    Tone::Info,
                    "typing: every key is text; Esc leaves, Enter sends",
                );
                return Effect::None;
            }
            Action::Help => {
                self.modal = Some(Modal::Help);
                return Effect::None;
            }
            Action::NextTab | Action::PrevTab => {
                let i = Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0);
                let n = Tab::ALL.len();
                let j = if action == Action::NextTab {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.tab = Tab::ALL[j];
                return Effect::None;
            }
            Action::ToggleTradeMode => {
                self.trade_mode = match self.trade_mode {
                    TradeMode::Scalp => TradeMode::Runner,
                    TradeMode::Runner => TradeMode::Scalp,
                };
                self.set_status(
                    Tone::Info,
                    format!("next entries: {}", self.trade_mode.as_str()),
                );
                return Effect::None;
            }
            Action::ToggleSizeMode => {
                self.size_mode = match self.size_mode {
                    EntrySizeMode::Six => EntrySizeMode::Nine,
                    EntrySizeMode::Nine => EntrySizeMode::Six,
                };
                self.set_status(
                    Tone::Info,
                    format!("next entries: {} protective stop", self.size_mode.as_str()),
                );
                return Effect::None;
            }
            Action::ToggleOverride => {
                self.override_next = !self.override_next;
                let msg = if self.override_next {
                    "next entry OVERRIDES the tempo and zone gates (you will be asked)"
                } else {
                    "override off"
                };
                self.set_status(Tone::Info, msg);
                return Effect::None;
            }
            Action::RunUp | Action::RunDown => {
                let n = self.snapshot.as_ref().map_or(0, |s| s.runs.len());
                if n > 0 {
                    self.run_index = if action == Action::RunUp {
                        self.run_index.saturating_sub(1)
                    } else {
                        (self.run_index + 1).min(n - 1)
                    };
                    self.series_index = 0;
                    self.follow = false;
                }
                return Effect::None;
            }
            Action::SeriesNext => {
                self.series_index += 1;
                return Effect::None;
            }
            Action::RunFollow => {
                self.follow = !self.follow;
                let msg = if self.follow {
                    "following the newest live run"
                } else {
                    "follow off"
                };
                self.set_status(Tone::Info, msg);
                return Effect::None;
            }
            Action::RunLive => {
                let req = self
                    .snapshot
                    .as_ref()
                    .and_then(|s| s.run.as_ref())
                    .and_then(|r| r.request.clone());
                return match req {
                    Some(req) => {
                        self.follow = true;
                        Effect::Run(RunCommand::Live(Box::new(req)))
                    }
                    None => {
                        self.set_status(
                            Tone::Refused,
                            "select a run in the Runs tab to play it live",
                        );
                        Effect::None
                    }
                };
            }
            Action::RunStop => {
                return match self.selected_run() {
                    Some(r) if r.lifecycle == Lifecycle::Live => {
                        Effect::Run(RunCommand::Stop(r.run_id.clone()))
                    }
                    Some(r) => {
                        let msg = format!("run {} is {}, not live", r.run_id, r.lifecycle);
                        self.set_status(Tone::Refused, msg);
                        Effect::None
                    }
                    None => Effect::None,
                };
            }
            Action::ExitAll => {
                return self.confirm(
                    DeskCommand::ExitAll { force: true },
                    "EXIT ALL positions now (forced)?".into(),
                );
            }
            Action::ConsumeTradeSlot => {
                return self.confirm(
                    DeskCommand::ConsumeTradeSlot,
                    "consume one daily trade slot?".into(),
                );
            }
            _ => {}
        }
        let Some(a) = self.current().cloned() else {
            self.set_status(Tone::Info, "waiting for the engine…");
            return Effect::None;
        };
        let asset = a.asset.clone();
        let ex = &a.exits.settings;
        match action {
            Action::NextAsset => {
                let n = self.state().map(|s| s.assets.len()).unwrap_or(1).max(1);
                self.asset = (self.asset + 1) % n;
                Effect::None
            }
            Action::Buy => self.entry(asset, Some(Side::Buy), OrderType::Market),
            Action::Sell => self.entry(asset, Some(Side::Sell), OrderType::Market),
            Action::EnterStructure => self.entry(asset, None, OrderType::Market),
            Action::Preorder => self.entry(asset, None, OrderType::Preorder),
            Action::CancelPreorder => Effect::Send(DeskCommand::CancelPreorder { asset }),
            Action::Intent => Effect::Send(DeskCommand::Intent { asset }),
            Action::CancelIntent => Effect::Send(DeskCommand::CancelIntent { asset }),
            Action::Exit => {
                let p = format!("exit {asset} position?");
                self.confirm(
                    DeskCommand::Exit {
                        asset,
                        force: false,
                    },
                    p,
                )
            }
            Action::ForceExit => {
                let p = format!("FORCE exit {asset} (ignores the exit lock)?");
                self.confirm(DeskCommand::Exit { asset, force: true }, p)
            }
            Action::ScaleIn => {
                let p = format!("scale in on {asset}?");
                self.confirm(DeskCommand::ScaleIn { asset }, p)
            }
            Action::ProtectMinusTwo | Action::ProtectHalf => {
                let t = if action == Action::ProtectHalf {
                    0.5
                } else {
                    -2.0
                };
                let on = ex.protect.enabled && ex.protect.threshold == t;
                Effect::Send(DeskCommand::Protect {
                    asset,
                    enabled: !on,
                    threshold: Some(t),
                })
            }
            Action::PointsTp => Effect::Send(DeskCommand::PointsTp {
                asset,
                enabled: !ex.points_tp.enabled,
                target: None,
            }),
            Action::PointsTpTarget => {
                self.modal = Some(Modal::Input {
                    kind: InputKind::PointsTarget,
                    buffer: String::new(),
                });
                Effect::None
            }
            Action::SignalTpArm => Effect::Send(DeskCommand::TakeProfit {
                asset,
                tp_arm: Some(TpArm::Toggle),
                tp_target: None,
                reset: false,
            }),
            Action::SignalTpTarget => {
                self.modal = Some(Modal::Input {
                    kind: InputKind::SignalTarget,
                    buffer: String::new(),
                });
                Effect::None
            }
            Action::SignalTpReset => Effect::Send(DeskCommand::TakeProfit {
                asset,
                tp_arm: None,
                tp_target: None,
                reset: true,
            }),
            Action::HighNextBar => Effect::Send(DeskCommand::HighNextBar { asset }),
            Action::MainFlip => Effect::Send(DeskCommand::MainFlip { asset }),
            Action::FourPt => Effect::Send(DeskCommand::FourPt { asset }),
            Action::ResolveOrder => match self.stuck_order(&asset) {
                Some(o) => {
                    let summary = format!(
                        "{}, {}{}",
                        o.label(),
                        o.status.as_str(),
                        if o.stale { ", stale" } else { "" }
                    );
                    let price = a.last_price.map(|p| p.to_string()).unwrap_or_default();
                    self.modal = Some(Modal::Resolve {
                        order_id: o.id,
                        summary,
                        price,
                    });
                    Effect::None
                }
                None => {
                    self.set_status(
                        Tone::Info,
                        format!("no CLAIMED or WORKING order on {asset} to resolve"),
                    );
                    Effect::None
                }
            },
            Action::SwitchEnv => match self.state().map(|s| s.env) {
                Some(Env::Live) => self.confirm(
                    DeskCommand::SetEnv { env: Env::Demo },
                    "switch back to DEMO?".into(),
                ),
                _ => {
                    self.modal = Some(Modal::TypeLive {
                        typed: String::new(),
                    });
                    Effect::None
                }
            },
            _ => Effect::None,
        }
    }
}
