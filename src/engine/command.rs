//! Operator commands as values: what a console key or an operator route asks of the engine. The
//! server, the local console and an attached console all run them through `Engine::execute`, so
//! they get the same gates, the same refusals and the same answer shape.
use super::Engine;
use super::error::DeskResult;
use super::exits::{TakeProfitRequest, TpArm};
use super::model::Env;
use super::{EntryOutcome, EntryRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum DeskCommand {
    Entry(EntryRequest),
    Exit {
        asset: String,
        force: bool,
    },
    ExitAll {
        force: bool,
    },
    ScaleIn {
        asset: String,
    },
    Protect {
        asset: String,
        enabled: bool,
        threshold: Option<f64>,
    },
    PointsTp {
        asset: String,
        enabled: bool,
        target: Option<f64>,
    },
    TakeProfit {
        asset: String,
        tp_arm: Option<TpArm>,
        tp_target: Option<u32>,
        reset: bool,
    },
    HighNextBar {
        asset: String,
    },
    MainFlip {
        asset: String,
    },
    FourPt {
        asset: String,
    },
    AutoExit {
        asset: String,
    },
    Intent {
        asset: String,
    },
    CancelIntent {
        asset: String,
    },
    CancelPreorder {
        asset: String,
    },
    ConsumeTradeSlot,
    SetEnv {
        env: Env,
    },
}

impl DeskCommand {
    /// Changes real exposure or the account: the console asks before sending it.
    pub fn is_destructive(&self) -> bool {
        match self {
            DeskCommand::Exit { .. }
            | DeskCommand::ExitAll { .. }
            | DeskCommand::ScaleIn { .. }
            | DeskCommand::ConsumeTradeSlot
            | DeskCommand::SetEnv { .. } => true,
            DeskCommand::Entry(e) => e.entry_override,
            _ => false,
        }
    }
}

fn to_value<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("engine values serialize")
}

impl Engine {
    /// Runs one operator command; the answer is the success body of its seed-001 route
    /// (without `ok`).
    pub fn execute(&mut self, cmd: DeskCommand) -> DeskResult<Map<String, Value>> {
        let v = match cmd {
            DeskCommand::Entry(req) => match self.place_entry(req)? {
                EntryOutcome::Order(o) => json!({ "order": o }),
                EntryOutcome::Preorder(p) => json!({ "preorder": p }),
            },
            DeskCommand::Exit { asset, force } => {
                json!({ "order": self.manual_exit(&asset, force)? })
            }
            DeskCommand::ExitAll { force } => {
                let out = self.exit_all(force)?;
                json!({ "orders": out.orders, "skipped": out.skipped })
            }
            DeskCommand::ScaleIn { asset } => json!({ "order": self.scale_in(&asset)? }),
            DeskCommand::Protect {
                asset,
                enabled,
                threshold,
            } => {
                json!({ "protect": self.set_protect(&asset, enabled, threshold)? })
            }
            DeskCommand::PointsTp {
                asset,
                enabled,
                target,
            } => {
                json!({ "points_take_profit": self.set_points_tp(&asset, enabled, target)? })
            }
            DeskCommand::TakeProfit {
                asset,
                tp_arm,
                tp_target,
                reset,
            } => {
                let req = TakeProfitRequest {
                    tp_arm,
                    tp_target,
                    reset,
                };
                json!({ "take_profit": self.take_profit(&asset, req)? })
            }
            DeskCommand::HighNextBar { asset } => {
                json!({ "enabled": self.toggle_high_next_bar(&asset)? })
            }
            DeskCommand::MainFlip { asset } => json!({ "enabled": self.toggle_main_flip(&asset)? }),
            DeskCommand::FourPt { asset } => json!({ "enabled": self.toggle_four_pt(&asset)? }),
            DeskCommand::AutoExit { asset } => {
                let a = self.asset_index(&asset)?;
                json!({ "asset": self.assets[a].name, "auto_exit": "6pt" })
            }
            DeskCommand::Intent { asset } => json!({ "intent": self.set_intent(&asset)? }),
            DeskCommand::CancelIntent { asset } => {
                self.cancel_intent(&asset)?;
                json!({})
            }
            DeskCommand::CancelPreorder { asset } => {
                self.cancel_preorder(&asset)?;
                json!({})
            }
            DeskCommand::ConsumeTradeSlot => {
                let (used, limit) = self.consume_trade_slot()?;
                json!({ "trade_count": used, "trade_limit": limit })
            }
            DeskCommand::SetEnv { env } => json!({ "env": to_value(self.set_env(env)?) }),
        };
        match v {
            Value::Object(m) => Ok(m),
            _ => unreachable!("every answer is an object"),
        }
    }
}
