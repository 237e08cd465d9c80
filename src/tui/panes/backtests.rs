//! The Backtests tab: finished backtests and paper runs, newest first; for the selected one, its
//! equity curve (a `Chart`, with the running peak) over its drawdown, shaded, and its trades with
//! the selected trade's reasoning. `↑`/`↓` pick a backtest, `j`/`k` a trade.
use super::desk::titled;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState, Wrap,
};
use serde_json::Value;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let list = app
        .snapshot
        .as_ref()
        .map(|s| s.backtests.as_slice())
        .unwrap_or(&[]);
    if list.is_empty() {
        let text = "No backtests yet.\n\nRun one from the shell:\n  brickdesk backtest --dataset ID --strategy sma_cross --param fast=10\nor with POST /api/v1/run/backtest, or from the /ui page. Paper runs (POST /api/v1/run/live) are listed here once stopped.\n\nThen ↑/↓ select a backtest, j/k a trade.";
        f.render_widget(
            Paragraph::new(text)
                .style(t.dim())
                .wrap(Wrap { trim: false })
                .block(titled(t, " backtests ".into())),
            area,
        );
        return;
    }
    let list_h = (list.len() as u16 + 3).min(area.height / 4).max(4);
    // the selected trade's reasoning (and a run-wide note) as tall as it wraps, within what the
    // chart and the trades leave (at least 8 lines)
    let why = Paragraph::new(
        app.backtest
            .as_ref()
            .map(|b| reasoning_lines(app, b))
            .unwrap_or_default(),
    )
    .wrap(Wrap { trim: true })
    .block(titled(t, " reasoning ".into()));
    let most = area.height.saturating_sub(list_h + 8).max(4);
    let why_h = (why.line_count(area.width) as u16).clamp(4, most);
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Length(list_h),
        Constraint::Min(8),
        Constraint::Length(why_h),
    ])
    .areas(area);
    let rows = list.iter().map(|b| {
        let ret = b.total_return_pct.unwrap_or(0.0);
        Row::new(vec![
            Cell::from(format!("#{}", b.id)),
            Cell::from(b.strategy.clone()),
            Cell::from(b.asset.clone()),
            Cell::from(b.mode.clone()),
            Cell::from(Span::styled(
                super::pct(ret),
                if ret >= 0.0 { t.up() } else { t.down() },
            )),
            Cell::from(b.total_trades.to_string()),
            Cell::from(b.final_value.map(|v| format!("{v:.2}")).unwrap_or_default()),
            Cell::from(
                b.created_at
                    .get(..16)
                    .unwrap_or(&b.created_at)
                    .replace('T', " "),
            ),
        ])
    });
    let header = Row::new([
        "id", "strategy", "asset", "mode", "return", "fills", "final", "run at",
    ])
    .style(t.dim());
    let widths = [
        Constraint::Length(5),
        Constraint::Length(13),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(11),
        Constraint::Min(10),
    ];
    let mut state = TableState::default().with_selected(Some(app.backtest_index));
    f.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(t.selected())
            .block(titled(t, format!(" backtests ({}) ", list.len()))),
        top,
        &mut state,
    );
    let selected = app.selected_backtest().map(|b| b.id);
    let Some(b) = app
        .backtest
        .as_ref()
        .filter(|b| b["id"].as_i64() == selected)
    else {
        let (text, style) = match &app.backtest_error {
            Some(e) => (format!("cannot show this backtest: {e}"), t.refused()),
            None => ("loading the backtest…".to_string(), t.dim()),
        };
        f.render_widget(
            Paragraph::new(text).style(style).wrap(Wrap { trim: true }),
            mid,
        );
        return;
    };
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(mid);
    // the drawdown keeps at least two rows of bars under its borders and axis
    let [eq_area, dd_area] = Layout::vertical([
        Constraint::Min(5),
        Constraint::Length((left.height * 2 / 5).max(6)),
    ])
    .areas(left);
    curve(f, app, b, eq_area, dd_area);
    trades(f, app, b, right);
    f.render_widget(why, bottom);
}

/// Equity with its running peak, and below it the drawdown from that peak, shaded.
fn curve(f: &mut Frame, app: &App, b: &Value, eq_area: Rect, dd_area: Rect) {
    let t = &app.theme;
    let points = b["equity_curve"].as_array().map_or(&[][..], Vec::as_slice);
    let eq: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i as f64, p["portfolio_value"].as_f64()?)))
        .collect();
    let mut peak = f64::MIN;
    let (mut peaks, mut dd) = (Vec::with_capacity(eq.len()), Vec::with_capacity(eq.len()));
    for &(x, y) in &eq {
        peak = peak.max(y);
        peaks.push((x, peak));
        dd.push((
            x,
            if peak > 0.0 {
                (y / peak - 1.0) * 100.0
            } else {
                0.0
            },
        ));
    }
    let (lo, hi) = super::y_bounds(eq.iter().map(|p| p.1));
    let n = eq.len().max(2) as f64 - 1.0;
    // dates for daily bars, month-day and minute for intraday ones
    let stamp = |i: usize| {
        points
            .get(i)
            .and_then(|p| p["timestamp"].as_str())
            .map(|s| match s.strip_suffix("T00:00:00") {
                Some(day) => day.to_string(),
                None => s.get(5..16).unwrap_or(s).replace('T', " "),
            })
            .unwrap_or_default()
    };
    let x_axis = |labels: bool| {
        let a = Axis::default().style(t.dim()).bounds([0.0, n]);
        if labels {
            a.labels(vec![
                Span::raw(stamp(0)),
                Span::raw(stamp(points.len().saturating_sub(1))),
            ])
        } else {
            a
        }
    };
    let m = &b["metrics"];
    // what matters first: a narrow pane drops whole parts from the right, never half of one
    let parts = [
        format!(
            "equity {}",
            super::pct(b["total_return_pct"].as_f64().unwrap_or(0.0))
        ),
        format!(
            "final {}",
            b["final_value"]
                .as_f64()
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default()
        ),
        format!(
            "Sharpe {}",
            m["sharpe_ratio"]
                .as_f64()
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "—".into())
        ),
    ];
    let room = eq_area.width.saturating_sub(4) as usize;
    let mut title = parts[0].clone();
    for p in &parts[1..] {
        if title.chars().count() + 3 + p.chars().count() > room {
            break;
        }
        title = format!("{title} · {p}");
    }
    let title = format!(" {title} ");
    let chart = Chart::new(vec![
        Dataset::default()
            .name("peak")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(t.dim())
            .data(&peaks),
        Dataset::default()
            .name("equity")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(t.accent())
            .data(&eq),
    ])
    .block(titled(t, title))
    .legend_position(None)
    .x_axis(x_axis(false))
    .y_axis(Axis::default().style(t.dim()).bounds([lo, hi]).labels(vec![
        Span::raw(format!("{lo:.0}")),
        Span::raw(format!("{hi:.0}")),
    ]));
    f.render_widget(chart, eq_area);
    let deepest = dd.iter().map(|p| p.1).fold(0.0f64, f64::min).min(-0.01);
    // bars drawn down from 0 to the drawdown, one per column: a short run's few points are
    // joined, not left as stripes
    let shade_pts = fill_columns(&dd, dd_area.width as usize);
    let shade = Chart::new(vec![
        Dataset::default()
            .marker(Marker::HalfBlock)
            .graph_type(GraphType::Bar)
            .style(t.down())
            .data(&shade_pts),
    ])
    .block(titled(
        t,
        format!(
            " drawdown · max {:.2}% ",
            m["max_drawdown_pct"].as_f64().unwrap_or(deepest)
        ),
    ))
    .x_axis(x_axis(true))
    .y_axis({
        let axis = Axis::default().style(t.dim()).bounds([deepest, 0.0]);
        // two labels need three rows of bars to sit apart
        if dd_area.height >= 7 {
            // a shallow drawdown keeps its decimals ("-0%" said nothing)
            let deep = if deepest > -10.0 {
                format!("{deepest:.2}%")
            } else {
                format!("{deepest:.0}%")
            };
            axis.labels(vec![Span::raw(deep), Span::raw("0%")])
        } else {
            axis
        }
    });
    f.render_widget(shade, dd_area);
}

/// `pts` (x = 0, 1, …) with points added between them by straight lines, so at least
/// `columns` points cover the x range.
fn fill_columns(pts: &[(f64, f64)], columns: usize) -> Vec<(f64, f64)> {
    let n = pts.len();
    if n < 2 || n >= columns {
        return pts.to_vec();
    }
    let span = (n - 1) as f64;
    (0..columns)
        .map(|k| {
            let x = k as f64 * span / (columns - 1) as f64;
            let i = (x.floor() as usize).min(n - 2);
            let f = x - i as f64;
            (x, pts[i].1 + (pts[i + 1].1 - pts[i].1) * f)
        })
        .collect()
}

fn trades(f: &mut Frame, app: &App, b: &Value, area: Rect) {
    let t = &app.theme;
    let fills = b["trades"].as_array().map_or(&[][..], Vec::as_slice);
    // daily bars read as dates; intraday ones to the minute
    let daily = fills.iter().all(|o| {
        o["timestamp"]
            .as_str()
            .is_some_and(|s| s.ends_with("T00:00:00"))
    });
    let wide = area.width >= 44;
    let rows = fills.iter().map(|o| {
        let buy = o["action"] == "BUY";
        let time = o["timestamp"].as_str().unwrap_or_default();
        let time = if daily {
            time.get(..10).unwrap_or(time).to_string()
        } else if wide {
            time.get(..16).unwrap_or(time).replace('T', " ")
        } else {
            time.get(5..16).unwrap_or(time).replace('T', " ")
        };
        // a refused or rejected order is marked ✗ (the reasoning line says why)
        let action = match o["status"].as_str() {
            Some("FILLED") | None => o["action"].as_str().unwrap_or("?").to_string(),
            Some(_) => format!("{}✗", o["action"].as_str().unwrap_or("?")),
        };
        let mut cells = vec![
            Cell::from(time),
            Cell::from(Span::styled(action, if buy { t.up() } else { t.down() })),
            Cell::from(format!("{}", o["qty"].as_f64().unwrap_or(0.0))),
            Cell::from(format!("{:.2}", o["price"].as_f64().unwrap_or(0.0))),
        ];
        if wide {
            cells.push(Cell::from(format!(
                "{:.0}",
                o["confidence"].as_f64().unwrap_or(0.0)
            )));
        }
        Row::new(cells)
    });
    // the confidence is in the reasoning line too: a narrow pane leaves its column out
    let mut header = vec!["time", "action", "qty", "price"];
    let mut widths = vec![
        Constraint::Length(match (daily, wide) {
            (true, _) => 10,
            (false, true) => 16,
            (false, false) => 11,
        }),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Min(8),
    ];
    if wide {
        header.push("conf");
        widths[3] = Constraint::Length(10);
        widths.push(Constraint::Min(4));
    }
    let header = Row::new(header).style(t.dim());
    // every order is listed, filled or not; the console asks for the first FILLS
    let shown = if fills.len() >= crate::tui::link::FILLS {
        format!(" orders (the first {}) ", fills.len())
    } else {
        format!(" orders ({}) ", fills.len())
    };
    let mut state =
        TableState::default().with_selected((!fills.is_empty()).then_some(app.trade_index));
    f.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(t.selected())
            .block(titled(t, shown)),
        area,
        &mut state,
    );
}

/// The run-wide note (an LLM fallback), unless the selected trade's reasoning says it already: a
/// fallback decision's reasoning starts with the note's cause (at 80 columns both do not fit).
fn run_note(b: &Value, trade: usize) -> Option<&str> {
    let note = b["note"].as_str()?;
    let cause = note.split("; ").next().unwrap_or(note);
    let said = b["trades"][trade]["reasoning"]
        .as_str()
        .is_some_and(|r| r.starts_with(cause));
    (!said).then_some(note)
}

/// The selected trade's reasoning, and the run-wide note where it adds to it.
fn reasoning_lines(app: &App, b: &Value) -> Vec<Line<'static>> {
    let t = &app.theme;
    let fill = b["trades"].get(app.trade_index);
    let lines = match fill {
        Some(o) => vec![Line::from(vec![
            Span::styled(
                format!(
                    "#{} {} {} {} @ {:.2} · confidence {:.0} · ",
                    o["id"],
                    o["action"].as_str().unwrap_or("?"),
                    o["asset"].as_str().unwrap_or("?"),
                    o["purpose"].as_str().unwrap_or_default().replace('_', " "),
                    o["price"].as_f64().unwrap_or(0.0),
                    o["confidence"].as_f64().unwrap_or(0.0)
                ),
                t.accent(),
            ),
            Span::styled(
                o["reasoning"].as_str().unwrap_or_default().to_string(),
                t.base(),
            ),
        ])],
        None => vec![Line::from(Span::styled("no trades", t.dim()))],
    };
    let mut lines = lines;
    if let Some(note) = run_note(b, app.trade_index) {
        lines.push(Line::from(Span::styled(note.to_string(), t.warn())));
    }
    lines
}
