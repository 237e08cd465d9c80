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

/// Cells of a progress bar.
pub const BAR_CELLS: usize = 24;

/// Shows a progress line, `[#####-----] text (1.2s)` with `filled` of `BAR_CELLS` cells and the
/// time since `since`: redrawn in place on a terminal, else printed as a line of its own.
pub fn show_progress(tty: bool, filled: usize, text: &str, since: std::time::Instant) {
    let filled = filled.min(BAR_CELLS);
    let line = format!(
        "[{}{}] {text} ({:.1}s)",
        "#".repeat(filled),
        "-".repeat(BAR_CELLS - filled),
        since.elapsed().as_secs_f64()
    );
    if tty {
        eprint!("\r\x1b[2K{line}");
    } else {
        eprintln!("{line}");
    }
    let _ = std::io::Write::flush(&mut std::io::stderr());
}

/// The target of the commands' own log lines: `brickdesk`, as when they lived in the binary.
const LOG_TARGET: &str = "brickdesk";
