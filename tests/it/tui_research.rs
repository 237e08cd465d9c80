//! The console's Research tab on a `TestBackend`, in-process and attached to a server: datasets
//! with their bars' measurement, every measurement with its rows and time range, and the jobs
//! with their progress bars; `c` cancels the selected job only after `y`.
use crate::backtests::walk_dataset;
use crate::research::{import, wait_job};
use crate::support::*;
use brickdesk::services::research::ResearchConfig;
use brickdesk::tui::app::{App, Effect, Modal, Tab};
use brickdesk::tui::link::{Link, Remote};
use brickdesk::tui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

async fn refresh(app: &mut App, link: &Link) {
    let snap = link.fetch(app.runs_wanted()).await.unwrap();
    app.set_snapshot(snap);
}

/// A console on the Research tab of the desk's engine, fetched once.
async fn research_tab(d: &TestDesk) -> App {
    let link = Link::local(d.engine.clone()).unwrap();
    let mut app = App::new(Theme::embedded("dark").unwrap(), "test".into());
    app.tab = Tab::Research;
    refresh(&mut app, &link).await;
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| brickdesk::tui::ui::draw(f, app)).unwrap();
    term.backend().to_string()
}

fn key(app: &mut App, code: KeyCode) -> Effect {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[tokio::test]
async fn the_research_tab_lists_datasets_measurements_and_jobs_and_cancels_after_a_yes() {
    // no worker: queued jobs stay PENDING, and a RUNNING one is written as a worker would
    let d = TestDesk::start_with_research(ResearchConfig {
        workers: 0,
        ..Default::default()
    })
    .await;
    walk_dataset(&d, "walk", 300, 1).await;
    let first = import(&d, "prices", "timestamp,v\n1609459200,1\n").await;
    let second = import(&d, "preds", "timestamp,v\n1609459200,1\n").await;
    let db = d.dir.path().join("research.sqlite3");
    tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(db).unwrap();
        c.execute(
            "INSERT INTO bd_jobs(job_id, job_type, status, payload, progress, total, created_at, updated_at, started_at)
             VALUES ('00000000-run', 'questdb_import', 'RUNNING', '{\"measurement\":\"big\"}', 540000, 1000000,
                     '2020-01-01T00:00:00', '2020-01-01T00:00:00', '2020-01-01T00:00:00')",
            [],
        )
        .unwrap();
    })
    .await
    .unwrap();

    let local = Link::local(d.engine.clone()).unwrap();
    let remote = Link::Remote(Remote::connect(&d.base, Some(PASSWORD)).await.unwrap());
    for (n, link) in [&local, &remote].into_iter().enumerate() {
        let mut app = App::new(Theme::embedded("dark").unwrap(), "test".into());
        app.tab = Tab::Research;
        refresh(&mut app, link).await;
        for (w, h) in [(80, 24), (160, 48)] {
            let text = screen(&app, w, h);
            let mut needles = vec![
                "datasets (1)",
                "walk",
                "300",
                "2012-01-02 00:00",
                "measurements (",
                "walk_ohlcv",
                "walk_indicators",
                "view",
                "jobs (3)",
                "PENDING",
                "RUNNING",
                "54%  540,000/1,000,000",
            ];
            if n == 0 {
                needles.push("PENDING   preds");
            }
            for needle in needles {
                assert!(text.contains(needle), "{w}x{h} lacks {needle:?}:\n{text}");
            }
        }
        if n == 1 {
            break; // the cancel below ran through the in-process link already
        }
        // newest first: preds, prices, then the old RUNNING one; ↓ selects prices
        assert_eq!(app.selected_job().unwrap().job_id, second);
        key(&mut app, KeyCode::Down);
        assert_eq!(app.selected_job().unwrap().job_id, first);
        // c asks; n leaves it be
        assert_eq!(key(&mut app, KeyCode::Char('c')), Effect::None);
        assert!(
            matches!(&app.modal, Some(Modal::ConfirmRun { prompt, .. }) if prompt.contains("cancel the pending job") && prompt.contains("prices"))
        );
        assert!(screen(&app, 80, 24).contains("y / Enter confirm"));
        assert_eq!(key(&mut app, KeyCode::Char('n')), Effect::None);
        assert_eq!(
            d.get(&format!("/api/jobs/{first}")).await.1["status"],
            "PENDING"
        );
        // c, y: cancelled
        key(&mut app, KeyCode::Char('c'));
        let Effect::Run(cmd) = key(&mut app, KeyCode::Char('y')) else {
            panic!("y confirms")
        };
        let done = link.run(cmd).await;
        assert_eq!(done, Ok(format!("job {} cancelled", &first[..8])));
        app.command_done(done);
        refresh(&mut app, link).await;
        assert_eq!(app.selected_job().unwrap().status, "CANCELLED");
        assert!(screen(&app, 160, 48).contains("cancelled by request"));
        // a finished job has nothing to cancel
        assert_eq!(key(&mut app, KeyCode::Char('c')), Effect::None);
        assert!(app.modal.is_none());
        assert!(
            app.status
                .as_ref()
                .unwrap()
                .text
                .contains("nothing to cancel")
        );
    }
    // the attached console cancels through seed 003's route
    let done = remote
        .run(brickdesk::tui::app::RunCommand::CancelJob(second.clone()))
        .await;
    assert_eq!(done, Ok(format!("job {} cancelled", &second[..8])));
    assert_eq!(
        d.get(&format!("/api/jobs/{second}")).await.1["status"],
        "CANCELLED"
    );
}

#[tokio::test]
async fn a_finished_import_says_how_its_timestamps_were_read_and_many_jobs_leave_the_tables_whole()
{
    let d = TestDesk::start().await;
    walk_dataset(&d, "walk", 300, 1).await;
    for m in ["wf_old", "wf_run"] {
        let id = import(&d, m, "timestamp,v\n1609459200,1\n").await;
        wait_job(&d, &id).await;
    }
    let db = d.dir.path().join("research.sqlite3");
    tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(db).unwrap();
        for (id, at, unit) in [
            ("00000000-iso", "2020-01-04", "null"),
            ("00000000-sec", "2020-01-03", "\"s\""),
            ("00000000-two", "2020-01-02", "\"ms\""),
            ("00000000-one", "2020-01-01", "\"ms\""),
        ] {
            let result = format!(
                r#"{{"measurement":"bars","rows_imported":1200,"rows_skipped":3,"timestamp_unit":{unit}}}"#
            );
            c.execute(
                "INSERT INTO bd_jobs(job_id, job_type, status, payload, progress, total, result, created_at, updated_at)
                 VALUES (?1, 'questdb_import', 'COMPLETED', '{\"measurement\":\"bars\"}', 1200, 1200, ?2, ?3, ?3)",
                rusqlite::params![id, result, format!("{at}T00:00:00")],
            )
            .unwrap();
        }
    })
    .await
    .unwrap();
    let mut app = research_tab(&d).await;
    // six jobs (two imports and four written here) and four measurements:
    // at 80x24 the tables keep every row and the jobs pane the rest
    let text = screen(&app, 80, 24);
    assert!(text.contains("jobs (6)"), "{text}");
    // a measurement's row: its name, kind, rows and range on one line
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" table ") || l.contains(" view "))
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    for (row, name) in rows
        .iter()
        .zip(["walk_indicators", "walk_ohlcv", "wf_old", "wf_run"])
    {
        assert!(row.contains(name), "{row} is not {name}:\n{text}");
    }
    // newest first: the two imports, then the one whose timestamps were dates, then seconds
    assert!(
        text.contains("1 row into wf_run (timestamps in s, 0 skipped)"),
        "{text}"
    );
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("1,200 rows into bars (timestamps as dates, 3 skipped)"),
        "{text}"
    );
    key(&mut app, KeyCode::Down);
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("1,200 rows into bars (timestamps in s, 3 skipped)"),
        "{text}"
    );
}

#[tokio::test]
async fn a_dataset_job_says_what_it_did_in_words() {
    let d = TestDesk::start_with_research(ResearchConfig {
        workers: 0,
        ..Default::default()
    })
    .await;
    let db = d.dir.path().join("research.sqlite3");
    tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(db).unwrap();
        for (id, kind, at, payload, message) in [
            (
                "00000000-reg",
                "dataset_register",
                "2020-01-02",
                r#"{"dataset_id":"btc-1h","measurement":"btc_1h_ohlcv"}"#,
                "dataset btc-1h registered with the desk: 400 bars from btc_1h_ohlcv",
            ),
            (
                "00000000-mea",
                "dataset_measurement",
                "2020-01-01",
                r#"{"dataset_id":"old-1d"}"#,
                "300 bars written as old_1d_ohlcv",
            ),
        ] {
            let result = serde_json::json!({"success": true, "message": message, "data_path": "/x"});
            c.execute(
                "INSERT INTO bd_jobs(job_id, job_type, status, payload, progress, total, result, created_at, updated_at)
                 VALUES (?1, ?2, 'COMPLETED', ?3, 1, 1, ?4, ?5, ?5)",
                rusqlite::params![id, kind, payload, result.to_string(), format!("{at}T00:00:00")],
            )
            .unwrap();
        }
    })
    .await
    .unwrap();
    let mut app = research_tab(&d).await;
    for (w, h) in [(80, 24), (160, 48)] {
        let text = screen(&app, w, h);
        for needle in [
            "btc_1h_ohlcv → desk dataset",
            "desk dataset old-1d → measurements",
            // the selected one's own words, not its JSON
            "dataset btc-1h registered with the desk: 400 bars",
        ] {
            assert!(text.contains(needle), "{w}x{h} lacks {needle:?}:\n{text}");
        }
        assert!(!text.contains("data_path"), "{text}");
    }
    key(&mut app, KeyCode::Down);
    let text = screen(&app, 80, 24);
    assert!(text.contains("300 bars written as old_1d_ohlcv"), "{text}");
}
