//! What the model is shown about a run, target by target (`include_targets`): the Pine code,
//! the Python code, and the run's artifacts (the comparison summary, the first mismatch, the
//! bars around it). Nothing that was not asked for. And the deterministic analysis the fallback
//! answers with when the model cannot.
use crate::engine::runs::{Lifecycle, NamedSeries, RunStatus};
use serde_json::Value;

pub const TARGETS: [&str; 3] = ["pine_code", "python_code", "run_artifacts"];

/// Bars shown on each side of the first mismatch.
const NEARBY: usize = 3;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Targets {
    pub pine_code: bool,
    pub python_code: bool,
    pub run_artifacts: bool,
}

impl Targets {
    pub const ALL: Targets = Targets {
        pine_code: true,
        python_code: true,
        run_artifacts: true,
    };

    pub fn parse(list: &[String]) -> Result<Targets, String> {
        let mut t = Targets::default();
        for name in list {
            match name.as_str() {
                "pine_code" => t.pine_code = true,
                "python_code" => t.python_code = true,
                "run_artifacts" => t.run_artifacts = true,
                other => {
                    return Err(format!(
                        "include_targets: unknown target {other:?} (known: {})",
                        TARGETS.join(", ")
                    ));
                }
            }
        }
        Ok(t)
    }

    pub fn names(self) -> Vec<String> {
        [self.pine_code, self.python_code, self.run_artifacts]
            .iter()
            .zip(TARGETS)
            .filter(|(on, _)| **on)
            .map(|(_, n)| n.to_string())
            .collect()
    }
}

/// A piece of code as the chat may show it: the code, or why it is withheld.
pub type Code = Result<String, String>;

/// The context message for `run`: a line naming the run, then each target asked for.
pub fn message(
    run: &RunStatus,
    pine: Option<Code>,
    python: Option<Code>,
    artifacts: bool,
) -> String {
    let mut s = format!(
        "Context: parity run {} of dataset {}{}, {}.\n",
        run.run_id,
        run.dataset_name,
        match (&run.symbol, &run.timeframe) {
            (Some(sy), Some(tf)) => format!(" ({sy} {tf})"),
            (Some(sy), None) => format!(" ({sy})"),
            _ => String::new(),
        },
        run.lifecycle
    );
    for (title, lang, code) in [
        ("Pine code", "pine", pine),
        ("Python code", "python", python),
    ] {
        match code {
            None => {}
            Some(Ok(c)) => s.push_str(&format!("\n## {title}\n```{lang}\n{}\n```\n", c.trim_end())),
            Some(Err(why)) => s.push_str(&format!("\n## {title}\nWithheld: {why}\n")),
        }
    }
    if artifacts {
        s.push_str("\n## Run artifacts\n");
        s.push_str(&artifacts_text(run));
    }
    s
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) => short(f),
        None => "none".into(),
    }
}

/// A value as people read it: at most six decimals, no trailing zeros (713.751830 → 713.75183).
fn short(f: f64) -> String {
    let s = format!("{f:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

/// The first mismatch in words: `ema_fast at bar 12 (2026-…): Python 1 vs Pine 2 (difference 1)`.
fn first_mismatch(m: &Value) -> String {
    let bar = m["bar_index"]
        .as_u64()
        .map(|b| format!(" at bar {b}"))
        .unwrap_or_default();
    let diff = m["difference"]
        .as_f64()
        .map(|d| format!(" (difference {})", short(d)))
        .unwrap_or_default();
    format!(
        "{}{bar} ({}): Python {} vs Pine {}{diff}",
        m["series"].as_str().unwrap_or("?"),
        m["timestamp"].as_str().unwrap_or("?"),
        num(&m["python_value"]),
        num(&m["pine_value"]),
    )
}

fn artifacts_text(run: &RunStatus) -> String {
    let Some(c) = &run.comparison else {
        return match &run.error {
            Some(e) => format!("No comparison: the run failed: {}\n", last_line(e)),
            None => "No comparison yet.\n".into(),
        };
    };
    let mut s = format!("Comparison summary: {}\n", c["summary"]);
    match c.get("first_mismatch").filter(|m| !m.is_null()) {
        Some(m) => s.push_str(&format!("First mismatch: {}\n", first_mismatch(m))),
        None => s.push_str("First mismatch: none\n"),
    }
    for r in c["series_results"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "Series {}: {} of {} compared values differ\n",
            r["series"].as_str().unwrap_or("?"),
            r["mismatch_count"],
            r["compared"]
        ));
    }
    if let Some(w) = c["unsupported_feature_warnings"]
        .as_array()
        .filter(|w| !w.is_empty())
    {
        let w: Vec<&str> = w.iter().filter_map(Value::as_str).collect();
        s.push_str(&format!(
            "Pine features the comparison does not model: {}\n",
            w.join("; ")
        ));
    }
    for w in &run.warnings {
        s.push_str(&format!("Warning: {w}\n"));
    }
    if let Some(a) = c["suggested_next_action"].as_str() {
        s.push_str(&format!("Suggested next action: {a}\n"));
    }
    if let Some(m) = c.get("first_mismatch").filter(|m| !m.is_null()) {
        s.push_str(&nearby(run, m));
    }
    s
}

/// The bars around the first mismatch, with both sides' values of its series.
fn nearby(run: &RunStatus, m: &Value) -> String {
    let Some(at) = m["bar_index"].as_u64().map(|b| b as usize).or_else(|| {
        let ts = m["timestamp"].as_str()?;
        run.candles.iter().position(|c| c.timestamp == ts)
    }) else {
        return String::new();
    };
    let series = m["series"].as_str().unwrap_or_default();
    let canonical = crate::engine::runs::compare::canonical(series);
    let named = |s: &&NamedSeries| crate::engine::runs::compare::canonical(&s.name) == canonical;
    let py = run.python_series.iter().find(named);
    let pine = run.pine_series.iter().find(named);
    let value = |s: Option<&NamedSeries>, ts: &str| -> String {
        s.and_then(|s| s.values.iter().find(|p| p.timestamp == ts))
            .and_then(|p| p.value)
            .map(short)
            .unwrap_or_else(|| "none".into())
    };
    let from = at.saturating_sub(NEARBY);
    let to = (at + NEARBY + 1).min(run.candles.len());
    let mut s = format!(
        "Bars around the first mismatch (timestamp, open, high, low, close, Python {series}, Pine {series}):\n"
    );
    for (i, c) in run.candles[from.min(to)..to].iter().enumerate() {
        let mark = if from + i == at {
            "  <- first mismatch"
        } else {
            ""
        };
        s.push_str(&format!(
            "{} {} {} {} {} {} {} {}{mark}\n",
            from + i,
            c.timestamp,
            c.open,
            c.high,
            c.low,
            c.close,
            value(py, &c.timestamp),
            value(pine, &c.timestamp)
        ));
    }
    s
}

fn last_line(e: &str) -> &str {
    e.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(e)
}

/// The built-in analysis of a run, the same every time for the same run: what the fallback
/// answers with. With no run, or a run that agrees so far: "No mismatch detected yet."
pub fn analysis(run: Option<&RunStatus>) -> String {
    let Some(run) = run else {
        return "No mismatch detected yet.".into();
    };
    if let Some(e) = &run.error {
        return format!(
            "Run {} failed before it could be compared: {}",
            run.run_id,
            last_line(e)
        );
    }
    let Some(c) = &run.comparison else {
        return format!(
            "Run {} is {} ({}/{} bars). No mismatch detected yet.",
            run.run_id, run.lifecycle, run.live_progress, run.live_total
        );
    };
    let sum = &c["summary"];
    let Some(m) = c.get("first_mismatch").filter(|m| !m.is_null()) else {
        let still = if run.lifecycle == Lifecycle::Live {
            " yet"
        } else {
            ""
        };
        let trades = sum["mismatched_trade_events"].as_u64().unwrap_or(0);
        if trades > 0 {
            return format!(
                "Run {}: the series agree, but {trades} of {} trade events differ. Suggested next action: {}",
                run.run_id,
                sum["total_trade_events"],
                c["suggested_next_action"].as_str().unwrap_or("")
            );
        }
        return format!(
            "Run {}: {} values compared, no mismatch detected{still}.",
            run.run_id, sum["compared_values"]
        );
    };
    let per: Vec<String> = c["series_results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["mismatch_count"].as_u64().unwrap_or(0) > 0)
        .map(|r| {
            format!(
                "{} {} of {}",
                r["series"].as_str().unwrap_or("?"),
                r["mismatch_count"],
                r["compared"]
            )
        })
        .collect();
    let mut s = format!(
        "Run {}: {} of {} series differ ({}); {} of {} trade events differ. First mismatch: {}.",
        run.run_id,
        sum["mismatched_series"],
        sum["total_series"],
        per.join(", "),
        sum["mismatched_trade_events"],
        sum["total_trade_events"],
        first_mismatch(m)
    );
    if let Some(w) = c["unsupported_feature_warnings"]
        .as_array()
        .filter(|w| !w.is_empty())
    {
        let w: Vec<&str> = w.iter().filter_map(Value::as_str).collect();
        s.push_str(&format!(
            " The Pine code uses what the comparison does not model: {}.",
            w.join("; ")
        ));
    }
    if let Some(a) = c["suggested_next_action"].as_str() {
        s.push_str(&format!(" Suggested next action: {a}"));
    }
    s
}
