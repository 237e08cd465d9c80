//! Every exit trigger of SPEC §2 over real HTTP: it fires exactly once (a repeated trigger makes
//! no second order) and the EXIT order records its reason.
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
    assert_eq!(exits[0]["reason"], reason);
    assert_eq!(exits[0]["side"], "SELL");
    assert_eq!(exits[0]["qty"], 5);
    exits[0].clone()
}

async fn assert_no_exit(d: &TestDesk) {
    assert!(d.exit_orders("ES").await.is_empty());
}

#[tokio::test]
async fn manual_exit_respects_the_initial_exit_lock_unless_forced() {
    let d = long_es().await;
    d.advance(3).await;
    let (c, b) = d.post("/api/exit", json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert_eq!(
        b["error"],
        "EXIT LOCK ACTIVE — position opened under 10s ago (00:07 remaining); use force to override"
    );
    assert_no_exit(&d).await;
    let (c, b) = d
        .post("/api/exit", json!({ "asset": "ES", "force": true }))
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    let (c, b) = d
        .post("/api/exit", json!({ "asset": "ES", "force": true }))
        .await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .starts_with("EXIT ALREADY SENT")
    );
    assert_one_exit(&d, "manual_force").await;
    d.fill_all(5002.0).await;
    let s = d.state().await;
    assert!(s["assets"][0]["position"].is_null());
    assert_eq!(s["account"]["realized_today"], 2.0 * 5.0 * 5.0);
    let (c, b) = d.post("/api/exit", json!({ "asset": "ES" })).await;
    assert_eq!(
        (c, b["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "NO POSITION — ES is flat")
    );
}

#[tokio::test]
async fn exit_all_exits_every_position_and_reports_skips() {
    let d = TestDesk::start().await;
    d.open_position("ES", "BUY", 5000.0).await;
    d.open_position("NQ", "SELL", 20000.0).await;
    let (c, b) = d.post("/api/exit-all", json!({ "force": false })).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b["orders"].as_array().unwrap().len(), 0);
    assert_eq!(
        b["skipped"].as_array().unwrap().len(),
        2,
        "both inside the exit lock: {b}"
    );
    let (c, b) = d.post("/api/exit-all", json!({ "force": true })).await;
    assert_eq!(c, StatusCode::OK);
    let orders = b["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
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
}

#[tokio::test]
async fn protective_stop_from_entry_size_mode() {
    let d = long_es().await;
    d.heartbeat("ES", 4994.25).await;
    assert_no_exit(&d).await;
    assert_eq!(
        d.asset("ES").await["position"]["protective_stop_price"],
        4994.0
    );
    d.heartbeat("ES", 4994.0).await;
    d.heartbeat("ES", 4990.0).await;
    assert_one_exit(&d, "protective_stop").await;
}

#[tokio::test]
async fn protect_soft_stop_at_minus_two() {
    let d = long_es().await;
    let (c, b) = d
        .post(
            "/api/protect",
            json!({ "asset": "ES", "enabled": true, "threshold": -2.0 }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    d.heartbeat("ES", 4998.25).await;
    assert_no_exit(&d).await;
    d.heartbeat("ES", 4998.0).await;
    d.heartbeat("ES", 4997.0).await;
    assert_one_exit(&d, "protect").await;
}

#[tokio::test]
async fn protect_at_half_a_point_locks_in_profit() {
    let d = long_es().await;
    d.heartbeat("ES", 5003.0).await;
    d.post(
        "/api/protect",
        json!({ "asset": "ES", "enabled": true, "threshold": 0.5 }),
    )
    .await;
    assert_no_exit(&d).await;
    d.heartbeat("ES", 5000.5).await;
    d.heartbeat("ES", 5000.25).await;
    assert_one_exit(&d, "protect").await;
}

#[tokio::test]
async fn points_take_profit() {
    let d = long_es().await;
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
    d.brick("/tv_renko_main", "ES", "green", "s1").await; // with the position: not counted
    d.brick("/tv_renko_main", "ES", "red", "s2").await;
    assert_eq!(d.asset("ES").await["exits"]["signal_tp"]["count"], 1);
    assert_no_exit(&d).await;
    d.brick("/tv_renko_main", "ES", "red", "s3").await;
    d.brick("/tv_renko_main", "ES", "red", "s4").await;
    assert_one_exit(&d, "signal_count_tp").await;
    assert_eq!(d.asset("ES").await["exits"]["signal_tp"]["armed"], false);
}

#[tokio::test]
async fn high_next_bar_exit() {
    let d = long_es().await;
    let (_, b) = d
        .post("/api/high-next-bar-exit", json!({ "asset": "ES" }))
        .await;
    assert_eq!(b["enabled"], true);
    d.brick("/tv_renko_main", "ES", "red", "x1").await;
    assert_no_exit(&d).await;
    d.brick("/tv_renko_high", "ES", "green", "hb1").await;
    d.brick("/tv_renko_high", "ES", "red", "hb2").await;
    assert_one_exit(&d, "high_next_bar").await;
}

#[tokio::test]
async fn main_flip_exit() {
    let d = long_es().await;
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
async fn four_pt_invalidation_exit() {
    let d = long_es().await;
    d.post("/api/four-pt-invalidation", json!({ "asset": "ES" }))
        .await;
    d.brick("/tv_renko", "ES", "green", "q1").await;
    assert_no_exit(&d).await;
    d.brick("/tv_renko", "ES", "red", "q2").await;
    d.brick("/tv_renko", "ES", "red", "q3").await;
    assert_one_exit(&d, "four_pt_invalidation").await;
}

#[tokio::test]
async fn two_half_tp_lock_is_automatic() {
    let d = long_es().await;
    let (c, b) = d
        .post("/api/two-half-tp-lock", json!({ "asset": "ES" }))
        .await;
    assert_eq!(c, StatusCode::LOCKED);
    assert_eq!(b["ok"], false);
    d.brick("/tv_renko_two_half", "ES", "red", "t1").await;
    assert_no_exit(&d).await; // no gain yet
    d.heartbeat("ES", 5002.5).await;
    assert_eq!(d.asset("ES").await["exits"]["two_half_lock_armed"], true);
    d.heartbeat("ES", 5001.0).await;
    d.brick("/tv_renko_two_half", "ES", "green", "t2").await;
    assert_no_exit(&d).await;
    d.brick("/tv_renko_two_half", "ES", "red", "t3").await;
    d.brick("/tv_renko_two_half", "ES", "red", "t4").await;
    assert_one_exit(&d, "two_half_tp_lock").await;
}

#[tokio::test]
async fn level_exit_webhook() {
    let d = long_es().await;
    let (c, b) = d
        .post_anon("/tv_level_exit", json!({ "secret": TV, "asset": "ES" }))
        .await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b["order"]["reason"], "level_exit");
    let (_, b) = d
        .post_anon("/tv_level_exit", json!({ "secret": TV, "asset": "ES" }))
        .await;
    assert!(b["order"].is_null());
    assert_one_exit(&d, "level_exit").await;
}

#[tokio::test]
async fn daily_stop_exits_everything() {
    let d = long_es().await;
    d.open_position("NQ", "BUY", 20000.0).await;
    let snap = json!({ "secret": BRIDGE, "realized": -100.0, "unrealized": -420.0,
        "symbols": [{ "symbol": "MESM6", "position": 5, "openPnl": -300.0 }, { "symbol": "MNQM6", "position": 5, "openPnl": -120.0 }] });
    let (c, b) = d.post_anon("/api/rithmic/pnl-snapshot", snap.clone()).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    d.post_anon("/api/rithmic/pnl-snapshot", snap).await;
    assert_one_exit(&d, "daily_stop").await;
    let nq: Vec<_> = d.exit_orders("NQ").await;
    assert_eq!(nq.len(), 1);
    assert_eq!(nq[0]["reason"], "daily_stop");
    assert_eq!(d.state().await["flags"]["daily_stop_triggered"], true);
}

#[tokio::test]
async fn daily_stop_from_engine_pnl_without_a_snapshot() {
    let d = long_es().await; // 5 MES, $5/pt: -20 pts = -$500
    d.post("/api/protect", json!({ "asset": "ES", "enabled": false }))
        .await;
    let s = d.asset("ES").await;
    assert_eq!(s["exits"]["protective_stop_points"], 6.0);
    // a 9pt stop would not save it either; the daily stop fires first on a gap
    d.heartbeat("ES", 4980.0).await;
    let exits = d.exit_orders("ES").await;
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(
        exits[0]["reason"], "protective_stop",
        "the per-position stop wins the same price"
    );
    assert_eq!(d.state().await["account"]["daily_stop_triggered"], true);
}

#[tokio::test]
async fn scale_in_once_a_main_brick_in_profit() {
    let d = long_es().await;
    let (c, b) = d.post("/api/scale-in", json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert!(
        b["error"].as_str().unwrap().contains("needs ≥ 6 pts"),
        "{b}"
    );
    d.heartbeat("ES", 5006.0).await;
    assert_eq!(d.asset("ES").await["scale_in_available"], true);
    let (c, b) = d.post("/api/scale-in", json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["order"]["kind"], "SCALE_IN");
    assert_eq!(b["order"]["side"], "BUY");
    d.fill_all(5006.0).await;
    let p = d.asset("ES").await["position"].clone();
    assert_eq!(
        (p["qty"].as_u64(), p["avg_price"].as_f64()),
        (Some(10), Some(5003.0))
    );
    assert_eq!(p["scaled_in"], true);
    let (c, b) = d.post("/api/scale-in", json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::CONFLICT);
    assert!(b["error"].as_str().unwrap().contains("already scaled in"));
}

#[tokio::test]
async fn auto_exit_confirms_six_points() {
    let d = TestDesk::start().await;
    let (c, b) = d.post("/api/auto-exit", json!({ "asset": "es" })).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(b, json!({ "ok": true, "asset": "ES", "auto_exit": "6pt" }));
}
