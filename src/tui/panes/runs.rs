//! The Runs tab: parity runs with lifecycle and progress; for the selected run, Python vs Pine on
//! one chart around the first mismatch of the chosen series (`]`), the per-series mismatch table
//! and the suggested next action. `l` plays the selected run live, `.` stops it, `F` follows.
use super::desk::titled;
use crate::engine::runs::RunStatus;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, Wrap};
use serde_json::Value;
use std::collections::HashMap;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let runs = app
        .snapshot
        .as_ref()
        .map(|s| s.runs.as_slice())
        .unwrap_or(&[]);
    if runs.is_empty() {
        let text = "No parity runs yet.\n\nStart one with POST /runs/replay or POST /runs/live (seed 000), or from the shell:\n  brickdesk import FILE\n  brickdesk replay --dataset ID --python strategy.py --pine-export export.json\n\nThen ↑/↓ select a run, ] picks the compared series, l plays it live, . stops it, F follows the live one.";
        f.render_widget(
            Paragraph::new(text)
                .style(t.dim())
                .wrap(Wrap { trim: false })
                .block(titled(t, " runs ".into())),
            area,
        );
        return;
    }
    let list_h = (runs.len() as u16 + 3).min(area.height / 3).max(4);
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Length(list_h),
        Constraint::Min(6),
        Constraint::Length(4),
    ])
    .areas(area);
    let rows = runs.iter().enumerate().map(|(i, r)| {
        let progress = if r.live_total > 0 {
            format!("{}/{}", r.live_progress, r.live_total)
        } else {
            "—".into()
        };
        let verdict = match (r.aligned, r.mismatched_series, &r.error) {
            (_, _, Some(e)) => Span::styled(e.lines().last().unwrap_or(e).to_string(), t.refused()),
            (Some(true), _, _) => Span::styled("aligned", t.up()),
            (Some(false), Some(n), _) => Span::styled(format!("{n} series differ"), t.warn()),
            _ => Span::styled("…", t.dim()),
        };
        let life = match r.lifecycle.as_str() {
            "live" => t.accent(),
            "failed" => t.refused(),
            "completed" => t.up(),
            _ => t.dim(),
        };
        let row = Row::new(vec![
            Cell::from(r.run_id.clone()),
            Cell::from(Span::styled(r.lifecycle.as_str(), life)),
            Cell::from(progress),
            Cell::from(r.dataset_name.clone()),
            Cell::from(verdict),
        ]);
        if i == app.run_index {
            row.style(t.selected())
        } else {
            row
        }
    });
    let header = Row::new(["run", "lifecycle", "bars", "dataset", "verdict"]).style(t.dim());
    let widths = [
        Constraint::Length(13),
        Constraint::Length(10),
        Constraint::Length(13),
        Constraint::Length(18),
        Constraint::Min(10),
    ];
    let title = format!(
        " runs{} ",
        if app.follow { " · following live" } else { "" }
    );
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(titled(t, title)),
        top,
    );
    let Some(run) = app.snapshot.as_ref().and_then(|s| s.run.as_ref()) else {
        f.render_widget(Paragraph::new("loading the run…").style(t.dim()), mid);
        return;
    };
    let [chart_area, table_area] =
        Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(mid);
    let results: Vec<Value> = run
        .comparison
        .as_ref()
        .and_then(|c| c["series_results"].as_array().cloned())
        .unwrap_or_default();
    chart(f, app, run, &results, chart_area);
    mismatch_table(f, app, &results, table_area);
    let next = run
        .error
        .clone()
        .or_else(|| {
            run.comparison
                .as_ref()
                .and_then(|c| c["suggested_next_action"].as_str().map(str::to_string))
        })
        .unwrap_or_default();
    let warn = run.warnings.first().cloned().unwrap_or_default();
    let style = if run.error.is_some() {
        t.refused()
    } else {
        t.base()
    };
    let lines = vec![
        Line::from(Span::styled(next, style)),
        Line::from(Span::styled(warn, t.dim())),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(titled(t, " next ".into())),
        bottom,
    );
}

fn values_by_ts(series: &[crate::engine::runs::NamedSeries], name: &str) -> HashMap<String, f64> {
    series
        .iter()
        .find(|s| s.name == name)
        .map(|s| {
            s.values
                .iter()
                .filter_map(|p| Some((p.timestamp.clone(), p.value?)))
                .collect()
        })
        .unwrap_or_default()
}

fn chart(f: &mut Frame, app: &App, run: &RunStatus, results: &[Value], area: Rect) {
    let t = &app.theme;
    let Some(r) = (!results.is_empty()).then(|| &results[app.series_index % results.len()]) else {
        f.render_widget(
            Paragraph::new("nothing compared")
                .style(t.dim())
                .block(titled(t, " chart ".into())),
            area,
        );
        return;
    };
    let py_name = r["python_name"].as_str().unwrap_or_default();
    let pine_name = r["pine_name"].as_str().unwrap_or_default();
    let n = run.candles.len();
    let center = r["first_mismatch"]["bar_index"]
        .as_u64()
        .map(|b| b as usize)
        .unwrap_or(n.saturating_sub(1));
    let half = (area.width as usize).saturating_sub(10).clamp(10, 60) / 2;
    let (lo, hi) = (
        center.saturating_sub(half),
        (center + half).min(n.saturating_sub(1)),
    );
    let py = values_by_ts(&run.python_series, py_name);
    let pine = values_by_ts(&run.pine_series, pine_name);
    let pick = |m: &HashMap<String, f64>| -> Vec<(f64, f64)> {
        (lo..=hi)
            .filter_map(|i| Some((i as f64, *m.get(&run.candles.get(i)?.timestamp)?)))
            .collect()
    };
    let (a, b) = (pick(&py), pick(&pine));
    let ys = a.iter().chain(&b).map(|p| p.1);
    let (ymin, ymax) = super::y_bounds(ys);
    let datasets = vec![
        Dataset::default()
            .name(format!("python {py_name}"))
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(t.up())
            .data(&a),
        Dataset::default()
            .name(format!("pine {pine_name}"))
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(t.warn())
            .data(&b),
    ];
    let title = match r["first_mismatch"]["bar_index"].as_u64() {
        Some(bar) => format!(" {py_name} · first mismatch at bar {bar} "),
        None => format!(" {py_name} · no mismatch "),
    };
    let chart = Chart::new(datasets)
        .block(titled(t, title))
        .x_axis(
            Axis::default()
                .style(t.dim())
                .bounds([lo as f64, hi.max(lo + 1) as f64])
                .labels(vec![Span::raw(lo.to_string()), Span::raw(hi.to_string())]),
        )
        .y_axis(
            Axis::default()
                .style(t.dim())
                .bounds([ymin, ymax])
                .labels(vec![
                    Span::raw(format!("{ymin:.2}")),
                    Span::raw(format!("{ymax:.2}")),
                ]),
        );
    f.render_widget(chart, area);
}

fn mismatch_table(f: &mut Frame, app: &App, results: &[Value], area: Rect) {
    let t = &app.theme;
    let num = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{x:.4}"))
            .unwrap_or_else(|| "na".into())
    };
    let rows = results.iter().enumerate().map(|(i, r)| {
        let m = &r["first_mismatch"];
        let bad = r["mismatch_count"].as_u64().unwrap_or(0) > 0;
        let row = Row::new(vec![
            Cell::from(r["series"].as_str().unwrap_or("?").to_string()),
            Cell::from(Span::styled(
                format!("{}/{}", r["mismatch_count"], r["compared"]),
                if bad { t.warn() } else { t.up() },
            )),
            Cell::from(
                m["bar_index"]
                    .as_u64()
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "—".into()),
            ),
            Cell::from(if m.is_null() {
                String::new()
            } else {
                format!("{} vs {}", num(&m["python_value"]), num(&m["pine_value"]))
            }),
        ]);
        if !results.is_empty() && i == app.series_index % results.len() {
            row.style(t.selected())
        } else {
            row
        }
    });
    let header = Row::new(["series", "bad/cmp", "bar", "python vs pine"]).style(t.dim());
    let widths = [
        Constraint::Length(16),
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(titled(t, " mismatches ".into())),
        area,
    );
}
