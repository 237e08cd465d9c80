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

impl Services {
    /// The run, backtest and chat services over `engine` (Python strategies run with
    /// `python`, the models answer at `ollama`), beside `research`.
    pub fn start(
        engine: &crate::engine::handle::EngineHandle,
        python: crate::engine::runs::python::Limits,
        ollama: ollama::Ollama,
        research: research::ResearchService,
        chat_concurrency: usize,
    ) -> crate::engine::error::DeskResult<Services> {
        let runs = runs::RunService::new(engine.clone(), python)?;
        let backtests =
            backtest::BacktestService::new(engine.clone(), runs.limits().clone(), ollama.clone())?;
        let chat = chat::ChatService::new(engine.clone(), runs.clone(), ollama, chat_concurrency)?;
        Ok(Services {
            runs,
            backtests,
            research,
            chat,
        })
    }
}
