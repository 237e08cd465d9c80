//! Orders and their status machine: PENDING → CLAIMED → [WORKING →] FILLED | REJECTED | CANCELLED,
//! and PENDING → CANCELLED. WORKING is optional: the bridge reports a market order's outcome
//! straight after claiming it (CONTRACTS.md). Every other transition is refused.
use super::model::{EntrySizeMode, Env, Side, TradeMode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderStatus {
    Pending,
    Claimed,
    Working,
    Filled,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Claimed,
        OrderStatus::Working,
        OrderStatus::Filled,
        OrderStatus::Rejected,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Claimed => "CLAIMED",
            OrderStatus::Working => "WORKING",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    /// Not yet in a final state: blocks new entries on its asset.
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            OrderStatus::Pending | OrderStatus::Claimed | OrderStatus::Working
        )
    }

    /// The whole transition table, in one place.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Pending, Claimed)
                | (Pending, Cancelled)
                | (Claimed, Working)
                | (Claimed, Filled)
                | (Claimed, Rejected)
                | (Claimed, Cancelled)
                | (Working, Filled)
                | (Working, Rejected)
                | (Working, Cancelled)
        )
    }

    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal order transition {} → {}", from.as_str(), to.as_str())]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// What the bridge does with an order: open or add (`ENTRY`, scale-ins too) or close (`EXIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderKind {
    Entry,
    Exit,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::Entry => "ENTRY",
            OrderKind::Exit => "EXIT",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ENTRY" => Some(OrderKind::Entry),
            "EXIT" => Some(OrderKind::Exit),
            _ => None,
        }
    }
}

/// Where an order comes from (`source`): the operator's entry, a released preorder, a scale-in;
/// an exit's source is its reason (`manual`, `protect`, `main_flip`, …).
pub mod source {
    pub const UI: &str = "UI";
    pub const PREORDER: &str = "PREORDER";
    pub const SCALE_IN: &str = "SCALE_IN";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    /// Desk asset name (`ES`).
    pub asset: String,
    /// Broker contract (`MESM6`).
    pub symbol: String,
    pub exchange: String,
    pub side: Side,
    pub qty: u32,
    pub kind: OrderKind,
    /// The exit mode, always `"A"` as the original desk sends it (not stored).
    #[serde(default = "exit_mode")]
    pub mode: String,
    pub trade_mode: TradeMode,
    pub entry_size_mode: EntrySizeMode,
    pub env: Env,
    pub status: OrderStatus,
    pub entry_override: bool,
    /// `UI`, `PREORDER`, `SCALE_IN`, or an exit's reason (`manual`, `protect`, `main_flip`, …).
    pub source: String,
    pub owner: Option<String>,
    pub stale: bool,
    pub fill_price: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Store insertion order; the bridge claims oldest first.
    #[serde(skip)]
    pub seq: i64,
}

/// The exit mode of every order (CONTRACTS.md: the original's `mode` is the exit mode).
pub const EXIT_MODE: &str = "A";

pub fn exit_mode() -> String {
    EXIT_MODE.into()
}

impl Order {
    /// An entry that opens a trade (not a scale-in).
    pub fn is_trade_entry(&self) -> bool {
        self.kind == OrderKind::Entry && self.source != source::SCALE_IN
    }

    /// `ENTRY BUY ES x5`: how the log, the console and its answers name an order.
    pub fn label(&self) -> String {
        format!(
            "{} {} {} x{}",
            self.kind.as_str(),
            self.side,
            self.asset,
            self.qty
        )
    }
}
