//! Work beside the desk actor: each service has its own store connection (WAL: it never holds
//! the desk's transaction), bounded workers and cancellation. Parity runs; the market-data
//! providers; the demo's simulated market and paper bridge (which reach the desk over HTTP, like
//! TradingView and a real bridge). Backtests, research jobs and chat join here.
pub mod backtest;
pub mod chat;
pub mod demo;
pub mod ollama;
pub mod providers;
pub mod research;
pub mod runs;
pub mod sessions;

/// The services the server and the in-process console share (one of each per process).
#[derive(Clone)]
pub struct Services {
    pub runs: runs::RunService,
    pub backtests: backtest::BacktestService,
    pub research: research::ResearchService,
    pub chat: chat::ChatService,
}
