//! Whole-frame snapshots of the Desk on a `TestBackend`: 80×24 and 160×48, dark and light, with
//! a position, armed exits, an active candle lock and a refusal in the status line. The debug
//! form of the buffer records every cell's style, so a theme change shows up here.
use crate::support::fixture;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

async fn render(theme: &str, w: u16, h: u16) -> (String, ratatui::buffer::Buffer) {
    let f = fixture::rich_desk().await;
    let app = fixture::app(&f, theme).await;
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
    (term.backend().to_string(), term.backend().buffer().clone())
}

#[tokio::test]
async fn desk_80x24_and_160x48_in_dark_and_light() {
    for theme in ["dark", "light"] {
        for (w, h) in [(80, 24), (160, 48)] {
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
    let f = fixture::rich_desk().await;
    for (view, needle) in [
        ("renko", "6pt staircase"),
        ("positions", "LONG 5"),
        ("orders", "ENTRY"),
        ("log", "position opened BUY 5 @ 5250"),
        ("desk", "ES MESM6 · desk"),
    ] {
        let mut app = fixture::app(&f, "monochrome").await;
        app.view = brickdesk::tui::app::View::parse(view);
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
        let text = term.backend().to_string();
        assert!(text.contains(needle), "{view} lacks {needle:?}:\n{text}");
        assert!(
            !text.contains("Backtests"),
            "{view}: no tab bar in a single-pane view"
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
