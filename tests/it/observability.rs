//! Metrics, provider errors that never leak the key, and `serve` stopping within 2 s with a
//! live run playing (the run reads `interrupted` after the restart).
use crate::support::{TOKEN, TV, TestDesk};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The value of the first sample line that starts with `name{` and holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|lab| l.contains(lab)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Metrics are the process's own (one recorder per process), so this test scrapes a `serve` of
/// its own: the other tests of this binary post webhooks too.
#[tokio::test]
async fn metrics_count_webhooks_by_route_and_status_and_time_them() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, base) = crate::support::spawn_serve_with(
        data.path(),
        std::path::Path::new("/dev/null"),
        &[("BRICKDESK_API_TOKENS", TOKEN)],
    );
    let anon = crate::support::http();
    for i in 0..100 {
        let body =
            json!({ "secret": TV, "asset": "ES", "color": "green", "bar_id": format!("m{i}") });
        let resp = anon
            .post(format!("{base}/tv_renko_two_half"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
    let operator = crate::support::login(&base).await;
    let resp = operator
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    let route = r#"route="/tv_renko_two_half""#;
    assert_eq!(
        sample(
            &text,
            "brickdesk_http_requests_total",
            &[route, r#"status="200""#]
        ),
        Some(100.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "brickdesk_http_request_duration_seconds_count",
            &[route]
        ),
        Some(100.0),
        "{text}"
    );
    let le_5s = sample(
        &text,
        "brickdesk_http_request_duration_seconds_bucket",
        &[route, r#"le="5""#],
    );
    assert_eq!(le_5s, Some(100.0), "a histogram with buckets:\n{text}");
    for engine_metric in [
        "brickdesk_engine_batch_size_count",
        "brickdesk_engine_commit_seconds_count",
        "brickdesk_engine_queue_depth",
    ] {
        assert!(
            text.contains(engine_metric),
            "{engine_metric} missing:\n{text}"
        );
    }
    // with a password: no session → 401 in the desk's shape; an API token is enough
    let (code, body) =
        crate::support::read(anon.get(format!("{base}/metrics")).send().await.unwrap()).await;
    assert_eq!(code, 401);
    assert_eq!(body["ok"], false, "{body}");
    let resp = anon
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn an_unreachable_provider_answers_an_error_without_the_key() {
    const KEY: &str = "secret-polygon-key-123";
    // nothing listens on port 9 (discard) of loopback: the connection is refused
    crate::support::POLYGON
        .with(|p| *p.borrow_mut() = Some((KEY.into(), "http://127.0.0.1:9".into())));
    let d = TestDesk::start().await;
    let body = json!({ "type": "polygon", "name": "AAPL 5m", "symbol": "AAPL", "timeframe": "5m",
                       "extra": { "from": "2025-02-27", "to": "2025-02-28" } });
    for path in ["/data-sources/preview", "/data-sources/save"] {
        let resp = d.client.post(d.url(path)).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 502, "{path}");
        let text = resp.text().await.unwrap();
        assert!(!text.contains(KEY), "{path} leaked the key: {text}");
        assert!(
            !text.contains("apiKey"),
            "{path} leaked the request URL: {text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(
            v["detail"].as_str().unwrap().contains("market provider"),
            "{text}"
        );
    }
}

const STRATEGY: &str = "import pandas as pd\n\ndef run_strategy(frame: pd.DataFrame) -> pd.DataFrame:\n    frame = frame.copy()\n    frame[\"ema_fast\"] = frame[\"close\"].ewm(span=21, adjust=False).mean()\n    return frame\n";

async fn post(c: &reqwest::Client, url: String, body: Value) -> Value {
    let (code, b) = crate::support::read(c.post(url).json(&body).send().await.unwrap()).await;
    assert_eq!(code, 200, "{b}");
    b
}

#[tokio::test]
async fn sigterm_with_a_live_run_playing_stops_within_2s_and_the_run_reads_interrupted() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("imports")).unwrap();
    let csv = data.path().join("imports/bars.csv");
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    for i in 0..300 {
        let c = 100.0 + (i as f64 * 0.1).sin();
        text += &format!(
            "2025-02-27T{:02}:{:02}:00Z,{c},{},{},{c},10\n",
            i / 60,
            i % 60,
            c + 1.0,
            c - 1.0
        );
    }
    std::fs::write(&csv, text).unwrap();
    let (mut child, base) =
        crate::support::spawn_serve(data.path(), std::path::Path::new("/dev/null"));
    let c = crate::support::login(&base).await;
    let ds = post(
        &c,
        format!("{base}/data-sources/save"),
        json!({ "type": "csv", "name": "bars", "file_path": csv, "symbol": "X", "timeframe": "1m" }),
    )
    .await;
    let run = post(
        &c,
        format!("{base}/runs/live"),
        json!({
            "dataset_id": ds["dataset_id"],
            "run_config": { "mode": "pine_bridge", "tolerance": 0.001, "warmup_bars": 0,
                            "selected_outputs": ["ema_fast"], "bars_per_second": 2.0 },
            "python_artifact": { "language": "python", "name": "ema", "source_code": STRATEGY },
            "pine_artifact": null,
            "bridge_artifact_id": null,
        }),
    )
    .await;
    assert_eq!(run["lifecycle"], "live", "{run}");
    let id = run["run_id"].as_str().unwrap().to_string();
    // a client attached to the event stream must not hold the stop up either
    let cookie = crate::support::session_cookie(&base).await;
    let url = format!("{}/ws/stream", base.replacen("http", "ws", 1));
    let _ws = crate::support::ws_connect(&url, &cookie).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "serve still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    println!("serve stopped {took:?} after SIGTERM, a live run playing");
    assert!(took < Duration::from_secs(2), "serve took {took:?} to stop");
    let (mut child, base) =
        crate::support::spawn_serve(data.path(), std::path::Path::new("/dev/null"));
    let c = crate::support::login(&base).await;
    let (code, st) =
        crate::support::read(c.get(format!("{base}/runs/{id}")).send().await.unwrap()).await;
    assert_eq!(code, 200, "{st}");
    assert_eq!(st["lifecycle"], "interrupted", "{st}");
    let p = st["live_progress"].as_u64().unwrap();
    assert!((1..300).contains(&p), "progress {p}");
    assert_eq!(
        st["candles"].as_array().unwrap().len() as u64,
        p,
        "bars up to the progress"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_websocket_pushes_the_published_state_when_asked() {
    use futures_util::StreamExt;
    let d = TestDesk::start().await;
    let url = format!("{}/api/ws?snapshots=true", d.base.replacen("http", "ws", 1));
    let mut ws = crate::support::ws_connect(&url, &d.session_cookie().await).await;
    let mut next_state = async || loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a push within 5 s")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        if v["kind"] == "state" {
            return v["state"].clone();
        }
    };
    let first = next_state().await;
    assert_eq!(first["assets"][0]["last_price"], Value::Null);
    d.heartbeat("ES", 5012.25).await;
    let pushed = next_state().await;
    assert_eq!(pushed["assets"][0]["last_price"], 5012.25, "{pushed}");
    assert_eq!(
        pushed,
        d.state().await,
        "the push is the published snapshot"
    );
}
