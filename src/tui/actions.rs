//! What each key's action does on the Desk, Runs and Chat tabs: a setting changed in the UI, a
//! modal opened, or one engine command (`Effect::Send`) or run command (`Effect::Run`).
use super::app::{App, Effect, InputKind, Modal, RunCommand, Tab, Tone};
use super::keys::Action;
use crate::engine::command::DeskCommand;
use crate::engine::model::{BrickSize, EntrySizeMode, Env, Side, TradeMode};
use crate::engine::orders::{Order, OrderStatus};
use crate::engine::runs::Lifecycle;
use crate::engine::{EntryRequest, OrderType, TpArm};

impl App {
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
                format!("OVERRIDE the zone and 2.5pt gates: {dir} entry on {asset}?"),
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
                self.chat.typing = true;
                self.set_status(
                    Tone::Info,
                    "typing: Enter sends, Alt-Enter adds a line, Esc leaves (or cancels an answer)",
                );
                return Effect::None;
            }
            Action::ChatModel => return self.open_models(),
            Action::ChatPine => return self.chat_toggle("pine_code"),
            Action::ChatPython => return self.chat_toggle("python_code"),
            Action::ChatArtifacts => return self.chat_toggle("run_artifacts"),
            Action::ChatFix => {
                self.chat.fix = !self.chat.fix;
                let what = match (self.chat.fix, self.chat.run.is_some()) {
                    (true, true) => {
                        "next question asks for a fix: a patch to the run's Python code"
                    }
                    (true, false) => {
                        "a fix needs a run: ] picks one (until then questions ask for an analysis)"
                    }
                    (false, _) => "next question asks for an analysis",
                };
                self.set_status(Tone::Info, what);
                return Effect::None;
            }
            Action::ChatRunPrev => return self.chat_run(-1),
            Action::ChatRunNext => return self.chat_run(1),
            Action::ChatApply => return self.chat_apply(),
            Action::ChatReject => return self.chat_reject(),
            Action::ChatGrant => return self.chat_grant(),
            Action::ChatCancel => return self.cancel_chat(),
            Action::ChatScrollUp | Action::ChatScrollDown => {
                self.chat.scroll_by(action == Action::ChatScrollUp);
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
                    "next entry OVERRIDES the zone and 2.5pt gates; it still needs the tempo token (you will be asked)"
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
            Action::BacktestUp | Action::BacktestDown => {
                let n = self.snapshot.as_ref().map_or(0, |s| s.backtests.len());
                if n > 0 {
                    self.backtest_index = if action == Action::BacktestUp {
                        self.backtest_index.saturating_sub(1)
                    } else {
                        (self.backtest_index + 1).min(n - 1)
                    };
                    self.backtest_selected = self.selected_backtest().map(|b| b.id);
                }
                return Effect::None;
            }
            Action::JobUp | Action::JobDown => {
                let n = self
                    .snapshot
                    .as_ref()
                    .and_then(|s| s.research.as_ref())
                    .map_or(0, |r| r.jobs.len());
                if n > 0 {
                    self.job_index = if action == Action::JobUp {
                        self.job_index.saturating_sub(1)
                    } else {
                        (self.job_index + 1).min(n - 1)
                    };
                    self.job_selected = self.selected_job().map(|j| j.job_id.clone());
                }
                return Effect::None;
            }
            Action::JobCancel => {
                match self.selected_job() {
                    Some(j) if matches!(j.status.as_str(), "PENDING" | "RUNNING") => {
                        let what = super::panes::research::job_target(j);
                        self.modal = Some(Modal::ConfirmRun {
                            cmd: RunCommand::CancelJob(j.job_id.clone()),
                            prompt: format!(
                                "cancel the {} job {} ({what})? Its rows so far are dropped.",
                                j.status.to_lowercase(),
                                super::link::short(&j.job_id)
                            ),
                        });
                    }
                    Some(j) => {
                        let msg = format!("the job is {}: nothing to cancel", j.status);
                        self.set_status(Tone::Refused, msg);
                    }
                    None => self.set_status(Tone::Refused, "no job selected"),
                }
                return Effect::None;
            }
            Action::TradeNext | Action::TradePrev => {
                let n = self
                    .backtest
                    .as_ref()
                    .and_then(|b| b["trades"].as_array())
                    .map_or(0, Vec::len);
                if n > 0 {
                    self.trade_index = if action == Action::TradePrev {
                        self.trade_index.saturating_sub(1)
                    } else {
                        (self.trade_index + 1).min(n - 1)
                    };
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
            Action::ChartSmaller | Action::ChartLarger => {
                let (sizes, i) = (BrickSize::ALL, self.chart_size.index());
                let i = match action {
                    Action::ChartSmaller => i.saturating_sub(1),
                    _ => (i + 1).min(sizes.len() - 1),
                };
                self.chart_size = sizes[i];
                let msg = format!("chart: {} bricks", self.chart_size.label());
                self.set_status(Tone::Info, msg);
                Effect::None
            }
            Action::Buy => self.entry(asset, Some(Side::Buy), OrderType::Market),
            Action::Sell => self.entry(asset, Some(Side::Sell), OrderType::Market),
            Action::EnterStructure => self.entry(asset, None, OrderType::Market),
            // a preorder needs a direction: the structural one (in a FREE zone, or with no zone,
            // the engine answers that a direction is required)
            Action::Preorder => {
                let dir = self.current().and_then(|a| a.structural_direction);
                self.entry(asset, dir, OrderType::Preorder)
            }
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
}
