//! Every asset's position on one screen (`--view positions`), with the account line.
use super::desk::titled;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row, Table};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(s) = app.state() else {
        f.render_widget(titled(t, " positions ".into()), area);
        return;
    };
    let a = &s.account;
    let title = format!(
        " positions · trades {}/{} · day {:+.2} · {} ",
        a.trade_count,
        a.trade_limit,
        a.day_pnl,
        super::desk::daily_stop(a).trim_start()
    );
    let rows = s.assets.iter().map(|x| {
        let last = x
            .last_price
            .map(|p| format!("{p:.2}"))
            .unwrap_or_else(|| "—".into());
        match &x.position {
            None => Row::new(vec![
                Cell::from(x.asset.clone()),
                Cell::from(Span::styled("FLAT", t.dim())),
                Cell::from(""),
                Cell::from(last),
                Cell::from(""),
                Cell::from(""),
                Cell::from(""),
            ]),
            Some(p) => {
                let pts = p.open_points.unwrap_or(0.0);
                let long = p.side == crate::engine::model::Side::Buy;
                Row::new(vec![
                    Cell::from(x.asset.clone()),
                    Cell::from(Span::styled(
                        format!("{} {}", if long { "LONG" } else { "SHORT" }, p.qty),
                        t.signed(long),
                    )),
                    Cell::from(format!("{:.2}", p.avg_price)),
                    Cell::from(last),
                    Cell::from(Span::styled(format!("{pts:+.2}"), t.signed(pts >= 0.0))),
                    Cell::from(Span::styled(
                        format!("{:+.2}", p.open_pnl.unwrap_or(0.0)),
                        t.signed(pts >= 0.0),
                    )),
                    Cell::from(p.bars_since_entry.to_string()),
                ])
            }
        }
    });
    let header =
        Row::new(["asset", "position", "avg", "last", "pts", "USD", "bars"]).style(t.dim());
    let widths = [
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(5),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(titled(t, title)),
        area,
    );
}
