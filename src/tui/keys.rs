//! The one key table: the handler matches on it and the help overlay is rendered from it.
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
    NextAsset,
    RunUp,
    RunDown,
    SeriesNext,
    RunLive,
    RunStop,
    RunFollow,
    NextTab,
    PrevTab,
    Help,
    Quit,
}

pub struct Binding {
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
        "preorder at the next 6pt brick",
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
        "override tempo+zone (asks)",
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
        Char('a'),
        "a",
        NextAsset,
        "Desk",
        "next asset",
        Some("asset"),
    ),
    k(KeyCode::Tab, "Tab", NextTab, "Desk", "next tab", None),
    k(
        KeyCode::BackTab,
        "S-Tab",
        PrevTab,
        "Desk",
        "previous tab",
        None,
    ),
    k(Char('?'), "?", Help, "Desk", "this help", Some("help")),
    k(
        Char('q'),
        "q",
        Quit,
        "Desk",
        "quit (stops the server)",
        Some("quit"),
    ),
];

/// The action bound to a key press, if any (Ctrl-C always quits).
pub fn action_for(key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == Char('c')).then_some(Quit);
    }
    BINDINGS
        .iter()
        .find(|b| b.code == key.code)
        .map(|b| b.action)
}

pub fn binding(action: Action) -> &'static Binding {
    BINDINGS
        .iter()
        .find(|b| b.action == action)
        .expect("every action has a key")
}
