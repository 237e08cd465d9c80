//! The Chat tab: the transcript and the text input. Enter starts typing; while typing,
//! every key is text until Esc. Answers from the local model arrive with the chat service.
use super::desk::titled;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let [log, input] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(area);
    let mut lines: Vec<Line> = app
        .chat_lines
        .iter()
        .map(|l| Line::from(format!("you  {l}")))
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled(
            "Ask the local model (Ollama) why a run diverges. No chat service is connected yet: what you type is kept here.",
            t.dim(),
        ));
    }
    let skip = lines
        .len()
        .saturating_sub(log.height.saturating_sub(2) as usize);
    f.render_widget(
        Paragraph::new(lines.split_off(skip))
            .style(t.base())
            .wrap(Wrap { trim: false })
            .block(titled(t, " Chat ".into())),
        log,
    );
    let title = if app.typing {
        " message · typing: Enter sends, Esc leaves "
    } else {
        " message · Enter to type "
    };
    let mut text = app.chat_input.clone();
    text.set_block(titled(t, title.into()));
    text.set_style(if app.typing { t.base() } else { t.dim() });
    f.render_widget(&text, input);
}
