//! Seed 003, the research backend, through HTTP as its clients send it: every route, pagination,
//! filters, the `{"error": …}` shape, and read-only SQL that refuses whatever would change the store.
use crate::backtests::walk_dataset;
use crate::support::{TestDesk, within};
use brickdesk::services::research::ResearchConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The answer is seed 003's error shape, and nothing else; its message.
pub fn error_of(code: StatusCode, body: &Value, want: StatusCode) -> String {
    assert_eq!(code, want, "{body}");
    let o = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(o.len(), 1, "only `error`: {body}");
    o["error"].as_str().unwrap().to_string()
}

/// Polls a job until it is COMPLETED, FAILED or CANCELLED; every answer seen on the way.
pub async fn wait_job(d: &TestDesk, id: &str) -> Vec<Value> {
    within("the job to end", async {
        let mut seen = Vec::new();
        loop {
            let (c, j) = d.get(&format!("/api/jobs/{id}")).await;
            assert_eq!(c, StatusCode::OK, "{j}");
            let done = matches!(
                j["status"].as_str(),
                Some("COMPLETED" | "FAILED" | "CANCELLED")
            );
            seen.push(j);
            if done {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Queues an import of `data` into `measurement`; its job id.
pub async fn import(d: &TestDesk, measurement: &str, data: &str) -> String {
    let (c, b) = d
        .post(
            "/api/questdb/import/async",
            json!({"measurement": measurement, "data": data, "filename": "x.csv"}),
        )
        .await;
    assert_eq!(c, StatusCode::ACCEPTED, "{b}");
    let id = b["job_id"].as_str().unwrap().to_string();
    assert_eq!(b["status"], "PENDING");
    assert_eq!(b["poll_url"], format!("/api/jobs/{id}"));
    assert_eq!(
        b["message"],
        format!("Import job created. Poll /api/jobs/{id} for status.")
    );
    id
}

/// Predictions as a walk-forward client writes them: `rows` bars a minute apart, in seconds.
pub fn predictions_csv(rows: usize) -> String {
    let mut s = String::from(
        "timestamp_unix,bar_index,fold_number,prediction,target,threshold_0,threshold_1\n",
    );
    for i in 0..rows {
        s.push_str(&format!(
            "{},{i},{},{},{},0.5,0.6\n",
            1_609_459_200 + 60 * i,
            1 + i / 100,
            (i % 100) as f64 / 100.0 + 0.005,
            i % 2
        ));
    }
    s
}

async fn query(d: &TestDesk, sql: &str) -> (StatusCode, Value) {
    d.post("/api/questdb/query", json!({ "sql": sql })).await
}

#[tokio::test]
async fn probes_answer_anyone_and_the_rest_needs_the_operator() {
    let d = TestDesk::start().await;
    let get = |p: &str| d.anon.get(d.url(p)).send();
    let ok: Value = get("/healthz").await.unwrap().json().await.unwrap();
    assert_eq!(ok, json!({"status": "ok"}));
    let ready: Value = get("/readyz").await.unwrap().json().await.unwrap();
    assert_eq!(ready, json!({"status": "ready"}));
    let h: Value = get("/api/health").await.unwrap().json().await.unwrap();
    assert_eq!(h["status"], "healthy");
    assert!(h["uptime"].as_u64().is_some(), "{h}");
    assert!(h["timestamp"].as_str().unwrap().ends_with('Z'), "{h}");
    for path in [
        "/api/datasets",
        "/api/runs",
        "/api/simulations",
        "/api/jobs",
        "/api/questdb/measurements",
    ] {
        let r = get(path).await.unwrap();
        let code = r.status();
        let msg = error_of(code, &r.json().await.unwrap(), StatusCode::UNAUTHORIZED);
        assert!(msg.contains("login required"), "{msg}");
    }
    let (c, b) = d.get("/api/jobs/x/y").await;
    assert!(error_of(c, &b, StatusCode::NOT_FOUND).contains("no route"));
    let r = d.client.delete(d.url("/api/jobs")).send().await.unwrap();
    let c = r.status();
    error_of(c, &r.json().await.unwrap(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn x_stage1_token_is_enforced_when_auth_is_enabled() {
    let d = TestDesk::start_with_research(ResearchConfig {
        enable_auth: true,
        tokens: vec!["s3cret".into()],
        ..Default::default()
    })
    .await;
    let with = |t: Option<&str>| {
        let mut r = d.anon.get(d.url("/api/jobs"));
        if let Some(t) = t {
            r = r.header("X-Stage1-Token", t);
        }
        r.send()
    };
    let r = with(None).await.unwrap();
    let c = r.status();
    assert!(
        error_of(c, &r.json().await.unwrap(), StatusCode::UNAUTHORIZED).contains("X-Stage1-Token")
    );
    let r = with(Some("wrong")).await.unwrap();
    let c = r.status();
    assert_eq!(
        error_of(c, &r.json().await.unwrap(), StatusCode::UNAUTHORIZED),
        "invalid X-Stage1-Token"
    );
    let r = with(Some("s3cret")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // the operator's session still works, and the probes need nothing
    assert_eq!(d.get("/api/jobs").await.0, StatusCode::OK);
    let r = d.anon.get(d.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_seed_000_dataset_is_a_research_dataset_with_its_measurements() {
    let d = TestDesk::start().await;
    let (id, csv) = walk_dataset(&d, "walk", 300, 1).await;
    let (c, list) = d.get("/api/datasets").await;
    assert_eq!(c, StatusCode::OK, "{list}");
    assert_eq!(list["count"], 1);
    let ds = &list["datasets"][0];
    assert_eq!(ds["dataset_id"], id.as_str());
    assert_eq!(ds["dataset_slug"], "walk");
    assert_eq!(ds["symbol"], "WALK");
    assert_eq!(ds["granularity"], "1d");
    assert_eq!(ds["source"], "csv");
    assert_eq!(ds["ohlcv_measurement"], "walk_ohlcv");
    assert_eq!(ds["indicator_measurement"], "walk_indicators");
    assert_eq!(ds["ohlcv_row_count"], 300);
    assert_eq!(ds["indicator_row_count"], 300);
    // µs: the first bar is 2012-01-02 00:00 UTC
    assert_eq!(ds["ohlcv_first_ts"], 1_325_462_400_000_000i64);
    assert_eq!(ds["indicator_first_ts"], ds["ohlcv_first_ts"]);
    assert!(ds["metadata"].is_object());
    let (c, one) = d.get(&format!("/api/datasets/{id}")).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(&one, ds);
    // the bars in SQL are the file's
    let text = std::fs::read_to_string(&csv).unwrap();
    let closes: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect();
    let (c, q) = query(
        &d,
        "SELECT count(*), max(timestamp), sum(close) FROM walk_ohlcv",
    )
    .await;
    assert_eq!(c, StatusCode::OK, "{q}");
    assert_eq!(q["dataset"][0][0], 300);
    assert_eq!(q["dataset"][0][1], ds["ohlcv_last_ts"]);
    let sum: f64 = closes.iter().sum();
    assert!((q["dataset"][0][2].as_f64().unwrap() - sum).abs() < 1e-6 * sum);
    let (c, q) = query(
        &d,
        "SELECT sma_10, sma_20 FROM walk_indicators ORDER BY timestamp LIMIT 1 OFFSET 19",
    )
    .await;
    assert_eq!(c, StatusCode::OK, "{q}");
    let sma = |n: usize| closes[20 - n..20].iter().sum::<f64>() / n as f64;
    assert!((q["dataset"][0][0].as_f64().unwrap() - sma(10)).abs() < 1e-9);
    assert!((q["dataset"][0][1].as_f64().unwrap() - sma(20)).abs() < 1e-9);
    let (c, b) = d.get("/api/datasets/dataset-nope").await;
    assert_eq!(
        error_of(c, &b, StatusCode::NOT_FOUND),
        "dataset dataset-nope not found"
    );
}

#[tokio::test]
async fn datasets_are_created_updated_and_refused() {
    let d = TestDesk::start().await;
    let body = json!({
        "dataset_id": "0d1c-uuid", "dataset_slug": "btc_1h", "symbol": "BTC/USD", "granularity": "1h",
        "source": "exchange_name", "ohlcv_measurement": "btc_1h_ohlcv", "indicator_measurement": "btc_1h_indicators"
    });
    let (c, b) = d.post("/api/datasets", body.clone()).await;
    assert_eq!(
        (c, b),
        (
            StatusCode::CREATED,
            json!({"success": true, "message": "Dataset created successfully"})
        )
    );
    let mut again = body.clone();
    again["granularity"] = json!("4h");
    let (c, b) = d.post("/api/datasets", again).await;
    // seed 003: 201 for an update too
    assert_eq!(
        (c, b["message"].clone()),
        (StatusCode::CREATED, json!("Dataset updated successfully"))
    );
    let (_, one) = d.get("/api/datasets/0d1c-uuid").await;
    assert_eq!(one["granularity"], "4h");
    // what a GET answers can be posted back as it is (its extra fields are ignored)
    let (c, _) = d.post("/api/datasets", one.clone()).await;
    assert_eq!(c, StatusCode::CREATED);
    assert_eq!(d.get("/api/datasets/0d1c-uuid").await.1, one);
    assert_eq!(one["ohlcv_row_count"], Value::Null, "no bars imported yet");
    let before = d.get("/api/datasets").await.1;
    let refused = [
        (
            json!({"dataset_id": "other", "dataset_slug": "btc_1h"}),
            StatusCode::CONFLICT,
            "dataset_slug is taken by dataset 0d1c-uuid",
        ),
        (
            json!({"dataset_slug": "x"}),
            StatusCode::BAD_REQUEST,
            "missing field `dataset_id`",
        ),
        (
            json!({"dataset_id": "a b", "dataset_slug": "x"}),
            StatusCode::BAD_REQUEST,
            "dataset_id must be",
        ),
        (
            json!({"dataset_id": "a", "dataset_slug": "x y"}),
            StatusCode::BAD_REQUEST,
            "dataset_slug must be",
        ),
        (
            json!({"dataset_id": "a", "dataset_slug": "x", "ohlcv_measurement": "bd_jobs"}),
            StatusCode::BAD_REQUEST,
            "reserved",
        ),
        (
            json!({"dataset_id": "a", "dataset_slug": "x", "metadata": [1]}),
            StatusCode::BAD_REQUEST,
            "metadata must be an object",
        ),
    ];
    for (body, code, want) in refused {
        let (c, b) = d.post("/api/datasets", body.clone()).await;
        let msg = error_of(c, &b, code);
        assert!(msg.contains(want), "{body} → {msg}");
    }
    let r = d
        .client
        .post(d.url("/api/datasets"))
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let c = r.status();
    error_of(
        c,
        &r.json().await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    let r = d
        .client
        .post(d.url("/api/datasets"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    let c = r.status();
    assert!(
        error_of(c, &r.json().await.unwrap(), StatusCode::BAD_REQUEST).contains("not valid JSON")
    );
    assert_eq!(
        d.get("/api/datasets").await.1,
        before,
        "refusals changed nothing"
    );
}

#[tokio::test]
async fn runs_and_simulations_with_pagination_filters_and_refusals() {
    let d = TestDesk::start().await;
    for id in ["ds-a", "ds-b"] {
        let (c, _) = d
            .post(
                "/api/datasets",
                json!({"dataset_id": id, "dataset_slug": id}),
            )
            .await;
        assert_eq!(c, StatusCode::CREATED);
    }
    for (run, ds) in [("r1", "ds-a"), ("r2", "ds-a"), ("r3", "ds-b")] {
        let (c, b) = d
            .post(
                "/api/runs",
                json!({"run_id": run, "dataset_id": ds, "fold_count": 5,
                                      "features": ["f1", "f2"], "thresholds": [0.5, 0.6, 0.7]}),
            )
            .await;
        assert_eq!(
            (c, b),
            (
                StatusCode::CREATED,
                json!({"success": true, "message": "Run created successfully"})
            )
        );
    }
    let (_, all) = d.get("/api/runs").await;
    assert_eq!(
        (all["count"].clone(), all["total"].clone()),
        (json!(3), json!(3))
    );
    let r = &all["runs"][0];
    assert_eq!(r["run_id"], "r3", "newest first");
    assert_eq!(r["features"], json!(["f1", "f2"]));
    assert_eq!(r["thresholds"], json!([0.5, 0.6, 0.7]));
    assert_eq!(r["fold_count"], 5);
    assert!(r["created_at"].as_str().unwrap().ends_with('Z'));
    let (_, a) = d.get("/api/runs?dataset_id=ds-a&limit=1&offset=1").await;
    assert_eq!(a["count"], 1);
    assert_eq!(a["total"], 2);
    assert_eq!(a["runs"][0]["run_id"], "r1");
    let (_, a) = d.get("/api/datasets/ds-a/runs").await;
    let ids: Vec<&str> = a["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r2", "r1"]);
    let (c, one) = d.get("/api/runs/r2").await;
    assert_eq!(
        (c, one["dataset_id"].clone()),
        (StatusCode::OK, json!("ds-a"))
    );
    for (path, code, want) in [
        (
            "/api/runs/none",
            StatusCode::NOT_FOUND,
            "run none not found",
        ),
        (
            "/api/datasets/none/runs",
            StatusCode::NOT_FOUND,
            "dataset none not found",
        ),
        (
            "/api/runs?limit=abc",
            StatusCode::BAD_REQUEST,
            "limit must be a whole number",
        ),
        (
            "/api/runs?offset=-1",
            StatusCode::BAD_REQUEST,
            "offset must be a whole number",
        ),
    ] {
        let (c, b) = d.get(path).await;
        let msg = error_of(c, &b, code);
        assert!(msg.contains(want), "{path}: {msg}");
    }
    for (body, code, want) in [
        (
            json!({"run_id": "r1", "dataset_id": "ds-a", "fold_count": 1}),
            StatusCode::CONFLICT,
            "run r1 already exists",
        ),
        (
            json!({"run_id": "r9", "dataset_id": "nope", "fold_count": 1}),
            StatusCode::BAD_REQUEST,
            "dataset_id nope does not exist",
        ),
        (
            json!({"run_id": "r9", "dataset_id": "ds-a", "fold_count": 0}),
            StatusCode::BAD_REQUEST,
            "fold_count must be at least 1",
        ),
        (
            json!({"run_id": "r9", "dataset_id": "ds-a", "fold_count": "5"}),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            // wf_<run_id> would be longer than a measurement's name can be
            json!({"run_id": "r".repeat(125), "dataset_id": "ds-a", "fold_count": 1}),
            StatusCode::BAD_REQUEST,
            "run_id must be 1 to 124 letters",
        ),
        (
            json!({"run_id": "r9", "dataset_id": "ds-a", "fold_count": 2, "thresholds": ["x"]}),
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
    ] {
        let (c, b) = d.post("/api/runs", body.clone()).await;
        let msg = error_of(c, &b, code);
        assert!(msg.contains(want), "{body}: {msg}");
    }
    assert_eq!(d.get("/api/runs").await.1["total"], 3);
    // a limit past the most a page holds (1000) is read as that
    let (c, big) = d.get("/api/runs?limit=5000").await;
    assert_eq!((c, big["count"].clone()), (StatusCode::OK, json!(3)));

    // simulations: their trades come with them; pnl and return worked out when not given
    let trades: Vec<Value> = (0..5)
        .map(|i| json!({"bar_timestamp": 1_609_459_200_000_000i64 + i * 60_000_000, "side": if i % 2 == 0 {"long"} else {"short"},
                        "size": 2.0, "entry_price": 100.0, "exit_price": 110.0}))
        .collect();
    let (c, b) = d
        .post("/api/simulations", json!({"simulation_id": "s1", "run_id": "r1", "initial_capital": 10000,
                                         "parameters": {"threshold": 0.6}, "results": {"sharpe": 1.2}, "trades": trades}))
        .await;
    assert_eq!(
        (c, b),
        (
            StatusCode::CREATED,
            json!({"success": true, "message": "Simulation created successfully"})
        )
    );
    let (c, _) = d
        .post(
            "/api/simulations",
            json!({"simulation_id": "s2", "run_id": "r3", "initial_capital": 500}),
        )
        .await;
    assert_eq!(c, StatusCode::CREATED);
    let (_, sims) = d.get("/api/simulations?run_id=r1").await;
    assert_eq!(sims["count"], 1);
    let s = &sims["simulations"][0];
    assert_eq!(
        (
            s["simulation_id"].clone(),
            s["initial_capital"].clone(),
            s["parameters"].clone(),
            s["results"].clone()
        ),
        (
            json!("s1"),
            json!(10000.0),
            json!({"threshold": 0.6}),
            json!({"sharpe": 1.2})
        )
    );
    assert_eq!(d.get("/api/simulations").await.1["total"], 2);
    assert_eq!(
        d.get("/api/simulations/s2").await.1["parameters"],
        json!({})
    );
    let (_, t) = d.get("/api/simulations/s1/trades?limit=2&offset=1").await;
    assert_eq!(
        (t["count"].clone(), t["total"].clone()),
        (json!(2), json!(5))
    );
    let t1 = &t["trades"][0];
    assert_eq!(t1["side"], "short");
    assert_eq!(t1["pnl"], -20.0);
    assert_eq!(t1["return_pct"], -10.0);
    assert_eq!(t1["simulation_id"], "s1");
    assert!(t1["trade_id"].as_str().is_some());
    assert_eq!(t["trades"][1]["pnl"], 20.0);
    for (body, code, want) in [
        (
            json!({"simulation_id": "s1", "run_id": "r1", "initial_capital": 1}),
            StatusCode::CONFLICT,
            "simulation s1 already exists",
        ),
        (
            json!({"simulation_id": "s9", "run_id": "rx", "initial_capital": 1}),
            StatusCode::BAD_REQUEST,
            "run_id rx does not exist",
        ),
        (
            json!({"simulation_id": "s9", "run_id": "r1", "initial_capital": -5}),
            StatusCode::BAD_REQUEST,
            "initial_capital must be a positive number",
        ),
        (
            json!({"simulation_id": "s9", "run_id": "r1", "initial_capital": 1, "trades": [{"side": "up", "size": 1}]}),
            StatusCode::BAD_REQUEST,
            "trades[0].side must be long or short",
        ),
        (
            json!({"simulation_id": "s9", "run_id": "r1", "initial_capital": 1, "trades": [{"side": "long", "size": 0}]}),
            StatusCode::BAD_REQUEST,
            "trades[0].size must be a positive number",
        ),
        (
            json!({"simulation_id": "s9", "run_id": "r1", "initial_capital": 1, "parameters": 3}),
            StatusCode::BAD_REQUEST,
            "parameters must be an object",
        ),
    ] {
        let (c, b) = d.post("/api/simulations", body.clone()).await;
        let msg = error_of(c, &b, code);
        assert!(msg.contains(want), "{body}: {msg}");
    }
    assert_eq!(d.get("/api/simulations").await.1["total"], 2);
    let (c, b) = d.get("/api/simulations/none/trades").await;
    assert_eq!(
        error_of(c, &b, StatusCode::NOT_FOUND),
        "simulation none not found"
    );
    let (c, b) = d.get("/api/simulations/none").await;
    error_of(c, &b, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn predictions_stream_as_csv_and_json_in_microseconds() {
    let d = TestDesk::start().await;
    d.post(
        "/api/datasets",
        json!({"dataset_id": "ds", "dataset_slug": "ds"}),
    )
    .await;
    d.post(
        "/api/runs",
        json!({"run_id": "wf-1", "dataset_id": "ds", "fold_count": 3}),
    )
    .await;
    let (c, b) = d.get("/api/runs/wf-1/predictions").await;
    assert!(error_of(c, &b, StatusCode::NOT_FOUND).contains("no predictions yet"));
    let csv = predictions_csv(250);
    let job = import(&d, "wf_wf-1", &csv).await;
    let end = wait_job(&d, &job).await;
    let last = end.last().unwrap();
    assert_eq!(last["status"], "COMPLETED", "{last}");
    let result: Value = serde_json::from_str(last["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["timestamp_unit"], "s");
    assert_eq!(result["rows_imported"], 250);
    let r = d
        .client
        .get(d.url("/api/runs/wf-1/predictions?format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = r.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "timestamp,bar_index,fold_number,prediction,target,threshold_0,threshold_1"
    );
    for (i, (got, sent)) in lines.zip(csv.lines().skip(1)).enumerate() {
        let mut want: Vec<String> = sent.split(',').map(str::to_string).collect();
        want[0] = format!("{}", want[0].parse::<i64>().unwrap() * 1_000_000);
        assert_eq!(got, want.join(","), "row {i}");
    }
    assert_eq!(text.lines().count(), 251);
    let (c, j) = d.get("/api/runs/wf-1/predictions?format=json").await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(j["dataset"].as_array().unwrap().len(), 250);
    assert_eq!(
        j["dataset"][1],
        json!([1_609_459_260_000_000i64, 1, 1, 0.015, 1, 0.5, 0.6])
    );
    let (c, b) = d.get("/api/runs/wf-1/predictions?format=xml").await;
    assert!(error_of(c, &b, StatusCode::BAD_REQUEST).contains("format must be csv or json"));
    let (c, b) = d.get("/api/runs/none/predictions").await;
    assert_eq!(error_of(c, &b, StatusCode::NOT_FOUND), "run none not found");
}

#[tokio::test]
async fn imports_detect_units_append_and_are_refused_before_queueing() {
    let d = TestDesk::start().await;
    // ms and µs and ISO text all land as µs
    for (name, ts) in [
        ("ms", "1609459200000"),
        ("us", "1609459200000000"),
        ("iso", "2021-01-01T00:00:00Z"),
    ] {
        let job = import(&d, &format!("m_{name}"), &format!("timestamp,v\n{ts},1\n")).await;
        let end = wait_job(&d, &job).await;
        assert_eq!(end.last().unwrap()["status"], "COMPLETED", "{name}");
        let (_, m) = d.get(&format!("/api/questdb/measurement/m_{name}")).await;
        assert_eq!(m["first_ts"], 1_609_459_200_000_000i64, "{name}: {m}");
    }
    // a second file with the same columns is appended; other columns fail the job, table intact
    let job = import(&d, "m_ms", "timestamp,v\n1609459260000,2\n").await;
    assert_eq!(
        wait_job(&d, &job).await.last().unwrap()["status"],
        "COMPLETED"
    );
    let (_, m) = d.get("/api/questdb/measurement/m_ms").await;
    assert_eq!(
        (m["row_count"].clone(), m["last_ts"].clone()),
        (json!(2), json!(1_609_459_260_000_000i64))
    );
    let job = import(&d, "m_ms", "timestamp,w\n1609459320000,3\n").await;
    let end = wait_job(&d, &job).await;
    let last = end.last().unwrap();
    assert_eq!(last["status"], "FAILED");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("exists with columns (timestamp, v)"),
        "{last}"
    );
    assert!(last["completed_at"].is_string());
    assert_eq!(
        d.get("/api/questdb/measurement/m_ms").await.1["row_count"],
        2
    );

    // a BOM before the header (Excel's "CSV UTF-8") is no obstacle
    let job = import(&d, "bom", "\u{feff}timestamp,v\n1609459200,1\n").await;
    assert_eq!(
        wait_job(&d, &job).await.last().unwrap()["status"],
        "COMPLETED"
    );
    let (_, before) = d.get("/api/jobs").await;
    let refused = [
        (
            json!({"data": "timestamp,v\n1,2\n"}),
            "Missing 'measurement' parameter",
        ),
        (json!({"measurement": "x"}), "Missing 'data' parameter"),
        (
            json!({"measurement": "x", "data": 5}),
            "data must be the CSV text as a string",
        ),
        (json!({"measurement": "x", "data": ""}), "data is empty"),
        (
            json!({"measurement": "x", "data": "time,v\n1,2\n"}),
            "must have a timestamp_unix or timestamp column",
        ),
        (
            json!({"measurement": "bad name", "data": "timestamp\n1\n"}),
            "must be 1 to 127 letters",
        ),
        (
            json!({"measurement": "bd_jobs", "data": "timestamp\n1\n"}),
            "reserved",
        ),
        (
            json!({"measurement": "_import_x", "data": "timestamp\n1\n"}),
            "reserved",
        ),
    ];
    for (body, want) in refused {
        let (c, b) = d.post("/api/questdb/import/async", body.clone()).await;
        let msg = error_of(c, &b, StatusCode::BAD_REQUEST);
        assert!(msg.contains(want), "{body}: {msg}");
    }
    let (c, b) = d
        .post(
            "/api/questdb/import",
            json!({"measurement": "x", "data": "timestamp\n1\n"}),
        )
        .await;
    assert!(error_of(c, &b, StatusCode::NOT_IMPLEMENTED).contains("/api/questdb/import/async"));
    assert_eq!(
        d.get("/api/jobs").await.1["total"],
        before["total"],
        "nothing was queued"
    );
    let uploads = d.dir.path().join("uploads");
    within("finished jobs' uploads to go", async {
        while std::fs::read_dir(&uploads).unwrap().count() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;

    // the list: newest first, by type, paged
    let (_, jobs) = d
        .get("/api/jobs?job_type=questdb_import&limit=2&offset=1")
        .await;
    assert_eq!(
        (jobs["count"].clone(), jobs["total"].clone()),
        (json!(2), json!(6))
    );
    let j = &jobs["jobs"][0];
    for key in [
        "job_id",
        "job_type",
        "status",
        "payload",
        "progress",
        "total",
        "result",
        "error",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
    ] {
        assert!(j.get(key).is_some(), "{key} in {j}");
    }
    assert!(j["payload"].as_str().unwrap().contains("\"measurement\""));
    assert_eq!(d.get("/api/jobs?job_type=other").await.1["total"], 0);
    let (c, b) = d.get("/api/jobs/nope").await;
    assert_eq!(error_of(c, &b, StatusCode::NOT_FOUND), "job nope not found");
    let (c, b) = d.post("/api/jobs/nope/cancel", json!({})).await;
    error_of(c, &b, StatusCode::NOT_FOUND);
    let done = jobs["jobs"][0]["job_id"].as_str().unwrap();
    let (c, b) = d.post(&format!("/api/jobs/{done}/cancel"), json!({})).await;
    assert!(
        error_of(c, &b, StatusCode::CONFLICT)
            .contains("only a PENDING or RUNNING job can be cancelled")
    );
}

#[tokio::test]
async fn queries_export_and_measurements() {
    let d = TestDesk::start_with_research(ResearchConfig {
        query_max_rows: 100,
        ..Default::default()
    })
    .await;
    let job = import(&d, "preds", &predictions_csv(150)).await;
    wait_job(&d, &job).await;
    let job = import(&d, "other", "timestamp,v\n1609459200,1\n").await;
    wait_job(&d, &job).await;
    let sql = "SELECT timestamp, prediction FROM preds ORDER BY timestamp LIMIT 2";
    let (c, q) = query(&d, sql).await;
    assert_eq!(c, StatusCode::OK, "{q}");
    assert_eq!(
        q,
        json!({"query": sql, "columns": ["timestamp", "prediction"], "count": 2,
               "dataset": [[1_609_459_200_000_000i64, 0.005], [1_609_459_260_000_000i64, 0.015]]})
    );
    let (c, b) = query(&d, "SELECT * FROM preds").await;
    assert!(error_of(c, &b, StatusCode::BAD_REQUEST).contains("more than 100 rows"));
    let (c, b) = query(&d, "SELECT * FROM nowhere").await;
    assert!(error_of(c, &b, StatusCode::BAD_REQUEST).contains("no such table"));
    let (c, b) = d.post("/api/questdb/query", json!({})).await;
    assert_eq!(
        error_of(c, &b, StatusCode::BAD_REQUEST),
        "Missing 'sql' parameter"
    );
    let r = d
        .client
        .post(d.url("/api/questdb/export"))
        .json(&json!({"sql": "SELECT timestamp, bar_index, prediction FROM preds ORDER BY timestamp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"export.csv\""
    );
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 151, "an export has no row limit");
    assert_eq!(text.lines().nth(2).unwrap(), "1609459260000000,1,0.015");
    let (c, b) = d
        .post("/api/questdb/export", json!({"sql": "DROP TABLE preds"}))
        .await;
    assert!(error_of(c, &b, StatusCode::BAD_REQUEST).contains("refused"));

    let (_, m) = d.get("/api/questdb/measurements").await;
    let names: Vec<&str> = m["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other", "preds"]);
    assert_eq!(m["count"], 2);
    let (_, m) = d.get("/api/questdb/measurements?prefix=pr").await;
    let (_, one) = d.get("/api/questdb/measurement/preds").await;
    assert_eq!(m["measurements"], json!([one]));
    let (c, m) = d.get("/api/questdb/measurement/preds").await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(m["row_count"], 150);
    assert_eq!(m["first_ts"], 1_609_459_200_000_000i64);
    assert_eq!(m["last_ts"], 1_609_459_200_000_000i64 + 149 * 60_000_000);
    let (c, b) = d.get("/api/questdb/measurement/nope").await;
    assert_eq!(
        error_of(c, &b, StatusCode::NOT_FOUND),
        "measurement nope not found"
    );
}

/// Everything in the research store that a write could change.
async fn store_state(d: &TestDesk) -> Value {
    let db = d.dir.path().join("research.sqlite3");
    let files: Vec<String> = {
        let mut f: Vec<String> = std::fs::read_dir(d.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
            .collect();
        f.sort();
        f
    };
    tokio::task::spawn_blocking(move || {
        let c =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let schema: Vec<(String, String)> = c
            .prepare("SELECT name, sql FROM sqlite_master ORDER BY name")
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let rows: i64 = c
            .query_row("SELECT count(*) + sum(v) FROM preds", [], |r| r.get(0))
            .unwrap_or(-1);
        let pragmas: Vec<String> = ["journal_mode", "user_version", "application_id"]
            .iter()
            .map(|p| {
                c.pragma_query_value(None, p, |r| r.get::<_, rusqlite::types::Value>(0))
                    .map(|v| format!("{v:?}"))
                    .unwrap()
            })
            .collect();
        json!({"schema": format!("{schema:?}"), "rows": rows, "pragmas": pragmas, "files": files})
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn sql_that_would_change_the_store_is_refused_and_changes_nothing() {
    let d = TestDesk::start_with_research(ResearchConfig {
        query_timeout_s: 2,
        ..Default::default()
    })
    .await;
    let job = import(&d, "preds", "timestamp,v\n1609459200,1\n1609459260,2\n").await;
    wait_job(&d, &job).await;
    let before = store_state(&d).await;
    let attach = d.dir.path().join("attached.db");
    let attach_sql = format!("ATTACH DATABASE '{}' AS a", attach.display());
    let refused = [
        ("INSERT INTO preds VALUES (1, 2)", "read-only"),
        ("UPDATE preds SET v = 0", "read-only"),
        ("DELETE FROM preds", "read-only"),
        ("DROP TABLE preds", "read-only"),
        ("CREATE TABLE t(x)", "read-only"),
        ("CREATE TEMP TABLE t(x)", "read-only"),
        ("ALTER TABLE preds RENAME TO p2", "read-only"),
        ("REPLACE INTO preds VALUES (1, 2)", "read-only"),
        (
            "WITH x AS (SELECT 1) INSERT INTO preds SELECT 5, 5 FROM x",
            "read-only",
        ),
        (attach_sql.as_str(), "read-only"),
        ("DETACH DATABASE main", "read-only"),
        ("PRAGMA journal_mode = DELETE", "read-only"),
        ("PRAGMA user_version = 7", "read-only"),
        ("PRAGMA query_only = 0", "read-only"),
        ("PRAGMA wal_checkpoint(TRUNCATE)", "read-only"),
        ("VACUUM", "read-only"),
        ("REINDEX", "read-only"),
        ("ANALYZE", "read-only"),
        ("BEGIN", "read-only"),
        ("SAVEPOINT s", "read-only"),
        ("SELECT load_extension('/tmp/evil.so')", "read-only"),
        ("SELECT length(zeroblob(999999999))", "too big"),
        ("SELECT 1; DROP TABLE preds", "one statement per request"),
        ("SELECT 1; SELECT 2", "one statement per request"),
        (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            "timed out after 2 s",
        ),
        // about 10 s of work
        (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000000) SELECT sum(x) FROM c",
            "timed out after 2 s",
        ),
    ];
    for (sql, want) in refused {
        let started = std::time::Instant::now();
        let (c, b) = query(&d, sql).await;
        let msg = error_of(c, &b, StatusCode::BAD_REQUEST);
        assert!(msg.contains(want), "{sql}: {msg}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(6),
            "{sql} took {:?}",
            started.elapsed()
        );
        // an export refused or timed out before its first piece is a 400 too
        let (c, b) = d.post("/api/questdb/export", json!({ "sql": sql })).await;
        assert!(
            error_of(c, &b, StatusCode::BAD_REQUEST).contains(want),
            "export {sql}"
        );
    }
    assert!(!attach.exists(), "ATTACH made no file");
    assert_eq!(store_state(&d).await, before);
    // reading pragmas and the schema is fine
    let (c, q) = query(&d, "PRAGMA table_info(preds)").await;
    assert_eq!(c, StatusCode::OK, "{q}");
    assert_eq!(q["dataset"][1][1], "v");
    let (c, q) = query(
        &d,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'preds'",
    )
    .await;
    assert_eq!((c, q["count"].clone()), (StatusCode::OK, json!(1)));
}

#[tokio::test]
async fn a_seed_003_dataset_with_bars_becomes_a_desk_dataset_runs_can_use() {
    let d = TestDesk::start().await;
    let body = json!({"dataset_id": "btc-1h", "dataset_slug": "btc_1h", "symbol": "BTC/USD",
                      "granularity": "1h", "ohlcv_measurement": "btc_1h_ohlcv"});
    let (c, _) = d.post("/api/datasets", body.clone()).await;
    assert_eq!(c, StatusCode::CREATED);
    // no bars yet: nothing to register
    assert_eq!(d.get("/api/jobs").await.1["total"], 0);
    let mut csv = String::from("timestamp,open,high,low,close,volume\n");
    let mut close = 100.0f64;
    for i in 0..400 {
        let open = close;
        close += ((i * 7919 % 13) as f64 - 6.0) * 0.3;
        csv.push_str(&format!(
            "{},{open},{},{},{close},10\n",
            1_609_459_200 + 3600 * i,
            open.max(close) + 0.5,
            open.min(close) - 0.5
        ));
    }
    let job = import(&d, "btc_1h_ohlcv", &csv).await;
    assert_eq!(
        wait_job(&d, &job).await.last().unwrap()["status"],
        "COMPLETED"
    );
    let (_, jobs) = d.get("/api/jobs?job_type=dataset_register").await;
    assert_eq!(jobs["total"], 1, "{jobs}");
    let reg = jobs["jobs"][0]["job_id"].as_str().unwrap().to_string();
    let end = wait_job(&d, &reg).await;
    let last = end.last().unwrap();
    assert_eq!(last["status"], "COMPLETED", "{last}");
    // seed 000 lists it; a backtest runs on it
    let (_, list) = d.get("/data-sources").await;
    let desk = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["dataset_id"] == "btc-1h")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(desk["row_count"], 400);
    assert_eq!(desk["timeframe"], "1h");
    let r = crate::backtests::backtest(
        &d,
        json!({"strategy_name": "sma_cross", "symbols": ["btc-1h"], "strategy_params": {"fast": 5, "slow": 20}}),
    )
    .await;
    assert!(r["final_value"].as_f64().is_some(), "{r}");
    // its research row is unchanged, with its bars' figures
    let (_, ds) = d.get("/api/datasets/btc-1h").await;
    assert_eq!(ds["ohlcv_row_count"], 400);
    assert_eq!(ds["dataset_slug"], "btc_1h");
    // saved again as it is (a client's sync): the desk has it, nothing is copied again
    let (c, _) = d.post("/api/datasets", body.clone()).await;
    assert_eq!(c, StatusCode::CREATED);
    let (_, jobs) = d.get("/api/jobs?job_type=dataset_register").await;
    assert_eq!(jobs["total"], 1, "{jobs}");
}

#[tokio::test]
async fn a_desk_dataset_from_before_research_gets_its_measurements_at_start() {
    use brickdesk::engine::datasets::{Bars, DatasetMeta, columnar};
    let d = TestDesk::start().await;
    // as an older brickdesk left it: columnar files and a desk row, no measurement
    let dir = d.dir.path().join("datasets").join("dataset-old");
    let bars = Bars {
        ts: (0..50).map(|i| 1_600_000_000_000 + i * 60_000).collect(),
        open: vec![10.0; 50],
        high: vec![11.0; 50],
        low: vec![9.0; 50],
        close: (0..50).map(|i| 10.0 + i as f64 / 100.0).collect(),
        volume: vec![5.0; 50],
    };
    columnar::write(&dir, &bars).unwrap();
    let meta: DatasetMeta = serde_json::from_value(json!({
        "dataset_id": "dataset-old", "name": "Old Bars.csv", "symbol": "OLD", "timeframe": "1m",
        "timezone": null, "row_count": 50, "columns": ["timestamp", "open", "high", "low", "close", "volume"],
        "data_path": dir, "source_type": "csv", "source_path": null, "validation_issues": [],
        "created_at": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    d.engine
        .call(move |e| e.register_dataset(meta))
        .await
        .unwrap();
    let d = d.restart().await;
    let (_, jobs) = d.get("/api/jobs?job_type=dataset_measurement").await;
    assert_eq!(jobs["total"], 1, "{jobs}");
    let id = jobs["jobs"][0]["job_id"].as_str().unwrap().to_string();
    assert_eq!(
        wait_job(&d, &id).await.last().unwrap()["status"],
        "COMPLETED"
    );
    let (_, ds) = d.get("/api/datasets/dataset-old").await;
    assert_eq!(ds["dataset_slug"], "old_bars");
    assert_eq!(ds["ohlcv_measurement"], "old_bars_ohlcv");
    assert_eq!(ds["ohlcv_row_count"], 50);
    assert_eq!(ds["ohlcv_first_ts"], 1_600_000_000_000_000i64);
    let (_, q) = query(&d, "SELECT max(close) FROM old_bars_ohlcv").await;
    assert_eq!(q["dataset"][0][0], 10.49);
    // once: a second start queues nothing more
    let d = d.restart().await;
    assert_eq!(
        d.get("/api/jobs?job_type=dataset_measurement").await.1["total"],
        1
    );
}

#[tokio::test]
async fn awkward_files_import_whole() {
    let d = TestDesk::start().await;
    // a number column with `N/A` past the first 10,000 rows, and a quoted field with a comma,
    // a quote and a line break in it
    let mut csv = String::from("timestamp,v,label\n");
    for i in 0..20_000 {
        let v = if i == 15_000 {
            "N/A".to_string()
        } else {
            i.to_string()
        };
        csv.push_str(&format!(
            "{},{v},\"5\"\" screen,\nwide\"\n",
            1_609_459_200 + i
        ));
    }
    let job = import(&d, "odd", &csv).await;
    let end = wait_job(&d, &job).await;
    assert_eq!(
        end.last().unwrap()["status"],
        "COMPLETED",
        "{}",
        end.last().unwrap()
    );
    let (_, q) = query(&d, "SELECT count(*), sum(v = 'N/A'), min(label) FROM odd").await;
    assert_eq!(
        q["dataset"][0],
        json!([20_000, 1, "5\" screen,\nwide"]),
        "{q}"
    );
    // a bare quote inside a plain field is beyond the CSV parser: the job says so, no table is made
    let job = import(
        &d,
        "bare",
        "timestamp,label\n1609459200,5\" screen\n1609459260,x\n",
    )
    .await;
    let end = wait_job(&d, &job).await;
    let last = end.last().unwrap();
    assert_eq!(last["status"], "FAILED", "{last}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("cannot read the CSV"),
        "{last}"
    );
    assert_eq!(
        d.get("/api/questdb/measurement/bare").await.0,
        StatusCode::NOT_FOUND
    );
    // 600 columns (more than SQLite's parameters per statement at 64 rows each)
    let header: Vec<String> = std::iter::once("timestamp".to_string())
        .chain((0..600).map(|k| format!("c{k}")))
        .collect();
    let mut wide = header.join(",") + "\n";
    for i in 0..100 {
        let row: Vec<String> = std::iter::once((1_609_459_200 + i).to_string())
            .chain((0..600).map(|k| (k * i).to_string()))
            .collect();
        wide.push_str(&(row.join(",") + "\n"));
    }
    let job = import(&d, "wide", &wide).await;
    assert_eq!(
        wait_job(&d, &job).await.last().unwrap()["status"],
        "COMPLETED"
    );
    assert_eq!(
        d.get("/api/questdb/measurement/wide").await.1["row_count"],
        100
    );
    // SQLite's names ignore case: BTC after btc appends to btc
    let job = import(&d, "btc", "timestamp,v\n1609459200,1\n").await;
    wait_job(&d, &job).await;
    let job = import(&d, "BTC", "timestamp,v\n1609459260,2\n").await;
    assert_eq!(
        wait_job(&d, &job).await.last().unwrap()["status"],
        "COMPLETED"
    );
    let (_, m) = d.get("/api/questdb/measurements?prefix=b").await;
    assert_eq!(m["count"], 1, "{m}");
    assert_eq!(m["measurements"][0]["name"], "btc");
    assert_eq!(m["measurements"][0]["row_count"], 2);
}

#[tokio::test]
async fn bars_appended_to_a_dataset_keep_one_row_per_time_and_register_again() {
    let d = TestDesk::start().await;
    let (id, _) = walk_dataset(&d, "walk", 100, 2).await;
    let (_, ds) = d.get(&format!("/api/datasets/{id}")).await;
    let last = ds["ohlcv_last_ts"].as_i64().unwrap() / 1_000_000;
    let desk_entry = async || {
        let (_, list) = d.get("/data-sources").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|x| x["dataset_id"] == id.as_str())
            .unwrap()
            .clone()
    };
    let desk_before = desk_entry().await;
    // the last bar again, and two new ones a day apart
    let mut csv = String::from("timestamp,open,high,low,close,volume\n");
    for k in 0..3 {
        csv.push_str(&format!("{},1,2,0.5,1.5,7\n", last + 86_400 * k));
    }
    let job = import(&d, "walk_ohlcv", &csv).await;
    assert_eq!(
        wait_job(&d, &job).await.last().unwrap()["status"],
        "COMPLETED"
    );
    let (_, m) = d.get("/api/questdb/measurement/walk_ohlcv").await;
    assert_eq!(
        m["row_count"], 102,
        "the repeated time kept its first row: {m}"
    );
    let (_, q) = query(
        &d,
        &format!(
            "SELECT close FROM walk_ohlcv WHERE timestamp = {}",
            last * 1_000_000
        ),
    )
    .await;
    assert_ne!(q["dataset"][0][0], 1.5, "{q}");
    // the dataset's bars changed: the desk's copy follows
    let (_, jobs) = d.get("/api/jobs?job_type=dataset_register").await;
    let reg = jobs["jobs"][0]["job_id"].as_str().unwrap().to_string();
    assert_eq!(
        wait_job(&d, &reg).await.last().unwrap()["status"],
        "COMPLETED"
    );
    let desk = desk_entry().await;
    assert_eq!(desk["row_count"], 102, "{desk}");
    // registered again, it is the same dataset: its creation time stays
    assert_eq!(desk["created_at"], desk_before["created_at"], "{desk}");
    let (_, after) = d.get(&format!("/api/datasets/{id}")).await;
    assert_eq!(after["created_at"], ds["created_at"], "{after}");
    // the indicators view has its table's rows, the appended ones too
    assert_eq!(
        (
            &after["ohlcv_row_count"],
            &after["indicator_row_count"],
            &after["indicator_last_ts"]
        ),
        (&json!(102), &json!(102), &after["ohlcv_last_ts"]),
        "{after}"
    );
    assert_eq!(after["ohlcv_last_ts"], (last + 86_400 * 2) * 1_000_000);
    let (_, v) = d.get("/api/questdb/measurement/walk_indicators").await;
    assert_eq!(v["row_count"], 102, "{v}");
}
