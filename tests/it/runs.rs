//! Parity runs with real pandas (seed 000): the seed's EMA strategy against a Pine artifact
//! computed independently (Pine's ta.ema seeds with the SMA of the first N closes).
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const N: usize = 21;
const BARS: usize = 300;
pub(crate) const EMA_STRATEGY: &str = "import pandas as pd\n\ndef run_strategy(frame: pd.DataFrame) -> pd.DataFrame:\n    frame = frame.copy()\n    frame[\"ema_fast\"] = frame[\"close\"].ewm(span=21, adjust=False).mean()\n    frame[\"long_condition\"] = frame[\"close\"] > frame[\"ema_fast\"]\n    return frame\n";

pub(crate) fn closes() -> Vec<f64> {
    let mut c = 713.0;
    (0..BARS)
        .map(|i| {
            c += ((i * 7919 % 13) as f64 - 6.0) * 0.11 + (i as f64 * 0.05).sin() * 0.3;
            (c * 100.0f64).round() / 100.0
        })
        .collect()
}

pub(crate) fn stamp(i: usize) -> String {
    (chrono::DateTime::parse_from_rfc3339("2025-02-27T03:45:00Z").unwrap()
        + chrono::Duration::minutes(5 * i as i64))
    .to_rfc3339()
}

/// Pine's ta.ema: na for the first N-1 bars, the SMA at bar N-1, then the recursion.
pub(crate) fn pine_ema(c: &[f64]) -> Vec<Option<f64>> {
    let a = 2.0 / (N as f64 + 1.0);
    let mut out = vec![None; c.len()];
    let mut prev = c[..N].iter().sum::<f64>() / N as f64;
    out[N - 1] = Some(prev);
    for i in N..c.len() {
        prev = a * c[i] + (1.0 - a) * prev;
        out[i] = Some(prev);
    }
    out
}

/// pandas' ewm(span=N, adjust=False): starts at the first close.
fn pandas_ema(c: &[f64]) -> Vec<f64> {
    let a = 2.0 / (N as f64 + 1.0);
    let mut prev = c[0];
    c.iter()
        .map(|x| {
            prev = a * x + (1.0 - a) * prev;
            prev
        })
        .collect()
}

pub(crate) async fn dataset(d: &TestDesk) -> String {
    let path = d.dir.path().join("sbin.csv");
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    for (i, c) in closes().iter().enumerate() {
        text += &format!("{},{c},{},{},{c},100\n", stamp(i), c + 0.5, c - 0.5);
    }
    std::fs::write(&path, text).unwrap();
    let (code, b) = d.post("/data-sources/save", json!({ "type": "csv", "name": "SBIN", "file_path": path, "symbol": "SBIN", "timeframe": "5m" })).await;
    assert_eq!(code, StatusCode::OK, "{b}");
    b["dataset_id"].as_str().unwrap().to_string()
}

pub(crate) async fn artifact(d: &TestDesk, ema: Vec<Option<f64>>) -> String {
    let py = pandas_ema(&closes());
    let long: Vec<Value> = closes()
        .iter()
        .zip(&py)
        .enumerate()
        .map(|(i, (c, e))| json!({ "timestamp": stamp(i), "value": c > e }))
        .collect();
    let ema: Vec<Value> = ema
        .iter()
        .enumerate()
        .map(|(i, v)| json!({ "timestamp": stamp(i), "value": v }))
        .collect();
    let (code, b) = d
        .post(
            "/pine-bridge/artifacts",
            json!({ "name": "SBIN bridge artifact", "symbol": "SBIN", "timeframe": "5m",
                    "source_code": "//@version=5\nstrategy(\"EMA\")\nemaFast = ta.ema(close, 21)\nlongCondition = close > emaFast\n",
                    "indicator_series": [
                        { "name": "ema_fast", "pane": "main", "style": { "color": "#f4b942" }, "warmup_bars": 100, "values": ema },
                        { "name": "longCondition", "pane": "main", "values": long }
                    ],
                    "trade_events": [], "notes": "test export" }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{b}");
    assert!(
        b["bridge_artifact_id"]
            .as_str()
            .unwrap()
            .starts_with("bridge-")
    );
    b["bridge_artifact_id"].as_str().unwrap().to_string()
}

pub(crate) fn run_body(
    dataset: &str,
    bridge: &str,
    warmup: usize,
    source: &str,
    read_allowed: bool,
) -> Value {
    json!({
        "dataset_id": dataset,
        "run_config": { "mode": "pine_bridge", "symbol": "SBIN", "timeframe": "5m", "date_from": null, "date_to": null,
                        "one_open_position": true, "tolerance": 0.001, "warmup_bars": warmup,
                        "selected_outputs": ["ema_fast", "long_condition"], "timezone": "UTC" },
        "python_artifact": { "language": "python", "name": "Python EMA Strategy", "source_code": source,
                             "declared_outputs": ["ema_fast", "long_condition"],
                             "permissions": { "read_allowed": read_allowed, "write_allowed": false },
                             "adapter_metadata": { "engine": "local-python" } },
        "pine_artifact": null,
        "bridge_artifact_id": bridge,
    })
}

async fn replay(d: &TestDesk, body: Value) -> Value {
    let (code, b) = d.post("/runs/replay", body).await;
    assert_eq!(code, StatusCode::OK, "{b}");
    b
}

#[tokio::test]
async fn ema_strategy_aligns_with_enough_warmup_and_reports_the_first_mismatch_otherwise() {
    let d = TestDesk::start().await;
    let ds = dataset(&d).await;
    let bridge = artifact(&d, pine_ema(&closes())).await;

    // enough warmup: the SMA seeding has decayed below the tolerance
    let r = replay(&d, run_body(&ds, &bridge, 100, EMA_STRATEGY, true)).await;
    assert_eq!(r["lifecycle"], "completed", "{}", r["error"]);
    let c = &r["comparison"];
    assert_eq!(c["summary"]["aligned"], true, "{}", c);
    assert_eq!(c["summary"]["total_series"], 2);
    assert_eq!(c["summary"]["mismatched_series"], 0);
    assert_eq!(c["summary"]["compared_values"], 2 * (BARS - 100));
    assert!(c["first_mismatch"].is_null());
    assert_eq!(r["candles"].as_array().unwrap().len(), BARS);
    assert_eq!(r["live_progress"], BARS);
    assert!(
        c["suggested_next_action"]
            .as_str()
            .unwrap()
            .starts_with("Aligned")
    );

    // too little warmup: the first mismatch is where the test computes it independently
    let warmup = 10;
    let (py, pine) = (pandas_ema(&closes()), pine_ema(&closes()));
    let expect = (warmup..BARS)
        .find(|&i| pine[i].is_none_or(|p| (py[i] - p).abs() > 0.001))
        .unwrap();
    let last = (warmup..BARS)
        .rev()
        .find(|&i| pine[i].is_none_or(|p| (py[i] - p).abs() > 0.001))
        .unwrap();
    let r = replay(&d, run_body(&ds, &bridge, warmup, EMA_STRATEGY, true)).await;
    let c = &r["comparison"];
    assert_eq!(c["summary"]["aligned"], false);
    let first = &c["first_mismatch"];
    assert_eq!(first["series"], "ema_fast");
    assert_eq!(first["bar_index"], expect);
    assert_eq!(first["timestamp"], stamp(expect));
    assert!((first["python_value"].as_f64().unwrap() - py[expect]).abs() < 1e-9);
    assert_eq!(first["pine_value"].as_f64(), pine[expect]);
    let ema = c["series_mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["series"] == "ema_fast")
        .unwrap();
    let expected_count = (warmup..BARS)
        .filter(|&i| pine[i].is_none_or(|p| (py[i] - p).abs() > 0.001))
        .count();
    assert_eq!(ema["mismatch_count"], expected_count);
    let hint = c["suggested_next_action"].as_str().unwrap();
    assert!(
        hint.contains(&format!("warmup_bars to at least {}", last + 1)),
        "{hint}"
    );
    assert!(
        c["unsupported_feature_warnings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// A replay against an artifact whose EMA is off by 0.5 at bar 200 alone.
async fn perturbed_run(d: &TestDesk) -> Value {
    let ds = dataset(d).await;
    let mut pine = pine_ema(&closes());
    pine[200] = pine[200].map(|v| v + 0.5);
    let bridge = artifact(d, pine).await;
    replay(d, run_body(&ds, &bridge, 100, EMA_STRATEGY, true)).await
}

#[tokio::test]
async fn a_single_perturbed_artifact_value_is_found_exactly_and_names_match_across_styles() {
    let d = TestDesk::start().await;
    let r = perturbed_run(&d).await;
    let c = &r["comparison"];
    assert_eq!(c["summary"]["mismatched_series"], 1);
    let ema = &c["series_mismatches"][0];
    assert_eq!(
        (ema["series"].as_str(), ema["mismatch_count"].as_u64()),
        (Some("ema_fast"), Some(1))
    );
    assert_eq!(c["first_mismatch"]["bar_index"], 200);
    assert_eq!(c["first_mismatch"]["timestamp"], stamp(200));
    assert!((c["first_mismatch"]["difference"].as_f64().unwrap() + 0.5).abs() < 1e-6);
    // long_condition (Python) ≡ longCondition (Pine): matched, compared, equal
    let results = c["series_results"].as_array().unwrap();
    let long = results
        .iter()
        .find(|s| s["series"] == "long_condition")
        .unwrap();
    assert_eq!(long["pine_name"], "longCondition");
    assert_eq!(long["compared"], BARS - 100);
    assert_eq!(long["mismatch_count"], 0);
    assert!(
        c["suggested_next_action"]
            .as_str()
            .unwrap()
            .contains("single bar")
    );
    // the run is stored and listed
    let (_, runs) = d.get("/runs").await;
    assert_eq!(runs[0]["run_id"], r["run_id"]);
    let (code, one) = d
        .get(&format!("/runs/{}", r["run_id"].as_str().unwrap()))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(one["comparison"], r["comparison"]);
    let (code, _) = d.get("/runs/run-nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_strategies_fail_their_run_and_leave_the_server_fine() {
    let d = TestDesk::start().await;
    let ds = dataset(&d).await;
    let bridge = artifact(&d, pine_ema(&closes())).await;
    let cases = [
        (
            "raises",
            "def run_strategy(frame):\n    return 1 / 0\n",
            "ZeroDivisionError",
        ),
        (
            "loops",
            "def run_strategy(frame):\n    while True:\n        pass\n",
            "ran longer than 5 s and was killed",
        ),
        ("no entry point", "x = 1\n", "defines no run_strategy"),
        (
            "not a frame",
            "def run_strategy(frame):\n    return [1, 2]\n",
            "not a pandas DataFrame",
        ),
        (
            "memory",
            "import numpy as np\ndef run_strategy(frame):\n    x = np.ones(10**10)\n    return frame\n",
            "ran out of memory",
        ),
        (
            "syntax",
            "def run_strategy(frame)\n    return frame\n",
            "SyntaxError",
        ),
    ];
    for (what, source, expect) in cases {
        let r = replay(&d, run_body(&ds, &bridge, 100, source, true)).await;
        assert_eq!(r["lifecycle"], "failed", "{what}");
        let err = r["error"].as_str().unwrap();
        assert!(err.contains(expect), "{what}: {err}");
        let (_, one) = d
            .get(&format!("/runs/{}", r["run_id"].as_str().unwrap()))
            .await;
        assert_eq!(one["lifecycle"], "failed");
    }
    let (code, _) = d.get("/health").await;
    assert_eq!(code, StatusCode::OK);
    let r = replay(&d, run_body(&ds, &bridge, 100, EMA_STRATEGY, true)).await;
    assert_eq!(
        r["comparison"]["summary"]["aligned"], true,
        "a good run still works"
    );
}

#[tokio::test]
async fn missing_python_or_pandas_is_a_clear_error_naming_the_fix() {
    let d = TestDesk::start_with_python(brickdesk::engine::runs::python::Limits {
        python: "python3-that-does-not-exist".into(),
        ..Default::default()
    })
    .await;
    let ds = dataset(&d).await;
    let r = replay(
        &d,
        run_body(&ds, "", 100, EMA_STRATEGY, true)
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "bridge_artifact_id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    )
    .await;
    assert_eq!(r["lifecycle"], "failed");
    assert!(
        r["error"].as_str().unwrap().contains("install Python 3"),
        "{}",
        r["error"]
    );

    // a python whose site-packages are hidden: no numpy/pandas
    let fake = d.dir.path().join("bare-python");
    std::fs::write(&fake, "#!/bin/sh\nexec python3 -S \"$@\"\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&fake).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let d2 = TestDesk::start_with_python(brickdesk::engine::runs::python::Limits {
        python: fake.display().to_string(),
        ..Default::default()
    })
    .await;
    let ds2 = dataset(&d2).await;
    let mut body = run_body(&ds2, "", 100, EMA_STRATEGY, true);
    body.as_object_mut().unwrap().remove("bridge_artifact_id");
    let r = replay(&d2, body).await;
    assert_eq!(r["lifecycle"], "failed");
    assert!(
        r["error"].as_str().unwrap().contains("pip install pandas"),
        "{}",
        r["error"]
    );
}

#[tokio::test]
async fn read_permission_grants_single_action_and_expiry() {
    let d = TestDesk::start().await;
    let ds = dataset(&d).await;
    let bridge = artifact(&d, pine_ema(&closes())).await;
    let body = run_body(&ds, &bridge, 100, EMA_STRATEGY, false);
    let (code, b) = d.post("/runs/replay", body.clone()).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("read access to python_code is not allowed")
    );
    // a single-action grant is spent by one run
    let grant = json!({ "target": "python_code", "access": "read", "scope": "single_action", "approved": true, "ttl_minutes": 15, "audit_note": "one replay" });
    let (code, g) = d.post("/permissions/grant", grant.clone()).await;
    assert_eq!(code, StatusCode::OK, "{g}");
    assert_eq!(replay(&d, body.clone()).await["lifecycle"], "completed");
    let (code, _) = d.post("/runs/replay", body.clone()).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "spent");
    let (_, list) = d.get("/permissions").await;
    assert_eq!(list[0]["grant_id"], g["grant_id"]);
    assert!(list[0]["consumed_at"].is_string());
    assert!(list[0]["consumed_by"].as_str().unwrap().starts_with("run-"));
    // an expired grant is refused
    d.post("/permissions/grant", grant).await;
    d.advance(16 * 60).await;
    let (code, _) = d.post("/runs/replay", body.clone()).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "expired");
    // a session grant lasts until it expires; a revocation ends it
    let session = json!({ "target": "python_code", "access": "read", "scope": "session", "approved": true, "ttl_minutes": 60 });
    d.post("/permissions/grant", session).await;
    assert_eq!(replay(&d, body.clone()).await["lifecycle"], "completed");
    assert_eq!(replay(&d, body.clone()).await["lifecycle"], "completed");
    d.advance(1).await;
    d.post(
        "/permissions/grant",
        json!({ "target": "python_code", "access": "read", "approved": false }),
    )
    .await;
    let (code, _) = d.post("/runs/replay", body).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "revoked");
    let (code, b) = d
        .post(
            "/permissions/grant",
            json!({ "target": "python_code", "access": "admin", "approved": true }),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}

/// Saves `artifact`, then replays the EMA strategy against it: (its id, the run).
async fn replay_against(d: &TestDesk, ds: &str, artifact: Value) -> (String, Value) {
    let (code, a) = d.post("/pine-bridge/artifacts", artifact).await;
    assert_eq!(code, StatusCode::OK, "{a}");
    let id = a["bridge_artifact_id"].as_str().unwrap().to_string();
    let run = replay(d, run_body(ds, &id, 100, EMA_STRATEGY, true)).await;
    (id, run)
}

#[tokio::test]
async fn trade_events_from_python_signals_compare_with_the_artifact() {
    let d = TestDesk::start().await;
    let ds = dataset(&d).await;
    let (c, py) = (closes(), pandas_ema(&closes()));
    let first_long = (100..BARS).find(|&i| c[i] > py[i]).unwrap();
    let make = |events: Value, source: &str| {
        json!({ "name": "with trades", "source_code": source,
                "indicator_series": [{ "name": "ema_fast", "values": pine_ema(&c).iter().enumerate().map(|(i, v)| json!({ "timestamp": stamp(i), "value": v })).collect::<Vec<_>>() }],
                "trade_events": events })
    };
    // one_open_position: a single long entry at the first true long_condition after warmup
    let (a, r) = replay_against(
        &d,
        &ds,
        make(
            json!([{ "timestamp": stamp(first_long), "side": "buy", "action": "entry" }]),
            "strategy(\"x\")",
        ),
    )
    .await;
    let s = &r["comparison"]["summary"];
    assert_eq!(s["mismatched_trade_events"], 0, "{}", r["comparison"]);
    assert_eq!(s["total_trade_events"], 2);
    // the same export one bar late: both events unmatched
    let (_, r) = replay_against(
        &d,
        &ds,
        make(
            json!([{ "timestamp": stamp(first_long + 1), "side": "long", "action": "entry" }]),
            "x = request.security(\"NSE:SBIN\", \"D\", close)",
        ),
    )
    .await;
    let cmp = &r["comparison"];
    assert_eq!(cmp["summary"]["mismatched_trade_events"], 2);
    assert_eq!(cmp["summary"]["aligned"], false);
    let warnings = cmp["unsupported_feature_warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("request.security")),
        "{warnings:?}"
    );
    // without one_open_position every bar with the signal is an entry
    let mut body = run_body(&ds, &a, 100, EMA_STRATEGY, true);
    body["run_config"]["one_open_position"] = json!(false);
    let r = replay(&d, body).await;
    let entries = (100..BARS).filter(|&i| c[i] > py[i]).count();
    assert_eq!(
        r["comparison"]["summary"]["mismatched_trade_events"],
        entries - 1
    );
}

pub(crate) async fn ws_events(url: String, cookie: String, max: usize) -> Vec<Value> {
    use futures_util::StreamExt;
    let mut ws = crate::support::ws_connect(&url, &cookie).await;
    let mut out = Vec::new();
    while let Some(Ok(m)) = crate::support::within("the next WebSocket message", ws.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            out.push(serde_json::from_str::<Value>(&t).unwrap());
            if out.len() >= max {
                break;
            }
        }
    }
    out
}

#[tokio::test]
async fn live_run_reveals_bars_over_its_websocket_and_ends_like_a_replay() {
    let d = TestDesk::start().await;
    let ds = dataset(&d).await;
    let bridge = artifact(&d, pine_ema(&closes())).await;
    let ws_base = d.base.replace("http", "ws");
    let cookie = d.session_cookie().await;
    let stream = tokio::spawn(ws_events(format!("{ws_base}/ws/stream"), cookie.clone(), 5));
    let mut body = run_body(&ds, &bridge, 100, EMA_STRATEGY, true);
    body["run_config"]["bars_per_second"] = json!(100.0);
    let (code, started) = d.post("/runs/live", body.clone()).await;
    assert_eq!(code, StatusCode::OK, "{started}");
    assert_eq!(started["lifecycle"], "live");
    assert_eq!(started["live_total"], BARS);
    let id = started["run_id"].as_str().unwrap().to_string();
    let events = ws_events(format!("{ws_base}/runs/{id}/stream"), cookie, BARS + 10).await;
    let last = events.last().unwrap();
    assert_eq!(last["lifecycle"], "completed", "{last}");
    assert_eq!(last["current_index"], BARS);
    assert_eq!(last["total"], BARS);
    assert_eq!(last["latest_candle"]["timestamp"], stamp(BARS - 1));
    let idx: Vec<u64> = events
        .iter()
        .map(|e| e["current_index"].as_u64().unwrap())
        .collect();
    assert!(
        idx.windows(2).all(|w| w[1] == w[0] + 1),
        "one bar per event, in order"
    );
    // the comparison grows with the bars: nothing compared before the warmup, aligned at the end
    let early = events
        .iter()
        .find(|e| e["current_index"].as_u64().unwrap() < 100)
        .expect("a bar before the warmup ends");
    assert_eq!(early["comparison"]["summary"]["compared_values"], 0);
    assert_eq!(last["comparison"]["summary"]["aligned"], true);
    let (_, stored) = d.get(&format!("/runs/{id}")).await;
    assert_eq!(stored["lifecycle"], "completed");
    let replayed = replay(&d, run_body(&ds, &bridge, 100, EMA_STRATEGY, true)).await;
    let mut a = stored["comparison"].clone();
    let mut b = replayed["comparison"].clone();
    a["live"] = json!(null);
    b["live"] = json!(null);
    assert_eq!(a, b, "a finished live run compares exactly like a replay");
    let seen = stream.await.unwrap();
    assert!(seen.iter().any(|e| e["type"] == "live_bar"), "{seen:?}");
}

#[tokio::test]
async fn a_live_run_can_be_stopped() {
    let d = TestDesk::start().await;
    let ds = dataset(&d).await;
    let bridge = artifact(&d, pine_ema(&closes())).await;
    let mut body = run_body(&ds, &bridge, 100, EMA_STRATEGY, true);
    body["run_config"]["bars_per_second"] = json!(20.0);
    let (_, started) = d.post("/runs/live", body).await;
    let id = started["run_id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (code, stopped) = d.post(&format!("/runs/{id}/stop"), json!({})).await;
    assert_eq!(code, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["lifecycle"], "stopped");
    let n = stopped["live_progress"].as_u64().unwrap();
    assert!(n > 0 && n < BARS as u64, "{n}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, again) = d.get(&format!("/runs/{id}")).await;
    assert_eq!(again["live_progress"], n, "nothing moves after stop");
    let (code, b) = d.post(&format!("/runs/{id}/stop"), json!({})).await;
    assert_eq!(code, StatusCode::CONFLICT, "{b}");
}

#[tokio::test]
async fn demo_comparison_runs_the_real_comparison_on_fixed_data() {
    let d = TestDesk::start().await;
    let (code, c) = d
        .post("/comparison/sample", json!({ "tolerance": 0.001 }))
        .await;
    assert_eq!(code, StatusCode::OK, "{c}");
    assert_eq!(c["summary"]["aligned"], false);
    assert_eq!(
        c["first_mismatch"]["bar_index"], 0,
        "Pine's EMA is na before bar 20"
    );
    assert_eq!(c["series_results"][0]["pine_name"], "emaFast");
    let (_, c2) = d
        .post("/comparison/sample", json!({ "tolerance": 0.001 }))
        .await;
    assert_eq!(c, c2, "fixed data, fixed answer");
    let (_, aligned) = d
        .post(
            "/comparison/sample",
            json!({ "tolerance": 0.001, "warmup_bars": 110 }),
        )
        .await;
    assert_eq!(aligned["summary"]["aligned"], true, "{aligned}");
    let (code, _) = d
        .post("/comparison/sample", json!({ "tolerance": -1 }))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn replay_from_the_shell_imports_runs_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bars.csv");
    let mut text = String::from("timestamp,close\n");
    for (i, c) in closes().iter().enumerate() {
        text += &format!("{},{c}\n", stamp(i));
    }
    std::fs::write(&csv, text).unwrap();
    let bin = env!("CARGO_BIN_EXE_brickdesk");
    let run = |args: &[&str]| {
        crate::support::output_within(
            std::process::Command::new(bin)
                .env("BRICKDESK_CONFIG", "/dev/null")
                .arg("--data-dir")
                .arg(dir.path())
                .args(args),
            120,
        )
    };
    let out = run(&["import", csv.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let id = stdout.split_whitespace().next().unwrap().to_string();
    assert!(id.starts_with("dataset-"), "{stdout}");
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains(&format!("{BARS}/{BARS} rows imported")),
        "{progress}"
    );
    let py = dir.path().join("ema.py");
    std::fs::write(&py, EMA_STRATEGY).unwrap();
    let export = dir.path().join("export.json");
    let ema: Vec<Value> = pine_ema(&closes())
        .iter()
        .enumerate()
        .map(|(i, v)| json!({ "timestamp": stamp(i), "value": v }))
        .collect();
    std::fs::write(&export, json!({ "name": "export", "source_code": "ta.ema(close, 21)", "indicator_series": [{ "name": "emaFast", "values": ema }] }).to_string()).unwrap();
    let replay_with = |warmup: &str, more: &[&str]| {
        let mut args = vec![
            "replay",
            "--dataset",
            &id,
            "--python",
            py.to_str().unwrap(),
            "--pine-export",
            export.to_str().unwrap(),
            "--outputs",
            "ema_fast",
            "--warmup",
            warmup,
        ];
        args.extend_from_slice(more);
        run(&args)
    };
    let replay_with_warmup = |warmup: &str| replay_with(warmup, &[]);
    let out = replay_with_warmup("100");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ALIGNED")
            && stdout.contains("ema_fast")
            && stdout.contains("200 compared"),
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(0), "aligned");
    let out = replay_with_warmup("5");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("MISMATCH")
            && stdout.contains("first mismatch")
            && stdout.contains("warmup_bars to at least"),
        "{stdout}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a mismatch exits 1, as diff does"
    );
    // --json: stdout is the comparison and nothing else, and the status is the same verdict
    for (warmup, aligned, status) in [("100", true, 0), ("5", false, 1)] {
        let out = replay_with(warmup, &["--json"]);
        let c: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "--json stdout is not one JSON value ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert_eq!(c["summary"]["aligned"], aligned, "{c}");
        assert_eq!(c["series_results"][0]["series"], "ema_fast", "{c}");
        assert_eq!(out.status.code(), Some(status), "warmup {warmup}");
        if !aligned {
            assert!(c["first_mismatch"]["bar_index"].is_number(), "{c}");
        }
    }
    // a run that cannot be done: 2, and why on stderr
    let out = run(&[
        "replay",
        "--dataset",
        "dataset-nope",
        "--python",
        py.to_str().unwrap(),
        "--pine-export",
        export.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no JSON for a run that was not done");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error:") && err.contains("dataset-nope"),
        "{err}"
    );
    // so is a config file that cannot be read: trouble, not a mismatch
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[desk\n").unwrap();
    let broken = broken.to_str().unwrap();
    let py = py.to_str().unwrap();
    let out = run(&[
        "--config",
        broken,
        "replay",
        "--dataset",
        &id,
        "--python",
        py,
        "--bridge",
        "x",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("broken.toml"), "{err}");
}

#[tokio::test]
async fn the_console_runs_tab_shows_a_run_and_plays_it_live() {
    use brickdesk::tui::app::{App, Effect, RunCommand, Tab};
    use brickdesk::tui::link::Link;
    let d = TestDesk::start().await;
    let r = perturbed_run(&d).await;
    let run_id = r["run_id"].as_str().unwrap().to_string();

    let link = Link::local(d.engine.clone()).unwrap();
    let mut app = App::new(
        brickdesk::tui::theme::Theme::embedded("dark").unwrap(),
        "test".into(),
    );
    app.tab = Tab::Runs;
    app.set_snapshot(link.fetch(app.runs_wanted()).await.unwrap());
    app.set_snapshot(link.fetch(app.runs_wanted()).await.unwrap()); // now with the selected run's detail
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(110, 32)).unwrap();
    term.draw(|f| brickdesk::tui::ui::draw(f, &app)).unwrap();
    let screen = term.backend().to_string();
    if std::env::var_os("SHOW_RUNS_TAB").is_some() {
        eprintln!("{screen}");
    }
    for needle in [
        run_id.as_str(),
        "completed",
        "1 series differ",
        "ema_fast · first mismatch at bar 200",
        "1/200",
        "long_condition",
        "0/200",
        "A single bar differs",
    ] {
        assert!(
            screen.contains(needle),
            "Runs tab lacks {needle:?}:\n{screen}"
        );
    }
    // `l` plays the selected run live with the same request; `.` stops it
    let Effect::Run(RunCommand::Live(req)) = app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('l'),
    )) else {
        panic!("l should start a live run")
    };
    assert_eq!(req.dataset_id, r["dataset_id"].as_str().unwrap());
    assert!(app.follow);
    let mut slow = *req.clone();
    slow.run_config.bars_per_second = Some(10.0);
    let msg = link.run(RunCommand::Live(Box::new(slow))).await.unwrap();
    assert!(
        msg.starts_with("live run run-") && msg.ends_with(&format!("{BARS} bars")),
        "{msg}"
    );
    app.set_snapshot(link.fetch(app.runs_wanted()).await.unwrap());
    let live = app.selected_run().unwrap().clone();
    assert_eq!(
        live.lifecycle.as_str(),
        "live",
        "follow selects the live run"
    );
    let Effect::Run(stop) = app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('.'),
    )) else {
        panic!()
    };
    assert_eq!(stop, RunCommand::Stop(live.run_id.clone()));
    let msg = link.run(stop).await.unwrap();
    assert!(msg.contains("stopped at bar"), "{msg}");
}
