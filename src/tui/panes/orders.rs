//! The orders table: newest first, status and stale flag, each order's source (UI, PREORDER,
//! SCALE_IN, or an exit's reason).
use super::desk::titled;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(s) = app.state() else {
        f.render_widget(titled(t, " orders ".into()), area);
        return;
    };
    // the bridge executes these orders: its line heads them
    let mut title = vec![Span::styled(" orders · ", t.accent())];
    title.extend(super::desk::bridge_line(t, s));
    title.push(Span::raw(" "));
    let block = ratatui::widgets::Block::bordered()
        .border_style(t.border())
        .title(Line::from(title));
    let rows = s.orders.iter().map(|o| {
        let status_style = match o.status.as_str() {
            "FILLED" => t.up(),
            "REJECTED" | "CANCELLED" => t.down(),
            _ => t.accent(),
        };
        let mut note = o.source.clone();
        if o.entry_override {
            note.push_str(" override");
        }
        if let Some(p) = o.fill_price {
            note = format!("@{p:.2} {note}");
        }
        let mut status = vec![Span::styled(o.status.as_str(), status_style)];
        if o.stale && o.status.is_unfinished() {
            status.push(Span::styled(" STALE", t.warn()));
        }
        Row::new(vec![
            Cell::from(Span::styled(
                o.created_at.format("%H:%M:%S").to_string(),
                t.dim(),
            )),
            Cell::from(o.asset.clone()),
            Cell::from(o.kind.as_str()),
            Cell::from(Span::styled(
                o.side.as_str(),
                t.signed(o.side == crate::engine::model::Side::Buy),
            )),
            Cell::from(o.qty.to_string()),
            Cell::from(ratatui::text::Line::from(status)),
            Cell::from(Span::styled(note.trim().to_string(), t.dim())),
        ])
    });
    let header = Row::new([
        "time",
        "asset",
        "kind",
        "side",
        "qty",
        "status",
        "fill / source",
    ])
    .style(t.dim());
    let widths = [
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Length(15),
        Constraint::Min(8),
    ];
    f.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
