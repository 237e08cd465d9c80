//! Renko bricks from prices with TradingView's traditional rule (Close source): every open and
//! close on the box grid, reversal two boxes from the last close, several bricks per price if due.
use super::model::Color;
use serde::{Deserialize, Serialize};

/// Tolerance for "on the grid" so a price like 5252.5 / 2.5 is never judged a hair below its level.
const GRID_EPS: f64 = 1e-9;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BuiltBrick {
    /// 0-based index of the brick in this builder's stream.
    pub index: u64,
    pub open: f64,
    pub close: f64,
    pub color: Color,
    /// Timestamp (caller's unit, usually epoch ms) of the price that completed the brick.
    pub ts: i64,
}

/// Slack of the fast-path thresholds: a price this close to a level takes the exact path.
const FAST_SLACK: f64 = 1e-7;

/// Incremental builder for one box size. O(1) work per price plus one per emitted brick; a price
/// that completes nothing costs two comparisons.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenkoBuilder {
    box_size: f64,
    /// Grid level of the reference before the first brick.
    reference: Option<i64>,
    /// Open and close grid levels of the last brick.
    last: Option<(i64, i64)>,
    next_index: u64,
    /// Prices strictly between these complete no brick (NaN: unknown, take the exact path).
    #[serde(skip, default = "nan")]
    up_at: f64,
    #[serde(skip, default = "nan")]
    down_at: f64,
}

fn nan() -> f64 {
    f64::NAN
}

impl PartialEq for RenkoBuilder {
    fn eq(&self, o: &Self) -> bool {
        self.box_size == o.box_size
            && self.reference == o.reference
            && self.last == o.last
            && self.next_index == o.next_index
    }
}

impl RenkoBuilder {
    pub fn new(box_size: f64) -> Self {
        assert!(
            box_size > 0.0 && box_size.is_finite(),
            "box size must be positive"
        );
        Self {
            box_size,
            reference: None,
            last: None,
            next_index: 0,
            up_at: f64::NAN,
            down_at: f64::NAN,
        }
    }

    /// Recomputes the fast-path band from the state: the next up and down levels.
    fn set_band(&mut self) {
        let (up, down) = match (self.last, self.reference) {
            (Some((o, c)), _) if c > o => (c + 1, o - 1),
            (Some((o, c)), _) => (o + 1, c - 1),
            (None, Some(r)) => (r + 1, r - 1),
            (None, None) => {
                self.up_at = f64::NAN;
                self.down_at = f64::NAN;
                return;
            }
        };
        self.up_at = (up as f64 - FAST_SLACK) * self.box_size;
        self.down_at = (down as f64 + FAST_SLACK) * self.box_size;
    }

    pub fn box_size(&self) -> f64 {
        self.box_size
    }

    /// How many bricks this builder has emitted.
    pub fn count(&self) -> u64 {
        self.next_index
    }

    /// Close of the last brick, if any.
    pub fn last_close(&self) -> Option<f64> {
        self.last.map(|(_, c)| c as f64 * self.box_size)
    }

    fn floor_level(&self, p: f64) -> i64 {
        (p / self.box_size + GRID_EPS).floor() as i64
    }
    fn ceil_level(&self, p: f64) -> i64 {
        (p / self.box_size - GRID_EPS).ceil() as i64
    }

    /// Feed one price; appends the bricks it completes (oldest first) to `out`.
    #[inline]
    pub fn push_into(&mut self, price: f64, ts: i64, out: &mut Vec<BuiltBrick>) {
        if price < self.up_at && price > self.down_at {
            return;
        }
        self.push_slow(price, ts, out);
    }

    #[inline(never)]
    fn push_slow(&mut self, price: f64, ts: i64, out: &mut Vec<BuiltBrick>) {
        if !price.is_finite() {
            return;
        }
        self.push_exact(price, ts, out, i64::MAX);
        self.set_band();
    }

    /// `push_into`, building at most `cap` bricks: a larger jump builds its last `cap` (the
    /// builder ends where it would have) and answers how many it skipped. The engine's price
    /// source feeds ticks through this, so one absurd tick cannot stall it.
    pub fn push_capped_into(
        &mut self,
        price: f64,
        ts: i64,
        out: &mut Vec<BuiltBrick>,
        cap: usize,
    ) -> u64 {
        if !price.is_finite() || (price < self.up_at && price > self.down_at) {
            return 0;
        }
        let skipped = self.push_exact(price, ts, out, cap as i64);
        self.set_band();
        skipped
    }

    /// Builds the bricks up to `price`, at most `cap` of them; answers how many were skipped.
    fn push_exact(&mut self, price: f64, ts: i64, out: &mut Vec<BuiltBrick>, cap: i64) -> u64 {
        let (from, to) = match (self.last, self.reference) {
            (None, None) => {
                self.reference = Some(self.floor_level(price));
                return 0;
            }
            (None, Some(r)) => {
                let up = self.floor_level(price);
                let down = self.ceil_level(price);
                if up > r {
                    (r, up)
                } else if down < r {
                    (r, down)
                } else {
                    return 0;
                }
            }
            (Some((o, c)), _) => {
                if c > o {
                    // after an up brick: continue at c+1, reverse at o-1
                    let up = self.floor_level(price);
                    let down = self.ceil_level(price);
                    if up > c {
                        (c, up)
                    } else if down < o {
                        (o, down)
                    } else {
                        return 0;
                    }
                } else {
                    let up = self.floor_level(price);
                    let down = self.ceil_level(price);
                    if down < c {
                        (c, down)
                    } else if up > o {
                        (o, up)
                    } else {
                        return 0;
                    }
                }
            }
        };
        let step = if to > from { 1 } else { -1 };
        let color = if step > 0 { Color::Green } else { Color::Red };
        let skipped = ((to - from).abs() - cap).max(0);
        let mut level = from + step * skipped;
        while level != to {
            let next = level + step;
            out.push(BuiltBrick {
                index: self.next_index,
                open: level as f64 * self.box_size,
                close: next as f64 * self.box_size,
                color,
                ts,
            });
            self.next_index += 1;
            level = next;
        }
        self.last = Some((to - step, to));
        skipped as u64
    }

    pub fn push(&mut self, price: f64, ts: i64) -> Vec<BuiltBrick> {
        let mut out = Vec::new();
        self.push_into(price, ts, &mut out);
        out
    }
}

/// Builds every brick of a price series at once.
pub fn build_bricks(
    box_size: f64,
    prices: impl IntoIterator<Item = (i64, f64)>,
) -> Vec<BuiltBrick> {
    let mut b = RenkoBuilder::new(box_size);
    let mut out = Vec::new();
    for (ts, p) in prices {
        b.push_into(p, ts, &mut out);
    }
    out
}

/// A deliberately plain reference of the same rule, one brick per loop turn on float prices.
/// The property tests and the benchmark compare the builder against it.
pub mod reference {
    use super::super::model::Color;

    /// `(open, close, color, index of the price that completed it)` for every brick.
    pub fn bricks(box_size: f64, prices: &[f64]) -> Vec<(f64, f64, Color, usize)> {
        let b = box_size;
        let mut out = Vec::new();
        let mut reference: Option<f64> = None;
        let mut last: Option<(f64, f64)> = None;
        for (i, &p) in prices.iter().enumerate() {
            if reference.is_none() {
                reference = Some((p / b).floor() * b);
                continue;
            }
            loop {
                let next = match last {
                    None => {
                        let r = reference.unwrap();
                        if p >= r + b {
                            (r, r + b)
                        } else if p <= r - b {
                            (r, r - b)
                        } else {
                            break;
                        }
                    }
                    Some((o, c)) if c > o => {
                        if p >= c + b {
                            (c, c + b)
                        } else if p <= o - b {
                            (o, o - b)
                        } else {
                            break;
                        }
                    }
                    Some((o, c)) => {
                        if p <= c - b {
                            (c, c - b)
                        } else if p >= o + b {
                            (o, o + b)
                        } else {
                            break;
                        }
                    }
                };
                let color = if next.1 > next.0 {
                    Color::Green
                } else {
                    Color::Red
                };
                out.push((next.0, next.1, color, i));
                last = Some(next);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closes(b: &[BuiltBrick]) -> Vec<(f64, f64)> {
        b.iter().map(|x| (x.open, x.close)).collect()
    }

    #[test]
    fn first_brick_needs_a_full_box_from_the_floored_reference() {
        let mut b = RenkoBuilder::new(4.0);
        assert!(b.push(5001.0, 0).is_empty()); // r = 5000
        assert!(b.push(5003.75, 1).is_empty());
        assert_eq!(closes(&b.push(5004.0, 2)), vec![(5000.0, 5004.0)]);
    }

    #[test]
    fn reversal_needs_two_boxes_and_one_price_can_emit_several() {
        let mut b = RenkoBuilder::new(2.0);
        b.push(100.0, 0);
        assert_eq!(
            closes(&b.push(106.5, 1)),
            vec![(100.0, 102.0), (102.0, 104.0), (104.0, 106.0)]
        );
        assert!(b.push(103.0, 2).is_empty()); // one box back is not a reversal
        let rev = b.push(101.9, 3);
        assert_eq!(closes(&rev), vec![(104.0, 102.0)]);
        assert_eq!(rev[0].color, Color::Red);
        assert_eq!(rev[0].index, 3);
    }
}
