//! Operator commands as values, and the one table that maps each to its seed-001 route: the
//! server registers its operator routes from `ROUTES`, an attached console sends through it, and
//! the engine runs every command through `Engine::execute` (same gates, refusals and answers).
use super::Engine;
use super::bridge::Resolution;
use super::error::DeskResult;
use super::exits::{ExitAllOrder, ExitSkip, TakeProfitRequest, TpArm};
use super::model::Env;
use super::orders::Order;
use super::state::{Intent, PointsTp, Preorder, Protect, SignalTp};
use super::view::StateView;
use super::{EntryOutcome, EntryRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum DeskCommand {
    Entry(EntryRequest),
    Exit {
        asset: String,
        #[serde(default)]
        force: bool,
    },
    /// `force` defaults to true (the seed's example): exit-all is the emergency flatten.
    ExitAll {
        #[serde(default = "wire::yes")]
        force: bool,
    },
    ScaleIn {
        asset: String,
    },
    Protect {
        asset: String,
        enabled: bool,
        #[serde(default)]
        threshold: Option<f64>,
    },
    PointsTp {
        asset: String,
        enabled: bool,
        #[serde(default)]
        target: Option<f64>,
    },
    TakeProfit {
        asset: String,
        #[serde(default, with = "wire::tp_arm")]
        tp_arm: Option<TpArm>,
        #[serde(default)]
        tp_target: Option<u32>,
        #[serde(default)]
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
        #[serde(deserialize_with = "wire::env")]
        env: Env,
    },
    /// The operator settles an order the bridge left CLAIMED or WORKING (checked at the broker):
    /// cancel it, or mark it filled at a price. Needs `confirm: true`.
    ResolveOrder {
        order_id: String,
        #[serde(deserialize_with = "wire::resolution")]
        action: Resolution,
        #[serde(default)]
        fill_price: Option<f64>,
        #[serde(default)]
        confirm: bool,
    },
}

/// One operator route: `POST path` with the command's fields as its JSON body.
#[derive(Debug)]
pub struct CommandRoute {
    /// The command's `command` tag.
    pub tag: &'static str,
    pub path: &'static str,
    /// `false`: the route ignores its body (the command has no fields).
    pub takes_body: bool,
}

const fn r(tag: &'static str, path: &'static str) -> CommandRoute {
    CommandRoute {
        tag,
        path,
        takes_body: true,
    }
}

/// Every operator command's route (all `POST`).
pub const ROUTES: &[CommandRoute] = &[
    r("entry", "/api/orders"),
    r("exit", "/api/exit"),
    r("exit_all", "/api/exit-all"),
    r("scale_in", "/api/scale-in"),
    r("protect", "/api/protect"),
    r("points_tp", "/api/points-take-profit"),
    r("take_profit", "/api/take-profit"),
    r("high_next_bar", "/api/high-next-bar-exit"),
    r("main_flip", "/api/main-flip-exit"),
    r("four_pt", "/api/four-pt-invalidation"),
    r("auto_exit", "/api/auto-exit"),
    r("intent", "/api/intent"),
    r("cancel_intent", "/api/intent/cancel"),
    r("cancel_preorder", "/api/preorder/cancel"),
    CommandRoute {
        tag: "consume_trade_slot",
        path: "/api/trade-limit/consume",
        takes_body: false,
    },
    r("set_env", "/api/env"),
    r("resolve_order", "/api/orders/resolve"),
];

impl CommandRoute {
    /// The command a request body on this route stands for; the error is the client's mistake
    /// in words (`missing field "asset"`, `"YOLO" is not one of SCALP, RUNNER`).
    pub fn parse(&self, body: &[u8]) -> Result<DeskCommand, String> {
        let mut fields = if self.takes_body && !body.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err("invalid request: the body must be a JSON object".into()),
                Err(e) => return Err(format!("request body is not valid JSON: {}", short(&e))),
            }
        } else {
            serde_json::Map::new()
        };
        // unknown fields are ignored, `command` too: the route says which command it is
        fields.insert("command".into(), Value::String(self.tag.into()));
        serde_json::from_value(Value::Object(fields))
            .map_err(|e| format!("invalid request: {}", short(&e)))
    }
}

/// A serde_json error without its " at line … column …" tail (a client's body has no lines worth
/// naming).
pub(crate) fn short(e: &serde_json::Error) -> String {
    let s = e.to_string();
    s.split(" at line ").next().unwrap_or(&s).to_string()
}

impl DeskCommand {
    /// Changes real exposure or the account: the console asks before sending it.
    pub fn is_destructive(&self) -> bool {
        match self {
            DeskCommand::Exit { .. }
            | DeskCommand::ExitAll { .. }
            | DeskCommand::ScaleIn { .. }
            | DeskCommand::ConsumeTradeSlot
            | DeskCommand::SetEnv { .. }
            | DeskCommand::ResolveOrder { .. } => true,
            DeskCommand::Entry(e) => e.entry_override,
            _ => false,
        }
    }

    /// A new position (or more of one): in LIVE the console asks before sending it.
    pub fn is_entry(&self) -> bool {
        matches!(self, DeskCommand::Entry(_) | DeskCommand::ScaleIn { .. })
    }

    /// The command's tag (`entry`, `exit_all`, …).
    pub fn tag(&self) -> &'static str {
        self.route().tag
    }

    /// Its route in `ROUTES`.
    pub fn route(&self) -> &'static CommandRoute {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        let tag = v["command"].as_str().unwrap_or_default();
        ROUTES
            .iter()
            .find(|r| r.tag == tag)
            .unwrap_or_else(|| unreachable!("every command has a route ({tag})"))
    }

    /// `(path, body)` of the request that runs this command on a server.
    pub fn request(&self) -> (&'static str, Value) {
        let route = self.route();
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("command");
        }
        (route.path, v)
    }
}

/// The success body of an operator route (without `ok`), typed. Each variant has its own keys,
/// so an attached console reads the answer back with the same type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CommandAnswer {
    Order {
        order: Order,
        /// `POST /api/orders` also answers the desk as it is after the entry.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<Box<StateView>>,
    },
    Preorder {
        preorder: Preorder,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<Box<StateView>>,
    },
    ExitAll {
        orders: Vec<ExitAllOrder>,
        skipped: Vec<ExitSkip>,
    },
    Protect {
        protect: Protect,
    },
    PointsTp {
        points_take_profit: PointsTp,
    },
    TakeProfit {
        take_profit: SignalTp,
    },
    AutoExit {
        asset: String,
        auto_exit: String,
    },
    Intent {
        intent: Intent,
    },
    TradeSlot {
        trade_count: u32,
        trade_limit: u32,
    },
    Env {
        env: Env,
    },
    Toggle {
        enabled: bool,
    },
    Done {},
}

impl CommandAnswer {
    /// Adds the desk state to an entry's answer.
    pub fn with_state(self, view: StateView) -> Self {
        match self {
            CommandAnswer::Order { order, .. } => CommandAnswer::Order {
                order,
                state: Some(Box::new(view)),
            },
            CommandAnswer::Preorder { preorder, .. } => CommandAnswer::Preorder {
                preorder,
                state: Some(Box::new(view)),
            },
            other => other,
        }
    }
}

impl Engine {
    /// Runs one operator command; the answer is the success body of its seed-001 route.
    #[tracing::instrument(level = "debug", skip(self), fields(command = cmd.tag()))]
    pub fn execute(&mut self, cmd: DeskCommand) -> DeskResult<CommandAnswer> {
        use CommandAnswer as A;
        Ok(match cmd {
            DeskCommand::Entry(req) => match self.place_entry(req)? {
                EntryOutcome::Order(order) => A::Order { order, state: None },
                EntryOutcome::Preorder(preorder) => A::Preorder {
                    preorder,
                    state: None,
                },
            },
            DeskCommand::Exit { asset, force } => A::Order {
                order: self.manual_exit(&asset, force)?,
                state: None,
            },
            DeskCommand::ExitAll { force } => {
                let out = self.exit_all(force)?;
                A::ExitAll {
                    orders: out.orders,
                    skipped: out.skipped,
                }
            }
            DeskCommand::ScaleIn { asset } => A::Order {
                order: self.scale_in(&asset)?,
                state: None,
            },
            DeskCommand::Protect {
                asset,
                enabled,
                threshold,
            } => A::Protect {
                protect: self.set_protect(&asset, enabled, threshold)?,
            },
            DeskCommand::PointsTp {
                asset,
                enabled,
                target,
            } => A::PointsTp {
                points_take_profit: self.set_points_tp(&asset, enabled, target)?,
            },
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
                A::TakeProfit {
                    take_profit: self.take_profit(&asset, req)?,
                }
            }
            DeskCommand::HighNextBar { asset } => A::Toggle {
                enabled: self.toggle_high_next_bar(&asset)?,
            },
            DeskCommand::MainFlip { asset } => A::Toggle {
                enabled: self.toggle_main_flip(&asset)?,
            },
            DeskCommand::FourPt { asset } => A::Toggle {
                enabled: self.toggle_four_pt(&asset)?,
            },
            DeskCommand::AutoExit { asset } => {
                let a = self.asset_index(&asset)?;
                A::AutoExit {
                    asset: self.assets[a].name.clone(),
                    auto_exit: "6pt".into(),
                }
            }
            DeskCommand::Intent { asset } => A::Intent {
                intent: self.set_intent(&asset)?,
            },
            DeskCommand::CancelIntent { asset } => {
                self.cancel_intent(&asset)?;
                A::Done {}
            }
            DeskCommand::CancelPreorder { asset } => {
                self.cancel_preorder(&asset)?;
                A::Done {}
            }
            DeskCommand::ConsumeTradeSlot => {
                let (trade_count, trade_limit) = self.consume_trade_slot()?;
                A::TradeSlot {
                    trade_count,
                    trade_limit,
                }
            }
            DeskCommand::SetEnv { env } => A::Env {
                env: self.set_env(env)?,
            },
            DeskCommand::ResolveOrder {
                order_id,
                action,
                fill_price,
                confirm,
            } => A::Order {
                order: self.resolve_order(&order_id, action, fill_price, confirm)?,
                state: None,
            },
        })
    }
}

/// The seed's wire forms of the command fields: lenient on input (any case, `LONG` for BUY,
/// `6` for 6pt), canonical on output.
pub mod wire {
    use super::super::entries::OrderType;
    use super::super::model::{EntrySizeMode, Env, Side, TradeMode};
    use serde::{Deserialize, Deserializer, de::Error};

    fn parsed<'de, D, T>(d: D, parse: fn(&str) -> Option<T>, expected: &str) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| D::Error::custom(format!("{s:?} is not one of {expected}")))
    }

    pub fn yes() -> bool {
        true
    }
    pub fn six() -> EntrySizeMode {
        EntrySizeMode::Six
    }
    pub fn trade_mode<'de, D: Deserializer<'de>>(d: D) -> Result<TradeMode, D::Error> {
        parsed(d, TradeMode::parse, "SCALP, RUNNER")
    }
    pub fn size_mode<'de, D: Deserializer<'de>>(d: D) -> Result<EntrySizeMode, D::Error> {
        parsed(d, EntrySizeMode::parse, "6pt, 9pt")
    }
    pub fn env<'de, D: Deserializer<'de>>(d: D) -> Result<Env, D::Error> {
        parsed(d, Env::parse, "DEMO, LIVE")
    }
    pub fn resolution<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<super::super::bridge::Resolution, D::Error> {
        parsed(d, super::super::bridge::Resolution::parse, "cancel, filled")
    }
    pub fn order_type<'de, D: Deserializer<'de>>(d: D) -> Result<OrderType, D::Error> {
        parsed(
            d,
            |s| match s.to_ascii_lowercase().as_str() {
                "market" => Some(OrderType::Market),
                "preorder" => Some(OrderType::Preorder),
                _ => None,
            },
            "market, preorder",
        )
    }
    /// An optional direction: null or "" is none.
    pub fn side<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Side>, D::Error> {
        Option::<String>::deserialize(d)?
            .filter(|s| !s.is_empty())
            .map(|s| {
                Side::parse(&s).ok_or_else(|| {
                    D::Error::custom(format!("direction {s:?} is not one of BUY, SELL"))
                })
            })
            .transpose()
    }

    /// `tp_arm`: `"toggle"`, `true` or `false`.
    pub mod tp_arm {
        use super::super::TpArm;
        use serde::{Deserialize, Deserializer, Serializer, de::Error};
        use serde_json::Value;

        pub fn serialize<S: Serializer>(v: &Option<TpArm>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                None => s.serialize_none(),
                Some(TpArm::Toggle) => s.serialize_str("toggle"),
                Some(TpArm::On) => s.serialize_bool(true),
                Some(TpArm::Off) => s.serialize_bool(false),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TpArm>, D::Error> {
            match Option::<Value>::deserialize(d)? {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(true)) => Ok(Some(TpArm::On)),
                Some(Value::Bool(false)) => Ok(Some(TpArm::Off)),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("toggle") => {
                    Ok(Some(TpArm::Toggle))
                }
                Some(other) => Err(D::Error::custom(format!(
                    "tp_arm must be \"toggle\", true or false (got {other})"
                ))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::Side;

    /// Every command goes out as its route's body and comes back the same command.
    #[test]
    fn each_command_round_trips_through_its_route() {
        let a = || "ES".to_string();
        let all = vec![
            DeskCommand::Entry(EntryRequest::market("ES", Some(Side::Sell))),
            DeskCommand::Exit {
                asset: a(),
                force: true,
            },
            DeskCommand::ExitAll { force: false },
            DeskCommand::ScaleIn { asset: a() },
            DeskCommand::Protect {
                asset: a(),
                enabled: true,
                threshold: Some(0.5),
            },
            DeskCommand::PointsTp {
                asset: a(),
                enabled: false,
                target: None,
            },
            DeskCommand::TakeProfit {
                asset: a(),
                tp_arm: Some(TpArm::Toggle),
                tp_target: Some(4),
                reset: true,
            },
            DeskCommand::HighNextBar { asset: a() },
            DeskCommand::MainFlip { asset: a() },
            DeskCommand::FourPt { asset: a() },
            DeskCommand::AutoExit { asset: a() },
            DeskCommand::Intent { asset: a() },
            DeskCommand::CancelIntent { asset: a() },
            DeskCommand::CancelPreorder { asset: a() },
            DeskCommand::ConsumeTradeSlot,
            DeskCommand::SetEnv { env: Env::Live },
            DeskCommand::ResolveOrder {
                order_id: "ord-1".into(),
                action: Resolution::Filled,
                fill_price: Some(5000.25),
                confirm: true,
            },
        ];
        assert_eq!(all.len(), ROUTES.len(), "one command per route");
        for cmd in all {
            let (path, body) = cmd.request();
            let route = ROUTES.iter().find(|r| r.path == path).unwrap();
            let back = route.parse(body.to_string().as_bytes()).unwrap();
            assert_eq!(back, cmd, "{path} {body}");
        }
    }

    #[test]
    fn a_route_refuses_what_its_command_cannot_be() {
        let entry = &ROUTES[0];
        // unknown fields are ignored, as the original desk ignores them; `command` too
        assert_eq!(
            entry
                .parse(br#"{"asset":"ES","trade_mode":"scalp","sidee":"BUY","command":"exit"}"#)
                .unwrap(),
            DeskCommand::Entry(EntryRequest::market("ES", None))
        );
        // the trade mode is required (SPEC §2 Entry gates: "`trade_mode` SCALP|RUNNER is required")
        assert!(
            entry
                .parse(br#"{"asset":"ES"}"#)
                .unwrap_err()
                .contains("missing field `trade_mode`")
        );
        assert!(entry.parse(b"[1]").unwrap_err().contains("JSON object"));
        assert!(
            entry
                .parse(br#"{"trade_mode":"SCALP"}"#)
                .unwrap_err()
                .contains("missing field `asset`")
        );
        let env = ROUTES.iter().find(|r| r.tag == "set_env").unwrap();
        assert!(
            env.parse(br#"{"env":"PAPER"}"#)
                .unwrap_err()
                .contains("DEMO, LIVE")
        );
    }
}
