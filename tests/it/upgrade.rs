//! A database written before the original desk's rules (schema 5, `fixtures/desk-v5.sql`, made
//! by the engine at cf2eae1) opens under them: a trade open across the upgrade keeps its
//! position and gets the new rules' defaults for what it lacks (store migration 6,
//! `engine::migrate`).
use crate::support::*;
use brickdesk::engine::clock::ManualClock;
use brickdesk::engine::model::AssetConfig;
use brickdesk::engine::state::DeskSettings;
use chrono::TimeZone;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_desk_from_before_the_rules_opens_under_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.sqlite3");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(include_str!("fixtures/desk-v5.sql"))
        .unwrap();
    // 30 s after the old engine wrote it: NQ closed ~30 s ago, ES entered in this candle
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 12, 1, 19, 29, 30)
        .unwrap();
    let clock = ManualClock::new(at);
    let d = TestDesk::start_in(dir, clock, AssetConfig::defaults(), DeskSettings::default()).await;
    let version = d.engine.reader().with(|st| st.schema_version()).unwrap();
    assert_eq!(
        version, 8,
        "every migration ran (8: the audit and the chat)"
    );

    let s = d.state().await;
    let es = &s["assets"][0];
    // the open trade keeps its position and its operator's exits ...
    let p = &es["position"];
    assert_eq!(
        (p["side"].as_str(), p["qty"].as_u64()),
        (Some("BUY"), Some(10))
    );
    assert_eq!(p["avg_price"], 5003.0);
    assert_eq!(es["exits"]["four_pt_invalidation"], true);
    assert_eq!(
        es["exits"]["points_tp"],
        json!({ "enabled": true, "target": 12.0 })
    );
    // ... and gets the new rules' defaults: scaled in once, a 6pt brick seen since the entry
    // (exit lock released), the 8pt flip on, the 2.5pt lock off
    assert_eq!(es["scale_in_stage"], "DONE");
    assert_eq!(
        es["locks"]["exit_lock"],
        json!({ "active": false, "released": true })
    );
    assert_eq!(es["exits"]["high_flip"], true);
    assert_eq!(es["locks"]["two_half_lock"]["locked"], false);
    // the flat asset's carried-over toggle is reset (toggles now reset on every close)
    let nq = &s["assets"][1];
    assert!(nq["position"].is_null());
    assert_eq!(nq["exits"]["main_flip"], false);
    // the per-asset locks became the account's
    assert_eq!(s["account"]["cooldown"]["active"], true, "{}", s["account"]);
    assert_eq!(s["account"]["candle_lock"]["active"], true);
    // orders: the scale-in is an ENTRY with source SCALE_IN, entries are UI, exits keep reasons
    let es_orders = d.orders("ES").await;
    assert_eq!(
        (
            es_orders[0]["kind"].as_str(),
            es_orders[0]["source"].as_str()
        ),
        (Some("ENTRY"), Some("SCALE_IN"))
    );
    assert_eq!(es_orders[1]["source"], "UI");
    assert_eq!(d.orders("NQ").await[0]["source"], "manual_force");

    // the new rules act on the migrated trade
    let (c, b) = d.post("/api/scale-in", json!({ "asset": "ES" })).await;
    assert_eq!(
        (c, b["error"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("Scale-in already used for this trade")
        )
    );
    let (c, b) = d.post("/api/exit", json!({ "asset": "ES" })).await;
    assert_eq!(c, StatusCode::OK, "the exit lock is released: {b}");
    assert_eq!(b["order"]["source"], "manual");
    // the upgraded state was saved in the new format
    let saved = d
        .engine
        .reader()
        .with(|st| st.load_asset_state("ES"))
        .unwrap()
        .unwrap();
    assert!(
        saved.contains("\"neutral\"") && !saved.contains("last_entry_at"),
        "{saved}"
    );
    let before = d.state_without_clock().await;
    let d = d.restart().await;
    assert_eq!(
        d.state_without_clock().await,
        before,
        "the same desk after a restart"
    );
}
