//! The desk's vocabulary: assets, brick sizes, colors, sides, modes — named as the seed names them.
use serde::{Deserialize, Serialize};
use std::fmt;

/// The six Renko feeds of an asset, in the seed's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum BrickSize {
    One,
    TwoHalf,
    Four,
    Main,
    High,
    Macro,
}

impl BrickSize {
    pub const ALL: [BrickSize; 6] = [
        BrickSize::One,
        BrickSize::TwoHalf,
        BrickSize::Four,
        BrickSize::Main,
        BrickSize::High,
        BrickSize::Macro,
    ];
    pub fn points(self) -> f64 {
        match self {
            BrickSize::One => 1.0,
            BrickSize::TwoHalf => 2.5,
            BrickSize::Four => 4.0,
            BrickSize::Main => 6.0,
            BrickSize::High => 8.0,
            BrickSize::Macro => 12.0,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            BrickSize::One => "one",
            BrickSize::TwoHalf => "two_half",
            BrickSize::Four => "four",
            BrickSize::Main => "main",
            BrickSize::High => "high",
            BrickSize::Macro => "macro",
        }
    }
    /// Short label used in the console ("2.5pt").
    pub fn label(self) -> &'static str {
        match self {
            BrickSize::One => "1pt",
            BrickSize::TwoHalf => "2.5pt",
            BrickSize::Four => "4pt",
            BrickSize::Main => "6pt",
            BrickSize::High => "8pt",
            BrickSize::Macro => "12pt",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn parse(s: &str) -> Option<Self> {
        BrickSize::ALL.into_iter().find(|b| b.name() == s)
    }
}

impl fmt::Display for BrickSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Green,
    Red,
}

impl Color {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "green" | "up" | "bull" => Some(Color::Green),
            "red" | "down" | "bear" => Some(Color::Red),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Green => "green",
            Color::Red => "red",
        }
    }
    /// The trade direction this color points to.
    pub fn side(self) -> Side {
        match self {
            Color::Green => Side::Buy,
            Color::Red => Side::Sell,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "BUY" | "LONG" => Some(Side::Buy),
            "SELL" | "SHORT" => Some(Side::Sell),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// +1 for long, -1 for short.
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
    /// The brick color that points this way (BUY → green).
    pub fn color(self) -> Color {
        match self {
            Side::Buy => Color::Green,
            Side::Sell => Color::Red,
        }
    }
    /// Does a brick of this color go against a position on this side?
    pub fn is_opposed_by(self, color: Color) -> bool {
        color.side() != self
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeMode {
    Scalp,
    Runner,
}

impl TradeMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "SCALP" => Some(TradeMode::Scalp),
            "RUNNER" => Some(TradeMode::Runner),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TradeMode::Scalp => "SCALP",
            TradeMode::Runner => "RUNNER",
        }
    }
}

/// The size of an entry: its stop distance and its contracts (6pt → 5, 9pt → 3 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntrySizeMode {
    #[serde(rename = "6pt")]
    Six,
    #[serde(rename = "9pt")]
    Nine,
}

impl EntrySizeMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "6pt" | "6" => Some(EntrySizeMode::Six),
            "9pt" | "9" => Some(EntrySizeMode::Nine),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EntrySizeMode::Six => "6pt",
            EntrySizeMode::Nine => "9pt",
        }
    }
    pub fn stop_points(self) -> f64 {
        match self {
            EntrySizeMode::Six => 6.0,
            EntrySizeMode::Nine => 9.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Env {
    Demo,
    Live,
}

impl Env {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "DEMO" => Some(Env::Demo),
            "LIVE" => Some(Env::Live),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Demo => "DEMO",
            Env::Live => "LIVE",
        }
    }
}

/// Where an asset's bricks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BrickSource {
    /// TradingView posts every brick size to the webhooks.
    #[default]
    Webhook,
    /// The engine builds the bricks from `/tv_heartbeat` prices.
    Price,
}

/// Finds an asset by desk name (`ES`) or contract (`MESM6`), any case. The engine and the
/// read connections beside it share it.
#[derive(Debug, Clone)]
pub struct AssetIndex {
    /// Names, symbols and aliases (upper case, exchange prefix dropped).
    by_key: std::collections::HashMap<String, usize>,
    /// Contract roots (`MESM6` → `MES`), for TradingView's continuous tickers (`MES1!`).
    by_root: std::collections::HashMap<String, usize>,
}

/// A ticker as TradingView sends it, upper case, without its exchange prefix: what follows the
/// last `:` (`CME_MINI:MES1!` → `MES1!`).
pub fn ticker_key(name: &str) -> String {
    let t = name.trim();
    t.rsplit(':')
        .next()
        .unwrap_or(t)
        .trim()
        .to_ascii_uppercase()
}

/// The root of a continuous ticker (`MES1!` → `MES`, `ES2!` → `ES`), if it is one.
fn continuous_root(key: &str) -> Option<&str> {
    let body = key.strip_suffix('!')?;
    let root = body.trim_end_matches(|c: char| c.is_ascii_digit());
    (root.len() < body.len() && !root.is_empty()).then_some(root)
}

/// The root of a dated contract (`MESM6` → `MES`, `ESZ25` → `ES`): a month code and a year.
fn contract_root(symbol: &str) -> Option<&str> {
    let body = symbol.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = symbol.len() - body.len();
    let root = body.strip_suffix(|c: char| "FGHJKMNQUVXZ".contains(c))?;
    ((1..=2).contains(&digits) && !root.is_empty()).then_some(root)
}

impl AssetIndex {
    /// Refuses a name, symbol or alias configured for two assets.
    pub fn new(assets: &[AssetConfig]) -> Result<Self, super::error::DeskError> {
        let mut by_key = std::collections::HashMap::new();
        let mut by_root = std::collections::HashMap::new();
        for (i, a) in assets.iter().enumerate() {
            let keys = [&a.name, &a.symbol].into_iter().chain(&a.aliases);
            for key in keys {
                if by_key.insert(ticker_key(key), i).is_some_and(|j| j != i) {
                    return Err(super::error::DeskError::Invalid(format!(
                        "asset name, symbol or alias {key} is configured for two assets"
                    )));
                }
            }
            let sym = a.symbol.to_ascii_uppercase();
            for root in [
                Some(a.name.to_ascii_uppercase()),
                contract_root(&sym).map(str::to_string),
            ]
            .into_iter()
            .flatten()
            {
                by_root.entry(root).or_insert(i);
            }
        }
        Ok(AssetIndex { by_key, by_root })
    }

    /// An asset by its name, symbol or an alias, as typed or as TradingView sends `{{ticker}}`:
    /// upper-cased, exchange prefix dropped (`CME_MINI:MES1!`), and a continuous contract
    /// (`MES1!`, `ES1!`) resolved through its root (`MESM6` and `ES` both have one).
    pub fn find(&self, name: &str) -> Result<usize, super::error::DeskError> {
        let key = ticker_key(name);
        self.by_key
            .get(&key)
            .or_else(|| continuous_root(&key).and_then(|r| self.by_root.get(r)))
            .copied()
            .ok_or_else(|| super::error::DeskError::UnknownAsset(name.to_string()))
    }
}

/// One tradable asset as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetConfig {
    pub name: String,
    pub symbol: String,
    pub exchange: String,
    pub tick: f64,
    pub point_value: f64,
    /// Contracts of a 6pt entry.
    pub default_qty: u32,
    /// Contracts of a 9pt entry (wider stop, fewer contracts).
    #[serde(default = "nine_pt_qty")]
    pub nine_pt_qty: u32,
    #[serde(default)]
    pub source: BrickSource,
    /// Other names senders use for this asset (`CME_MINI:MES1!`, `ES1!`); matched like TradingView
    /// tickers (case and exchange prefix ignored). Continuous tickers of the asset's contract root
    /// (`MES1!` for `MESM6`) and of its name (`ES1!`) match without being listed.
    #[serde(default)]
    pub aliases: Vec<String>,
}

fn nine_pt_qty() -> u32 {
    3
}

impl AssetConfig {
    /// Contracts an entry of this size mode sends.
    pub fn entry_qty(&self, mode: EntrySizeMode) -> u32 {
        match mode {
            EntrySizeMode::Six => self.default_qty,
            EntrySizeMode::Nine => self.nine_pt_qty,
        }
    }

    pub fn defaults() -> Vec<AssetConfig> {
        vec![
            AssetConfig {
                name: "ES".into(),
                symbol: "MESM6".into(),
                exchange: "CME".into(),
                tick: 0.25,
                point_value: 5.0,
                default_qty: 5,
                nine_pt_qty: 3,
                source: BrickSource::Webhook,
                aliases: Vec::new(),
            },
            AssetConfig {
                name: "NQ".into(),
                symbol: "MNQM6".into(),
                exchange: "CME".into(),
                tick: 0.25,
                point_value: 2.0,
                default_qty: 5,
                nine_pt_qty: 3,
                source: BrickSource::Webhook,
                aliases: Vec::new(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tradingview_tickers_find_their_asset() {
        let mut assets = AssetConfig::defaults();
        assets[1].aliases = vec!["NASDAQ_FUT".into()];
        let idx = AssetIndex::new(&assets).unwrap();
        for (ticker, want) in [
            ("ES", 0),
            ("es", 0),
            ("MESM6", 0),
            ("CME_MINI:MES1!", 0),
            ("MES1!", 0),
            ("ES1!", 0),
            ("CME_MINI:ES2!", 0),
            ("CME_MINI:MNQ1!", 1),
            ("NQ1!", 1),
            ("cme:nasdaq_fut", 1),
        ] {
            assert_eq!(idx.find(ticker).ok(), Some(want), "{ticker}");
        }
        for unknown in ["CL1!", "MES", "1!", "CME_MINI:", "ESM6X"] {
            assert!(idx.find(unknown).is_err(), "{unknown}");
        }
        assets[0].aliases = vec!["NASDAQ_FUT".into()];
        assert!(AssetIndex::new(&assets).is_err(), "an alias of two assets");
    }
}
