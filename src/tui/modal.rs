//! The console's modals and their keys: confirmations (`y`/`n`), typing `LIVE`, a number, the
//! resolve prompt for a stuck order, and the help overlay (any key closes it).
use super::app::{App, Effect, Tone};
use crate::engine::Resolution;
use crate::engine::command::DeskCommand;
use crate::engine::model::Env;
use crossterm::event::{KeyCode, KeyEvent};

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
    /// A destructive run or research command (cancel a job) waits for `y`.
    ConfirmRun {
        cmd: super::app::RunCommand,
        prompt: String,
    },
    /// Applying a patch, or granting a write, waits for `y`.
    ConfirmChat {
        cmd: super::chat::ChatCommand,
        prompt: String,
    },
    /// The Chat tab's model picker.
    Models {
        index: usize,
    },
}

impl App {
    pub(super) fn on_modal_key(&mut self, modal: Modal, key: KeyEvent) -> Effect {
        match modal {
            Modal::Help => Effect::None, // any key closes it
            Modal::Models { index } => self.on_models_key(index, key),
            Modal::ConfirmChat { cmd, prompt } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    if matches!(cmd, super::chat::ChatCommand::Apply { .. }) {
                        self.chat.applying = true;
                        self.set_status(Tone::Info, "applying the patch and replaying it…");
                    }
                    Effect::Chat(cmd)
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.set_status(Tone::Info, "cancelled");
                    Effect::None
                }
                _ => {
                    self.modal = Some(Modal::ConfirmChat { cmd, prompt });
                    Effect::None
                }
            },
            Modal::ConfirmRun { cmd, prompt } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => Effect::Run(cmd),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.set_status(Tone::Info, "cancelled");
                    Effect::None
                }
                _ => {
                    self.modal = Some(Modal::ConfirmRun { cmd, prompt });
                    Effect::None
                }
            },
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

    pub(super) fn confirm(&mut self, cmd: DeskCommand, prompt: String) -> Effect {
        self.modal = Some(Modal::Confirm { cmd, prompt });
        Effect::None
    }
}
