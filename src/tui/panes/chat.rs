//! The Chat tab: which run's conversation and what it sends (model, targets, analysis or fix),
//! the transcript with Markdown code blocks set apart and the answer streaming in, a proposed
//! patch as a colored diff with approve and reject, and the text input.
use super::desk::titled;
use crate::services::chat::store::StoredMessage;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let c = &app.chat;
    // the patch as it would be applied, its file header left out
    let patch: Option<Vec<String>> =
        c.proposed()
            .and_then(|m| m.proposed_patch.as_ref())
            .map(|p| {
                p.lines()
                    .skip_while(|l| !l.starts_with("@@"))
                    .map(str::to_string)
                    .collect()
            });
    let input_h = (c.input.lines().len() as u16 + 2).clamp(3, 6);
    // the patch gets the room it needs; the transcript keeps three rows at least
    let patch_h = patch
        .as_ref()
        .map(|p| (p.len() as u16 + 2).min(area.height.saturating_sub(input_h + 2 + 5)))
        .unwrap_or(0);
    let [top, log, diff, input] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(patch_h),
        Constraint::Length(input_h),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(settings(app)).style(t.base()), top);
    transcript(f, app, log);
    if let Some(p) = patch {
        let lines: Vec<Line> = p.iter().map(|l| diff_line(t, l)).collect();
        f.render_widget(
            Paragraph::new(lines).style(t.base()).block(titled(
                t,
                " proposed patch · A apply & replay · X reject · W grant one write ".into(),
            )),
            diff,
        );
    }
    let title = match (c.typing, c.pending.is_some()) {
        (true, true) => " message · answer coming: Esc cancels it ",
        (true, false) => " message · Enter sends · Alt-Enter new line · Esc leaves ",
        (false, _) => " message · Enter to type ",
    };
    let mut text = c.input.clone();
    text.set_block(titled(t, title.into()));
    text.set_style(if c.typing { t.base() } else { t.dim() });
    if !c.typing {
        text.set_cursor_style(t.dim());
    }
    f.render_widget(&text, input);
}

fn on(t: &Theme, key: &'static str, name: &'static str, yes: bool) -> Vec<Span<'static>> {
    vec![
        Span::styled(key, t.accent()),
        Span::raw(format!(" {name} ")),
        if yes {
            Span::styled("✓  ", t.up())
        } else {
            Span::styled("✗  ", t.dim())
        },
    ]
}

/// Two lines: the run and Ollama; the model, the targets and what is asked.
fn settings(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let c = &app.chat;
    let run = match &c.run {
        None => vec![
            Span::styled("[ ] ", t.accent()),
            Span::raw("no run: "),
            Span::styled("plain chat, no context sent", t.dim()),
        ],
        Some(id) => {
            let about = app
                .snapshot
                .as_ref()
                .and_then(|s| s.runs.iter().find(|r| &r.run_id == id))
                .map(|r| match (&r.error, r.aligned, r.mismatched_series) {
                    (Some(_), _, _) => (format!(" {} · failed", r.dataset_name), t.refused()),
                    (None, Some(true), _) => (format!(" {} · aligned", r.dataset_name), t.up()),
                    (None, _, Some(n)) => {
                        (format!(" {} · {n} series differ", r.dataset_name), t.warn())
                    }
                    _ => (format!(" {} · {}", r.dataset_name, r.lifecycle), t.dim()),
                })
                .unwrap_or_default();
            vec![
                Span::styled("[ ] ", t.accent()),
                Span::raw(format!("run {id}")),
                Span::styled(about.0, about.1),
            ]
        }
    };
    let ollama = match &app.ollama {
        Some(h) if h.reachable => Span::styled(
            format!("   ollama {} ✓", h.version.clone().unwrap_or_default()),
            t.up(),
        ),
        Some(_) => Span::styled("   ollama ✗ down: built-in analysis", t.warn()),
        None => Span::styled("   ollama …", t.dim()),
    };
    // a model Ollama has not listed (it is down, or lacks it) gets the built-in analysis
    let listed = |m: &str| c.models.iter().any(|x| x.name == m);
    let model = match &c.model {
        Some(m) if listed(m) || (c.models.is_empty() && c.models_error.is_none()) => {
            Span::raw(format!(" {m}  "))
        }
        Some(m) => Span::styled(format!(" {m} (not listed)  "), t.warn()),
        None => Span::styled(" none  ", t.warn()),
    };
    let mut second = vec![Span::styled("m", t.accent()), model];
    second.extend(on(t, "p", "pine", c.targets.pine_code));
    second.extend(on(t, "y", "python", c.targets.python_code));
    second.extend(on(t, "r", "run", c.targets.run_artifacts));
    second.push(Span::styled("f", t.accent()));
    second.push(if c.fix && c.run.is_some() {
        Span::styled(" asks a fix", t.warn())
    } else {
        Span::raw(" asks why")
    });
    let mut first = run;
    first.push(ollama);
    vec![Line::from(first), Line::from(second)]
}

fn diff_line(t: &Theme, l: &str) -> Line<'static> {
    let style = if l.starts_with("+++") || l.starts_with("---") {
        t.dim()
    } else if l.starts_with('+') {
        t.up()
    } else if l.starts_with('-') {
        t.down()
    } else if l.starts_with("@@") {
        t.accent()
    } else {
        t.base()
    };
    Line::from(Span::styled(l.to_string(), style))
}

/// Markdown as the console shows it: fenced code blocks set apart behind a gutter (diffs in
/// color), headings emphasised, the rest as written.
pub fn markdown(t: &Theme, text: &str) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut code: Option<String> = None;
    for l in text.lines() {
        let trimmed = l.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            match code.take() {
                Some(_) => out.push(Line::from(Span::styled("  ╰────", t.dim()))),
                None => {
                    let lang = lang.trim().to_string();
                    out.push(Line::from(Span::styled(
                        format!("  ╭─ {}", if lang.is_empty() { "code" } else { &lang }),
                        t.dim(),
                    )));
                    code = Some(lang);
                }
            }
            continue;
        }
        match &code {
            Some(lang) => {
                let body = if matches!(lang.as_str(), "diff" | "patch") {
                    diff_line(t, l).spans.remove(0)
                } else {
                    Span::styled(l.to_string(), t.accent())
                };
                out.push(Line::from(vec![Span::styled("  │ ", t.dim()), body]));
            }
            None if trimmed.starts_with('#') => out.push(Line::from(Span::styled(
                trimmed.trim_start_matches('#').trim().to_string(),
                t.base().add_modifier(Modifier::BOLD),
            ))),
            None => out.push(Line::from(inline(t, l))),
        }
    }
    // an answer still streaming may not have closed its block yet
    out
}

/// A line's inline Markdown: `code` in the code color, **bold** in bold; an unmatched marker
/// stays as written.
fn inline(t: &Theme, line: &str) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let ticks: Vec<&str> = line.split('`').collect();
    // an odd count of backticks leaves the last one unmatched: it joins the text after it
    let paired = if ticks.len().is_multiple_of(2) {
        ticks.len() - 1
    } else {
        ticks.len()
    };
    for (i, part) in ticks.iter().enumerate() {
        let part = if i >= paired {
            format!("`{part}")
        } else {
            part.to_string()
        };
        if i % 2 == 1 && i < paired {
            spans.push(Span::styled(part, t.accent()));
            continue;
        }
        let stars: Vec<&str> = part.split("**").collect();
        let bold_pairs = if stars.len().is_multiple_of(2) {
            stars.len() - 1
        } else {
            stars.len()
        };
        for (j, s) in stars.iter().enumerate() {
            match (j % 2 == 1 && j < bold_pairs, j >= bold_pairs) {
                (true, _) => spans.push(Span::styled(
                    s.to_string(),
                    t.base().add_modifier(Modifier::BOLD),
                )),
                (false, true) => spans.push(Span::raw(format!("**{s}"))),
                (false, false) if !s.is_empty() => spans.push(Span::raw(s.to_string())),
                _ => {}
            }
        }
    }
    spans
}

/// The operator's question: `you` and its lines.
fn question(t: &Theme, text: &str, out: &mut Vec<Line<'static>>) {
    let mut lines = text.lines();
    out.push(Line::from(vec![
        Span::styled("you  ", t.accent()),
        Span::raw(lines.next().unwrap_or("").to_string()),
    ]));
    out.extend(lines.map(|l| Line::from(format!("     {l}"))));
}

/// The answer whose patch waits (`waiting`) keeps its diff for the patch pane below it.
fn message(t: &Theme, m: &StoredMessage, waiting: bool, out: &mut Vec<Line<'static>>) {
    if m.role == "user" {
        return question(t, &m.content, out);
    }
    let model = m.model.clone().unwrap_or_default();
    let head = match (m.status.as_deref(), m.error_class.as_deref()) {
        (Some("fallback"), Some(class)) => Span::styled(
            format!("fallback ({class}) · the built-in analysis"),
            t.warn(),
        ),
        (Some("cancelled"), _) => Span::styled(format!("{model} · cancelled"), t.dim()),
        _ => Span::styled(model, t.dim()),
    };
    out.push(Line::from(head));
    if waiting {
        out.extend(markdown(t, &without_diff(&m.content)));
    } else {
        out.extend(markdown(t, &m.content));
    }
    match m.patch_state.as_deref() {
        Some("proposed") if waiting => out.push(Line::from(Span::styled(
            "patch proposed (below): A applies it (needs a write grant), X rejects it",
            t.warn(),
        ))),
        Some("proposed") => out.push(Line::from(Span::styled(
            "patch proposed (superseded by a newer answer)",
            t.dim(),
        ))),
        Some("applied") => out.push(Line::from(Span::styled(
            "patch applied: a replay run of the patched code is in the Runs tab",
            t.up(),
        ))),
        Some("rejected") => out.push(Line::from(Span::styled("patch rejected", t.dim()))),
        _ => {}
    }
}

/// `text` with its ```diff blocks folded to one line (the patch pane shows the patch).
fn without_diff(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_diff = false;
    for l in text.lines() {
        let fence = l.trim_start().strip_prefix("```");
        match (in_diff, fence) {
            (false, Some(lang)) if matches!(lang.trim(), "diff" | "patch") => {
                in_diff = true;
                out.push("(the diff: in the patch pane below)");
            }
            (true, Some(_)) => in_diff = false,
            (true, None) => {}
            (false, _) => out.push(l),
        }
    }
    out.join("\n")
}

fn transcript(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let c = &app.chat;
    let waiting = c.proposed().map(|m| m.id);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(why) = &c.load_error {
        lines.push(Line::from(Span::styled(
            format!("This conversation could not be loaded: {why}"),
            t.refused(),
        )));
    }
    // the settled messages are rendered once per change, not on every frame (a frame comes
    // with every streamed piece and key)
    let mut rendered = c.rendered.borrow_mut();
    if rendered.0 != c.revision {
        let mut settled = Vec::new();
        for m in &c.messages {
            message(t, m, waiting == Some(m.id), &mut settled);
            settled.push(Line::from(""));
        }
        *rendered = (c.revision, settled);
    }
    lines.extend(rendered.1.iter().cloned());
    drop(rendered);
    if let Some(p) = &c.pending {
        question(t, &p.question, &mut lines);
        let model = &p.model;
        let state = if p.text.is_empty() {
            format!(
                "{model} · waiting for the first words… {} s (Esc cancels)",
                p.seconds
            )
        } else {
            format!("{model} · answering… {} s (Esc cancels)", p.seconds)
        };
        lines.push(Line::from(Span::styled(state, t.dim())));
        let mut body = markdown(t, &p.text);
        match body.last_mut() {
            Some(last) => last.spans.push(Span::styled("▌", t.accent())),
            None => body.push(Line::from(Span::styled("▌", t.accent()))),
        }
        lines.extend(body);
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(
            "Ask the local model why a run diverges: ] picks the run, p/y/r choose what it is shown, f asks for a fix. Enter starts typing.",
            t.dim(),
        )));
    }
    let block = titled(t, " Chat ".into());
    let inner = block.inner(area);
    let para = Paragraph::new(lines)
        .style(t.base())
        .wrap(Wrap { trim: false });
    // the newest at the bottom; PgUp/PgDn move up and back
    let total = u16::try_from(para.line_count(inner.width)).unwrap_or(u16::MAX);
    let bottom = total.saturating_sub(inner.height);
    c.scroll_max.set(bottom);
    let offset = bottom.saturating_sub(c.scroll.min(bottom));
    f.render_widget(para.block(block).scroll((offset, 0)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(spans: &[Span]) -> Vec<(String, bool)> {
        spans
            .iter()
            .map(|s| {
                (
                    s.content.to_string(),
                    s.style.add_modifier.contains(Modifier::BOLD),
                )
            })
            .collect()
    }

    #[test]
    fn inline_code_and_bold_are_styled_and_unmatched_markers_stay() {
        let t = Theme::embedded("dark").unwrap();
        let s = inline(&t, "Pandas seeds with the **first close**; `ewm` differs");
        assert_eq!(
            words(&s),
            [
                ("Pandas seeds with the ".into(), false),
                ("first close".into(), true),
                ("; ".into(), false),
                (
                    "ewm".into(),
                    t.accent().add_modifier.contains(Modifier::BOLD)
                ),
                (" differs".into(), false)
            ]
        );
        assert_eq!(s[3].style, t.accent());
        let s = inline(&t, "a `b and **c");
        let text: String = s.iter().map(|s| s.content.to_string()).collect();
        assert_eq!(text, "a `b and **c");
    }
}
