//! The bricks of the selected asset: one strip per size (newest at the right, scrolling), and the
//! 6pt staircase below. Bricks are placed from their colors alone, as TradingView only sends those.
use super::desk::titled;
use crate::engine::model::{BrickSize, Color};
use crate::engine::state::Brick;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let name = app.current().map(|a| a.asset.clone()).unwrap_or_default();
    let block = titled(t, format!(" {name} bricks "));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(snap) = &app.snapshot else {
        return;
    };
    let bricks = |s: BrickSize| {
        snap.bricks
            .bricks
            .get(s.name())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    let label_w = 6u16;
    let width = inner.width.saturating_sub(label_w) as usize;
    for (row, size) in BrickSize::ALL.iter().rev().enumerate() {
        if row as u16 >= inner.height {
            return;
        }
        let list = bricks(*size);
        let skip = list.len().saturating_sub(width);
        let mut spans = vec![Span::styled(format!("{:>5} ", size.label()), t.dim())];
        spans.extend(list[skip..].iter().map(|b| glyph(app, b.color)));
        let y = inner.y + row as u16;
        f.render_widget(
            Paragraph::new(Line::from(spans)),
            Rect::new(inner.x, y, inner.width, 1),
        );
    }
    let rows = inner.height.saturating_sub(BrickSize::ALL.len() as u16 + 1);
    if rows >= 3 {
        let area = Rect::new(inner.x, inner.y + inner.height - rows, inner.width, rows);
        let title = Line::from(Span::styled(
            match bricks(BrickSize::Main).len() {
                1 => "6pt staircase · 1 brick".to_string(),
                n => format!("6pt staircase · {n} bricks"),
            },
            t.dim(),
        ));
        f.render_widget(
            Paragraph::new(title),
            Rect::new(area.x, area.y - 1, area.width, 1),
        );
        f.render_widget(
            Staircase {
                bricks: bricks(BrickSize::Main),
                up: (t.up_glyph.as_str(), t.up()),
                down: (t.down_glyph.as_str(), t.down()),
            },
            area,
        );
    }
}

fn glyph(app: &App, c: Color) -> Span<'static> {
    let t = &app.theme;
    match c {
        Color::Green => Span::styled(t.up_glyph.clone(), t.up()),
        Color::Red => Span::styled(t.down_glyph.clone(), t.down()),
    }
}

/// Renko staircase: one column per brick, one row per box, newest at the right edge.
struct Staircase<'a> {
    bricks: &'a [Brick],
    up: (&'a str, Style),
    down: (&'a str, Style),
}

/// The box each brick occupies, from colors: a continuation moves one box on from the last close,
/// a reversal starts at the last open (two boxes from the last close).
pub fn levels(colors: impl IntoIterator<Item = Color>) -> Vec<i64> {
    let mut out = Vec::new();
    let mut last: Option<(i64, i64, Color)> = None;
    for c in colors {
        let step = if c == Color::Green { 1 } else { -1 };
        let (open, close) = match last {
            None => (0, step),
            Some((_, cl, lc)) if lc == c => (cl, cl + step),
            Some((op, _, _)) => (op, op + step),
        };
        out.push(open.min(close));
        last = Some((open, close, c));
    }
    out
}

impl Widget for Staircase<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let w = area.width as usize;
        let h = area.height as i64;
        if w == 0 || h == 0 || self.bricks.is_empty() {
            return;
        }
        let all = levels(self.bricks.iter().map(|b| b.color));
        let skip = all.len().saturating_sub(w);
        let visible = &all[skip..];
        let (lo, hi) = (
            *visible.iter().min().unwrap(),
            *visible.iter().max().unwrap(),
        );
        let last = *visible.last().unwrap();
        // fit everything if it fits, else keep the newest brick in the middle
        let top = if hi - lo < h {
            hi
        } else {
            (last + h / 2).min(hi)
        };
        let x0 = area.x + (w - visible.len()) as u16;
        for (i, (lvl, b)) in visible.iter().zip(&self.bricks[skip..]).enumerate() {
            let row = top - lvl;
            if (0..h).contains(&row) {
                let (g, style) = if b.color == Color::Green {
                    self.up
                } else {
                    self.down
                };
                buf[(x0 + i as u16, area.y + row as u16)]
                    .set_symbol(g)
                    .set_style(style);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_two_box_reversal() {
        use Color::*;
        // up, up, reversal down from the last open (1→0), down, reversal up from its open (0→1)
        assert_eq!(
            levels([Green, Green, Red, Red, Green]),
            vec![0, 1, 0, -1, 0]
        );
    }
}
