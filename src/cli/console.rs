//! `brickdesk console`, the default command: the TUI over a local engine with its server in the
//! same process, or attached to a running `brickdesk serve`; also the console half of the demo.
use super::{LOG_TARGET, logs, wiring};
use crate::config::Config;
use crate::engine::handle::EngineHandle;
use crate::tui::app::{App, View};
use crate::tui::link::{Link, Remote};
use crate::tui::theme::Theme;
use anyhow::Context;
use std::path::PathBuf;

/// The console's own flags, shared by `console` and `demo`.
#[derive(clap::Args, Clone)]
pub struct UiArgs {
    /// Attach to a running `brickdesk serve` instead of starting an engine here
    #[arg(long, value_name = "URL")]
    connect: Option<String>,
    /// Operator password for --connect (default: $DASHBOARD_PASSWORD)
    #[arg(long, env = "DASHBOARD_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// One pane full-screen, for tmux dashboards: desk, renko, positions, orders, log
    #[arg(long)]
    view: Option<String>,
    /// Color theme: dark, light, high-contrast, monochrome, or a file in <config dir>/brickdesk/themes/
    #[arg(long, default_value = "dark")]
    theme: String,
}

/// What a bare `brickdesk` runs: no flags given (and no $DASHBOARD_PASSWORD read).
impl Default for UiArgs {
    fn default() -> Self {
        UiArgs {
            connect: None,
            password: None,
            view: None,
            theme: "dark".into(),
        }
    }
}

#[derive(clap::Args, Default)]
pub struct ConsoleArgs {
    #[command(flatten)]
    ui: UiArgs,
    #[arg(long)]
    host: Option<String>,
    /// Port of the in-process server (0 picks a free one)
    #[arg(long)]
    port: Option<u16>,
}

pub fn run(mut cfg: Config, args: ConsoleArgs) -> anyhow::Result<()> {
    let ConsoleArgs { ui, host, port } = args;
    let host = host.unwrap_or_else(|| cfg.server.host.clone());
    cfg.server.host = host.clone();
    let port = port.unwrap_or(cfg.server.port);
    let app = app(&ui)?;
    if ui.connect.is_none() {
        cfg.check_bind(&host, false)?;
    }
    logs::init_file(&log_path(&cfg, ui.connect.is_some()))?;
    wiring::tokio_main(console(cfg, ui, app, host, port))
}

/// The console's UI state from its flags (checked before the terminal is taken over).
pub(super) fn app(ui: &UiArgs) -> anyhow::Result<App> {
    let theme = Theme::load(&ui.theme)?;
    let mut app = App::new(theme, "starting…".into());
    if let Some(v) = &ui.view {
        app.view = Some(View::parse(v).with_context(|| {
            format!("--view {v:?}: choose one of desk, renko, positions, orders, log")
        })?);
    }
    Ok(app)
}

fn log_path(cfg: &Config, attached: bool) -> PathBuf {
    if attached {
        dirs::state_dir()
            .or_else(dirs::data_dir)
            .unwrap_or_else(std::env::temp_dir)
            .join("brickdesk")
            .join("console.log")
    } else {
        cfg.data_dir().join("brickdesk.log")
    }
}

async fn console(
    cfg: Config,
    ui: UiArgs,
    mut app: App,
    host: String,
    port: u16,
) -> anyhow::Result<()> {
    app.chat = crate::tui::chat::ChatView::new(cfg.chat.model.clone());
    if let Some(url) = &ui.connect {
        let remote = Remote::connect(url, ui.password.as_deref())
            .await?
            .with_stage1_token(cfg.research.tokens.first().cloned());
        app.sandbox = remote.sandbox_mode().await;
        let link = Link::Remote(remote);
        app.link_label = format!("attached to {}", link.label());
        return crate::tui::run_on_terminal(&mut app, link).await;
    }
    let data_dir = cfg.data_dir();
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    let bound = wiring::bind(&host, port).await?;
    app.link_label = format!(
        "local engine · server http://{} · data {}",
        bound.addr,
        data_dir.display()
    );
    tracing::info!(target: LOG_TARGET, "console; server on http://{}", bound.addr);
    let result = with_server(&mut app, engine, bound, &cfg).await;
    thread.join().ok();
    result
}

/// The in-process server in the background and the console in front, sharing one engine and one
/// run service; the server stops when the console does.
pub(super) async fn with_server(
    app: &mut App,
    engine: EngineHandle,
    bound: wiring::Bound,
    cfg: &Config,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let research =
        crate::services::research::ResearchService::open(engine.clone(), cfg.research.clone())?;
    let services = crate::services::Services::start(
        &engine,
        cfg.runner_limits(),
        cfg.ollama(),
        research,
        cfg.chat.concurrency,
    )?;
    app.sandbox = Some(services.runs.limits().mode().name().into());
    let link = Link::Local(engine.clone(), services.clone());
    let server = {
        let cfg = cfg.clone();
        tokio::spawn(async move {
            wiring::run_server(bound, engine, &cfg, Some(services), async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let result = crate::tui::run_on_terminal(app, link).await;
    let _ = stop.send(());
    let _ = server.await;
    result
}
