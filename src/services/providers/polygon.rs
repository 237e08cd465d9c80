//! polygon.io aggregates: `GET /v2/aggs/ticker/{symbol}/range/{n}/{unit}/{from}/{to}`, following
//! `next_url` pages. Used when a key is configured; otherwise the capability is `false`.
use crate::engine::datasets::Bars;
use anyhow::{Context, bail};
use serde::Deserialize;

pub const DEFAULT_BASE: &str = "https://api.polygon.io";

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    results: Vec<Agg>,
    next_url: Option<String>,
    status: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Agg {
    t: i64,
    o: f64,
    h: f64,
    l: f64,
    c: f64,
    #[serde(default)]
    v: f64,
}

/// `5m` → (5, minute), `1h` → (1, hour), `1d` → (1, day), `1w` → (1, week).
pub fn timespan(timeframe: &str) -> anyhow::Result<(u32, &'static str)> {
    let tf = timeframe.trim().to_ascii_lowercase();
    let split = tf.find(|c: char| !c.is_ascii_digit()).unwrap_or(tf.len());
    let n: u32 = if split == 0 { 1 } else { tf[..split].parse()? };
    let unit = match &tf[split..] {
        "m" | "min" | "minute" => "minute",
        "h" | "hour" => "hour",
        "d" | "day" | "" => "day",
        "w" | "week" => "week",
        other => bail!("timeframe unit {other:?} is not supported (use m, h, d or w)"),
    };
    if n == 0 {
        bail!("timeframe must be at least 1");
    }
    Ok((n, unit))
}

/// Fetches every bar of `symbol` from `from` to `to` (YYYY-MM-DD), all pages.
pub async fn fetch(
    base: &str,
    key: &str,
    symbol: &str,
    timeframe: &str,
    from: &str,
    to: &str,
) -> anyhow::Result<Bars> {
    let (n, unit) = timespan(timeframe)?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut url = format!(
        "{}/v2/aggs/ticker/{symbol}/range/{n}/{unit}/{from}/{to}?adjusted=true&sort=asc&limit=50000",
        base.trim_end_matches('/')
    );
    let mut bars = Bars::default();
    for _page in 0..1000 {
        let resp = client
            .get(&url)
            .query(&[("apiKey", key)])
            .send()
            .await
            .context("polygon is unreachable")?;
        let status = resp.status();
        let page: Page = resp
            .json()
            .await
            .context("polygon answered something that is not aggregates JSON")?;
        if !status.is_success() || page.status.as_deref() == Some("ERROR") {
            bail!(
                "polygon refused: {} ({status})",
                page.error.unwrap_or_else(|| "no detail".into())
            );
        }
        for a in page.results {
            bars.ts.push(a.t);
            bars.open.push(a.o);
            bars.high.push(a.h);
            bars.low.push(a.l);
            bars.close.push(a.c);
            bars.volume.push(a.v);
        }
        match page.next_url {
            Some(next) => url = next,
            None => return Ok(bars),
        }
    }
    bail!("polygon kept paging past 1000 pages")
}
