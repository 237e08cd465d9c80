//! brickdesk: a terminal trading console for a Renko futures operator. One engine (the single
//! source of truth), viewed by an axum server and a ratatui console.
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod providers;
pub mod server;
pub mod services;
pub mod tui;
