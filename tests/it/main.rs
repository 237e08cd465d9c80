//! The integration tests, as one test binary (one link of the whole crate and its dependencies
//! instead of one per file: a fraction of the disk and link time). Each module is one surface.

mod support;

mod backtests;
mod bad_input;
mod browser;
mod chat;
mod chat_fix;
mod claiming;
mod cli;
mod commands;
mod crash;
mod datasets;
mod desk_bridge;
mod desk_exits;
mod desk_gates;
mod desk_props;
mod desk_rules;
mod engine_faults;
mod import_paths;
mod login;
mod observability;
mod renko_prop;
mod research;
mod research_jobs;
mod runs;
mod sandbox;
mod seed000;
mod senders;
mod sockets;
mod tmux;
mod tui_backtests;
mod tui_chat;
mod tui_day;
mod tui_keys;
mod tui_link;
mod tui_loop;
mod tui_research;
mod tui_snapshots;
mod ui_browser;
mod upgrade;
mod v1_api;
mod values;
