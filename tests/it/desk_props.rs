//! Properties of the desk rules over random sequences of market data, operator commands and
//! bridge reports, on the engine API with the injected clock:
//! - an asset never has more than one unfinished order;
//! - no entry is created while a refusing gate holds (checked against the state just before);
//! - every exit toggle and lock of a trade is off once its position closes;
//! - the trading day rolls exactly at 17:00 America/Chicago, across both DST changes.
use brickdesk::engine::clock::ManualClock;
use brickdesk::engine::command::DeskCommand;
use brickdesk::engine::model::{AssetConfig, BrickSize, Color, Side};
use brickdesk::engine::state::{DeskSettings, Zone};
use brickdesk::engine::store::Store;
use brickdesk::engine::view::StateView;
use brickdesk::engine::{
    BrickInput, Engine, EntryRequest, ExecutionReport, HeartbeatInput, OrderType, PnlSnapshotInput,
};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Op {
    /// asset, size, color (0 green, 1 red, 2 neutral)
    Brick(usize, usize, u8),
    /// The market lines up: a heartbeat, then 8pt, 12pt, 2.5pt and 6pt bricks of one color.
    Align(usize, u8),
    /// asset, price move in ticks
    Price(usize, i32),
    /// asset, direction (0 none, 1 BUY, 2 SELL), override, preorder, 9pt
    Entry(usize, u8, bool, bool, bool),
    Exit(usize, bool),
    ExitAll,
    ScaleIn(usize),
    /// asset, which toggle (protect, points TP, signal TP, next-bar, 6pt flip, 4pt)
    Toggle(usize, u8),
    Intent(usize),
    /// The bridge claims everything pending and reports FILLED, REJECTED or CANCELLED.
    Bridge(u8),
    Balance(u32),
    /// A trade slot spent by hand.
    Consume,
    Advance(u16),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    let asset = 0usize..2;
    prop_oneof![
        6 => (asset.clone(), 0usize..6, prop_oneof![4 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8)])
            .prop_map(|(a, s, c)| Op::Brick(a, s, c)),
        3 => (asset.clone(), 0u8..2).prop_map(|(a, c)| Op::Align(a, c)),
        4 => (asset.clone(), -40i32..=40).prop_map(|(a, d)| Op::Price(a, d)),
        4 => (asset.clone(), 0u8..3, prop::bool::weighted(0.15), prop::bool::weighted(0.2), any::<bool>())
            .prop_map(|(a, d, o, p, n)| Op::Entry(a, d, o, p, n)),
        3 => (asset.clone(), prop::bool::weighted(0.6)).prop_map(|(a, f)| Op::Exit(a, f)),
        1 => Just(Op::ExitAll),
        1 => asset.clone().prop_map(Op::ScaleIn),
        2 => (asset.clone(), 0u8..6).prop_map(|(a, t)| Op::Toggle(a, t)),
        1 => asset.clone().prop_map(Op::Intent),
        5 => prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)].prop_map(Op::Bridge),
        1 => (30_000u32..60_000).prop_map(Op::Balance),
        1 => Just(Op::Consume),
        3 => (0u16..400).prop_map(Op::Advance),
        1 => Just(Op::Tick),
    ]
}

struct Desk {
    engine: Engine,
    clock: ManualClock,
    prices: [f64; 2],
    _dir: tempfile::TempDir,
}

fn desk(start: DateTime<Utc>) -> Desk {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("desk.sqlite3")).unwrap();
    let clock = ManualClock::new(start);
    // a small trade limit, so that sequences reach it
    let settings = DeskSettings {
        trade_limit: 2,
        ..DeskSettings::default()
    };
    let engine = Engine::new(
        AssetConfig::defaults(),
        settings,
        store,
        Arc::new(clock.clone()),
    )
    .unwrap();
    Desk {
        engine,
        clock,
        prices: [5000.0, 20000.0],
        _dir: dir,
    }
}

const NAMES: [&str; 2] = ["ES", "NQ"];

impl Desk {
    /// Runs one operation; refusals are part of the game, so their errors are dropped.
    fn apply(&mut self, op: &Op) {
        let e = &mut self.engine;
        let _ = match op {
            Op::Brick(a, s, c) => {
                let color = match c {
                    0 => Some(Color::Green),
                    1 => Some(Color::Red),
                    _ => None,
                };
                let mut input = BrickInput::new(NAMES[*a], BrickSize::ALL[*s], Color::Green, "");
                input.color = color;
                input.sent_color = color.map_or("0.5", |c| c.as_str()).into();
                input.bar_id = Some(format!("p{}", uuid::Uuid::new_v4().simple()));
                e.webhook_brick(input).map(|_| ())
            }
            Op::Align(a, c) => {
                let color = if *c == 0 { Color::Green } else { Color::Red };
                let hb = e.heartbeat(HeartbeatInput {
                    asset: NAMES[*a].into(),
                    price: self.prices[*a],
                    timestamp: None,
                });
                let sizes = [
                    BrickSize::High,
                    BrickSize::Macro,
                    BrickSize::TwoHalf,
                    BrickSize::Main,
                ];
                hb.and_then(|_| {
                    sizes.into_iter().try_for_each(|size| {
                        let bar = format!("a{}", uuid::Uuid::new_v4().simple());
                        e.webhook_brick(BrickInput::new(NAMES[*a], size, color, &bar))
                            .map(|_| ())
                    })
                })
            }
            Op::Price(a, d) => {
                self.prices[*a] = (self.prices[*a] + *d as f64 * 0.25).max(100.0);
                e.heartbeat(HeartbeatInput {
                    asset: NAMES[*a].into(),
                    price: self.prices[*a],
                    timestamp: None,
                })
                .map(|_| ())
            }
            Op::Entry(a, d, o, p, n) => e
                .execute(DeskCommand::Entry(EntryRequest {
                    order_type: if *p {
                        OrderType::Preorder
                    } else {
                        OrderType::Market
                    },
                    direction: [None, Some(Side::Buy), Some(Side::Sell)][*d as usize],
                    entry_override: *o,
                    entry_size_mode: brickdesk::engine::model::EntrySizeMode::parse(if *n {
                        "9pt"
                    } else {
                        "6pt"
                    })
                    .unwrap(),
                    ..EntryRequest::market(NAMES[*a], None)
                }))
                .map(|_| ()),
            Op::Exit(a, force) => e
                .execute(DeskCommand::Exit {
                    asset: NAMES[*a].into(),
                    force: *force,
                })
                .map(|_| ()),
            Op::ExitAll => e.execute(DeskCommand::ExitAll { force: true }).map(|_| ()),
            Op::ScaleIn(a) => e
                .execute(DeskCommand::ScaleIn {
                    asset: NAMES[*a].into(),
                })
                .map(|_| ()),
            Op::Toggle(a, t) => {
                let asset = NAMES[*a].to_string();
                e.execute(match t {
                    0 => DeskCommand::Protect {
                        asset,
                        enabled: true,
                        threshold: Some(-2.0),
                    },
                    1 => DeskCommand::PointsTp {
                        asset,
                        enabled: true,
                        target: Some(8.0),
                    },
                    2 => DeskCommand::TakeProfit {
                        asset,
                        tp_arm: Some(brickdesk::engine::TpArm::Toggle),
                        tp_target: None,
                        reset: false,
                    },
                    3 => DeskCommand::HighNextBar { asset },
                    4 => DeskCommand::MainFlip { asset },
                    _ => DeskCommand::FourPt { asset },
                })
                .map(|_| ())
            }
            Op::Intent(a) => e
                .execute(DeskCommand::Intent {
                    asset: NAMES[*a].into(),
                })
                .map(|_| ()),
            Op::Bridge(outcome) => {
                let claimed = e.claim_pending(20, "prop").unwrap_or_default();
                for o in claimed {
                    let a = NAMES.iter().position(|n| *n == o.desk_asset).unwrap();
                    let (status, fill_price) = match outcome {
                        0 => ("FILLED", Some(self.prices[a])),
                        1 => ("REJECTED", None),
                        _ => ("CANCELLED", None),
                    };
                    let report = ExecutionReport {
                        status: status.into(),
                        fill_price,
                        ..Default::default()
                    };
                    e.execution_report(&o.id, report).unwrap();
                }
                Ok(())
            }
            Op::Balance(b) => e
                .pnl_snapshot(PnlSnapshotInput {
                    account_balance: Some(*b as f64),
                    ..Default::default()
                })
                .map(|_| ()),
            Op::Consume => e.consume_trade_slot().map(|_| ()),
            Op::Advance(s) => {
                self.clock.advance_secs(*s as i64);
                Ok(())
            }
            Op::Tick => e.tick(),
        };
    }
}

/// The gates a market entry must have passed, read from the state just before it.
fn gates_held(before: &StateView, a: usize, op: &Op) -> Result<(), String> {
    let Op::Entry(_, d, over, false, _) = op else {
        return Ok(());
    };
    let x = &before.assets[a];
    let acct = &before.account;
    let checks = [
        ("daily stop", !acct.daily_stop_triggered),
        ("cooldown", !acct.cooldown.active),
        ("candle lock", !acct.candle_lock.active),
        ("trade limit", acct.trade_count < acct.trade_limit),
        ("pending order", x.pending_order.is_none()),
        ("position", x.position.is_none()),
        ("heartbeat", x.heartbeat_fresh),
        ("tempo", x.tempo_token == "READY"),
        ("zone", *over || x.zone != Zone::Unavailable),
        ("override direction", !*over || *d != 0),
    ];
    match checks.iter().find(|(_, ok)| !ok) {
        Some((gate, _)) => Err(format!("an entry went through the {gate} gate")),
        None => Ok(()),
    }
}

fn entries(s: &StateView) -> usize {
    s.orders
        .iter()
        .filter(|o| o.kind.as_str() == "ENTRY" && o.source != "SCALE_IN")
        .count()
}

/// How often the random sequences reached the states the properties are about.
#[derive(Debug, Default)]
struct Seen {
    entries: usize,
    closes: usize,
    refused_entries: usize,
}

/// One random sequence; the properties are checked after every operation.
fn run_sequence(ops: &[Op], seen: &mut Seen) -> Result<(), TestCaseError> {
    let mut d = desk(Utc.with_ymd_and_hms(2026, 3, 10, 14, 31, 0).unwrap());
    for op in ops {
        let before = d.engine.snapshot();
        d.apply(op);
        let after = d.engine.snapshot();
        for name in NAMES {
            let unfinished = after
                .orders
                .iter()
                .filter(|o| o.asset == name && o.status.is_unfinished())
                .count();
            prop_assert!(
                unfinished <= 1,
                "{name} has {unfinished} unfinished orders after {op:?}"
            );
        }
        if let Op::Entry(a, _, _, false, _) = op {
            if entries(&after) > entries(&before) {
                seen.entries += 1;
                gates_held(&before, *a, op)
                    .map_err(|e| TestCaseError::fail(format!("{e}: {op:?}")))?;
            } else {
                seen.refused_entries += 1;
            }
        }
        for (was, now) in before.assets.iter().zip(&after.assets) {
            if was.position.is_some() && now.position.is_none() {
                seen.closes += 1;
                let ex = &now.exits.settings;
                prop_assert!(
                    !ex.any_on(),
                    "{} toggles on after a close: {ex:?}",
                    now.asset
                );
                prop_assert!(!now.locks.exit_lock.active && !now.locks.two_half_lock.locked);
                prop_assert!(now.scale_in_stage.is_none());
                prop_assert!(after.account.cooldown.active, "the cooldown starts");
            }
        }
    }
    Ok(())
}

#[test]
fn the_rules_hold_on_any_sequence() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let seen = std::cell::RefCell::new(Seen::default());
    let result = runner.run(&prop::collection::vec(op(), 1..80), |ops| {
        run_sequence(&ops, &mut seen.borrow_mut())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // the sequences reached what the properties are about, not only refusals (a generator that
    // degenerates reaches none; seven runs of 200 sequences reached 17 to 40 closes)
    let seen = seen.into_inner();
    eprintln!("{seen:?}");
    assert!(
        seen.entries >= 20 && seen.closes >= 5 && seen.refused_entries >= 20,
        "{seen:?}"
    );
}

/// 17:00 in Chicago on `day`, in UTC.
fn roll_at(day: NaiveDate) -> DateTime<Utc> {
    chrono_tz::America::Chicago
        .from_local_datetime(&day.and_hms_opt(17, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Any day of 2026, with the two DST changes (8 March, 1 November) and the days around them
/// drawn often.
fn day() -> impl Strategy<Value = NaiveDate> {
    let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    prop_oneof![
        2 => (0i64..365).prop_map(move |n| d(1, 1) + Duration::days(n)),
        1 => (-1i64..=1).prop_map(move |n| d(3, 8) + Duration::days(n)),
        1 => (-1i64..=1).prop_map(move |n| d(11, 1) + Duration::days(n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_day_rolls_at_five_pm_chicago(day in day(), before in 1i64..7200) {
        let roll = roll_at(day);
        let mut d = desk(roll - Duration::seconds(before));
        d.engine.consume_trade_slot().unwrap();
        d.engine.pnl_snapshot(PnlSnapshotInput { account_balance: Some(1000.0), ..Default::default() }).unwrap();
        d.engine.pnl_snapshot(PnlSnapshotInput { account_balance: Some(600.0), ..Default::default() }).unwrap();
        // one second before the roll: the day's count and stop stand
        d.clock.set(roll - Duration::seconds(1));
        d.engine.tick().unwrap();
        let s = d.engine.snapshot();
        prop_assert_eq!(s.account.trade_count, 1);
        prop_assert!(s.account.daily_stop_triggered);
        prop_assert_eq!(s.account.trading_day, Some(day));
        // at 17:00 sharp the next trading day starts
        d.clock.set(roll);
        d.engine.tick().unwrap();
        let s = d.engine.snapshot();
        prop_assert_eq!(s.account.trade_count, 0);
        prop_assert!(!s.account.daily_stop_triggered);
        prop_assert_eq!(s.account.day_start_balance, None);
        prop_assert_eq!(s.account.trading_day, day.succ_opt());
        prop_assert_eq!(s.account.day_ends_at, roll_at(day.succ_opt().unwrap()));
    }
}
