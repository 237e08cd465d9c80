//! Fixes the model proposes (`intent: apply_fix`): applied only under a write grant, once, each
//! attempt audited, the patched code replayed at once; and grants kept for what they were given
//! for.
use crate::chat::{ask, diverging_run, seed_shape};
use crate::runs::{EMA_STRATEGY, artifact, closes, dataset, pine_ema, run_body};
use crate::support::ollama;
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_fix_applies_only_by_grant_once_the_audit_keeps_both_and_the_replay_shows_the_result() {
    let (url, _) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let (run, _) = diverging_run(&d).await;
    let mut body = ask(
        "fixer:latest",
        "Fix the EMA seeding.",
        Some(&run),
        &["pine_code", "run_artifacts"],
    );
    body["intent"] = json!("apply_fix");
    let (code, a) = d.post("/chat", body).await;
    assert_eq!(code, StatusCode::OK, "{a}");
    seed_shape(&a);
    assert_eq!(
        (&a["status"], &a["requires_approval"]),
        (&json!("ok"), &json!(true)),
        "{a}"
    );
    let patch = a["proposed_patch"].as_str().unwrap().to_string();
    assert!(
        patch.contains("+    seeded.iloc[20] = frame[\"close\"].iloc[:21].mean()"),
        "{patch}"
    );
    // its hunk header counted again: 3 old lines, 6 new
    assert!(patch.contains("@@ -5,3 +5,6 @@"), "{patch}");
    let apply = json!({ "run_id": run, "proposed_patch": patch });
    // no grant: refused, and audited
    let (code, r) = d.post("/chat/apply", apply.clone()).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{r}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .starts_with("write access to python_code is not allowed"),
        "{r}"
    );
    let (code, g) = d
        .post(
            "/permissions/grant",
            json!({ "target": "python_code", "access": "write", "scope": "single_action",
                    "approved": true, "ttl_minutes": 15, "audit_note": "User approved one write action" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{g}");
    let (code, done) = d.post("/chat/apply", apply.clone()).await;
    assert_eq!(code, StatusCode::OK, "{done}");
    assert_eq!(done["audit"]["outcome"], "applied");
    assert_eq!(done["audit"]["grant_id"], g["grant_id"]);
    // the fresh replay of the patched code: the mismatch went away
    let replay = done["replay_run"]["run_id"].as_str().unwrap();
    assert_ne!(replay, run);
    let (code, st) = d.get(&format!("/runs/{replay}")).await;
    assert_eq!(code, StatusCode::OK, "{st}");
    assert_eq!(st["lifecycle"], "completed", "{st}");
    assert_eq!(
        st["comparison"]["summary"]["aligned"], true,
        "{}",
        st["comparison"]
    );
    assert!(
        st["request"]["python_artifact"]["source_code"]
            .as_str()
            .unwrap()
            .contains("seeded.ewm(span=21, adjust=False)")
    );
    // applied once: a second application is refused (the patch no longer waits), and audited
    let (code, r) = d.post("/chat/apply", apply).await;
    assert_eq!(code, StatusCode::CONFLICT, "{r}");
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .contains("no proposed patch like this waiting for approval"),
        "{r}"
    );
    let (_, audit) = d.get("/permissions/audit").await;
    let outcomes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refused", "applied", "refused"], "{audit}");
    assert_eq!(audit[1]["replay_run_id"], replay);
    assert_eq!(audit[1]["run_id"], run.as_str());
    assert!(audit[0]["grant_id"].is_null() && audit[2]["grant_id"].is_null());
    let (_, grants) = d.get("/permissions").await;
    assert_eq!(grants[0]["consumed_by"], audit[1]["audit_id"], "{grants}");
    // the conversation keeps the question, the answer and what came of its patch
    let (_, conv) = d.get(&format!("/chat/conversations?run_id={run}")).await;
    let msgs = conv["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{conv}");
    assert_eq!(
        (&msgs[0]["role"], &msgs[1]["role"]),
        (&json!("user"), &json!("assistant"))
    );
    assert_eq!(msgs[1]["patch_state"], "applied", "{conv}");
    assert!(d.logged("apply_fix on").await);
}

#[tokio::test]
async fn a_write_grant_is_kept_for_its_fix_and_protected_code_needs_a_read_grant_of_its_own() {
    let (url, seen) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    // a run of code its artifact forbids reading: one read grant lets it run
    let grant = |access: &str| {
        json!({ "target": "python_code", "access": access, "scope": "single_action",
                "approved": true, "ttl_minutes": 15, "audit_note": "test" })
    };
    d.post("/permissions/grant", grant("read")).await;
    let ds = dataset(&d).await;
    let bridge = artifact(&d, pine_ema(&closes())).await;
    let mut body = run_body(&ds, &bridge, 21, EMA_STRATEGY, false);
    body["run_config"]["selected_outputs"] = json!(["ema_fast"]);
    let (code, run) = d.post("/runs/replay", body).await;
    assert_eq!(
        (code, &run["lifecycle"]),
        (StatusCode::OK, &json!("completed")),
        "{run}"
    );
    let run = run["run_id"].as_str().unwrap().to_string();
    // a write grant given first is not spent on reading the code for a question
    let (_, write) = d.post("/permissions/grant", grant("write")).await;
    let mut fix = ask("fixer:latest", "Fix it.", Some(&run), &["python_code"]);
    fix["intent"] = json!("apply_fix");
    let (_, a) = d.post("/chat", fix.clone()).await;
    seed_shape(&a);
    assert_eq!(a["requires_approval"], false, "{a}");
    assert!(
        a["content"]
            .as_str()
            .unwrap()
            .contains("The Python code was not shown (read access to python_code is not allowed"),
        "{a}"
    );
    let told: String = seen.chats()[0]["messages"].to_string();
    assert!(
        !told.contains("adjust=False).mean()"),
        "the model saw protected code: {told}"
    );
    let (_, grants) = d.get("/permissions").await;
    let w = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["grant_id"] == write["grant_id"])
        .unwrap();
    assert!(w["consumed_at"].is_null(), "{w}");
    // with its own read grant the question shows the code; the write grant applies the fix and
    // covers its replay; the replayed artifact still forbids reading
    d.post("/permissions/grant", grant("read")).await;
    let (_, a) = d.post("/chat", fix).await;
    assert_eq!(a["requires_approval"], true, "{a}");
    let (code, done) = d
        .post(
            "/chat/apply",
            json!({ "run_id": run, "proposed_patch": a["proposed_patch"] }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{done}");
    assert_eq!(done["audit"]["grant_id"], write["grant_id"]);
    let replay = &done["replay_run"];
    assert_eq!(replay["lifecycle"], "completed", "{replay}");
    assert_eq!(replay["comparison"]["summary"]["aligned"], true);
    let artifact = &replay["request"]["python_artifact"];
    assert_eq!(artifact["permissions"]["read_allowed"], false);
    assert_eq!(artifact["adapter_metadata"]["patched_from"], run.as_str());
    assert_eq!(artifact["adapter_metadata"]["engine"], "local-python");
}
