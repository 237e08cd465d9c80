//! The Research tab (seed 003): datasets with their bars' measurement, every measurement with its
//! rows and time range, and the newest jobs with live progress bars. `↑`/`↓` pick a job, `c`
//! cancels it after a `y`. Side by side from 110 columns, stacked below that.
use super::desk::titled;
use crate::services::research::store::Job;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, List, ListItem, ListState, Paragraph, Row, Table, Wrap};

/// `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// µs since the epoch as `2021-01-01 00:00` (UTC).
fn when(us: Option<i64>) -> String {
    us.and_then(chrono::DateTime::from_timestamp_micros)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "—".into())
}

/// What a job works on, from its payload: the measurement an import fills, the measurement a
/// register makes a desk dataset of, the desk dataset a measurement job writes out.
pub fn job_target(j: &Job) -> String {
    use crate::services::research::sync::{MEASURE, REGISTER};
    let p: serde_json::Value = serde_json::from_str(&j.payload).unwrap_or_default();
    let (m, id) = (p["measurement"].as_str(), p["dataset_id"].as_str());
    match j.job_type.as_str() {
        REGISTER => m.map(|m| format!("{m} → desk dataset")),
        MEASURE => id.map(|id| format!("desk dataset {id} → measurements")),
        // an import: the measurement it fills
        _ => m.map(str::to_string),
    }
    .unwrap_or_else(|| j.job_type.clone())
}

fn status_style(t: &Theme, status: &str) -> Style {
    match status {
        "COMPLETED" => t.up(),
        "FAILED" => t.refused(),
        "CANCELLED" => t.warn(),
        "RUNNING" => t.accent(),
        _ => t.dim(),
    }
}

/// `[██████░░░░]  54%  540,000/1,000,000` in `width` columns.
fn bar(t: &Theme, j: &Job, width: u16) -> Line<'static> {
    let (done, total) = (j.progress.max(0), j.total.max(0));
    let frac = if j.status == "COMPLETED" {
        1.0
    } else if total > 0 {
        (done as f64 / total as f64).min(1.0)
    } else {
        0.0
    };
    let figures = if j.status == "PENDING" {
        " waiting for a worker".to_string()
    } else if j.status == "RUNNING" && total > 0 && done >= total {
        " 100%  indexing and publishing".to_string()
    } else {
        format!(
            " {:>3.0}%  {}/{}",
            frac * 100.0,
            thousands(done),
            thousands(total)
        )
    };
    let cells = (width as usize)
        .saturating_sub(figures.chars().count() + 2)
        .clamp(4, 40);
    let filled = (frac * cells as f64).round() as usize;
    Line::from(vec![
        Span::raw("["),
        Span::styled("█".repeat(filled), status_style(t, &j.status)),
        Span::styled("░".repeat(cells - filled), t.dim()),
        Span::raw("]"),
        Span::raw(figures),
    ])
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let r = app.snapshot.as_ref().and_then(|s| s.research.as_ref());
    if let Some(e) = r.and_then(|r| r.error.as_ref()) {
        f.render_widget(
            Paragraph::new(format!(
                "The research routes did not answer: {e}\n\nWith [research] enable_auth on the server, put one of its tokens in [research] tokens (or STAGE1_TOKENS) where this console runs."
            ))
            .style(t.warn())
            .wrap(Wrap { trim: true })
            .block(titled(t, " research ".into())),
            area,
        );
        return;
    }
    let Some(r) = r else {
        f.render_widget(
            Paragraph::new("loading datasets, measurements and jobs…")
                .style(t.dim())
                .block(titled(t, " research ".into())),
            area,
        );
        return;
    };
    // each table as tall as its rows (within limits); the jobs get the rest
    let ds_h = (r.datasets.len().max(1) as u16 + 3).min(8);
    let m_h = (r.measurements.len().max(1) as u16 + 3).min(10);
    // stacked: the tables as tall as their rows when the jobs still get their least (6 lines:
    // two jobs); else each table takes at most a quarter and the jobs keep half the height
    let (ds_fit, m_fit) = if ds_h + m_h + 6 <= area.height {
        (ds_h, m_h)
    } else {
        let quarter = (area.height / 4).max(4);
        (ds_h.min(quarter), m_h.min(quarter))
    };
    let (ds_area, m_area, jobs) = if area.width >= 110 {
        let [data, jobs] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(area);
        let ds_h = ds_h.min(data.height / 2);
        let [a, b] = Layout::vertical([Constraint::Length(ds_h), Constraint::Min(3)]).areas(data);
        (a, b, jobs)
    } else {
        let [a, b, c] = Layout::vertical([
            Constraint::Length(ds_fit),
            Constraint::Length(m_fit),
            Constraint::Min(6),
        ])
        .areas(area);
        (a, b, c)
    };

    // datasets
    let rows = r.datasets.iter().map(|d| {
        let rows = d["ohlcv_row_count"].as_i64();
        Row::new(vec![
            Cell::from(d["dataset_slug"].as_str().unwrap_or("?").to_string()),
            Cell::from(d["granularity"].as_str().unwrap_or("").to_string()),
            Cell::from(rows.map(thousands).unwrap_or_else(|| "no bars".into())),
            Cell::from(format!(
                "{} → {}",
                when(d["ohlcv_first_ts"].as_i64()),
                when(d["ohlcv_last_ts"].as_i64())
            )),
        ])
    });
    let title = format!(" datasets ({}) ", r.datasets.len());
    if r.datasets.is_empty() {
        f.render_widget(
            Paragraph::new("none yet: brickdesk import FILE.csv, or POST /data-sources/save")
                .style(t.dim())
                .wrap(Wrap { trim: true })
                .block(titled(t, title)),
            ds_area,
        );
    } else {
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Min(10),
                    Constraint::Length(5),
                    Constraint::Length(11),
                    Constraint::Length(35),
                ],
            )
            .header(Row::new(["slug", "gran", "rows", "first → last (UTC)"]).style(t.dim()))
            .block(titled(t, title)),
            ds_area,
        );
    }

    // measurements
    let rows = r.measurements.iter().map(|m| {
        Row::new(vec![
            Cell::from(m.name.clone()),
            Cell::from(Span::styled(
                m.kind.clone(),
                if m.kind == "view" { t.dim() } else { t.base() },
            )),
            Cell::from(thousands(m.row_count)),
            Cell::from(format!("{} → {}", when(m.first_ts), when(m.last_ts))),
        ])
    });
    let title = format!(" measurements ({}) ", r.measurements.len());
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Min(12),
                Constraint::Length(5),
                Constraint::Length(11),
                Constraint::Length(35),
            ],
        )
        .header(Row::new(["name", "kind", "rows", "first → last (UTC)"]).style(t.dim()))
        .block(titled(t, title)),
        m_area,
    );

    // jobs: two lines each, the selected one's error or result underneath
    let title = format!(" jobs ({}) · ↑/↓ select · c cancel ", r.jobs.len());
    if r.jobs.is_empty() {
        f.render_widget(
            Paragraph::new(
                "No jobs yet. POST /api/questdb/import/async queues a CSV import; its progress shows here.",
            )
            .style(t.dim())
            .wrap(Wrap { trim: true })
            .block(titled(t, title)),
            jobs,
        );
        return;
    }
    // the selected job's line, when the jobs have room for it
    let detail_h = if jobs.height >= 10 { 3 } else { 0 };
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(detail_h)]).areas(jobs);
    let inner_w = list_area.width.saturating_sub(5);
    let items: Vec<ListItem> = r
        .jobs
        .iter()
        .map(|j| {
            let head = Line::from(vec![
                Span::styled(format!("{:<9}", j.status), status_style(t, &j.status)),
                Span::raw(" "),
                Span::styled(job_target(j), t.base()),
                Span::styled(
                    format!(
                        "  {} · {}",
                        crate::tui::link::short(&j.job_id),
                        j.created_at.replace('T', " ")
                    ),
                    t.dim(),
                ),
            ]);
            ListItem::new(vec![head, bar(t, j, inner_w)])
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(app.job_index));
    f.render_stateful_widget(
        List::new(items)
            .highlight_style(t.selected())
            .highlight_symbol("› ")
            .highlight_spacing(ratatui::widgets::HighlightSpacing::Always)
            .block(titled(t, title)),
        list_area,
        &mut state,
    );
    if detail_h > 0
        && let Some(j) = app.selected_job()
    {
        let text = match (&j.error, &j.result) {
            (Some(e), _) => Line::from(Span::styled(e.clone(), status_style(t, &j.status))),
            (None, Some(res)) => {
                let v: serde_json::Value = serde_json::from_str(res).unwrap_or_default();
                let msg = match v["rows_imported"].as_i64() {
                    Some(n) => format!(
                        "{} {} into {} ({}, {} skipped)",
                        thousands(n),
                        if n == 1 { "row" } else { "rows" },
                        v["measurement"].as_str().unwrap_or("?"),
                        // no unit: the file's timestamps were dates, not epoch numbers
                        v["timestamp_unit"]
                            .as_str()
                            .map_or("timestamps as dates".into(), |u| format!(
                                "timestamps in {u}"
                            )),
                        v["rows_skipped"].as_i64().unwrap_or(0)
                    ),
                    // another job's own words, else its result as it is
                    None => v["message"]
                        .as_str()
                        .map_or_else(|| res.clone(), str::to_string),
                };
                Line::from(Span::styled(msg, t.up()))
            }
            (None, None) => Line::from(Span::styled(
                format!(
                    "{} since {}",
                    j.status.to_lowercase(),
                    j.updated_at.replace('T', " ")
                ),
                t.dim(),
            )),
        };
        f.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(titled(t, " selected job ".into())),
            detail_area,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000), "1,000");
        assert_eq!(super::thousands(-1_234_567), "-1,234,567");
    }
}
