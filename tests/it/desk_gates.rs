//! Seed 001 over real HTTP: auth, refusals that change nothing, the trade limit by hand, the
//! intent's cancel, and the DEMO/LIVE switch. The gates' order and messages are rows of
//! `desk_rules`.
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
async fn refusals_change_nothing() {
    let d = TestDesk::start().await;
    d.heartbeat("ES", 5000.0).await;
    let before = d.desk().await;
    for (body, code) in [
        // the tempo token WAIT (403), an override or a preorder without a direction (400), a
        // preorder without the tempo token (403)
        (json!({ "asset": "ES" }), StatusCode::FORBIDDEN),
        (
            json!({ "asset": "ES", "direction": "BUY" }),
            StatusCode::FORBIDDEN,
        ),
        (
            json!({ "asset": "ES", "entry_override": true }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "asset": "ES", "order_type": "preorder" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "asset": "ES", "order_type": "preorder", "direction": "BUY" }),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let mut body = body;
        body["trade_mode"] = json!("SCALP");
        d.refused("/api/orders", body, code).await;
    }
    assert_eq!(d.desk().await, before, "the whole state and every order");
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
    let full = "Daily trade limit reached — 6 of 6 trades used today";
    let msg = d
        .refused("/api/trade-limit/consume", json!({}), StatusCode::FORBIDDEN)
        .await;
    assert_eq!(msg, full);
    d.make_ready("ES", "green", 5000.0).await;
    let msg = d
        .refused(
            "/api/orders",
            json!({ "asset": "ES", "trade_mode": "SCALP" }),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(msg, full);
}

#[tokio::test]
async fn an_intent_is_cancelled_once() {
    let d = TestDesk::start().await;
    d.heartbeat("NQ", 20000.0).await;
    let (c, b) = d.post("/api/intent", json!({ "asset": "NQ" })).await;
    assert_eq!(
        (c, &b["intent"]["status"]),
        (StatusCode::OK, &json!("ARMED"))
    );
    let msg = d
        .refused(
            "/api/intent",
            json!({ "asset": "NQ" }),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(msg, "an intent is already ARMED for NQ");
    let (c, _) = d.post("/api/intent/cancel", json!({ "asset": "NQ" })).await;
    assert_eq!(c, StatusCode::OK);
    assert!(d.asset("NQ").await["intent"].is_null());
    let msg = d
        .refused(
            "/api/intent/cancel",
            json!({ "asset": "NQ" }),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(msg, "no intent is active for NQ");
}

#[tokio::test]
async fn env_switch_refused_with_exposure_and_live_needs_a_fresh_bridge() {
    let d = TestDesk::start().await;
    d.open_position("ES", "BUY", 5000.0).await;
    let live = || json!({ "env": "LIVE" });
    let msg = d.refused("/api/env", live(), StatusCode::CONFLICT).await;
    assert_eq!(msg, "cannot switch to LIVE: ES has an open position");
    d.post("/api/exit", json!({ "asset": "ES", "force": true }))
        .await;
    d.fill_all(5000.0).await;
    // an unfinished order (no position yet) also blocks the switch
    d.advance(300).await; // past the cooldown and the candle
    d.make_ready("NQ", "green", 20000.0).await;
    let (c, b) = d.entry(json!({ "asset": "NQ" })).await;
    assert_eq!(c, StatusCode::CREATED, "{b}");
    let msg = d.refused("/api/env", live(), StatusCode::CONFLICT).await;
    assert!(msg.contains("is PENDING"), "{msg}");
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
    let msg = d
        .refused(
            "/api/orders",
            json!({ "asset": "NQ", "trade_mode": "SCALP" }),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(msg, "Bridge stale or disconnected – cannot trade LIVE");
    let (c, b) = d
        .post_anon(
            "/api/bridge/heartbeat",
            json!({ "secret": BRIDGE, "tsConnected": true, "mdConnected": true, "repoOk": true,
                    "account": "U1", "tradeRoute": "PAPER", "lastRapiEventUtc": "2026-03-10T14:32:00Z" }),
        )
        .await;
    assert_eq!((c, &b["bridge_fresh"]), (StatusCode::OK, &json!(true)));
    let (c, b) = d.entry(json!({ "asset": "NQ" })).await;
    assert_eq!(c, StatusCode::CREATED, "{b}");
    assert_eq!(b["order"]["env"], "LIVE");
    assert_eq!(b["state"]["bridge"]["account"], "U1");
    d.advance(61).await;
    assert_eq!(d.state().await["bridge"]["fresh"], false);
}
