//! The console's Chat tab: frames on a `TestBackend` mid-stream and with a proposed patch (80×24
//! and 160×48), and the whole loop against the stand-in Ollama: a question typed and its answer
//! streamed, a fix proposed, refused without a grant, granted and applied from the keys.
use crate::chat::diverging_run;
use crate::support::fixture;
use crate::support::ollama::{self, FIX_DIFF};
use crate::support::*;
use brickdesk::services::chat::store::StoredMessage;
use brickdesk::services::ollama::ModelInfo;
use brickdesk::tui::app::{App, Tab};
use brickdesk::tui::chat::{OllamaHealth, Pending};
use brickdesk::tui::link::Link;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;

fn msg(id: i64, role: &str, content: &str, patch: Option<&str>) -> StoredMessage {
    StoredMessage {
        id,
        run_id: Some("run-1234abcd".into()),
        role: role.into(),
        content: content.into(),
        model: Some("qwen2.5-coder:7b".into()),
        intent: Some(
            if patch.is_some() {
                "apply_fix"
            } else {
                "analysis"
            }
            .into(),
        ),
        status: (role == "assistant").then(|| "ok".into()),
        error_class: None,
        targets: vec![
            "pine_code".into(),
            "python_code".into(),
            "run_artifacts".into(),
        ],
        proposed_patch: patch.map(str::to_string),
        patch_state: patch.map(|_| "proposed".into()),
        created_at: "2026-12-01T12:00:00+00:00".into(),
    }
}

async fn chat_app() -> App {
    let f = fixture::rich_desk().await;
    let mut app = fixture::app(&f, "dark").await;
    app.tab = Tab::Chat;
    app.status = None;
    app.ollama = Some(OllamaHealth {
        base_url: "http://127.0.0.1:11434".into(),
        reachable: true,
        version: Some("0.12.3".into()),
        detail: String::new(),
    });
    app.chat.models = vec![ModelInfo {
        name: "qwen2.5-coder:7b".into(),
        model: "qwen2.5-coder:7b".into(),
        size: 4_683_087_332,
        modified_at: "2026-11-30T09:15:00Z".into(),
        chat_capable: true,
    }];
    app.chat.model = Some("qwen2.5-coder:7b".into());
    app.chat.run = Some("run-1234abcd".into());
    app.chat.loaded = Some(Some("run-1234abcd".into()));
    app
}

fn frame(app: &App, w: u16, h: u16) -> (String, ratatui::buffer::Buffer) {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|fr| brickdesk::tui::ui::draw(fr, app)).unwrap();
    (term.backend().to_string(), term.backend().buffer().clone())
}

#[tokio::test]
async fn mid_stream_the_answer_so_far_shows_with_its_code_block_set_apart() {
    let mut app = chat_app().await;
    app.chat.messages = vec![
        msg(1, "user", "Why does ema_fast differ?", None),
        msg(2, "assistant", "The first mismatch is at bar 21.", None),
    ];
    app.chat.typing = true;
    app.chat.pending = Some(Pending {
        question: "Show me the seeding.".into(),
        model: "qwen2.5-coder:7b".into(),
        text: "Pandas seeds with the first close:\n\n```python\nframe[\"close\"].ewm(span=21, adjust=False)\n".into(),
        seconds: 3,
    });
    for (w, h) in [(80, 24), (160, 48)] {
        let (text, buffer) = frame(&app, w, h);
        for needle in [
            "you  Show me the seeding.",
            "answering… 3 s (Esc cancels)",
            "╭─ python",
            "│ frame[\"close\"].ewm(span=21, adjust=False)",
            "Pandas seeds with the first close:",
            "answer coming: Esc cancels it",
            "Esc cancel the answer",
        ] {
            assert!(text.contains(needle), "{w}x{h} lacks {needle:?}:\n{text}");
        }
        // the answer so far ends with the cursor, the newest at the bottom of the transcript
        assert!(text.contains("▌"), "{text}");
        insta::assert_snapshot!(format!("chat_mid_stream_{w}x{h}"), text);
        let code_row = (0..h)
            .find(|&y| {
                (0..w)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .contains("│ frame[")
            })
            .unwrap();
        let x = (0..w)
            .find(|&x| buffer[(x, code_row)].symbol() == "f")
            .unwrap();
        assert_eq!(buffer[(x, code_row)].fg, app.theme.accent().fg.unwrap());
    }
}

#[tokio::test]
async fn a_proposed_patch_shows_as_a_colored_diff_with_approve_and_reject() {
    let mut app = chat_app().await;
    let answer = format!("Pine seeds ta.ema with an SMA.\n\n```diff\n{FIX_DIFF}```");
    // the patch as the service proposes it: recounted
    let patch = brickdesk::services::chat::patch::extract(&answer).unwrap();
    app.chat.messages = vec![
        msg(1, "user", "Fix the seeding.", None),
        msg(2, "assistant", &answer, Some(&patch)),
    ];
    app.chat.fix = true;
    for (w, h) in [(80, 24), (160, 48)] {
        let (text, buffer) = frame(&app, w, h);
        for needle in [
            "proposed patch · A apply & replay · X reject · W grant one write",
            "asks a fix",
            "+    seeded.iloc[:20] = float(\"nan\")",
        ] {
            assert!(text.contains(needle), "{w}x{h} lacks {needle:?}:\n{text}");
        }
        insta::assert_snapshot!(format!("chat_patch_{w}x{h}"), text);
        // added lines in the theme's up color, removed in its down color
        let color_of = |prefix: &str| {
            let y = (0..h)
                .rev()
                .find(|&y| {
                    (0..w)
                        .map(|x| buffer[(x, y)].symbol())
                        .collect::<String>()
                        .trim_start_matches('│')
                        .starts_with(prefix)
                })
                .unwrap_or_else(|| panic!("{w}x{h}: no row starts with {prefix:?}\n{text}"));
            let x = (0..w)
                .find(|&x| buffer[(x, y)].symbol() == &prefix[..1])
                .unwrap();
            buffer[(x, y)].fg
        };
        assert_eq!(Some(color_of("+    seeded = ")), app.theme.up().fg);
        assert_eq!(Some(color_of("-    frame[")), app.theme.down().fg);
    }
}

use crate::tui_loop::{Console, console_on};

/// Keys for the console, one at a time.
trait Keys {
    async fn key(&self, code: KeyCode);
    async fn text(&self, s: &str);
}

impl Keys for Console {
    async fn key(&self, code: KeyCode) {
        let ev = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
        self.keys.send(ev).await.unwrap();
        // a moment for the loop to act (and fetch) before the next key
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    async fn text(&self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c)).await;
        }
    }
}

/// Polls `path` until `ok` holds.
async fn until(d: &TestDesk, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let (_, v) = d.get(path).await;
        if ok(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not seen at {path}");
}

#[tokio::test]
async fn from_the_chat_tab_a_question_streams_and_a_fix_applies_only_by_grant() {
    let (url, seen) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let (run, _) = diverging_run(&d).await;
    let conv = format!("/chat/conversations?run_id={run}");
    let c = console_on(Link::local_with_ollama(d.engine.clone(), &url).unwrap()).await;
    for _ in 0..4 {
        c.key(KeyCode::Tab).await;
    }
    // the newest run's conversation (once the tab has fetched the run list), a question sent
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.key(KeyCode::Char(']')).await;
    c.key(KeyCode::Enter).await;
    c.text("Why does ema_fast differ?").await;
    c.key(KeyCode::Enter).await;
    until(&d, &conv, "the streamed answer", |v| {
        v["messages"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    assert_eq!(seen.chats()[0]["model"], "stand-in:latest");
    // (the answer reaches the console just after it is kept)
    tokio::time::sleep(Duration::from_millis(600)).await;
    // a fix: the fixer model picked (m, ↓, Enter), f, the question
    c.key(KeyCode::Esc).await;
    c.key(KeyCode::Char('m')).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    c.key(KeyCode::Down).await;
    c.key(KeyCode::Enter).await;
    c.key(KeyCode::Char('f')).await;
    c.key(KeyCode::Enter).await;
    c.text("Fix it.").await;
    c.key(KeyCode::Enter).await;
    until(&d, &conv, "the proposed patch", |v| {
        v["messages"][3]["patch_state"] == "proposed"
    })
    .await;
    assert_eq!(seen.chats()[1]["model"], "fixer:latest");
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.key(KeyCode::Esc).await;
    // A, y: refused without a grant
    c.key(KeyCode::Char('A')).await;
    c.key(KeyCode::Char('y')).await;
    until(&d, "/permissions/audit", "the refusal", |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    // W, y grants one write; A, y applies and replays
    c.key(KeyCode::Char('W')).await;
    c.key(KeyCode::Char('y')).await;
    until(&d, "/permissions", "the grant", |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    c.key(KeyCode::Char('A')).await;
    c.key(KeyCode::Char('y')).await;
    let audit = until(&d, "/permissions/audit", "the application", |v| {
        v[1]["replay_run_id"].is_string()
    })
    .await;
    assert_eq!(
        (&audit[0]["outcome"], &audit[1]["outcome"]),
        (&Value::from("refused"), &Value::from("applied"))
    );
    let replay = audit[1]["replay_run_id"].as_str().unwrap();
    let (_, st) = d.get(&format!("/runs/{replay}")).await;
    assert_eq!(st["comparison"]["summary"]["aligned"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.key(KeyCode::Char('q')).await;
    let (app, term) = tokio::time::timeout(Duration::from_secs(10), c.done)
        .await
        .expect("the console quits")
        .unwrap();
    let screen = term.backend().to_string();
    assert!(screen.contains("Pine with an SMA."), "{screen}");
    assert!(screen.contains("patch applied"), "{screen}");
    let status = app.status.unwrap().text;
    assert!(
        status.starts_with("patch applied, the mismatch went away")
            && status.contains(&format!("replay {replay}")),
        "{status}"
    );
}

/// Every event `cmd` sends back through `link`.
async fn events(
    link: &Link,
    cmd: brickdesk::tui::chat::ChatCommand,
) -> Vec<brickdesk::tui::chat::ChatEvent> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    link.chat(cmd, tokio_util::sync::CancellationToken::new(), tx)
        .await;
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn an_attached_console_streams_loads_and_applies_through_the_servers_routes() {
    use brickdesk::services::chat::{ChatRequest, Message};
    use brickdesk::tui::chat::{ChatCommand, ChatEvent};
    let (url, _) = ollama::start().await;
    let d = TestDesk::start_with_ollama(&url).await;
    let (run, _) = diverging_run(&d).await;
    let remote = brickdesk::tui::link::Remote::connect(&d.base, Some(PASSWORD))
        .await
        .unwrap();
    let link = Link::Remote(remote);
    let ask = |model: &str, intent: &str| {
        ChatCommand::Ask(Box::new(ChatRequest {
            model: model.into(),
            intent: intent.into(),
            messages: vec![Message {
                role: "user".into(),
                content: "Why?".into(),
            }],
            include_targets: vec!["run_artifacts".into()],
            run_id: Some(run.clone()),
        }))
    };
    // the answer's pieces as they came, then the answer
    let ev = events(&link, ask("stand-in:latest", "analysis")).await;
    let pieces: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Delta(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(pieces, ollama::ANSWER);
    match ev.last() {
        Some(ChatEvent::Answer(a)) => {
            assert_eq!(
                (a.status.as_str(), a.content.as_str()),
                ("ok", ollama::ANSWER.concat().as_str())
            )
        }
        other => panic!("{other:?}"),
    }
    match &events(&link, ChatCommand::Load(Some(run.clone()))).await[..] {
        [ChatEvent::Conversation(Some(r), m)] => assert_eq!((r, m.len()), (&run, 2)),
        other => panic!("{other:?}"),
    }
    match &events(&link, ChatCommand::Models).await[..] {
        [ChatEvent::Models(Ok(m)), ChatEvent::Health(Some(h))] => {
            assert_eq!(m.iter().filter(|m| m.chat_capable).count(), 3);
            assert!(h.reachable && h.version.as_deref() == Some("0.12.3"));
        }
        other => panic!("{other:?}"),
    }
    // a fix: proposed, refused without a grant, granted, applied and replayed
    let patch = match events(&link, ask("fixer:latest", "apply_fix")).await.pop() {
        Some(ChatEvent::Answer(a)) if a.requires_approval => a.proposed_patch.unwrap(),
        other => panic!("{other:?}"),
    };
    let apply = || ChatCommand::Apply {
        run_id: run.clone(),
        patch: patch.clone(),
    };
    let done = |ev: Vec<ChatEvent>| match ev.into_iter().next() {
        Some(ChatEvent::Done { result, .. }) => result,
        other => panic!("{other:?}"),
    };
    let refused = done(events(&link, apply()).await).unwrap_err();
    assert!(
        refused.starts_with("write access to python_code is not allowed"),
        "{refused}"
    );
    let granted = done(events(&link, ChatCommand::GrantWrite).await).unwrap();
    assert!(granted.contains("one write of python_code"), "{granted}");
    let applied = done(events(&link, apply()).await).unwrap();
    assert!(
        applied.starts_with("patch applied, the mismatch went away: replay run-"),
        "{applied}"
    );
}
