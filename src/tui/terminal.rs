//! Owns the terminal: raw mode and the alternate screen on the way in, and always back out —
//! on quit, on error, on panic (hook), and on SIGTERM / SIGHUP (the loop's shutdown future).
use crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{Stdout, stdout};

pub type Term = Terminal<CrosstermBackend<Stdout>>;

pub fn enter() -> anyhow::Result<Term> {
    install_panic_hook();
    terminal::enable_raw_mode()?;
    execute!(stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
    let mut t = Terminal::new(CrosstermBackend::new(stdout()))?;
    t.clear()?;
    Ok(t)
}

/// Leaves raw mode and the alternate screen; safe to call twice.
pub fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(stdout(), terminal::LeaveAlternateScreen, cursor::Show);
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // an engine job's panic is caught and rolled back, and the desk goes on: it goes to the
        // log file, not over the screen, and the console keeps the terminal
        if std::thread::current().name() == Some(crate::engine::handle::ENGINE_THREAD) {
            tracing::error!(panic = %info, "an engine job panicked");
            return;
        }
        restore();
        previous(info);
    }));
}

/// Resolves on SIGTERM or SIGHUP (an SSH drop); Ctrl-C arrives as a key in raw mode. The
/// handlers are installed at the call, before the terminal is taken over.
pub fn hangup_or_term() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (term, hup) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        );
        async move {
            let (Ok(mut term), Ok(mut hup)) = (term, hup) else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: leaving the console"),
                _ = hup.recv() => tracing::info!("SIGHUP: leaving the console"),
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>()
}
