//! Work beside the desk actor: each service has its own store connection (WAL: it never holds
//! the desk's transaction), bounded workers and cancellation. Parity runs now; backtests,
//! research jobs and chat join here.
pub mod runs;

/// How many CPU-heavy jobs (a Python run, a comparison) a service runs at once.
pub fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}
