//! The console's two links agree: every key that sends a command does the same to a desk
//! whether the console runs in-process (`Link::Local`) or is attached to a server over HTTP
//! (`Link::Remote`, `console --connect`). Two identical desks, one per link, take the same keys;
//! after each command the answers and the whole `/api/state` of both are equal. And an
//! attached console that cannot log in or reach its server says why before it starts.
use crate::support::*;
use brickdesk::engine::command::DeskCommand;
use brickdesk::tui::app::{App, Effect};
use brickdesk::tui::keys::{Action, BINDINGS, Scope};
use brickdesk::tui::link::{Link, Remote};
use brickdesk::tui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// One step of the script, played on both desks.
enum Step {
    /// Keys typed in both consoles (`\n` is Enter); a command they send goes through each link.
    Keys(&'static str),
    /// A 6pt brick of a color on ES.
    Main(&'static str),
    /// A price heartbeat on ES.
    Price(f64),
    /// ES made ready (8pt, 12pt, 2.5pt, 6pt bricks of a color, a heartbeat at 5000).
    Ready(&'static str),
    /// The bridge claims what is pending and leaves it unreported.
    Claim,
    /// The bridge claims what is pending and fills everything at a price.
    Fill(f64),
    /// The clock moves on (seconds).
    Wait(i64),
}

/// Order ids are random: the same order on two desks differs only there.
fn without_ids(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with("ord-") => json!("ord-*"),
        Value::Array(a) => Value::Array(a.iter().map(without_ids).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), without_ids(x))).collect())
        }
        other => other.clone(),
    }
}

/// The command a command-sending key (and its confirmation) gives, with the order id masked.
fn masked(cmd: &DeskCommand) -> Value {
    without_ids(&serde_json::to_value(cmd).unwrap())
}

struct Console {
    app: App,
    link: Link,
}

impl Console {
    async fn refresh(&mut self) {
        let snap = self.link.fetch(Default::default()).await.unwrap();
        self.app.set_snapshot(snap);
    }

    /// Types `keys`; the commands sent (with their outcome), and the keys that sent them.
    async fn type_keys(&mut self, keys: &str) -> Vec<(Value, Result<String, String>)> {
        let mut sent = Vec::new();
        for c in keys.chars() {
            let code = if c == '\n' {
                KeyCode::Enter
            } else {
                KeyCode::Char(c)
            };
            if let Effect::Send(cmd) = self.app.on_key(KeyEvent::new(code, KeyModifiers::NONE)) {
                let out = self.link.send(cmd.clone()).await;
                self.app.command_done(out.clone());
                sent.push((
                    masked(&cmd),
                    out.map_err(|e| without_ids(&json!(e)).to_string()),
                ));
                self.refresh().await;
            }
        }
        sent
    }
}

/// ES made ready with bar ids of this step (the same on both desks).
async fn ready(d: &TestDesk, color: &str, n: usize) {
    d.heartbeat("ES", 5000.0).await;
    for path in [
        "/tv_renko_high",
        "/tv_renko_macro",
        "/tv_renko_two_half",
        "/tv_renko_main",
    ] {
        d.brick(path, "ES", color, &format!("{path}-{n}")).await;
    }
}

/// Plays step `n` of the script on a desk.
async fn play(d: &TestDesk, step: &Step, n: usize) {
    match step {
        Step::Keys(_) => {}
        Step::Main(color) => {
            d.brick("/tv_renko_main", "ES", color, &format!("main-{n}"))
                .await;
        }
        Step::Ready(color) => ready(d, color, n).await,
        Step::Price(p) => {
            d.heartbeat("ES", *p).await;
        }
        Step::Claim => {
            d.poll().await;
        }
        Step::Fill(p) => {
            d.poll().await;
            for o in d.orders("ES").await.iter().chain(&d.orders("NQ").await) {
                if o["status"] == "CLAIMED" || o["status"] == "WORKING" {
                    let body = json!({ "status": "FILLED", "extra": { "fill_price": p } });
                    let (c, b) = d.report(o["id"].as_str().unwrap(), body).await;
                    assert!(c.is_success(), "{b}");
                }
            }
        }
        Step::Wait(secs) => d.advance(*secs).await,
    }
}

#[tokio::test]
async fn local_and_attached_consoles_agree_on_every_command_key() {
    use Step::*;
    let (local, remote) = (TestDesk::start().await, TestDesk::start().await);
    for d in [&local, &remote] {
        ready(d, "green", 0).await;
        let (c, b) = d.entry(json!({ "asset": "ES" })).await;
        assert!(c.is_success(), "{b}");
        d.fill_all(5000.0).await;
        d.heartbeat("NQ", 20000.0).await;
    }
    let attached = Remote::connect(&remote.base, Some(PASSWORD)).await.unwrap();
    // the header's sandbox chip reads the server's mode by name
    let mode = attached.sandbox_mode().await;
    assert!(
        matches!(
            mode.as_deref(),
            Some("bubblewrap" | "unsandboxed" | "refused")
        ),
        "{mode:?}"
    );
    let theme = || Theme::embedded("dark").unwrap();
    let mut consoles = [
        Console {
            app: App::new(theme(), "local".into()),
            link: Link::local(local.engine.clone()).unwrap(),
        },
        Console {
            app: App::new(theme(), "attached".into()),
            link: Link::Remote(attached.clone()),
        },
    ];
    for c in &mut consoles {
        c.refresh().await;
    }
    let script = [
        // armed exits on the open ES long, 3 points up
        Price(5003.0),
        Keys("r"),
        Keys("R"),
        Keys("t"),
        Keys("T12.5\n"),
        Keys("g"),
        Keys("G4\n"),
        Keys("0"),
        Keys("n"),
        Keys("f"),
        Keys("4"),
        // refused alike: scale-in before its stage, exit inside the exit lock, LIVE with a position
        Keys("+y"),
        Keys("xy"),
        Keys("LLIVE\n"),
        Keys("i"),
        Keys("I"),
        Keys("uy"),
        // a fresh 6pt brick releases the exit lock and opens the scale-in
        Main("green"),
        Keys("+y"),
        Fill(5006.0),
        // the scale-in's fill restarts the exit lock: x is refused, X goes; the bridge claims
        // that exit and never reports it, so it is resolved by hand as cancelled
        Keys("xy"),
        Keys("Xy"),
        Claim,
        Keys("Ocy"),
        Keys("Ay"),
        Fill(5004.0),
        // flat, in the cooldown: entries refused alike
        Keys("b"),
        Keys("s"),
        Keys("e"),
        Wait(300),
        Ready("green"),
        Keys("p"),
        Keys("P"),
        // RUNNER, 9pt, BUY: created; the bridge claims it and it is resolved filled
        Keys("mzb"),
        Claim,
        Keys("Ofy"),
        Keys("mz"),
        // NQ: an override sell is refused by the candle lock
        Keys("a"),
        Keys("osy"),
        Keys("a"),
        Keys("Xy"),
        Fill(4999.0),
        Keys("LLIVE\n"),
        Keys("Ly"),
    ];
    let mut keys_sent = BTreeSet::new();
    let mut commands = 0;
    for (n, step) in script.iter().enumerate() {
        let Keys(keys) = step else {
            for d in [&local, &remote] {
                play(d, step, n + 1).await;
            }
            for c in &mut consoles {
                c.refresh().await;
            }
            continue;
        };
        let [l, r] = &mut consoles;
        let (sent_l, sent_r) = (l.type_keys(keys).await, r.type_keys(keys).await);
        assert_eq!(
            sent_l, sent_r,
            "{keys:?}: the commands and their answers differ"
        );
        // the key that sends: the first one after the entry modes (m z o), before y/n/Enter
        if let Some(k) = keys.chars().find(|c| !"mzo".contains(*c))
            && !sent_l.is_empty()
        {
            keys_sent.insert(k);
        }
        commands += sent_l.len();
        // the entry modes reach the command
        let cmd = sent_l.first().map(|(c, _)| c.clone()).unwrap_or_default();
        match *keys {
            "mzb" => assert_eq!(
                (&cmd["trade_mode"], &cmd["entry_size_mode"]),
                (&json!("RUNNER"), &json!("9pt")),
                "{cmd}"
            ),
            "osy" => assert_eq!(
                (&cmd["entry_override"], &cmd["direction"]),
                (&json!(true), &json!("SELL")),
                "{cmd}"
            ),
            "mz" | "a" => assert!(sent_l.is_empty()),
            _ => assert!(!sent_l.is_empty(), "{keys:?} sent nothing"),
        }
        let (sl, sr) = (
            local.state_without_clock().await,
            remote.state_without_clock().await,
        );
        assert_eq!(
            without_ids(&sl),
            without_ids(&sr),
            "{keys:?}: the desks differ after the same command"
        );
        let (ol, or) = (local.orders("ES").await, remote.orders("ES").await);
        assert_eq!(
            without_ids(&json!(ol)),
            without_ids(&json!(or)),
            "{keys:?}: orders"
        );
    }
    // every Desk key that sends a command was sent through both links
    let senders: BTreeSet<char> = BINDINGS
        .iter()
        .filter(|b| b.scope == Scope::Tab(brickdesk::tui::app::Tab::Desk))
        .filter(|b| {
            !matches!(
                b.action,
                Action::ToggleTradeMode
                    | Action::ToggleSizeMode
                    | Action::ToggleOverride
                    | Action::ChartSmaller
                    | Action::ChartLarger
            )
        })
        .map(|b| match b.code {
            KeyCode::Char(c) => c,
            other => panic!("a Desk key that is not a character: {other:?}"),
        })
        .collect();
    assert_eq!(keys_sent, senders, "keys sent vs the Desk's command keys");
    // the script did things: entries, exits, a scale-in, resolutions and refusals
    let es = local.orders("ES").await;
    assert!(
        commands >= 30 && es.len() >= 6,
        "{commands} commands, {} orders",
        es.len()
    );
    let s = local.state().await;
    assert_eq!(s["env"], "DEMO");
    assert!(s["assets"][0]["position"].is_null(), "{s}");
}

/// `brickdesk console --connect …` as the operator runs it; its exit status and stderr.
fn attach(base: &str, password: Option<&str>) -> (bool, String) {
    let mut cmd = bin();
    cmd.env(
        "XDG_STATE_HOME",
        std::env::temp_dir().join("brickdesk-attach-test"),
    )
    .args(["console", "--connect", base]);
    if let Some(pw) = password {
        cmd.args(["--password", pw]);
    }
    let out = output_within(&mut cmd, 30);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_console_says_why_it_cannot_start() {
    let d = TestDesk::start().await;
    let base = d.base.clone();
    let (ok, err) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || attach(&base, Some("not-the-password"))
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        err.contains(&format!("login to {base} refused: wrong password")),
        "{err}"
    );
    let (ok, err) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || attach(&base, None)
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        err.contains("needs the operator password: set DASHBOARD_PASSWORD or pass --password"),
        "{err}"
    );
    // a port nothing listens on
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let (ok, err) = tokio::task::spawn_blocking({
        let gone = gone.clone();
        move || attach(&gone, Some(PASSWORD))
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(err.contains(&format!("cannot reach {gone}")), "{err}");
    // nothing was changed by the refused login
    assert!(d.state().await["assets"][0]["position"].is_null());
}
