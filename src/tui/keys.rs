//! The key tables, scoped: global keys work everywhere, each tab has its own map (order keys act
//! on the Desk only), and a text-input mode (Chat) takes every key as text. The handler matches
//! on these tables and the help overlay is rendered from them.
use super::app::Tab;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Buy,
    Sell,
    EnterStructure,
    Preorder,
    CancelPreorder,
    ToggleTradeMode,
    ToggleSizeMode,
    ToggleOverride,
    Exit,
    ForceExit,
    ExitAll,
    ScaleIn,
    ProtectMinusTwo,
    ProtectHalf,
    PointsTp,
    PointsTpTarget,
    SignalTpArm,
    SignalTpTarget,
    SignalTpReset,
    HighNextBar,
    MainFlip,
    FourPt,
    Intent,
    CancelIntent,
    ConsumeTradeSlot,
    SwitchEnv,
    /// Settle the selected asset's stuck CLAIMED/WORKING order (asks).
    ResolveOrder,
    NextAsset,
    /// The Desk chart: the next smaller or larger brick size.
    ChartSmaller,
    ChartLarger,
    RunUp,
    RunDown,
    SeriesNext,
    RunLive,
    RunStop,
    RunFollow,
    BacktestUp,
    BacktestDown,
    TradeNext,
    TradePrev,
    JobUp,
    JobDown,
    /// Cancel the selected research job (asks).
    JobCancel,
    NextTab,
    PrevTab,
    Help,
    Quit,
    /// Chat: start typing (the text-input mode takes every key until Esc).
    ChatInput,
    ChatModel,
    ChatPine,
    ChatPython,
    ChatArtifacts,
    ChatFix,
    ChatRunPrev,
    ChatRunNext,
    /// Apply the proposed patch (asks; needs a write grant).
    ChatApply,
    ChatReject,
    /// Grant one write of the Python code (asks).
    ChatGrant,
    ChatCancel,
    ChatScrollUp,
    ChatScrollDown,
}

/// Where a key works: everywhere, or on one tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Tab(Tab),
}

pub struct Binding {
    pub scope: Scope,
    pub code: KeyCode,
    /// How the key is written in help and hints.
    pub label: &'static str,
    pub action: Action,
    pub help: &'static str,
    pub group: &'static str,
    /// Its word in the one-line hint bar, if it has one there.
    pub hint: Option<&'static str>,
}

const fn k(
    code: KeyCode,
    label: &'static str,
    action: Action,
    group: &'static str,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        scope: scope_of(action),
        code,
        label,
        action,
        help,
        group,
        hint,
    }
}

use Action::*;
use KeyCode::Char;

/// The scope of each action: order and desk keys on the Desk, run keys on Runs.
const fn scope_of(action: Action) -> Scope {
    match action {
        NextAsset | NextTab | PrevTab | Help | Quit => Scope::Global,
        RunUp | RunDown | SeriesNext | RunLive | RunStop | RunFollow => Scope::Tab(Tab::Runs),
        BacktestUp | BacktestDown | TradeNext | TradePrev => Scope::Tab(Tab::Backtests),
        JobUp | JobDown | JobCancel => Scope::Tab(Tab::Research),
        ChatInput | ChatModel | ChatPine | ChatPython | ChatArtifacts | ChatFix | ChatRunPrev
        | ChatRunNext | ChatApply | ChatReject | ChatGrant | ChatCancel | ChatScrollUp
        | ChatScrollDown => Scope::Tab(Tab::Chat),
        _ => Scope::Tab(Tab::Desk),
    }
}

pub const BINDINGS: &[Binding] = &[
    k(Char('b'), "b", Buy, "Entries", "buy entry", Some("buy")),
    k(Char('s'), "s", Sell, "Entries", "sell entry", Some("sell")),
    k(
        Char('e'),
        "e",
        EnterStructure,
        "Entries",
        "entry, structural direction",
        None,
    ),
    k(
        Char('p'),
        "p",
        Preorder,
        "Entries",
        "preorder, structural direction",
        None,
    ),
    k(
        Char('P'),
        "P",
        CancelPreorder,
        "Entries",
        "cancel the preorder",
        None,
    ),
    k(
        Char('m'),
        "m",
        ToggleTradeMode,
        "Entries",
        "trade mode SCALP / RUNNER",
        None,
    ),
    k(
        Char('z'),
        "z",
        ToggleSizeMode,
        "Entries",
        "size mode 6pt / 9pt (stop)",
        None,
    ),
    k(
        Char('o'),
        "o",
        ToggleOverride,
        "Entries",
        "override zone+2.5pt (asks)",
        None,
    ),
    k(
        Char('i'),
        "i",
        Intent,
        "Entries",
        "intent: READY at next 6pt",
        None,
    ),
    k(
        Char('I'),
        "I",
        CancelIntent,
        "Entries",
        "cancel the intent",
        None,
    ),
    k(
        Char('x'),
        "x",
        Exit,
        "Exits",
        "exit the position (asks)",
        Some("exit"),
    ),
    k(
        Char('X'),
        "X",
        ForceExit,
        "Exits",
        "force exit in lock (asks)",
        None,
    ),
    k(
        Char('A'),
        "A",
        ExitAll,
        "Exits",
        "exit ALL, forced (asks)",
        Some("exit-all"),
    ),
    k(Char('+'), "+", ScaleIn, "Exits", "scale in (asks)", None),
    k(
        Char('r'),
        "r",
        ProtectMinusTwo,
        "Armed exits",
        "protect at -2.0 on/off",
        None,
    ),
    k(
        Char('R'),
        "R",
        ProtectHalf,
        "Armed exits",
        "protect at +0.5 on/off",
        None,
    ),
    k(
        Char('t'),
        "t",
        PointsTp,
        "Armed exits",
        "points TP on/off",
        None,
    ),
    k(
        Char('T'),
        "T",
        PointsTpTarget,
        "Armed exits",
        "points TP target…",
        None,
    ),
    k(
        Char('g'),
        "g",
        SignalTpArm,
        "Armed exits",
        "signal-count TP arm/disarm",
        None,
    ),
    k(
        Char('G'),
        "G",
        SignalTpTarget,
        "Armed exits",
        "signal-count TP target N…",
        None,
    ),
    k(
        Char('0'),
        "0",
        SignalTpReset,
        "Armed exits",
        "signal-count TP reset count",
        None,
    ),
    k(
        Char('n'),
        "n",
        HighNextBar,
        "Armed exits",
        "8pt next-bar exit on/off",
        None,
    ),
    k(
        Char('f'),
        "f",
        MainFlip,
        "Armed exits",
        "6pt flip exit on/off",
        None,
    ),
    k(
        Char('4'),
        "4",
        FourPt,
        "Armed exits",
        "4pt invalidation on/off",
        None,
    ),
    k(
        Char('u'),
        "u",
        ConsumeTradeSlot,
        "Desk",
        "use one trade slot (asks)",
        None,
    ),
    k(
        Char('L'),
        "L",
        SwitchEnv,
        "Desk",
        "DEMO / LIVE (type LIVE)",
        None,
    ),
    k(
        Char('O'),
        "O",
        ResolveOrder,
        "Desk",
        "resolve a stuck order (asks)",
        None,
    ),
    k(KeyCode::Up, "↑", RunUp, "Runs", "previous run", None),
    k(KeyCode::Down, "↓", RunDown, "Runs", "next run", None),
    k(
        Char(']'),
        "]",
        SeriesNext,
        "Runs",
        "next compared series",
        None,
    ),
    k(
        Char('l'),
        "l",
        RunLive,
        "Runs",
        "play the selected run live",
        None,
    ),
    k(
        Char('.'),
        ".",
        RunStop,
        "Runs",
        "stop the selected live run",
        None,
    ),
    k(
        Char('F'),
        "F",
        RunFollow,
        "Runs",
        "follow the newest live run",
        None,
    ),
    k(
        KeyCode::Up,
        "↑",
        BacktestUp,
        "Backtests",
        "previous backtest",
        None,
    ),
    k(
        KeyCode::Down,
        "↓",
        BacktestDown,
        "Backtests",
        "next backtest",
        None,
    ),
    k(Char('j'), "j", TradeNext, "Backtests", "next trade", None),
    k(
        Char('k'),
        "k",
        TradePrev,
        "Backtests",
        "previous trade",
        None,
    ),
    k(KeyCode::Up, "↑", JobUp, "Research", "previous job", None),
    k(KeyCode::Down, "↓", JobDown, "Research", "next job", None),
    k(
        Char('c'),
        "c",
        JobCancel,
        "Research",
        "cancel the selected job (asks)",
        Some("cancel job"),
    ),
    k(
        Char('a'),
        "a",
        NextAsset,
        "Keys",
        "next asset",
        Some("asset"),
    ),
    k(
        Char('['),
        "[",
        ChartSmaller,
        "Desk",
        "chart: smaller bricks",
        None,
    ),
    k(
        Char(']'),
        "]",
        ChartLarger,
        "Desk",
        "chart: larger bricks",
        Some("size"),
    ),
    k(KeyCode::Tab, "Tab", NextTab, "Keys", "next tab", None),
    k(
        KeyCode::BackTab,
        "S-Tab",
        PrevTab,
        "Keys",
        "previous tab",
        None,
    ),
    k(
        KeyCode::Enter,
        "Enter",
        ChatInput,
        "Chat",
        "type a message (Esc leaves)",
        Some("type"),
    ),
    k(
        Char('m'),
        "m",
        ChatModel,
        "Chat",
        "pick the model",
        Some("model"),
    ),
    k(
        Char('p'),
        "p",
        ChatPine,
        "Chat",
        "send the Pine code or not",
        None,
    ),
    k(
        Char('y'),
        "y",
        ChatPython,
        "Chat",
        "send the Python code or not",
        None,
    ),
    k(
        Char('r'),
        "r",
        ChatArtifacts,
        "Chat",
        "send the run artifacts or not",
        None,
    ),
    k(
        Char('f'),
        "f",
        ChatFix,
        "Chat",
        "ask for a fix or an analysis",
        Some("fix"),
    ),
    k(
        Char('['),
        "[",
        ChatRunPrev,
        "Chat",
        "previous run's conversation",
        None,
    ),
    k(
        Char(']'),
        "]",
        ChatRunNext,
        "Chat",
        "next run's conversation",
        Some("run"),
    ),
    k(
        Char('A'),
        "A",
        ChatApply,
        "Chat",
        "apply the patch, replay (asks)",
        None,
    ),
    k(
        Char('X'),
        "X",
        ChatReject,
        "Chat",
        "reject the proposed patch",
        None,
    ),
    k(
        Char('W'),
        "W",
        ChatGrant,
        "Chat",
        "grant one Python write (asks)",
        None,
    ),
    k(
        KeyCode::Esc,
        "Esc",
        ChatCancel,
        "Chat",
        "cancel the answer coming",
        None,
    ),
    k(
        KeyCode::PageUp,
        "PgUp",
        ChatScrollUp,
        "Chat",
        "scroll the conversation up",
        None,
    ),
    k(
        KeyCode::PageDown,
        "PgDn",
        ChatScrollDown,
        "Chat",
        "scroll the conversation down",
        None,
    ),
    k(Char('?'), "?", Help, "Keys", "this help", Some("help")),
    k(
        Char('q'),
        "q",
        Quit,
        "Keys",
        "quit (stops the server)",
        Some("quit"),
    ),
];

/// The action bound to a key press on a tab, if any: the tab's own map first, then the global
/// keys (Ctrl-C always quits).
pub fn action_for(key: &KeyEvent, scope: Scope) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == Char('c')).then_some(Quit);
    }
    let find = |s: Scope| {
        BINDINGS
            .iter()
            .find(|b| b.scope == s && b.code == key.code)
            .map(|b| b.action)
    };
    find(scope).or_else(|| find(Scope::Global))
}

/// The keys that work on a tab: its own, then the global ones (help and hints show these).
pub fn bindings_for(scope: Scope) -> impl Iterator<Item = &'static Binding> {
    BINDINGS
        .iter()
        .filter(move |b| b.scope == scope)
        .chain(BINDINGS.iter().filter(|b| b.scope == Scope::Global))
}

pub fn binding(action: Action) -> &'static Binding {
    BINDINGS
        .iter()
        .find(|b| b.action == action)
        .expect("every action has a key")
}
