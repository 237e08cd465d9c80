//! What the desk accepts as a value from outside: prices that are finite, positive, plausible
//! and within a band around the last price; money that is finite and bounded (so sums stay
//! finite and the daily stop can still trigger); text fields of a bounded length.
use super::error::{DeskError, DeskResult};

/// No futures contract trades above this.
pub const MAX_PRICE: f64 = 1e7;
/// Balances and PnL beyond this (in account currency) are not believed.
pub const MAX_MONEY: f64 = 1e12;
/// Longest `bar_id`, `owner`, asset name or similar text field.
pub const MAX_TEXT: usize = 128;
/// Most bricks one price tick builds per size (a larger jump keeps its last ones).
pub const MAX_BRICKS_PER_TICK: usize = 50;

/// A number as a person reads it: `1e308`, not three hundred digits.
fn shown(v: f64) -> String {
    if v.abs() >= 1e9 {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// A price: finite, positive, at most `MAX_PRICE`, and, when the last price is known, within
/// `band_pct` percent of it.
pub fn price(what: &str, p: f64, last: Option<f64>, band_pct: f64) -> DeskResult<()> {
    if !(p.is_finite() && p > 0.0) {
        return Err(DeskError::Invalid(format!(
            "{what} must be a positive number"
        )));
    }
    if p > MAX_PRICE {
        return Err(DeskError::OutOfRange(format!(
            "{what} {} is not a plausible price (above {})",
            shown(p),
            shown(MAX_PRICE)
        )));
    }
    if let Some(last) = last.filter(|l| *l > 0.0) {
        let off = (p - last).abs() / last * 100.0;
        if off > band_pct {
            return Err(DeskError::OutOfRange(format!(
                "{what} {p} is {off:.1} % away from the last price {last}; more than the {band_pct} % band (desk.price_band_pct)"
            )));
        }
    }
    Ok(())
}

/// An amount of money: finite and within `MAX_MONEY` either way.
pub fn money(what: &str, v: f64) -> DeskResult<()> {
    if !v.is_finite() {
        return Err(DeskError::Invalid(format!(
            "{what} must be a finite number"
        )));
    }
    if v.abs() > MAX_MONEY {
        return Err(DeskError::OutOfRange(format!(
            "{what} {} is beyond ±{}",
            shown(v),
            shown(MAX_MONEY)
        )));
    }
    Ok(())
}

/// A text field of at most `MAX_TEXT` bytes.
pub fn text(what: &str, s: &str) -> DeskResult<()> {
    if s.len() > MAX_TEXT {
        return Err(DeskError::Invalid(format!(
            "{what} is {} bytes long; at most {MAX_TEXT}",
            s.len()
        )));
    }
    Ok(())
}
