//! Key handling: each key sends the intended engine command; destructive ones wait for a
//! confirmation; going LIVE needs `LIVE` typed; the help overlay comes from the key table.
use crate::support::fixture;
use brickdesk::engine::TpArm;
use brickdesk::engine::command::DeskCommand;
use brickdesk::engine::model::{EntrySizeMode, Env, Side, TradeMode};
use brickdesk::engine::{EntryRequest, OrderType};
use brickdesk::tui::app::Tab;
use brickdesk::tui::app::{App, Effect, Modal};
use brickdesk::tui::keys::{BINDINGS, Scope, action_for, bindings_for};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}
fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}
fn press(app: &mut App, keys: &str) -> Effect {
    let mut last = Effect::None;
    for c in keys.chars() {
        last = app.on_key(key(c));
    }
    last
}
fn entry(
    asset: &str,
    direction: Option<Side>,
    order_type: OrderType,
    mode: TradeMode,
    size: EntrySizeMode,
    ov: bool,
) -> Effect {
    Effect::Send(DeskCommand::Entry(EntryRequest {
        asset: asset.into(),
        trade_mode: mode,
        order_type,
        direction,
        entry_size_mode: size,
        entry_override: ov,
    }))
}
fn es() -> String {
    "ES".into()
}

#[tokio::test]
async fn entry_keys() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    use EntrySizeMode::*;
    use TradeMode::*;
    assert_eq!(
        press(&mut app, "b"),
        entry("ES", Some(Side::Buy), OrderType::Market, Scalp, Six, false)
    );
    assert_eq!(
        press(&mut app, "s"),
        entry("ES", Some(Side::Sell), OrderType::Market, Scalp, Six, false)
    );
    assert_eq!(
        press(&mut app, "e"),
        entry("ES", None, OrderType::Market, Scalp, Six, false)
    );
    // a preorder needs a direction: the fixture's NORMAL zone gives BUY
    assert_eq!(
        press(&mut app, "p"),
        entry(
            "ES",
            Some(Side::Buy),
            OrderType::Preorder,
            Scalp,
            Six,
            false
        )
    );
    assert_eq!(
        press(&mut app, "mzb"),
        entry(
            "ES",
            Some(Side::Buy),
            OrderType::Market,
            Runner,
            Nine,
            false
        )
    );
    assert_eq!(press(&mut app, "mz"), Effect::None);
    // override: armed by `o`, asks before sending, then disarms
    assert_eq!(press(&mut app, "ob"), Effect::None);
    assert!(matches!(app.modal, Some(Modal::Confirm { .. })));
    assert_eq!(
        press(&mut app, "y"),
        entry("ES", Some(Side::Buy), OrderType::Market, Scalp, Six, true)
    );
    assert_eq!(
        press(&mut app, "b"),
        entry("ES", Some(Side::Buy), OrderType::Market, Scalp, Six, false)
    );
    assert_eq!(
        press(&mut app, "P"),
        Effect::Send(DeskCommand::CancelPreorder { asset: es() })
    );
    assert_eq!(
        press(&mut app, "i"),
        Effect::Send(DeskCommand::Intent { asset: es() })
    );
    assert_eq!(
        press(&mut app, "I"),
        Effect::Send(DeskCommand::CancelIntent { asset: es() })
    );
    // asset switch
    assert_eq!(
        press(&mut app, "ab"),
        entry("NQ", Some(Side::Buy), OrderType::Market, Scalp, Six, false)
    );
    assert_eq!(press(&mut app, "a"), Effect::None);
    assert_eq!(app.asset, 0);
}

#[tokio::test]
async fn destructive_keys_wait_for_a_confirmation() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    let cases = [
        (
            'x',
            DeskCommand::Exit {
                asset: es(),
                force: false,
            },
        ),
        (
            'X',
            DeskCommand::Exit {
                asset: es(),
                force: true,
            },
        ),
        ('A', DeskCommand::ExitAll { force: true }),
        ('+', DeskCommand::ScaleIn { asset: es() }),
        ('u', DeskCommand::ConsumeTradeSlot),
    ];
    for (k, cmd) in cases {
        assert_eq!(
            app.on_key(key(k)),
            Effect::None,
            "{k} must not send at once"
        );
        assert!(
            matches!(&app.modal, Some(Modal::Confirm { cmd: c, .. }) if *c == cmd),
            "{k}"
        );
        assert_eq!(
            app.on_key(key('z')),
            Effect::None,
            "other keys keep the question open"
        );
        assert!(app.modal.is_some());
        assert_eq!(app.on_key(key('n')), Effect::None);
        assert!(app.modal.is_none());
        assert_eq!(app.status.as_ref().unwrap().text, "cancelled");
        app.on_key(key(k));
        assert_eq!(app.on_key(code(KeyCode::Esc)), Effect::None);
        app.on_key(key(k));
        assert_eq!(app.on_key(key('y')), Effect::Send(cmd.clone()), "{k}");
        app.on_key(key(k));
        assert_eq!(app.on_key(code(KeyCode::Enter)), Effect::Send(cmd), "{k}");
    }
}

#[tokio::test]
async fn armed_exit_keys() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    // the fixture has protect -2.0 on: `r` turns it off, `R` switches to +0.5
    assert_eq!(
        press(&mut app, "r"),
        Effect::Send(DeskCommand::Protect {
            asset: es(),
            enabled: false,
            threshold: Some(-2.0)
        })
    );
    assert_eq!(
        press(&mut app, "R"),
        Effect::Send(DeskCommand::Protect {
            asset: es(),
            enabled: true,
            threshold: Some(0.5)
        })
    );
    // the fill armed the 15-point TP: `t` turns it off
    assert_eq!(
        press(&mut app, "t"),
        Effect::Send(DeskCommand::PointsTp {
            asset: es(),
            enabled: false,
            target: None
        })
    );
    assert_eq!(
        press(&mut app, "T12.5x"),
        Effect::None,
        "letters are ignored in a number"
    );
    assert_eq!(
        app.on_key(code(KeyCode::Enter)),
        Effect::Send(DeskCommand::PointsTp {
            asset: es(),
            enabled: true,
            target: Some(12.5)
        })
    );
    let tp = |arm, target, reset| {
        Effect::Send(DeskCommand::TakeProfit {
            asset: es(),
            tp_arm: arm,
            tp_target: target,
            reset,
        })
    };
    assert_eq!(press(&mut app, "g"), tp(Some(TpArm::Toggle), None, false));
    press(&mut app, "G4");
    assert_eq!(app.on_key(code(KeyCode::Enter)), tp(None, Some(4), false));
    assert_eq!(press(&mut app, "0"), tp(None, None, true));
    assert_eq!(
        press(&mut app, "n"),
        Effect::Send(DeskCommand::HighNextBar { asset: es() })
    );
    assert_eq!(
        press(&mut app, "f"),
        Effect::Send(DeskCommand::MainFlip { asset: es() })
    );
    assert_eq!(
        press(&mut app, "4"),
        Effect::Send(DeskCommand::FourPt { asset: es() })
    );
}

#[tokio::test]
async fn going_live_needs_live_typed_and_demo_needs_a_yes() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    assert_eq!(press(&mut app, "L"), Effect::None);
    assert!(matches!(app.modal, Some(Modal::TypeLive { .. })));
    assert_eq!(press(&mut app, "live"), Effect::None);
    assert_eq!(
        app.on_key(code(KeyCode::Enter)),
        Effect::None,
        "lower case is not LIVE"
    );
    assert!(app.status.as_ref().unwrap().text.starts_with("type LIVE"));
    assert_eq!(press(&mut app, "LIV"), Effect::None);
    assert_eq!(app.on_key(code(KeyCode::Enter)), Effect::None);
    assert_eq!(press(&mut app, "LIVX"), Effect::None);
    app.on_key(code(KeyCode::Backspace));
    assert_eq!(press(&mut app, "E"), Effect::None);
    assert_eq!(
        app.on_key(code(KeyCode::Enter)),
        Effect::Send(DeskCommand::SetEnv { env: Env::Live })
    );
    press(&mut app, "L");
    assert_eq!(app.on_key(code(KeyCode::Esc)), Effect::None);
    assert!(app.modal.is_none());
    // once LIVE, `L` asks y/n to go back to DEMO
    let mut snap = app.snapshot.clone().unwrap();
    snap.state.env = Env::Live;
    app.set_snapshot(snap);
    press(&mut app, "L");
    assert_eq!(
        press(&mut app, "y"),
        Effect::Send(DeskCommand::SetEnv { env: Env::Demo })
    );
}

#[tokio::test]
async fn quit_help_and_tabs() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    assert_eq!(press(&mut app, "?"), Effect::None);
    assert_eq!(app.modal, Some(Modal::Help));
    assert_eq!(
        press(&mut app, "q"),
        Effect::None,
        "a key on the help only closes it"
    );
    assert_eq!(app.modal, None);
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.tab, brickdesk::tui::app::Tab::Runs);
    app.on_key(code(KeyCode::BackTab));
    app.on_key(code(KeyCode::BackTab));
    assert_eq!(app.tab, brickdesk::tui::app::Tab::Log);
    assert_eq!(press(&mut app, "q"), Effect::Quit);
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Effect::Quit
    );
}

/// The keys of the README's "Desk keys" table (its first column), as written there.
fn readme_desk_keys() -> std::collections::BTreeSet<String> {
    let readme = include_str!("../../README.md");
    let table = readme
        .split("Desk keys:")
        .nth(1)
        .expect("the README has a Desk keys table");
    table
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .flat_map(|row| {
            let first = row.split('|').nth(1).unwrap();
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_key_table_is_consistent() {
    use brickdesk::tui::app::Tab;
    // the README documents exactly the keys the Desk answers to (its own and the global ones)
    let mut bound: std::collections::BTreeSet<String> = BINDINGS
        .iter()
        .filter(|b| matches!(b.scope, Scope::Global | Scope::Tab(Tab::Desk)))
        .map(|b| b.label.to_string())
        .collect();
    bound.insert("Ctrl-C".into());
    assert_eq!(
        readme_desk_keys(),
        bound,
        "README's Desk keys vs the key table"
    );
    // a key is bound once per scope, and a tab's keys never shadow a global one
    let mut seen = std::collections::HashSet::new();
    for b in BINDINGS {
        assert!(
            seen.insert((b.scope, b.code)),
            "key {} bound twice",
            b.label
        );
        if b.scope != Scope::Global {
            assert!(
                !BINDINGS
                    .iter()
                    .any(|g| g.scope == Scope::Global && g.code == b.code),
                "{} shadows a global key",
                b.label
            );
        }
        assert!(
            b.help.chars().count() <= 30,
            "help of {} too long for 80 columns",
            b.label
        );
    }
    // scoping: a tab's key does nothing on another tab; a global key works on every tab
    let tabs = Tab::ALL;
    for b in BINDINGS {
        for tab in tabs {
            let got = action_for(&code(b.code), Scope::Tab(tab));
            match b.scope {
                Scope::Global => assert_eq!(got, Some(b.action), "{} on {tab:?}", b.label),
                Scope::Tab(own) if own == tab => {
                    assert_eq!(got, Some(b.action), "{} on {tab:?}", b.label)
                }
                Scope::Tab(_) => assert!(
                    got.is_none_or(|a| BINDINGS
                        .iter()
                        .any(|o| o.scope == Scope::Tab(tab) && o.code == b.code && o.action == a)),
                    "{} of another tab acts on {tab:?}: {got:?}",
                    b.label
                ),
            }
        }
    }
    // Ctrl-C quits everywhere, even where `c` means something
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    for tab in tabs {
        assert_eq!(
            action_for(&ctrl_c, Scope::Tab(tab)),
            Some(brickdesk::tui::keys::Action::Quit)
        );
    }
}

#[tokio::test]
async fn help_overlay_lists_the_tabs_keys_at_80x24() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    for (tab, scope) in [
        (Tab::Desk, Scope::Tab(Tab::Desk)),
        (Tab::Runs, Scope::Tab(Tab::Runs)),
        (Tab::Chat, Scope::Tab(Tab::Chat)),
    ] {
        app.tab = tab;
        press(&mut app, "?");
        let backend = ratatui::backend::TestBackend::new(80, 24);
        let mut term = ratatui::Terminal::new(backend).unwrap();
        term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
        let screen = term.backend().to_string();
        for b in bindings_for(scope) {
            assert!(
                screen.contains(b.help),
                "help of {tab:?} lacks {:?}:\n{screen}",
                b.help
            );
        }
        // another tab's keys are not offered here
        let other = if scope == Scope::Tab(Tab::Desk) {
            Scope::Tab(Tab::Runs)
        } else {
            Scope::Tab(Tab::Desk)
        };
        let foreign = BINDINGS.iter().find(|b| b.scope == other).unwrap();
        assert!(
            !screen.contains(foreign.help),
            "{tab:?} help shows {:?}",
            foreign.help
        );
        press(&mut app, " ");
    }
}

#[tokio::test]
async fn a_sent_key_reaches_the_engine_with_the_same_refusal_as_the_api() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    let link = brickdesk::tui::link::Link::local(f.engine.clone()).unwrap();
    let Effect::Send(cmd) = press(&mut app, "b") else {
        panic!()
    };
    let refused = link.send(cmd).await.unwrap_err();
    assert_eq!(
        refused,
        "5 MIN LOCK ACTIVE — one trade already used this candle (03:57 remaining)"
    );
    let Effect::Send(cmd) = press(&mut app, "f") else {
        panic!()
    };
    assert_eq!(link.send(cmd).await.unwrap(), "ES 6pt flip exit OFF");
    // a fresh 6pt brick releases the initial exit lock
    f.engine
        .call(|e| {
            e.webhook_brick(brickdesk::engine::BrickInput::new(
                "ES",
                brickdesk::engine::model::BrickSize::Main,
                brickdesk::engine::model::Color::Green,
                "fresh-main",
            ))
            .map(|_| ())
        })
        .await
        .unwrap();
    press(&mut app, "x");
    let Effect::Send(cmd) = press(&mut app, "y") else {
        panic!()
    };
    assert_eq!(
        link.send(cmd).await.unwrap(),
        "EXIT SELL ES x5 sent: PENDING"
    );
}
