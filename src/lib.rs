//! brickdesk: a terminal trading console for a Renko futures operator. One engine (the single
//! source of truth), viewed by an axum server and a ratatui console.
pub mod cli;
pub mod config;
pub mod engine;
pub mod server;
pub mod services;
pub mod tui;
