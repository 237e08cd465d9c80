//! Seed 001's senders as they really send (CONTRACTS.md): the original TradingView alert message,
//! a bridge that reports FILLED straight after claiming (and repeats itself), and the operator
//! settling an order the bridge left behind, from the route and from the console.
use crate::support::*;
use brickdesk::engine::command::DeskCommand;
use brickdesk::tui::app::{App, Effect, Modal};
use brickdesk::tui::link::Link;
use brickdesk::tui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// TradingView posts the alert message as text/plain.
async fn alert(d: &TestDesk, path: &str, message: String) -> (StatusCode, Value) {
    read(
        d.anon
            .post(d.url(path))
            .header("content-type", "text/plain; charset=utf-8")
            .body(message)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn the_original_alert_message_feeds_every_brick_route() {
    let d = TestDesk::start().await;
    // the deployment guide's message, as TradingView fills it in: {{ticker}} with its exchange
    // prefix, {{plot_0}} a number, {{time}} a timestamp
    for (i, (path, size)) in BRICK_ROUTES.iter().enumerate() {
        let msg = format!(
            r#"{{"secret": "{TV}", "asset": "CME_MINI:MES1!", "color": "1.0", "bar_ts": "2026-03-10T14:3{i}:00Z"}}"#
        );
        let (c, b) = alert(&d, path, msg).await;
        assert_eq!(c, StatusCode::OK, "{path}: {b}");
        assert_eq!(b["asset"], "ES", "{path}: {b}");
        assert_eq!(b["size"], *size, "{path}");
        assert_eq!(b["color"], "neutral", "{path}");
        // a neutral 8pt/12pt brick leaves no zone, a neutral 2.5pt brick holds the 2.5pt lock;
        // the other sizes are logged, not applied
        let applied = matches!(*size, "high" | "macro" | "two_half");
        assert_eq!(b["applied"], applied, "{path}: {b}");
        assert_eq!(b["duplicate_check"], true, "bar_ts is the bar key");
    }
    assert_eq!(d.asset("ES").await["zone"], "NONE", "neutral 8pt and 12pt");
    let (_, ev) = d.get("/api/events?limit=20").await;
    let neutral: Vec<&Value> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message"].as_str().unwrap().starts_with("neutral"))
        .collect();
    assert_eq!(neutral.len(), 7, "each neutral alert is in the log: {ev}");
    assert_eq!(neutral[0]["asset"], "ES");
    assert!(neutral[0]["message"].as_str().unwrap().contains("\"1.0\""));

    // with a color the alert moves the desk, keyed by bar_ts; a retry is a duplicate
    for (i, (path, size)) in BRICK_ROUTES.iter().enumerate() {
        let msg = format!(
            r#"{{"secret": "{TV}", "asset": "CME_MINI:MNQ1!", "color": "green", "bar_ts": "1741617{i}00", "plot_1": 3}}"#
        );
        let (c, b) = alert(&d, path, msg.clone()).await;
        assert_eq!(c, StatusCode::OK, "{path}: {b}");
        assert_eq!(
            (b["asset"].as_str(), b["size"].as_str()),
            (Some("NQ"), Some(*size))
        );
        assert_eq!(b["applied"], true, "{b}");
        assert_eq!(b["brick"]["bar_id"], format!("1741617{i}00"));
        let nq = d.asset("NQ").await;
        assert_eq!(nq["bricks"][size]["color"], "green", "{path}");
        let (_, again) = alert(&d, path, msg).await;
        assert_eq!(again["duplicate"], true, "{path}");
    }

    // no bar key: accepted, and the answer says a retry cannot be recognised
    let (c, b) = alert(
        &d,
        "/tv_renko_main",
        format!(r#"{{"secret": "{TV}", "symbol": "es1!", "color": "red"}}"#),
    )
    .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(
        (b["asset"].as_str(), b["applied"].as_bool()),
        (Some("ES"), Some(true))
    );
    assert_eq!(b["duplicate_check"], false);
    assert!(
        b["note"].as_str().unwrap().contains("no bar_id or bar_ts"),
        "{b}"
    );
    assert_eq!(d.asset("ES").await["bricks"]["main"]["color"], "red");

    // the price heartbeat: numeric text, an exchange-prefixed ticker, fields it does not know
    let (c, b) = alert(
        &d,
        "/tv_heartbeat",
        format!(r#"{{"secret": "{TV}", "symbol": "CME_MINI:MES1!", "price": "5250.25", "interval": "1"}}"#),
    )
    .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(d.asset("ES").await["last_price"], 5250.25);
}

#[tokio::test]
async fn an_alert_that_sends_its_close_puts_the_brick_at_its_price_and_a_bad_close_is_left_out() {
    let d = TestDesk::start().await;
    d.heartbeat("ES", 5250.0).await;
    // `"close": "{{close}}"` added to the guide's message: TradingView fills in numeric text
    let msg = format!(
        r#"{{"secret": "{TV}", "asset": "CME_MINI:MES1!", "color": "red", "bar_ts": "t1", "close": "5244.00"}}"#
    );
    let (c, b) = alert(&d, "/tv_renko_main", msg).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(
        (b["brick"]["open"].as_f64(), b["brick"]["close"].as_f64()),
        (Some(5250.0), Some(5244.0)),
        "{b}"
    );
    let (_, history) = d.get("/api/bricks?asset=ES&limit=5").await;
    assert_eq!(history["bricks"]["main"][0]["open"], 5250.0, "{history}");
    // without it, as before: no price
    let b = d.brick("/tv_renko_main", "ES", "green", "t2").await;
    assert_eq!(
        (b["brick"]["open"].clone(), b["brick"]["close"].clone()),
        (Value::Null, Value::Null),
        "{b}"
    );
    // a close that is not a number, or not a plausible price, is left out and said so: the
    // brick itself still counts (a mistyped placeholder must not blind the desk); blank is none
    for (i, close) in [json!("{{close}}"), json!(-3), json!(9000.0), json!(" ")]
        .into_iter()
        .enumerate()
    {
        let body = json!({ "secret": TV, "asset": "ES", "color": "green", "bar_ts": format!("bad-{i}"), "close": close });
        let (c, b) = d.post_anon("/tv_renko_main", body).await;
        assert_eq!(c, StatusCode::OK, "close {close}: {b}");
        assert_eq!(
            (b["applied"].as_bool(), &b["brick"]["close"]),
            (Some(true), &Value::Null),
            "{b}"
        );
        let note = b["note"].as_str().unwrap_or_default();
        assert_eq!(note.contains("left out"), i < 3, "close {close}: {b}");
    }
    // a JSON type no alert produces is refused like any other field's (400), and stores nothing
    let body = json!({ "secret": TV, "asset": "ES", "color": "green", "bar_ts": "bad-bool", "close": true });
    let (c, b) = d.post_anon("/tv_renko_main", body).await;
    assert_eq!(c, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["error"].as_str().unwrap().contains("close"), "{b}");
    let (_, after) = d.get("/api/bricks?asset=ES&limit=10").await;
    assert_eq!(
        after["bricks"]["main"].as_array().unwrap().len(),
        6,
        "{after}"
    );
    let (_, ev) = d.get("/api/events?limit=10").await;
    let left_out = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message"].as_str().unwrap().contains("left out"))
        .count();
    assert_eq!(left_out, 3, "each in the log: {ev}");
}

#[tokio::test]
async fn configured_aliases_map_a_ticker_to_an_asset() {
    let mut assets = brickdesk::engine::model::AssetConfig::defaults();
    assets[0].aliases = vec!["SPX_FUT".into()];
    let d = TestDesk::start_with(assets, Default::default()).await;
    let b = d.brick("/tv_renko_high", "CBOE:spx_fut", "red", "a1").await;
    assert_eq!(b["asset"], "ES");
    let (c, b) = d
        .post_anon(
            "/tv_renko_high",
            json!({ "secret": TV, "asset": "CME_MINI:CL1!", "color": "red", "bar_ts": "a2" }),
        )
        .await;
    assert_eq!(c, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["error"].as_str().unwrap().contains("unknown asset"));
}

#[tokio::test]
async fn a_bridge_reports_filled_straight_after_claiming_and_repeats_itself() {
    let d = TestDesk::start().await;
    d.make_ready("ES", "green", 5000.0).await;
    let (c, b) = d.entry(json!({ "asset": "ES", "some_new_field": 1 })).await;
    assert_eq!(c, StatusCode::CREATED, "unknown fields are ignored: {b}");
    let claimed = d.poll().await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["mode"], "A");
    let id = claimed[0]["id"].as_str().unwrap();
    let fill = json!({ "status": "FILLED", "extra": { "fill_price": 5000.25, "symbol": "MESM6", "side": "BUY", "qty": 5 } });
    let (c, b) = d.report(id, fill.clone()).await;
    assert_eq!(c, StatusCode::OK, "CLAIMED → FILLED without WORKING: {b}");
    assert_eq!(b["order"]["status"], "FILLED");
    let state = d.state_without_clock().await;
    let (_, events) = d.get("/api/events?limit=1000").await;
    // the bridge lost our answer and sends the same report again
    let (c, b) = d.report(id, fill).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["status"], "FILLED");
    assert_eq!(
        d.state_without_clock().await,
        state,
        "the repeat changed nothing"
    );
    let (_, after) = d.get("/api/events?limit=1000").await;
    assert_eq!(after, events, "and logged nothing");
    let es = d.asset("ES").await;
    assert_eq!(es["position"]["qty"], 5, "the position opened once: {es}");
    assert_eq!(es["position"]["avg_price"], 5000.25);
    // the same status with another price is a conflict, refused and logged
    let (c, b) = d
        .report(
            id,
            json!({ "status": "FILLED", "extra": { "fill_price": 5001.0 } }),
        )
        .await;
    assert_eq!(c, StatusCode::CONFLICT, "{b}");
    assert_eq!(d.asset("ES").await["position"]["qty"], 5);

    // REJECTED and CANCELLED straight after claiming free the asset
    for outcome in ["REJECTED", "CANCELLED"] {
        d.make_ready("NQ", "green", 20000.0).await;
        d.advance(400).await; // past the candle lock of the previous entry
        let (c, b) = d.entry(json!({ "asset": "NQ" })).await;
        assert_eq!(c, StatusCode::CREATED, "{b}");
        let id = d.poll().await[0]["id"].as_str().unwrap().to_string();
        let (c, b) = d.report(&id, json!({ "status": outcome })).await;
        assert_eq!(
            (c, b["order"]["status"].as_str()),
            (StatusCode::OK, Some(outcome))
        );
        let (c, _) = d.report(&id, json!({ "status": outcome })).await;
        assert_eq!(c, StatusCode::OK, "repeated {outcome}");
        assert!(d.asset("NQ").await["pending_order"].is_null());
    }
}

/// An entry on `asset`, claimed by the bridge and never reported: stale after 30 s.
async fn stale_order(d: &TestDesk, asset: &str, price: f64) -> String {
    d.make_ready(asset, "green", price).await;
    let (c, b) = d.entry(json!({ "asset": asset })).await;
    assert_eq!(c, StatusCode::CREATED, "{b}");
    let id = d.poll().await[0]["id"].as_str().unwrap().to_string();
    d.advance(31).await;
    let s = d.state().await;
    assert!(
        s["flags"]["stale_orders"]
            .as_array()
            .unwrap()
            .contains(&json!(id)),
        "{}",
        s["flags"]
    );
    id
}

#[tokio::test]
async fn a_stale_order_is_resolved_from_the_route() {
    let d = TestDesk::start().await;
    let id = stale_order(&d, "ES", 5000.0).await;
    d.advance(300).await; // past the candle lock
    let (c, b) = d.entry(json!({ "asset": "ES" })).await;
    assert_eq!(
        (c, b["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("Pending order already exists")),
        "the stale order blocks its asset: {b}"
    );
    let (c, b) = d
        .post(
            "/api/orders/resolve",
            json!({ "order_id": id, "action": "cancel", "confirm": true }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["status"], "CANCELLED");
    let s = d.state().await;
    assert_eq!(s["flags"]["stale_orders"], json!([]));
    assert!(
        s["assets"][0]["pending_order"].is_null(),
        "{}",
        s["assets"][0]
    );
    // the cancelled entry gives back its tempo token (the candle went by 300 s ago)
    assert_eq!(s["assets"][0]["tempo_token"], "READY");
    let (_, ev) = d.get("/api/events?limit=5").await;
    let events = ev["events"].as_array().unwrap();
    let last = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "resolve")
        .unwrap();
    let line = last["message"].as_str().unwrap();
    assert!(
        line.contains(&id)
            && line.contains("CANCELLED")
            && line.contains("resolved by the operator (was CLAIMED, stale)"),
        "{line}"
    );
    assert_eq!(last["kind"], "resolve");
    // the asset is free again: a new entry passes the pending-order gate
    d.make_ready("ES", "green", 5000.0).await;
    let (c, b) = d.entry(json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::CREATED, "{b}");
    // a late report for the resolved order is refused and changes nothing
    let (c, _) = d
        .report(
            &id,
            json!({ "status": "FILLED", "extra": { "fill_price": 5000.0 } }),
        )
        .await;
    assert_eq!(c, StatusCode::CONFLICT);
    // resolving twice is a conflict
    let (c, _) = d
        .post(
            "/api/orders/resolve",
            json!({ "order_id": id, "action": "cancel", "confirm": true }),
        )
        .await;
    assert_eq!(c, StatusCode::CONFLICT);
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[tokio::test]
async fn a_stale_order_is_resolved_from_the_console() {
    let d = TestDesk::start().await;
    let id = stale_order(&d, "ES", 5000.0).await;
    let link = Link::local(d.engine.clone()).unwrap();
    let mut app = App::new(Theme::embedded("dark").unwrap(), "test".into());
    app.set_snapshot(link.fetch(Default::default()).await.unwrap());
    // `O` opens the resolve prompt for ES's stuck order, the last price filled in
    assert_eq!(app.on_key(key('O')), Effect::None);
    match &app.modal {
        Some(Modal::Resolve {
            order_id,
            summary,
            price,
        }) => {
            assert_eq!(order_id, &id);
            assert!(summary.contains("CLAIMED, stale"), "{summary}");
            assert_eq!(price, "5000");
        }
        other => panic!("{other:?}"),
    }
    // the price is edited, `f` asks, `n` cancels, nothing sent
    app.on_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
    app.on_key(key('1'));
    assert_eq!(app.on_key(key('f')), Effect::None);
    assert!(
        matches!(app.modal, Some(Modal::Confirm { .. })),
        "f asks first"
    );
    assert_eq!(app.on_key(key('n')), Effect::None);
    // again, and confirmed: filled at 5001
    app.on_key(key('O'));
    app.on_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
    app.on_key(key('1'));
    app.on_key(key('f'));
    let Effect::Send(cmd) = app.on_key(key('y')) else {
        panic!("y sends");
    };
    assert_eq!(
        cmd,
        DeskCommand::ResolveOrder {
            order_id: id.clone(),
            action: brickdesk::engine::Resolution::Filled,
            fill_price: Some(5001.0),
            confirm: true,
        }
    );
    let status = link.send(cmd).await.unwrap();
    assert!(status.contains("resolved: FILLED @ 5001"), "{status}");
    let es = d.asset("ES").await;
    assert_eq!(es["position"]["qty"], 5, "{es}");
    assert_eq!(es["position"]["avg_price"], 5001.0);
    assert!(es["pending_order"].is_null());
    let (_, ev) = d.get("/api/events?limit=5").await;
    let lines: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&id) && l.contains("FILLED @ 5001 — resolved by the operator")),
        "{lines:?}"
    );
    // with nothing stuck, `O` says so
    app.set_snapshot(link.fetch(Default::default()).await.unwrap());
    app.on_key(key('O'));
    assert!(app.modal.is_none());
    let status = app.status.clone().unwrap().text;
    assert!(
        status.contains("no CLAIMED or WORKING order on ES"),
        "{status}"
    );
}
