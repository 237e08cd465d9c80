//! One pane per file: each draws a part of the `App` into a `Rect`.
pub mod backtests;
pub mod chart;
pub mod chat;
pub mod day;
pub mod desk;
pub mod log;
pub mod orders;
pub mod overlay;
pub mod positions;
pub mod renko;
pub mod research;
pub mod runs;

/// A chart's y range over `ys`: their lowest and highest, widened by 1 each way when they are
/// one value, 0–1 when there are none.
pub fn y_bounds(ys: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(l, h), y| (l.min(y), h.max(y)));
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    }
}

/// A signed percentage; a small one keeps its digits (`+0.0047%`, not `+0.00%`).
pub fn pct(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.1 {
        format!("{x:+.4}%")
    } else {
        format!("{x:+.2}%")
    }
}

/// `mm:ss` of a countdown.
pub fn mmss(secs: i64) -> String {
    let s = secs.max(0);
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// A compact age: `4s`, `3m12s`, `2h05m`, or `never`.
pub fn age(secs: Option<i64>) -> String {
    match secs {
        None => "never".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
