//! The console: ratatui over the same engine the server serves. `app` holds UI state and turns
//! keys into commands, `ui`/`panes` draw it, `link` reaches the engine (in process or attached),
//! `terminal` owns the screen. Redraws happen on events, key presses and one countdown tick a
//! second — never in a sleep loop.
mod actions;
pub mod app;
pub mod chat;
pub mod keys;
pub mod link;
mod link_chat;
mod modal;
pub mod panes;
pub mod terminal;
pub mod theme;
pub mod ui;

use app::{App, Effect, Snapshot, Tone};
use chat::{ChatCommand, ChatEvent};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use link::Link;
use ratatui::Terminal;
use ratatui::backend::Backend;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Runs the console until `q`, Ctrl-C or `shutdown` resolves. Generic over the backend so tests
/// can drive it on a `TestBackend`.
pub async fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    link: Link,
    mut input: impl futures_util::Stream<Item = std::io::Result<Event>> + Unpin,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    tokio::pin!(shutdown);
    let mut events = link.events();
    let (snap_tx, mut snaps) = mpsc::channel::<anyhow::Result<Snapshot>>(4);
    let (done_tx, mut dones) = mpsc::channel::<Result<String, String>>(16);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // the chat: its events, the generation in flight, the conversation being fetched
    let (chat_tx, mut chat_rx) = mpsc::unbounded_channel::<ChatEvent>();
    // cancelled however the loop ends (an error return too): a generation left running would
    // hold the engine for up to its total deadline
    let mut generation: Option<tokio_util::sync::DropGuard> = None;
    let mut loading: Option<Option<String>> = None;
    // chat work ends with the console: the link each task holds keeps the engine alive
    let closing = CancellationToken::new();
    let _closing = closing.clone().drop_guard();
    let (l, tx, c) = (link.clone(), chat_tx.clone(), closing.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = probe_ollama(l, tx) => {}
            _ = c.cancelled() => {}
        }
    });
    let chat = |cmd: ChatCommand, cancel: CancellationToken| {
        let (l, tx, c) = (link.clone(), chat_tx.clone(), closing.clone());
        // only reads are cut short: a generation is cancelled instead (its answer is kept as
        // cancelled), and an apply, a reject or a grant runs to its end (they are bounded)
        let ask = !matches!(cmd, ChatCommand::Load(_) | ChatCommand::Models);
        tokio::spawn(async move {
            tokio::select! {
                _ = l.chat(cmd, cancel, tx) => {}
                _ = c.cancelled(), if !ask => {}
            }
        });
    };
    let mut fetching = false;
    let mut fetch_again = true;
    let mut dirty = true;
    loop {
        if !fetching && fetch_again {
            fetching = true;
            fetch_again = false;
            let (l, tx, runs) = (link.clone(), snap_tx.clone(), app.runs_wanted());
            tokio::spawn(async move {
                let _ = tx.send(l.fetch(runs).await).await;
            });
        }
        if let Some(ChatCommand::Load(run)) = app.chat_wants()
            && loading.as_ref() != Some(&run)
        {
            loading = Some(run.clone());
            chat(ChatCommand::Load(run), CancellationToken::new());
        }
        if dirty {
            terminal.draw(|f| ui::draw(f, app))?;
            dirty = false;
        }
        tokio::select! {
            _ = &mut shutdown => break,
            key = input.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    let before = app.asset;
                    let effect = app.on_key(k);
                    // a key typed into the chat input changes nothing to fetch
                    fetch_again |= !(app.chat.typing && effect == Effect::None);
                    match effect {
                        Effect::Quit => break,
                        Effect::Send(cmd) => {
                            app.set_status(Tone::Info, "sending…");
                            let (l, tx) = (link.clone(), done_tx.clone());
                            tokio::spawn(async move {
                                let _ = tx.send(l.send(cmd).await).await;
                            });
                        }
                        Effect::Run(cmd) => {
                            app.set_status(Tone::Info, "sending…");
                            let (l, tx) = (link.clone(), done_tx.clone());
                            tokio::spawn(async move {
                                let _ = tx.send(l.run(cmd).await).await;
                            });
                        }
                        Effect::Chat(ChatCommand::Cancel) => {
                            // dropped: cancelled
                            generation = None;
                        }
                        Effect::Chat(cmd) => {
                            let cancel = CancellationToken::new();
                            if matches!(cmd, ChatCommand::Ask(_)) {
                                generation = Some(cancel.clone().drop_guard());
                            }
                            if let ChatCommand::Load(run) = &cmd {
                                loading = Some(run.clone());
                            }
                            chat(cmd, cancel);
                        }
                        Effect::None => {}
                    }
                    let _ = before;
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(snap) = snaps.recv() => {
                fetching = false;
                match snap {
                    Ok(s) => app.set_snapshot(s),
                    Err(e) => {
                        app.link_ok = false;
                        tracing::warn!(error = %e, "fetch failed");
                    }
                }
                dirty = true;
            }
            Some(result) = dones.recv() => {
                app.command_done(result);
                fetch_again = true;
                dirty = true;
            }
            Some(_ev) = events.recv() => fetch_again = true,
            Some(ev) = chat_rx.recv() => {
                match &ev {
                    // the generation is over: its guard goes without cancelling anything
                    ChatEvent::Answer(_) | ChatEvent::Failed(_) => {
                        if let Some(g) = generation.take() {
                            g.disarm();
                        }
                    }
                    ChatEvent::Conversation(..) | ChatEvent::LoadFailed(..) => loading = None,
                    _ => {}
                }
                if let Some(next) = app.chat_event(ev) {
                    if let ChatCommand::Load(run) = &next {
                        loading = Some(run.clone());
                    }
                    chat(next, CancellationToken::new());
                }
                dirty = true;
            }
            _ = tick.tick() => {
                fetch_again = true;
                dirty |= app.chat_tick();
            }
        }
    }
    Ok(())
}

/// Ollama as the chat service sees it: asked at start and every 30 s.
async fn probe_ollama(link: Link, tx: mpsc::UnboundedSender<ChatEvent>) {
    let mut every = tokio::time::interval(Duration::from_secs(30));
    loop {
        every.tick().await;
        if tx
            .send(ChatEvent::Health(link.ollama_health().await))
            .is_err()
        {
            break;
        }
    }
}

/// The console on the real terminal: enters it, runs, and restores it whatever happens.
pub async fn run_on_terminal(app: &mut App, link: Link) -> anyhow::Result<()> {
    let mut term = terminal::enter()?;
    let result = run(
        &mut term,
        app,
        link,
        EventStream::new(),
        terminal::hangup_or_term(),
    )
    .await;
    terminal::restore();
    result
}
