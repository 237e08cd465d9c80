//! Fault isolation: in one batch, a job that fails after changing things and a job that panics
//! sit between two good jobs. The good ones commit; the others leave no trace in memory or in the
//! store; the panicking caller gets a 500; the desk goes on serving.
use crate::support::{TV, TestDesk};
use brickdesk::engine::Engine;
use brickdesk::engine::EntryRequest;
use brickdesk::engine::command::DeskCommand;
use brickdesk::engine::error::{DeskError, DeskResult};
use brickdesk::engine::model::Side;
use brickdesk::server::errors::ApiError;
use serde_json::json;
use std::time::Duration;
use tokio::task::JoinHandle;

fn es() -> String {
    "ES".into()
}

/// The desk as the store has it: events and the ES exit settings.
async fn trace(d: &TestDesk) -> (Vec<String>, serde_json::Value, serde_json::Value) {
    let events: Vec<String> = d.get("/api/events?limit=50").await.1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    let s = d.state().await;
    (
        events,
        s["assets"][0]["exits"].clone(),
        s["account"]["trade_count"].clone(),
    )
}

/// Sends a job to the (held) engine and waits until it is the `nth` in the queue.
async fn queue<R, F>(d: &TestDesk, nth: usize, f: F) -> JoinHandle<DeskResult<R>>
where
    R: Send + 'static,
    F: FnOnce(&mut Engine) -> DeskResult<R> + Send + 'static,
{
    let e = d.engine.clone();
    let job = tokio::spawn(async move { e.call(f).await });
    while d.engine.queue_depth() < nth {
        tokio::task::yield_now().await;
    }
    job
}

#[tokio::test]
async fn a_failing_and_a_panicking_job_roll_back_alone() {
    let d = TestDesk::start().await;
    d.make_ready("NQ", "green", 21000.0).await;
    // hold the engine thread so the next four calls queue up and run as one batch
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let e = d.engine.clone();
        tokio::spawn(async move {
            e.call(move |_| {
                started_tx.send(()).unwrap();
                released.recv_timeout(Duration::from_secs(10)).unwrap();
                Ok(())
            })
            .await
        })
    };
    tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(10)).unwrap())
        .await
        .unwrap();
    let good1 = queue(&d, 1, |e| e.execute(DeskCommand::MainFlip { asset: es() })).await;
    let failing = queue(&d, 2, |e| {
        // an order (in the store at once), a spent tempo token and a trade counted (in memory)
        e.execute(DeskCommand::Entry(EntryRequest::market(
            "NQ",
            Some(Side::Buy),
        )))?;
        e.execute(DeskCommand::FourPt { asset: es() })?;
        e.log_event("test", "the failing job was here".into())?;
        Err::<(), _>(DeskError::Invalid("failed after changing things".into()))
    })
    .await;
    let panicking = queue(&d, 3, |e| {
        e.execute(DeskCommand::HighNextBar { asset: es() })?;
        e.log_event("test", "the panicking job was here".into())?;
        if e.settings().trade_limit > 0 {
            panic!("a bug in an engine job");
        }
        Ok(())
    })
    .await;
    let good2 = queue(&d, 4, |e| e.execute(DeskCommand::ConsumeTradeSlot)).await;
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();

    assert!(good1.await.unwrap().is_ok());
    assert!(matches!(
        failing.await.unwrap(),
        Err(DeskError::Invalid(m)) if m == "failed after changing things"
    ));
    let panicked = panicking.await.unwrap().unwrap_err();
    assert!(matches!(panicked, DeskError::Internal), "{panicked:?}");
    assert_eq!(ApiError::from(panicked).status, 500);
    assert!(good2.await.unwrap().is_ok());

    // memory (the published state) and the store (events, and the state after a restart)
    let check = |(events, exits, trades): (Vec<String>, serde_json::Value, serde_json::Value)| {
        assert_eq!(exits["main_flip"], true, "good job 1 committed");
        assert_eq!(trades, 1, "good job 2 committed");
        assert_eq!(
            exits["four_pt_invalidation"], false,
            "the failed job left a trace"
        );
        assert_eq!(
            exits["high_next_bar"], false,
            "the panicking job left a trace"
        );
        assert!(events.iter().any(|m| m == "6pt flip exit ON"), "{events:?}");
        assert!(!events.iter().any(|m| m.starts_with("ENTRY")), "{events:?}");
        assert!(
            events.iter().any(|m| m.starts_with("trade slot consumed")),
            "{events:?}"
        );
        assert!(
            !events.iter().any(|m| m.contains("job was here")),
            "{events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|m| m.starts_with("4pt invalidation") || m.starts_with("8pt next-bar")),
            "{events:?}"
        );
    };
    check(trace(&d).await);
    let nq = d.asset("NQ").await;
    assert_eq!(nq["pending_order"], serde_json::Value::Null, "{nq}");
    assert_eq!(
        nq["tempo_token"], "READY",
        "the failed entry's token is back"
    );
    assert!(
        d.orders("NQ").await.is_empty(),
        "the failed job's order is in the store"
    );
    // the desk goes on: the next webhook is served
    let (code, body) = d
        .post_anon(
            "/tv_renko_main",
            json!({ "secret": TV, "asset": "ES", "color": "green", "bar_id": "after-panic" }),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let d = d.restart().await;
    check(trace(&d).await);
}
