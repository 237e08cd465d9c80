//! The `brickdesk` command line: one module per subcommand, plus the wiring they share (logging,
//! the engine and server start-up, the tokio runtime). `src/main.rs` only parses and dispatches.
pub mod renko;
pub mod wiring;
