//! The indicators the built-in strategies read: one pass over a column each, written into a
//! buffer the caller owns (no allocation per bar). Values before a full window are NaN.

/// Simple moving average with a running, compensated sum (pandas' `rolling().mean()` agrees to
/// the last few bits, so crosses land on the same bars).
pub fn sma(x: &[f64], n: usize, out: &mut Vec<f64>) {
    out.clear();
    out.resize(x.len(), f64::NAN);
    if n == 0 || x.len() < n {
        return;
    }
    let mut k = Kahan::default();
    for (i, &v) in x.iter().enumerate() {
        k.add(v);
        if i >= n {
            k.add(-x[i - n]);
        }
        if i + 1 >= n {
            out[i] = k.sum() / n as f64;
        }
    }
}

/// BUY where SMA(`fast`) of `x` crosses above SMA(`slow`), SELL where it crosses below (strictly,
/// as `strategy::cross_actions`), in one pass with both sums running: no column is made.
pub fn sma_cross(x: &[f64], fast: usize, slow: usize, action: &mut [i8]) {
    if fast == 0 || slow == 0 || x.len() < slow.max(fast) + 1 {
        return;
    }
    let (mut f, mut s) = (Kahan::default(), Kahan::default());
    let (kf, ks) = (fast as f64, slow as f64);
    let (mut pf, mut ps) = (f64::NAN, f64::NAN);
    for (i, &v) in x.iter().enumerate() {
        f.add(v);
        s.add(v);
        if i >= fast {
            f.add(-x[i - fast]);
        }
        if i >= slow {
            s.add(-x[i - slow]);
        }
        if i + 1 >= fast.max(slow) {
            let (a, b) = (f.sum() / kf, s.sum() / ks);
            if pf < ps && a > b {
                action[i] = super::strategy::BUY;
            } else if pf > ps && a < b {
                action[i] = super::strategy::SELL;
            }
            (pf, ps) = (a, b);
        }
    }
}

/// A running sum that carries each addition's rounding error (Neumaier), as pandas' rolling
/// mean does: crosses land on the same bars as theirs.
#[derive(Default, Clone, Copy)]
struct Kahan {
    sum: f64,
    comp: f64,
}

impl Kahan {
    #[inline]
    fn add(&mut self, v: f64) {
        let t = self.sum + v;
        self.comp += if self.sum.abs() >= v.abs() {
            (self.sum - t) + v
        } else {
            (v - t) + self.sum
        };
        self.sum = t;
    }

    #[inline]
    fn sum(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Exponential moving average, `alpha = 2 / (n + 1)`, seeded with the SMA of the first `n`
/// values (the convention of TA-Lib and TradingView's `ta.ema`).
pub fn ema(x: &[f64], n: usize, out: &mut Vec<f64>) {
    out.clear();
    out.resize(x.len(), f64::NAN);
    if n == 0 || x.len() < n {
        return;
    }
    let alpha = 2.0 / (n as f64 + 1.0);
    let mut e = x[..n].iter().sum::<f64>() / n as f64;
    out[n - 1] = e;
    for i in n..x.len() {
        e += alpha * (x[i] - e);
        out[i] = e;
    }
}

/// Wilder's RSI over `n` bars (TradingView's `ta.rsi`): the first average is a plain mean of
/// the first `n` changes, then `avg = (avg × (n − 1) + change) / n`.
pub fn rsi(x: &[f64], n: usize, out: &mut Vec<f64>) {
    out.clear();
    out.resize(x.len(), f64::NAN);
    if n == 0 || x.len() <= n {
        return;
    }
    let (mut up, mut down) = (0.0, 0.0);
    for i in 1..=n {
        let d = x[i] - x[i - 1];
        up += d.max(0.0);
        down += (-d).max(0.0);
    }
    up /= n as f64;
    down /= n as f64;
    // TradingView's ta.rsi: 100 whenever the average loss is 0 (flat data too)
    let value = |up: f64, down: f64| {
        if down == 0.0 {
            100.0
        } else {
            100.0 - 100.0 / (1.0 + up / down)
        }
    };
    out[n] = value(up, down);
    let k = n as f64;
    for i in n + 1..x.len() {
        let d = x[i] - x[i - 1];
        up = (up * (k - 1.0) + d.max(0.0)) / k;
        down = (down * (k - 1.0) + (-d).max(0.0)) / k;
        out[i] = value(up, down);
    }
}

/// Renko bricks over closes: `dir[i]` is the direction of the newest brick formed by bar `i`
/// (+1 up, −1 down, 0 before the first), and `run[i]` how many bricks in a row it has had.
/// A brick forms when the close moves one `size` beyond the last brick's top (up) or bottom
/// (down); a reversal needs two sizes, as on a classic Renko chart.
pub fn renko(close: &[f64], size: f64, dir: &mut Vec<i8>, run: &mut Vec<u32>) {
    dir.clear();
    run.clear();
    dir.resize(close.len(), 0);
    run.resize(close.len(), 0);
    let Some(&first) = close.first() else { return };
    if size.is_nan() || size <= 0.0 {
        return;
    }
    // the last brick's top and bottom; before any brick, both at the first close. An up brick
    // forms a size above the top, a down brick a size below the bottom, whatever came before:
    // after an up brick [b, t] a down brick needs the close at b − size, two sizes under t.
    let (mut top, mut bottom) = (first, first);
    let (mut d, mut r) = (0i8, 0u32);
    for (i, &c) in close.iter().enumerate() {
        // every brick the close makes at once, counted (a loop of one brick at a time could
        // run for ever on a size too small to move the float)
        if c >= top + size {
            let n = ((c - top) / size).floor().max(1.0);
            top += n * size;
            bottom = top - size;
            r = if d == 1 {
                r.saturating_add(n as u32)
            } else {
                n as u32
            };
            d = 1;
        } else if c <= bottom - size {
            let n = ((bottom - c) / size).floor().max(1.0);
            bottom -= n * size;
            top = bottom + size;
            r = if d == -1 {
                r.saturating_add(n as u32)
            } else {
                n as u32
            };
            d = -1;
        }
        dir[i] = d;
        run[i] = r;
    }
}
