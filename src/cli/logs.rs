//! Where the commands' tracing goes: stdout for the headless ones, a file for the console (it
//! never logs to the screen). `BRICKDESK_LOG` filters both; the default is `info`.
use anyhow::Context;
use std::path::Path;
use tracing_subscriber::EnvFilter;

/// Logs to stdout, in color on a terminal unless `NO_COLOR` is set.
pub fn init_stdout() {
    let color = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(color)
        .init();
}

/// Logs to the file at `path` (appended, its directory created), never to the screen.
pub fn init_file(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        // the data dir when it is the log's home: the operator's alone, as `start_engine` makes it
        super::wiring::private_dir(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(())
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("BRICKDESK_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}
