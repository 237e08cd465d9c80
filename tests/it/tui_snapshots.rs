//! Whole-frame snapshots of the Desk on a `TestBackend`, from 80×24 to 200×50, dark, monochrome
//! and light, with a position, armed exits, an active candle lock and a refusal in the status
//! line. The debug form of the buffer records every cell's style, so a theme change shows up here.
use crate::support::fixture;
use brickdesk::tui::app::Tab;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

async fn render(theme: &str, w: u16, h: u16) -> (String, ratatui::buffer::Buffer) {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, theme).await;
    // order ids are random: the log's tail names them, the snapshots name them by place
    if let Some(snap) = app.snapshot.as_mut() {
        for (i, o) in snap.state.orders.iter().enumerate() {
            for e in &mut snap.events {
                e.message = e.message.replace(&o.id, &format!("ord-{i}"));
            }
        }
    }
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
    (term.backend().to_string(), term.backend().buffer().clone())
}

#[tokio::test]
async fn desk_from_80x24_to_200x50_in_dark_monochrome_and_light() {
    let sizes = |theme| match theme {
        "light" => &[(80, 24), (160, 48)][..],
        _ => &[(80, 24), (140, 40), (160, 48), (200, 50)][..],
    };
    for theme in ["dark", "monochrome", "light"] {
        for &(w, h) in sizes(theme) {
            let (text, buffer) = render(theme, w, h).await;
            // what a reader must find on the screen, whatever the size
            for needle in [
                "DEMO",
                "LONG 5 @ 5250.00",
                "+3.25 pts",
                "+81.25 USD",
                "candle 03:57",
                "exit LOCK",
                "2.5 LOCK green",
                "scale WAIT",
                "dd —/30%",
                "bkr 5244.00",
                "protect -2.0",
                "sig 0/3",
                "flip8",
                "✗ 5 MIN LOCK ACTIVE — one trade already used this candle (03:57 remaining)",
                "ENTRY",
                "FILLED",
            ] {
                assert!(
                    text.contains(needle),
                    "{theme} {w}x{h} lacks {needle:?}:\n{text}"
                );
            }
            // the chart: its axis with the last price, the entry, stop and target tagged on it,
            // their lines across it, the entry's fill marked
            for needle in ["┤52", "◀5253.25", "E5250.00", "S5244.00", "T5265.00", "▲"] {
                assert!(
                    text.contains(needle),
                    "{theme} {w}x{h}: no {needle:?}\n{text}"
                );
            }
            // (at 80×24 a row is 12 points: the stop's line shares the entry's row, its tag
            // moves one row down)
            for line in ["──────", "╌╌╌╌╌╌"] {
                let seen = text.contains(line);
                assert!(
                    seen || (h < 40 && line.starts_with('╌')),
                    "{theme} {w}x{h}: no {line}\n{text}"
                );
            }
            // in monochrome up and down bricks differ by glyph, in the chart too
            let chart: String = text.lines().skip(9).collect();
            if theme == "monochrome" {
                assert!(chart.contains('█') && chart.contains('░'), "{text}");
            }
            // from 140 columns both assets, each with its chart, desk block and position; from
            // 40 rows the day strip and the log's tail
            let both = ["NQ bricks", "NQ MNQM6 · desk", "◀21", "FLAT   last 21"];
            for needle in both {
                assert_eq!(
                    text.contains(needle),
                    w >= 140,
                    "{theme} {w}x{h}: {needle:?}\n{text}"
                );
            }
            for needle in ["┌ day 2026-03-10 ", "trades ■□□□□□ 1/6", "┌ log "] {
                assert_eq!(
                    text.contains(needle),
                    h >= 40,
                    "{theme} {w}x{h}: {needle:?}\n{text}"
                );
            }
            // the bridge line heads the orders
            assert!(
                text.contains("bridge ✓ 3s · TS ✓ MD ✓ · U12345 · PAPER"),
                "{text}"
            );
            insta::assert_snapshot!(format!("desk_{theme}_{w}x{h}_text"), text);
            insta::assert_debug_snapshot!(format!("desk_{theme}_{w}x{h}_styled"), buffer);
        }
    }
}

#[tokio::test]
async fn live_banner_cannot_be_missed() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    let mut snap = app.snapshot.clone().unwrap();
    snap.state.env = brickdesk::engine::model::Env::Live;
    app.set_snapshot(snap);
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
    let buf = term.backend().buffer();
    let theme = &app.theme;
    // the whole first row carries the LIVE colors
    for x in 0..80 {
        assert_eq!(buf[(x, 0)].bg, theme.live_bg, "column {x}");
    }
    assert!(term.backend().to_string().contains("LIVE — REAL ORDERS"));
}

#[tokio::test]
async fn single_pane_views_fill_the_screen() {
    // each pane by its title in its top border; the Desk is bricks, the desk block, the position and the orders
    const PANES: [&str; 6] = [
        "┌ ES bricks ",
        "┌ ES MESM6 · desk ",
        "┌ position ",
        "┌ orders ",
        "┌ positions ",
        "┌ log ",
    ];
    let f = fixture::rich_desk().await;
    for (view, shows, needle) in [
        ("renko", &["┌ ES bricks "][..], "6pt chart"),
        ("positions", &["┌ positions "][..], "LONG 5"),
        ("orders", &["┌ orders "][..], "ENTRY"),
        ("log", &["┌ log "][..], "position opened BUY 5 @ 5250"),
        (
            "desk",
            &[
                "┌ ES bricks ",
                "┌ ES MESM6 · desk ",
                "┌ position ",
                "┌ orders ",
            ][..],
            "exit LOCK",
        ),
    ] {
        let mut app = fixture::app(&f, "monochrome").await;
        app.view = brickdesk::tui::app::View::parse(view);
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
        let text = term.backend().to_string();
        assert!(text.contains(needle), "{view} lacks {needle:?}:\n{text}");
        if view == "positions" {
            assert!(text.contains("day +81.25 · dd —/30% "), "{text}");
        }
        for pane in PANES {
            assert_eq!(
                text.contains(pane),
                shows.contains(&pane),
                "--view {view}: pane {pane:?} shown or hidden wrongly:\n{text}"
            );
        }
        // no tab bar, no status line, no key hints: the pane has the screen below the banner
        let lines: Vec<&str> = text.lines().map(|l| l.trim_matches('"')).collect();
        assert!(!text.contains("Backtests"), "{view}: a tab bar\n{text}");
        assert!(!text.contains(&f.refusal), "{view}: a status line\n{text}");
        assert!(!text.contains("? help"), "{view}: key hints\n{text}");
        assert!(
            lines[1].starts_with('┌') && lines[23].starts_with('└'),
            "{view}: the pane spans rows 1 to 23\n{text}"
        );
    }
}

#[tokio::test]
async fn the_header_says_how_python_strategies_run() {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    for (mode, says) in [
        ("bubblewrap", "py:bwrap"),
        ("unsandboxed", "⚠ py:UNSANDBOXED"),
        ("refused", "py:off"),
        ("a-mode-from-a-newer-server", "⚠ py:?"),
    ] {
        app.sandbox = Some(mode.into());
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
        let text = term.backend().to_string();
        let header = text.lines().next().unwrap();
        assert!(header.contains(says), "{mode}: {header}");
        // the clock shortens, the chip stays
        assert!(header.contains("14:31"), "{header}");
    }
}

/// The strip of one brick size as drawn (`  6pt ███░░…`), its glyphs only.
fn strip(text: &str, label: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label:?} strip:\n{text}"));
    let rest = &line[line.find(label).unwrap() + label.len()..];
    rest.trim_matches(|c: char| c == '"' || c == '│' || c.is_whitespace())
        .to_string()
}

#[tokio::test]
async fn themes_come_from_the_user_dir_and_no_color_forces_monochrome() {
    use brickdesk::tui::theme::Theme;
    use ratatui::style::{Color, Modifier};
    let f = fixture::rich_desk().await;
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("brickdesk").join("themes");
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = include_str!("../../themes/dark.toml");
    let mine = shipped
        .replace("up_glyph = \"█\"", "up_glyph = \"▲\"")
        .replace("down_glyph = \"█\"", "down_glyph = \"▼\"")
        .replace("up = \"#22c55e\"", "up = \"#00ff00\"");
    assert_ne!(mine, shipped);
    std::fs::write(dir.join("dark.toml"), &mine).unwrap();
    std::fs::write(dir.join("amber.toml"), mine.replace("#d8dee9", "#ffbf00")).unwrap();
    std::fs::write(dir.join("broken.toml"), "fg = 1\n").unwrap();
    let es = fixture::snapshot(&f).await;
    let render = |theme: Theme, live: bool| {
        let mut app = brickdesk::tui::app::App::new(theme, "test".into());
        let mut snap = es.clone();
        if live {
            snap.state.env = brickdesk::engine::model::Env::Live;
        }
        app.set_snapshot(snap);
        app.view = brickdesk::tui::app::View::parse("renko");
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
        (term.backend().to_string(), term.backend().buffer().clone())
    };
    // the fixture's 6pt bricks are gggrrgggggrrgg
    let pattern = |up: &str, down: &str| -> String {
        "gggrrgggggrrgg"
            .chars()
            .map(|c| if c == 'g' { up } else { down })
            .collect()
    };

    // the user's dark.toml overrides the shipped dark; amber.toml adds a theme
    let dark = Theme::load_from("dark", false, Some(home.path())).unwrap();
    assert_eq!(dark.up, Color::Rgb(0, 255, 0));
    let (text, _) = render(dark, false);
    assert_eq!(strip(&text, "6pt "), pattern("▲", "▼"), "{text}");
    let amber = Theme::load_from("amber", false, Some(home.path())).unwrap();
    assert_eq!(amber.fg, Color::Rgb(0xff, 0xbf, 0));
    assert_eq!(
        Theme::load_from("light", false, Some(home.path())).unwrap(),
        Theme::embedded("light").unwrap(),
        "a name the user dir lacks is the shipped theme"
    );
    let err = Theme::load_from("broken", false, Some(home.path())).unwrap_err();
    assert!(format!("{err:#}").contains("broken.toml"), "{err:#}");

    // NO_COLOR: monochrome, whatever was asked and whatever the user dir holds
    for asked in ["dark", "amber", "light"] {
        let t = Theme::load_from(asked, true, Some(home.path())).unwrap();
        assert_eq!(t.name, "monochrome", "{asked}");
    }
    let mono = Theme::load_from("dark", true, Some(home.path())).unwrap();
    let (text, buf) = render(mono, true);
    // up and down bricks differ by glyph, and no cell has a color
    assert_eq!(strip(&text, "6pt "), pattern("█", "░"), "{text}");
    for cell in buf.content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    // the LIVE row is reversed from edge to edge
    assert!(text.contains("LIVE — REAL ORDERS"), "{text}");
    for x in 0..80 {
        assert!(
            buf[(x, 0)].modifier.contains(Modifier::REVERSED),
            "column {x} of the LIVE row is not reversed"
        );
    }
}

#[tokio::test]
async fn every_flag_is_visible_at_80x24_and_in_full_when_wide() {
    use brickdesk::engine::model::Env;
    use brickdesk::engine::state::{Mismatch, PositionMismatch};
    let f = fixture::rich_desk().await;
    for (env, theme) in [
        (Env::Demo, "dark"),
        (Env::Live, "dark"),
        (Env::Live, "monochrome"),
    ] {
        for (tab, w) in [(Tab::Desk, 80), (Tab::Research, 80), (Tab::Desk, 160)] {
            let mut app = fixture::app(&f, theme).await;
            let mut snap = app.snapshot.clone().unwrap();
            snap.state.env = env;
            snap.state.flags.position_mismatch = Some(PositionMismatch {
                at: crate::support::start_time(),
                assets: vec![Mismatch {
                    asset: "ES".into(),
                    symbol: "MESM6".into(),
                    engine_position: 5,
                    bridge_position: 0,
                }],
            });
            snap.state.flags.stale_orders = vec!["ord-1".into(), "ord-2".into()];
            snap.state.flags.daily_stop_triggered = true;
            app.set_snapshot(snap);
            app.link_ok = false;
            app.sandbox = Some("unsandboxed".into());
            app.tab = tab;
            let mut term = Terminal::new(TestBackend::new(w, 24)).unwrap();
            term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
            let text = term.backend().to_string();
            let header = text.lines().next().unwrap();
            // each flag in its long or short form (the tabs give way first)
            for flag in [
                "⚠ ES +5≠0",
                "⚠ 2 STALE",
                "⛔ STOP",
                "⚠ LINK",
                "⚠ py:UNSAFE",
                if env == Env::Live { "LIVE" } else { "DEMO" },
            ] {
                let long = flag
                    .replace("ES +5≠0", "ES desk +5 ≠ broker 0")
                    .replace("STOP", "DAILY STOP")
                    .replace("LINK", "LINK DOWN")
                    .replace("UNSAFE", "UNSANDBOXED");
                assert!(
                    header.contains(&long) || (w == 80 && header.contains(flag)),
                    "{env:?} {theme} {tab:?} {w}: no {flag:?} in\n{header}"
                );
            }
            // the selected tab stays named, except in LIVE at 80 columns: the wide banner
            // leaves room for the flags alone
            let crowded = env == Env::Live && w == 80;
            assert_eq!(header.contains(tab.title()), !crowded, "{header}");
            if w == 160 {
                assert!(header.contains("Backtests Research Chat Log"), "{header}");
            }
        }
    }
}
