//! The engine's event log, newest at the bottom.
use super::desk::titled;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let block = titled(t, " log ".into());
    let inner_h = block.inner(area).height as usize;
    let events = app
        .snapshot
        .as_ref()
        .map(|s| s.events.as_slice())
        .unwrap_or(&[]);
    if events.is_empty() {
        let none = Paragraph::new(Span::styled("no events yet", t.dim()));
        return f.render_widget(none.block(block), area);
    }
    let skip = events.len().saturating_sub(inner_h);
    let lines: Vec<Line> = events[skip..]
        .iter()
        .map(|e| {
            let style = match e.kind.as_str() {
                "refused" | "mismatch" | "stale" | "daily_stop" => t.warn(),
                "order" | "exit" | "position" => t.accent(),
                _ => t.base(),
            };
            Line::from(vec![
                Span::styled(e.at.format("%H:%M:%S ").to_string(), t.dim()),
                Span::styled(format!("{:<12} ", e.kind), t.dim()),
                Span::styled(format!("{:<4} ", e.asset.as_deref().unwrap_or("")), t.dim()),
                Span::styled(e.message.clone(), style),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}
