//! State → frame. `draw` lays out the header, the selected tab (or the one `--view` pane), the
//! status line, the key hints and any modal; each pane lives in `panes/`.
use super::app::{App, Tab, Tone, View};
use super::keys::bindings_for;
use super::panes;
use crate::engine::model::Env;
use crate::engine::view::StateView;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    f.render_widget(Block::default().style(app.theme.base()), area);
    if let Some(view) = app.view {
        let [banner, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        header(f, app, banner);
        match view {
            View::Desk => panes::desk::draw(f, app, body),
            View::Renko => panes::renko::draw(f, app, body),
            View::Positions => panes::positions::draw(f, app, body),
            View::Orders => panes::orders::draw(f, app, body),
            View::Log => panes::log::draw(f, app, body),
        }
    } else {
        let [top, body, status_area, hints_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(4),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        header(f, app, top);
        match app.tab {
            Tab::Desk => panes::desk::draw(f, app, body),
            Tab::Log => panes::log::draw(f, app, body),
            Tab::Runs => panes::runs::draw(f, app, body),
            Tab::Backtests => panes::backtests::draw(f, app, body),
            Tab::Research => panes::research::draw(f, app, body),
            Tab::Chat => panes::chat::draw(f, app, body),
        }
        status(f, app, status_area);
        hints(f, app, hints_area);
    }
    panes::overlay::draw(f, app, area);
}

/// The banner: environment impossible to miss, asset, link, tabs, flags, clock.
fn header(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(state) = app.state() else {
        let msg = format!(" brickdesk · connecting to {} …", app.link_label);
        f.render_widget(Paragraph::new(msg).style(t.dim()), area);
        return;
    };
    let live = state.env == Env::Live;
    // in LIVE the whole row keeps the banner colors: chips only change their modifiers
    let (selected, other) = if live {
        let b = t.live_banner();
        (
            b.add_modifier(Modifier::REVERSED),
            b.remove_modifier(Modifier::BOLD),
        )
    } else {
        (t.selected(), t.dim())
    };
    let mut spans = vec![if live {
        Span::styled(" ▌LIVE — REAL ORDERS▐ ", t.live_banner())
    } else {
        Span::styled(" DEMO ", t.demo_banner())
    }];
    for (i, a) in state.assets.iter().enumerate() {
        let style = if i == app.asset { selected } else { other };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(format!(" {} ", a.asset), style));
    }
    // the flags always show: when the row is narrow the tab bar shrinks to the selected tab,
    // then the flags take their short forms, then the selected tab goes too
    let tabs = |all: bool| -> Vec<Span<'static>> {
        if app.view.is_some() {
            return Vec::new();
        }
        let mut v = vec![Span::styled(" │", if live { other } else { t.border() })];
        for tab in Tab::ALL.into_iter().filter(|tab| all || *tab == app.tab) {
            let style = match (live, tab == app.tab) {
                (true, true) => t.live_banner().add_modifier(Modifier::UNDERLINED),
                (true, false) => other,
                (false, true) => t.accent().add_modifier(Modifier::UNDERLINED),
                (false, false) => t.dim(),
            };
            v.push(Span::styled(format!(" {}", tab.title()), style));
        }
        v
    };
    let width = |v: &[Span]| -> usize { v.iter().map(|s| s.width()).sum() };
    let room = (area.width as usize).saturating_sub(width(&spans));
    let (all, one) = (tabs(true), tabs(false));
    let (long, short) = (flags(app, state, false), flags(app, state, true));
    let none = Vec::new();
    let (tabs, flags) = [(&all, &long), (&one, &long), (&one, &short)]
        .into_iter()
        .find(|(tabs, flags)| width(tabs) + width(flags) <= room)
        .unwrap_or((&none, &short));
    spans.extend(tabs.iter().cloned());
    spans.extend(flags.iter().cloned());
    let used: usize = spans.iter().map(|s| s.width()).sum();
    // the clock shortens rather than being cut (LIVE's banner is wider at 80 columns)
    let room = (area.width as usize).saturating_sub(used);
    let clock = [" %H:%M:%S UTC ", " %H:%M:%S ", " %H:%M "]
        .iter()
        .map(|f| state.now.format(f).to_string())
        .find(|c| c.len() <= room)
        .unwrap_or_default();
    let pad = (area.width as usize).saturating_sub(used + clock.len());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(clock, t.dim()));
    let line = Line::from(spans);
    let style = if live {
        t.live_banner()
    } else {
        Style::default()
    };
    f.render_widget(Paragraph::new(line).style(style), area);
}

/// The header's flags in their long (`⚠ ES desk +5 ≠ broker 0`) or short (`⚠ ES +5≠0`) forms.
fn flags(app: &App, state: &StateView, short: bool) -> Vec<Span<'static>> {
    let t = &app.theme;
    let pick = |long: &'static str, brief: &'static str| if short { brief } else { long };
    let mut spans = Vec::new();
    let flags = &state.flags;
    // each asset where the bridge disagrees, with both quantities
    for m in flags.position_mismatch.iter().flat_map(|p| &p.assets) {
        let text = format!(" {}", panes::desk::mismatch(m, short));
        spans.push(Span::styled(text, t.warn()));
    }
    if !flags.stale_orders.is_empty() {
        let n = flags.stale_orders.len();
        spans.push(Span::styled(format!(" ⚠ {n} STALE"), t.warn()));
    }
    if flags.daily_stop_triggered {
        spans.push(Span::styled(
            pick(" ⛔ DAILY STOP", " ⛔ STOP"),
            t.refused(),
        ));
    }
    if !app.link_ok {
        spans.push(Span::styled(pick(" ⚠ LINK DOWN", " ⚠ LINK"), t.warn()));
    }
    // Ollama as the server's chat service sees it
    match app.ollama.as_ref().map(|h| h.reachable) {
        Some(true) => spans.push(Span::styled(pick(" ollama ✓", " llm✓"), t.dim())),
        Some(false) => spans.push(Span::styled(pick(" ⚠ OLLAMA DOWN", " ⚠ LLM"), t.warn())),
        None => {}
    }
    match app.sandbox.as_deref() {
        Some("unsandboxed") => {
            let text = pick(" ⚠ py:UNSANDBOXED", " ⚠ py:UNSAFE");
            spans.push(Span::styled(text, t.warn()));
        }
        Some("refused") => spans.push(Span::styled(" py:off", t.warn())),
        Some("bubblewrap") => spans.push(Span::styled(" py:bwrap", t.dim())),
        // a mode this console does not know is not shown as confined
        Some(_) => spans.push(Span::styled(" ⚠ py:?", t.warn())),
        None => {}
    }
    spans
}

fn status(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let line = match &app.status {
        Some(s) => {
            let (mark, style) = match s.tone {
                Tone::Ok => ("✓ ", t.up()),
                Tone::Refused => ("✗ ", t.refused()),
                Tone::Info => ("· ", t.dim()),
            };
            Line::from(vec![
                Span::styled(mark, style),
                Span::styled(s.text.clone(), style),
            ])
        }
        None => Line::from(Span::styled(format!("· {}", app.link_label), t.dim())),
    };
    f.render_widget(Paragraph::new(line), area);
}

fn hints(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut spans = Vec::new();
    if app.chat.typing {
        let esc = if app.chat.pending.is_some() {
            "cancel the answer"
        } else {
            "leave typing"
        };
        for (key, word) in [
            ("Enter", "send"),
            ("Alt-Enter", "new line"),
            ("Esc", esc),
            ("C-c", "quit"),
        ] {
            spans.push(Span::styled(format!(" {key}"), t.accent()));
            spans.push(Span::styled(format!(" {word} "), t.dim()));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    for b in bindings_for(app.scope()) {
        if let Some(word) = b.hint {
            spans.push(Span::styled(format!(" {}", b.label), t.accent()));
            spans.push(Span::styled(format!(" {word} "), t.dim()));
        }
    }
    if app.override_next {
        spans.push(Span::styled(" OVERRIDE ARMED ", t.warn()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
