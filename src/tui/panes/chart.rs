//! The Renko chart of one asset at one brick size: bricks as boxes on a price grid (half-block
//! cells, two price steps per row, when the theme has colors), a right-hand price axis with the
//! last price, the position's entry, stop and target lines, and markers where orders filled.
use crate::engine::model::{Color, Side};
use crate::engine::state::Brick;
use crate::tui::theme::Theme;
use chrono::{DateTime, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::Widget;

/// Where one of this desk's orders filled.
#[derive(Debug, Clone, Copy)]
pub struct Fill {
    pub at: DateTime<Utc>,
    pub price: f64,
    pub side: Side,
}

pub struct RenkoChart<'a> {
    pub bricks: &'a [Brick],
    /// The brick size in points.
    pub box_size: f64,
    /// Decimals of a price (from the tick).
    pub decimals: usize,
    pub last: Option<f64>,
    pub entry: Option<f64>,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    pub fills: &'a [Fill],
    pub theme: &'a Theme,
}

/// Decimals a price of this tick needs (`0.25` → 2).
pub fn decimals(tick: f64) -> usize {
    (0..6)
        .find(|d| {
            let x = tick * 10f64.powi(*d as i32);
            (x - x.round()).abs() < 1e-6
        })
        .unwrap_or(6)
}

/// Each brick's low and high price. A brick that came with its close sits at it; the others
/// are placed from their colors (`levels`) on the grid of the nearest priced brick after them
/// (else before them), else with the newest brick's close taken as the last price rounded to
/// the grid.
pub fn placed(bricks: &[Brick], box_size: f64, last: Option<f64>) -> Option<Vec<(f64, f64)>> {
    let lows = levels(bricks.iter().map(|b| b.color));
    let low_of = |b: &Brick, close: f64| match b.color {
        Color::Green => close - box_size,
        Color::Red => close,
    };
    // the grid offset each priced brick gives the box levels
    let offset_at = |i: usize| {
        let b = &bricks[i];
        b.close.map(|c| low_of(b, c) - lows[i] as f64 * box_size)
    };
    let mut offset = match (0..bricks.len()).rev().find_map(offset_at) {
        Some(o) => o,
        None => {
            let (b, l) = bricks.last().zip(lows.last())?;
            let close = (last? / box_size).round() * box_size;
            low_of(b, close) - *l as f64 * box_size
        }
    };
    let mut spans = vec![(0.0, 0.0); bricks.len()];
    for i in (0..bricks.len()).rev() {
        offset = offset_at(i).unwrap_or(offset);
        let lo = offset + lows[i] as f64 * box_size;
        spans[i] = (lo, lo + box_size);
    }
    Some(spans)
}

/// The vertical scale: price `top` at the top edge, `per` points a step (half a row, or a row
/// in monochrome), `sub` steps a row.
struct Scale {
    top: f64,
    per: f64,
    sub: i64,
    rows: i64,
}

impl Scale {
    /// The step holding price `p` (the one under it when `p` is on a boundary).
    fn step(&self, p: f64) -> i64 {
        ((self.top - p) / self.per).floor() as i64
    }
    /// The step boundary nearest price `p`.
    fn edge(&self, p: f64) -> i64 {
        ((self.top - p) / self.per).round() as i64
    }
    fn row(&self, step: i64) -> i64 {
        step.div_euclid(self.sub)
    }
}

impl Widget for RenkoChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let Some(spans) = placed(self.bricks, self.box_size, self.last) else {
            let msg = if self.bricks.is_empty() {
                "no bricks yet"
            } else {
                "no price yet: the chart waits for a heartbeat"
            };
            buf.set_stringn(area.x, area.y, msg, area.width as usize, t.dim());
            return;
        };
        let d = self.decimals;
        let label = |p: f64| format!("{p:.d$}");
        let lines = [self.last, self.entry, self.stop, self.target];
        // labels as wide as the highest price shown, with room for the padding above it
        let top_price = spans
            .iter()
            .map(|s| s.1)
            .chain(lines.iter().flatten().copied())
            .fold(0.0, f64::max);
        let label_w = label(top_price + 100.0 * self.box_size).len() as u16;
        if area.width < label_w + 10 || area.height < 2 {
            return;
        }
        // bricks, the column of the brick forming now, the axis line, the labels
        let plot_w = area.width - label_w - 2;
        let y0 = area.y;
        let axis_x = area.x + plot_w + 1;
        // half blocks give two price steps a row; monochrome needs the glyphs to tell bricks apart
        let fine = !t.monochrome && t.up_glyph == t.down_glyph;
        let sub: i64 = if fine { 2 } else { 1 };
        let steps = area.height as i64 * sub;
        // the box grid of the newest brick: a price range touches whole boxes of it
        let bx = self.box_size;
        let grid = spans.last().map_or(0.0, |s| s.0);
        let down = |p: f64| grid + ((p - grid) / bx + 1e-9).floor() * bx;
        let up_to = |p: f64| grid + ((p - grid) / bx - 1e-9).ceil() * bx;
        let boxes_of = |lo: f64, hi: f64| (((up_to(hi) - down(lo)) / bx).round() as i64).max(1);
        // the newest `n` bricks and the lines: their lowest and highest prices
        let range = |n: usize| {
            spans[spans.len().saturating_sub(n)..]
                .iter()
                .copied()
                .chain(lines.iter().flatten().map(|p| (*p, *p)))
                .fold((f64::MAX, f64::MIN), |(l, h), s| (l.min(s.0), h.max(s.1)))
        };
        // square boxes (a column is half as wide as a row is tall): the widest that shows every
        // brick the width allows; else one column and one step, fewer bricks rather than
        // squeezed ones (down to six); else squeezed
        let total = spans.len();
        let by_width = |bw: u16| total.min((plot_w / bw) as usize);
        // how many of the newest `cap` bricks fit with `per_box` steps a box
        let most = |per_box: i64, cap: usize| {
            let (mut lo, mut hi) = range(0);
            let mut n = 0;
            for s in spans.iter().rev().take(cap) {
                (lo, hi) = (lo.min(s.0), hi.max(s.1));
                if boxes_of(lo, hi) * per_box > steps {
                    break;
                }
                n += 1;
            }
            n
        };
        // (four columns only when every brick fits so: a larger box must not cost history)
        let square = [(4u16, 2 * sub), (2, sub)];
        let (bw, shown, per_box) = if let Some(&(bw, per_box)) =
            square.iter().find(|(bw, per_box)| {
                (*bw < 4 || by_width(*bw) == total)
                    && most(*per_box, by_width(*bw)) == by_width(*bw)
            }) {
            (bw, by_width(bw), per_box)
        } else {
            let n = most(1, by_width(1));
            if n >= total.min(6) {
                (1, n, 1)
            } else {
                (1, by_width(1), 0)
            }
        };
        let skip = total - shown;
        // the newest brick next to the forming column
        let x0 = axis_x - 1 - shown as u16 * bw;
        let (lo, hi) = range(shown);
        let boxes = boxes_of(lo, hi);
        let per = if per_box > 0 {
            bx / per_box as f64
        } else {
            // more boxes than steps: several boxes a step
            bx * ((boxes + steps - 1) / steps) as f64
        };
        // centred on whole rows, so that box edges are row edges when a box is whole rows
        let used = ((up_to(hi) - down(lo)) / per).round() as i64;
        let pad = (steps - used).max(0) / 2 / sub * sub;
        let top = up_to(hi) + pad as f64 * per;
        let scale = Scale {
            top,
            per,
            sub,
            rows: area.height as i64,
        };
        let y_of = |row: i64| (0..scale.rows).contains(&row).then(|| y0 + row as u16);
        let (up, down) = (t.up(), t.down());
        // the price grid: a label every few rows, on a round number of boxes
        let rows_per_box = self.box_size / per / sub as f64;
        let gap = if area.height < 12 { 2.0 } else { 3.0 };
        let every = (0..20)
            .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
            .find(|n| n * rows_per_box >= gap)
            .unwrap_or(1.0);
        let label_step = every * self.box_size;
        for y in y0..y0 + area.height {
            buf[(axis_x, y)].set_symbol("│").set_style(t.border());
        }
        let mut labels: Vec<(u16, String, Style)> = Vec::new();
        // (rank, row, price, text, style): the entry, the stop, the last price, then the target
        // take their rows in that order
        let mut tagged: Vec<(u8, i64, f64, String, Style)> = Vec::new();
        let mut p = grid + ((scale.top - grid) / label_step).floor() * label_step;
        for _ in 0..=scale.rows {
            let row = scale.row(scale.edge(p));
            if row >= scale.rows {
                break;
            }
            if let Some(y) = y_of(row) {
                labels.push((y, format!("┤{}", label(p)), t.dim()));
                for x in (area.x..axis_x - 1).step_by(3) {
                    buf[(x, y)].set_symbol("·").set_style(t.dim());
                }
            }
            p -= label_step;
        }
        // the bricks: each covers the steps between its edges, at least one
        let visible = &spans[skip..];
        for (i, (&(blo, bhi), b)) in visible.iter().zip(&self.bricks[skip..]).enumerate() {
            let s0 = scale.edge(bhi);
            let s1 = scale.edge(blo).max(s0 + 1);
            let (style, glyph) = match b.color {
                Color::Green => (up, t.up_glyph.as_str()),
                Color::Red => (down, t.down_glyph.as_str()),
            };
            let x = x0 + i as u16 * bw;
            for row in scale.row(s0).max(0)..=scale.row(s1 - 1).min(scale.rows - 1) {
                let covered = |s: i64| s0 <= s && s < s1;
                let symbol = match (fine, covered(row * sub), covered(row * sub + 1)) {
                    (false, ..) => glyph,
                    (true, true, true) => "█",
                    (true, true, false) => "▀",
                    _ => "▄",
                };
                for dx in 0..bw {
                    buf[(x + dx, y0 + row as u16)]
                        .set_symbol(symbol)
                        .set_style(style);
                }
            }
        }
        // a tag stands out in its line's color, bold; in monochrome, reversed
        let tag_style = |s: Style| {
            let s = s.add_modifier(Modifier::BOLD);
            if t.monochrome {
                s.add_modifier(Modifier::REVERSED)
            } else {
                s
            }
        };
        // the position's lines, behind the bricks, tagged on the axis
        let tags = [
            (0, self.entry, "E", "─", t.accent()),
            (1, self.stop, "S", "╌", t.warn()),
            (3, self.target, "T", "┈", up),
        ];
        for (rank, price, tag, dash, style) in tags {
            let Some((p, y)) = price.and_then(|p| Some((p, y_of(scale.row(scale.step(p)))?)))
            else {
                continue;
            };
            for x in area.x..axis_x {
                if matches!(buf[(x, y)].symbol(), " " | "·") {
                    buf[(x, y)].set_symbol(dash).set_style(style);
                }
            }
            let row = (y - y0) as i64;
            tagged.push((rank, row, p, format!("{tag}{}", label(p)), tag_style(style)));
        }
        // the last price has no line: its tag is the one that gives way
        if let Some(p) = self.last {
            let style = match self.bricks.last().map(|b| b.color) {
                Some(Color::Red) => down,
                _ => up,
            };
            let row = scale.row(scale.step(p));
            tagged.push((2, row, p, format!("◀{}", label(p)), tag_style(style)));
        }
        tagged.sort_by_key(|t| t.0);
        // where orders filled: a buy under its brick, a sell over it; a fill that no finished
        // brick holds yet sits at its price in the forming column
        for fill in self.fills {
            // (one before the first brick fetched cannot be placed when older bricks were not
            // fetched)
            let i = self.bricks.partition_point(|b| b.received_at <= fill.at);
            if i < skip || (i == 0 && self.bricks.len() >= crate::tui::link::BRICKS) {
                continue;
            }
            let row = match visible.get(i - skip) {
                // the first row wholly under the brick, or wholly over it
                Some(&(blo, bhi)) if fill.side == Side::Buy => {
                    (scale.edge(blo).max(scale.edge(bhi) + 1) + sub - 1).div_euclid(sub)
                }
                Some(&(_, bhi)) => scale.row(scale.edge(bhi)) - 1,
                None => scale.row(scale.step(fill.price)),
            };
            let (glyph, style) = match fill.side {
                Side::Buy => ("▲", up),
                Side::Sell => ("▼", down),
            };
            let x = x0 + (i - skip) as u16 * bw;
            if let Some(y) = y_of(row).filter(|_| x < axis_x) {
                buf[(x, y)]
                    .set_symbol(glyph)
                    .set_style(style.add_modifier(Modifier::BOLD));
            }
        }
        // a tag whose row is taken moves one row toward its side of the taker, or is left out
        // (its line still shows); the grid's labels keep the rows left
        let mut taken: Vec<(i64, f64)> = Vec::new();
        for (_, row, p, text, style) in tagged {
            let free = |r: i64| (0..scale.rows).contains(&r) && !taken.iter().any(|t| t.0 == r);
            let row = match taken.iter().find(|t| t.0 == row) {
                None => Some(row),
                Some(&(_, q)) => Some(if p > q { row - 1 } else { row + 1 }),
            };
            if let Some(row) = row.filter(|r| free(*r)) {
                taken.push((row, p));
                labels.push((y0 + row as u16, text, style));
            }
        }
        labels.retain(|(y, text, _)| {
            !text.starts_with('┤') || !taken.iter().any(|t| y0 + t.0 as u16 == *y)
        });
        let w = label_w as usize + 1;
        for (y, text, style) in labels {
            buf.set_stringn(axis_x, y, " ".repeat(w), w, t.base());
            buf.set_stringn(axis_x, y, &text, w, style);
        }
    }
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

    use crate::engine::model::BrickSize;
    use chrono::TimeZone;

    fn at(sec: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + sec, 0).unwrap()
    }

    /// 6pt bricks of these colors from 5250, a second apart, with or without their closes.
    fn bricks(colors: &str, priced: bool) -> Vec<Brick> {
        let mut close = 5250.0;
        let lows = levels(
            colors
                .chars()
                .map(|c| if c == 'g' { Color::Green } else { Color::Red }),
        );
        colors
            .chars()
            .zip(lows)
            .enumerate()
            .map(|(i, (c, low))| {
                let color = if c == 'g' { Color::Green } else { Color::Red };
                close = 5250.0 + low as f64 * 6.0 + if c == 'g' { 6.0 } else { 0.0 };
                Brick {
                    asset: "ES".into(),
                    size: BrickSize::Main,
                    color,
                    bar_id: i.to_string(),
                    received_at: at(i as i64 * 10),
                    open: priced.then_some(close + if c == 'g' { -6.0 } else { 6.0 }),
                    close: priced.then_some(close),
                }
            })
            .collect()
    }

    fn render(chart: RenkoChart, w: u16, h: u16) -> Vec<String> {
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        chart.render(area, &mut buf);
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
            .collect()
    }

    fn chart<'a>(bricks: &'a [Brick], fills: &'a [Fill], theme: &'a Theme) -> RenkoChart<'a> {
        RenkoChart {
            bricks,
            box_size: 6.0,
            decimals: 2,
            last: bricks.last().and_then(|b| b.close),
            entry: None,
            stop: None,
            target: None,
            fills,
            theme,
        }
    }

    #[test]
    fn bricks_sit_at_their_prices_on_the_axis_and_fills_are_marked_by_side() {
        let dark = Theme::embedded("dark").unwrap();
        let b = bricks("gggrrgg", true);
        // a buy while the 2nd brick formed, a sell while the 5th did, one after the last brick
        let fills = [
            Fill {
                at: at(5),
                price: 5253.0,
                side: Side::Buy,
            },
            Fill {
                at: at(35),
                price: 5262.0,
                side: Side::Sell,
            },
            Fill {
                at: at(65),
                price: 5263.0,
                side: Side::Sell,
            },
        ];
        let rows = render(chart(&b, &fills, &dark), 40, 12);
        // (a fill before the first brick, for the end)
        let old = [Fill {
            at: at(-50),
            price: 5240.0,
            side: Side::Buy,
        }];
        let text = rows.join("\n");
        // the newest brick closes at 5268, the last price, tagged on the axis beside it
        let last_row = rows
            .iter()
            .position(|r| r.contains("◀5268.00"))
            .expect(&text);
        assert!(rows[last_row].contains('█'), "{text}");
        // the buy sits under the 2nd brick, the sells over the 5th and in the forming column
        let at = |x: usize, y: usize| rows[y].chars().nth(x).unwrap();
        let marks = |c: char| -> Vec<(usize, usize)> {
            (0..rows.len())
                .flat_map(|y| (0..40).filter(move |x| at(*x, y) == c).map(move |x| (x, y)))
                .collect()
        };
        let [(bx, by)] = marks('▲')[..] else {
            panic!("one buy:\n{text}")
        };
        assert!(
            (0..by).any(|y| at(bx, y) == '█'),
            "a brick over the buy:\n{text}"
        );
        // the forming column is the one left of the axis
        let axis = rows[0].chars().position(|c| c == '│' || c == '┤').unwrap();
        let (forming, over): (Vec<_>, Vec<_>) =
            marks('▼').into_iter().partition(|s| s.0 == axis - 1);
        let ([_], [(sx, sy)]) = (&forming[..], &over[..]) else {
            panic!("one sell forming, one over a brick:\n{text}")
        };
        assert!(
            (*sy..rows.len()).any(|y| at(*sx, y) == '█'),
            "a brick under the sell:\n{text}"
        );
        // a fill before the first brick: under it when the whole history is here; not placed
        // when older bricks were not fetched
        let buys = |b: &[Brick]| {
            let rows = render(chart(b, &old, &dark), 40, 12);
            rows.iter().map(|r| r.matches('▲').count()).sum::<usize>()
        };
        assert_eq!(buys(&b), 1);
        let long = bricks(&"gr".repeat(crate::tui::link::BRICKS / 2), true);
        assert_eq!(buys(&long), 0);
        // every grid label names a multiple of the box from the bricks' grid
        for r in &rows {
            if let Some(i) = r.find('┤') {
                let p: f64 = r[i + '┤'.len_utf8()..].trim().parse().unwrap();
                assert_eq!((p - 5250.0) % 6.0, 0.0, "{r}");
            }
        }
    }

    #[test]
    fn monochrome_bricks_differ_by_glyph_and_colors_alone_are_placed_from_the_last_price() {
        let mono = Theme::embedded("monochrome").unwrap();
        let b = bricks("ggrrg", false);
        let rows = render(chart(&b, &[], &mono), 30, 10).join("\n");
        // no prices, no last price: nothing to place the bricks by
        assert!(rows.contains("no price yet"), "{rows}");
        let mut with_last = chart(&b, &[], &mono);
        with_last.last = Some(5251.0);
        let rows = render(with_last, 30, 10).join("\n");
        assert!(rows.contains('█') && rows.contains('░'), "{rows}");
        assert!(rows.contains("◀5251.00"), "{rows}");
        // the newest brick's close is the last price on the grid: 5250 (a green brick, 5244–5250)
        let spans = placed(&b, 6.0, Some(5251.0)).unwrap();
        assert_eq!(spans.last(), Some(&(5244.0, 5250.0)));
        assert_eq!(
            spans[..3],
            [(5244.0, 5250.0), (5250.0, 5256.0), (5244.0, 5250.0)]
        );
        // a brick without its close sits on the grid of the nearest priced brick after it
        let mut gaps = bricks("gggg", false);
        gaps[2].close = Some(5256.0);
        gaps[3].close = Some(5400.0);
        let spans = placed(&gaps, 6.0, None).unwrap();
        let want = [
            (5238.0, 5244.0),
            (5244.0, 5250.0),
            (5250.0, 5256.0),
            (5394.0, 5400.0),
        ];
        assert_eq!(spans, want);
    }
}
