//! Python vs Pine, bar by bar (SPEC §3): outputs matched across naming styles
//! (`long_condition` ≡ `longCondition`), numbers within an absolute tolerance, booleans exactly
//! (0/1 ≡ false/true), warmup bars excluded, a timestamp on one side only counted as a mismatch;
//! per-series counts, the first mismatch, trade events, unmodelled Pine features and a suggestion.
use serde::{Deserialize, Serialize};

/// One series on its own timestamps (UTC ms, ascending); NaN is a missing value (Pine `na`).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub is_bool: bool,
    pub ts: Vec<i64>,
    pub values: Vec<f64>,
}

/// `long_condition`, `longCondition`, `LONG-CONDITION` → `longcondition`.
pub fn canonical(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mismatch {
    pub series: String,
    pub bar_index: Option<usize>,
    pub timestamp: String,
    pub python_value: Option<f64>,
    pub pine_value: Option<f64>,
    pub difference: Option<f64>,
    /// `value`, `missing_in_pine` or `missing_in_python`.
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesResult {
    pub series: String,
    pub python_name: Option<String>,
    pub pine_name: Option<String>,
    pub compared: usize,
    pub mismatch_count: usize,
    pub missing_in_pine: usize,
    pub missing_in_python: usize,
    pub first_mismatch: Option<Mismatch>,
    /// Index of the last mismatching bar (helps tell warmup effects from real divergence).
    pub last_mismatch_index: Option<usize>,
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

#[inline(always)]
fn same(a: f64, b: f64, is_bool: bool, tol: f64) -> bool {
    if is_bool {
        // NaN and 0 are both "false" for a condition; any non-zero is true
        (a != 0.0 && !a.is_nan()) == (b != 0.0 && !b.is_nan())
    } else if a.is_nan() || b.is_nan() {
        a.is_nan() && b.is_nan()
    } else {
        (a - b).abs() <= tol
    }
}

/// Compares one Python column (on `candles`) with one Pine series, from bar `warmup` on.
pub fn compare_pair(
    name: &str,
    candles: &[i64],
    py: &[f64],
    pine: &Series,
    is_bool: bool,
    tol: f64,
    warmup: usize,
) -> SeriesResult {
    let mut r = SeriesResult {
        series: name.to_string(),
        python_name: None,
        pine_name: Some(pine.name.clone()),
        compared: 0,
        mismatch_count: 0,
        missing_in_pine: 0,
        missing_in_python: 0,
        first_mismatch: None,
        last_mismatch_index: None,
    };
    let n = candles.len().min(py.len());
    let from = warmup.min(n);
    let record = |r: &mut SeriesResult,
                  i: Option<usize>,
                  ts: i64,
                  a: Option<f64>,
                  b: Option<f64>,
                  kind: &str| {
        r.mismatch_count += 1;
        if let Some(i) = i {
            r.last_mismatch_index = Some(r.last_mismatch_index.map_or(i, |l| l.max(i)));
        }
        let earlier = r
            .first_mismatch
            .as_ref()
            .is_none_or(|m| iso(ts) < m.timestamp);
        if earlier {
            r.first_mismatch = Some(Mismatch {
                series: name.to_string(),
                bar_index: i,
                timestamp: iso(ts),
                python_value: a.filter(|v| !v.is_nan()),
                pine_value: b.filter(|v| !v.is_nan()),
                difference: a.zip(b).map(|(a, b)| a - b).filter(|d| !d.is_nan()),
                kind: kind.into(),
            });
        }
    };
    if pine.ts.as_slice() == &candles[..n] {
        // fast path: the same bars on both sides
        r.compared = n - from;
        let (a, b) = (&py[from..n], &pine.values[from..n]);
        let bad = a
            .iter()
            .zip(b)
            .filter(|(x, y)| !same(**x, **y, is_bool, tol))
            .count();
        if bad > 0 {
            for i in from..n {
                if !same(py[i], pine.values[i], is_bool, tol) {
                    record(
                        &mut r,
                        Some(i),
                        candles[i],
                        Some(py[i]),
                        Some(pine.values[i]),
                        "value",
                    );
                    break;
                }
            }
            r.mismatch_count = bad;
            r.last_mismatch_index = (from..n)
                .rev()
                .find(|&i| !same(py[i], pine.values[i], is_bool, tol));
        }
        return r;
    }
    // merge two sorted timestamp lists
    let start_ts = candles.get(from).copied().unwrap_or(i64::MAX);
    let (mut i, mut j) = (from, pine.ts.partition_point(|&t| t < start_ts));
    while i < n || j < pine.ts.len() {
        let ci = if i < n { candles[i] } else { i64::MAX };
        let pj = pine.ts.get(j).copied().unwrap_or(i64::MAX);
        if ci == pj {
            r.compared += 1;
            if !same(py[i], pine.values[j], is_bool, tol) {
                record(
                    &mut r,
                    Some(i),
                    ci,
                    Some(py[i]),
                    Some(pine.values[j]),
                    "value",
                );
            }
            i += 1;
            j += 1;
        } else if ci < pj {
            r.missing_in_pine += 1;
            record(&mut r, Some(i), ci, Some(py[i]), None, "missing_in_pine");
            i += 1;
        } else {
            r.missing_in_python += 1;
            record(
                &mut r,
                None,
                pj,
                None,
                Some(pine.values[j]),
                "missing_in_python",
            );
            j += 1;
        }
    }
    r
}

/// A trade event, from either side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TradeEvent {
    pub timestamp: String,
    /// `long` or `short`.
    pub side: String,
    /// `entry` or `exit`.
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub source: String,
}

pub fn normalize_side(s: &str) -> String {
    match s.to_ascii_lowercase().as_str() {
        "buy" | "long" => "long".into(),
        "sell" | "short" => "short".into(),
        other => other.into(),
    }
}

/// The long, short and exit columns of a strategy's output (each may be missing).
pub type Signals<'a> = (Option<&'a [f64]>, Option<&'a [f64]>, Option<&'a [f64]>);

/// The Python signal columns by their names in any naming style: the long entry
/// (`long_condition`, `buy`, …), the short entry (`short_condition`, `sell`, …) and the exit.
pub fn signal_columns<'a>(cols: &[(String, bool, &'a [f64])]) -> Signals<'a> {
    let pick = |names: &[&str]| {
        cols.iter()
            .find(|(n, _, _)| names.contains(&canonical(n).as_str()))
            .map(|(_, _, v)| *v)
    };
    let long = pick(&[
        "longcondition",
        "longentry",
        "entrylong",
        "golong",
        "buy",
        "buysignal",
        "long",
    ]);
    let short = pick(&[
        "shortcondition",
        "shortentry",
        "entryshort",
        "goshort",
        "sell",
        "sellsignal",
        "short",
    ]);
    let exit = pick(&[
        "exit",
        "exitcondition",
        "longexit",
        "exitlong",
        "shortexit",
        "exitshort",
    ]);
    (long, short, exit)
}

/// Trade events implied by the Python signal columns (`long_*`/`buy`, `short_*`/`sell`, `exit*`),
/// walking the bars from `warmup`; with `one_open_position` a signal in the held direction is ignored.
pub fn python_trades(
    candles: &[i64],
    cols: &[(String, bool, &[f64])],
    warmup: usize,
    one_open_position: bool,
) -> Vec<TradeEvent> {
    let (long, short, exit) = signal_columns(cols);
    let on = |v: Option<&[f64]>, i: usize| {
        v.and_then(|v| v.get(i))
            .is_some_and(|x| *x != 0.0 && !x.is_nan())
    };
    let mut out = Vec::new();
    let mut pos: i8 = 0;
    let mut ev = |i: usize, side: &str, action: &str| {
        out.push(TradeEvent {
            timestamp: iso(candles[i]),
            side: side.into(),
            action: action.into(),
            source: "python".into(),
        })
    };
    for i in warmup..candles.len() {
        if on(exit, i) && pos != 0 {
            ev(i, if pos > 0 { "long" } else { "short" }, "exit");
            pos = 0;
        }
        for (sig, dir, side) in [(long, 1i8, "long"), (short, -1i8, "short")] {
            if !on(sig, i) {
                continue;
            }
            if pos == dir && one_open_position {
                continue;
            }
            if pos == -dir {
                ev(i, if pos > 0 { "long" } else { "short" }, "exit");
            }
            ev(i, side, "entry");
            pos = dir;
        }
    }
    out
}

/// Events on one side only, matched by (time, side, action).
pub fn trade_mismatches(python: &[TradeEvent], pine: &[TradeEvent]) -> Vec<TradeEvent> {
    let key = |e: &TradeEvent| {
        (
            e.timestamp.clone(),
            normalize_side(&e.side),
            e.action.to_ascii_lowercase(),
        )
    };
    let mut pine_keys: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
    for e in pine {
        *pine_keys.entry(key(e)).or_default() += 1;
    }
    let mut out = Vec::new();
    for e in python {
        match pine_keys.get_mut(&key(e)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(e.clone()),
        }
    }
    let mut py_keys: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
    for e in python {
        *py_keys.entry(key(e)).or_default() += 1;
    }
    for e in pine {
        match py_keys.get_mut(&key(e)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                let mut e = e.clone();
                e.source = "pine".into();
                out.push(e)
            }
        }
    }
    out
}

/// Pine features the comparison does not model, found in the source.
pub fn unsupported_features(pine_source: &str) -> Vec<String> {
    const FEATURES: [(&str, &str); 9] = [
        (
            "request.security",
            "request.security pulls another symbol or timeframe: its values depend on TradingView's data and lookahead settings",
        ),
        (
            "security(",
            "security() (Pine v4) pulls another symbol or timeframe",
        ),
        (
            "varip",
            "varip keeps values across intrabar updates, which bar-close data cannot reproduce",
        ),
        (
            "barstate.isrealtime",
            "barstate.isrealtime behaves differently on historical and live bars",
        ),
        (
            "calc_on_every_tick",
            "calc_on_every_tick recalculates on ticks, not bar closes",
        ),
        (
            "timeframe.change",
            "timeframe.change depends on the chart's session boundaries",
        ),
        (
            "request.",
            "request.* calls fetch external data not present in the dataset",
        ),
        (
            "lookahead",
            "lookahead settings change which bar a value belongs to",
        ),
        (
            "process_orders_on_close",
            "process_orders_on_close changes when strategy orders fill",
        ),
    ];
    let mut out = Vec::new();
    for (needle, why) in FEATURES {
        if pine_source.contains(needle)
            && !(needle == "request." && pine_source.contains("request.security"))
        {
            out.push(format!(
                "unmodelled Pine feature `{}`: {why}",
                needle.trim_end_matches('(')
            ));
        }
    }
    out
}
