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

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    // at 80×24 the position and its armed exits come first; taller screens get more orders
    let orders_h = if area.height < 28 {
        5
    } else {
        (area.height / 3).min(14)
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(8), Constraint::Length(orders_h)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    let info_h = 9.min(right.height.saturating_sub(4)).max(3);
    let [info, pos] =
        Layout::vertical([Constraint::Length(info_h), Constraint::Min(3)]).areas(right);
    super::renko::draw(f, app, left);
    let t = &app.theme;
    match (app.state(), app.current()) {
        (Some(s), Some(a)) => {
            let block = titled(t, format!(" {} {} · desk ", a.asset, a.symbol));
            f.render_widget(
                Paragraph::new(info_lines(app, s, a))
                    .wrap(Wrap { trim: true })
                    .block(block),
                info,
            );
            f.render_widget(
                Paragraph::new(position_lines(t, a)).block(titled(t, " position ".into())),
                pos,
            );
        }
        _ => f.render_widget(
            Paragraph::new("waiting for the engine…").style(t.dim()),
            right,
        ),
    }
    super::orders::draw(f, app, bottom);
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

fn info_lines(app: &App, s: &StateView, a: &AssetView) -> Vec<Line<'static>> {
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
    let bridge = if s.bridge.fresh {
        Span::styled(format!("✓ {}", age(s.bridge.age_secs)), t.up())
    } else {
        Span::styled(format!("✗ {}", age(s.bridge.age_secs)), t.warn())
    };
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
            Span::styled(m.clone(), t.dim()),
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
        // why an entry would be refused now, then the next entry's modes: at 80×24 a reason
        // that wraps pushes the modes (also in the status line when changed) out of the box
        block,
        Line::from(next),
    ]
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
