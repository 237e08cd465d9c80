//! Modals over the screen: confirmations, typing LIVE, a number, and the help generated from
//! the key table.
use super::desk::titled;
use crate::tui::app::{App, InputKind, Modal};
use crate::tui::keys::bindings_for;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [r] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [c] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(r);
    c
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(modal) = &app.modal else {
        return;
    };
    let (title, lines, w, h) = match modal {
        Modal::Confirm { prompt, .. }
        | Modal::ConfirmRun { prompt, .. }
        | Modal::ConfirmChat { prompt, .. } => (
            " confirm ",
            vec![
                Line::from(Span::styled(prompt.clone(), t.warn())),
                Line::from(""),
                Line::from(vec![
                    Span::styled("y", t.accent()),
                    Span::raw(" / Enter confirm   "),
                    Span::styled("n", t.accent()),
                    Span::raw(" / Esc cancel"),
                ]),
            ],
            60,
            // the prompt wraps inside the 58 columns between the borders
            5 + (prompt.chars().count() as u16).div_ceil(58).max(1),
        ),
        Modal::TypeLive { typed } => (
            " go LIVE ",
            vec![
                Line::from(Span::styled(
                    "LIVE sends real orders to the broker.",
                    t.refused(),
                )),
                Line::from("Type LIVE and press Enter. Esc stays in DEMO."),
                Line::from(""),
                Line::from(vec![
                    Span::styled("> ", t.accent()),
                    Span::raw(typed.clone()),
                    Span::styled("_", t.accent()),
                ]),
            ],
            50,
            7,
        ),
        Modal::Input { kind, buffer } => (
            " set ",
            vec![
                Line::from(match kind {
                    InputKind::PointsTarget => "points take-profit target (points):",
                    InputKind::SignalTarget => "signal-count TP: exit after N opposite 6pt bricks:",
                }),
                Line::from(vec![
                    Span::styled("> ", t.accent()),
                    Span::raw(buffer.clone()),
                    Span::styled("_", t.accent()),
                ]),
                Line::from(Span::styled("Enter set · Esc cancel", t.dim())),
            ],
            56,
            6,
        ),
        Modal::Resolve {
            order_id,
            summary,
            price,
        } => (
            " resolve a stuck order ",
            vec![
                Line::from(Span::styled(summary.clone(), t.warn())),
                Line::from(Span::styled(format!("order {order_id}"), t.dim())),
                Line::from("Check the broker, then settle it here:"),
                Line::from(vec![
                    Span::styled("c", t.accent()),
                    Span::raw(" cancelled at the broker (the asset is free)"),
                ]),
                Line::from(vec![
                    Span::styled("f", t.accent()),
                    Span::raw(" filled @ "),
                    Span::raw(price.clone()),
                    Span::styled("_", t.accent()),
                    Span::raw(" (type the price)"),
                ]),
                Line::from(Span::styled("each asks y/n · Esc leaves it", t.dim())),
            ],
            62,
            8,
        ),
        Modal::Help => return help(f, app, area),
        Modal::Models { index } => {
            let mut lines: Vec<Line> = Vec::new();
            // as many as the screen holds, the selection always among them
            let models = app.chat.chat_models();
            let room = (area.height as usize).saturating_sub(8).max(1);
            let first = (index + 1).saturating_sub(room);
            for (i, m) in models.iter().enumerate().skip(first).take(room) {
                let mark = if i == *index { "▶ " } else { "  " };
                let style = if i == *index { t.selected() } else { t.base() };
                let size = format!("  {:.1} GB", m.size as f64 / 1e9);
                lines.push(Line::from(vec![
                    Span::styled(format!("{mark}{}", m.name), style),
                    Span::styled(size, t.dim()),
                ]));
            }
            let left = room.saturating_sub(lines.len());
            for m in app
                .chat
                .models
                .iter()
                .filter(|m| !m.chat_capable)
                .take(left)
            {
                lines.push(Line::from(Span::styled(
                    format!("  {} (embedding only: cannot chat)", m.name),
                    t.dim(),
                )));
            }
            if lines.is_empty() {
                let why = app
                    .chat
                    .models_error
                    .clone()
                    .unwrap_or_else(|| "Ollama lists no models yet (ollama pull one)".into());
                lines.push(Line::from(Span::styled(why, t.warn())));
            }
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                "↑/↓ move · Enter picks · Esc leaves",
                t.dim(),
            )));
            let h = lines.len() as u16 + 2;
            (" model ", lines, 64, h)
        }
    };
    let rect = centered(area, w, h);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .style(t.base())
            .block(titled(t, title.into())),
        rect,
    );
}

/// The help overlay, generated from the key table; two columns when one does not fit.
fn help(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut lines = Vec::new();
    let mut group = "";
    for b in bindings_for(app.scope()) {
        if b.group != group {
            group = b.group;
            lines.push(Line::from(Span::styled(group, t.accent())));
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{:>5} ", b.label), t.accent()),
            Span::raw(b.help),
        ]));
    }
    let rect = Rect::new(area.x, area.y, area.width, area.height);
    f.render_widget(Clear, rect);
    let tab = match app.view {
        Some(_) => "Desk",
        None => app.tab.title(),
    };
    let block = titled(t, format!(" keys · {tab} · any key closes "));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let columns = if lines.len() as u16 > inner.height {
        2
    } else {
        1
    };
    let per = lines.len().div_ceil(columns);
    let cols = Layout::horizontal(vec![Constraint::Ratio(1, columns as u32); columns]).split(inner);
    for (i, chunk) in lines.chunks(per).enumerate() {
        f.render_widget(Paragraph::new(chunk.to_vec()).style(t.base()), cols[i]);
    }
}
