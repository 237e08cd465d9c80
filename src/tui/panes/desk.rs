//! The Desk: bricks on the left; zone, tempo, locks with countdowns, the day and connectivity on
//! the right; the position with its armed exits below that; the orders underneath.
use super::{age, mmss};
use crate::engine::model::Side;
use crate::engine::state::{IntentStatus, PreorderStatus, Zone};
use crate::engine::view::{AccountView, AssetView, LockView, StateView};
use crate::tui::app::App;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

/// From this width the assets stand side by side (two of them; each needs `WIDE / 2`); from
/// this many rows of Desk (a 40-row terminal) the day strip and the log's tail join the orders.
const WIDE: u16 = 140;
const TALL: u16 = 37;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let assets = app.state().map_or(0, |s| s.assets.len());
    let wide = assets > 1 && area.width >= WIDE / 2 * assets as u16;
    let tall = area.height >= TALL;
    // at 80×24 the position and its armed exits come first; taller screens get more orders
    let bottom_h = match (tall, wide) {
        (true, true) => 10,
        (true, false) => 16,
        _ if area.height < 28 => 5,
        _ => (area.height / 3).min(14),
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(8), Constraint::Length(bottom_h)]).areas(area);
    if wide {
        let columns = Layout::horizontal(vec![Constraint::Ratio(1, assets as u32); assets]);
        for (a, column) in columns.split(top).iter().enumerate() {
            let [bricks, row] =
                Layout::vertical([Constraint::Min(10), Constraint::Length(9)]).areas(*column);
            let [info, pos] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(row);
            super::renko::draw_asset(f, app, bricks, a, a == app.asset);
            asset_panes(f, app, a, info, pos, a == app.asset);
        }
    } else {
        let [left, right] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(top);
        let info_h = 9.min(right.height.saturating_sub(4)).max(3);
        let [info, pos] =
            Layout::vertical([Constraint::Length(info_h), Constraint::Min(3)]).areas(right);
        super::renko::draw(f, app, left);
        asset_panes(f, app, app.asset, info, pos, false);
    }
    if !tall {
        return super::orders::draw(f, app, bottom);
    }
    let (orders, rest) = if wide {
        let [o, rest] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(bottom);
        (o, rest)
    } else {
        let [o, rest] =
            Layout::vertical([Constraint::Min(4), Constraint::Length(10)]).areas(bottom);
        (o, rest)
    };
    let [day, log] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(rest);
    super::orders::draw(f, app, orders);
    super::day::draw(f, app, day);
    super::log::draw(f, app, log);
}

/// Asset `a`'s desk block (zone, tempo, locks, the day, connectivity) and its position;
/// `mark`: it is the selected one of several shown.
fn asset_panes(f: &mut Frame, app: &App, a: usize, info: Rect, pos: Rect, mark: bool) {
    let t = &app.theme;
    let Some((s, asset)) = app.state().and_then(|s| Some((s, s.assets.get(a)?))) else {
        let waiting = Paragraph::new("waiting for the engine…").style(t.dim());
        return f.render_widget(waiting, info.union(pos));
    };
    let marker = if mark { "▶ " } else { "" };
    let block = titled(
        t,
        format!(" {marker}{} {} · desk ", asset.asset, asset.symbol),
    );
    let width = block.inner(info).width as usize;
    f.render_widget(
        Paragraph::new(info_lines(app, s, asset, width))
            .wrap(Wrap { trim: true })
            .block(block),
        info,
    );
    f.render_widget(
        Paragraph::new(position_lines(t, asset))
            .wrap(Wrap { trim: true })
            .block(titled(t, " position ".into())),
        pos,
    );
}

pub fn titled(t: &Theme, title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(Span::styled(title, t.accent()))
}

fn dir(t: &Theme, side: Option<Side>) -> Span<'static> {
    match side {
        Some(Side::Buy) => Span::styled("▲BUY", t.up()),
        Some(Side::Sell) => Span::styled("▼SELL", t.down()),
        None => Span::styled("—", t.dim()),
    }
}

fn lock(t: &Theme, name: &str, l: &LockView) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!("{name} "), t.dim()),
        if l.active {
            Span::styled(mmss(l.seconds_remaining), t.warn())
        } else {
            Span::styled("—", t.dim())
        },
        Span::raw("  "),
    ]
}

/// `width`: the block's inner width; the reason an entry is refused keeps to one line of it.
fn info_lines(app: &App, s: &StateView, a: &AssetView, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let zone = match a.zone {
        Zone::Normal => Span::styled("NORMAL ", t.accent()),
        Zone::Free => Span::styled("FREE ", t.warn()),
        Zone::Unavailable => Span::styled("NONE ", t.refused()),
    };
    let tempo = if a.tempo_token == "READY" {
        t.up()
    } else {
        t.dim()
    };
    let intent = match a.intent.as_ref().map(|i| i.status) {
        Some(IntentStatus::Ready) => Span::styled("READY", t.up()),
        Some(IntentStatus::Armed) => Span::styled("ARMED", t.accent()),
        Some(IntentStatus::Expired) => Span::styled("EXPIRED", t.dim()),
        None => Span::styled("—", t.dim()),
    };
    let preorder = match &a.preorder {
        Some(p) => {
            let dir = p.direction.map(|d| d.as_str()).unwrap_or("");
            let style = match p.status {
                PreorderStatus::Pending => t.accent(),
                PreorderStatus::Filled => t.up(),
                PreorderStatus::Cancelled => t.dim(),
            };
            Span::styled(format!("{} {dir}", p.status.as_str()), style)
        }
        None => Span::styled("—", t.dim()),
    };
    // why the preorder was sent or dropped, when it was
    let preorder_reason = a
        .preorder
        .as_ref()
        .filter(|p| p.status != PreorderStatus::Pending)
        .and_then(|p| p.reason.clone())
        .map(|r| Span::styled(format!(" ({r})"), t.dim()));
    let acct = &s.account;
    let mut next = vec![
        Span::styled("next ", t.dim()),
        Span::raw(format!(
            "{} {}",
            app.trade_mode.as_str(),
            app.size_mode.as_str()
        )),
    ];
    if app.override_next {
        next.push(Span::styled("  OVERRIDE", t.warn()));
    }
    let mut locks = lock(t, "candle", &a.locks.candle_lock);
    locks.extend(lock(t, "cool", &a.locks.cooldown));
    if a.position.is_some() {
        locks.push(Span::styled("exit ", t.dim()));
        locks.push(if a.locks.exit_lock.active {
            Span::styled("LOCK", t.warn())
        } else {
            Span::styled("free", t.dim())
        });
    }
    let bridge = bridge_age(t, s);
    let hb = Span::styled(
        age(a.heartbeat_age_secs),
        if a.heartbeat_fresh { t.up() } else { t.warn() },
    );
    let ollama = match app.ollama.as_ref().map(|h| h.reachable) {
        Some(true) => Span::styled("✓", t.up()),
        Some(false) => Span::styled("✗", t.warn()),
        None => Span::styled("—", t.dim()),
    };
    let block = match &a.entry_block {
        None => Line::from(Span::styled("▶ entry gates pass", t.up())),
        Some(m) => Line::from(vec![
            Span::styled("■ ", t.dim()),
            Span::styled(one_line(m, width.saturating_sub(2)), t.dim()),
        ]),
    };
    vec![
        Line::from(vec![
            Span::styled("zone ", t.dim()),
            zone,
            dir(t, a.structural_direction),
            Span::styled("  tempo ", t.dim()),
            Span::styled(a.tempo_token.clone(), tempo),
        ]),
        Line::from(
            vec![
                Span::styled("intent ", t.dim()),
                intent,
                Span::styled("  preorder ", t.dim()),
                preorder,
            ]
            .into_iter()
            .chain(preorder_reason)
            .collect::<Vec<_>>(),
        ),
        Line::from(locks),
        Line::from(vec![
            Span::styled("trades ", t.dim()),
            Span::raw(format!("{}/{}", acct.trade_count, acct.trade_limit)),
            Span::styled("  day ", t.dim()),
            Span::styled(
                format!("{:+.2}", acct.day_pnl),
                t.signed(acct.day_pnl >= 0.0),
            ),
            Span::styled(
                daily_stop(acct),
                if acct.daily_stop_triggered {
                    t.refused()
                } else {
                    t.dim()
                },
            ),
        ]),
        Line::from(vec![
            Span::styled("TV ", t.dim()),
            hb,
            Span::styled("  bridge ", t.dim()),
            bridge,
            Span::styled("  ollama ", t.dim()),
            ollama,
        ]),
        // why an entry would be refused now (in full in the status line when it is), then the
        // next entry's modes
        block,
        Line::from(next),
    ]
}

/// The bridge as its heartbeat reports it: fresh or not, TS and market data connected, the
/// account and the trade route; then any asset where the bridge's position differs.
pub fn bridge_line(t: &Theme, s: &StateView) -> Vec<Span<'static>> {
    let b = &s.bridge;
    let ok = |on: bool, name: &str| {
        let (mark, style) = if on {
            ("✓", t.up())
        } else {
            ("✗", t.warn())
        };
        Span::styled(format!("{name} {mark}"), style)
    };
    let sep = || Span::styled(" · ", t.dim());
    let mut spans = vec![Span::styled("bridge ", t.dim()), bridge_age(t, s)];
    if b.status.last_heartbeat_at.is_some() {
        spans.extend([
            sep(),
            ok(b.status.ts_connected, "TS"),
            Span::raw(" "),
            ok(b.status.md_connected, "MD"),
            sep(),
            Span::raw(
                b.status
                    .account
                    .clone()
                    .unwrap_or_else(|| "no account".into()),
            ),
            sep(),
            Span::raw(
                b.status
                    .trade_route
                    .clone()
                    .unwrap_or_else(|| "no route".into()),
            ),
        ]);
    }
    for m in s.flags.position_mismatch.iter().flat_map(|p| &p.assets) {
        spans.push(sep());
        spans.push(Span::styled(mismatch(m, false), t.warn()));
    }
    spans
}

/// `✓ 3s` when the bridge's heartbeat is fresh, else `✗ 2m10s`.
fn bridge_age(t: &Theme, s: &StateView) -> Span<'static> {
    let b = &s.bridge;
    match b.fresh {
        true => Span::styled(format!("✓ {}", age(b.age_secs)), t.up()),
        false => Span::styled(format!("✗ {}", age(b.age_secs)), t.warn()),
    }
}

/// `⚠ ES desk +5 ≠ broker 0` (signed: long positive), or `⚠ ES +5≠0` when `short`.
pub fn mismatch(m: &crate::engine::state::Mismatch, short: bool) -> String {
    let q = |n: i64| if n == 0 { "0".into() } else { format!("{n:+}") };
    let (desk, broker) = (q(m.engine_position), q(m.bridge_position));
    if short {
        format!("⚠ {} {desk}≠{broker}", m.asset)
    } else {
        format!("⚠ {} desk {desk} ≠ broker {broker}", m.asset)
    }
}

/// The daily stop as the desk reads it: `dd 3.1/30%` (drawdown of the day's starting balance),
/// plus the USD stop when one is set; `STOP HIT` once triggered.
pub fn daily_stop(acct: &AccountView) -> String {
    if acct.daily_stop_triggered {
        return "  STOP HIT".into();
    }
    let dd = acct
        .drawdown_pct
        .map(|d| format!("{:.1}", d.max(0.0)))
        .unwrap_or_else(|| "—".into());
    let usd = acct
        .daily_stop_usd
        .map(|u| format!(" -{u:.0}$"))
        .unwrap_or_default();
    format!("  dd {dd}/{:.0}%{usd}", acct.daily_stop_pct)
}

fn position_lines(t: &Theme, a: &AssetView) -> Vec<Line<'static>> {
    let last = a
        .last_price
        .map(|p| format!("{p:.2}"))
        .unwrap_or_else(|| "—".into());
    let mut lines = match &a.position {
        None => vec![
            Line::from(vec![
                Span::styled("FLAT", t.dim()),
                Span::styled(format!("   last {last}"), t.dim()),
            ]),
            Line::from(""),
        ],
        Some(p) => {
            let long = p.side == Side::Buy;
            let pts = p.open_points.unwrap_or(0.0);
            vec![
                Line::from(vec![
                    Span::styled(
                        if long { "LONG " } else { "SHORT " },
                        t.signed(long).add_modifier(ratatui::style::Modifier::BOLD),
                    ),
                    Span::raw(format!("{} @ {:.2}", p.qty, p.avg_price)),
                    Span::styled(format!("   last {last}"), t.dim()),
                ]),
                Line::from(vec![
                    Span::styled(format!("{pts:+.2} pts  "), t.signed(pts >= 0.0)),
                    Span::styled(
                        format!("{:+.2} USD", p.open_pnl.unwrap_or(0.0)),
                        t.signed(pts >= 0.0),
                    ),
                    Span::styled(
                        format!("  bars {}  {}", p.bars_since_entry, p.trade_mode),
                        t.dim(),
                    ),
                ]),
            ]
        }
    };
    let ex = &a.exits.settings;
    let on = |b: bool, s: String| Span::styled(s, if b { t.accent() } else { t.dim() });
    // the stop at the entry size's distance: the desk's own when server_side_stop is on, else
    // the one the broker holds ("bkr")
    let stop = match &a.position {
        Some(p) if a.exits.protective_stop_points.is_some() => {
            Span::styled(format!("stop {:.2}  ", p.protective_stop_price), t.warn())
        }
        Some(p) => Span::styled(format!("bkr {:.2}  ", p.protective_stop_price), t.dim()),
        None => Span::raw(""),
    };
    lines.push(Line::from(vec![
        stop,
        on(
            ex.protect.enabled,
            format!("protect {:+.1}  ", ex.protect.threshold),
        ),
        on(
            ex.points_tp.enabled,
            format!("TP {}pt", ex.points_tp.target),
        ),
    ]));
    lines.push(Line::from(vec![
        on(
            ex.signal_tp.armed,
            format!("sig {}/{} ", ex.signal_tp.count, ex.signal_tp.target),
        ),
        on(ex.high_next_bar, "next8 ".into()),
        on(ex.high_flip, "flip8 ".into()),
        on(ex.main_flip, "flip6 ".into()),
        on(ex.four_pt_invalidation, "4pt".into()),
    ]));
    if a.position.is_some() {
        let lock = &a.locks.two_half_lock;
        let two_half = match (lock.locked, lock.color) {
            (true, Some(c)) => Span::styled(format!("2.5 LOCK {}  ", c.as_str()), t.warn()),
            _ => Span::styled("2.5 free  ", t.dim()),
        };
        let stage = a.scale_in_stage.map(|s| s.as_str()).unwrap_or("—");
        lines.push(Line::from(vec![
            two_half,
            Span::styled("scale ", t.dim()),
            on(a.scale_in_available, stage.to_string()),
        ]));
    }
    lines
}

/// `text` cut to `width` columns, with `…` when cut.
pub fn one_line(text: &str, width: usize) -> String {
    if Span::raw(text).width() <= width {
        return text.to_string();
    }
    let (mut end, mut used) = (0, 0);
    for (i, c) in text.char_indices() {
        let next = i + c.len_utf8();
        used += Span::raw(&text[i..next]).width();
        if used + 1 > width {
            break;
        }
        end = next;
    }
    format!("{}…", &text[..end])
}
