//! Seed 000 as its parity client calls it: every route of CONTRACTS.md's table at its path, with
//! its documented shape, its documented nulls and its `{"detail": …}` errors; large artifacts; a
//! multipart upload through preview, save and a replay run. (The chat routes arrive with the chat
//! service.)
use crate::runs::{EMA_STRATEGY, artifact, closes, dataset, pine_ema, run_body, stamp, ws_events};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort();
    k
}

fn has_all(v: &Value, want: &[&str]) {
    let got = keys(v);
    for k in want {
        assert!(got.contains(k), "{k} missing from {got:?}");
    }
}

/// The CSV of the runs tests (300 five-minute bars).
fn csv_text() -> String {
    let mut text = String::from("dt,o,h,l,c,v\n");
    for (i, c) in closes().iter().enumerate() {
        text += &format!("{},{c},{},{},{c},100\n", stamp(i), c + 0.5, c - 0.5);
    }
    text
}

/// The seed's own preview body, with the nulls a client that has not inferred a mapping sends.
fn seed_source(path: &std::path::Path) -> Value {
    json!({
        "type": "csv", "name": "SBIN local workbook", "file_path": path, "provider": null,
        "symbol": "SBIN", "timeframe": "5m", "timezone": "Asia/Calcutta", "mapping": null,
        "session": { "timezone": "Asia/Calcutta", "market_calendar": null, "session_start": null, "session_end": null },
        "extra": {}
    })
}

#[tokio::test]
async fn every_route_answers_at_its_path_with_its_shape() {
    let d = TestDesk::start().await;

    let (c, b) = d.get("/health").await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(keys(&b), ["status", "timestamp"]);

    let (c, b) = d.get("/dependencies/status").await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(
        keys(&b),
        [
            "backend",
            "market_provider",
            "ollama",
            "python_sandbox",
            "tradingview_bridge"
        ]
    );
    for k in keys(&b) {
        assert_eq!(keys(&b[k]), ["available", "detail", "name"], "{k}");
        assert_eq!(b[k]["name"], k);
    }

    // preview and save: the same DataSourceConfig, with `mapping: null` and the session nulls
    let path = d.dir.path().join("sbin.csv");
    std::fs::write(&path, csv_text()).unwrap();
    let (c, p) = d.post("/data-sources/preview", seed_source(&path)).await;
    assert_eq!(c, StatusCode::OK, "{p}");
    assert_eq!(keys(&p), ["capabilities", "preview", "validation_issues"]);
    has_all(
        &p["preview"],
        &[
            "name",
            "type",
            "timeframe",
            "timezone",
            "mapping",
            "exists",
            "file_path",
            "format",
            "sheet_names",
            "active_sheet",
            "row_count",
            "columns",
            "inferred_mapping",
            "sample_rows",
        ],
    );
    assert_eq!(p["preview"]["inferred_mapping"]["timestamp"], "dt");
    assert_eq!(p["preview"]["row_count"], 300);
    assert_eq!(
        keys(&p["capabilities"]),
        [
            "supports_file_upload",
            "supports_live_append",
            "supports_local_replay",
            "supports_symbol_fetch"
        ]
    );
    assert_eq!(p["capabilities"]["supports_file_upload"], true);

    let (c, saved) = d.post("/data-sources/save", seed_source(&path)).await;
    assert_eq!(c, StatusCode::OK, "{saved}");
    has_all(
        &saved,
        &[
            "dataset_id",
            "name",
            "symbol",
            "timeframe",
            "timezone",
            "row_count",
            "columns",
            "data_path",
        ],
    );
    assert_eq!(saved["row_count"], 300);
    assert_eq!(saved["timezone"], "Asia/Calcutta");
    let ds = saved["dataset_id"].as_str().unwrap().to_string();
    assert!(ds.starts_with("dataset-"), "{ds}");

    let (c, list) = d.get("/data-sources").await;
    assert_eq!(c, StatusCode::OK);
    let list = list.as_array().expect("GET /data-sources is a JSON array");
    assert_eq!(list.len(), 1);
    has_all(
        &list[0],
        &["dataset_id", "name", "symbol", "timeframe", "row_count"],
    );
    assert_eq!(list[0]["dataset_id"], ds.as_str());

    // bridge artifacts and grants
    let bridge = artifact(&d, pine_ema(&closes())).await;
    let (c, arts) = d.get("/pine-bridge/artifacts").await;
    assert_eq!(c, StatusCode::OK);
    let arts = arts.as_array().unwrap();
    assert_eq!(arts.len(), 1);
    has_all(
        &arts[0],
        &[
            "bridge_artifact_id",
            "name",
            "symbol",
            "timeframe",
            "source_code",
            "indicator_series",
            "trade_events",
            "notes",
        ],
    );
    assert_eq!(arts[0]["bridge_artifact_id"], bridge.as_str());
    let (c, g) = d
        .post(
            "/permissions/grant",
            json!({ "target": "python_code", "access": "write", "scope": "single_action", "approved": true,
                    "ttl_minutes": 15, "audit_note": "User approved one write action" }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{g}");
    assert_eq!(g["target"], "python_code");
    assert_eq!(g["audit_note"], "User approved one write action");
    let (c, grants) = d.get("/permissions").await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(grants.as_array().unwrap().len(), 1);

    // runs: a replay answers a full RunStatus; GET /runs holds full ones, ?summary=true light ones
    let (c, run) = d
        .post(
            "/runs/replay",
            run_body(&ds, &bridge, 100, EMA_STRATEGY, true),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{run}");
    has_all(
        &run,
        &[
            "run_id",
            "lifecycle",
            "mode",
            "symbol",
            "timeframe",
            "dataset_id",
            "dataset_name",
            "bridge_artifact_id",
            "candles",
            "python_series",
            "pine_series",
            "trade_events",
            "comparison",
            "warnings",
            "live_progress",
            "live_total",
        ],
    );
    assert_eq!(run["lifecycle"], "completed", "{}", run["error"]);
    assert_eq!(run["candles"].as_array().unwrap().len(), 300);
    let id = run["run_id"].as_str().unwrap().to_string();
    let (_, all) = d.get("/runs").await;
    let all = all.as_array().expect("GET /runs is a JSON array");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["run_id"], id.as_str());
    assert_eq!(
        all[0]["candles"].as_array().unwrap().len(),
        300,
        "GET /runs holds full RunStatuses"
    );
    assert_eq!(all[0]["comparison"], run["comparison"]);
    let (_, light) = d.get("/runs?summary=true").await;
    assert_eq!(light[0]["run_id"], id.as_str());
    assert!(
        light[0].get("candles").is_none(),
        "the light list has no bars"
    );
    let (c, one) = d.get(&format!("/runs/{id}")).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(one["comparison"], run["comparison"]);

    // a live run, and its bars on /runs/{id}/stream
    let mut body = run_body(&ds, &bridge, 100, EMA_STRATEGY, true);
    body["run_config"]["bars_per_second"] = json!(200.0);
    let (c, live) = d.post("/runs/live", body).await;
    assert_eq!(c, StatusCode::OK, "{live}");
    assert_eq!(live["lifecycle"], "live");
    let live_id = live["run_id"].as_str().unwrap();
    let ws = d.base.replace("http", "ws");
    let events = ws_events(
        format!("{ws}/runs/{live_id}/stream"),
        d.session_cookie().await,
        400,
    )
    .await;
    let last = events.last().unwrap();
    has_all(
        last,
        &[
            "run_id",
            "lifecycle",
            "current_index",
            "total",
            "latest_candle",
            "comparison",
            "updated_at",
        ],
    );
    assert_eq!(last["lifecycle"], "completed");
    has_all(
        &last["latest_candle"],
        &["timestamp", "open", "high", "low", "close", "volume"],
    );

    // the fixed sample comparison
    let (c, cmp) = d
        .post("/comparison/sample", json!({ "tolerance": 0.001 }))
        .await;
    assert_eq!(c, StatusCode::OK, "{cmp}");
    has_all(
        &cmp,
        &[
            "summary",
            "series_mismatches",
            "trade_mismatches",
            "first_mismatch",
            "unsupported_feature_warnings",
            "suggested_next_action",
        ],
    );
}

#[tokio::test]
async fn errors_on_this_surface_are_detail_and_change_nothing() {
    let d = TestDesk::start().await;
    let ds = dataset(&d).await;
    let json_post = |path: &str, body: &'static str| {
        d.client
            .post(d.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(&str, reqwest::Response, StatusCode, &str)> = vec![
        (
            "preview without type",
            json_post("/data-sources/preview", r#"{"name":"x"}"#).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `type`",
        ),
        (
            "save of a file outside the import roots",
            json_post(
                "/data-sources/save",
                r#"{"type":"csv","name":"x","file_path":"/nonexistent/x.csv","mapping":null}"#,
            )
            .await
            .unwrap(),
            StatusCode::FORBIDDEN,
            "outside the import roots",
        ),
        (
            "artifact not JSON",
            json_post("/pine-bridge/artifacts", "{name:").await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not valid JSON",
        ),
        (
            "artifact without name",
            json_post("/pine-bridge/artifacts", r#"{"indicator_series":[]}"#).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `name`",
        ),
        (
            "grant with a bad access",
            json_post(
                "/permissions/grant",
                r#"{"target":"python_code","access":"admin","approved":true}"#,
            )
            .await
            .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "access",
        ),
        (
            "replay of an unknown dataset",
            json_post(
                "/runs/replay",
                r#"{"dataset_id":"dataset-nope","run_config":{},"python_artifact":{"language":"python","name":"p","source_code":""}}"#,
            )
            .await
            .unwrap(),
            StatusCode::NOT_FOUND,
            "dataset-nope",
        ),
        (
            "unknown run",
            d.client.get(d.url("/runs/run-nope")).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "run-nope",
        ),
        (
            "sample with a negative tolerance",
            json_post("/comparison/sample", r#"{"tolerance":-1}"#).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tolerance",
        ),
        (
            "text/plain body",
            d.client
                .post(d.url("/permissions/grant"))
                .header("content-type", "text/plain")
                .body(r#"{"target":"python_code","access":"read","approved":true}"#)
                .send()
                .await
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "2 MiB on a 1 MiB route",
            json_post("/comparison/sample", Box::leak(format!(r#"{{"tolerance":0.001,"pad":"{}"}}"#, "x".repeat(2 << 20)).into_boxed_str()))
                .await
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
        (
            "wrong method",
            d.client.delete(d.url("/data-sources")).send().await.unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "not allowed",
        ),
    ];
    for (what, resp, status, contains) in cases {
        let (code, body) = read(resp).await;
        assert_eq!(code, status, "{what}: {body}");
        // `{"detail": …}`, plus the issues when an import is refused
        assert!(
            keys(&body)
                .iter()
                .all(|k| ["detail", "validation_issues"].contains(k)),
            "{what}: {body}"
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(contains),
            "{what}: {detail:?} lacks {contains:?}"
        );
    }
    let (_, list) = d.get("/data-sources").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "still only the one dataset"
    );
    assert_eq!(list[0]["dataset_id"], ds.as_str());
    let (_, arts) = d.get("/pine-bridge/artifacts").await;
    assert_eq!(arts, json!([]));
    let (_, grants) = d.get("/permissions").await;
    assert_eq!(grants, json!([]));
    let (_, runs) = d.get("/runs").await;
    assert_eq!(runs, json!([]));
}

#[tokio::test]
async fn the_older_paths_stay_as_aliases() {
    let d = TestDesk::start().await;
    let (c, deps) = d.get("/dependencies").await;
    assert_eq!(c, StatusCode::OK);
    assert!(deps["backend"]["available"].as_bool().unwrap());
    let path = d.dir.path().join("a.csv");
    std::fs::write(&path, csv_text()).unwrap();
    let (c, b) = d.post("/datasets", seed_source(&path)).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    let (_, same) = d.get("/datasets").await;
    let (_, canonical) = d.get("/data-sources").await;
    assert_eq!(same, canonical);
    let (c, _) = d
        .post("/demo/comparison", json!({ "tolerance": 0.001 }))
        .await;
    assert_eq!(c, StatusCode::OK);
    let (_, a) = d.get("/bridge-artifacts").await;
    let (_, b) = d.get("/pine-bridge/artifacts").await;
    assert_eq!(a, b);
}

/// A bridge artifact of `bars` bars and two series: about 210 bytes a bar.
fn big_artifact(bars: usize) -> Vec<u8> {
    let mut out = String::with_capacity(bars * 220);
    out += r#"{"name":"big","symbol":"SBIN","timeframe":"5m","source_code":"//@version=5","notes":null,"trade_events":[],"indicator_series":["#;
    for (k, name) in ["ema_fast", "ema_slow"].iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        out += &format!(
            r##"{{"name":"{name}","pane":"main","style":{{"color":"#f4b942"}},"warmup_bars":100,"values":["##
        );
        let t0 = chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z").unwrap();
        for i in 0..bars {
            if i > 0 {
                out.push(',');
            }
            let ts = (t0 + chrono::Duration::minutes(5 * i as i64)).to_rfc3339();
            out += &format!(
                r#"{{"timestamp":"{ts}","value":{:.6},"padding_note":"exported from TradingView"}}"#,
                700.0 + i as f64 * 0.013
            );
        }
        out += "]}";
    }
    out += "]}";
    out.into_bytes()
}

#[tokio::test]
async fn a_10_mb_bridge_artifact_is_accepted() {
    let d = TestDesk::start().await;
    let body = big_artifact(50_000);
    assert!(body.len() > 10_000_000, "{} bytes", body.len());
    let resp = d
        .client
        .post(d.url("/pine-bridge/artifacts"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (c, b) = read(resp).await;
    assert_eq!(
        c,
        StatusCode::OK,
        "{}",
        b.to_string().chars().take(300).collect::<String>()
    );
    assert_eq!(
        b["indicator_series"][1]["values"].as_array().unwrap().len(),
        50_000
    );
    // the seed's realistic size: two series over 18,850 bars (3.9 MB here with the padding)
    let realistic = big_artifact(18_850);
    let resp = d
        .client
        .post(d.url("/pine-bridge/artifacts"))
        .header("content-type", "application/json")
        .body(realistic)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, list) = d.get("/pine-bridge/artifacts").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_artifact_over_the_configured_limit_is_refused_413_and_nothing_is_saved() {
    let limits = brickdesk::server::ServerOptions {
        upload_limit: 4 << 20,
        ..Default::default()
    };
    let d = TestDesk::start_with_options(limits).await;
    let resp = d
        .client
        .post(d.url("/pine-bridge/artifacts"))
        .header("content-type", "application/json")
        .body(big_artifact(50_000))
        .send()
        .await
        .unwrap();
    let (c, b) = read(resp).await;
    assert_eq!(c, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("4 MiB"), "{b}");
    let (_, list) = d.get("/pine-bridge/artifacts").await;
    assert_eq!(list, json!([]));
}

fn upload_form(text: String, with_config: bool) -> reqwest::multipart::Form {
    let file = reqwest::multipart::Part::bytes(text.into_bytes())
        .file_name("SBIN 5m.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", file);
    if with_config {
        form.text(
            "config",
            json!({ "type": "csv", "name": "SBIN upload", "symbol": "SBIN", "timeframe": "5m",
                    "timezone": "UTC", "mapping": null })
            .to_string(),
        )
    } else {
        form.text("symbol", "SBIN").text("timeframe", "5m")
    }
}

#[tokio::test]
async fn a_multipart_upload_round_trips_through_preview_save_and_a_replay() {
    let d = TestDesk::start().await;
    // preview of an upload: the file is kept in the data dir, the mapping inferred
    let resp = d
        .client
        .post(d.url("/data-sources/preview"))
        .multipart(upload_form(csv_text(), true))
        .send()
        .await
        .unwrap();
    let (c, p) = read(resp).await;
    assert_eq!(c, StatusCode::OK, "{p}");
    assert_eq!(p["capabilities"]["supports_file_upload"], true);
    assert_eq!(p["preview"]["row_count"], 300);
    assert_eq!(p["preview"]["inferred_mapping"]["close"], "c");
    let stored = std::path::PathBuf::from(p["preview"]["file_path"].as_str().unwrap());
    assert!(
        stored.starts_with(d.dir.path().join("uploads")),
        "{}",
        stored.display()
    );
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), csv_text());

    // save of an upload (plain fields instead of a config part; the name is the file's)
    let resp = d
        .client
        .post(d.url("/data-sources/save"))
        .multipart(upload_form(csv_text(), false))
        .send()
        .await
        .unwrap();
    let (c, saved) = read(resp).await;
    assert_eq!(c, StatusCode::OK, "{saved}");
    assert_eq!(saved["name"], "SBIN 5m.csv");
    assert_eq!(saved["row_count"], 300);
    assert_eq!(saved["symbol"], "SBIN");
    let ds = saved["dataset_id"].as_str().unwrap();

    // the uploaded dataset runs like any other
    let bridge = artifact(&d, pine_ema(&closes())).await;
    let (c, run) = d
        .post(
            "/runs/replay",
            run_body(ds, &bridge, 100, EMA_STRATEGY, true),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{run}");
    assert_eq!(run["lifecycle"], "completed", "{}", run["error"]);
    assert_eq!(run["comparison"]["summary"]["aligned"], true);

    // the preview's stored file can be saved by path too (what a client does after previewing)
    let (c, again) = d
        .post(
            "/data-sources/save",
            json!({ "type": "csv", "name": "again", "file_path": stored, "mapping": null }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{again}");
    assert_eq!(again["row_count"], 300);
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_no_file() {
    let limits = brickdesk::server::ServerOptions {
        upload_limit: 1 << 20,
        ..Default::default()
    };
    let d = TestDesk::start_with_options(limits).await;
    let no_file = reqwest::multipart::Form::new().text("name", "x");
    let (c, b) = read(
        d.client
            .post(d.url("/data-sources/save"))
            .multipart(no_file)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("`file` part"), "{b}");
    let bad_config = upload_form(csv_text(), false).text("config", "[1,2]");
    let (c, b) = read(
        d.client
            .post(d.url("/data-sources/save"))
            .multipart(bad_config)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let huge = "x".repeat(2 << 20);
    let (c, b) = read(
        d.client
            .post(d.url("/data-sources/save"))
            .multipart(upload_form(huge, true))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("1 MiB"), "{b}");
    let left: Vec<_> = std::fs::read_dir(d.dir.path().join("uploads"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "refused uploads leave no file: {left:?}");
    let (_, list) = d.get("/data-sources").await;
    assert_eq!(list, json!([]));
}
