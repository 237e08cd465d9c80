//! The `llm` strategy's decisions: on each decision bar the local Ollama model is shown the last
//! bars and asked for BUY, SELL or HOLD with a confidence and a reason (`/api/chat`, JSON format,
//! temperature 0). When Ollama cannot be reached, has no such model, or misses its deadline three
//! times running, the rest of the run falls back to a stated rule, the SMA(10)/SMA(20) trend
//! (acted on whatever `min_confidence` says: it is the model's threshold), and every decision
//! it makes says so.
use super::indicators;
use super::params::Params;
use super::strategy::{BUY, Decisions, HOLD, SELL, Why};
use crate::engine::datasets::Bars;
pub use crate::services::ollama::Ollama;
use crate::services::ollama::OllamaError;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The fallback rule, in the words every fallback decision carries.
pub const FALLBACK_RULE: &str = "fallback rule: SMA(10) above SMA(20) → BUY, below → SELL";

#[derive(Debug)]
pub enum AskError {
    /// No answer will come for the rest of the run (Ollama down, no such model).
    Down(String),
    /// This answer was unusable; the next may be fine.
    Bad(String),
    /// No answer in time (a model loading cold may be slow once); three in a row count as down.
    Slow(String),
}

/// One decision: (action, confidence 0–100, reason), asked of the shared Ollama client with
/// one deadline for the whole answer (JSON format, not streamed).
pub async fn ask(
    ollama: &Ollama,
    model: &str,
    prompt: &str,
    timeout: Duration,
) -> Result<(i8, f32, String), AskError> {
    let body = json!({
        "model": model,
        "stream": false,
        "format": "json",
        "options": { "temperature": 0 },
        "messages": [
            { "role": "system", "content": "You are a trading agent. Answer with one JSON object only: {\"action\": \"BUY\" | \"SELL\" | \"HOLD\", \"confidence\": 0-100, \"reason\": \"one sentence\"}." },
            { "role": "user", "content": prompt },
        ],
    });
    let text = ollama
        .chat_once(&body, timeout)
        .await
        .map_err(|e| match e {
            OllamaError::ModelMissing(m) | OllamaError::Unreachable(m) => AskError::Down(m),
            OllamaError::Timeout(m) => AskError::Slow(m),
            OllamaError::BadResponse(m) => AskError::Bad(m),
            OllamaError::Cancelled => AskError::Bad("cancelled".into()),
        })?;
    parse_answer(&text).map_err(AskError::Bad)
}

/// `/api/chat`'s reply → (action, confidence, reason).
pub fn parse_answer(text: &str) -> Result<(i8, f32, String), String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("Ollama's reply is not JSON: {e}"))?;
    if let Some(err) = v.get("error").and_then(Value::as_str) {
        return Err(format!("Ollama: {err}"));
    }
    let content = v["message"]["content"]
        .as_str()
        .ok_or("Ollama's reply has no message content")?;
    let d: Value = serde_json::from_str(content.trim()).map_err(|_| {
        format!(
            "the model did not answer JSON: {}",
            content.chars().take(120).collect::<String>()
        )
    })?;
    let action = match d["action"]
        .as_str()
        .map(|s| s.trim().to_ascii_uppercase())
        .as_deref()
    {
        Some("BUY") => BUY,
        Some("SELL") => SELL,
        Some("HOLD") => HOLD,
        other => {
            return Err(format!(
                "the model's action {other:?} is not BUY, SELL or HOLD"
            ));
        }
    };
    // a confidence that is not a finite number counts as none ("nan" parses as a float)
    let confidence = d["confidence"]
        .as_f64()
        .or_else(|| {
            d["confidence"]
                .as_str()
                .and_then(|s| s.trim_end_matches('%').parse().ok())
        })
        .filter(|c: &f64| c.is_finite())
        .unwrap_or(0.0)
        .clamp(0.0, 100.0) as f32;
    let reason = d["reason"].as_str().unwrap_or("").trim().to_string();
    Ok((action, confidence, reason))
}

/// What the model is shown at bar `i`: the last `window` bars.
pub fn prompt(bars: &Bars, i: usize, window: usize, symbol: &str) -> String {
    let from = (i + 1).saturating_sub(window);
    let mut s = format!(
        "Symbol {symbol}. The last {} bars, oldest first (time UTC, open, high, low, close, volume):\n",
        i + 1 - from
    );
    for k in from..=i {
        s.push_str(&format!(
            "{} {:.4} {:.4} {:.4} {:.4} {:.0}\n",
            super::store::iso(bars.ts[k]),
            bars.open[k],
            bars.high[k],
            bars.low[k],
            bars.close[k],
            bars.volume[k]
        ));
    }
    s.push_str("Decide for the next bar's open: BUY (be long), SELL (be short or flat) or HOLD.");
    s
}

/// The fallback's decision at bar `i`.
fn fallback((f, s): (f64, f64), why_down: &str) -> (i8, String) {
    if f.is_nan() || s.is_nan() {
        return (
            HOLD,
            format!("{why_down}; {FALLBACK_RULE}: not enough bars yet → HOLD"),
        );
    }
    let a = if f > s {
        BUY
    } else if f < s {
        SELL
    } else {
        HOLD
    };
    let word = match a {
        BUY => "above",
        SELL => "below",
        _ => "equal to",
    };
    let act = match a {
        BUY => "BUY",
        SELL => "SELL",
        _ => "HOLD",
    };
    (
        a,
        format!("{why_down}; {FALLBACK_RULE}: SMA(10) {f:.4} {word} SMA(20) {s:.4} → {act}"),
    )
}

/// Decision bars of a backtest over `n` bars: every `every` from the first full window, never
/// the last bar (it has no next open).
pub fn decision_bars(n: usize, window: usize, every: usize) -> impl Iterator<Item = usize> {
    let first = window.max(1) - 1;
    (first..n.saturating_sub(1)).step_by(every.max(1))
}

/// Whether closed bar `k` is a decision bar (one of `decision_bars`; a run on the live feed has
/// no last bar to leave out).
pub fn is_decision_bar(k: usize, window: usize, every: usize) -> bool {
    let first = window.max(1) - 1;
    k >= first && (k - first).is_multiple_of(every.max(1))
}

/// The model's judge over a run: asks Ollama, and when Ollama is down (unreachable, no such model,
/// three deadlines missed running) decides the rest by the fallback rule. A backtest and a run
/// on the live feed judge alike.
pub struct Judge {
    model: String,
    timeout: Duration,
    min_conf: f32,
    window: usize,
    /// Why Ollama counts as down, once it does.
    down: Option<String>,
    slow_in_a_row: u32,
}

/// SMA(10) and SMA(20) of `close` at its last bar (NaN before 10 and 20 bars).
pub fn fallback_averages(close: &[f64]) -> (f64, f64) {
    let mean = |n: usize| {
        if close.len() < n {
            f64::NAN
        } else {
            close[close.len() - n..].iter().sum::<f64>() / n as f64
        }
    };
    (mean(10), mean(20))
}

impl Judge {
    pub fn new(p: &Params) -> Judge {
        Judge {
            model: p.s("model").to_string(),
            timeout: Duration::from_secs_f64(p.f("timeout_s")),
            min_conf: p.f("min_confidence") as f32,
            window: p.n("window"),
            down: None,
            slow_in_a_row: 0,
        }
    }

    /// The decision at bar `i`: (action, confidence, reason). `averages` are SMA(10) and
    /// SMA(20) at `i`, for the fallback.
    pub async fn decide(
        &mut self,
        ollama: &Ollama,
        bars: &Bars,
        i: usize,
        symbol: &str,
        averages: (f64, f64),
    ) -> (i8, f32, String) {
        let fall = |why: &str| {
            let (a, r) = fallback(averages, why);
            (a, 50.0, r)
        };
        if let Some(why) = &self.down {
            return fall(why);
        }
        let q = prompt(bars, i, self.window, symbol);
        match ask(ollama, &self.model, &q, self.timeout).await {
            Ok((a, conf, reason)) => {
                self.slow_in_a_row = 0;
                let min_conf = self.min_conf;
                let acted = if a != HOLD && conf < min_conf {
                    HOLD
                } else {
                    a
                };
                let held = if acted != a {
                    format!(" (held: confidence {conf:.0} is under min_confidence {min_conf:.0})")
                } else {
                    String::new()
                };
                (acted, conf, format!("{}: {reason}{held}", self.model))
            }
            Err(AskError::Slow(why)) if self.slow_in_a_row >= 2 => {
                tracing::warn!(%why, "llm strategy: Ollama missed three deadlines running; the rest of the run uses the fallback rule");
                let why = format!("{why} (three times running)");
                let out = fall(&why);
                self.down = Some(why);
                out
            }
            Err(AskError::Slow(why)) => {
                self.slow_in_a_row += 1;
                fall(&why)
            }
            Err(AskError::Down(why)) => {
                tracing::warn!(%why, "llm strategy: Ollama down; the rest of the run uses the fallback rule");
                let out = fall(&why);
                self.down = Some(why);
                out
            }
            Err(AskError::Bad(why)) => {
                self.slow_in_a_row = 0;
                fall(&format!("the model's answer was unusable ({why})"))
            }
        }
    }

    /// What the run says once, if Ollama went down during it.
    pub fn note(&self) -> Option<String> {
        self.down
            .as_ref()
            .map(|why| format!("{why}; from then on every decision used the {FALLBACK_RULE}"))
    }
}

/// The whole run's decisions. `done` counts decision bars as they are decided.
pub async fn decisions(
    ollama: &Ollama,
    bars: &Bars,
    p: &Params,
    symbol: &str,
    done: &AtomicU64,
    cancel: &CancellationToken,
) -> Result<Decisions, String> {
    let n = bars.len();
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    indicators::sma(&bars.close, 10, &mut fast);
    indicators::sma(&bars.close, 20, &mut slow);
    let mut d = Decisions::hold(n, Why::Notes(HashMap::new()));
    let mut notes = HashMap::new();
    let mut judge = Judge::new(p);
    for i in decision_bars(n, p.n("window"), p.n("every")) {
        if cancel.is_cancelled() {
            return Err("stopped".into());
        }
        let (a, conf, reason) = tokio::select! {
            j = judge.decide(ollama, bars, i, symbol, (fast[i], slow[i])) => j,
            _ = cancel.cancelled() => return Err("stopped".into()),
        };
        d.action[i] = a;
        d.confidence[i] = conf;
        notes.insert(i, reason);
        done.fetch_add(1, Ordering::Relaxed);
    }
    d.note = judge.note();
    d.why = Why::Notes(notes);
    Ok(d)
}
