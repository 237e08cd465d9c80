//! `GET /ui` in headless Chromium, driven through chromedriver (fantoccini): the login page, then
//! the dashboard shows health, builds its form from `/strategies` and `/exchanges`, starts a
//! backtest, and shows the result's final value, a drawn equity curve and the orders. A
//! screenshot is saved under `target/ui-screenshots/` to be looked at.
use crate::backtests::walk_dataset;
use crate::support::*;
use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use std::time::Duration;

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: std::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver, started again on another port if the one it was given was taken meanwhile.
async fn chromedriver() -> Driver {
    for _ in 0..3 {
        if let Some(d) = chromedriver_once().await {
            return d;
        }
    }
    panic!("chromedriver did not start on three ports");
}

async fn chromedriver_once() -> Option<Driver> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver is needed (Debian: chromium-driver; the test command installs it)");
    let url = format!("http://127.0.0.1:{port}");
    let mut driver = Driver { child, url };
    let status = format!("{}/status", driver.url);
    within("chromedriver to be ready", async {
        loop {
            if let Ok(r) = http().get(&status).send().await
                && r.status().is_success()
            {
                return Some(());
            }
            // it exited: the port was taken between our look and its bind
            if driver.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await?;
    Some(driver)
}

/// `name`'s path on PATH.
fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .map(|p| p.display().to_string())
    })
}

/// Polls `f` until it gives `Some`.
async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    within(what, async {
        loop {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test]
async fn the_ui_page_runs_a_backtest_from_its_form_in_headless_chromium() {
    let d = TestDesk::start().await;
    let (dataset, _) = walk_dataset(&d, "walk", 500, 3).await;
    let driver = chromedriver().await;
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|b| which(b))
        .expect("chromium is needed (Debian: chromium; the test command installs it)");
    let caps = json!({ "goog:chromeOptions": { "binary": chromium,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"] } });
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps.as_object().unwrap().clone())
        .connect(&driver.url)
        .await
        .expect("a Chromium session");
    let run = async {
        // with a password set and no session, /ui is the login page
        c.goto(&d.url("/ui")).await?;
        c.find(Locator::Css("#p"))
            .await?
            .send_keys(PASSWORD)
            .await?;
        c.find(Locator::Css("button")).await?.click().await?;
        let health = until("health on the page", || async {
            let t = c
                .find(Locator::Id("health"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            t.starts_with("health ok").then_some(t)
        })
        .await;
        assert_eq!(health, "health ok · v1");
        // the form is built from /strategies and /exchanges
        until("the strategies in the form", || async {
            let n = c
                .find_all(Locator::Css("#strategy option"))
                .await
                .ok()?
                .len();
            (n == 6).then_some(())
        })
        .await;
        c.find(Locator::Id("strategy"))
            .await?
            .select_by_value("sma_cross")
            .await?;
        c.find(Locator::Id("symbol"))
            .await?
            .select_by_value(&dataset)
            .await?;
        let fast = c.find(Locator::Id("param-fast")).await?;
        fast.clear().await?;
        fast.send_keys("5").await?;
        c.find(Locator::Id("param-commission"))
            .await?
            .clear()
            .await?;
        c.find(Locator::Id("param-commission"))
            .await?
            .send_keys("0.001")
            .await?;
        c.find(Locator::Id("start")).await?.click().await?;
        // the status stream says when the run is done; the page then loads its results
        let status = until("the run to complete on the page", || async {
            let t = c
                .find(Locator::Id("status"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            t.starts_with("completed").then_some(t)
        })
        .await;
        assert!(
            status.starts_with("completed · backtest sma_cross"),
            "{status}"
        );
        // the page shows what /results says
        let (_, r) = d.get("/api/v1/results").await;
        let want = r["final_value"].as_f64().unwrap();
        until("the final value", || async {
            let t = c
                .find(Locator::Id("final-value"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let shown: f64 = t.replace(',', "").parse().ok()?;
            ((shown - want).abs() < 0.01).then_some(())
        })
        .await;
        assert_eq!(r["config"]["request"]["strategy_params"]["fast"], 5);
        let path = c
            .find(Locator::Id("equity-line"))
            .await?
            .attr("d")
            .await?
            .unwrap_or_default();
        assert!(
            path.starts_with('M') && path.matches('L').count() >= 400,
            "a drawn curve: {} points",
            path.matches('L').count()
        );
        let rows = c.find_all(Locator::Css("#trades tbody tr")).await?.len();
        assert_eq!(rows, r["orders"].as_array().unwrap().len().min(500));
        Ok::<_, fantoccini::error::CmdError>(())
    };
    let out = run.await;
    // a screenshot whatever happened: the page as the test left it, to be looked at
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(if out.is_ok() {
        "ui-backtest.png"
    } else {
        "ui-backtest-failed.png"
    });
    if let Ok(png) = c.screenshot().await {
        std::fs::write(&file, png).unwrap();
        eprintln!("screenshot: {}", file.display());
    }
    c.close().await.ok();
    out.unwrap();
}
