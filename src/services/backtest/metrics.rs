//! Performance figures of a run, from its equity curve and round trips. Conventions (written
//! down because every tool picks its own):
//! - returns are simple per-bar returns of equity at each close;
//! - Sharpe = mean / sample standard deviation (n − 1) of those returns × √(bars per year),
//!   risk-free rate 0; Sortino = mean / downside deviation × √(bars per year), where the downside
//!   deviation is √(mean of min(r, 0)²) over all bars (target 0);
//! - bars per year come from the dataset's timeframe: 252 trading days a year, or 365 when the
//!   data trades at weekends (more than 2/7 × 0.6 of its bars on a Saturday or Sunday, UTC), as
//!   backtesting.py decides between the two; daily and slower bars by the median spacing of
//!   their bars (a weekly bar is 5 trading days), intraday bars × the bars a UTC date holds;
//! - CAGR over the calendar span from the first to the last bar (365.25 days a year; none under
//!   a day);
//! - max drawdown: the deepest fall of equity from its running peak, in % (≤ 0), and its
//!   duration: the longest stretch from a peak until equity is back at that peak (or the end);
//! - profit factor: gross profit / gross loss of round trips (null when there is no loss);
//! - exposure: % of bars that end with a position open.
use super::sim::RoundTrip;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub initial_capital: f64,
    pub final_value: f64,
    pub total_return_pct: f64,
    pub cagr_pct: Option<f64>,
    pub sharpe_ratio: Option<f64>,
    pub sortino_ratio: Option<f64>,
    pub max_drawdown_pct: f64,
    /// Bars, and the same in seconds of the dataset's time.
    pub max_drawdown_bars: usize,
    pub max_drawdown_duration_s: i64,
    pub win_rate_pct: Option<f64>,
    pub profit_factor: Option<f64>,
    pub exposure_pct: f64,
    /// Round trips (entry and exit); seed 002's `total_trades` counts fills.
    pub round_trips: usize,
    pub winning_trades: usize,
    pub losing_trades: usize,
    pub bars: usize,
    pub bars_per_year: f64,
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Per-bar simple returns of `equity` (one fewer than its points).
pub fn returns(equity: &[f64]) -> Vec<f64> {
    each_return(equity).collect()
}

/// The per-bar returns of `equity`, made on the fly (a long curve is not copied).
fn each_return(equity: &[f64]) -> impl Iterator<Item = f64> + '_ {
    equity
        .windows(2)
        .map(|w| if w[0] != 0.0 { w[1] / w[0] - 1.0 } else { 0.0 })
}

/// Sharpe and Sortino of `equity`'s returns, as `sharpe(returns(equity))` and
/// `sortino(returns(equity))` give them, in two passes over the curve and no copy of it.
pub fn ratios(equity: &[f64], bars_per_year: f64) -> (Option<f64>, Option<f64>) {
    let n = equity.len().saturating_sub(1);
    if n == 0 {
        return (None, None);
    }
    let m = each_return(equity).sum::<f64>() / n as f64;
    let (mut var, mut down) = (0.0, 0.0);
    for r in each_return(equity) {
        var += (r - m).powi(2);
        down += r.min(0.0).powi(2);
    }
    let sd = if n >= 2 {
        (var / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let dd = (down / n as f64).sqrt();
    let k = bars_per_year.sqrt();
    (
        (sd > 0.0).then(|| m / sd * k),
        (dd > 0.0).then(|| m / dd * k),
    )
}

pub fn sharpe(returns: &[f64], bars_per_year: f64) -> Option<f64> {
    if returns.len() < 2 {
        return None;
    }
    let m = mean(returns);
    let var = returns.iter().map(|r| (r - m).powi(2)).sum::<f64>() / (returns.len() - 1) as f64;
    let sd = var.sqrt();
    (sd > 0.0).then(|| m / sd * bars_per_year.sqrt())
}

pub fn sortino(returns: &[f64], bars_per_year: f64) -> Option<f64> {
    if returns.is_empty() {
        return None;
    }
    let dd =
        (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / returns.len() as f64).sqrt();
    (dd > 0.0).then(|| mean(returns) / dd * bars_per_year.sqrt())
}

/// The deepest drawdown in % (≤ 0), and the longest time from a peak until equity is back at
/// it (or the end, if it never is), in bars, with that stretch's first and last index.
pub fn max_drawdown(equity: &[f64]) -> (f64, usize, (usize, usize)) {
    let Some(&first) = equity.first() else {
        return (0.0, 0, (0, 0));
    };
    let (mut peak, mut peak_at) = (first, 0usize);
    let mut deepest = 0.0f64;
    let mut longest = (0usize, (0usize, 0usize));
    for (i, &e) in equity.iter().enumerate().skip(1) {
        if e >= peak {
            // a stretch of one bar is a new peak straight after the last: nothing under water
            let span = i - peak_at;
            if span > 1 && span > longest.0 {
                longest = (span, (peak_at, i));
            }
            peak = e;
            peak_at = i;
        } else if peak > 0.0 {
            deepest = deepest.min(e / peak - 1.0);
        }
    }
    let last = equity.len() - 1;
    if last > peak_at && last - peak_at > longest.0 {
        longest = (last - peak_at, (peak_at, last));
    }
    (deepest * 100.0, longest.0, longest.1)
}

pub fn profit_factor(trades: &[RoundTrip]) -> Option<f64> {
    // + 0.0: an empty f64 sum is −0.0, and no gain over some loss read "-0.00"
    let gain: f64 = trades
        .iter()
        .filter(|t| t.pnl > 0.0)
        .map(|t| t.pnl)
        .sum::<f64>()
        + 0.0;
    let loss: f64 = -trades
        .iter()
        .filter(|t| t.pnl < 0.0)
        .map(|t| t.pnl)
        .sum::<f64>();
    (loss > 0.0).then(|| gain / loss)
}

/// Compound annual growth in %; none over less than a day (a minute's 1 % is not a yearly rate).
pub fn cagr(initial: f64, final_value: f64, years: f64) -> Option<f64> {
    (initial > 0.0 && years >= 1.0 / 365.25 && final_value >= 0.0)
        .then(|| ((final_value / initial).powf(1.0 / years) - 1.0) * 100.0)
        .filter(|c| c.is_finite())
}

/// Bars per year of bars stamped `ts` (UTC epoch ms); see the module's conventions.
pub fn bars_per_year(ts: &[i64]) -> f64 {
    if ts.len() < 2 {
        return 252.0;
    }
    // the median of at most ~100,000 evenly spread gaps is the timeframe's
    let stride = (ts.len() / 100_000).max(1);
    let mut gaps: Vec<i64> = ts
        .windows(2)
        .step_by(stride)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0)
        .collect();
    if gaps.is_empty() {
        return 252.0;
    }
    let mid = gaps.len() / 2;
    let (_, median, _) = gaps.select_nth_unstable(mid);
    let median = *median as f64;
    // 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday = 0
    let sampled = ts.iter().step_by(stride);
    let weekend = sampled
        .clone()
        .filter(|&&t| (t.div_euclid(86_400_000) + 3).rem_euclid(7) >= 5)
        .count() as f64
        / sampled.count() as f64;
    // backtesting.py's own threshold: over 60 % of the weekend days' share of a week
    let days = if weekend > 2.0 / 7.0 * 0.6 {
        365.0
    } else {
        252.0
    };
    const DAY: f64 = 86_400_000.0;
    if median >= DAY {
        // daily or slower bars: a weekly bar is 5 trading days (7 calendar days)
        let per_day = if days == 252.0 {
            median / DAY * 5.0 / 7.0
        } else {
            median / DAY
        };
        (days / per_day.max(1.0)).max(1.0)
    } else {
        // intraday: the bars a trading day really has (a session is not 24 h long)
        let mut dates = 0usize;
        let mut last = i64::MIN;
        for &t in ts {
            let d = t.div_euclid(DAY as i64);
            if d != last {
                dates += 1;
                last = d;
            }
        }
        days * (ts.len() as f64 / dates.max(1) as f64)
    }
}

/// Every figure of a run.
pub fn compute(
    initial: f64,
    equity: &[f64],
    ts: &[i64],
    trades: &[RoundTrip],
    bars_in_market: usize,
) -> Metrics {
    let n = equity.len();
    let final_value = equity.last().copied().unwrap_or(initial);
    let ppy = bars_per_year(ts);
    let (dd, dd_bars, (from, to)) = max_drawdown(equity);
    let ratios = ratios(equity, ppy);
    let years = match (ts.first(), ts.last()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / (365.25 * 86_400_000.0),
        _ => 0.0,
    };
    let wins = trades.iter().filter(|t| t.pnl > 0.0).count();
    let losses = trades.iter().filter(|t| t.pnl < 0.0).count();
    Metrics {
        initial_capital: initial,
        final_value,
        total_return_pct: if initial != 0.0 {
            (final_value / initial - 1.0) * 100.0
        } else {
            0.0
        },
        cagr_pct: cagr(initial, final_value, years),
        sharpe_ratio: ratios.0,
        sortino_ratio: ratios.1,
        max_drawdown_pct: dd,
        max_drawdown_bars: dd_bars,
        max_drawdown_duration_s: match (ts.get(from), ts.get(to)) {
            (Some(a), Some(b)) if dd_bars > 0 => (b - a) / 1000,
            _ => 0,
        },
        win_rate_pct: (!trades.is_empty()).then(|| wins as f64 / trades.len() as f64 * 100.0),
        profit_factor: profit_factor(trades),
        exposure_pct: if n > 0 {
            bars_in_market as f64 / n as f64 * 100.0
        } else {
            0.0
        },
        round_trips: trades.len(),
        winning_trades: wins,
        losing_trades: losses,
        bars: n,
        bars_per_year: ppy,
    }
}
