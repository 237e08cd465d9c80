//! The day at a glance: the trade-limit slots, the day's PnL against the daily stop as a
//! sparkline (one point per closed trade, then now), and the trades closed today with their PnL.
use super::desk::{daily_stop, titled};
use crate::engine::model::Side;
use crate::engine::view::AccountView;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(s) = app.state() else {
        return f.render_widget(titled(t, " day ".into()), area);
    };
    let acct = &s.account;
    let day = acct
        .trading_day
        .map(|d| format!(" day {d} "))
        .unwrap_or_else(|| " day ".into());
    let block = titled(t, day);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [head, spark, stop, list] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let (used, limit) = (acct.trade_count, acct.trade_limit);
    let full = used >= limit;
    let slots: String = (0..limit.min(20))
        .map(|i| if i < used { '■' } else { '□' })
        .collect();
    let head_line = Line::from(vec![
        Span::styled("trades ", t.dim()),
        Span::styled(slots, if full { t.warn() } else { t.accent() }),
        Span::raw(format!(" {used}/{limit}")),
        Span::styled("  day ", t.dim()),
        Span::styled(
            format!("{:+.2}", acct.day_pnl),
            t.signed(acct.day_pnl >= 0.0),
        ),
    ]);
    f.render_widget(Paragraph::new(head_line), head);
    // the day's curve from its low (or 0) up, its newest points when it is wider than the pane;
    // below it, how much of the daily stop the day has used (the engine's measure)
    let curve = pnl_curve(acct);
    let curve = &curve[curve.len().saturating_sub(spark.width as usize)..];
    let low = curve.iter().copied().fold(0.0, f64::min);
    let high = curve.iter().copied().fold(0.0, f64::max);
    let cents: Vec<u64> = curve.iter().map(|p| ((p - low) * 100.0) as u64).collect();
    if high == low {
        let flat = Span::styled("─ no PnL yet today", t.dim());
        f.render_widget(Paragraph::new(flat), spark);
    } else {
        f.render_widget(
            Sparkline::default()
                .data(&cents)
                .max(((high - low) * 100.0) as u64)
                .style(t.signed(acct.day_pnl >= 0.0)),
            spark,
        );
    }
    let mut gauge = vec![Span::styled("stop ", t.dim())];
    match acct.daily_stop_used {
        Some(used) => {
            let used = used.min(1.0);
            let cells = 10;
            let full = (used * cells as f64).round() as usize;
            let style = if acct.daily_stop_triggered || used >= 0.75 {
                t.refused()
            } else {
                t.dim()
            };
            gauge.push(Span::styled("■".repeat(full), style));
            gauge.push(Span::styled("□".repeat(cells - full), t.dim()));
            gauge.push(Span::styled(format!(" {:.0}% used", used * 100.0), style));
        }
        None => gauge.push(Span::styled("not measured yet (no balance)", t.dim())),
    }
    if acct.daily_stop_triggered {
        gauge.push(Span::styled(daily_stop(acct), t.refused()));
    }
    f.render_widget(Paragraph::new(Line::from(gauge)), stop);
    let lines: Vec<Line> = if acct.trades_today.is_empty() {
        vec![Line::from(Span::styled("no trade closed today", t.dim()))]
    } else {
        acct.trades_today
            .iter()
            .rev()
            .take(list.height as usize)
            .map(|tr| {
                let long = tr.side == Side::Buy;
                Line::from(vec![
                    Span::styled(tr.closed_at.format("%H:%M ").to_string(), t.dim()),
                    Span::raw(format!("{} ", tr.asset)),
                    Span::styled(if long { "▲" } else { "▼" }, t.signed(long)),
                    Span::raw(format!(
                        "{} {:.2}→{:.2} ",
                        tr.qty, tr.entry_price, tr.exit_price
                    )),
                    Span::styled(format!("{:+.2}", tr.pnl), t.signed(tr.pnl >= 0.0)),
                ])
            })
            .collect()
    };
    f.render_widget(Paragraph::new(lines), list);
}

/// The day's realized PnL before its first kept trade and after each, then now (open PnL
/// included).
fn pnl_curve(acct: &AccountView) -> Vec<f64> {
    let trades = &acct.trades_today;
    let start = trades.first().map_or(0.0, |t| t.realized_after - t.pnl);
    let mut curve = vec![start];
    curve.extend(trades.iter().map(|t| t.realized_after));
    curve.push(acct.day_pnl);
    curve
}
