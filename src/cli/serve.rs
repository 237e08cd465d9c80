//! `brickdesk serve`: the headless server (webhooks, bridge, operator API) over a local engine,
//! logging to stdout and stopping cleanly on SIGTERM/SIGINT.
use super::{LOG_TARGET, logs, wiring};
use crate::config::Config;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[arg(long)]
    host: Option<String>,
    /// Port (0 picks a free one; the address is logged)
    #[arg(long)]
    port: Option<u16>,
    /// Allow binding off loopback with no dashboard password or secrets
    #[arg(long)]
    insecure_no_password: bool,
}

pub fn run(mut cfg: Config, args: ServeArgs) -> anyhow::Result<()> {
    logs::init_stdout();
    let host = args.host.unwrap_or_else(|| cfg.server.host.clone());
    // the Host guard allows the name the server was started on
    cfg.server.host = host.clone();
    let port = args.port.unwrap_or(cfg.server.port);
    cfg.check_bind(&host, args.insecure_no_password)?;
    wiring::tokio_main(serve(cfg, host, port))
}

async fn serve(cfg: Config, host: String, port: u16) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir();
    let (engine, thread) = wiring::start_engine(&cfg, &data_dir, wiring::system_clock())?;
    let bound = wiring::bind(&host, port).await?;
    let shutdown = crate::server::shutdown_signal();
    tracing::info!(target: LOG_TARGET, data_dir = %data_dir.display(), secrets = ?cfg.secrets, "brickdesk serve");
    tracing::info!(target: LOG_TARGET, "listening on http://{}", bound.addr);
    tracing::info!(
        target: LOG_TARGET,
        host = %cfg.server.host,
        allowed_hosts = ?cfg.server.allowed_hosts,
        cors_origins = ?cfg.server.cors_origins,
        "browser guard: Host must be a loopback name, host or one of allowed_hosts; cross-origin pages only from cors_origins"
    );
    wiring::run_server(bound, engine, &cfg, None, shutdown).await?;
    thread.join().ok();
    tracing::info!(target: LOG_TARGET, "stopped cleanly");
    Ok(())
}
