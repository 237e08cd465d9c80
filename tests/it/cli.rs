//! The real binary: `brickdesk renko` on price files, and `serve` killed with SIGKILL mid-burst
//! losing nothing it acknowledged.
use serde_json::json;
use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::bin;

fn renko(path: &std::path::Path, size: &str) -> std::process::Output {
    crate::support::output_within(bin().arg("renko").arg(path).args(["--size", size]), 60)
}

#[test]
fn renko_prints_bricks_of_a_price_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prices.csv");
    // unnamed first column holds the timestamps; `Close` in another case
    std::fs::write(
        &path,
        ",Open,Close\n2024-01-15 09:30,1,100.0\n2024-01-15 09:31,1,101.5\n2024-01-15 09:32,1,104.2\n2024-01-15 09:33,1,103.0\n2024-01-15 09:34,1,99.9\n",
    )
    .unwrap();
    let out = renko(&path, "2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "index,timestamp,open,close,color\n\
         0,2024-01-15 09:32,100,102,green\n\
         1,2024-01-15 09:32,102,104,green\n\
         2,2024-01-15 09:34,102,100,red\n"
    );
    // a named timestamp column
    std::fs::write(&path, "close,Timestamp\n10,a\n13,b\n").unwrap();
    let out = renko(&path, "1.5");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "index,timestamp,open,close,color\n0,b,9,10.5,green\n1,b,10.5,12,green\n"
    );
    // clear errors
    std::fs::write(&path, "open,high\n1,2\n").unwrap();
    let out = renko(&path, "2");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `close` column"));
    std::fs::write(&path, "time,close\nx,abc\n").unwrap();
    let out = renko(&path, "2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: close \"abc\" is not a number"));
}

struct Server {
    child: crate::support::Serve,
    base: String,
}

fn start_server(data: &std::path::Path, config: &std::path::Path) -> Server {
    let (child, base) = crate::support::spawn_serve(data, config);
    Server { child, base }
}

const ASSETS: usize = 12;

use crate::support::{get_json, login};

fn config_file(dir: &std::path::Path) -> std::path::PathBuf {
    let mut toml = String::from("[desk]\ntrade_limit = 1000\n");
    for i in 0..ASSETS {
        toml += &format!(
            "[[assets]]\nname = \"A{i}\"\nsymbol = \"C{i}\"\nexchange = \"CME\"\ntick = 0.25\npoint_value = 5.0\ndefault_qty = 1\n"
        );
    }
    let path = dir.join("config.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(toml.as_bytes())
        .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_burst_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path());
    let mut server = start_server(dir.path(), &config);
    let base = server.base.clone();
    let acked_bricks: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let acked_orders: Arc<Mutex<Vec<String>>> = Arc::default();
    let client = login(&base).await;

    // 12 writers: each makes its asset ready, enters, then streams bricks until the server dies.
    let mut tasks = Vec::new();
    for w in 0..ASSETS {
        let (client, base, bricks, orders) = (
            client.clone(),
            base.clone(),
            acked_bricks.clone(),
            acked_orders.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let asset = format!("A{w}");
            let post = |path: &str, body: serde_json::Value| client.post(format!("{base}{path}")).json(&body).send();
            let ok = |r: reqwest::Result<reqwest::Response>| r.ok().filter(|r| r.status().is_success());
            if ok(post("/tv_heartbeat", json!({ "secret": crate::support::TV, "symbol": asset, "price": 100.0 })).await).is_none() {
                return;
            }
            for path in ["/tv_renko_high", "/tv_renko_macro", "/tv_renko_two_half", "/tv_renko_main"] {
                let body = json!({ "secret": crate::support::TV, "asset": asset, "color": "green", "bar_id": "ready" });
                if ok(post(path, body).await).is_none() {
                    return;
                }
                bricks.lock().unwrap().push((path.to_string(), format!("{asset}/ready")));
            }
            // the candle lock is account-wide: one writer's entry goes through
            if let Some(r) = ok(post("/api/orders", json!({ "asset": asset, "trade_mode": "SCALP" })).await) {
                let v: serde_json::Value = r.json().await.unwrap();
                orders.lock().unwrap().push(v["order"]["id"].as_str().unwrap().to_string());
            }
            for n in 0.. {
                let id = format!("burst-{n}");
                let body = json!({ "secret": crate::support::TV, "asset": asset, "color": "red", "bar_id": id });
                match ok(post("/tv_renko_one", body).await) {
                    Some(_) => bricks.lock().unwrap().push(("/tv_renko_one".into(), format!("{asset}/{id}"))),
                    None => return,
                }
            }
        }));
    }
    // Let the burst run, then SIGKILL mid-flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let acked = acked_bricks.lock().unwrap().len();
        if acked > 1500 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {acked} bricks acknowledged in 60 s"
        );
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let bricks = acked_bricks.lock().unwrap().clone();
    let orders = acked_orders.lock().unwrap().clone();
    assert!(bricks.len() > 1500 && !orders.is_empty());

    let mut server = start_server(dir.path(), &config);
    let base = server.base.clone();
    let client = login(&base).await;
    // Every acknowledged brick is stored: posting it again is a duplicate.
    for (path, key) in &bricks {
        let (asset, id) = key.split_once('/').unwrap();
        let body =
            json!({ "secret": crate::support::TV, "asset": asset, "color": "red", "bar_id": id });
        let v: serde_json::Value = client
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["duplicate"], true,
            "acknowledged brick {path} {key} was lost"
        );
    }
    // Every acknowledged order is there, still PENDING, and blocks a second entry.
    let v: serde_json::Value = get_json(&client, &format!("{base}/api/orders?limit=1000")).await;
    let stored: HashSet<String> = v["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    for id in &orders {
        assert!(stored.contains(id), "acknowledged order {id} was lost");
    }
    let st: serde_json::Value = get_json(&client, &format!("{base}/api/state")).await;
    let pending = st["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["pending_order"].is_object())
        .count();
    assert_eq!(pending, stored.len());
    eprintln!(
        "crash test: {} bricks and {} orders acknowledged before SIGKILL, all present",
        bricks.len(),
        orders.len()
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[test]
fn serve_refuses_off_loopback_without_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::output_within(
        bin()
            .env_remove("DASHBOARD_PASSWORD")
            .args(["--data-dir"])
            .arg(dir.path())
            .args(["serve", "--host", "0.0.0.0", "--port", "0"]),
        30,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to bind 0.0.0.0") && err.contains("--insecure-no-password"),
        "{err}"
    );
}
