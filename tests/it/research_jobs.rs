//! The research job queue under load and under a crash: 1M-row imports two at a time with
//! progress that only goes up, a cancel that leaves no table, and a `kill -9` mid-import after
//! which the restarted server ends the job COMPLETED (whole table) or FAILED (no table).
use crate::research::{error_of, import};
use crate::support::{TestDesk, login, spawn_serve, within};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const ROWS: usize = 1_000_000;

/// 1M rows of minute bars, timestamps in seconds.
fn million() -> String {
    let mut s = String::with_capacity(ROWS * 48);
    s.push_str("timestamp_unix,open,high,low,close,volume\n");
    for i in 0..ROWS {
        let c = 100.0 + (i % 1000) as f64 * 0.01;
        s.push_str(&format!(
            "{},{:.2},{:.2},{:.2},{c:.2},{}\n",
            1_600_000_000 + 60 * i,
            c - 0.05,
            c + 0.1,
            c - 0.1,
            i % 5000
        ));
    }
    s
}

/// Names of the staging tables in the store (an import's work before it is published).
async fn staging_tables(get: impl AsyncFn(&str) -> (StatusCode, Value)) -> Vec<Value> {
    let (c, q) = get("SELECT name FROM sqlite_master WHERE substr(name, 1, 8) = '_import_'").await;
    assert_eq!(c, StatusCode::OK, "{q}");
    q["dataset"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn million_row_imports_run_two_at_once_and_a_cancelled_one_leaves_nothing() {
    let d = TestDesk::start().await;
    let csv = million();
    let names = ["m_a", "m_b", "m_c"];
    let (a, b, c) = tokio::join!(
        import(&d, names[0], &csv),
        import(&d, names[1], &csv),
        import(&d, names[2], &csv)
    );
    drop(csv);
    let ids = [a, b, c];
    let mut seen: Vec<Vec<Value>> = vec![Vec::new(); 3];
    let mut together = false;
    let mut cancelled: Option<usize> = None;
    // an unoptimised build on a busy machine: minutes, not the usual 30 s
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    {
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "the three imports did not end"
            );
            // one read of the list: the three states are of one moment
            let (code, list) = d.get("/api/jobs?job_type=questdb_import").await;
            assert_eq!(code, StatusCode::OK, "{list}");
            let mut states = Vec::new();
            for (k, id) in ids.iter().enumerate() {
                let j = list["jobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|j| j["job_id"] == id.as_str())
                    .unwrap()
                    .clone();
                states.push(j["status"].as_str().unwrap().to_string());
                seen[k].push(j);
            }
            let running = states.iter().filter(|s| *s == "RUNNING").count();
            assert!(running <= 2, "two workers: {states:?}");
            together |= running == 2;
            // the first import seen part way (a batch committed) is cancelled
            let part_way = (0..3).find(|&k| {
                let p = seen[k].last().unwrap()["progress"].as_i64().unwrap();
                states[k] == "RUNNING" && p > 0 && p < ROWS as i64
            });
            if let (None, Some(k)) = (cancelled, part_way) {
                let (code, j) = d
                    .post(&format!("/api/jobs/{}/cancel", ids[k]), json!({}))
                    .await;
                if code == StatusCode::CONFLICT {
                    // it completed between the poll and the cancel: another one, then
                    assert!(j["error"].as_str().unwrap().contains("is COMPLETED"), "{j}");
                } else {
                    assert_eq!(code, StatusCode::OK, "{j}");
                    assert_eq!(j["status"], "CANCELLED");
                    assert!(
                        j["completed_at"].is_null(),
                        "its worker has yet to stop: {j}"
                    );
                    cancelled = Some(k);
                }
            }
            // done when all have ended and the cancelled one's worker has stopped
            let stopped =
                cancelled.is_none_or(|k| seen[k].last().unwrap()["completed_at"].is_string());
            if stopped && states.iter().all(|s| s != "PENDING" && s != "RUNNING") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    assert!(together, "two imports ran at once");
    let gone = cancelled.expect("an import was seen part way and cancelled");
    let last = |k: usize| seen[k].last().unwrap().clone();
    assert_eq!(last(gone)["status"], "CANCELLED");
    let mut part_way_seen = false;
    for k in (0..3).filter(|k| *k != gone) {
        let j = last(k);
        assert_eq!(j["status"], "COMPLETED", "{j}");
        assert_eq!(
            (j["progress"].as_i64(), j["total"].as_i64()),
            (Some(ROWS as i64), Some(ROWS as i64))
        );
        let progress: Vec<i64> = seen[k]
            .iter()
            .map(|j| j["progress"].as_i64().unwrap())
            .collect();
        assert!(
            progress.windows(2).all(|w| w[0] <= w[1]),
            "monotonic: {progress:?}"
        );
        part_way_seen |= progress.iter().any(|p| *p > 0 && *p < ROWS as i64);
        let result: Value = serde_json::from_str(j["result"].as_str().unwrap()).unwrap();
        assert_eq!(result["rows_imported"], ROWS);
        assert_eq!(result["timestamp_unit"], "s");
    }
    assert!(part_way_seen, "a completed import was seen part way");
    for m in (0..3).filter(|k| *k != gone).map(|k| names[k]) {
        let (_, info) = d.get(&format!("/api/questdb/measurement/{m}")).await;
        assert_eq!(info["row_count"], ROWS, "{info}");
        assert_eq!(info["first_ts"], 1_600_000_000_000_000i64);
        assert_eq!(
            info["last_ts"],
            (1_600_000_000 + 60 * (ROWS as i64 - 1)) * 1_000_000
        );
    }
    // the cancelled import: stopped by its worker, no measurement, no staging table, no upload
    let (code, b) = d
        .get(&format!("/api/questdb/measurement/{}", names[gone]))
        .await;
    error_of(code, &b, StatusCode::NOT_FOUND);
    within("the cancelled import's table to go", async {
        loop {
            let q = |sql: &str| d.post("/api/questdb/query", json!({ "sql": sql }));
            if staging_tables(async |s| q(s).await).await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let sql = format!("SELECT count(*) FROM {}", names[gone]);
    let (_, q) = d.post("/api/questdb/query", json!({ "sql": sql })).await;
    assert!(
        q["error"].as_str().unwrap().contains("no such table"),
        "{q}"
    );
    // an upload goes once its job has ended (a completed job's just after it says so)
    let uploads = d.dir.path().join("uploads");
    within("the uploads to go", async {
        while std::fs::read_dir(&uploads).unwrap().count() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_mid_import_ends_completed_with_the_whole_table_or_failed_with_none() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = spawn_serve(dir.path(), std::path::Path::new("/dev/null"));
    let client = login(&base).await;
    let resp = client
        .post(format!("{base}/api/questdb/import/async"))
        .json(&json!({"measurement": "bars", "data": million()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let job: Value = resp.json().await.unwrap();
    let id = job["job_id"].as_str().unwrap().to_string();
    let url = format!("{base}/api/jobs/{id}");
    within("the import to commit a batch", async {
        loop {
            let j: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
            if j["status"] == "RUNNING" && j["progress"].as_i64().unwrap() > 0 {
                return;
            }
            assert_ne!(j["status"], "COMPLETED", "too fast to kill part way: {j}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    server.0.kill().unwrap(); // SIGKILL
    server.0.wait().unwrap();
    let (_server, base) = spawn_serve(dir.path(), std::path::Path::new("/dev/null"));
    let client = login(&base).await;
    let url = format!("{base}/api/jobs/{id}");
    let end = within("the job to end after the restart", async {
        loop {
            let j: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
            if matches!(j["status"].as_str(), Some("COMPLETED" | "FAILED")) {
                return j;
            }
            assert_ne!(j["status"], "CANCELLED", "{j}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let query = async |sql: &str| -> (StatusCode, Value) {
        let r = client
            .post(format!("{base}/api/questdb/query"))
            .json(&json!({ "sql": sql }))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    };
    let info = client
        .get(format!("{base}/api/questdb/measurement/bars"))
        .send()
        .await
        .unwrap();
    match end["status"].as_str() {
        Some("COMPLETED") => {
            // started again from scratch: the table is whole, once
            assert_eq!(info.status(), StatusCode::OK);
            let info: Value = info.json().await.unwrap();
            assert_eq!(info["row_count"], ROWS);
            let (c, q) = query("SELECT count(*), count(DISTINCT timestamp) FROM bars").await;
            assert_eq!(c, StatusCode::OK);
            assert_eq!(q["dataset"][0], json!([ROWS, ROWS]));
            assert!(end["error"].is_null(), "{end}");
        }
        _ => {
            assert_eq!(info.status(), StatusCode::NOT_FOUND);
            let (_, q) = query("SELECT count(*) FROM bars").await;
            assert!(
                q["error"].as_str().unwrap().contains("no such table"),
                "{q}"
            );
        }
    }
    assert!(
        staging_tables(query).await.is_empty(),
        "no staging table is left"
    );
}
