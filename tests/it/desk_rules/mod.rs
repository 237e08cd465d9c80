//! The desk's rules (SPEC §2, the original desk's behaviour) as one table over real HTTP. Each
//! row builds a scenario on a fresh desk, sends one request, and checks the answer (code and
//! message) and the state after it. Every row also runs mirrored: the other side of the market,
//! every color, side and price reflected, so a sign error on shorts fails as surely as on longs.
//! After a refusal the whole state (minus the clock) and the order book are what they were.
//! Every failing row is reported, not only the first.
mod entries;
mod exits;

use crate::support::*;
use brickdesk::engine::model::AssetConfig;
use brickdesk::engine::state::DeskSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A step of a scenario's setup; each must succeed.
#[derive(Clone, Debug)]
enum S {
    /// A price heartbeat.
    Hb(&'static str, f64),
    /// A brick: size name (`main`, `two_half`, …), asset, color (`neutral`: neither).
    Brick(&'static str, &'static str, &'static str),
    /// A heartbeat, then 8pt, 12pt, 2.5pt and 6pt bricks of a color.
    Ready(&'static str, &'static str, f64),
    /// 8pt green, 12pt red (FREE), 2.5pt and 6pt green, and a heartbeat at 5000, for ES.
    FreeEs,
    /// An entry or preorder that must be created (201).
    Entry(Value),
    /// Ready, entry, fill: a position of that side at that price.
    Open(&'static str, &'static str, f64),
    /// The bridge claims what is pending and fills what it holds at a price.
    Fill(f64),
    /// The bridge claims what is pending (kept for `claimed/…` checks).
    Poll,
    /// An operator route that must succeed.
    Post(&'static str, Value),
    /// A PnL snapshot with this `accountBalance`.
    Balance(f64),
    /// The clock moves on (seconds).
    Wait(i64),
    /// A request as a row would send it (webhook secrets and bar ids added); it must succeed.
    Do(A),
}

/// The request a row checks.
#[derive(Clone, Debug)]
enum A {
    /// A POST; webhook and bridge paths get their secret (and a brick its bar id).
    Post(&'static str, Value),
    /// The bridge reports this status for every order it holds (claimed now or before).
    Report(&'static str),
    /// The bridge fills every order it holds at a price.
    Fill(f64),
}

struct Row {
    name: &'static str,
    settings: fn(&mut DeskSettings),
    setup: Vec<S>,
    act: A,
    code: u16,
    /// The exact error message (a trailing `…` matches a prefix); ignored on success.
    says: &'static str,
    /// `/…`: a pointer into `/api/state`; `resp/…`: into the answer; `orders/…`: into ES's
    /// orders, newest first; `claimed/…`: into the last poll; `exits`: ES's EXIT order count;
    /// `event`: text some recent log line contains.
    then: Vec<(&'static str, Value)>,
}

fn defaults(_: &mut DeskSettings) {}

fn row(name: &'static str, setup: Vec<S>, act: A, code: u16, says: &'static str) -> Row {
    Row {
        name,
        settings: defaults,
        setup,
        act,
        code,
        says,
        then: Vec::new(),
    }
}

impl Row {
    fn then(mut self, checks: Vec<(&'static str, Value)>) -> Row {
        self.then = checks;
        self
    }
    fn with(mut self, settings: fn(&mut DeskSettings)) -> Row {
        self.settings = settings;
        self
    }
}

/// An entry body: `{"asset", "trade_mode": "SCALP"}` plus `extra`.
fn e(asset: &str, extra: Value) -> Value {
    let mut v = json!({ "asset": asset, "trade_mode": "SCALP" });
    for (k, x) in extra.as_object().cloned().unwrap_or_default() {
        v[k] = x;
    }
    v
}

fn brick(size: &'static str, color: &'static str) -> A {
    A::Post(brick_path(size), json!({ "asset": "ES", "color": color }))
}

fn price(p: f64) -> A {
    A::Post("/tv_heartbeat", json!({ "symbol": "ES", "price": p }))
}

fn post(path: &'static str, body: Value) -> A {
    A::Post(path, body)
}

/// The webhook of a brick size (`main` → `/tv_renko_main`).
fn brick_path(size: &str) -> &'static str {
    BRICK_ROUTES
        .iter()
        .find(|(_, s)| *s == size)
        .unwrap_or_else(|| panic!("no brick size {size}"))
        .0
}

const NO_STRUCTURE: &str = "8pt/12pt structure unavailable – cannot trade";
const TEMPO: &str = "Tempo token WAIT — need a new 6pt bar";
const PENDING: &str = "Pending order already exists";

fn rows() -> Vec<Row> {
    let mut rows = entries::rows();
    rows.extend(exits::rows());
    rows.extend(exits::closes());
    rows
}

/// The words a mirrored row swaps: colors and sides.
const MIRRORED: [(&str, &str); 4] = [
    ("green", "red"),
    ("red", "green"),
    ("BUY", "SELL"),
    ("SELL", "BUY"),
];

/// `text` with every whole word of `MIRRORED` swapped (`entered` keeps its `red`); the choice
/// `BUY/SELL` names both sides and stays.
fn mirror_words(text: &str) -> String {
    const BOTH: &str = "BUY/SELL";
    if text.contains(BOTH) {
        let parts: Vec<String> = text.split(BOTH).map(mirror_words).collect();
        return parts.join(BOTH);
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let swapped = MIRRORED.iter().find(|(a, _)| a == word).map(|(_, b)| *b);
        out.push_str(swapped.unwrap_or(word));
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A price reflected about the scenario's centre (5000 for ES, 20000 for NQ).
fn mirror_price(p: f64) -> f64 {
    if p > 10_000.0 {
        40_000.0 - p
    } else {
        10_000.0 - p
    }
}

/// A JSON value mirrored: strings word by word, numbers under a price key reflected, and a
/// bridge's signed `position` negated.
fn mirror_json(v: &Value, price: bool) -> Value {
    match v {
        Value::String(s) => Value::String(mirror_words(s)),
        Value::Number(n) if price => json!(mirror_price(n.as_f64().unwrap())),
        Value::Array(a) => Value::Array(a.iter().map(|x| mirror_json(x, price)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = match (k.as_str(), x.as_i64()) {
                        ("position", Some(q)) => json!(-q),
                        _ => mirror_json(x, price || k.contains("price")),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a scenario keeps between its steps.
#[derive(Default)]
struct Run {
    /// Play the row on the other side of the market.
    mirror: bool,
    /// Orders the bridge claimed and has not reported yet.
    held: Vec<String>,
    last_poll: Value,
}

impl Run {
    fn color(&self, c: &'static str) -> &'static str {
        match (self.mirror, c) {
            (true, "green") => "red",
            (true, "red") => "green",
            _ => c,
        }
    }
    fn side(&self, s: &'static str) -> &'static str {
        match (self.mirror, s) {
            (true, "BUY") => "SELL",
            (true, "SELL") => "BUY",
            _ => s,
        }
    }
    fn price(&self, p: f64) -> f64 {
        if self.mirror { mirror_price(p) } else { p }
    }
    fn json(&self, v: &Value) -> Value {
        if self.mirror {
            mirror_json(v, false)
        } else {
            v.clone()
        }
    }
    /// An expected value at `key` (a pointer naming a price mirrors its numbers).
    fn expect(&self, key: &str, v: &Value) -> Value {
        if self.mirror {
            mirror_json(v, key.contains("price"))
        } else {
            v.clone()
        }
    }
    fn text(&self, s: &str) -> String {
        if self.mirror {
            mirror_words(s)
        } else {
            s.to_string()
        }
    }

    /// Claims what is pending; the answer of a poll that claimed something is kept.
    async fn poll(&mut self, d: &TestDesk) {
        let claimed = d.poll().await;
        self.held.extend(
            claimed
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string()),
        );
        if !claimed.is_empty() {
            self.last_poll = Value::Array(claimed);
        }
    }

    /// Reports `status` for every held order; the last answer.
    async fn report(
        &mut self,
        d: &TestDesk,
        status: &str,
        price: Option<f64>,
    ) -> (StatusCode, Value) {
        self.poll(d).await;
        let mut last = (
            StatusCode::NOT_FOUND,
            json!({ "error": "no order to report" }),
        );
        for id in std::mem::take(&mut self.held) {
            let body = match price {
                Some(p) => json!({ "status": status, "extra": { "fill_price": p } }),
                None => json!({ "status": status }),
            };
            last = d.report(&id, body).await;
        }
        last
    }

    async fn step(&mut self, d: &TestDesk, s: &S) -> Result<(), String> {
        let expect = |what: String, (c, b): (StatusCode, Value)| {
            if c.is_success() {
                Ok(())
            } else {
                Err(format!("setup {what}: {c} {b}"))
            }
        };
        match s {
            S::Hb(asset, p) => {
                d.heartbeat(asset, self.price(*p)).await;
            }
            S::Brick(size, asset, color) => {
                let color = self.color(color);
                d.brick(brick_path(size), asset, color, &format!("b{}", next_id()))
                    .await;
            }
            S::Ready(asset, color, p) => d.make_ready(asset, self.color(color), self.price(*p)).await,
            S::FreeEs => {
                d.heartbeat("ES", 5000.0).await;
                for (size, color) in [
                    ("high", "green"),
                    ("macro", "red"),
                    ("two_half", "green"),
                    ("main", "green"),
                ] {
                    let color = self.color(color);
                    d.brick(brick_path(size), "ES", color, &format!("f{}", next_id()))
                        .await;
                }
            }
            S::Entry(body) => {
                let body = self.json(body);
                let (c, b) = d.post("/api/orders", body.clone()).await;
                if c != StatusCode::CREATED {
                    return Err(format!("setup entry {body}: {c} {b}"));
                }
            }
            S::Open(asset, side, p) => d.open_position(asset, self.side(side), self.price(*p)).await,
            S::Fill(p) => {
                let p = self.price(*p);
                expect("fill".into(), self.report(d, "FILLED", Some(p)).await)?;
            }
            S::Poll => self.poll(d).await,
            S::Post(path, body) => {
                let body = self.json(body);
                expect(format!("{path} {body}"), d.post(path, body.clone()).await)?
            }
            S::Balance(b) => expect(
                "balance".into(),
                d.post_anon(
                    "/api/rithmic/pnl-snapshot",
                    json!({ "secret": BRIDGE, "realized": 0.0, "unrealized": 0.0, "accountBalance": b }),
                )
                .await,
            )?,
            S::Wait(secs) => d.advance(*secs).await,
            S::Do(a) => {
                let answer = self.act(d, a).await;
                expect(format!("{a:?}"), answer)?
            }
        }
        Ok(())
    }

    async fn act(&mut self, d: &TestDesk, a: &A) -> (StatusCode, Value) {
        match a {
            A::Post(path, body) => {
                let mut body = self.json(body);
                if path.starts_with("/tv_") {
                    body["secret"] = json!(TV);
                    if path.starts_with("/tv_renko") {
                        body["bar_id"] = json!(format!("act{}", next_id()));
                    }
                    d.post_anon(path, body).await
                } else if path.starts_with("/api/rithmic") || path.starts_with("/api/bridge") {
                    body["secret"] = json!(BRIDGE);
                    d.post_anon(path, body).await
                } else {
                    d.post(path, body).await
                }
            }
            A::Report(status) => self.report(d, status, None).await,
            A::Fill(p) => self.report(d, "FILLED", Some(self.price(*p))).await,
        }
    }
}

async fn check(r: &Row, mirror: bool) -> Result<(), String> {
    let mut settings = DeskSettings::default();
    (r.settings)(&mut settings);
    let d = TestDesk::start_with(AssetConfig::defaults(), settings).await;
    let mut run = Run {
        mirror,
        ..Run::default()
    };
    for s in &r.setup {
        run.step(&d, s).await?;
    }
    // what a refusal must leave as it was (read only for rows that expect one)
    let before = if r.code >= 400 {
        Some(d.desk().await)
    } else {
        None
    };
    let (code, body) = run.act(&d, &r.act).await;
    let mut problems = Vec::new();
    if code.as_u16() != r.code {
        problems.push(format!("code {code}, want {}: {body}", r.code));
    }
    if r.code >= 400 {
        let msg = body["error"].as_str().unwrap_or_default();
        let says = run.text(r.says);
        let ok = match says.strip_suffix('…') {
            Some(prefix) => msg.starts_with(prefix),
            None => msg == says,
        };
        if !ok {
            problems.push(format!("error {msg:?}, want {says:?}"));
        }
        // a refusal changes nothing: not a counter, not a lock, not an order
        let (after, before) = (d.desk().await, before.unwrap_or_default());
        if after != before {
            problems.push(format!(
                "the refusal changed the desk:\n    before {before}\n    after  {after}"
            ));
        }
    }
    let state = d.state().await;
    let orders = Value::Array(d.orders("ES").await);
    for (key, want) in &r.then {
        let want = &run.expect(key, want);
        let got = if let Some(ptr) = key.strip_prefix("resp") {
            body.pointer(ptr).cloned()
        } else if let Some(ptr) = key.strip_prefix("orders") {
            orders.pointer(ptr).cloned()
        } else if let Some(ptr) = key.strip_prefix("claimed") {
            run.last_poll.pointer(ptr).cloned()
        } else if *key == "exits" {
            let n = orders
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["kind"] == "EXIT")
                .count();
            Some(json!(n))
        } else if *key == "event" {
            let found = d.logged(want.as_str().unwrap()).await;
            let (_, ev) = d.get("/api/events?limit=10").await;
            Some(if found { want.clone() } else { ev })
        } else {
            state.pointer(key).cloned()
        };
        if got.as_ref() != Some(want) {
            problems.push(format!("{key} = {got:?}, want {want}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n    "))
    }
}

/// Every row as written (mostly longs), and mirrored (shorts).
#[tokio::test]
async fn the_rules_table() {
    let rows = rows();
    let mut failures = Vec::new();
    for r in &rows {
        for (mirror, side) in [(false, "as written"), (true, "mirrored")] {
            if let Err(e) = check(r, mirror).await {
                failures.push(format!("{} ({side}):\n    {e}", r.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        2 * rows.len(),
        failures.join("\n")
    );
}
