//! The Ollama client every model user shares (the chat, the `llm` backtest strategy, the health
//! checks): `/api/version`, `/api/tags`, `/api/show` and `/api/chat`, the last streamed as NDJSON.
//! Failures come back classified (`OllamaError::class`): the chat's fallback answers with that
//! class. A generation gives up by dropping its response, and the client keeps no idle
//! connections, so giving up closes the connection to Ollama at once.
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long Ollama may take. `first_chunk` runs from sending the request to the first NDJSON
/// line (headers alone do not count), `idle` between lines, `total` for the whole answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_chunk: Duration,
    pub idle: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            first_chunk: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// Why Ollama gave no (whole) answer.
#[derive(Debug, Clone, PartialEq)]
pub enum OllamaError {
    /// 404: no such model here (`ollama pull` it).
    ModelMissing(String),
    /// Nothing answers at the base URL (refused, DNS, connect timeout).
    Unreachable(String),
    /// No first line in time, a pause between lines too long, or the whole answer too long.
    Timeout(String),
    /// An answer that is not Ollama's protocol: not JSON, an `{"error"}` line, a bad status,
    /// the stream ending before `done`.
    BadResponse(String),
    /// The caller gave up (the console's Esc, an HTTP client gone).
    Cancelled,
}

impl OllamaError {
    /// The chat fallback's `error_class`.
    pub fn class(&self) -> &'static str {
        match self {
            OllamaError::ModelMissing(_) => "model_missing",
            OllamaError::Unreachable(_) => "ollama_unreachable",
            OllamaError::Timeout(_) => "timeout",
            OllamaError::BadResponse(_) => "bad_response",
            OllamaError::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for OllamaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OllamaError::ModelMissing(m)
            | OllamaError::Unreachable(m)
            | OllamaError::Timeout(m)
            | OllamaError::BadResponse(m) => f.write_str(m),
            OllamaError::Cancelled => f.write_str("the generation was cancelled"),
        }
    }
}

/// A model of `/api/tags`, as seed 000's `/chat/models` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub model: String,
    pub size: u64,
    pub modified_at: String,
    pub chat_capable: bool,
}

/// A whole streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: String,
    pub done_reason: Option<String>,
}

/// The longest NDJSON line taken (a line is one token or a few).
const MAX_LINE: usize = 1 << 20;

#[derive(Clone)]
pub struct Ollama {
    http: reqwest::Client,
    base: String,
    timeouts: Timeouts,
}

impl Ollama {
    pub fn new(base: &str, timeouts: Timeouts) -> Ollama {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            // an answer given up on must close its connection, not wait in a pool
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default();
        Ollama {
            http,
            base: base.trim_end_matches('/').to_string(),
            timeouts,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn unreachable(&self, e: &reqwest::Error) -> OllamaError {
        OllamaError::Unreachable(format!("Ollama unreachable at {}: {}", self.base, root(e)))
    }

    /// One request and its whole answer (`GET` when `body` is `None`) within `within`: the
    /// text of a success; a 404 is what `not_found` makes of Ollama's words, another failure
    /// status `BadResponse` with them.
    async fn exchange(
        &self,
        path: &str,
        body: Option<&Value>,
        within: Duration,
        not_found: impl FnOnce(Option<String>) -> OllamaError,
    ) -> Result<String, OllamaError> {
        let req = match body {
            Some(b) => self.http.post(self.url(path)).json(b),
            None => self.http.get(self.url(path)),
        };
        let asked = async {
            let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| {
                OllamaError::BadResponse(format!("Ollama's answer could not be read: {}", root(&e)))
            })?;
            Ok::<_, OllamaError>((status, text))
        };
        let (status, text) = tokio::time::timeout(within, asked).await.map_err(|_| {
            OllamaError::Timeout(format!(
                "Ollama at {} did not answer {path} within {} s",
                self.base,
                within.as_secs()
            ))
        })??;
        if status.is_success() {
            return Ok(text);
        }
        let said = said(&text);
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(not_found(said));
        }
        Err(OllamaError::BadResponse(format!(
            "Ollama answered {status} to {path}: {}",
            said.unwrap_or_else(|| clip(&text, 200))
        )))
    }

    /// A small JSON answer (`GET` when `body` is `None`), within `within`.
    async fn small(
        &self,
        path: &str,
        body: Option<Value>,
        within: Duration,
    ) -> Result<Value, OllamaError> {
        let text = self
            .exchange(path, body.as_ref(), within, |said| match path {
                // a 404 of /api/show is Ollama saying it has no such model
                "/api/show" => OllamaError::ModelMissing(
                    said.unwrap_or_else(|| "Ollama has no such model".into()),
                ),
                _ => OllamaError::BadResponse(format!(
                    "{} answered 404 to {path}: is it Ollama?",
                    self.base
                )),
            })
            .await?;
        serde_json::from_str(&text).map_err(|_| {
            OllamaError::BadResponse(format!(
                "Ollama's answer to {path} is not JSON: {}",
                clip(&text, 120)
            ))
        })
    }

    /// `GET /api/version`: Ollama's version.
    pub async fn version(&self) -> Result<String, OllamaError> {
        let v = self
            .small("/api/version", None, Duration::from_secs(3))
            .await?;
        v["version"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| OllamaError::BadResponse("/api/version has no version".into()))
    }

    /// `GET /api/tags`, then `/api/show` of each model for what it can do: a model whose
    /// capabilities lack `completion` (an embedding model) cannot chat. An Ollama too old to
    /// list capabilities is judged by the model's family and name (`bert`, `embed`).
    pub async fn models(&self) -> Result<Vec<ModelInfo>, OllamaError> {
        let tags = self
            .small("/api/tags", None, Duration::from_secs(10))
            .await?;
        let list = tags["models"].as_array().cloned().unwrap_or_default();
        let names: Vec<String> = list
            .iter()
            .map(|m| m["name"].as_str().unwrap_or_default().to_string())
            .collect();
        // four at a time: a long list does not flood Ollama
        let mut shows: Vec<Option<Value>> = Vec::with_capacity(names.len());
        for batch in names.chunks(4) {
            let asked = batch.iter().map(|name| {
                self.small(
                    "/api/show",
                    Some(json!({ "model": name })),
                    Duration::from_secs(10),
                )
            });
            shows.extend(
                futures_util::future::join_all(asked)
                    .await
                    .into_iter()
                    .map(Result::ok),
            );
        }
        Ok(list
            .iter()
            .zip(shows)
            .map(|(m, show)| {
                let name = m["name"].as_str().unwrap_or_default().to_string();
                ModelInfo {
                    model: m["model"].as_str().unwrap_or(&name).to_string(),
                    size: m["size"].as_u64().unwrap_or(0),
                    modified_at: m["modified_at"].as_str().unwrap_or_default().to_string(),
                    chat_capable: chat_capable(&name, m, show.as_ref()),
                    name,
                }
            })
            .collect())
    }

    /// `POST /api/chat` with `stream: true`: each piece of the answer goes to `on_delta` as it
    /// arrives. Gives up (dropping the connection) on `cancel` or a deadline of `Timeouts`.
    pub async fn chat(
        &self,
        mut body: Value,
        cancel: &CancellationToken,
        mut on_delta: impl FnMut(&str),
    ) -> Result<Reply, OllamaError> {
        use futures_util::StreamExt;
        body["stream"] = json!(true);
        let t = self.timeouts;
        let started = Instant::now();
        let first_by = started + t.first_chunk;
        let total_by = started + t.total;
        let late = |what: &str, d: Duration| {
            OllamaError::Timeout(format!(
                "Ollama at {} sent {what} within {} s",
                self.base,
                d.as_secs()
            ))
        };
        let send = self.http.post(self.url("/api/chat")).json(&body).send();
        let resp = tokio::select! {
            r = send => r.map_err(|e| self.unreachable(&e))?,
            _ = tokio::time::sleep_until(first_by) => return Err(late("no answer", t.first_chunk)),
            _ = cancel.cancelled() => return Err(OllamaError::Cancelled),
        };
        let status = resp.status();
        if !status.is_success() {
            let text = tokio::select! {
                r = resp.text() => r.unwrap_or_default(),
                _ = tokio::time::sleep_until(first_by) => String::new(),
                _ = cancel.cancelled() => return Err(OllamaError::Cancelled),
            };
            let said = said(&text).unwrap_or_else(|| clip(&text, 200));
            let model = body["model"].as_str().unwrap_or_default();
            return Err(if status == reqwest::StatusCode::NOT_FOUND {
                OllamaError::ModelMissing(format!(
                    "Model '{model}' is not available locally ({said}); pull it with `ollama pull {model}`"
                ))
            } else {
                OllamaError::BadResponse(format!("Ollama answered {status}: {said}"))
            });
        }
        let mut stream = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        let mut content = String::new();
        let mut lines = 0usize;
        loop {
            let next_by = if lines == 0 {
                first_by
            } else {
                Instant::now() + t.idle
            };
            let by = next_by.min(total_by);
            let chunk = tokio::select! {
                c = stream.next() => c,
                _ = tokio::time::sleep_until(by) => {
                    return Err(match (by == total_by, lines) {
                        (true, _) => late("no whole answer", t.total),
                        (false, 0) => late("no first chunk", t.first_chunk),
                        (false, _) => late("nothing more", t.idle),
                    });
                }
                _ = cancel.cancelled() => return Err(OllamaError::Cancelled),
            };
            let bytes = match chunk {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    return Err(OllamaError::BadResponse(format!(
                        "Ollama's answer broke off: {}",
                        root(&e)
                    )));
                }
                None => {
                    // a last line may come without its newline
                    let rest = String::from_utf8_lossy(&buf).trim().to_string();
                    if !rest.is_empty()
                        && let Chunk::Done(d, reason) = chunk_of(&rest)?
                    {
                        if !d.is_empty() {
                            content.push_str(&d);
                            on_delta(&d);
                        }
                        return Ok(Reply {
                            content,
                            done_reason: reason,
                        });
                    }
                    return Err(OllamaError::BadResponse(
                        "Ollama's answer ended before it said it was done".into(),
                    ));
                }
            };
            buf.extend_from_slice(&bytes);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                lines += 1;
                match chunk_of(line)? {
                    Chunk::Delta(d) => {
                        if !d.is_empty() {
                            content.push_str(&d);
                            on_delta(&d);
                        }
                    }
                    Chunk::Done(d, reason) => {
                        content.push_str(&d);
                        if !d.is_empty() {
                            on_delta(&d);
                        }
                        return Ok(Reply {
                            content,
                            done_reason: reason,
                        });
                    }
                }
            }
            if buf.len() > MAX_LINE {
                return Err(OllamaError::BadResponse(format!(
                    "Ollama sent a line longer than {} KiB",
                    MAX_LINE >> 10
                )));
            }
        }
    }

    /// `POST /api/chat` once, not streamed (`body` says `stream: false`): the reply's raw
    /// text, within `within` for headers and body.
    pub async fn chat_once(&self, body: &Value, within: Duration) -> Result<String, OllamaError> {
        let model = body["model"].as_str().unwrap_or_default();
        self.exchange("/api/chat", Some(body), within, |_| {
            OllamaError::ModelMissing(format!(
                "Ollama has no model {model:?} (ollama pull {model})"
            ))
        })
        .await
    }
}

enum Chunk {
    Delta(String),
    /// The last line: its content (usually empty) and `done_reason`.
    Done(String, Option<String>),
}

/// One NDJSON line of `/api/chat`. An `{"error": …}` line is Ollama's own failure, told apart
/// from a line that is not JSON at all.
fn chunk_of(line: &str) -> Result<Chunk, OllamaError> {
    let v: Value = serde_json::from_str(line).map_err(|_| {
        OllamaError::BadResponse(format!(
            "Ollama sent a line that is not JSON: {}",
            clip(line, 120)
        ))
    })?;
    if let Some(e) = v.get("error") {
        let e = e
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string());
        return Err(OllamaError::BadResponse(format!(
            "Ollama reported an error mid-answer: {e}"
        )));
    }
    let content = v["message"]["content"].as_str();
    if content.is_none() && v["done"] != true {
        return Err(OllamaError::BadResponse(format!(
            "Ollama sent a line with no message content: {}",
            clip(line, 120)
        )));
    }
    let content = content.unwrap_or_default().to_string();
    Ok(if v["done"] == true {
        Chunk::Done(content, v["done_reason"].as_str().map(str::to_string))
    } else {
        Chunk::Delta(content)
    })
}

/// Whether a model of `/api/tags` can chat: its `/api/show` capabilities when Ollama lists
/// them, else its family and name.
fn chat_capable(name: &str, tag: &Value, show: Option<&Value>) -> bool {
    if let Some(caps) = show.and_then(|s| s["capabilities"].as_array()) {
        return caps.iter().any(|c| c == "completion");
    }
    let d = &tag["details"];
    let mut families: Vec<&str> = d["families"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    families.extend(d["family"].as_str());
    let embedding =
        families.iter().any(|f| f.contains("bert")) || name.to_ascii_lowercase().contains("embed");
    !embedding
}

/// Ollama's own words in a failed answer (`{"error": "…"}`).
fn said(text: &str) -> Option<String> {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
}

/// The first `n` characters of `s`.
fn clip(s: &str, n: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The deepest cause's words (a reqwest error's own say only "error sending request").
fn root(e: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(e), |e| e.source())
        .last()
        .map(|e| e.to_string())
        .unwrap_or_default()
}
