//! Seed 004, the engine web API v1: every route with its headers, the error envelope on every
//! refusal (and nothing changed by one), one run at a time, stop and reset, paper runs on the
//! desk's feed, live runs only in the LIVE env, `/meta` and its deprecations, and the status
//! WebSocket.
use crate::backtests::{fake_ollama, settle, walk_dataset};
use crate::support::*;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// An answer with its headers.
async fn call(
    d: &TestDesk,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = d.client.request(method, d.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let (code, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    (
        code,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn versioned(h: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(
        h.get("x-cracktrader-api-version")
            .map(|v| v.to_str().unwrap()),
        Some("v1"),
        "{what}"
    );
}

/// Seed 004's envelope with this code.
fn envelope(b: &Value, code: &str) {
    let e = &b["error"];
    assert_eq!(e["code"], code, "{b}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    assert!(e["details"].is_object(), "{b}");
    assert_eq!(b.as_object().unwrap().len(), 1, "{b}");
}

#[tokio::test]
async fn every_route_answers_with_its_fields_and_the_version_header() {
    let d = TestDesk::start().await;
    let (id, _) = walk_dataset(&d, "walk", 300, 1).await;

    let (c, h, b) = call(&d, Method::GET, "/api/v1/health", None).await;
    assert_eq!(c, StatusCode::OK);
    versioned(&h, "health");
    for k in ["status", "api_version", "checks", "metrics", "timestamp"] {
        assert!(b.get(k).is_some(), "health {k}: {b}");
    }
    assert_eq!(
        (b["status"].as_str(), b["api_version"].as_str()),
        (Some("ok"), Some("v1"))
    );
    // the probe needs no session, as /health does
    let (c, _) = read(d.anon.get(d.url("/api/v1/health")).send().await.unwrap()).await;
    assert_eq!(c, StatusCode::OK);

    let (c, h, idle) = call(&d, Method::GET, "/api/v1/status", None).await;
    assert_eq!(c, StatusCode::OK);
    versioned(&h, "status");
    assert_eq!(
        (idle["status"].as_str(), &idle["run_id"]),
        (Some("idle"), &Value::Null)
    );
    for k in [
        "run_id",
        "status",
        "mode",
        "start_time",
        "end_time",
        "elapsed_s",
        "pnl",
        "value",
        "cash",
        "errors",
    ] {
        assert!(idle.get(k).is_some(), "status {k}: {idle}");
    }

    let (c, h, s) = call(&d, Method::GET, "/api/v1/strategies", None).await;
    assert_eq!(c, StatusCode::OK);
    versioned(&h, "strategies");
    let names: Vec<&str> = s["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sma_cross",
            "ema_cross",
            "renko_trend",
            "rsi_reversion",
            "python",
            "llm"
        ]
    );
    let sma = &s["strategies"][0];
    let p = |n: &str| {
        sma["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            p("fast")["type"].as_str(),
            p("fast")["default"].as_i64(),
            p("fast")["min"].as_f64()
        ),
        (Some("int"), Some(10), Some(1.0))
    );
    assert_eq!(p("slow")["default"], 20);
    for sim in [
        "commission",
        "slippage_ticks",
        "sizing",
        "qty",
        "allow_short",
    ] {
        assert_eq!(p(sim)["group"], "simulator", "{sim}");
    }
    assert_eq!(p("sizing")["choices"], json!(["all_in", "fixed"]));

    let (c, h, x) = call(&d, Method::GET, "/api/v1/exchanges", None).await;
    assert_eq!(c, StatusCode::OK);
    versioned(&h, "exchanges");
    let ex = x["exchanges"].as_array().unwrap();
    assert_eq!(ex[0]["name"], "datasets");
    assert_eq!(ex[0]["symbols"][0]["id"], id.as_str());
    assert_eq!(ex[1]["name"], "desk");
    assert_eq!(ex[1]["modes"], json!(["paper", "live"]));
    assert_eq!(ex[1]["live_allowed"], false, "the test desk is in DEMO");

    let (c, h, b) = call(&d, Method::GET, "/api/v1/results", None).await;
    assert_eq!(c, StatusCode::NOT_FOUND);
    versioned(&h, "results before any run");
    envelope(&b, "NO_RESULTS");

    let (c, h, started) = call(&d, Method::POST, "/api/v1/run/backtest", Some(json!({
        "strategy_name": "sma_cross", "strategy_params": { "fast": 5, "slow": 15 }, "symbols": ["walk"],
        "timeframe": "1d", "start_date": "2012-02-01", "end_date": "2012-10-31", "initial_cash": 5000, "exchange": "datasets" }))).await;
    assert_eq!(c, StatusCode::OK, "{started}");
    versioned(&h, "run/backtest");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        started,
        json!({ "run_id": run_id, "status": "running", "message": "backtest started" })
    );
    let s = settle(&d).await;
    assert_eq!(
        (
            s["status"].as_str(),
            s["mode"].as_str(),
            s["run_id"].as_str()
        ),
        (Some("completed"), Some("backtest"), Some(run_id.as_str()))
    );
    assert!(s["value"].as_f64().is_some() && s["end_time"].is_string());

    let (c, h, det) = call(&d, Method::GET, "/api/v1/status/detailed", None).await;
    assert_eq!(c, StatusCode::OK);
    versioned(&h, "status/detailed");
    for k in [
        "recent_orders",
        "recent_trades",
        "positions",
        "equity_curve",
        "performance_metrics",
        "health",
    ] {
        assert!(det.get(k).is_some(), "detailed {k}");
    }
    assert!(det["recent_orders"].as_array().unwrap().len() <= 20);

    let (c, h, r) = call(&d, Method::GET, "/api/v1/results", None).await;
    assert_eq!(c, StatusCode::OK);
    versioned(&h, "results");
    for k in [
        "run_id",
        "config",
        "status",
        "start_time",
        "end_time",
        "orders",
        "trades",
        "positions",
        "equity_curve",
        "performance_metrics",
        "final_value",
        "error",
    ] {
        assert!(r.get(k).is_some(), "results {k}: {r}");
    }
    assert_eq!(r["error"], Value::Null);
    let m = &r["performance_metrics"];
    for k in [
        "total_return_pct",
        "cagr_pct",
        "sharpe_ratio",
        "sortino_ratio",
        "max_drawdown_pct",
        "max_drawdown_duration_s",
        "win_rate_pct",
        "profit_factor",
        "exposure_pct",
        "final_value",
    ] {
        assert!(m.get(k).is_some(), "metric {k}");
    }
    // the window: February to October 2012 only
    let curve = r["equity_curve"].as_array().unwrap();
    assert_eq!(curve[0]["timestamp"], "2012-02-01T00:00:00");
    assert_eq!(curve.last().unwrap()["timestamp"], "2012-10-31T00:00:00");
    assert_eq!(curve[0]["portfolio_value"], 5000.0);

    let (c, h, stop) = call(&d, Method::POST, "/api/v1/run/stop", None).await;
    assert_eq!(c, StatusCode::CONFLICT);
    versioned(&h, "stop while idle");
    envelope(&stop, "RUN_NOT_ACTIVE");
    let (c, h, reset) = call(&d, Method::DELETE, "/api/v1/run/reset", None).await;
    assert_eq!(c, StatusCode::OK);
    versioned(&h, "reset");
    assert_eq!(
        reset,
        json!({ "run_id": run_id, "status": "idle", "message": "run reset" })
    );
    let (_, _, s) = call(&d, Method::GET, "/api/v1/status", None).await;
    assert_eq!(s["status"], "idle");
    // the run is forgotten: no results until the next one
    let (c, h, b) = call(&d, Method::GET, "/api/v1/results", None).await;
    assert_eq!(c, StatusCode::NOT_FOUND);
    versioned(&h, "results after reset");
    envelope(&b, "NO_RESULTS");
    // the stored backtest stays
    let (_, list) = d.get("/api/backtests").await;
    assert_eq!(list[0]["run_id"], run_id.as_str());
}

#[tokio::test]
async fn every_refusal_is_an_envelope_with_the_version_header_and_changes_nothing() {
    let d = TestDesk::start().await;
    walk_dataset(&d, "walk", 100, 1).await;
    let ok = json!({ "strategy_name": "sma_cross", "symbols": ["walk"], "strategy_params": {} });
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let params = |p: Value| with("strategy_params", p);
    let cases: Vec<(&str, Value, StatusCode, &str, &str)> = vec![
        (
            "unknown strategy",
            with("strategy_name", json!("martingale")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_STRATEGY",
            "known: sma_cross",
        ),
        (
            "fast ≥ slow",
            params(json!({ "fast": 20, "slow": 20 })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMS",
            "fast (20) must be less than slow (20)",
        ),
        (
            "unknown param",
            params(json!({ "fsat": 5 })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMS",
            "unknown parameter \"fsat\"",
        ),
        (
            "param out of bounds",
            params(json!({ "commission": 0.5 })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMS",
            "commission must be ≤ 0.1",
        ),
        (
            "param of the wrong type",
            params(json!({ "fast": "quick" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMS",
            "fast must be a whole number",
        ),
        (
            "bad sizing",
            params(json!({ "sizing": "martingale" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMS",
            "sizing must be one of all_in, fixed",
        ),
        (
            "unknown dataset",
            with("symbols", json!(["nope"])),
            StatusCode::NOT_FOUND,
            "DATASET_NOT_FOUND",
            "nope",
        ),
        (
            "two symbols",
            with("symbols", json!(["walk", "walk"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "exactly one",
        ),
        (
            "no cash",
            with("initial_cash", json!(0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "initial_cash",
        ),
        (
            "bad date",
            with("start_date", json!("yesterday")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "not a date",
        ),
        (
            "dates reversed",
            with("start_date", json!("2013-01-01"))
                .as_object()
                .map(|o| {
                    let mut b = Value::Object(o.clone());
                    b["end_date"] = json!("2012-01-01");
                    b
                })
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "after end_date",
        ),
        (
            "other timeframe",
            with("timeframe", json!("1h")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "TIMEFRAME_MISMATCH",
            "resampling",
        ),
        (
            "unknown exchange",
            with("exchange", json!("binance")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_EXCHANGE",
            "datasets",
        ),
        (
            "missing field",
            json!({ "strategy_name": "sma_cross" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "missing field `symbols`",
        ),
        (
            "wrong type",
            with("symbols", json!("walk")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
            "invalid type",
        ),
    ];
    for (what, body, status, code, says) in cases {
        let (c, h, b) = call(&d, Method::POST, "/api/v1/run/backtest", Some(body)).await;
        assert_eq!(c, status, "{what}: {b}");
        versioned(&h, what);
        envelope(&b, code);
        assert!(
            b["error"]["message"].as_str().unwrap().contains(says),
            "{what}: {b}"
        );
    }
    // not JSON, not a JSON content type, a route that does not exist, a method it does not take
    let raw = d
        .client
        .post(d.url("/api/v1/run/backtest"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    versioned(raw.headers(), "bad JSON");
    let (c, b) = read(raw).await;
    assert_eq!(c, StatusCode::UNPROCESSABLE_ENTITY);
    envelope(&b, "VALIDATION_ERROR");
    let raw = d
        .client
        .post(d.url("/api/v1/run/backtest"))
        .header("content-type", "text/plain")
        .body(ok.to_string())
        .send()
        .await
        .unwrap();
    versioned(raw.headers(), "text/plain");
    let (c, b) = read(raw).await;
    assert_eq!(c, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    envelope(&b, "UNSUPPORTED_MEDIA_TYPE");
    let (c, h, b) = call(&d, Method::GET, "/api/v1/nothing", None).await;
    assert_eq!(c, StatusCode::NOT_FOUND);
    versioned(&h, "unknown route");
    envelope(&b, "NOT_FOUND");
    let (c, h, b) = call(&d, Method::GET, "/api/v1/run/backtest", None).await;
    assert_eq!(c, StatusCode::METHOD_NOT_ALLOWED);
    versioned(&h, "wrong method");
    envelope(&b, "METHOD_NOT_ALLOWED");
    // without a session
    let raw = d.anon.get(d.url("/api/v1/status")).send().await.unwrap();
    versioned(raw.headers(), "401");
    let (c, b) = read(raw).await;
    assert_eq!(c, StatusCode::UNAUTHORIZED);
    envelope(&b, "UNAUTHORIZED");
    // a live run in the DEMO env is refused
    let (c, h, b) = call(&d, Method::POST, "/api/v1/run/live", Some(json!({ "strategy_name": "sma_cross", "strategy_params": {},
        "symbols": ["ES"], "timeframe": "1m", "exchange": "desk", "exchange_config": {}, "mode": "live" }))).await;
    assert_eq!(c, StatusCode::FORBIDDEN, "{b}");
    versioned(&h, "live in DEMO");
    envelope(&b, "LIVE_NOT_ALLOWED");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("LIVE"),
        "{b}"
    );
    for (what, body, status, code) in [
        (
            "python on the feed",
            json!({ "strategy_name": "python", "strategy_params": { "code": "x" }, "symbols": ["ES"], "mode": "paper" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "STRATEGY_NOT_LIVE",
        ),
        (
            "unknown asset",
            json!({ "strategy_name": "sma_cross", "symbols": ["CL"], "mode": "paper" }),
            StatusCode::NOT_FOUND,
            "UNKNOWN_SYMBOL",
        ),
        (
            "bad mode",
            json!({ "strategy_name": "sma_cross", "symbols": ["ES"], "mode": "yolo" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            "bad timeframe",
            json!({ "strategy_name": "sma_cross", "symbols": ["ES"], "mode": "paper", "timeframe": "3 weeks" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            "a timeframe that overflows",
            json!({ "strategy_name": "sma_cross", "symbols": ["ES"], "mode": "paper", "timeframe": "213503982334602d" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            "too much cash",
            json!({ "strategy_name": "sma_cross", "symbols": ["ES"], "mode": "paper", "exchange_config": { "initial_cash": 1e300 } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
    ] {
        let (c, h, b) = call(&d, Method::POST, "/api/v1/run/live", Some(body)).await;
        assert_eq!(c, status, "{what}: {b}");
        versioned(&h, what);
        envelope(&b, code);
    }
    // the status socket needs the session too, in the envelope's surface
    let ws = format!("{}/api/v1/ws/status", d.base.replace("http", "ws"));
    assert_eq!(ws_handshake(&ws, &[]).await, 401);
    // nothing changed: no run, no backtest stored, the desk untouched
    let (_, _, s) = call(&d, Method::GET, "/api/v1/status", None).await;
    assert_eq!(s["status"], "idle");
    let (_, list) = d.get("/api/backtests").await;
    assert_eq!(list, json!([]));
    let (_, orders) = d.get("/api/orders").await;
    assert_eq!(orders["orders"], json!([]), "{orders}");
}

#[tokio::test]
async fn one_run_at_a_time_until_it_is_stopped_and_reset() {
    let (url, _) = fake_ollama(Duration::from_millis(100)).await;
    let d = TestDesk::start_with_ollama(&url).await;
    walk_dataset(&d, "walk", 400, 1).await;
    let slow =
        json!({ "strategy_name": "llm", "symbols": ["walk"], "strategy_params": { "every": 1 } });
    let (c, _, first) = call(&d, Method::POST, "/api/v1/run/backtest", Some(slow.clone())).await;
    assert_eq!(c, StatusCode::OK, "{first}");
    let (c, _, b) = call(&d, Method::POST, "/api/v1/run/backtest", Some(slow.clone())).await;
    assert_eq!(c, StatusCode::CONFLICT);
    envelope(&b, "RUN_ALREADY_ACTIVE");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains(first["run_id"].as_str().unwrap())
    );
    let (c, _, b) = call(&d, Method::DELETE, "/api/v1/run/reset", None).await;
    assert_eq!(
        c,
        StatusCode::CONFLICT,
        "reset while running is refused: {b}"
    );
    envelope(&b, "RUN_ALREADY_ACTIVE");
    // progress shows while the model is asked
    let s = within("progress", async {
        loop {
            let (_, _, s) = call(&d, Method::GET, "/api/v1/status", None).await;
            if s["progress"]["done"].as_u64().unwrap_or(0) > 0 {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(s["progress"]["phase"], "asking the model");
    // decision bars 29 (a full window of 30) to 398 (never the last): 370 questions
    assert_eq!(s["progress"]["total"], 370);
    let (c, h, stopped) = call(&d, Method::POST, "/api/v1/run/stop", None).await;
    assert_eq!(c, StatusCode::OK, "{stopped}");
    versioned(&h, "stop");
    assert_eq!(
        stopped,
        json!({ "run_id": first["run_id"], "status": "stopped", "message": "backtest stopped" })
    );
    // a stopped backtest is not a result: nothing is listed
    let (_, list) = d.get("/api/backtests").await;
    assert_eq!(list, json!([]));
    let (c, _, _) = call(&d, Method::DELETE, "/api/v1/run/reset", None).await;
    assert_eq!(c, StatusCode::OK);
    let (c, _, b) = call(
        &d,
        Method::POST,
        "/api/v1/run/backtest",
        Some(json!({ "strategy_name": "sma_cross", "symbols": ["walk"] })),
    )
    .await;
    assert_eq!(
        c,
        StatusCode::OK,
        "a new run starts once the slot is free: {b}"
    );
    assert_eq!(settle(&d).await["status"], "completed");
}

#[tokio::test]
async fn meta_announces_each_deprecation_ninety_days_ahead_and_the_route_says_so() {
    let d = TestDesk::start().await;
    let (c, h, meta) = call(&d, Method::GET, "/api/v1/meta", None).await;
    assert_eq!(c, StatusCode::OK);
    versioned(&h, "meta");
    assert_eq!(meta["api_version"], "v1");
    assert_eq!(meta["deprecation_policy"]["minimum_notice_days"], 90);
    let deps = meta["deprecations"].as_array().unwrap();
    assert!(!deps.is_empty());
    for dep in deps {
        let day = |k: &str| {
            chrono::NaiveDate::parse_from_str(dep[k].as_str().unwrap(), "%Y-%m-%d").unwrap()
        };
        assert!((day("sunset") - day("announced")).num_days() >= 90, "{dep}");
        let (c, h, _) = call(
            &d,
            Method::from_bytes(dep["method"].as_str().unwrap().as_bytes()).unwrap(),
            dep["path"].as_str().unwrap(),
            None,
        )
        .await;
        assert_eq!(
            c,
            StatusCode::OK,
            "the deprecated route still answers until its sunset"
        );
        versioned(&h, "deprecated route");
        let announced = day("announced").and_hms_opt(0, 0, 0).unwrap().and_utc();
        assert_eq!(
            h["deprecation"].to_str().unwrap(),
            format!("@{}", announced.timestamp())
        );
        let sunset = chrono::DateTime::parse_from_rfc2822(h["sunset"].to_str().unwrap()).unwrap();
        assert_eq!(sunset.date_naive(), day("sunset"));
        let link = h["link"].to_str().unwrap();
        assert!(
            link.contains(&format!(
                "<{}>; rel=\"successor-version\"",
                dep["successor"].as_str().unwrap()
            )),
            "{link}"
        );
        assert!(
            link.contains("</api/v1/meta>; rel=\"deprecation\""),
            "{link}"
        );
    }
    // a route that is not deprecated has none of these headers
    let (_, h, _) = call(&d, Method::GET, "/api/v1/status", None).await;
    assert!(h.get("deprecation").is_none() && h.get("sunset").is_none());
}

#[tokio::test]
async fn a_paper_run_trades_on_the_desks_feed_pushes_its_trades_and_is_saved_when_stopped() {
    let d = TestDesk::start().await;
    let cookie = d.session_cookie().await;
    let ws_base = d.base.replace("http", "ws");
    let mut status = ws_connect(&format!("{ws_base}/api/v1/ws/status"), &cookie).await;
    let mut trades = ws_connect(&format!("{ws_base}/ws"), &cookie).await;
    let next = |m: Option<Result<tokio_tungstenite::tungstenite::Message, _>>| -> Value {
        serde_json::from_str(m.unwrap().unwrap().to_text().unwrap()).unwrap()
    };
    let first = next(within("status", status.next()).await);
    assert_eq!(first["type"], "status_update");
    assert_eq!(first["payload"]["status"], "idle");
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));

    let (c, _, b) = call(&d, Method::POST, "/api/v1/run/live", Some(json!({ "strategy_name": "sma_cross",
        "strategy_params": { "fast": 2, "slow": 3 }, "symbols": ["es"], "timeframe": "1s", "exchange": "desk",
        "exchange_config": { "initial_cash": 100000 }, "mode": "paper" }))).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["message"], "paper run started");
    let running = next(within("status", status.next()).await);
    assert_eq!(
        (
            running["payload"]["status"].as_str(),
            running["payload"]["mode"].as_str()
        ),
        (Some("running"), Some("paper"))
    );
    // one price a second: down, then up (the fast average crosses above), then down
    let prices = [
        5000.0, 4999.0, 4998.0, 4997.0, 4996.0, 5001.0, 5006.0, 5011.0, 5016.0, 5010.0, 5002.0,
        4994.0, 4990.0,
    ];
    feed(&d, &prices, true).await;
    let buy = next(within("a paper trade on /ws", trades.next()).await);
    assert_eq!(
        (
            buy["type"].as_str(),
            buy["data"]["action"].as_str(),
            buy["data"]["asset"].as_str()
        ),
        (Some("trade"), Some("BUY"), Some("ES"))
    );
    assert!(
        buy["data"]["reasoning"]
            .as_str()
            .unwrap()
            .contains("SMA(2) crossed above SMA(3)"),
        "{buy}"
    );
    let (_, _, r) = call(&d, Method::GET, "/api/v1/results", None).await;
    assert_eq!(r["status"], "running");
    assert!(
        r["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == buy["data"]["id"])
    );
    let (c, _, stopped) = call(&d, Method::POST, "/api/v1/run/stop", None).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(stopped["status"], "stopped");
    let (_, list) = d.get("/api/backtests").await;
    assert_eq!(list[0]["mode"], "paper");
    assert_eq!(list[0]["status"], "stopped");
    assert_eq!(list[0]["asset"], "ES");
    let (_, detail) = d.get(&format!("/api/backtests/{}", list[0]["id"])).await;
    assert!(
        detail["trades"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == buy["data"]["id"])
    );
    assert!(!detail["equity_curve"].as_array().unwrap().is_empty());
    // the paper run never touched the desk
    let (_, orders) = d.get("/api/orders").await;
    assert_eq!(orders["orders"], json!([]));
}

/// Bars the running paper or live run has closed.
async fn closed(d: &TestDesk) -> u64 {
    let (_, _, s) = call(d, Method::GET, "/api/v1/status", None).await;
    s["progress"]["done"].as_u64().unwrap_or(0)
}

/// Prices one second apart on ES, each after the clock moves a second. A price in a new second
/// closes the bar before it; the next price waits until the run has taken that bar, so no two
/// bars merge. `opens`: the first price starts the run's first bar (it closes none).
async fn feed(d: &TestDesk, prices: &[f64], opens: bool) {
    for (k, &p) in prices.iter().enumerate() {
        let before = closed(d).await;
        d.advance(1).await;
        d.heartbeat("ES", p).await;
        if k > 0 || !opens {
            within("the run to take the bar", async {
                while closed(d).await <= before {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await;
        }
    }
}

/// Waits for the run's `n`-th order; `/results`.
async fn orders(d: &TestDesk, n: usize) -> Value {
    within("the live run's orders", async {
        loop {
            let (_, _, r) = call(d, Method::GET, "/api/v1/results", None).await;
            if r["orders"].as_array().unwrap().len() >= n {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_live_run_sends_its_orders_through_the_desks_order_path_with_every_gate() {
    let d = TestDesk::start().await;
    let (c, b) = d.post("/api/env", json!({ "env": "LIVE" })).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    let (c, _, b) = call(&d, Method::POST, "/api/v1/run/live", Some(json!({ "strategy_name": "sma_cross",
        "strategy_params": { "fast": 2, "slow": 3 }, "symbols": ["ES"], "timeframe": "1s", "exchange": "desk",
        "exchange_config": {}, "mode": "live" }))).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    assert_eq!(b["message"], "live run started");
    // a BUY while the desk has no Renko structure: the desk's gate refuses it, the run says why
    feed(
        &d,
        &[
            5000.0, 4999.0, 4998.0, 4997.0, 4996.0, 5001.0, 5006.0, 5011.0,
        ],
        true,
    )
    .await;
    let r = orders(&d, 1).await;
    let o = &r["orders"][0];
    assert_eq!(
        (o["action"].as_str(), o["status"].as_str()),
        (Some("BUY"), Some("REFUSED")),
        "{o}"
    );
    let why = o["reasoning"].as_str().unwrap();
    assert!(
        why.contains("SMA(2) crossed above SMA(3)") && why.contains("refused by the desk: "),
        "{why}"
    );
    let (_, desk_orders) = d.get("/api/orders").await;
    assert_eq!(
        desk_orders["orders"],
        json!([]),
        "a refused entry leaves no order"
    );
    // with the structure there, the next BUY passes every gate and is the desk's own order
    d.make_ready("ES", "green", 5011.0).await;
    let (c, b) = d
        .post_anon(
            "/api/bridge/heartbeat",
            json!({ "secret": BRIDGE, "tsConnected": true, "mdConnected": true,
            "repoOk": true, "account": "U1", "tradeRoute": "PAPER" }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    feed(
        &d,
        &[5005.0, 5000.0, 4995.0, 4990.0, 4996.0, 5002.0, 5008.0],
        false,
    )
    .await;
    let r = orders(&d, 2).await;
    let o = r["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "SENT")
        .cloned();
    let o = o.unwrap_or_else(|| panic!("no order was sent: {}", r["orders"]));
    assert_eq!(o["action"], "BUY");
    let (_, desk_orders) = d.get("/api/orders").await;
    let placed = desk_orders["orders"].as_array().unwrap();
    assert_eq!(placed.len(), 1, "{desk_orders}");
    assert_eq!(
        (placed[0]["asset"].as_str(), placed[0]["side"].as_str()),
        (Some("ES"), Some("BUY"))
    );
    call(&d, Method::POST, "/api/v1/run/stop", None).await;
}

#[tokio::test]
async fn a_paper_llm_run_stops_asking_once_ollama_is_down() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // a stand-in Ollama that counts its connections and hangs up on each
    let hangs_up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", hangs_up.local_addr().unwrap());
    let tries = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = tries.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = hangs_up.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    let d = TestDesk::start_with_ollama(&url).await;
    let (c, _, b) = call(
        &d,
        Method::POST,
        "/api/v1/run/live",
        Some(json!({ "strategy_name": "llm",
        "strategy_params": { "window": 2, "every": 1 }, "symbols": ["ES"], "timeframe": "1s",
        "exchange": "desk", "exchange_config": {}, "mode": "paper" })),
    )
    .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    // six bars close: five are decision bars (from the second), the first finds Ollama down
    feed(
        &d,
        &[5000.0, 5001.0, 5002.0, 5003.0, 5004.0, 5005.0, 5006.0],
        true,
    )
    .await;
    assert_eq!(closed(&d).await, 6);
    assert_eq!(
        tries.load(Ordering::SeqCst),
        1,
        "asked once, then the fallback rule decides"
    );
    call(&d, Method::POST, "/api/v1/run/stop", None).await;
    let (_, list) = d.get("/api/backtests").await;
    assert_eq!(list[0]["mode"], "paper");
    assert!(
        list[0]["note"]
            .as_str()
            .unwrap()
            .contains("Ollama unreachable at"),
        "{}",
        list[0]
    );
}
