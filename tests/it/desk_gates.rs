//! Seed 001 over real HTTP: auth, the entry gates in their documented order, overrides,
//! preorders, intent, trade limit, env.
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

fn err(body: &serde_json::Value) -> &str {
    assert_eq!(body["ok"], false, "{body}");
    body["error"].as_str().unwrap()
}

#[tokio::test]
async fn auth_login_logout_status_and_cookie() {
    let d = TestDesk::start().await;
    let (c, b) = read(d.anon.get(d.url("/api/auth/status")).send().await.unwrap()).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(
        b,
        json!({ "authenticated": false, "password_required": true })
    );
    let (c, b) = read(d.anon.get(d.url("/api/state")).send().await.unwrap()).await;
    assert_eq!(c, StatusCode::UNAUTHORIZED);
    assert!(err(&b).contains("login required"));
    let (c, b) = d
        .post_anon("/api/login", json!({ "password": "wrong" }))
        .await;
    assert_eq!(c, StatusCode::UNAUTHORIZED);
    assert_eq!(err(&b), "invalid password");
    let resp = d.login_with(PASSWORD).await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("brickdesk_session=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let (_, b) = d.get("/api/auth/status").await;
    assert_eq!(b["authenticated"], true);
    let (c, b) = d.post("/api/logout", json!({})).await;
    assert_eq!((c, b), (StatusCode::OK, json!({ "ok": true })));
    let (c, _) = d.get("/api/state").await;
    assert_eq!(
        c,
        StatusCode::UNAUTHORIZED,
        "the session is gone after logout"
    );
}

#[tokio::test]
async fn entry_gates_refuse_in_documented_order() {
    let d = TestDesk::start().await;
    let entry = json!({ "asset": "ES" });
    // Nothing yet: heartbeat (6), tempo (7) and zone (8) all fail: 6 wins.
    let (c, b) = d.entry(entry.clone()).await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert!(err(&b).starts_with("HEARTBEAT STALE"), "{b}");
    // 7 before 8
    d.heartbeat("ES", 5000.0).await;
    let (_, b) = d.entry(entry.clone()).await;
    assert_eq!(err(&b), "TEMPO SPENT — wait for the next 6pt (main) brick");
    // 8: FREE zone needs a direction
    d.brick("/tv_renko_main", "ES", "green", "m1").await;
    let (_, b) = d.entry(entry.clone()).await;
    assert!(err(&b).starts_with("ZONE GATE — FREE zone"), "{b}");
    // NORMAL zone: against the structure is refused, with it passes
    d.brick("/tv_renko_high", "ES", "green", "h1").await;
    d.brick("/tv_renko_macro", "ES", "green", "x1").await;
    let (_, b) = d.entry(json!({ "asset": "ES", "direction": "SELL" })).await;
    assert_eq!(
        err(&b),
        "ZONE GATE — NORMAL zone is BUY; a SELL entry is against the structure"
    );
    let (c, b) = d.entry(entry.clone()).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["side"], "BUY");
    assert_eq!(b["order"]["symbol"], "MESM6");
    assert_eq!(b["order"]["qty"], 5);
    assert_eq!(b["state"]["assets"][0]["tempo_token"], "SPENT");
    // 3 (candle lock) before 4 (pending order) and 7 (tempo): 14:31:00 → 4:00 left in the candle
    let (_, b) = d.entry(entry.clone()).await;
    assert_eq!(
        err(&b),
        "5 MIN LOCK ACTIVE — one trade already used this candle (04:00 remaining)"
    );
    d.advance(37).await;
    let (_, b) = d.entry(entry.clone()).await;
    assert_eq!(
        err(&b),
        "5 MIN LOCK ACTIVE — one trade already used this candle (03:23 remaining)"
    );
    // next candle: 4 (pending order) before 6 (heartbeat now 11 min old) and 7
    d.advance(11 * 60).await;
    let (_, b) = d.entry(entry.clone()).await;
    assert!(
        err(&b).starts_with("ORDER PENDING — ES already has order ord-"),
        "{b}"
    );
    // 5: position open
    d.heartbeat("ES", 5000.0).await;
    d.fill_all(5000.0).await;
    let (_, b) = d.entry(entry.clone()).await;
    assert_eq!(
        err(&b),
        "POSITION OPEN — ES is BUY 5 (no pyramiding; use scale-in)"
    );
    // 2: cooldown after the position closes (before 7: tempo is still spent)
    d.advance(11).await;
    let (c, b) = d.post("/api/exit", json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    d.fill_all(5001.0).await;
    d.advance(30).await;
    let (_, b) = d.entry(entry.clone()).await;
    assert_eq!(
        err(&b),
        "COOLDOWN ACTIVE — position closed recently (01:30 remaining)"
    );
    // 1: the daily stop wins over the cooldown
    let (c, _) = d
        .post_anon(
            "/api/rithmic/pnl-snapshot",
            json!({ "secret": BRIDGE, "realized": -450.0, "unrealized": -60.0, "symbols": [] }),
        )
        .await;
    assert_eq!(c, StatusCode::OK);
    let (_, b) = d.entry(entry.clone()).await;
    assert!(
        err(&b).starts_with("DAILY STOP HIT — day PnL -510.00 reached -500.00"),
        "{b}"
    );
    // the trading day rolls at 17:00 Chicago: the stop and the count reset
    d.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 10, 22, 0, 5).unwrap());
    d.engine.tick().await.unwrap();
    let s = d.state().await;
    assert_eq!(s["account"]["daily_stop_triggered"], false);
    assert_eq!(s["account"]["trade_count"], 0);
    assert_eq!(s["account"]["trading_day"], "2026-03-11");
}

#[tokio::test]
async fn refusals_change_nothing() {
    let d = TestDesk::start().await;
    d.heartbeat("ES", 5000.0).await;
    let before = d.state_without_clock().await;
    for body in [
        json!({ "asset": "ES" }),
        json!({ "asset": "ES", "direction": "BUY" }),
        json!({ "asset": "ES", "order_type": "preorder", "direction": "BUY" }),
    ] {
        let (c, _) = d.entry(body.clone()).await;
        if c == StatusCode::OK {
            // the preorder arms: it is the one accepted request here
            assert_eq!(body["order_type"], "preorder");
            d.post("/api/preorder/cancel", json!({ "asset": "ES" }))
                .await;
            continue;
        }
        assert_eq!(c, StatusCode::CONFLICT);
    }
    assert_eq!(
        d.state_without_clock().await["assets"][0]["tempo_token"],
        before["assets"][0]["tempo_token"]
    );
    assert_eq!(d.state_without_clock().await["orders"], before["orders"]);
}

#[tokio::test]
async fn entry_override_skips_tempo_and_zone_only() {
    let d = TestDesk::start().await;
    // gate 6 still applies to an override
    let (c, b) = d
        .entry(json!({ "asset": "ES", "direction": "SELL", "entry_override": true }))
        .await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert!(err(&b).starts_with("HEARTBEAT STALE"));
    d.heartbeat("ES", 5000.0).await;
    // tempo spent, FREE zone: an override with a direction passes and is recorded
    let (c, b) = d
        .entry(json!({ "asset": "ES", "direction": "SELL", "entry_override": true }))
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["entry_override"], true);
    assert_eq!(b["order"]["side"], "SELL");
    let (_, b) = d
        .entry(json!({ "asset": "ES", "direction": "SELL", "entry_override": true }))
        .await;
    assert!(
        err(&b).starts_with("5 MIN LOCK ACTIVE"),
        "gate 3 holds for overrides: {b}"
    );
}

#[tokio::test]
async fn daily_trade_limit_and_manual_consume() {
    let d = TestDesk::start().await;
    for n in 1..=6 {
        let (c, b) = d.post("/api/trade-limit/consume", json!({})).await;
        assert_eq!(c, StatusCode::OK, "{b}");
        assert_eq!(b["trade_count"], n);
        assert_eq!(b["trade_limit"], 6);
    }
    let (c, b) = d.post("/api/trade-limit/consume", json!({})).await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert!(err(&b).starts_with("DAILY TRADE LIMIT"));
    d.make_ready("ES", "green", 5000.0).await;
    let (c, b) = d.entry(json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert_eq!(err(&b), "DAILY TRADE LIMIT — 6 of 6 entries used today");
}

#[tokio::test]
async fn preorder_is_released_at_the_next_main_brick_or_dropped() {
    let d = TestDesk::start().await;
    d.make_ready("ES", "green", 5000.0).await;
    let (c, b) = d
        .entry(json!({ "asset": "ES", "order_type": "preorder", "trade_mode": "RUNNER", "entry_size_mode": "9pt" }))
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["preorder"]["trade_mode"], "RUNNER");
    assert!(b["state"]["assets"][0]["preorder"].is_object());
    assert!(d.orders("ES").await.is_empty(), "armed, not sent");
    let (_, b) = d
        .entry(json!({ "asset": "ES", "order_type": "preorder" }))
        .await;
    assert_eq!(err(&b), "ORDER PENDING — ES already has an armed preorder");
    let out = d.brick("/tv_renko_main", "ES", "green", "pm1").await;
    assert_eq!(out["orders"][0]["kind"], "ENTRY");
    assert_eq!(out["orders"][0]["status"], "PENDING");
    assert_eq!(out["orders"][0]["entry_size_mode"], "9pt");
    assert!(d.asset("ES").await["preorder"].is_null());
    // NQ: the gates fail at the brick (heartbeat stale) → dropped with the reason logged
    d.make_ready("NQ", "green", 20000.0).await;
    d.entry(json!({ "asset": "NQ", "order_type": "preorder" }))
        .await;
    d.advance(700).await;
    let out = d.brick("/tv_renko_main", "NQ", "green", "pn1").await;
    assert!(out["orders"].as_array().unwrap().is_empty());
    let (_, ev) = d.get("/api/events?limit=20").await;
    let dropped = ev["events"].as_array().unwrap().iter().any(|e| {
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("preorder dropped: HEARTBEAT STALE")
    });
    assert!(dropped, "{ev}");
    // cancel
    d.heartbeat("NQ", 20000.0).await;
    d.entry(json!({ "asset": "NQ", "order_type": "preorder" }))
        .await;
    let (c, _) = d
        .post("/api/preorder/cancel", json!({ "asset": "NQ" }))
        .await;
    assert_eq!(c, StatusCode::OK);
    let (c, b) = d
        .post("/api/preorder/cancel", json!({ "asset": "NQ" }))
        .await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert_eq!(err(&b), "no preorder is armed for NQ");
}

#[tokio::test]
async fn intent_ready_at_next_main_brick_stands_in_for_the_tempo_token_then_expires() {
    let d = TestDesk::start().await;
    d.make_ready("ES", "green", 5000.0).await;
    let (c, b) = d.post("/api/intent", json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b["intent"]["status"], "ARMED");
    d.brick("/tv_renko_main", "ES", "green", "i1").await;
    assert_eq!(d.asset("ES").await["intent"]["status"], "READY");
    // first entry spends the tempo token, the intent stays READY
    d.entry(json!({ "asset": "ES" })).await;
    d.fill_all(5000.0).await;
    d.advance(11).await;
    d.post("/api/exit", json!({ "asset": "ES" })).await;
    d.fill_all(5000.0).await;
    d.advance(300).await;
    d.heartbeat("ES", 5000.0).await;
    // a second entry in the same 6pt brick goes through on the intent
    let (c, b) = d.entry(json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert!(
        b["state"]["assets"][0]["intent"].is_null(),
        "the intent is spent"
    );
    // expiry: READY then unused for one more main brick
    d.post("/api/intent", json!({ "asset": "NQ" })).await;
    d.brick("/tv_renko_main", "NQ", "red", "n1").await;
    assert_eq!(d.asset("NQ").await["intent"]["status"], "READY");
    d.brick("/tv_renko_main", "NQ", "red", "n2").await;
    assert!(d.asset("NQ").await["intent"].is_null());
    // cancel
    d.post("/api/intent", json!({ "asset": "NQ" })).await;
    let (c, _) = d.post("/api/intent/cancel", json!({ "asset": "NQ" })).await;
    assert_eq!(c, StatusCode::OK);
    let (c, _) = d.post("/api/intent/cancel", json!({ "asset": "NQ" })).await;
    assert_eq!(c, StatusCode::CONFLICT);
}

#[tokio::test]
async fn env_switch_refused_with_exposure_and_live_needs_a_fresh_bridge() {
    let d = TestDesk::start().await;
    d.open_position("ES", "BUY", 5000.0).await;
    let (c, b) = d.post("/api/env", json!({ "env": "LIVE" })).await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert_eq!(err(&b), "cannot switch to LIVE: ES has an open position");
    d.advance(11).await;
    d.post("/api/exit", json!({ "asset": "ES" })).await;
    d.fill_all(5000.0).await;
    // an unfinished order (no position yet) also blocks the switch
    d.make_ready("NQ", "green", 20000.0).await;
    d.entry(json!({ "asset": "NQ" })).await;
    let (c, b) = d.post("/api/env", json!({ "env": "LIVE" })).await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert!(err(&b).contains("is PENDING"), "{b}");
    let id = d.poll().await[0]["id"].as_str().unwrap().to_string();
    d.report(&id, json!({ "status": "WORKING" })).await;
    let (c, b) = d.report(&id, json!({ "status": "REJECTED" })).await;
    assert_eq!(
        (c, &b["order"]["status"]),
        (StatusCode::OK, &json!("REJECTED"))
    );
    assert!(d.asset("NQ").await["position"].is_null());
    let (c, b) = d.post("/api/env", json!({ "env": "LIVE" })).await;
    assert_eq!((c, &b["env"]), (StatusCode::OK, &json!("LIVE")));
    d.advance(400).await;
    d.make_ready("NQ", "green", 20000.0).await;
    let (_, b) = d.entry(json!({ "asset": "NQ" })).await;
    assert!(err(&b).starts_with("BRIDGE STALE"), "{b}");
    let (c, b) = d
        .post_anon(
            "/api/bridge/heartbeat",
            json!({ "secret": BRIDGE, "tsConnected": true, "mdConnected": true, "repoOk": true,
                    "account": "U1", "tradeRoute": "PAPER", "lastRapiEventUtc": "2026-03-10T14:32:00Z" }),
        )
        .await;
    assert_eq!((c, &b["bridge_fresh"]), (StatusCode::OK, &json!(true)));
    let (c, b) = d.entry(json!({ "asset": "NQ" })).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["env"], "LIVE");
    assert_eq!(b["state"]["bridge"]["account"], "U1");
    d.advance(61).await;
    assert_eq!(d.state().await["bridge"]["fresh"], false);
}
