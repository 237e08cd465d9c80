//! Bridge and webhook behaviour over real HTTP: duplicate bricks, the order status machine,
//! stale flags, position mismatch, price-built bricks, and a restart resuming the exact state.
use crate::support::*;
use brickdesk::engine::model::{AssetConfig, BrickSource};
use brickdesk::engine::state::DeskSettings;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn every_brick_route_feeds_its_size_and_duplicates_change_nothing() {
    let d = TestDesk::start().await;
    for (i, (path, size)) in BRICK_ROUTES.iter().enumerate() {
        let b = d
            .brick(path, "ES", "green", &format!("2024-01-15T14:3{i}:00"))
            .await;
        assert_eq!(b["duplicate"], false);
        assert_eq!(b["brick"]["size"], *size);
        let s = d.asset("ES").await;
        assert_eq!(
            s["bricks"][size]["bar_id"],
            format!("2024-01-15T14:3{i}:00"),
            "{path}"
        );
    }
    let before = d.state_without_clock().await;
    let (_, ev_before) = d.get("/api/events?limit=1000").await;
    // TradingView retries: same (asset, size, bar_id), even with another color
    let b = d
        .brick("/tv_renko_main", "ES", "red", "2024-01-15T14:34:00")
        .await;
    assert_eq!(b["duplicate"], true);
    assert!(b["orders"].as_array().unwrap().is_empty());
    assert_eq!(d.state_without_clock().await, before);
    let (_, ev_after) = d.get("/api/events?limit=1000").await;
    assert_eq!(ev_before, ev_after, "a duplicate logs nothing");
    // same bar_id on another size or asset is not a duplicate; numeric bar ids are accepted
    let b = d
        .brick("/tv_renko_high", "ES", "red", "2024-01-15T14:34:00")
        .await;
    assert_eq!(b["duplicate"], false);
    let b = d
        .brick("/tv_renko_main", "NQ", "red", "2024-01-15T14:34:00")
        .await;
    assert_eq!(b["duplicate"], false);
    let (c, b) = d
        .post_anon(
            "/tv_renko_main",
            json!({ "secret": TV, "asset": "ES", "color": "GREEN", "bar_id": 1705329120 }),
        )
        .await;
    assert_eq!(
        (c, &b["brick"]["bar_id"]),
        (StatusCode::OK, &json!("1705329120"))
    );
    // zone follows high and macro
    let s = d.asset("ES").await;
    assert_eq!(
        (s["zone"].as_str(), s["structural_direction"].as_str()),
        (Some("FREE"), None)
    );
    d.brick("/tv_renko_macro", "ES", "red", "z1").await;
    let s = d.asset("ES").await;
    assert_eq!(
        (s["zone"].as_str(), s["structural_direction"].as_str()),
        (Some("NORMAL"), Some("SELL"))
    );
}

#[tokio::test]
async fn webhook_bodies_are_json_whatever_the_content_type() {
    let d = TestDesk::start().await;
    let body =
        format!(r#"{{"secret":"{TV}","symbol":"ES","price":5250.25,"timestamp":1705329120}}"#);
    let (c, b) = read(
        d.anon
            .post(d.url("/tv_heartbeat"))
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    let s = d.asset("ES").await;
    assert_eq!(s["last_price"], 5250.25);
    assert_eq!(s["heartbeat_fresh"], true);
    assert_eq!(s["heartbeat_age_secs"], 0);
}

#[tokio::test]
async fn order_status_machine_refuses_illegal_transitions_with_409() {
    let d = TestDesk::start().await;
    d.make_ready("ES", "green", 5000.0).await;
    let (_, b) = d.entry(json!({ "asset": "ES" })).await;
    let id = b["order"]["id"].as_str().unwrap().to_string();
    // PENDING → FILLED / WORKING are not allowed: it must be claimed first
    for status in ["FILLED", "WORKING"] {
        let (c, b) = d
            .report(
                &id,
                json!({ "status": status, "extra": { "fill_price": 5000.0 } }),
            )
            .await;
        assert_eq!(c, StatusCode::CONFLICT, "{status}");
        assert_eq!(
            b["error"],
            format!("illegal order transition PENDING → {status}")
        );
    }
    let claimed = d.poll().await;
    assert_eq!(claimed.len(), 1);
    let o = &claimed[0];
    assert_eq!(o["id"], id.as_str());
    assert_eq!(o["asset"], "MESM6");
    assert_eq!(o["exchange"], "CME");
    assert_eq!(o["side"], "BUY");
    assert_eq!(o["qty"], 5);
    assert_eq!(o["env"], "DEMO");
    assert_eq!(o["kind"], "ENTRY");
    assert_eq!(o["source"], "UI");
    assert_eq!(
        o["mode"], "A",
        "mode is the exit mode, as the original desk sends it"
    );
    assert_eq!(o["trade_mode"], "SCALP");
    assert!(d.poll().await.is_empty(), "never handed out twice");
    // WORKING is optional (the bridge may report the outcome straight away); here it is sent
    let (c, _) = d.report(&id, json!({ "status": "WORKING" })).await;
    assert_eq!(c, StatusCode::OK);
    // a fill without a price fills at the last price
    let (c, b) = d.report(&id, json!({ "status": "FILLED" })).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["fill_price"], 5000.0);
    // the same fill with its price is a repeat: acknowledged, nothing changes
    let (c, b) = d
        .report(&id, json!({ "status": "FILLED", "extra": { "fill_price": 5000.0, "symbol": "MESM6", "side": "BUY", "qty": 5 } }))
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["status"], "FILLED");
    for status in ["FILLED", "CANCELLED", "WORKING", "REJECTED"] {
        let (c, _) = d
            .report(
                &id,
                json!({ "status": status, "extra": { "fill_price": 1.0 } }),
            )
            .await;
        assert_eq!(c, StatusCode::CONFLICT, "FILLED → {status}");
    }
    assert_eq!(
        d.asset("ES").await["position"]["qty"],
        5,
        "refused reports changed nothing"
    );
    let (c, b) = d.report(&id, json!({ "status": "PARTIAL" })).await;
    assert_eq!(c, StatusCode::BAD_REQUEST, "{b}");
    let (_, ev) = d.get("/api/events?limit=50").await;
    assert!(
        ev["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "refused"),
        "refusals are logged"
    );
}

#[tokio::test]
async fn claimed_order_without_report_is_flagged_stale_not_resent() {
    let d = TestDesk::start().await;
    d.make_ready("ES", "green", 5000.0).await;
    d.entry(json!({ "asset": "ES" })).await;
    let id = d.poll().await[0]["id"].as_str().unwrap().to_string();
    d.advance(29).await;
    assert!(
        d.state().await["flags"]["stale_orders"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    d.advance(1).await;
    let s = d.state().await;
    assert_eq!(s["flags"]["stale_orders"], json!([id]));
    assert_eq!(s["assets"][0]["pending_order"]["stale"], true);
    assert!(d.poll().await.is_empty(), "a stale order is not re-sent");
    d.report(&id, json!({ "status": "WORKING" })).await;
    assert!(
        d.state().await["flags"]["stale_orders"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn pending_poll_honours_limit_and_owner() {
    let d = TestDesk::start().await;
    d.make_ready("ES", "green", 5000.0).await;
    d.entry(json!({ "asset": "ES" })).await;
    d.advance(300).await; // the candle lock is account-wide
    d.make_ready("NQ", "green", 20000.0).await;
    d.entry(json!({ "asset": "NQ" })).await;
    let (c, b) = read(
        d.anon
            .get(d.url(&format!(
                "/api/orders/pending?secret={BRIDGE}&limit=1&owner=vps-1"
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b["orders"].as_array().unwrap().len(), 1);
    assert_eq!(b["orders"][0]["desk_asset"], "ES", "oldest first");
    let orders = d.orders("ES").await;
    assert_eq!(orders[0]["owner"], "vps-1");
    assert_eq!(orders[0]["status"], "CLAIMED");
    assert_eq!(d.poll().await.len(), 1);
}

#[tokio::test]
async fn pnl_snapshot_mismatch_raises_a_flag_and_never_overwrites() {
    let d = TestDesk::start().await;
    d.open_position("ES", "BUY", 5000.0).await;
    let (c, b) = d
        .post_anon(
            "/api/rithmic/pnl-snapshot",
            json!({ "secret": BRIDGE, "realized": 0.0, "unrealized": 0.0, "accountBalance": 50000.0,
                    "symbols": [{ "symbol": "MESM6", "position": 0, "openPnl": 0.0 }] }),
        )
        .await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b["position_mismatch"]["assets"][0]["engine_position"], 5);
    let s = d.state().await;
    assert_eq!(
        s["flags"]["position_mismatch"]["assets"][0]["bridge_position"],
        0
    );
    assert_eq!(
        s["assets"][0]["position"]["qty"], 5,
        "the engine's position is kept"
    );
    let (_, b) = d
        .post_anon(
            "/api/rithmic/pnl-snapshot",
            json!({ "secret": BRIDGE, "realized": 0.0, "unrealized": 12.5,
                    "symbols": [{ "symbol": "MESM6", "position": 5, "openPnl": 12.5 }] }),
        )
        .await;
    assert!(b["position_mismatch"].is_null());
    let s = d.state().await;
    assert!(s["flags"]["position_mismatch"].is_null());
    assert_eq!(s["account"]["day_pnl"], 12.5);
}

#[tokio::test]
async fn bricks_built_from_heartbeat_prices_drive_the_desk() {
    let mut assets = AssetConfig::defaults();
    assets[0].source = BrickSource::Price;
    let d = TestDesk::start_with(assets, DeskSettings::default()).await;
    d.heartbeat("ES", 5000.0).await; // reference 5000 on every grid
    let b = d.heartbeat("ES", 5012.0).await;
    let sizes: Vec<&str> = b["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["size"].as_str().unwrap())
        .collect();
    // 12 one-point, 4 two-and-a-half (5000→5010), 3 four, 2 main, 1 high, 1 macro
    assert_eq!(sizes.iter().filter(|s| **s == "one").count(), 12);
    assert_eq!(sizes.iter().filter(|s| **s == "two_half").count(), 4);
    assert_eq!(sizes.iter().filter(|s| **s == "four").count(), 3);
    assert_eq!(sizes.iter().filter(|s| **s == "main").count(), 2);
    assert_eq!(sizes.iter().filter(|s| **s == "high").count(), 1);
    assert_eq!(sizes.iter().filter(|s| **s == "macro").count(), 1);
    let s = d.asset("ES").await;
    assert_eq!(s["bricks"]["main"]["close"], 5010.0); // grid 4998 → 5004 → 5010
    assert_eq!(s["bricks"]["high"]["open"], 5000.0);
    assert_eq!(
        (s["zone"].as_str(), s["tempo_token"].as_str()),
        (Some("NORMAL"), Some("READY"))
    );
    let (c, b) = d.entry(json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn restart_resumes_the_exact_state() {
    let d = TestDesk::start().await;
    d.open_position("ES", "BUY", 5000.0).await;
    let ok = |(c, b): (StatusCode, serde_json::Value)| {
        assert!(c.is_success(), "{c} {b}");
        b
    };
    ok(d.post(
        "/api/protect",
        json!({ "asset": "ES", "enabled": true, "threshold": 0.5 }),
    )
    .await);
    ok(d.post("/api/main-flip-exit", json!({ "asset": "ES" }))
        .await);
    ok(d.post(
        "/api/take-profit",
        json!({ "asset": "ES", "tp_target": 4, "tp_arm": true }),
    )
    .await);
    d.heartbeat("NQ", 20000.0).await;
    ok(d.post("/api/intent", json!({ "asset": "NQ" })).await);
    ok(d.post("/api/trade-limit/consume", json!({})).await);
    d.advance(300).await; // the next candle
    d.make_ready("NQ", "red", 20000.0).await;
    ok(
        d.entry(json!({ "asset": "NQ", "order_type": "preorder", "direction": "SELL" }))
            .await,
    );
    d.brick("/tv_renko_one", "NQ", "red", "r1").await;
    let before = d.state().await;
    assert_eq!(before["assets"][0]["exits"]["protect"]["threshold"], 0.5);
    assert_eq!(before["assets"][0]["exits"]["main_flip"], true);
    assert_eq!(before["assets"][0]["exits"]["signal_tp"]["target"], 4);
    assert_eq!(before["assets"][1]["intent"]["status"], "READY");
    assert_eq!(before["assets"][1]["preorder"]["status"], "PENDING");
    assert_eq!(before["account"]["trade_count"], 2);
    let d = d.restart().await;
    let after = d.state().await;
    assert_eq!(before, after);
    // and the duplicate check survives too
    assert_eq!(
        d.brick("/tv_renko_one", "NQ", "red", "r1").await["duplicate"],
        true
    );
}

#[tokio::test]
async fn api_bricks_answers_each_size_newest_last_within_its_limit() {
    let d = TestDesk::start().await;
    for (i, color) in ["green", "green", "red", "green"].iter().enumerate() {
        d.brick("/tv_renko_main", "ES", color, &format!("m{i}"))
            .await;
    }
    d.brick("/tv_renko_high", "ES", "red", "h0").await;
    // a retried alert is stored once
    d.brick("/tv_renko_main", "ES", "green", "m3").await;
    d.brick("/tv_renko_main", "NQ", "red", "nq0").await;
    let (c, b) = d.get("/api/bricks?asset=ES&limit=3").await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!((&b["ok"], &b["asset"]), (&json!(true), &json!("ES")));
    let main: Vec<(&str, &str)> = b["bricks"]["main"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["bar_id"].as_str().unwrap(), x["color"].as_str().unwrap()))
        .collect();
    assert_eq!(
        main,
        [("m1", "green"), ("m2", "red"), ("m3", "green")],
        "{b}"
    );
    assert_eq!(b["bricks"]["high"][0]["color"], "red");
    assert_eq!(b["bricks"]["one"], json!([]));
    // a TradingView ticker names the asset too; the limit is clamped, not refused
    let (c, b) = d.get("/api/bricks?asset=CME_MINI:MES1!&limit=100000").await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["bricks"]["main"].as_array().unwrap().len(), 4);
    // refusals in the desk's shape
    for (path, code) in [
        ("/api/bricks?asset=ZZ", StatusCode::BAD_REQUEST),
        ("/api/bricks", StatusCode::BAD_REQUEST),
        ("/api/bricks?asset=ES&limit=-1", StatusCode::BAD_REQUEST),
    ] {
        let (c, b) = d.get(path).await;
        assert_eq!(c, code, "{path}: {b}");
        assert_eq!(b["ok"], false, "{path}: {b}");
    }
    let (c, b) = read(
        d.anon
            .get(d.url("/api/bricks?asset=ES"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (c, &b["ok"]),
        (StatusCode::UNAUTHORIZED, &json!(false)),
        "{b}"
    );
}
