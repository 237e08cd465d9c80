//! Values no market or bridge sends: absurd prices, PnL that would overflow the day's sum, a
//! megabyte bar id, a jump the price source would build thousands of bricks for. Each is
//! refused with a 4xx and changes nothing, and the daily stop still works afterwards.
use crate::support::*;
use brickdesk::engine::model::{AssetConfig, BrickSource};
use brickdesk::engine::state::DeskSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn absurd_values_get_a_4xx_and_change_nothing() {
    let d = TestDesk::start().await;
    d.heartbeat("ES", 5000.0).await;
    d.open_position("ES", "BUY", 5000.0).await;
    let before = d.state_without_clock().await;
    let (_, events_before) = d.get("/api/events?limit=1000").await;
    let mb = "x".repeat(1_000_000);
    let snapshot = |realized: Value, unrealized: Value| {
        json!({ "secret": BRIDGE, "realized": realized, "unrealized": unrealized,
                "accountBalance": 50000.0, "symbols": [{ "symbol": "MESM6", "position": 5, "openPnl": 0.0 }] })
    };
    let cases: Vec<(&str, &str, Value, StatusCode, &str)> = vec![
        (
            "price 1e12 after 5000",
            "/tv_heartbeat",
            json!({ "secret": TV, "symbol": "ES", "price": 1e12 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a plausible price",
        ),
        (
            "price 1e308",
            "/tv_heartbeat",
            json!({ "secret": TV, "symbol": "ES", "price": 1e308 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a plausible price",
        ),
        (
            "price 1.2e29 as text",
            "/tv_heartbeat",
            json!({ "secret": TV, "symbol": "ES", "price": "1.2e29" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a plausible price",
        ),
        (
            "price 30 % off the last",
            "/tv_heartbeat",
            json!({ "secret": TV, "symbol": "ES", "price": 6500.0 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "band",
        ),
        (
            "first price of an asset at 1e308",
            "/tv_heartbeat",
            json!({ "secret": TV, "symbol": "NQ", "price": 1e308 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a plausible price",
        ),
        (
            "realized 1e308",
            "/api/rithmic/pnl-snapshot",
            snapshot(json!(1e308), json!(0.0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "realized",
        ),
        (
            "PnL summing to infinity",
            "/api/rithmic/pnl-snapshot",
            snapshot(json!(1.7e308), json!(1.7e308)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "beyond",
        ),
        (
            "account balance -1e308",
            "/api/rithmic/pnl-snapshot",
            json!({ "secret": BRIDGE, "realized": 0.0, "unrealized": 0.0, "accountBalance": -1e308 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "account_balance",
        ),
        (
            "a 1 MB bar_id",
            "/tv_renko_main",
            json!({ "secret": TV, "asset": "ES", "color": "green", "bar_id": mb }),
            StatusCode::BAD_REQUEST,
            "bar_id is 1000000 bytes",
        ),
        (
            "a 1 MB asset",
            "/tv_renko_main",
            json!({ "secret": TV, "asset": mb, "color": "green", "bar_id": "b1" }),
            StatusCode::BAD_REQUEST,
            "asset is 1000000 bytes",
        ),
    ];
    for (what, path, body, code, says) in cases {
        let resp = d.anon.post(d.url(path)).json(&body).send().await.unwrap();
        let (c, b) = read(resp).await;
        assert_eq!(c, code, "{what}: {b}");
        let msg = b["error"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{what}: {b}");
        assert!(
            msg.len() < 400,
            "{what}: the refusal echoes the value ({} bytes)",
            msg.len()
        );
    }
    // an entry on an asset whose only price was refused: nothing to trade on
    let (c, b) = d.entry(json!({ "asset": "NQ" })).await;
    assert!(c.is_client_error(), "{b}");
    assert_eq!(d.state_without_clock().await, before, "nothing changed");
    let (_, events) = d.get("/api/events?limit=1000").await;
    let logged: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !events_before["events"].as_array().unwrap().contains(e))
        .collect();
    assert!(
        logged.iter().any(|e| e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("price refused")),
        "out-of-band ticks are logged: {logged:?}"
    );
    // the daily stop still triggers on a real loss: a 32 % drawdown of the day's balance
    for balance in [50_000.0, 34_000.0] {
        let (c, b) = d
            .post_anon(
                "/api/rithmic/pnl-snapshot",
                json!({ "secret": BRIDGE, "realized": -600.0, "unrealized": 0.0, "accountBalance": balance }),
            )
            .await;
        assert_eq!(c, StatusCode::OK, "{b}");
    }
    assert_eq!(d.state().await["account"]["daily_stop_triggered"], true);
}

#[tokio::test]
async fn a_fill_far_from_the_market_is_refused_and_the_order_waits() {
    let d = TestDesk::start().await;
    d.make_ready("ES", "green", 5000.0).await;
    let (c, b) = d.entry(json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::CREATED, "{b}");
    let claimed = d.poll().await;
    let id = claimed[0]["id"].as_str().unwrap();
    // the bridge cannot fill it far from the market, nor at a price that is no price
    let far = StatusCode::UNPROCESSABLE_ENTITY;
    let bad = StatusCode::BAD_REQUEST;
    for (price, code) in [
        (1e12, far),
        (1e308, far),
        (9000.0, far),
        (-5.0, bad),
        (0.0, bad),
    ] {
        let (c, b) = d
            .report(
                id,
                json!({ "status": "FILLED", "extra": { "fill_price": price } }),
            )
            .await;
        assert_eq!(c, code, "{price}: {b}");
    }
    let order = &d.orders("ES").await[0];
    assert_eq!(order["status"], "CLAIMED");
    // nor can the operator, resolving it by hand: refused, nothing changed, logged
    for (price, code) in [(1e12, far), (9000.0, far), (-5.0, bad)] {
        let body =
            json!({ "order_id": id, "action": "filled", "fill_price": price, "confirm": true });
        d.refused("/api/orders/resolve", body, code).await;
    }
    assert!(d.logged("ES fill_price refused").await);
    assert!(d.logged("ES extra.fill_price refused").await);
    let (c, b) = d
        .report(
            id,
            json!({ "status": "FILLED", "extra": { "fill_price": 5001.0 } }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn a_price_source_jump_builds_a_bounded_number_of_bricks() {
    let mut assets = AssetConfig::defaults();
    assets[0].source = BrickSource::Price;
    let d = TestDesk::start_with(assets, DeskSettings::default()).await;
    d.heartbeat("ES", 5000.0).await;
    // 18 %: inside the band, 900 one-point bricks' worth
    let b = d.heartbeat("ES", 5900.0).await;
    let ones = b["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["size"] == "one")
        .count();
    assert_eq!(ones, 50);
    let s = d.asset("ES").await;
    assert_eq!(
        s["bricks"]["one"]["close"], 5900.0,
        "the builder ends where the price is"
    );
    assert!(d.logged("only the last 50").await);
}
