//! The LLM chat against a stand-in Ollama that speaks its protocol (`support::ollama`): seed
//! 000's `/chat/health`, `/chat/models` and `POST /chat`, each failure mapped to the fallback,
//! generations given up closing their connection, the context the model is shown, and fixes
//! applied only by grant.
use crate::runs::{EMA_STRATEGY, artifact, closes, dataset, pine_ema, run_body};
use crate::support::ollama::{self, ANSWER};
use crate::support::*;
use brickdesk::services::chat::ChatConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Deadlines short enough to test: 1 s for the first chunk and between chunks.
fn quick() -> ChatConfig {
    ChatConfig {
        first_chunk_timeout_s: 1,
        idle_timeout_s: 1,
        ..ChatConfig::default()
    }
}

/// A replay whose `ema_fast` diverges from bar 21 (pandas seeds its EMA with the first close,
/// Pine with an SMA); the run's id and its first mismatch.
pub(crate) async fn diverging_run(d: &TestDesk) -> (String, Value) {
    let ds = dataset(d).await;
    let bridge = artifact(d, pine_ema(&closes())).await;
    let mut body = run_body(&ds, &bridge, 21, EMA_STRATEGY, true);
    body["run_config"]["selected_outputs"] = json!(["ema_fast"]);
    let (code, run) = d.post("/runs/replay", body).await;
    assert_eq!(code, StatusCode::OK, "{run}");
    assert_eq!(run["lifecycle"], "completed", "{run}");
    let first = run["comparison"]["first_mismatch"].clone();
    assert_eq!(first["series"], "ema_fast", "{first}");
    (run["run_id"].as_str().unwrap().to_string(), first)
}

pub(crate) fn ask(model: &str, question: &str, run_id: Option<&str>, targets: &[&str]) -> Value {
    json!({ "model": model, "intent": "analysis",
            "messages": [{ "role": "user", "content": question }],
            "include_targets": targets, "run_id": run_id })
}

/// Seed 000's answer, and only its fields.
pub(crate) fn seed_shape(a: &Value) {
    let mut keys: Vec<&str> = a.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "content",
            "error_class",
            "fallback_used",
            "model",
            "proposed_patch",
            "requires_approval",
            "status"
        ],
        "{a}"
    );
}

fn fallback(a: &Value, class: &str) {
    seed_shape(a);
    assert_eq!(
        (&a["status"], &a["error_class"], &a["fallback_used"]),
        (&json!("fallback"), &json!(class), &json!(true)),
        "{a}"
    );
    assert_eq!(
        (&a["requires_approval"], &a["proposed_patch"]),
        (&json!(false), &Value::Null)
    );
}

#[tokio::test]
async fn each_ollama_behaviour_maps_to_the_answer_or_its_fallback_and_the_server_stays_responsive()
{
    let (url, seen) = ollama::start().await;
    let d = TestDesk::start_with_chat(&url, quick()).await;
    let (run, first) = diverging_run(&d).await;
    let bar = first["bar_index"].as_u64().unwrap();
    // chunks 40 ms apart: the whole answer, seed 000's success shape
    let (code, a) = d
        .post("/chat", ask("stand-in:latest", "Why?", None, &[]))
        .await;
    assert_eq!(code, StatusCode::OK, "{a}");
    seed_shape(&a);
    assert_eq!(a["content"], ANSWER.concat());
    assert_eq!(
        (&a["status"], &a["error_class"], &a["fallback_used"]),
        (&json!("ok"), &Value::Null, &json!(false))
    );
    assert_eq!(a["model"], "stand-in:latest");
    // 404: model_missing, in the seed's own words (no run: "No mismatch detected yet.")
    let (code, a) = d
        .post("/chat", ask("missing:latest", "Why?", None, &[]))
        .await;
    assert_eq!(code, StatusCode::OK, "{a}");
    fallback(&a, "model_missing");
    assert_eq!(
        a["content"],
        "Selected model is not available locally. Model 'missing:latest' is not available locally. No mismatch detected yet."
    );
    // an error line mid-stream: Ollama's words, then the run's analysis
    let (_, a) = d
        .post(
            "/chat",
            ask("mid-error:latest", "Why?", Some(&run), &["run_artifacts"]),
        )
        .await;
    fallback(&a, "bad_response");
    let text = a["content"].as_str().unwrap();
    assert!(
        text.contains("Ollama reported an error mid-answer: model runner has unexpectedly stopped"),
        "{text}"
    );
    assert!(
        text.contains(&format!("First mismatch: ema_fast at bar {bar}")),
        "{text}"
    );
    // a line that is not JSON
    let (_, a) = d
        .post("/chat", ask("malformed:latest", "Why?", Some(&run), &[]))
        .await;
    fallback(&a, "bad_response");
    assert!(
        a["content"]
            .as_str()
            .unwrap()
            .contains("Ollama sent a line that is not JSON: <html>"),
        "{a}"
    );
    // headers, then nothing: a timeout after 1 s; meanwhile the server answers
    let asked = Instant::now();
    let hung = {
        let (client, url) = (d.client.clone(), d.url("/chat"));
        tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&ask("hang:latest", "Why?", Some(&run), &["run_artifacts"]))
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            (v, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    let (code, h) = d.get("/health").await;
    assert_eq!((code, &h["status"]), (StatusCode::OK, &json!("ok")));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "/health took {:?} while a generation hung",
        t.elapsed()
    );
    let (a, answered) = within("the hung generation's fallback", hung)
        .await
        .unwrap();
    fallback(&a, "timeout");
    assert!(
        a["content"]
            .as_str()
            .unwrap()
            .contains("sent no first chunk within 1 s"),
        "{a}"
    );
    let conn = seen.closed("hang:latest", Duration::from_secs(2)).await;
    let closed = conn.closed.unwrap();
    assert!(
        closed.duration_since(conn.received) >= Duration::from_millis(900),
        "closed before the deadline"
    );
    // the decision is made just before the answer leaves: the connection closed by then + 100 ms
    assert!(
        closed <= answered + Duration::from_millis(100),
        "the connection closed {:?} after the answer",
        closed.duration_since(answered)
    );
    assert!(asked.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn with_ollama_refusing_connections_chat_falls_back_and_health_says_so() {
    let url = ollama::refused().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let (run, first) = diverging_run(&d).await;
    let (code, a) = d
        .post("/chat", ask("stand-in:latest", "Why?", Some(&run), &[]))
        .await;
    assert_eq!(code, StatusCode::OK, "{a}");
    fallback(&a, "ollama_unreachable");
    let text = a["content"].as_str().unwrap();
    assert!(text.starts_with("Ollama is not reachable"), "{text}");
    assert!(
        text.contains(&format!("Ollama unreachable at {url}")),
        "{text}"
    );
    // the deterministic analysis: the same run, the same words
    let (_, again) = d
        .post("/chat", ask("stand-in:latest", "Again?", Some(&run), &[]))
        .await;
    assert_eq!(again["content"], a["content"]);
    assert!(
        text.contains(&format!(
            "First mismatch: ema_fast at bar {} ({})",
            first["bar_index"],
            first["timestamp"].as_str().unwrap()
        )),
        "{text}"
    );
    let (_, h) = d.get("/chat/health").await;
    assert_eq!(
        (&h["base_url"], &h["reachable"], &h["version"]),
        (&json!(url), &json!(false), &Value::Null),
        "{h}"
    );
    assert!(h["binary_found"].is_boolean(), "{h}");
    let (code, m) = d.get("/chat/models").await;
    assert_eq!(code, StatusCode::BAD_GATEWAY, "{m}");
    assert!(
        m["detail"]
            .as_str()
            .unwrap()
            .contains("Ollama unreachable at"),
        "{m}"
    );
    let (_, deps) = d.get("/dependencies/status").await;
    assert_eq!(deps["ollama"]["available"], false, "{deps}");
}

#[tokio::test]
async fn models_health_and_dependencies_report_the_real_ollama() {
    let (url, _) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let (code, models) = d.get("/chat/models").await;
    assert_eq!(code, StatusCode::OK, "{models}");
    assert_eq!(
        models,
        json!([
            { "name": "stand-in:latest", "model": "stand-in:latest", "size": 4_683_087_332u64,
              "modified_at": "2026-11-30T09:15:00.123456789Z", "chat_capable": true },
            { "name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "size": 274_302_450u64,
              "modified_at": "2026-11-30T09:15:00.123456789Z", "chat_capable": false },
            { "name": "fixer:latest", "model": "fixer:latest", "size": 4_683_087_332u64,
              "modified_at": "2026-11-30T09:15:00.123456789Z", "chat_capable": true },
            { "name": "slow:latest", "model": "slow:latest", "size": 2_019_393_189u64,
              "modified_at": "2026-11-30T09:15:00.123456789Z", "chat_capable": true },
        ])
    );
    let (_, h) = d.get("/chat/health").await;
    assert_eq!(
        (&h["base_url"], &h["reachable"], &h["version"]),
        (&json!(url), &json!(true), &json!("0.12.3")),
        "{h}"
    );
    let (_, deps) = d.get("/dependencies/status").await;
    assert_eq!(
        deps["ollama"],
        json!({ "name": "ollama", "available": true, "detail": "Ollama API reachable: {\"version\":\"0.12.3\"}" })
    );
}

#[tokio::test]
async fn the_model_sees_what_was_asked_for_and_nothing_else() {
    let (url, seen) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let (run, first) = diverging_run(&d).await;
    let mismatch = format!("First mismatch: ema_fast at bar {}", first["bar_index"]);
    let python = "frame[\"close\"].ewm(span=21, adjust=False).mean()";
    let pine = "emaFast = ta.ema(close, 21)";
    let told = |i: usize| -> String {
        let chats = seen.chats();
        chats[i]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cases: [(&[&str], [bool; 3]); 4] = [
        (
            &["pine_code", "python_code", "run_artifacts"],
            [true, true, true],
        ),
        (&["run_artifacts"], [false, false, true]),
        (&["python_code"], [false, true, false]),
        (&[], [false, false, false]),
    ];
    for (i, (targets, [p, y, r])) in cases.iter().enumerate() {
        let (code, a) = d
            .post(
                "/chat",
                ask(
                    "stand-in:latest",
                    "Explain the first mismatch.",
                    Some(&run),
                    targets,
                ),
            )
            .await;
        assert_eq!((code, &a["status"]), (StatusCode::OK, &json!("ok")), "{a}");
        let text = told(i);
        assert_eq!(text.contains(pine), *p, "{targets:?}: Pine code\n{text}");
        assert_eq!(
            text.contains(python),
            *y,
            "{targets:?}: Python code\n{text}"
        );
        assert_eq!(
            text.contains(&mismatch),
            *r,
            "{targets:?}: first mismatch\n{text}"
        );
        assert_eq!(
            text.contains("Bars around the first mismatch"),
            *r,
            "{targets:?}: nearby bars\n{text}"
        );
        assert!(text.contains("Explain the first mismatch."), "{text}");
        assert_eq!(seen.chats()[i]["stream"], true);
    }
    // the bars around it: three on each side, the mismatch marked
    let text = told(0);
    let marked: Vec<&str> = text
        .lines()
        .filter(|l| l.ends_with("<- first mismatch"))
        .collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(
        marked[0].starts_with(&format!("{} ", first["bar_index"])),
        "{text}"
    );
    // no run: no context at all
    d.post(
        "/chat",
        ask(
            "stand-in:latest",
            "Hello?",
            None,
            &["pine_code", "python_code", "run_artifacts"],
        ),
    )
    .await;
    let text = told(4);
    assert!(!text.contains("Context:"), "{text}");
    assert!(
        !text.contains(python) && !text.contains(&mismatch),
        "{text}"
    );
}

#[tokio::test]
async fn a_cancelled_generation_closes_its_connection_at_ollama_within_100_ms() {
    use brickdesk::services::chat::{ChatRequest, ChatService};
    use brickdesk::services::ollama::{Ollama, Timeouts};
    let (url, seen) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let runs =
        brickdesk::services::runs::RunService::new(d.engine.clone(), Default::default()).unwrap();
    let chat = ChatService::new(
        d.engine.clone(),
        runs,
        Ollama::new(&url, Timeouts::default()),
        1,
    )
    .unwrap();
    for model in ["hang:latest", "stand-in:latest"] {
        let cancel = tokio_util::sync::CancellationToken::new();
        let req: ChatRequest = serde_json::from_value(ask(model, "Why?", None, &[])).unwrap();
        let pieces = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let task = {
            let (chat, cancel, pieces) = (chat.clone(), cancel.clone(), pieces.clone());
            tokio::spawn(async move {
                chat.chat(req, cancel, move |p| {
                    pieces.lock().unwrap().push(p.to_string())
                })
                .await
            })
        };
        // hung after its headers, or mid-answer after the first chunk
        let t = Instant::now();
        while !seen
            .conns
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.model.as_deref() == Some(model))
            || (model == "stand-in:latest" && pieces.lock().unwrap().is_empty())
        {
            assert!(t.elapsed() < Duration::from_secs(5));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let decided = Instant::now();
        cancel.cancel();
        let conn = seen.closed(model, Duration::from_secs(2)).await;
        let after = conn.closed.unwrap().duration_since(decided);
        eprintln!("{model}: closed at the stand-in {after:?} after the cancel");
        assert!(after < Duration::from_millis(100), "{model}: {after:?}");
        let a = within("the cancelled answer", task).await.unwrap().unwrap();
        assert_eq!(
            (a.status.as_str(), a.error_class.as_deref()),
            ("cancelled", Some("cancelled"))
        );
        if model == "stand-in:latest" {
            assert!(a.content.starts_with(ANSWER[0]), "{}", a.content);
            assert!(a.content.ends_with("(cancelled)"), "{}", a.content);
        }
    }
    // a streaming client that hangs up cancels too (noticed at the next line, within a second)
    let resp = d
        .client
        .post(d.url("/chat/stream"))
        .json(&ask("hang:latest", "Why?", None, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let mut resp = resp;
    let line = within("a waiting line", resp.chunk())
        .await
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["type"], "waiting", "{v}");
    let gone = Instant::now();
    drop(resp);
    let conn = seen.closed("hang:latest", Duration::from_secs(3)).await;
    let after = conn.closed.unwrap().duration_since(gone);
    eprintln!("stream client gone: closed at the stand-in {after:?} later");
    assert!(after < Duration::from_millis(1500), "{after:?}");
}

#[tokio::test]
async fn the_stream_route_sends_each_piece_then_the_seed_answer() {
    let (url, _) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let text = d
        .client
        .post(d.url("/chat/stream"))
        .json(&ask("stand-in:latest", "Why?", None, &[]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let deltas: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "delta")
        .map(|l| l["content"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ANSWER);
    let last = lines.last().unwrap();
    assert_eq!(
        (&last["type"], &last["status"], &last["content"]),
        (&json!("answer"), &json!("ok"), &json!(ANSWER.concat()))
    );
}

#[tokio::test]
async fn bad_chat_requests_are_refused_and_change_nothing() {
    let (url, seen) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let (run, _) = diverging_run(&d).await;
    let ok = ask("stand-in:latest", "Why?", Some(&run), &[]);
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases = [
        (
            with("model", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "model is required",
        ),
        (
            with("intent", json!("delete_everything")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "intent must be analysis or apply_fix",
        ),
        (
            with("messages", json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "messages must hold",
        ),
        (
            with("messages", json!([{ "role": "wizard", "content": "hi" }])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "messages[0].role",
        ),
        (
            with("messages", json!([{ "role": "user", "content": 5 }])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "content",
        ),
        (
            with("include_targets", json!(["secrets"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown target \"secrets\"",
        ),
        (
            with("run_id", json!("run-nothere")),
            StatusCode::NOT_FOUND,
            "run-nothere",
        ),
        (
            json!({ "model": "stand-in:latest", "intent": "apply_fix", "run_id": null,
                    "messages": [{ "role": "user", "content": "Fix it." }] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "apply_fix needs a run_id",
        ),
    ];
    for (body, status, words) in cases {
        for path in ["/chat", "/chat/stream"] {
            let (code, r) = d.post(path, body.clone()).await;
            assert_eq!(code, status, "{path} {body}: {r}");
            assert!(
                r["detail"].as_str().unwrap().contains(words),
                "{path} {body}: {r}"
            );
        }
    }
    let (code, r) = d
        .post(
            "/chat/apply",
            json!({ "run_id": run, "proposed_patch": "@@ -1 +1 @@\n-nothing like this\n+x\n" }),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    assert!(
        r["detail"].as_str().unwrap().contains("does not apply"),
        "{r}"
    );
    let (code, r) = d.post("/chat/apply", json!({ "run_id": run })).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    let (code, r) = d
        .post(
            "/chat/apply",
            json!({ "run_id": "run-nothere", "proposed_patch": "x" }),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{r}");
    // nothing asked of Ollama, nothing kept, nothing audited
    assert!(seen.chats().is_empty());
    let (_, conv) = d.get(&format!("/chat/conversations?run_id={run}")).await;
    assert_eq!(conv["messages"], json!([]));
    let (_, audit) = d.get("/permissions/audit").await;
    assert_eq!(audit, json!([]));
}

#[tokio::test]
async fn conversations_are_kept_per_run_and_come_back_after_a_restart() {
    let (url, _) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let (run, _) = diverging_run(&d).await;
    d.post(
        "/chat",
        ask(
            "stand-in:latest",
            "About this run?",
            Some(&run),
            &["run_artifacts"],
        ),
    )
    .await;
    d.post(
        "/chat",
        ask("missing:latest", "And with no run?", None, &[]),
    )
    .await;
    let d = d.restart().await;
    let (_, conv) = d.get(&format!("/chat/conversations?run_id={run}")).await;
    let msgs = conv["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{conv}");
    assert_eq!(msgs[0]["content"], "About this run?");
    assert_eq!(msgs[0]["targets"], json!(["run_artifacts"]));
    assert_eq!(msgs[1]["content"], ANSWER.concat());
    assert_eq!(msgs[1]["status"], "ok");
    let (_, none) = d.get("/chat/conversations").await;
    let msgs = none["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{none}");
    assert_eq!(
        (&msgs[1]["status"], &msgs[1]["error_class"]),
        (&json!("fallback"), &json!("model_missing"))
    );
    let (code, r) = d.get("/chat/conversations?run_id=run-nothere").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{r}");
}
