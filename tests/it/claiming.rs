//! Exactly-once claiming: 8 concurrent pollers against 1,000 pending orders over real HTTP.
//! Every order is claimed once; none lost, none twice.
use crate::support::*;
use brickdesk::engine::model::{AssetConfig, BrickSize, Color};
use brickdesk::engine::state::DeskSettings;
use brickdesk::engine::{BrickInput, EntryRequest, HeartbeatInput};
use std::collections::{HashMap, HashSet};

const ORDERS: usize = 1000;
const POLLERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_pollers_claim_a_thousand_orders_exactly_once() {
    // One order per asset is what the gates allow, so 1,000 assets hold one PENDING entry each;
    // the account-wide candle lock is one second long, and a second passes between entries.
    let assets: Vec<AssetConfig> = (0..ORDERS)
        .map(|i| AssetConfig {
            name: format!("A{i:04}"),
            symbol: format!("C{i:04}"),
            exchange: "CME".into(),
            tick: 0.25,
            point_value: 5.0,
            default_qty: 1,
            nine_pt_qty: 1,
            source: Default::default(),
            aliases: Vec::new(),
        })
        .collect();
    let settings = DeskSettings {
        trade_limit: 10_000,
        candle_lock_secs: 1,
        ..DeskSettings::default()
    };
    let d = TestDesk::start_with(assets.clone(), settings).await;
    let names: Vec<String> = assets.iter().map(|a| a.name.clone()).collect();
    let clock = d.clock.clone();
    let created = d
        .engine
        .call(move |e| {
            let mut ids = Vec::new();
            for name in names {
                clock.advance_secs(1);
                e.heartbeat(HeartbeatInput {
                    asset: name.clone(),
                    price: 100.0,
                    timestamp: None,
                })?;
                for size in [
                    BrickSize::High,
                    BrickSize::Macro,
                    BrickSize::TwoHalf,
                    BrickSize::Main,
                ] {
                    e.webhook_brick(BrickInput::new(&name, size, Color::Green, "1"))?;
                }
                match e.place_entry(EntryRequest::market(&name, None))? {
                    brickdesk::engine::EntryOutcome::Order(o) => ids.push(o.id),
                    other => panic!("{other:?}"),
                }
            }
            Ok(ids)
        })
        .await
        .unwrap();
    assert_eq!(created.len(), ORDERS);

    let mut tasks = Vec::new();
    for p in 0..POLLERS {
        let client = crate::support::http();
        let url = d.url(&format!(
            "/api/orders/pending?secret={BRIDGE}&limit=7&owner=poller-{p}"
        ));
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let (code, body) = read(client.get(&url).send().await.unwrap()).await;
                assert!(code.is_success(), "{body}");
                let orders = body["orders"].as_array().unwrap();
                if orders.is_empty() {
                    break;
                }
                got.extend(orders.iter().map(|o| o["id"].as_str().unwrap().to_string()));
            }
            (format!("poller-{p}"), got)
        }));
    }
    let mut by_owner: HashMap<String, String> = HashMap::new();
    let mut total = 0;
    let mut busy_pollers = 0;
    for t in tasks {
        let (owner, ids) = t.await.unwrap();
        total += ids.len();
        busy_pollers += usize::from(!ids.is_empty());
        for id in ids {
            assert!(
                by_owner.insert(id.clone(), owner.clone()).is_none(),
                "{id} handed out twice"
            );
        }
    }
    assert_eq!(total, ORDERS, "every order claimed exactly once");
    let created: HashSet<String> = created.into_iter().collect();
    let claimed: HashSet<String> = by_owner.keys().cloned().collect();
    assert_eq!(created, claimed, "none lost");
    assert!(busy_pollers > 1, "the pollers really competed");
    // The store agrees: every order CLAIMED by the poller that received it.
    let stored = d
        .engine
        .reader()
        .with(|st| st.list_orders(None, 5000))
        .unwrap();
    assert_eq!(stored.len(), ORDERS);
    for o in stored {
        assert_eq!(o.status.as_str(), "CLAIMED");
        assert_eq!(o.owner.as_deref(), Some(by_owner[&o.id].as_str()));
    }
}
