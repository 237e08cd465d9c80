//! Exit triggers of SPEC §2 over real HTTP: each fires exactly once (a repeated trigger makes no
//! second order) and the EXIT order records its reason as its `source`. Every trigger's rule
//! and its reset on close are rows of `desk_rules`; these follow a trigger through its repeats.
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Opens ES long 5 @ 5000.
async fn long_es() -> TestDesk {
    let d = TestDesk::start().await;
    d.open_position("ES", "BUY", 5000.0).await;
    d
}

async fn assert_one_exit(d: &TestDesk, reason: &str) -> Value {
    let exits = d.exit_orders("ES").await;
    assert_eq!(exits.len(), 1, "exactly one exit order: {exits:?}");
    assert_eq!(exits[0]["source"], reason);
    assert_eq!(exits[0]["side"], "SELL");
    assert_eq!(exits[0]["qty"], 5);
    exits[0].clone()
}

async fn assert_no_exit(d: &TestDesk) {
    assert!(d.exit_orders("ES").await.is_empty());
}

#[tokio::test]
async fn a_manual_exit_goes_once_and_realizes_the_pnl() {
    let d = long_es().await;
    d.main_brick("ES", "green").await; // releases the initial exit lock
    let (c, b) = d.post("/api/exit", json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    let msg = d
        .refused(
            "/api/exit",
            json!({ "asset": "ES", "force": true }),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(msg, "Pending order already exists");
    assert_one_exit(&d, "manual").await;
    d.fill_all(5002.0).await;
    let s = d.state().await;
    assert!(s["assets"][0]["position"].is_null());
    assert_eq!(s["account"]["realized_today"], 2.0 * 5.0 * 5.0);
    let msg = d
        .refused("/api/exit", json!({ "asset": "ES" }), StatusCode::FORBIDDEN)
        .await;
    assert_eq!(msg, "No open position for ES");
}

#[tokio::test]
async fn exit_all_exits_every_position_and_reports_skips() {
    let d = TestDesk::start().await;
    d.open_position("ES", "BUY", 5000.0).await;
    d.advance(300).await; // the candle lock is account-wide
    d.open_position("NQ", "SELL", 20000.0).await;
    let (c, b) = d.post("/api/exit-all", json!({ "force": false })).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b["orders"].as_array().unwrap().len(), 0);
    let skipped = b["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "both inside the exit lock: {b}");
    assert_eq!(
        skipped[0]["reason"],
        "Initial exit lock active — wait for a new 6pt bar (or use force)"
    );
    let (c, b) = d.post("/api/exit-all", json!({})).await;
    assert_eq!(c, StatusCode::OK);
    let orders = b["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "force is the default: {b}");
    assert_eq!(orders[0]["asset"], "ES");
    assert_eq!(orders[0]["side"], "SELL");
    assert_eq!(orders[1]["asset"], "NQ");
    assert_eq!(orders[1]["side"], "BUY");
    assert!(orders[0]["order_id"].as_str().unwrap().starts_with("ord-"));
    let (_, b) = d.post("/api/exit-all", json!({ "force": true })).await;
    assert_eq!(
        b["orders"].as_array().unwrap().len(),
        0,
        "nothing twice: {b}"
    );
    assert_eq!(b["skipped"][0]["reason"], "Pending order already exists");
}

#[tokio::test]
async fn protect_at_half_a_point_locks_in_profit() {
    let d = long_es().await;
    d.heartbeat("ES", 5003.0).await;
    let (c, b) = d
        .post(
            "/api/protect",
            json!({ "asset": "ES", "enabled": true, "threshold": 0.5 }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_no_exit(&d).await;
    d.heartbeat("ES", 5000.5).await;
    d.heartbeat("ES", 5000.25).await;
    assert_one_exit(&d, "protect").await;
}

#[tokio::test]
async fn points_take_profit() {
    let d = long_es().await;
    let p = &d.asset("ES").await["exits"]["points_tp"];
    assert_eq!(
        *p,
        json!({ "enabled": true, "target": 15.0 }),
        "armed by the fill"
    );
    let (c, b) = d
        .post(
            "/api/points-take-profit",
            json!({ "asset": "ES", "enabled": true, "target": 4.0 }),
        )
        .await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(
        b["points_take_profit"],
        json!({ "enabled": true, "target": 4.0 })
    );
    d.heartbeat("ES", 5003.75).await;
    assert_no_exit(&d).await;
    d.heartbeat("ES", 5004.0).await;
    d.heartbeat("ES", 5005.0).await;
    assert_one_exit(&d, "points_tp").await;
}

#[tokio::test]
async fn signal_count_take_profit_after_n_opposite_main_bricks() {
    let d = long_es().await;
    let (_, b) = d
        .post(
            "/api/take-profit",
            json!({ "asset": "ES", "tp_target": 2, "reset": true }),
        )
        .await;
    assert_eq!(
        b["take_profit"],
        json!({ "armed": false, "target": 2, "count": 0 })
    );
    let (_, b) = d
        .post(
            "/api/take-profit",
            json!({ "asset": "ES", "tp_arm": "toggle" }),
        )
        .await;
    assert_eq!(b["take_profit"]["armed"], true);
    d.brick("/tv_renko_main", "ES", "green", "s1").await; // with the position; releases the lock
    d.brick("/tv_renko_main", "ES", "red", "s2").await;
    assert_eq!(d.asset("ES").await["exits"]["signal_tp"]["count"], 1);
    assert_no_exit(&d).await;
    d.brick("/tv_renko_main", "ES", "red", "s3").await;
    d.brick("/tv_renko_main", "ES", "red", "s4").await;
    assert_one_exit(&d, "signal_count_tp").await;
    assert_eq!(d.asset("ES").await["exits"]["signal_tp"]["armed"], false);
}

#[tokio::test]
async fn main_flip_exit_toggles() {
    let d = long_es().await;
    assert_eq!(
        d.asset("ES").await["exits"]["main_flip"],
        false,
        "NORMAL entry"
    );
    let (_, b) = d
        .post("/api/main-flip-exit", json!({ "asset": "ES" }))
        .await;
    assert_eq!(b["enabled"], true);
    d.brick("/tv_renko_main", "ES", "green", "f1").await;
    assert_no_exit(&d).await;
    d.brick("/tv_renko_main", "ES", "red", "f2").await;
    d.brick("/tv_renko_main", "ES", "red", "f3").await;
    assert_one_exit(&d, "main_flip").await;
    let (_, b) = d
        .post("/api/main-flip-exit", json!({ "asset": "ES" }))
        .await;
    assert_eq!(b["enabled"], false, "a toggle");
}

#[tokio::test]
async fn the_eight_point_flip_fires_once() {
    let d = long_es().await;
    d.brick("/tv_renko_high", "ES", "green", "hf1").await;
    assert_no_exit(&d).await;
    d.brick("/tv_renko_high", "ES", "red", "hf2").await;
    d.brick("/tv_renko_high", "ES", "red", "hf3").await;
    assert_one_exit(&d, "high_flip").await;
}

#[tokio::test]
async fn level_exit_webhook() {
    let d = long_es().await;
    let (c, b) = d
        .post_anon("/tv_level_exit", json!({ "secret": TV, "asset": "ES" }))
        .await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b["order"]["source"], "level_exit");
    let (_, b) = d
        .post_anon("/tv_level_exit", json!({ "secret": TV, "asset": "ES" }))
        .await;
    assert!(b["order"].is_null());
    assert_one_exit(&d, "level_exit").await;
}

#[tokio::test]
async fn daily_stop_exits_everything() {
    let d = long_es().await;
    d.advance(300).await; // the candle lock is account-wide
    d.open_position("NQ", "BUY", 20000.0).await;
    let snap = |balance: f64| {
        json!({ "secret": BRIDGE, "realized": -100.0, "unrealized": -420.0, "accountBalance": balance,
            "symbols": [{ "symbol": "MESM6", "position": 5, "openPnl": -300.0 }, { "symbol": "MNQM6", "position": 5, "openPnl": -120.0 }] })
    };
    let (c, b) = d
        .post_anon("/api/rithmic/pnl-snapshot", snap(1_000.0))
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_no_exit(&d).await;
    // the bridge's openPnl is the position's open points: -300 USD on 5 MES = -12 points
    assert_eq!(d.asset("ES").await["position"]["open_points"], -12.0);
    assert_eq!(d.state().await["account"]["daily_stop_used"], 0.0);
    // half of the 30% drawdown used: what the day strip's gauge shows
    d.post_anon("/api/rithmic/pnl-snapshot", snap(850.0)).await;
    assert_eq!(d.state().await["account"]["daily_stop_used"], 0.5);
    assert_no_exit(&d).await;
    d.post_anon("/api/rithmic/pnl-snapshot", snap(690.0)).await;
    d.post_anon("/api/rithmic/pnl-snapshot", snap(680.0)).await;
    assert_one_exit(&d, "daily_stop").await;
    let nq: Vec<_> = d.exit_orders("NQ").await;
    assert_eq!(nq.len(), 1);
    assert_eq!(nq[0]["source"], "daily_stop");
    let s = d.state().await;
    assert_eq!(s["flags"]["daily_stop_triggered"], true);
    assert_eq!(
        s["account"]["daily_stop_reason"],
        "drawdown 31.0% of the day's starting balance 1000.00 (limit 30%)"
    );
}

#[tokio::test]
async fn auto_exit_confirms_six_points() {
    let d = TestDesk::start().await;
    let (c, b) = d.post("/api/auto-exit", json!({ "asset": "es" })).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b, json!({ "ok": true, "asset": "ES", "auto_exit": "6pt" }));
}
