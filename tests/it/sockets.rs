//! Connections as a careless or hostile client makes them: thousands of WebSocket clients that
//! connect and leave, more sockets than a route takes, a client that never finishes its headers
//! or its body. The server frees what each one held at once and keeps serving.
use crate::support::{TV, login, read, session_cookie, spawn_serve};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

async fn ws(
    base: &str,
    path: &str,
    cookie: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}{path}", base.replace("http", "ws"));
    crate::support::ws_connect(&url, cookie).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_websocket_rounds_leave_the_descriptors_flat() {
    let dir = tempfile::tempdir().unwrap();
    let (serve, base) = spawn_serve(&dir.path().join("data"), "/dev/null".as_ref());
    let cookie = session_cookie(&base).await;
    // warm up: the server's pools and the first client's handshake
    for _ in 0..20 {
        ws(&base, "/ws/stream", &cookie)
            .await
            .close(None)
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = open_fds(serve.id());
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let (base, cookie) = (base.clone(), cookie.clone());
            tokio::spawn(async move {
                for n in 0..1250 {
                    let mut s = ws(
                        &base,
                        if (i + n) % 2 == 0 {
                            "/ws/stream"
                        } else {
                            "/api/ws"
                        },
                        &cookie,
                    )
                    .await;
                    if n % 2 == 0 {
                        s.close(None).await.unwrap();
                        // a server that does not read its clients never answers the close
                        let answered = async { while s.next().await.is_some() {} };
                        tokio::time::timeout(std::time::Duration::from_secs(5), answered)
                            .await
                            .expect("the server never answered a client's close");
                    } // else: dropped without a close frame, as a killed client leaves
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    // the server noticed every client leave: nothing to wait for but the last closes
    let mut after = open_fds(serve.id());
    for _ in 0..50 {
        if after <= before + 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = open_fds(serve.id());
    }
    assert!(
        after <= before + 50,
        "{before} descriptors before 20,000 rounds, {after} after"
    );
    let (code, b) = read(
        crate::support::http()
            .post(format!("{base}/tv_renko"))
            .json(&json!({ "secret": TV, "asset": "ES", "color": "green", "bar_id": "churn-1" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{b}");
}

#[tokio::test]
async fn a_route_takes_its_cap_of_websockets_and_refuses_the_next_in_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[server]\nmax_websockets = 3\n").unwrap();
    let (_serve, base) = spawn_serve(&dir.path().join("data"), &config);
    let cookie = session_cookie(&base).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(ws(&base, "/ws/stream", &cookie).await);
    }
    let client = login(&base).await;
    let refused = |path: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            read(
                client
                    .get(format!("{base}{path}"))
                    .header("connection", "upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-version", "13")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (code, b) = refused("/ws/stream").await;
    assert_eq!(code, 503);
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("3 WebSocket clients"),
        "{b}"
    );
    // another route has its own cap
    let mut desk = ws(&base, "/api/ws", &cookie).await;
    // a client that leaves gives its place back at once
    let mut gone = held.pop().unwrap();
    gone.close(None).await.unwrap();
    crate::support::within("the server's close", async {
        while gone.next().await.is_some() {}
    })
    .await;
    let mut again = None;
    for _ in 0..50 {
        let (code, _) = refused("/ws/stream").await;
        if code != 503 {
            again = Some(ws(&base, "/ws/stream", &cookie).await);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        again.is_some(),
        "the place of a closed client was never given back"
    );
    desk.send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_client_that_stalls_its_headers_or_its_body_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[server]\nheader_timeout_s = 1\nbody_idle_timeout_s = 1\nbody_timeout_s = 3\n",
    )
    .unwrap();
    let (_serve, base) = spawn_serve(&dir.path().join("data"), &config);
    let addr = base.trim_start_matches("http://").to_string();
    // half a request line, then nothing: the connection is closed
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health HT").await.unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        slow.read_to_end(&mut buf),
    )
    .await
    .expect("a stalled request line was never dropped");
    assert!(n.is_ok());
    // a connection that never sends a byte
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let n = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        idle.read_to_end(&mut buf),
    )
    .await
    .expect("an idle connection was never dropped");
    assert!(n.is_ok());
    // a keep-alive connection left idle after its answer
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    kept.write_all(format!("GET /health HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        kept.read_to_end(&mut answer),
    )
    .await
    .expect("an idle keep-alive connection was never closed")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // a body promised and never sent: 408 in each surface's JSON shape, the uploads included
    let cookie = crate::support::session_cookie(&base).await;
    let multipart = "--x\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nts,close\n";
    for (path, kind, start, shape) in [
        ("/tv_renko", "application/json", "{\"secret\":", "error"),
        (
            "/pine-bridge/artifacts",
            "application/json",
            "{\"name\":",
            "detail",
        ),
        (
            "/data-sources/save",
            "multipart/form-data; boundary=x",
            multipart,
            "detail",
        ),
    ] {
        let mut body = tokio::net::TcpStream::connect(&addr).await.unwrap();
        body.write_all(
            format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncookie: {cookie}\r\ncontent-type: {kind}\r\ncontent-length: 1000\r\n\r\n{start}")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            body.read_to_end(&mut answer),
        )
        .await
        .expect("a stalled body was never dropped")
        .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.contains(&format!("\"{shape}\":\"the request body came too slowly\"")),
            "{path}: {answer}"
        );
    }
}

/// The status of a WebSocket handshake to `path` with these extra headers.
async fn handshake(base: &str, path: &str, headers: &[(&'static str, String)]) -> u16 {
    let url = format!("{}{path}", base.replace("http", "ws"));
    crate::support::ws_handshake(&url, headers).await
}

#[tokio::test]
async fn websockets_refuse_a_client_without_a_session_or_token() {
    let d = crate::support::TestDesk::start().await;
    let cookie = d.session_cookie().await;
    for path in [
        "/api/ws",
        "/api/ws?snapshots=true",
        "/ws/stream",
        "/runs/run-x/stream",
    ] {
        assert_eq!(
            handshake(&d.base, path, &[]).await,
            401,
            "{path}: no session"
        );
        let forged = ("cookie", "brickdesk_session=forged".to_string());
        assert_eq!(
            handshake(&d.base, path, &[forged]).await,
            401,
            "{path}: forged"
        );
        let wrong = ("authorization", "Bearer not-a-token".to_string());
        assert_eq!(
            handshake(&d.base, path, &[wrong]).await,
            401,
            "{path}: bad token"
        );
        let token = ("authorization", format!("Bearer {}", crate::support::TOKEN));
        assert_eq!(
            handshake(&d.base, path, &[token]).await,
            101,
            "{path}: token"
        );
        assert_eq!(
            handshake(&d.base, path, &[("cookie", cookie.clone())]).await,
            101,
            "{path}"
        );
    }
    // after that session logs out, its cookie opens nothing
    let out = d
        .anon
        .post(d.url("/api/logout"))
        .header("cookie", &cookie)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert_eq!(
        handshake(&d.base, "/api/ws", &[("cookie", cookie)]).await,
        401
    );
}
