//! The bricks of one asset: a strip per size (newest at the right, colors only, as TradingView
//! sends them), and below them the chart of the size chosen with `[` and `]`.
use super::chart::{Fill, RenkoChart, decimals};
use super::desk::titled;
use crate::engine::model::{BrickSize, Color};
use crate::engine::orders::OrderStatus;
use crate::engine::view::AssetView;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;

/// The selected asset's bricks.
pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    draw_asset(f, app, area, app.asset, false);
}

/// Asset `a`'s bricks; `mark`: it is the selected one of several shown.
pub fn draw_asset(f: &mut Frame, app: &App, area: Rect, a: usize, mark: bool) {
    let t = &app.theme;
    let asset = app.state().and_then(|s| s.assets.get(a));
    let name = asset.map(|a| a.asset.as_str()).unwrap_or_default();
    let title = if mark {
        format!(" ▶ {name} bricks ")
    } else {
        format!(" {name} bricks ")
    };
    let block = titled(t, title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let (Some(snap), Some(asset)) = (&app.snapshot, asset) else {
        return;
    };
    let label_w = 6u16;
    let width = inner.width.saturating_sub(label_w) as usize;
    for (row, size) in BrickSize::ALL.iter().rev().enumerate() {
        if row as u16 >= inner.height {
            return;
        }
        let list = snap.bricks_of(name, *size);
        let skip = list.len().saturating_sub(width);
        let chosen = *size == app.chart_size;
        let label_style = if chosen { t.accent() } else { t.dim() };
        // straight into the buffer: this runs every frame, for every asset
        let (y, right) = (inner.y + row as u16, inner.right());
        let buf = f.buffer_mut();
        let label = format!("{:>5} ", size.label());
        let mut x = buf
            .set_stringn(inner.x, y, label, inner.width as usize, label_style)
            .0;
        for b in &list[skip..] {
            let (glyph, style) = match b.color {
                Color::Green => (t.up_glyph.as_str(), t.up()),
                Color::Red => (t.down_glyph.as_str(), t.down()),
            };
            x = buf
                .set_stringn(x, y, glyph, right.saturating_sub(x) as usize, style)
                .0;
        }
    }
    let rows = inner.height.saturating_sub(BrickSize::ALL.len() as u16 + 1);
    if rows < 3 {
        return;
    }
    let bricks = snap.bricks_of(name, app.chart_size);
    // TradingView's alerts send colors; a brick without its close is placed from them
    let guessed = bricks.iter().any(|b| b.close.is_none());
    let title = format!(
        "{} chart · {} brick{}{}",
        app.chart_size.label(),
        bricks.len(),
        if bricks.len() == 1 { "" } else { "s" },
        if guessed { " · ≈ from colors" } else { "" }
    );
    let area = Rect::new(inner.x, inner.y + inner.height - rows, inner.width, rows);
    f.render_widget(
        Paragraph::new(Span::styled(title, t.dim())),
        Rect::new(area.x, area.y - 1, area.width, 1),
    );
    let fills: Vec<Fill> = snap
        .state
        .orders
        .iter()
        .filter(|o| o.asset == name && o.status == OrderStatus::Filled)
        .filter_map(|o| {
            o.fill_price.map(|price| Fill {
                at: o.updated_at,
                price,
                side: o.side,
            })
        })
        .collect();
    let (entry, stop, target) = trade_prices(asset);
    f.render_widget(
        RenkoChart {
            bricks,
            box_size: app.chart_size.points(),
            decimals: decimals(asset.tick),
            last: asset.last_price,
            entry,
            stop,
            target,
            fills: &fills,
            theme: t,
        },
        area,
    );
}

/// The open position's entry, protective stop and points take-profit prices.
fn trade_prices(a: &AssetView) -> (Option<f64>, Option<f64>, Option<f64>) {
    let Some(p) = &a.position else {
        return (None, None, None);
    };
    let tp = &a.exits.settings.points_tp;
    let target = tp
        .enabled
        .then_some(p.avg_price + p.side.sign() * tp.target);
    (Some(p.avg_price), Some(p.protective_stop_price), target)
}
