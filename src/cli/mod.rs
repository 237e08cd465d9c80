//! The `brickdesk` command line: one module per subcommand, plus the wiring they share (logging,
//! the engine and server start-up, the tokio runtime). `src/main.rs` only parses and dispatches.
pub mod backtest;
pub mod console;
pub mod demo;
pub mod import;
pub mod logs;
pub mod renko;
pub mod replay;
pub mod serve;
pub mod wiring;

/// The target of the commands' own log lines: `brickdesk`, as when they lived in the binary.
const LOG_TARGET: &str = "brickdesk";
