//! Tabs whose content arrives with later issues; the tab exists so the layout and keys are settled.
use crate::tui::app::{App, Tab};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub fn draw(f: &mut Frame, app: &App, area: Rect, tab: Tab) {
    let what = match tab {
        Tab::Runs => {
            "Pine-vs-Python parity runs: runs with progress, the Python vs Pine chart, the mismatch table."
        }
        Tab::Backtests => "Backtests: the list, equity curves and trades.",
        Tab::Research => "Research: datasets and jobs with progress.",
        Tab::Desk | Tab::Log | Tab::Chat => "",
    };
    let text = format!(
        "{what}\n\nNot built yet: this tab fills in when its feature lands. The Desk and Log tabs are live."
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
