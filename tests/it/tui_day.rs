//! The day at a glance: a closed trade is kept on the account with its PnL, the Desk's day strip
//! lists it beside the trade-limit slots and the day's curve, and a new trading day clears it.
use crate::support::fixture;
use brickdesk::engine::ExecutionReport;
use brickdesk::engine::command::DeskCommand;
use brickdesk::engine::model::Side;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

#[tokio::test]
async fn a_closed_trade_shows_in_the_day_strip_with_its_pnl_until_the_day_rolls() {
    let f = fixture::rich_desk().await;
    // ES long 5 @ 5250 closes at 5256: 6 points × 5 × $5
    f.engine
        .call(|e| {
            e.execute(DeskCommand::Exit {
                asset: "ES".into(),
                force: true,
            })?;
            let id = e.claim_pending(5, "bridge")?[0].id.clone();
            let filled = ExecutionReport {
                status: "FILLED".into(),
                fill_price: Some(5256.0),
                ..Default::default()
            };
            e.execution_report(&id, filled)
        })
        .await
        .unwrap();
    let account = f.engine.snapshot().account.clone();
    let [trade] = account.trades_today.as_slice() else {
        panic!("one closed trade: {:?}", account.trades_today);
    };
    assert_eq!(
        (trade.asset.as_str(), trade.side, trade.qty),
        ("ES", Side::Buy, 5)
    );
    assert_eq!(
        (trade.entry_price, trade.exit_price, trade.pnl),
        (5250.0, 5256.0, 150.0)
    );
    assert_eq!(account.realized_today, 150.0);

    let app = fixture::app(&f, "dark").await;
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
    let text = term.backend().to_string();
    for needle in [
        "14:31 ES ▲5 5250.00→5256.00 +150.00",
        "trades ■□□□□□ 1/6  day +150.00",
    ] {
        assert!(text.contains(needle), "no {needle:?}:\n{text}");
    }
    // the curve: 0, then +150 after the trade, then now: its last two bars stand full height
    let buf = term.backend().buffer();
    let strip = text.lines().position(|l| l.contains("trades ■")).unwrap() as u16;
    let x = (0..160).find(|x| buf[(*x, strip)].symbol() == "■").unwrap();
    let left = x - "trades ".len() as u16;
    let bars: String = (left..left + 3)
        .map(|x| buf[(x, strip + 2)].symbol().to_string())
        .collect();
    assert_eq!(bars, " ██", "{text}");

    // the gauge shows the engine's measure of the daily stop used
    let mut app = app;
    app.snapshot.as_mut().unwrap().state.account.daily_stop_used = Some(0.42);
    term.draw(|fr| brickdesk::tui::ui::draw(fr, &app)).unwrap();
    let text = term.backend().to_string();
    assert!(text.contains("stop ■■■■□□□□□□ 42% used"), "{text}");

    // the next trading day starts with none
    f.clock.advance_secs(24 * 3600);
    f.engine
        .call(|e| {
            e.heartbeat(brickdesk::engine::HeartbeatInput {
                asset: "ES".into(),
                price: 5256.0,
                timestamp: None,
            })
            .map(|_| ())
        })
        .await
        .unwrap();
    let account = f.engine.snapshot().account.clone();
    assert!(
        account.trades_today.is_empty(),
        "{:?}",
        account.trades_today
    );
    assert_eq!(account.realized_today, 0.0);
}
