//! A stand-in Ollama that speaks its wire protocol (HTTP/1.1 over a bare socket: chunked NDJSON
//! for `/api/chat`, JSON for `/api/version`, `/api/tags` and `/api/show`), chosen by the model
//! named in the request:
//! - `stand-in:latest`: the answer in six chunks 40 ms apart (`slow:latest`: 400 ms apart);
//! - `mid-error:latest`: two chunks, then `{"error": …}`;
//! - `missing:latest`: 404 `{"error": "model … not found"}`;
//! - `hang:latest`: headers, then nothing;
//! - `malformed:latest`: a line that is not JSON;
//! - `fixer:latest`: an answer with a unified diff (`FIX_DIFF`).
//!
//! It records each `/api/chat` body and, per connection, when the client closed it.
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ANSWER: [&str; 6] = [
    "The first ",
    "mismatch is ",
    "at bar 21: ",
    "pandas seeds ",
    "the EMA with the first close, ",
    "Pine with an SMA.",
];

/// The fix `fixer:latest` proposes to `runs::EMA_STRATEGY`: Pine's seeding (its hunk header
/// miscounts the lines, as models do).
pub const FIX_DIFF: &str = "--- a/strategy.py\n+++ b/strategy.py\n@@ -5,2 +5,2 @@\n     frame = frame.copy()\n-    frame[\"ema_fast\"] = frame[\"close\"].ewm(span=21, adjust=False).mean()\n+    seeded = frame[\"close\"].copy()\n+    seeded.iloc[:20] = float(\"nan\")\n+    seeded.iloc[20] = frame[\"close\"].iloc[:21].mean()\n+    frame[\"ema_fast\"] = seeded.ewm(span=21, adjust=False).mean()\n     frame[\"long_condition\"] = frame[\"close\"] > frame[\"ema_fast\"]\n";

#[derive(Debug, Clone)]
pub struct Conn {
    pub path: String,
    pub model: Option<String>,
    pub received: Instant,
    /// When the client closed its end (read gave 0 or failed).
    pub closed: Option<Instant>,
}

#[derive(Clone, Default)]
pub struct Seen {
    pub chats: Arc<Mutex<Vec<Value>>>,
    pub conns: Arc<Mutex<Vec<Conn>>>,
}

impl Seen {
    pub fn chats(&self) -> Vec<Value> {
        self.chats.lock().unwrap().clone()
    }

    /// The connection of the last `/api/chat` for `model`, once the client has closed it.
    pub async fn closed(&self, model: &str, within: Duration) -> Conn {
        let t = Instant::now();
        loop {
            let c = self
                .conns
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|c| c.model.as_deref() == Some(model))
                .cloned();
            if let Some(c) = c.filter(|c| c.closed.is_some()) {
                return c;
            }
            assert!(
                t.elapsed() < within,
                "the connection for {model} was not closed within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Starts the stand-in; its base URL and what it sees.
pub async fn start() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Seen::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(sock, s.clone()));
        }
    });
    (url, seen)
}

/// A base URL where nothing listens (connection refused).
pub async fn refused() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

/// One request: its head and JSON body.
async fn request(sock: &mut TcpStream) -> Option<(String, String, Value)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut first = head.lines().next()?.split_whitespace();
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
    Some((method, path, body))
}

async fn json_reply(sock: &mut (impl AsyncWrite + Unpin), status: &str, body: &Value) {
    let text = body.to_string();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\nContent-Length: {}\r\n\r\n",
        text.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(text.as_bytes()).await;
}

async fn chunk(sock: &mut (impl AsyncWrite + Unpin), line: &str) {
    let data = format!("{line}\n");
    let _ = sock
        .write_all(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes())
        .await;
}

fn line(model: &str, content: &str, done: bool) -> String {
    let mut v = json!({ "model": model, "created_at": "2026-12-01T12:00:00.000000Z",
        "message": { "role": "assistant", "content": content }, "done": done });
    if done {
        v["done_reason"] = json!("stop");
        v["total_duration"] = json!(2_000_000_000u64);
        v["eval_count"] = json!(42);
    }
    v.to_string()
}

async fn serve(mut sock: TcpStream, seen: Seen) {
    let Some((method, path, body)) = request(&mut sock).await else {
        return;
    };
    let model = body["model"].as_str().map(str::to_string);
    let idx = {
        let mut conns = seen.conns.lock().unwrap();
        conns.push(Conn {
            path: path.clone(),
            model: model.clone(),
            received: Instant::now(),
            closed: None,
        });
        conns.len() - 1
    };
    // a watcher notes the moment the client hangs up, even mid-answer
    let (mut rd, mut sock) = sock.into_split();
    let watcher = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut tmp = [0u8; 256];
            loop {
                match rd.read(&mut tmp).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            seen.conns.lock().unwrap()[idx].closed = Some(Instant::now());
        })
    };
    let sock = &mut sock;
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/version") => {
            json_reply(sock, "200 OK", &json!({ "version": "0.12.3" })).await
        }
        ("GET", "/api/tags") => {
            let tag = |name: &str, family: &str, size: u64| {
                json!({ "name": name, "model": name, "modified_at": "2026-11-30T09:15:00.123456789Z",
                    "size": size, "digest": "9f438cb9cd581fc025612d27f7c1a6669ff83a8bb0ed86c94fcf4c5440555697",
                    "details": { "parent_model": "", "format": "gguf", "family": family,
                        "families": [family], "parameter_size": "7B", "quantization_level": "Q4_K_M" } })
            };
            json_reply(
                sock,
                "200 OK",
                &json!({ "models": [tag("stand-in:latest", "llama", 4_683_087_332u64),
                                    tag("nomic-embed-text:latest", "nomic-bert", 274_302_450u64),
                                    tag("fixer:latest", "qwen2", 4_683_087_332u64),
                                    tag("slow:latest", "llama", 2_019_393_189u64)] }),
            )
            .await
        }
        ("POST", "/api/show") => {
            let caps = if body["model"].as_str().unwrap_or("").contains("embed") {
                json!(["embedding"])
            } else {
                json!(["completion", "tools"])
            };
            json_reply(
                sock,
                "200 OK",
                &json!({ "modelfile": "", "parameters": "", "template": "", "details": {}, "model_info": {}, "capabilities": caps }),
            )
            .await
        }
        ("POST", "/api/chat") => {
            seen.chats.lock().unwrap().push(body.clone());
            chat(sock, model.as_deref().unwrap_or("")).await
        }
        _ => json_reply(sock, "404 Not Found", &json!({ "error": "not found" })).await,
    }
    let _ = watcher.await;
}

async fn chat(sock: &mut (impl AsyncWrite + Unpin), model: &str) {
    if model == "missing:latest" {
        let e = json!({ "error": format!("model \"{model}\" not found, try pulling it first") });
        return json_reply(sock, "404 Not Found", &e).await;
    }
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n";
    let _ = sock.write_all(head.as_bytes()).await;
    let pieces: Vec<String> = match model {
        "hang:latest" => return,
        "malformed:latest" => {
            chunk(sock, "<html>502 Bad Gateway</html>").await;
            let _ = sock.write_all(b"0\r\n\r\n").await;
            return;
        }
        "fixer:latest" => {
            let text = format!(
                "Pine seeds ta.ema with the SMA of the first 21 closes; pandas starts from the first close.\n\n```diff\n{FIX_DIFF}```\n"
            );
            text.as_bytes()
                .chunks(48)
                .map(|c| String::from_utf8_lossy(c).to_string())
                .collect()
        }
        _ => ANSWER.iter().map(|s| s.to_string()).collect(),
    };
    for (i, p) in pieces.iter().enumerate() {
        if model == "mid-error:latest" && i == 2 {
            chunk(sock, r#"{"error":"model runner has unexpectedly stopped, this may be due to resource limitations"}"#).await;
            let _ = sock.write_all(b"0\r\n\r\n").await;
            return;
        }
        chunk(sock, &line(model, p, false)).await;
        let pause = if model == "slow:latest" { 400 } else { 40 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    chunk(sock, &line(model, "", true)).await;
    let _ = sock.write_all(b"0\r\n\r\n").await;
}
