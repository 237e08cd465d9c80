//! The console's Backtests tab on a `TestBackend`, in-process and attached to a server: the list,
//! the equity chart over its shaded drawdown, the trades, and the selected trade's reasoning;
//! `↓` and `j` move the selections.
use crate::backtests::{backtest, llm_backtest_with_ollama_down, walk_dataset};
use crate::support::*;
use brickdesk::tui::app::{App, Tab};
use brickdesk::tui::link::{Link, Remote};
use brickdesk::tui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

/// The app on the Backtests tab after its fetches (the list, then the selected backtest).
async fn console(link: &Link) -> App {
    let mut app = App::new(Theme::embedded("dark").unwrap(), "test".into());
    app.tab = Tab::Backtests;
    for _ in 0..2 {
        let snap = link.fetch(app.runs_wanted()).await.unwrap();
        app.set_snapshot(snap);
    }
    app
}

fn screen(app: &App, w: u16, h: u16) -> (String, ratatui::buffer::Buffer) {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| brickdesk::tui::ui::draw(f, app)).unwrap();
    (term.backend().to_string(), term.backend().buffer().clone())
}

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

#[tokio::test]
async fn the_backtests_tab_shows_the_list_the_curve_the_trades_and_their_reasoning() {
    let d = TestDesk::start().await;
    walk_dataset(&d, "walk", 400, 3).await;
    let run = |fast: i64| json!({ "strategy_name": "sma_cross", "symbols": ["walk"], "strategy_params": { "fast": fast, "slow": 20 } });
    backtest(&d, run(5)).await;
    let newest = backtest(&d, run(8)).await;
    let fills = newest["orders"].as_array().unwrap();

    let local = Link::local(d.engine.clone()).unwrap();
    let remote = Link::Remote(Remote::connect(&d.base, Some(PASSWORD)).await.unwrap());
    let mut texts = Vec::new();
    for link in [&local, &remote] {
        let mut app = console(link).await;
        for (w, h) in [(80, 24), (160, 48)] {
            let (text, buf) = screen(&app, w, h);
            for needle in [
                "backtests (2)",
                "#2",
                "#1",
                "sma_cross",
                "WALK",
                " equity ",
                "· final ",
                "drawdown · max",
                "orders (",
                "reasoning",
                "SMA(8) crossed above SMA(20)",
            ] {
                assert!(text.contains(needle), "{w}x{h} lacks {needle:?}:\n{text}");
            }
            // the drawdown is shaded: bar cells in the theme's down color under the chart
            let down = app.theme.down().fg;
            let shaded = buf
                .content()
                .iter()
                .filter(|c| c.fg == down.unwrap() && ["█", "▀", "▄"].contains(&c.symbol()))
                .count();
            assert!(shaded > 10, "{w}x{h}: {shaded} shaded cells");
            // the chart's title drops a part that does not fit, never cuts one in half
            if let Some(at) = text.find("Sharpe") {
                let next = text[at + "Sharpe".len()..].chars().nth(1).unwrap();
                assert!(
                    next.is_ascii_digit() || next == '-' || next == '—',
                    "{w}x{h}: {text}"
                );
            }
            assert_eq!(text.contains("Sharpe"), w >= 160, "{w}x{h}: {text}");
            texts.push(text);
        }
        // ↑ at the top and k at the first trade stay where they are
        key(&mut app, KeyCode::Up);
        key(&mut app, KeyCode::Char('k'));
        assert_eq!((app.backtest_index, app.trade_index), (0, 0));
        // the next trade's reasoning
        key(&mut app, KeyCode::Char('j'));
        let (text, _) = screen(&app, 160, 48);
        let second = fills[1]["reasoning"].as_str().unwrap();
        assert!(second.contains("crossed below"), "{second}");
        assert!(text.contains("SMA(8) crossed below SMA(20)"), "{text}");
        // the older backtest: fetched once selected
        key(&mut app, KeyCode::Down);
        let snap = link.fetch(app.runs_wanted()).await.unwrap();
        app.set_snapshot(snap);
        let (text, _) = screen(&app, 160, 48);
        assert!(text.contains("SMA(5) crossed above SMA(20)"), "{text}");
        // ↓ at the end, and j past the last trade, stay there
        key(&mut app, KeyCode::Down);
        assert_eq!(app.backtest_index, 1);
        let n = app.backtest.as_ref().unwrap()["trades"]
            .as_array()
            .unwrap()
            .len();
        for _ in 0..n + 3 {
            key(&mut app, KeyCode::Char('j'));
        }
        assert_eq!(app.trade_index, n - 1);
    }
    // in-process or attached, the same screen (the list's "run at" column aside, it is the same row)
    assert_eq!(texts[0], texts[2], "80x24 local vs attached");
    assert_eq!(texts[1], texts[3], "160x48 local vs attached");
}

#[tokio::test]
async fn the_selection_follows_its_backtest_when_a_newer_one_arrives() {
    let d = TestDesk::start().await;
    walk_dataset(&d, "walk", 300, 4).await;
    let run = |fast: i64| json!({ "strategy_name": "sma_cross", "symbols": ["walk"], "strategy_params": { "fast": fast, "slow": 20 } });
    // an empty list first: the tab says how to make one
    let link = Link::local(d.engine.clone()).unwrap();
    let app = console(&link).await;
    let (text, _) = screen(&app, 80, 24);
    assert!(text.contains("No backtests yet."), "{text}");
    backtest(&d, run(5)).await;
    backtest(&d, run(8)).await;
    let mut app = console(&link).await;
    key(&mut app, KeyCode::Down);
    let snap = link.fetch(app.runs_wanted()).await.unwrap();
    app.set_snapshot(snap);
    assert_eq!(app.selected_backtest().unwrap().id, 1);
    // a third lands on top: the selection stays on #1, its detail is not fetched again
    backtest(&d, run(12)).await;
    let snap = link.fetch(app.runs_wanted()).await.unwrap();
    app.set_snapshot(snap);
    assert_eq!(
        (app.backtest_index, app.selected_backtest().unwrap().id),
        (2, 1)
    );
    assert_eq!(
        app.runs_wanted().backtest,
        None,
        "#1's detail is still the one shown"
    );
    let (text, _) = screen(&app, 160, 48);
    assert!(
        text.contains("backtests (3)") && text.contains("SMA(5) crossed above SMA(20)"),
        "{text}"
    );
}

#[tokio::test]
async fn at_80x24_an_llm_fallback_shows_the_whole_reasoning_and_the_note_where_it_adds() {
    // every decision falls back; the walk's run ends holding a position (closed at the end of
    // the data)
    let (d, r) = llm_backtest_with_ollama_down(1).await;
    let fills = r["orders"].as_array().unwrap();
    let (_, list) = d.get("/api/backtests").await;
    let note = list[0]["note"].as_str().unwrap().to_string();
    let link = Link::local(d.engine.clone()).unwrap();
    let mut app = console(&link).await;
    let flat = |text: &str| {
        text.replace(['│', '"'], " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cause = note.split("; ").next().unwrap();
    let mut noted = 0;
    for (k, fill) in fills.iter().enumerate() {
        assert_eq!(app.trade_index, k);
        let why = fill["reasoning"].as_str().unwrap();
        let (text, _) = screen(&app, 80, 24);
        // every word of it, to the last
        assert!(
            flat(&text).contains(&flat(why)),
            "trade {k} lacks {why:?}:\n{text}"
        );
        if why.starts_with(cause) {
            // a fallback decision says the cause itself: the note would push it off the pane
            assert!(!text.contains("from then on"), "{text}");
        } else {
            // the position closed at the end of the data is no decision: the note says the
            // run's way
            assert!(flat(&text).contains(&flat(&note)), "{text}");
            noted += 1;
        }
        key(&mut app, KeyCode::Char('j'));
    }
    assert!(fills[0]["reasoning"].as_str().unwrap().starts_with(cause));
    assert_eq!(noted, 1, "the last trade closes at the end of the data");
}
