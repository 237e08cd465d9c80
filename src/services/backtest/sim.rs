//! The deterministic simulator: a decision made on a bar's close is filled at the next bar's
//! open, with commission (a fraction of traded value, on every fill) and slippage (ticks against
//! the fill). One position at a time, long-only or long/short; a position still open after the
//! last bar is closed at the last bar's open, as backtesting.py does. The same `Sim` steps a
//! backtest over columns and a paper run bar by bar.
use super::strategy::{BUY, EXIT, EXIT_LONG, EXIT_SHORT, HOLD, SELL};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    pub initial_cash: f64,
    /// Fraction of traded value charged on every fill.
    pub commission: f64,
    /// Price moved against every fill (slippage ticks × tick size).
    pub slippage: f64,
    /// `None`: all-in, whole units.
    pub fixed_qty: Option<f64>,
    pub allow_short: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderStatus {
    Filled,
    Rejected,
}

/// An order: made by a decision (or by the end of the data), filled or refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimOrder {
    /// The bar whose decision made it (`None`: the end of the data closed the position).
    pub signal_bar: Option<usize>,
    /// The bar whose open filled it.
    pub bar: usize,
    /// +1 buy, −1 sell.
    pub side: i8,
    pub qty: f64,
    pub price: f64,
    pub commission: f64,
    pub status: OrderStatus,
    /// `entry`, `exit`, `end_of_data`, or why it was refused.
    pub purpose: &'static str,
}

/// A round trip: one entry and its exit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundTrip {
    /// +1 long, −1 short.
    pub side: i8,
    pub qty: f64,
    pub entry_bar: usize,
    pub exit_bar: usize,
    pub entry_signal_bar: Option<usize>,
    pub exit_signal_bar: Option<usize>,
    pub entry_price: f64,
    pub exit_price: f64,
    /// Both fills' commission.
    pub commission: f64,
    /// Net of commission.
    pub pnl: f64,
    /// `pnl` over the entry's value, in %.
    pub return_pct: f64,
}

#[derive(Debug, Clone)]
pub struct Sim {
    pub cfg: SimConfig,
    pub cash: f64,
    /// Signed units: > 0 long, < 0 short.
    pub pos: f64,
    pub entry_price: f64,
    entry_bar: usize,
    entry_signal: Option<usize>,
    entry_commission: f64,
    pub orders: Vec<SimOrder>,
    pub trades: Vec<RoundTrip>,
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Sim {
        Sim {
            cash: cfg.initial_cash,
            cfg,
            pos: 0.0,
            entry_price: 0.0,
            entry_bar: 0,
            entry_signal: None,
            entry_commission: 0.0,
            orders: Vec::new(),
            trades: Vec::new(),
        }
    }

    /// Cash plus the open position marked at `price`.
    pub fn equity(&self, price: f64) -> f64 {
        self.cash + self.pos * (price - self.entry_price)
    }

    /// Acts at bar `bar`'s `open` on the decision `action` made at bar `signal`. Returns how
    /// many orders it made (the newest at the end of `orders`).
    pub fn act(&mut self, bar: usize, signal: usize, action: i8, open: f64) -> usize {
        let before = self.orders.len();
        let s = Some(signal);
        match action {
            BUY => {
                if self.pos < 0.0 {
                    self.close(bar, s, open, "exit");
                }
                if self.pos == 0.0 {
                    self.open(bar, s, 1, open);
                }
            }
            SELL => {
                if self.pos > 0.0 {
                    self.close(bar, s, open, "exit");
                }
                if self.pos == 0.0 && self.cfg.allow_short {
                    self.open(bar, s, -1, open);
                }
            }
            EXIT if self.pos != 0.0 => self.close(bar, s, open, "exit"),
            EXIT_LONG if self.pos > 0.0 => self.close(bar, s, open, "exit"),
            EXIT_SHORT if self.pos < 0.0 => self.close(bar, s, open, "exit"),
            HOLD | EXIT | EXIT_LONG | EXIT_SHORT => {}
            _ => {}
        }
        self.orders.len() - before
    }

    /// The price a fill of `side` gets at `open`.
    fn fill_price(&self, side: i8, open: f64) -> f64 {
        open + f64::from(side) * self.cfg.slippage
    }

    fn open(&mut self, bar: usize, signal: Option<usize>, side: i8, open: f64) {
        let price = self.fill_price(side, open);
        let c = self.cfg.commission;
        // backtesting.py sizes with 1 − ε of equity: the same whole number, except where
        // cash / (price × (1 + c)) is exactly whole
        let per_unit = price + price * c;
        let qty = match self.cfg.fixed_qty {
            Some(q) => q,
            None => ((self.cash * (1.0 - f64::EPSILON)) / per_unit).floor(),
        };
        let refused = if price.is_nan() || price <= 0.0 {
            Some("refused: the fill price is not positive")
        } else if qty < 1.0 {
            Some("refused: cash does not cover one unit")
        } else if qty * per_unit > self.cash {
            Some("refused: cash does not cover the fixed quantity")
        } else {
            None
        };
        if let Some(why) = refused {
            self.orders.push(SimOrder {
                signal_bar: signal,
                bar,
                side,
                qty: qty.max(0.0),
                price,
                commission: 0.0,
                status: OrderStatus::Rejected,
                purpose: why,
            });
            return;
        }
        let commission = qty * price * c;
        self.cash -= commission;
        self.pos = f64::from(side) * qty;
        self.entry_price = price;
        self.entry_bar = bar;
        self.entry_signal = signal;
        self.entry_commission = commission;
        self.filled(signal, bar, side, (qty, price, commission), "entry");
    }

    /// Records a filled order.
    fn filled(
        &mut self,
        signal_bar: Option<usize>,
        bar: usize,
        side: i8,
        (qty, price, commission): (f64, f64, f64),
        purpose: &'static str,
    ) {
        self.orders.push(SimOrder {
            signal_bar,
            bar,
            side,
            qty,
            price,
            commission,
            status: OrderStatus::Filled,
            purpose,
        });
    }

    /// Closes the open position at bar `bar`'s `open`.
    pub fn close(&mut self, bar: usize, signal: Option<usize>, open: f64, purpose: &'static str) {
        if self.pos == 0.0 {
            return;
        }
        let side: i8 = if self.pos > 0.0 { -1 } else { 1 };
        // slippage cannot push an exit's price under zero
        let price = self.fill_price(side, open).max(0.0);
        let qty = self.pos.abs();
        let commission = qty * price * self.cfg.commission;
        let gross = self.pos * (price - self.entry_price);
        self.cash += gross - commission;
        let pnl = gross - commission - self.entry_commission;
        self.trades.push(RoundTrip {
            side: -side,
            qty,
            entry_bar: self.entry_bar,
            exit_bar: bar,
            entry_signal_bar: self.entry_signal,
            exit_signal_bar: signal,
            entry_price: self.entry_price,
            exit_price: price,
            commission: commission + self.entry_commission,
            pnl,
            return_pct: pnl / (qty * self.entry_price) * 100.0,
        });
        self.filled(signal, bar, side, (qty, price, commission), purpose);
        self.pos = 0.0;
        self.entry_price = 0.0;
        self.entry_commission = 0.0;
    }
}

/// A whole backtest's path.
pub struct SimRun {
    pub sim: Sim,
    /// Equity at each bar's close.
    pub equity: Vec<f64>,
    /// Bars that ended with a position open.
    pub bars_in_market: usize,
}

/// Runs `actions` (one per bar) over the bars. The last bar's decision has no next open to
/// fill at and is not acted on.
pub fn run(cfg: SimConfig, open: &[f64], close: &[f64], actions: &[i8]) -> SimRun {
    let n = open.len().min(close.len()).min(actions.len());
    let mut sim = Sim::new(cfg);
    let mut equity = Vec::with_capacity(n);
    let mut in_market = 0usize;
    for i in 0..n {
        if i > 0 && actions[i - 1] != HOLD {
            sim.act(i, i - 1, actions[i - 1], open[i]);
        }
        if sim.pos != 0.0 {
            in_market += 1;
        }
        equity.push(sim.equity(close[i]));
    }
    if n > 0 && sim.pos != 0.0 {
        sim.close(n - 1, None, open[n - 1], "end_of_data");
        equity[n - 1] = sim.cash;
        // closed at the last bar's open: that bar does not end in the market
        in_market -= 1;
    }
    SimRun {
        sim,
        equity,
        bars_in_market: in_market,
    }
}
