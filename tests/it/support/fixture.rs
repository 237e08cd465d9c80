//! A desk in a rich, deterministic state for console tests: ES long 5 with armed exits, the
//! initial exit lock and the 2.5pt lock on, an active candle lock, bricks of every size, a
//! bridge heartbeat, NQ flat.
use super::start_time;
use brickdesk::engine::Engine;
use brickdesk::engine::clock::ManualClock;
use brickdesk::engine::command::DeskCommand;
use brickdesk::engine::handle::EngineHandle;
use brickdesk::engine::model::{AssetConfig, BrickSize, Color, Side};
use brickdesk::engine::state::DeskSettings;
use brickdesk::engine::store::Store;
use brickdesk::engine::{
    BrickInput, BridgeHeartbeat, EntryRequest, ExecutionReport, HeartbeatInput,
};
use brickdesk::tui::app::{App, Snapshot};
use brickdesk::tui::link::Link;
use brickdesk::tui::theme::Theme;
use std::sync::Arc;

pub struct Fixture {
    pub engine: EngineHandle,
    /// Holds the database file (reads go through read-only connections of their own).
    pub dir: tempfile::TempDir,
    pub clock: ManualClock,
    pub refusal: String,
}

fn colors(pattern: &str) -> Vec<Color> {
    pattern
        .chars()
        .map(|c| if c == 'g' { Color::Green } else { Color::Red })
        .collect()
}

pub async fn rich_desk() -> Fixture {
    let clock = ManualClock::new(start_time());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("desk.sqlite3")).unwrap();
    let engine = Engine::new(
        AssetConfig::defaults(),
        DeskSettings::default(),
        store,
        Arc::new(clock.clone()),
    )
    .unwrap();
    let (engine, _thread) = EngineHandle::spawn(engine);
    engine
        .call(|e| {
            let hb = |e: &mut Engine, asset: &str, price: f64| {
                e.heartbeat(HeartbeatInput {
                    asset: asset.into(),
                    price,
                    timestamp: None,
                })
                .map(|_| ())
            };
            hb(e, "ES", 5250.0)?;
            hb(e, "NQ", 21000.0)?;
            let feeds = [
                (BrickSize::One, "ggrgggrrggggrgrggggrrrgggggrggrgggg"),
                (BrickSize::TwoHalf, "gggrrgggrgggg"),
                (BrickSize::Four, "ggrrggg"),
                (BrickSize::Main, "gggrrgggggrrgg"),
                (BrickSize::Macro, "rgg"),
                (BrickSize::High, "rgg"),
            ];
            for (size, pattern) in feeds {
                for (i, color) in colors(pattern).into_iter().enumerate() {
                    let bar_id = format!("{}-{i}", size.name());
                    e.webhook_brick(BrickInput::new("ES", size, color, &bar_id))?;
                }
            }
            // NQ's bricks come with their closes (`"close": "{{close}}"`), from a price path
            let mut nq_last = 21000.0;
            for (size, built) in nq_bricks() {
                let bar_id = format!("{}-{}", size.name(), built.index);
                let mut input = BrickInput::new("NQ", size, built.color, &bar_id);
                input.close = Some(built.close.to_string());
                nq_last = built.close;
                e.webhook_brick(input)?;
            }
            hb(e, "NQ", nq_last)?;
            e.bridge_heartbeat(BridgeHeartbeat {
                ts_connected: true,
                md_connected: true,
                repo_ok: true,
                account: Some("U12345".into()),
                trade_route: Some("PAPER".into()),
                ..Default::default()
            })?;
            e.execute(DeskCommand::Entry(EntryRequest::market(
                "ES",
                Some(Side::Buy),
            )))?;
            let id = e.claim_pending(5, "bridge")?[0].id.clone();
            let report = |status: &str, fill_price| ExecutionReport {
                status: status.into(),
                fill_price,
                ..Default::default()
            };
            e.execution_report(&id, report("WORKING", None))?;
            e.execution_report(&id, report("FILLED", Some(5250.0)))?;
            // a 2.5pt brick in the trade's color: the 2.5pt lock holds
            e.webhook_brick(BrickInput::new(
                "ES",
                BrickSize::TwoHalf,
                Color::Green,
                "two_half-lock",
            ))?;
            Ok(())
        })
        .await
        .unwrap();
    clock.advance_secs(3);
    let refusal = engine
        .call(|e| {
            e.heartbeat(HeartbeatInput {
                asset: "ES".into(),
                price: 5253.25,
                timestamp: None,
            })?;
            for cmd in [
                DeskCommand::Protect {
                    asset: "ES".into(),
                    enabled: true,
                    threshold: Some(-2.0),
                },
                DeskCommand::MainFlip { asset: "ES".into() },
                DeskCommand::FourPt { asset: "ES".into() },
                DeskCommand::TakeProfit {
                    asset: "ES".into(),
                    tp_arm: Some(brickdesk::engine::TpArm::On),
                    tp_target: Some(3),
                    reset: false,
                },
            ] {
                e.execute(cmd)?;
            }
            let refused = e
                .execute(DeskCommand::Entry(EntryRequest::market(
                    "ES",
                    Some(Side::Buy),
                )))
                .unwrap_err();
            Ok(refused.to_string())
        })
        .await
        .unwrap();
    Fixture {
        engine,
        dir,
        clock,
        refusal,
    }
}

/// NQ's bricks of every size from a fixed price path around 21000, in the order they formed.
fn nq_bricks() -> Vec<(BrickSize, brickdesk::engine::renko::BuiltBrick)> {
    use brickdesk::engine::renko::RenkoBuilder;
    let mut builders: Vec<_> = BrickSize::ALL
        .iter()
        .map(|s| (*s, RenkoBuilder::new(s.points())))
        .collect();
    let mut out = Vec::new();
    for k in 0..240 {
        let k = k as f64;
        let price = 21000.0 + 40.0 * (k / 9.0).sin() + 0.4 * k;
        let price = (price * 4.0).round() / 4.0;
        for (size, b) in &mut builders {
            out.extend(b.push(price, k as i64).into_iter().map(|x| (*size, x)));
        }
    }
    out
}

pub async fn snapshot(f: &Fixture) -> Snapshot {
    Link::local(f.engine.clone())
        .unwrap()
        .fetch(Default::default())
        .await
        .unwrap()
}

/// The console's state as it is after fetching the fixture and being refused an entry.
pub async fn app(f: &Fixture, theme: &str) -> App {
    let mut app = App::new(
        Theme::embedded(theme).unwrap(),
        "local engine · test".into(),
    );
    app.set_snapshot(snapshot(f).await);
    app.command_done(Err(f.refusal.clone()));
    app
}
