//! The strategy registry: each strategy's name, parameters and where its decisions come from,
//! and the decisions themselves, one column per run (an action and a confidence per bar; the
//! reasoning is written only for the bars that trade). Rule strategies are pure functions of the
//! bars; `python` runs the parity runner's `run_strategy` in its sandbox; `llm` asks Ollama
//! (`llm.rs`).
use super::indicators;
use super::params::{Params, SIMULATOR, Spec, flag, float, int, text};
use crate::engine::datasets::Bars;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What a bar's decision asks for. Acted on at the next bar's open.
pub const HOLD: i8 = 0;
/// Be long: a short is closed first.
pub const BUY: i8 = 1;
/// Be short (long/short) or flat (long-only): a long is closed first.
pub const SELL: i8 = -1;
/// Close whatever is open.
pub const EXIT: i8 = 2;
/// Close a long only.
pub const EXIT_LONG: i8 = 3;
/// Close a short only.
pub const EXIT_SHORT: i8 = 4;

/// One strategy of the registry.
#[derive(Debug)]
pub struct StrategyDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    /// Seed 002's `backend`: where the decisions come from.
    pub backend: &'static str,
    pub params: &'static [Spec],
    /// Can run on the live feed (`/run/live`).
    pub live: bool,
}

const CROSS: &[Spec] = &[
    int("fast", 10, 1, 10_000, "bars of the fast average"),
    int(
        "slow",
        20,
        2,
        10_000,
        "bars of the slow average (more than fast)",
    ),
];

pub const STRATEGIES: &[StrategyDef] = &[
    StrategyDef {
        name: "sma_cross",
        title: "SMA cross",
        description: "buy when the fast simple moving average of closes crosses above the slow one, sell when it crosses below",
        backend: "rules",
        params: CROSS,
        live: true,
    },
    StrategyDef {
        name: "ema_cross",
        title: "EMA cross",
        description: "the same cross on exponential moving averages (seeded with the SMA of the first bars)",
        backend: "rules",
        params: CROSS,
        live: true,
    },
    StrategyDef {
        name: "renko_trend",
        title: "Renko trend",
        description: "Renko bricks over closes (two-brick reversal): buy after `confirm` up bricks in a row, sell after as many down bricks",
        backend: "rules",
        params: &[
            float(
                "brick_size",
                0.0,
                0.0,
                1e9,
                "brick size in price; 0 = 0.5 % of the first close",
            ),
            int("confirm", 2, 1, 50, "bricks in a row before acting"),
        ],
        live: true,
    },
    StrategyDef {
        name: "rsi_reversion",
        title: "RSI reversion",
        description: "Wilder's RSI: buy when it falls under `lower`, sell when it rises over `upper`; a position is closed when RSI crosses `exit_level` back",
        backend: "rules",
        params: &[
            int("period", 14, 2, 1000, "bars of the RSI"),
            float("lower", 30.0, 0.0, 100.0, "oversold level: buy under it"),
            float("upper", 70.0, 0.0, 100.0, "overbought level: sell over it"),
            float(
                "exit_level",
                50.0,
                0.0,
                100.0,
                "close a position when RSI crosses back over (long) or under (short) this",
            ),
        ],
        live: true,
    },
    StrategyDef {
        name: "python",
        title: "Python strategy",
        description: "run_strategy(frame) -> frame in the parity runner's sandbox; its signal columns (long_condition/buy, short_condition/sell, exit) become orders, as in a parity run",
        backend: "python",
        params: &[
            text("code", "", "the Python source: def run_strategy(df) -> df"),
            flag(
                "read_allowed",
                true,
                "false: the code may only be read under an approved grant for python_code (POST /permissions/grant), as in a parity run",
            ),
        ],
        live: false,
    },
    StrategyDef {
        name: "llm",
        title: "LLM (Ollama)",
        description: "asks the local Ollama model for BUY, SELL or HOLD with a confidence and a reason on each decision bar; when Ollama cannot be reached (or times out three times running) it falls back to the SMA(10)/SMA(20) trend rule, acted on whatever min_confidence says, and each trade's reasoning says so",
        backend: "ollama",
        params: &[
            text("model", "llama3.2", "the Ollama model"),
            int("every", 5, 1, 100_000, "bars between decisions"),
            int("window", 30, 2, 500, "bars of history shown to the model"),
            float(
                "min_confidence",
                50.0,
                0.0,
                100.0,
                "a BUY or SELL under this confidence is held",
            ),
            float(
                "timeout_s",
                60.0,
                1.0,
                600.0,
                "seconds to wait for each answer",
            ),
        ],
        live: true,
    },
];

pub fn find(name: &str) -> Option<&'static StrategyDef> {
    let name = name.trim().to_ascii_lowercase();
    STRATEGIES.iter().find(|s| s.name == name)
}

/// `GET /api/v1/strategies`: each strategy with its parameters and the simulator's.
#[derive(Serialize)]
pub struct StrategyInfo {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub backend: &'static str,
    pub live: bool,
    pub params: Vec<super::params::ParamSpec>,
}

pub fn catalogue() -> Vec<StrategyInfo> {
    STRATEGIES
        .iter()
        .map(|s| StrategyInfo {
            name: s.name,
            title: s.title,
            description: s.description,
            backend: s.backend,
            live: s.live,
            params: s
                .params
                .iter()
                .map(|p| p.public("strategy"))
                .chain(SIMULATOR.iter().map(|p| p.public("simulator")))
                .collect(),
        })
        .collect()
}

/// `strategy_params` checked for `name`, with the rules no single bound says.
pub fn resolve(
    name: &str,
    given: &Map<String, Value>,
) -> Result<(&'static StrategyDef, Params), String> {
    let def = find(name).ok_or_else(|| {
        let known: Vec<_> = STRATEGIES.iter().map(|s| s.name).collect();
        format!("unknown strategy {name:?}; known: {}", known.join(", "))
    })?;
    let p = Params::check(&[def.params, SIMULATOR], given)?;
    match def.name {
        "sma_cross" | "ema_cross" if p.i("fast") >= p.i("slow") => {
            return Err(format!(
                "fast ({}) must be less than slow ({})",
                p.i("fast"),
                p.i("slow")
            ));
        }
        "rsi_reversion"
            if !(p.f("lower") < p.f("exit_level") && p.f("exit_level") < p.f("upper")) =>
        {
            return Err("the RSI levels must be lower < exit_level < upper".into());
        }
        "python" if p.s("code").trim().is_empty() => {
            return Err("the python strategy needs its source in strategy_params.code".into());
        }
        _ => {}
    }
    Ok((def, p))
}

/// The decisions of a run: an action and a confidence (0–100) per bar, and where a bar's
/// reasoning comes from.
pub struct Decisions {
    pub action: Vec<i8>,
    /// Empty for a rule strategy (see `confidence()`).
    pub confidence: Vec<f32>,
    pub why: Why,
    /// Said once for the whole run (an LLM fallback, say).
    pub note: Option<String>,
    /// The run's index of the first of these bars (a live run decides over its recent bars):
    /// reasoning names bars by the run's count.
    pub first_bar: usize,
}

/// Reasoning, made only for the bars that trade.
pub enum Why {
    /// A rule's indicators, kept to explain its decisions.
    Rule(RuleRun),
    /// A sentence per decision bar (Python, LLM).
    Notes(HashMap<usize, String>),
}

impl Decisions {
    /// Bar `i`'s confidence, 0–100: a rule's is 100 wherever it acts (a rule is certain of
    /// itself; its column is left empty), the model's is its own.
    pub fn confidence(&self, i: usize) -> f32 {
        match self.confidence.get(i) {
            Some(&c) => c,
            None if self.action.get(i).is_some_and(|&a| a != HOLD) => 100.0,
            None => 0.0,
        }
    }

    pub fn reasoning(&self, bars: &Bars, i: usize) -> String {
        match &self.why {
            Why::Rule(r) => r.explain(bars, i, self.action[i], self.first_bar),
            Why::Notes(n) => n.get(&i).cloned().unwrap_or_default(),
        }
    }

    /// All HOLD, for `n` bars.
    pub fn hold(n: usize, why: Why) -> Decisions {
        Decisions {
            action: vec![HOLD; n],
            confidence: vec![0.0; n],
            why,
            note: None,
            first_bar: 0,
        }
    }
}

/// A rule strategy's indicator columns.
pub struct RuleRun {
    name: &'static str,
    a: Vec<f64>,
    b: Vec<f64>,
    dir: Vec<i8>,
    run: Vec<u32>,
    params: Params,
    brick: f64,
}

/// What a strategy cannot run on, said before it runs: a Renko brick too small for the prices
/// (a brick under a millionth of the price would be float noise, and millions of bricks a bar).
pub fn check_data(def: &StrategyDef, p: &Params, bars: &Bars) -> Result<(), String> {
    if def.name == "renko_trend" {
        let first = bars.close.first().copied().unwrap_or(0.0).abs();
        let brick = brick_size(p, &bars.close);
        if first.is_nan() || first <= 0.0 {
            return Err("renko_trend needs positive prices: the first close is not".into());
        }
        if brick < first * 1e-6 {
            return Err(format!(
                "brick_size {brick} is too small for prices near {first}: it must be at least {}",
                first * 1e-6
            ));
        }
    }
    Ok(())
}

/// The Renko brick a run uses: its `brick_size`, or 0.5 % of the first close.
fn brick_size(p: &Params, close: &[f64]) -> f64 {
    match p.f("brick_size") {
        s if s > 0.0 => s,
        _ => close.first().map_or(0.0, |f| f.abs() * 0.005),
    }
}

/// A rule strategy's decisions over `bars`. Confidence is 100 where a rule fires: a rule is
/// certain of itself; only the LLM's confidence varies.
pub fn rule_decisions(def: &StrategyDef, p: &Params, bars: &Bars) -> Decisions {
    let n = bars.len();
    let mut r = RuleRun {
        name: def.name,
        a: Vec::new(),
        b: Vec::new(),
        dir: Vec::new(),
        run: Vec::new(),
        params: p.clone(),
        brick: 0.0,
    };
    let mut action = vec![HOLD; n];
    let c = &bars.close;
    match def.name {
        // the SMAs are not kept: one pass, and an explanation sums its own window
        "sma_cross" => indicators::sma_cross(c, p.n("fast"), p.n("slow"), &mut action),
        "ema_cross" => {
            indicators::ema(c, p.n("fast"), &mut r.a);
            indicators::ema(c, p.n("slow"), &mut r.b);
            cross_actions(&r.a, &r.b, &mut action);
        }
        "renko_trend" => {
            r.brick = brick_size(p, c);
            indicators::renko(c, r.brick, &mut r.dir, &mut r.run);
            let confirm = p.i("confirm").max(1) as u32;
            for (i, act) in action.iter_mut().enumerate().skip(1) {
                // the bar where the run of bricks reaches `confirm`
                if r.run[i] >= confirm && (r.run[i - 1] < confirm || r.dir[i - 1] != r.dir[i]) {
                    *act = if r.dir[i] > 0 { BUY } else { SELL };
                }
            }
        }
        "rsi_reversion" => {
            indicators::rsi(c, p.n("period"), &mut r.a);
            let (lo, hi, ex) = (p.f("lower"), p.f("upper"), p.f("exit_level"));
            let x = &r.a;
            for i in 1..n {
                let (prev, now) = (x[i - 1], x[i]);
                if prev.is_nan() || now.is_nan() {
                    continue;
                }
                action[i] = if prev >= lo && now < lo {
                    BUY
                } else if prev <= hi && now > hi {
                    SELL
                } else if prev <= ex && now > ex {
                    EXIT_LONG
                } else if prev >= ex && now < ex {
                    EXIT_SHORT
                } else {
                    HOLD
                };
            }
        }
        _ => {}
    }
    Decisions {
        action,
        confidence: Vec::new(),
        why: Why::Rule(r),
        note: None,
        first_bar: 0,
    }
}

/// BUY where `fast` crosses above `slow`, SELL where it crosses below: strictly, on both bars,
/// as backtesting.py's `crossover` (`a[-2] < b[-2] and a[-1] > b[-1]`).
pub fn cross_actions(fast: &[f64], slow: &[f64], action: &mut [i8]) {
    for i in 1..action.len().min(fast.len()) {
        let (a0, a1, b0, b1) = (fast[i - 1], fast[i], slow[i - 1], slow[i]);
        if a0 < b0 && a1 > b1 {
            action[i] = BUY;
        } else if a0 > b0 && a1 < b1 {
            action[i] = SELL;
        }
    }
}

impl RuleRun {
    /// Why bar `i` decided `action`; `base` is the run's index of bar 0.
    fn explain(&self, bars: &Bars, i: usize, action: i8, base: usize) -> String {
        let p = &self.params;
        let px = |v: f64| format!("{v:.4}");
        match self.name {
            "sma_cross" | "ema_cross" => {
                let (f, s) = (p.i("fast"), p.i("slow"));
                let (kind, a, b) = if self.name == "sma_cross" {
                    let mean = |n: i64| {
                        let w = &bars.close[(i + 1).saturating_sub(n as usize)..=i];
                        w.iter().sum::<f64>() / w.len() as f64
                    };
                    ("SMA", mean(f), mean(s))
                } else {
                    ("EMA", self.a[i], self.b[i])
                };
                let dir = if action == BUY { "above" } else { "below" };
                format!(
                    "{kind}({f}) crossed {dir} {kind}({s}) at the close of bar {}: {} vs {} (close {})",
                    base + i,
                    px(a),
                    px(b),
                    px(bars.close[i])
                )
            }
            "renko_trend" => format!(
                "{} {} bricks of {} in a row by bar {} (close {})",
                self.run[i],
                if self.dir[i] > 0 { "up" } else { "down" },
                px(self.brick),
                base + i,
                px(bars.close[i])
            ),
            "rsi_reversion" => {
                let what = match action {
                    BUY => format!("fell under {}", p.f("lower")),
                    SELL => format!("rose over {}", p.f("upper")),
                    EXIT_LONG => format!("rose back over {}", p.f("exit_level")),
                    _ => format!("fell back under {}", p.f("exit_level")),
                };
                format!(
                    "RSI({}) {what} at bar {}: {:.2} (close {})",
                    p.i("period"),
                    base + i,
                    self.a[i],
                    px(bars.close[i])
                )
            }
            _ => String::new(),
        }
    }
}

/// A Python strategy's signal columns as decisions: long → BUY, short → SELL, exit → EXIT, as
/// the parity runner reads them.
pub fn python_decisions(cols: &[crate::engine::runs::python::Column], n: usize) -> Decisions {
    let named: Vec<(String, bool, &[f64])> = cols
        .iter()
        .map(|c| (c.name.clone(), c.is_bool, c.values.as_slice()))
        .collect();
    let (long, short, exit) = crate::engine::runs::compare::signal_columns(&named);
    let on = |v: Option<&[f64]>, i: usize| {
        v.and_then(|v| v.get(i))
            .is_some_and(|x| *x != 0.0 && !x.is_nan())
    };
    let names = |v: Option<&[f64]>| {
        named
            .iter()
            .find(|(_, _, c)| v.is_some_and(|v| std::ptr::eq(*c, v)))
            .map(|(n, _, _)| n.as_str())
            .unwrap_or("?")
            .to_string()
    };
    let (ln, sn, en) = (names(long), names(short), names(exit));
    let mut d = Decisions::hold(n, Why::Notes(HashMap::new()));
    let Why::Notes(notes) = &mut d.why else {
        unreachable!()
    };
    for i in 0..n {
        let (a, col) = if on(long, i) {
            (BUY, &ln)
        } else if on(short, i) {
            (SELL, &sn)
        } else if on(exit, i) {
            (EXIT, &en)
        } else {
            continue;
        };
        d.action[i] = a;
        d.confidence[i] = 100.0;
        notes.insert(i, format!("python strategy: {col} is true at bar {i}"));
    }
    d
}
