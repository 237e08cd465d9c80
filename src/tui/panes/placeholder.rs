//! Tabs whose content arrives with later issues; the tab exists so the layout and keys are settled.
use crate::tui::app::{App, Tab};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub fn draw(f: &mut Frame, app: &App, area: Rect, tab: Tab) {
    let what = match tab {
        Tab::Research => "Research: datasets and jobs with progress.",
        Tab::Desk | Tab::Log | Tab::Chat | Tab::Runs | Tab::Backtests => "",
    };
    let text = format!(
        "{what}\n\nNot built yet: this tab fills in when its feature lands. The Desk, Log, Runs and Backtests tabs are live."
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border())
        .title(format!(" {} ", tab.title()));
    f.render_widget(
        Paragraph::new(text)
            .style(app.theme.dim())
            .wrap(Wrap { trim: true })
            .block(block),
        area,
    );
}
