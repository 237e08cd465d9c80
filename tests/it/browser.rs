//! The browser on the operator's machine (SPEC §2 "Auth"): a page it opens may send requests to
//! the desk, so foreign `Host`s and `Origin`s are refused, bodies are JSON only except on the
//! webhooks, and CORS is open to the configured origins only. Each case with and without a
//! password; then a real page in headless Chromium.
use crate::support::*;
use brickdesk::config::Secrets;
use brickdesk::server::guard::BrowserPolicy;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ALLOWED: &str = "http://localhost:5173";
const EVIL: &str = "http://evil.example";

fn open_secrets() -> Secrets {
    Secrets {
        dashboard_password: None,
        ..secrets()
    }
}

async fn desk(password: bool) -> TestDesk {
    let s = if password { secrets() } else { open_secrets() };
    TestDesk::start_server(s, BrowserPolicy::new("127.0.0.1", &[], &[ALLOWED.into()])).await
}

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    status: StatusCode,
    /// In the answer's error text (any surface's shape).
    says: &'static str,
}

fn post(
    what: &'static str,
    path: &str,
    ct: &str,
    body: &str,
    extra: &[(&'static str, &str)],
    status: StatusCode,
    says: &'static str,
) -> Case {
    let mut headers = vec![("content-type", ct.to_string())];
    headers.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Case {
        what,
        method: Method::POST,
        path: path.into(),
        headers,
        body: Some(body.into()),
        status,
        says,
    }
}

fn error_text(v: &Value) -> String {
    v["error"]
        .as_str()
        .or(v["detail"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn run_table(d: &TestDesk, password: bool) {
    let host = d.base.trim_start_matches("http://").to_string();
    let own = d.base.clone();
    let entry = r#"{"asset":"ES","direction":"BUY"}"#;
    let replay = r#"{"dataset_id":"dataset-x","run_config":{},"python_artifact":{"language":"python","name":"p","source_code":"open('/tmp/pwned','w')"}}"#;
    let json_ct = "application/json";
    use StatusCode as S;
    let cases = vec![
        post(
            "text/plain operator POST",
            "/api/orders",
            "text/plain",
            entry,
            &[],
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type text/plain",
        ),
        post(
            "form operator POST",
            "/api/env",
            "application/x-www-form-urlencoded",
            "env=LIVE",
            &[],
            S::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        post(
            "text/plain replay",
            "/runs/replay",
            "text/plain",
            replay,
            &[],
            S::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        post(
            "text/plain bridge",
            &format!("/api/bridge/heartbeat?secret={BRIDGE}"),
            "text/plain",
            r#"{"tsConnected":true,"mdConnected":true}"#,
            &[],
            S::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        post(
            "foreign Origin on an order",
            "/api/orders",
            json_ct,
            entry,
            &[("origin", EVIL)],
            S::FORBIDDEN,
            "Origin \"http://evil.example\" is not allowed",
        ),
        post(
            "foreign Origin going LIVE",
            "/api/env",
            json_ct,
            r#"{"env":"LIVE"}"#,
            &[("origin", EVIL)],
            S::FORBIDDEN,
            "not allowed",
        ),
        post(
            "foreign Origin on a replay",
            "/runs/replay",
            json_ct,
            replay,
            &[("origin", EVIL)],
            S::FORBIDDEN,
            "not allowed",
        ),
        post(
            "foreign Origin text/plain (no-cors)",
            "/api/orders",
            "text/plain",
            entry,
            &[("origin", EVIL)],
            S::FORBIDDEN,
            "not allowed",
        ),
        post(
            "Origin null (sandboxed frame)",
            "/api/env",
            json_ct,
            r#"{"env":"LIVE"}"#,
            &[("origin", "null")],
            S::FORBIDDEN,
            "not allowed",
        ),
        post(
            "another local port",
            "/api/orders",
            json_ct,
            entry,
            &[("origin", "http://127.0.0.1:1")],
            S::FORBIDDEN,
            "not allowed",
        ),
        post(
            "foreign Origin on a webhook",
            "/tv_renko_main",
            "text/plain",
            &format!(r#"{{"secret":"{TV}","asset":"ES","color":"green","bar_id":"x1"}}"#),
            &[("origin", EVIL)],
            S::FORBIDDEN,
            "not allowed",
        ),
        post(
            "foreign Host (DNS rebinding)",
            "/api/env",
            json_ct,
            r#"{"env":"LIVE"}"#,
            &[
                ("host", "evil.example:8000"),
                ("origin", "http://evil.example:8000"),
            ],
            S::FORBIDDEN,
            "Host \"evil.example:8000\" is not allowed",
        ),
        Case {
            what: "foreign Host read",
            method: Method::GET,
            path: "/api/state".into(),
            headers: vec![("host", "evil.example".into())],
            body: None,
            status: S::FORBIDDEN,
            says: "DNS-rebinding",
        },
        Case {
            what: "foreign Host on seed 000",
            method: Method::GET,
            path: "/runs".into(),
            headers: vec![("host", "rebind.evil.example:8000".into())],
            body: None,
            status: S::FORBIDDEN,
            says: "not allowed",
        },
        Case {
            what: "cross-site request without Origin (an <img> claiming orders)",
            method: Method::GET,
            path: format!("/api/orders/pending?secret={BRIDGE}"),
            headers: vec![
                ("sec-fetch-site", "cross-site".into()),
                ("sec-fetch-mode", "no-cors".into()),
            ],
            body: None,
            status: S::FORBIDDEN,
            says: "another site",
        },
        Case {
            what: "preflight from a foreign origin",
            method: Method::OPTIONS,
            path: "/api/orders".into(),
            headers: vec![
                ("origin", EVIL.into()),
                ("access-control-request-method", "POST".into()),
            ],
            body: None,
            status: S::FORBIDDEN,
            says: "not allowed",
        },
    ];
    let before = d.state_without_clock().await;
    for c in cases {
        let mut req = d.client.request(c.method.clone(), d.url(&c.path));
        for (k, v) in &c.headers {
            req = req.header(*k, v);
        }
        if let Some(b) = &c.body {
            req = req.body(b.clone());
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{}: no CORS header for a refused request",
            c.what
        );
        let (code, body) = read(resp).await;
        assert_eq!(code, c.status, "{} (password {password}): {body}", c.what);
        let text = error_text(&body);
        assert!(
            text.contains(c.says),
            "{}: {text:?} lacks {:?}",
            c.what,
            c.says
        );
    }
    assert_eq!(
        d.state_without_clock().await,
        before,
        "refusals changed nothing"
    );
    assert!(d.orders("ES").await.is_empty(), "no order was placed");
    assert!(!std::path::Path::new("/tmp/pwned").exists());

    // what must keep working: TradingView's text/plain webhook, the server's own origin, a
    // configured origin, and requests with no Origin at all
    let (c, b) = read(
        d.anon
            .post(d.url("/tv_renko_main"))
            .header("content-type", "text/plain")
            .body(format!(
                r#"{{"secret":"{TV}","asset":"ES","color":"green","bar_id":"ok1"}}"#
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::OK, "text/plain webhook with the secret: {b}");
    assert_eq!(b["applied"], true);
    let (c, b) = read(
        d.client
            .post(d.url("/api/main-flip-exit"))
            .header("origin", own.as_str())
            .json(&json!({ "asset": "ES" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::OK, "same origin ({own}): {b}");
    let (c, _) = read(
        d.client
            .post(d.url("/api/main-flip-exit"))
            .header(
                "origin",
                format!("http://localhost:{}", host.rsplit(':').next().unwrap()),
            )
            .header(
                "host",
                format!("localhost:{}", host.rsplit(':').next().unwrap()),
            )
            .json(&json!({ "asset": "ES" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c, StatusCode::OK, "same origin under the name localhost");

    // CORS: the configured origin's preflight is answered, with credentials
    let resp = d
        .anon
        .request(Method::OPTIONS, d.url("/api/orders"))
        .header("origin", ALLOWED)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "preflight: {}", resp.status());
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], ALLOWED);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed_headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("content-type"));
    // an intent needs a fresh price heartbeat (SPEC §2 Intent)
    d.heartbeat("NQ", 20000.0).await;
    // … and its request goes through with a Bearer token (a browser client's cookie is not
    // sent cross-site), answered with the CORS header
    let resp = d
        .anon
        .post(d.url("/api/intent"))
        .header("origin", ALLOWED)
        .bearer_auth(TOKEN)
        .json(&json!({ "asset": "NQ" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["access-control-allow-origin"], ALLOWED);
    let (c, b) = read(resp).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    let resp = d
        .anon
        .get(d.url("/runs?summary=true"))
        .header("origin", ALLOWED)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["access-control-allow-origin"], ALLOWED);
}

#[tokio::test]
async fn the_browser_table_with_a_password() {
    let d = desk(true).await;
    run_table(&d, true).await;
    // with a password every surface but probes, webhooks and the bridge needs a session or token
    for path in [
        "/api/state",
        "/runs",
        "/data-sources",
        "/dependencies/status",
        "/metrics",
    ] {
        let (c, _) = read(d.anon.get(d.url(path)).send().await.unwrap()).await;
        assert_eq!(c, StatusCode::UNAUTHORIZED, "{path} without a session");
        let (c, _) = read(
            d.anon
                .get(d.url(path))
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(c, StatusCode::UNAUTHORIZED, "{path} with a wrong token");
        let resp = d
            .anon
            .get(d.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path} with a token");
    }
    let (c, _) = read(d.anon.get(d.url("/health")).send().await.unwrap()).await;
    assert_eq!(c, StatusCode::OK);
}

#[tokio::test]
async fn the_browser_table_without_a_password() {
    let d = desk(false).await;
    run_table(&d, false).await;
    let (c, _) = read(d.anon.get(d.url("/api/state")).send().await.unwrap()).await;
    assert_eq!(
        c,
        StatusCode::OK,
        "no password: loopback clients need no session"
    );
}

/// A WebSocket upgrade with `origin`: the HTTP status of the handshake's answer.
async fn ws_status(url: String, origin: Option<&str>, cookie: Option<String>) -> u16 {
    let mut headers = Vec::new();
    if let Some(o) = origin {
        headers.push(("origin", o.to_string()));
    }
    if let Some(c) = cookie {
        headers.push(("cookie", c));
    }
    crate::support::ws_handshake(&url, &headers).await
}

#[tokio::test]
async fn websocket_upgrades_with_a_foreign_origin_are_refused() {
    for password in [true, false] {
        let d = desk(password).await;
        let ws = d.base.replace("http", "ws");
        let cookie = Some(d.session_cookie().await);
        for path in ["/api/ws", "/ws/stream", "/runs/run-x/stream"] {
            assert_eq!(
                ws_status(format!("{ws}{path}"), Some(EVIL), cookie.clone()).await,
                403,
                "{path} from a foreign page (password {password})"
            );
            assert_eq!(
                ws_status(format!("{ws}{path}"), Some(&d.base), cookie.clone()).await,
                101,
                "{path} from the server's own page"
            );
            assert_eq!(
                ws_status(format!("{ws}{path}"), None, cookie.clone()).await,
                101,
                "{path} from a program (no Origin)"
            );
        }
    }
}

/// The page a foreign site would serve: it tries what a page can do to a desk on loopback —
/// place an order, go LIVE, run Python through a replay — with `fetch` in `no-cors` mode (no
/// preflight, text/plain) and in `cors` mode (JSON, preflighted), then reports what it saw to its
/// own server.
fn attack_page(desk: &str, replay: &Value) -> String {
    format!(
        r#"<!doctype html><html><body><pre id="out">running</pre><script>
const desk = {desk:?};
const replay = {replay};
const results = [];
async function attempt(name, path, opts) {{
  try {{
    const r = await fetch(desk + path, opts);
    results.push(name + ": " + r.type + " " + r.status);
  }} catch (e) {{
    results.push(name + ": blocked (" + e.message + ")");
  }}
}}
(async () => {{
  const order = JSON.stringify({{asset: "ES", direction: "BUY"}});
  await attempt("order no-cors", "/api/orders", {{method: "POST", mode: "no-cors", body: order}});
  await attempt("order cors json", "/api/orders", {{method: "POST", headers: {{"content-type": "application/json"}}, body: order}});
  await attempt("LIVE no-cors", "/api/env", {{method: "POST", mode: "no-cors", body: '{{"env":"LIVE"}}'}});
  await attempt("replay no-cors", "/runs/replay", {{method: "POST", mode: "no-cors", body: JSON.stringify(replay)}});
  await attempt("replay cors json", "/runs/replay", {{method: "POST", headers: {{"content-type": "application/json"}}, body: JSON.stringify(replay)}});
  await attempt("state read", "/api/state", {{}});
  document.getElementById("out").textContent = results.join("\n");
  await fetch("/report", {{method: "POST", body: JSON.stringify(results)}});
}})();
</script></body></html>"#
    )
}

#[tokio::test]
async fn a_page_from_another_local_origin_cannot_order_or_run_code_in_headless_chromium() {
    use axum::routing::{get, post};
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok()
        })
        .expect("chromium is missing: ./scripts/test.sh installs Debian's chromium");
    // no password: the desk a careless operator runs on loopback
    let d = desk(false).await;
    let ds = crate::runs::dataset(&d).await;
    let bridge = crate::runs::artifact(&d, crate::runs::pine_ema(&crate::runs::closes())).await;
    let marker = d.dir.path().join("page-code-ran");
    let code = format!(
        "import pathlib\ntry:\n    pathlib.Path({:?}).write_text('ran')\nexcept OSError:\n    pass  # the sandbox may keep the file system read-only\n{}",
        marker.display().to_string(),
        crate::runs::EMA_STRATEGY
    );
    let replay = crate::runs::run_body(&ds, &bridge, 100, &code, true);

    // the attacker's page, served from another local origin (localhost:P2 vs 127.0.0.1:P1)
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    let page = attack_page(&d.base, &replay);
    let app = axum::Router::new()
        .route(
            "/attack.html",
            get(move || async move { axum::response::Html(page) }),
        )
        .route(
            "/report",
            post(move |body: String| async move {
                let _ = tx.send(body).await;
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_url = format!(
        "http://localhost:{}/attack.html",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let profile = tempfile::tempdir().unwrap();
    let mut browser = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessSendPreflights",
            &format!("--user-data-dir={}", profile.path().display()),
            "--virtual-time-budget=15000",
            "--dump-dom",
            &page_url,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let report = tokio::time::timeout(std::time::Duration::from_secs(90), rx.recv())
        .await
        .expect("the page never reported: chromium did not run it")
        .unwrap();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), browser.wait()).await;
    let seen: Vec<String> = serde_json::from_str(&report).unwrap();
    eprintln!("the page saw: {seen:#?}");
    assert_eq!(seen.len(), 6, "every attempt ran: {seen:?}");
    for s in &seen {
        assert!(!s.contains(" 200"), "nothing answered the page: {s}");
    }
    // a no-cors request that fails on the network throws; "opaque" means it reached the desk and
    // was answered (403), which the page cannot read
    for s in seen.iter().filter(|s| s.contains("no-cors")) {
        assert!(s.ends_with("opaque 0"), "{s}");
    }

    // nothing happened on the desk
    assert!(d.orders("ES").await.is_empty(), "no order appeared");
    assert_eq!(d.state().await["env"], "DEMO");
    let (_, runs) = d.get("/runs").await;
    assert_eq!(runs, json!([]), "no run was started");
    assert!(!marker.exists(), "no code ran");

    // the same replay from a program (no Origin) is valid and does run: the guard made the difference
    let (c, run) = d.post("/runs/replay", replay).await;
    assert_eq!(c, StatusCode::OK, "{run}");
    assert_eq!(run["lifecycle"], "completed", "{}", run["error"]);
}
