//! The real console loop (`tui::run`) on a TestBackend, driven by a scripted key stream over a
//! real desk: keys are scoped to their tab, LIVE entries ask first, and the Chat input takes
//! every key as text.
use crate::support::TestDesk;
use brickdesk::tui::app::App;
use brickdesk::tui::link::Link;
use brickdesk::tui::theme::Theme;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

pub(crate) struct Console {
    pub keys: mpsc::Sender<Event>,
    pub done: tokio::task::JoinHandle<(App, Terminal<TestBackend>)>,
}

/// Starts `tui::run` over the desk's engine with a key stream the test feeds.
async fn console(d: &TestDesk) -> Console {
    console_on(Link::local(d.engine.clone()).unwrap()).await
}

/// The same over `link`.
pub(crate) async fn console_on(link: Link) -> Console {
    let mut app = App::new(Theme::embedded("dark").unwrap(), "test".into());
    app.set_snapshot(link.fetch(Default::default()).await.unwrap());
    let (keys, rx) = mpsc::channel::<Event>(64);
    let input = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok(e), rx))
    }));
    let done = tokio::spawn(async move {
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        brickdesk::tui::run(&mut term, &mut app, link, input, std::future::pending())
            .await
            .unwrap();
        (app, term)
    });
    Console { keys, done }
}

impl Console {
    async fn press(&self, keys: &[KeyCode]) {
        for k in keys {
            let ev = Event::Key(KeyEvent::new(*k, KeyModifiers::NONE));
            self.keys.send(ev).await.unwrap();
        }
    }
    async fn type_str(&self, s: &str) {
        let keys: Vec<KeyCode> = s.chars().map(KeyCode::Char).collect();
        self.press(&keys).await;
    }
    async fn quit(self) -> (App, Terminal<TestBackend>) {
        self.type_str("q").await;
        tokio::time::timeout(Duration::from_secs(10), self.done)
            .await
            .expect("the console quits")
            .unwrap()
    }
}

/// Waits (bounded) until `cond` holds on the desk.
async fn until(d: &TestDesk, what: &str, cond: impl Fn(&serde_json::Value) -> bool) {
    for _ in 0..200 {
        if cond(&d.state().await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}: {}", d.state().await);
}

fn orders_of(state: &serde_json::Value, asset: &str) -> usize {
    state["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["asset"] == asset)
        .count()
}

/// LIVE, with a fresh bridge (LIVE entries need one): an entry that is sent gets an order.
async fn go_live(d: &TestDesk) {
    let (code, body) = d.post("/api/env", json!({ "env": "LIVE" })).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = d
        .post_anon(
            &format!("/api/bridge/heartbeat?secret={}", crate::support::BRIDGE),
            json!({ "tsConnected": true, "mdConnected": true, "repoOk": true }),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(d.asset("NQ").await["entry_block"], serde_json::Value::Null);
}

#[tokio::test]
async fn order_keys_act_on_the_desk_tab_only() {
    let d = TestDesk::start().await;
    d.make_ready("ES", "green", 5000.0).await;
    d.make_ready("NQ", "green", 21000.0).await;
    let c = console(&d).await;
    // on the Runs tab, `b` is no command: ES must stay without an order
    c.press(&[KeyCode::Tab]).await;
    c.type_str("b").await;
    // back on the Desk, NQ selected: `b` sends NQ's entry at once (DEMO: no question)
    c.press(&[KeyCode::BackTab]).await;
    c.type_str("ab").await;
    until(&d, "the NQ entry", |s| orders_of(s, "NQ") == 1).await;
    c.quit().await;
    let s = d.state().await;
    assert_eq!(orders_of(&s, "ES"), 0, "`b` on the Runs tab sent an order");
    assert_eq!(s["assets"][1]["pending_order"]["side"], "BUY", "{s}");
}

#[tokio::test]
async fn in_live_an_entry_key_asks_and_n_sends_nothing_and_chat_takes_every_key() {
    let d = TestDesk::start().await;
    d.make_ready("NQ", "green", 21000.0).await;
    go_live(&d).await;
    let c = console(&d).await;
    // NQ, `b`: in LIVE the console asks; `n` declines
    c.type_str("abn").await;
    // a key that does send (6pt flip on NQ) shows the loop went on past the question
    c.type_str("f").await;
    until(&d, "NQ flip armed", |s| {
        s["assets"][1]["exits"]["main_flip"] == true
    })
    .await;
    assert_eq!(orders_of(&d.state().await, "NQ"), 0, "`n` sent the entry");
    // Chat: Enter starts typing; `q` and `b` are text, not quit and buy
    c.press(&[KeyCode::Tab, KeyCode::Tab, KeyCode::Tab, KeyCode::Tab])
        .await;
    c.press(&[KeyCode::Enter]).await;
    c.type_str("qb").await;
    c.press(&[KeyCode::Esc]).await;
    let (app, term) = c.quit().await;
    assert_eq!(app.chat.input.lines(), ["qb"], "the typed text");
    assert_eq!(
        orders_of(&d.state().await, "NQ"),
        0,
        "`b` in the chat input sent an order"
    );
    let screen = term.backend().to_string();
    assert!(screen.contains("qb"), "the input shows the text:\n{screen}");
    // the refusal of going back: LIVE still
    assert_eq!(d.state().await["env"], "LIVE");
}

#[tokio::test]
async fn in_live_y_sends_the_entry_after_the_question() {
    let d = TestDesk::start().await;
    d.make_ready("NQ", "green", 21000.0).await;
    go_live(&d).await;
    let c = console(&d).await;
    c.type_str("aby").await;
    until(&d, "the NQ entry", |s| orders_of(s, "NQ") == 1).await;
    let (app, _) = c.quit().await;
    assert!(app.modal.is_none());
}
