//! Crash durability of the armed state: the real `serve` with a position and its armed exits, the
//! 2.5pt and exit locks, a preorder, an intent and a cooldown is killed with SIGKILL and started
//! again on the same data dir. `/api/state` (minus what only says what time it is) is what it was,
//! and the operator's session cookie still works, since sessions are stored.
use crate::support::{BRIDGE, PASSWORD, TV, session_cookie, spawn_serve};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Four assets (an intent, a preorder, a position and a closed trade each need their own) and a
/// one-second candle, so entries need not wait five minutes.
const CONFIG: &str = r#"
[desk]
candle_lock_secs = 1
[[assets]]
name = "ES"
symbol = "MESM6"
exchange = "CME"
tick = 0.25
point_value = 5.0
default_qty = 5
[[assets]]
name = "NQ"
symbol = "MNQM6"
exchange = "CME"
tick = 0.25
point_value = 2.0
default_qty = 5
[[assets]]
name = "YM"
symbol = "MYMM6"
exchange = "CBOT"
tick = 1.0
point_value = 0.5
default_qty = 2
[[assets]]
name = "RTY"
symbol = "M2KM6"
exchange = "CME"
tick = 0.1
point_value = 5.0
default_qty = 2
"#;

struct Api {
    base: String,
    cookie: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req
            .header("cookie", &self.cookie)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let code = resp.status();
        (code, resp.json().await.unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let req = self.http.post(format!("{}{path}", self.base)).json(&body);
        self.send(req).await
    }
    /// A POST that must succeed; its answer.
    async fn ok(&self, path: &str, body: Value) -> Value {
        let (code, answer) = self.post(path, body.clone()).await;
        assert!(code.is_success(), "{path} {body}: {code} {answer}");
        answer
    }
    async fn state(&self) -> (StatusCode, Value) {
        self.send(self.http.get(format!("{}/api/state", self.base)))
            .await
    }
    async fn brick(&self, path: &str, asset: &str, color: &str) {
        let id = format!("{asset}{path}{}", crate::support::next_id());
        let body = json!({ "secret": TV, "asset": asset, "color": color, "bar_id": id });
        self.ok(path, body).await;
    }
    async fn ready(&self, asset: &str, color: &str, price: f64) {
        let hb = json!({ "secret": TV, "symbol": asset, "price": price });
        self.ok("/tv_heartbeat", hb).await;
        for path in [
            "/tv_renko_high",
            "/tv_renko_macro",
            "/tv_renko_two_half",
            "/tv_renko_main",
        ] {
            self.brick(path, asset, color).await;
        }
    }
    /// The bridge claims what is pending and fills it at `price`.
    async fn fill(&self, price: f64) {
        let url = format!("{}/api/orders/pending?secret={BRIDGE}&owner=t", self.base);
        let (code, body) = self.send(self.http.get(url)).await;
        assert_eq!(code, StatusCode::OK, "{body}");
        let orders = body["orders"].as_array().unwrap();
        assert!(!orders.is_empty(), "nothing to fill");
        for o in orders {
            let path = format!("/api/orders/{}/execution-report", o["id"].as_str().unwrap());
            let report =
                json!({ "secret": BRIDGE, "status": "FILLED", "extra": { "fill_price": price } });
            self.ok(&path, report).await;
        }
    }
    /// Waits (at most 5 s) for the one-second candle lock to pass.
    async fn next_candle(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (_, s) = self.state().await;
            if s["account"]["candle_lock"]["active"] == false {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the candle lock never passed: {s}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The state without what only says what time it is: `now`, ages, seconds remaining, and the
/// `mm:ss remaining` of a lock's message.
fn without_clock(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !(*k == "now" || k.ends_with("seconds_remaining") || k.ends_with("age_secs"))
                })
                .map(|(k, x)| (k.clone(), without_clock(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_clock).collect()),
        Value::String(s) => Value::String(mask_countdown(s)),
        other => other.clone(),
    }
}

/// `(02:58 remaining)` → `(mm:ss remaining)`.
fn mask_countdown(s: &str) -> String {
    let Some(i) = s.find(" remaining)") else {
        return s.to_string();
    };
    match s[..i].rfind('(') {
        Some(open)
            if s[open + 1..i]
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':') =>
        {
            format!("{}(mm:ss{}", &s[..open], &s[i..])
        }
        _ => s.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn armed_state_survives_sigkill_of_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");
    let (mut server, base) = spawn_serve(&data, &config);
    let api = Api {
        cookie: session_cookie(&base).await,
        base,
        http: crate::support::http(),
    };
    // ES long 5 @ 5000 with protect, the 6pt flip and the signal-count TP armed; a 2.5pt brick
    // of its color holds the 2.5pt lock; no fresh 6pt brick, so the exit lock holds too
    api.ready("ES", "green", 5000.0).await;
    api.ok(
        "/api/orders",
        json!({ "asset": "ES", "trade_mode": "SCALP" }),
    )
    .await;
    api.fill(5000.0).await;
    api.brick("/tv_renko_two_half", "ES", "green").await;
    api.ok("/api/protect", json!({ "asset": "ES", "enabled": true }))
        .await;
    api.ok("/api/main-flip-exit", json!({ "asset": "ES" }))
        .await;
    api.ok(
        "/api/take-profit",
        json!({ "asset": "ES", "tp_target": 4, "tp_arm": true }),
    )
    .await;
    // NQ: a preorder armed for the next 6pt brick
    api.next_candle().await;
    api.ready("NQ", "red", 20000.0).await;
    let pre = json!({ "asset": "NQ", "trade_mode": "SCALP", "order_type": "preorder", "direction": "SELL" });
    api.ok("/api/orders", pre).await;
    // YM: an intent
    let hb = json!({ "secret": TV, "symbol": "YM", "price": 42000.0 });
    api.ok("/tv_heartbeat", hb).await;
    api.ok("/api/intent", json!({ "asset": "YM" })).await;
    // RTY: a trade opened and closed, so the account-wide cooldown runs
    api.next_candle().await;
    api.ready("RTY", "green", 2100.0).await;
    api.ok(
        "/api/orders",
        json!({ "asset": "RTY", "trade_mode": "SCALP" }),
    )
    .await;
    api.fill(2100.0).await;
    api.ok("/api/exit", json!({ "asset": "RTY", "force": true }))
        .await;
    api.fill(2101.0).await;
    // the candle lock lasts a second here: the snapshot is taken once it has passed, or the
    // restart (longer than a second) would find a different lock than the snapshot
    api.next_candle().await;

    let (code, before) = api.state().await;
    assert_eq!(code, StatusCode::OK, "{before}");
    // what must survive is really there
    let es = &before["assets"][0];
    assert_eq!(es["position"]["qty"], 5, "{es}");
    assert_eq!(es["exits"]["protect"]["enabled"], true);
    assert_eq!(es["exits"]["main_flip"], true);
    assert_eq!(es["exits"]["high_flip"], true);
    assert_eq!(es["exits"]["points_tp"]["enabled"], true);
    assert_eq!(
        es["exits"]["signal_tp"],
        json!({ "armed": true, "target": 4, "count": 0 })
    );
    assert_eq!(es["locks"]["exit_lock"]["active"], true);
    assert_eq!(
        es["locks"]["two_half_lock"],
        json!({ "locked": true, "color": "green" })
    );
    assert_eq!(before["assets"][1]["preorder"]["status"], "PENDING");
    assert_eq!(before["assets"][2]["intent"]["status"], "ARMED");
    assert_eq!(before["assets"][3]["position"], Value::Null);
    assert_eq!(before["account"]["cooldown"]["active"], true);
    assert_eq!(before["account"]["trade_count"], 2);

    server.kill().unwrap(); // SIGKILL: no shutdown, no final checkpoint
    server.wait().unwrap();
    let (_server, base) = spawn_serve(&data, &config);
    let api = Api { base, ..api };
    // the session is stored: the cookie from before the crash still works
    let (code, after) = api.state().await;
    assert_eq!(code, StatusCode::OK, "the old session cookie: {after}");
    assert_eq!(without_clock(&after), without_clock(&before));
    assert_eq!(after["account"]["cooldown"]["active"], true);
    // and the desk goes on from there: the preorder is dropped by a 6pt brick against it
    api.brick("/tv_renko_main", "NQ", "green").await;
    let (_, s) = api.state().await;
    assert_eq!(s["assets"][1]["preorder"]["status"], "CANCELLED", "{s}");
    // a wrong password still gets nothing
    let (code, _) = api
        .post("/api/login", json!({ "password": format!("{PASSWORD}x") }))
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}

#[test]
fn countdowns_are_masked() {
    assert_eq!(
        mask_countdown("POST-EXIT 5 MIN LOCK ACTIVE (02:58 remaining)"),
        "POST-EXIT 5 MIN LOCK ACTIVE (mm:ss remaining)"
    );
    assert_eq!(mask_countdown("no countdown"), "no countdown");
    assert_eq!(
        without_clock(&json!({ "now": 1, "a": { "seconds_remaining": 3, "active": true } })),
        json!({ "a": { "active": true } })
    );
}
