//! Backtests (issue 11): the simulator and its figures against numbers worked by hand, the SMA
//! cross against backtesting.py trade for trade, seed 002's results API and its `/ws`, the `llm`
//! strategy against a stand-in Ollama (and without one), and `brickdesk backtest`.
use crate::support::*;
use brickdesk::services::backtest::sim::{self, OrderStatus, SimConfig};
use brickdesk::services::backtest::strategy::{BUY, HOLD, SELL};
use brickdesk::services::backtest::{metrics, store};
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A seeded random walk of `n` daily bars (weekdays from 2012-01-02), as a CSV with a header.
pub fn walk_csv(path: &std::path::Path, n: usize, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    let mut day = chrono::NaiveDate::from_ymd_opt(2012, 1, 2).unwrap();
    let mut close = 100.0f64;
    for _ in 0..n {
        let open = close * (1.0 + rng.random_range(-0.004..0.004));
        close *= 1.0 + rng.random_range(-0.026..0.026);
        let high = open.max(close) * (1.0 + rng.random_range(0.0..0.008));
        let low = open.min(close) * (1.0 - rng.random_range(0.0..0.008));
        text.push_str(&format!("{day},{open},{high},{low},{close},1000\n"));
        day = day.succ_opt().unwrap();
        while chrono::Datelike::weekday(&day).number_from_monday() > 5 {
            day = day.succ_opt().unwrap();
        }
    }
    std::fs::write(path, text).unwrap();
}

/// Saves the CSV at `path` as a dataset (seed 000's route); its id.
pub async fn save_dataset(
    d: &TestDesk,
    path: &std::path::Path,
    name: &str,
    symbol: &str,
) -> String {
    let (c, b) = d
        .post(
            "/data-sources/save",
            json!({ "type": "csv", "name": name, "file_path": path, "symbol": symbol, "timeframe": "1d",
                    "timezone": "UTC", "mapping": null, "session": null, "extra": {} }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    b["dataset_id"].as_str().unwrap().to_string()
}

/// A walk of `n` bars saved as dataset `name`.
pub async fn walk_dataset(
    d: &TestDesk,
    name: &str,
    n: usize,
    seed: u64,
) -> (String, std::path::PathBuf) {
    let path = d.dir.path().join(format!("{name}.csv"));
    walk_csv(&path, n, seed);
    (save_dataset(d, &path, name, "WALK").await, path)
}

/// Waits until the v1 run is no longer running; its status.
pub async fn settle(d: &TestDesk) -> Value {
    within("the run to end", async {
        loop {
            let (c, s) = d.get("/api/v1/status").await;
            assert_eq!(c, StatusCode::OK, "{s}");
            if s["status"] != "running" {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Runs a backtest through seed 004 to its end; `/results`.
pub async fn backtest(d: &TestDesk, body: Value) -> Value {
    let (c, b) = d.post("/api/v1/run/backtest", body).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    let s = settle(d).await;
    assert_eq!(s["status"], "completed", "{s}");
    let (c, r) = d.get("/api/v1/results").await;
    assert_eq!(c, StatusCode::OK, "{r}");
    r
}

fn cfg(commission: f64, slippage: f64, fixed: Option<f64>, short: bool) -> SimConfig {
    SimConfig {
        initial_cash: 100.0,
        commission,
        slippage,
        fixed_qty: fixed,
        allow_short: short,
    }
}

#[test]
fn the_simulator_fills_at_the_next_open_with_commission_and_slippage_as_worked_by_hand() {
    let open = [10.0, 11.0, 12.0, 13.0];
    let close = [10.5, 11.5, 12.5, 13.5];
    // BUY on bar 0's close → filled at bar 1's open 11 + 0.1 slippage = 11.1;
    // all-in: floor(100 / (11.1 × 1.01)) = floor(8.92) = 8 units, commission 8 × 11.1 × 1% = 0.888
    // SELL on bar 2's close → filled at bar 3's open 13 − 0.1 = 12.9, commission 1.032
    // cash: 100 − 0.888 + 8 × (12.9 − 11.1) − 1.032 = 112.48
    let r = sim::run(
        cfg(0.01, 0.1, None, false),
        &open,
        &close,
        &[BUY, HOLD, SELL, HOLD],
    );
    assert_eq!(r.equity.len(), 4, "one point per bar");
    let fills: Vec<_> = r
        .sim
        .orders
        .iter()
        .map(|o| (o.bar, o.side, o.qty, o.price))
        .collect();
    assert_eq!(fills, vec![(1, 1, 8.0, 11.1), (3, -1, 8.0, 12.9)]);
    assert!((r.sim.orders[0].commission - 0.888).abs() < 1e-9);
    assert!((r.sim.cash - 112.48).abs() < 1e-9, "{}", r.sim.cash);
    let t = &r.sim.trades[0];
    assert_eq!(
        (
            t.entry_bar,
            t.exit_bar,
            t.entry_signal_bar,
            t.exit_signal_bar
        ),
        (1, 3, Some(0), Some(2))
    );
    assert!((t.pnl - 12.48).abs() < 1e-9, "{}", t.pnl);
    // equity at each close: 100 until the fill, then cash + 8 × (close − 11.1)
    let want = [
        100.0,
        99.112 + 8.0 * (11.5 - 11.1),
        99.112 + 8.0 * (12.5 - 11.1),
        112.48,
    ];
    for (got, want) in r.equity.iter().zip(want) {
        assert!((got - want).abs() < 1e-9, "{:?}", r.equity);
    }
    assert_eq!(r.bars_in_market, 2);

    // a position still open after the last bar is closed at the last bar's open
    let r = sim::run(
        cfg(0.01, 0.1, None, false),
        &open,
        &close,
        &[BUY, HOLD, HOLD, HOLD],
    );
    let last = r.sim.orders.last().unwrap();
    assert_eq!(
        (
            last.bar,
            last.side,
            last.price,
            last.purpose,
            last.signal_bar
        ),
        (3, -1, 12.9, "end_of_data", None)
    );
    assert!((r.equity[3] - 112.48).abs() < 1e-9);

    // the last bar's decision has no next open: nothing happens
    let r = sim::run(
        cfg(0.0, 0.0, None, false),
        &open,
        &close,
        &[HOLD, HOLD, HOLD, BUY],
    );
    assert!(r.sim.orders.is_empty());
}

#[test]
fn sizing_long_only_and_long_short_follow_their_rules() {
    let open = [10.0, 10.0, 10.0, 10.0, 10.0];
    let close = open;
    // fixed 20 units at 10 × 1.01 = 202 > 100 cash: refused, nothing held
    let r = sim::run(
        cfg(0.01, 0.0, Some(20.0), false),
        &open,
        &close,
        &[BUY, HOLD, HOLD, HOLD, HOLD],
    );
    assert_eq!(r.sim.orders.len(), 1);
    assert_eq!(r.sim.orders[0].status, OrderStatus::Rejected);
    assert_eq!(r.sim.pos, 0.0);
    // fixed 3 units fit
    let r = sim::run(
        cfg(0.0, 0.0, Some(3.0), false),
        &open,
        &close,
        &[BUY, HOLD, HOLD, HOLD, HOLD],
    );
    assert_eq!(r.sim.orders[0].qty, 3.0);
    // long-only: a SELL only closes; a SELL while flat does nothing
    let r = sim::run(
        cfg(0.0, 0.0, None, false),
        &open,
        &close,
        &[SELL, BUY, SELL, HOLD, HOLD],
    );
    let sides: Vec<i8> = r.sim.orders.iter().map(|o| o.side).collect();
    assert_eq!(sides, vec![1, -1]);
    // long/short: a SELL while long closes and goes short; the end closes the short
    let r = sim::run(
        cfg(0.0, 0.0, None, true),
        &open,
        &close,
        &[BUY, SELL, HOLD, HOLD, HOLD],
    );
    let got: Vec<(usize, i8, &str)> = r
        .sim
        .orders
        .iter()
        .map(|o| (o.bar, o.side, o.purpose))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, "entry"),
            (2, -1, "exit"),
            (2, -1, "entry"),
            (4, 1, "end_of_data")
        ]
    );
    assert_eq!(
        r.sim.trades.iter().map(|t| t.side).collect::<Vec<_>>(),
        vec![1, -1]
    );
    assert!(
        (r.sim.cash - 100.0).abs() < 1e-9,
        "flat prices, no commission: no gain or loss"
    );
}

#[test]
fn metrics_match_values_worked_by_hand() {
    // returns 1 %, −0.5 %, 2 %, 0: mean 0.00625, sample sd √(3.6875e-4 / 3) = 0.0110868,
    // Sharpe = 0.00625 / 0.0110868 × √252 = 8.94901
    let equity = [100.0, 101.0, 100.495, 102.5049, 102.5049];
    let r = metrics::returns(&equity);
    assert!((metrics::sharpe(&r, 252.0).unwrap() - 8.949008088).abs() < 1e-6);
    // downside deviation √(0.005² / 4) = 0.0025: Sortino = 0.00625 / 0.0025 × √252 = 39.68627
    assert!((metrics::sortino(&r, 252.0).unwrap() - 39.686269666).abs() < 1e-6);
    // the same from the curve itself, without a copy of its returns
    let (sh, so) = metrics::ratios(&equity, 252.0);
    assert!((sh.unwrap() - 8.949008088).abs() < 1e-6 && (so.unwrap() - 39.686269666).abs() < 1e-6);
    // no variation, no Sharpe
    assert_eq!(metrics::sharpe(&[0.01, 0.01, 0.01], 252.0), None);

    // 100 → 120 → 90 (−25 %) → 95 → 130 (back above the peak after 3 bars) → 117 (−10 %)
    let (dd, bars, span) = metrics::max_drawdown(&[100.0, 120.0, 90.0, 95.0, 130.0, 117.0]);
    assert!((dd + 25.0).abs() < 1e-9, "{dd}");
    assert_eq!((bars, span), (3, (1, 4)));
    // still under water at the end: the stretch runs to the last bar
    let (dd, bars, _) = metrics::max_drawdown(&[100.0, 110.0, 100.0, 99.0, 105.0]);
    assert!((dd - (99.0 / 110.0 - 1.0) * 100.0).abs() < 1e-9);
    assert_eq!(bars, 3);

    let trip = |pnl: f64| sim::RoundTrip {
        side: 1,
        qty: 1.0,
        entry_bar: 0,
        exit_bar: 1,
        entry_signal_bar: None,
        exit_signal_bar: None,
        entry_price: 1.0,
        exit_price: 1.0,
        commission: 0.0,
        pnl,
        return_pct: 0.0,
    };
    // (50 + 30) / (20 + 10)
    let pf = metrics::profit_factor(&[trip(50.0), trip(-20.0), trip(30.0), trip(-10.0)]).unwrap();
    assert!((pf - 80.0 / 30.0).abs() < 1e-12);
    assert_eq!(metrics::profit_factor(&[trip(5.0)]), None);
    // losses only: 0, not −0 (which a page shows as "-0.00")
    let none_won = metrics::profit_factor(&[trip(-5.0)]).unwrap();
    assert!(none_won == 0.0 && none_won.is_sign_positive());
    // 10,000 → 12,100 in two years: 10 % a year
    assert!((metrics::cagr(10_000.0, 12_100.0, 2.0).unwrap() - 10.0).abs() < 1e-9);

    // bars per year: weekday daily bars 252; 5-minute bars, 78 a day, 252 × 78; daily bars
    // every day of the week (crypto) 365
    let day = 86_400_000i64;
    let weekdays: Vec<i64> = (0..400i64)
        .map(|i| 1_325_462_400_000 + (i / 5 * 7 + i % 5) * day)
        .collect();
    assert_eq!(metrics::bars_per_year(&weekdays), 252.0);
    let five_min: Vec<i64> = (0..78 * 20i64)
        .map(|i| 1_325_503_800_000 + (i / 78 / 5 * 7 + i / 78 % 5) * day + (i % 78) * 300_000)
        .collect();
    assert_eq!(metrics::bars_per_year(&five_min), 252.0 * 78.0);
    let every_day: Vec<i64> = (0..400i64).map(|i| 1_325_462_400_000 + i * day).collect();
    assert_eq!(metrics::bars_per_year(&every_day), 365.0);
}

#[test]
fn a_long_curve_is_thinned_without_losing_its_extremes() {
    let y: Vec<f64> = (0..10_000)
        .map(|i| ((i as f64) / 300.0).sin() * 100.0 + if i == 7_777 { -500.0 } else { 0.0 })
        .collect();
    let idx = store::downsample(&y, 200);
    assert!(idx.len() <= 200, "{}", idx.len());
    assert_eq!((idx[0], *idx.last().unwrap()), (0, 9_999));
    assert!(idx.contains(&7_777), "the deepest point survives");
    assert!(idx.windows(2).all(|w| w[0] < w[1]));
    // fewer than 4 points asked for: that many, evenly spread, the ends kept
    assert_eq!(store::downsample(&y, 3), vec![0, 4_999, 9_999]);
    assert_eq!(store::downsample(&y, 2), vec![0, 9_999]);
}

/// Round trips as (entry bar, exit bar, units).
/// Round trips as (entry bar, exit bar, signed units: < 0 short).
fn trips(v: &Value) -> Vec<(i64, i64, i64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let size = match t["size"].as_f64() {
                Some(s) => s,
                None if t["side"] == "short" => -t["qty"].as_f64().unwrap(),
                None => t["qty"].as_f64().unwrap(),
            };
            (
                t["entry_bar"].as_i64().unwrap(),
                t["exit_bar"].as_i64().unwrap(),
                size as i64,
            )
        })
        .collect()
}

#[tokio::test]
async fn the_sma_cross_agrees_with_backtesting_py_trade_for_trade() {
    let d = TestDesk::start().await;
    let (id, csv) = walk_dataset(&d, "peer-walk", 3_000, 11).await;
    for (mode, short) in [("long_only", false), ("long_short", true)] {
        let ours = backtest(
            &d,
            json!({ "strategy_name": "sma_cross", "symbols": [id], "timeframe": "1d", "initial_cash": 10_000,
                    "exchange": "datasets", "start_date": null, "end_date": null,
                    "strategy_params": { "fast": 10, "slow": 20, "commission": 0.002, "allow_short": short } }),
        )
        .await;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/fixtures/peer_backtesting.py"
        );
        let out = output_within(
            std::process::Command::new("python3").args([
                script,
                csv.to_str().unwrap(),
                "10",
                "20",
                "0.002",
                "10000",
                mode,
            ]),
            120,
        );
        assert!(
            out.status.success(),
            "backtesting.py did not run (the test command installs it: pip install backtesting): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let peer: Value = serde_json::from_slice(&out.stdout).unwrap();
        let (a, b) = (trips(&ours["trades"]), trips(&peer["trades"]));
        assert!(
            a.len() > 50,
            "{mode}: a walk of 3,000 bars crosses often: {}",
            a.len()
        );
        assert_eq!(
            a, b,
            "{mode}: same round trips (entry bar, exit bar, signed units)"
        );
        // and the same prices and profit, trade by trade
        for (o, p) in ours["trades"]
            .as_array()
            .unwrap()
            .iter()
            .zip(peer["trades"].as_array().unwrap())
        {
            for (mine, theirs) in [
                ("entry_price", "entry_price"),
                ("exit_price", "exit_price"),
                ("pnl", "pnl"),
            ] {
                let (x, y) = (o[mine].as_f64().unwrap(), p[theirs].as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 1e-6 * y.abs().max(1.0),
                    "{mode} {mine}: {x} vs {y} in {o}"
                );
            }
        }
        let (mine, theirs) = (
            ours["final_value"].as_f64().unwrap(),
            peer["final_equity"].as_f64().unwrap(),
        );
        assert!(
            ((mine - theirs) / theirs).abs() < 1e-4,
            "{mode}: final equity {mine} vs {theirs}"
        );
        eprintln!(
            "{mode}: {} round trips agree; final equity {mine} vs {theirs}",
            a.len()
        );
        d.client
            .delete(d.url("/api/v1/run/reset"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn seed_002_lists_backtests_newest_first_and_shows_one_with_its_curve_and_trades() {
    let d = TestDesk::start().await;
    let (c, b) = d.get("/api/backtests").await;
    assert_eq!((c, b), (StatusCode::OK, json!([])));
    let (id, _) = walk_dataset(&d, "walk", 400, 3).await;
    let run = |fast: i64| {
        json!({ "strategy_name": "sma_cross", "symbols": ["walk"], "initial_cash": 10_000,
                "strategy_params": { "fast": fast, "slow": 20 } })
    };
    let first = backtest(&d, run(5)).await;
    let second = backtest(&d, run(8)).await;
    let (c, list) = d.get("/api/backtests").await;
    assert_eq!(c, StatusCode::OK);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], second["backtest_id"], "newest first");
    assert_eq!(list[1]["id"], first["backtest_id"]);
    for key in [
        "id",
        "start_date",
        "end_date",
        "initial_capital",
        "final_value",
        "total_return_pct",
        "total_trades",
        "backend",
    ] {
        assert!(!list[0][key].is_null(), "summary field {key}: {}", list[0]);
    }
    assert_eq!(list[0]["backend"], "rules");
    assert_eq!(list[0]["start_date"], "2012-01-02T00:00:00");
    assert_eq!(list[0]["initial_capital"], 10_000.0);
    assert_eq!(list[0]["final_value"], second["final_value"]);
    assert_eq!(list[0]["dataset_id"], id);

    let bt = list[0]["id"].as_i64().unwrap();
    let (c, detail) = d.get(&format!("/api/backtests/{bt}")).await;
    assert_eq!(c, StatusCode::OK, "{detail}");
    for key in [
        "id",
        "start_date",
        "end_date",
        "total_return_pct",
        "sharpe_ratio",
        "max_drawdown_pct",
        "equity_curve",
        "trades",
    ] {
        assert!(detail.get(key).is_some(), "detail field {key}");
    }
    assert!(detail["max_drawdown_pct"].as_f64().unwrap() <= 0.0);
    let curve = detail["equity_curve"].as_array().unwrap();
    assert_eq!(curve.len(), 400, "a short run's curve is whole");
    assert_eq!(curve[0]["timestamp"], "2012-01-02T00:00:00");
    assert_eq!(curve[0]["portfolio_value"], 10_000.0);
    assert!(curve[0]["btc_price"].as_f64().unwrap() > 0.0);
    assert_eq!(
        curve.last().unwrap()["portfolio_value"],
        second["final_value"]
    );
    let trades = detail["trades"].as_array().unwrap();
    assert_eq!(
        trades.len() as i64,
        list[0]["total_trades"].as_i64().unwrap()
    );
    let t = &trades[0];
    assert!(t["id"].is_i64());
    assert_eq!(t["asset"], "WALK");
    assert_eq!(t["action"], "BUY");
    assert!(
        t["reasoning"]
            .as_str()
            .unwrap()
            .contains("SMA(8) crossed above SMA(20)"),
        "{t}"
    );
    assert_eq!(t["confidence"], 100.0);
    // fewer points on request, the last kept
    let (_, thin) = d.get(&format!("/api/backtests/{bt}?points=50")).await;
    let thin = thin["equity_curve"].as_array().unwrap();
    assert!(thin.len() <= 50);
    assert_eq!(thin.last().unwrap(), curve.last().unwrap());

    // the figures are the curve's and the round trips' (the whole 400-bar curve is here)
    let ys: Vec<f64> = curve
        .iter()
        .map(|p| p["portfolio_value"].as_f64().unwrap())
        .collect();
    let m = &detail["metrics"];
    let near = |k: &str, want: f64| {
        let got = m[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k} is missing: {m}"));
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{k}: {got} vs {want}"
        );
    };
    let returns = metrics::returns(&ys);
    near("sharpe_ratio", metrics::sharpe(&returns, 252.0).unwrap());
    near("sortino_ratio", metrics::sortino(&returns, 252.0).unwrap());
    near("max_drawdown_pct", metrics::max_drawdown(&ys).0);
    assert_eq!(detail["sharpe_ratio"], m["sharpe_ratio"]);
    let trips: Vec<sim::RoundTrip> = detail["round_trips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| sim::RoundTrip {
            side: 1,
            qty: t["qty"].as_f64().unwrap(),
            entry_bar: 0,
            exit_bar: 0,
            entry_signal_bar: None,
            exit_signal_bar: None,
            entry_price: t["entry_price"].as_f64().unwrap(),
            exit_price: t["exit_price"].as_f64().unwrap(),
            commission: t["commission"].as_f64().unwrap(),
            pnl: t["pnl"].as_f64().unwrap(),
            return_pct: t["return_pct"].as_f64().unwrap(),
        })
        .collect();
    near("profit_factor", metrics::profit_factor(&trips).unwrap());
    assert_eq!(m["round_trips"].as_u64().unwrap() as usize, trips.len());
    // 400 weekdays from 2012-01-02 to 2013-07-12: 557 calendar days
    let years = 557.0 / 365.25;
    near(
        "cagr_pct",
        metrics::cagr(10_000.0, *ys.last().unwrap(), years).unwrap(),
    );
    near(
        "total_return_pct",
        (ys.last().unwrap() / 10_000.0 - 1.0) * 100.0,
    );
    assert_eq!(m["bars_per_year"], 252.0);

    // pages of the list, and the first trades only
    let (_, page) = d.get("/api/backtests?limit=1&offset=1").await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"], first["backtest_id"]);
    let (_, few) = d.get(&format!("/api/backtests/{bt}?trades=3")).await;
    assert_eq!(few["trades"].as_array().unwrap()[..], trades[..3]);

    let (c, b) = d.get("/api/backtests/999999").await;
    assert_eq!(
        (c, b),
        (
            StatusCode::NOT_FOUND,
            json!({ "detail": "Backtest not found" })
        )
    );
    let (c, b) = d.get("/api/backtests/abc").await;
    assert_eq!(c, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["detail"].as_str().unwrap().contains("integer"), "{b}");
    let (c, b) = read(d.anon.get(d.url("/api/backtests")).send().await.unwrap()).await;
    assert_eq!(c, StatusCode::UNAUTHORIZED);
    assert!(b["detail"].as_str().unwrap().contains("login"), "{b}");
}

#[tokio::test]
async fn seed_002_ws_pushes_each_trade_as_it_is_stored() {
    use futures_util::StreamExt;
    let d = TestDesk::start().await;
    walk_dataset(&d, "walk", 300, 5).await;
    let cookie = d.session_cookie().await;
    let mut ws = ws_connect(&format!("{}/ws", d.base.replace("http", "ws")), &cookie).await;
    let r = backtest(&d, json!({ "strategy_name": "ema_cross", "symbols": ["WALK"], "strategy_params": { "fast": 5, "slow": 12 } })).await;
    let want: Vec<&Value> = r["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["status"] == "FILLED")
        .collect();
    assert!(want.len() > 4);
    for o in want.iter().take(5) {
        let msg = within("a trade on /ws", ws.next()).await.unwrap().unwrap();
        let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        assert_eq!(v["type"], "trade", "{v}");
        for key in ["id", "action", "asset", "price", "timestamp"] {
            assert_eq!(v["data"][key], o[key], "{key}: {v}");
        }
        assert_eq!(v["data"]["backtest_id"], r["backtest_id"]);
    }
}

/// A stand-in Ollama: `/api/chat` answers BUY and SELL in turn with confidence 87, after `delay`.
pub async fn fake_ollama(
    delay: Duration,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::routing::post;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let asked = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let app = axum::Router::new().route(
        "/api/chat",
        post(move |body: axum::Json<Value>| {
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                assert_eq!(body["stream"], false);
                assert_eq!(body["format"], "json");
                let prompt = body["messages"][1]["content"].as_str().unwrap_or_default();
                assert!(prompt.contains("Decide for the next bar"), "{prompt}");
                let action = if n.is_multiple_of(2) { "BUY" } else { "SELL" };
                let content = json!({ "action": action, "confidence": 87, "reason": format!("stand-in says {action} #{n}") }).to_string();
                axum::Json(json!({ "model": body["model"], "message": { "role": "assistant", "content": content }, "done": true }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, asked)
}

#[tokio::test]
async fn the_llm_strategy_carries_the_models_reasoning_and_confidence_into_its_trades() {
    let (url, asked) = fake_ollama(Duration::ZERO).await;
    let d = TestDesk::start_with_ollama(&url).await;
    walk_dataset(&d, "walk", 120, 9).await;
    let r = backtest(
        &d,
        json!({ "strategy_name": "llm", "symbols": ["walk"],
        "strategy_params": { "model": "stand-in", "every": 10, "window": 20 } }),
    )
    .await;
    // decision bars 19, 29, …, 109 (never the last bar): 10 questions
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 10);
    let orders = r["orders"].as_array().unwrap();
    assert!(orders.len() >= 4, "{orders:?}");
    let first = &orders[0];
    assert_eq!(
        (first["action"].as_str(), first["confidence"].as_f64()),
        (Some("BUY"), Some(87.0))
    );
    assert_eq!(first["reasoning"], "stand-in: stand-in says BUY #0");
    assert_eq!(first["signal_bar"], 19);
    assert_eq!(first["bar"], 20);
    assert!(
        r["trades"][0]["reasoning"]
            .as_str()
            .unwrap()
            .starts_with("stand-in: ")
    );
    let (_, list) = d.get("/api/backtests").await;
    assert_eq!(list[0]["backend"], "ollama");
    assert!(list[0]["note"].is_null(), "no fallback was used");
    // every stored trade carries the model's reason and confidence (the last one closed at the
    // end of the data says so instead), every round trip its entry's
    let (_, detail) = d.get(&format!("/api/backtests/{}", list[0]["id"])).await;
    for t in detail["trades"].as_array().unwrap() {
        if t["purpose"] == "end_of_data" {
            continue;
        }
        assert_eq!(t["confidence"], 87.0, "{t}");
        assert!(
            t["reasoning"]
                .as_str()
                .unwrap()
                .starts_with("stand-in: stand-in says "),
            "{t}"
        );
    }
    for t in detail["round_trips"].as_array().unwrap() {
        assert_eq!(t["confidence"], 87.0, "{t}");
        assert!(
            t["reasoning"].as_str().unwrap().starts_with("stand-in: "),
            "{t}"
        );
    }
}

/// A desk whose Ollama hangs up on every connection (a closed port could be reused meanwhile),
/// and the result of an LLM backtest on a 200-bar walk of `seed`: every decision falls back.
pub async fn llm_backtest_with_ollama_down(seed: u64) -> (TestDesk, Value) {
    let hangs_up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", hangs_up.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((conn, _)) = hangs_up.accept().await {
            drop(conn);
        }
    });
    let d = TestDesk::start_with_ollama(&url).await;
    walk_dataset(&d, "walk", 200, seed).await;
    let r = backtest(
        &d,
        json!({ "strategy_name": "llm", "symbols": ["walk"], "strategy_params": { "every": 5 } }),
    )
    .await;
    (d, r)
}

#[tokio::test]
async fn with_ollama_down_the_llm_strategy_falls_back_and_says_so_in_every_trade() {
    let (d, r) = llm_backtest_with_ollama_down(4).await;
    let orders = r["orders"].as_array().unwrap();
    assert!(!orders.is_empty());
    for o in orders {
        let why = o["reasoning"].as_str().unwrap();
        if o["purpose"] == "end_of_data" {
            continue;
        }
        assert!(why.contains("Ollama unreachable at"), "{why}");
        assert!(
            why.contains("fallback rule: SMA(10) above SMA(20) → BUY, below → SELL"),
            "{why}"
        );
    }
    let (_, list) = d.get("/api/backtests").await;
    assert_eq!(list[0]["backend"], "ollama");
    assert!(
        list[0]["note"].as_str().unwrap().contains("fallback rule"),
        "{}",
        list[0]
    );
}

#[tokio::test]
async fn a_python_strategy_trades_on_its_signal_columns_and_needs_its_read_permission() {
    let d = TestDesk::start().await;
    walk_dataset(&d, "walk", 200, 8).await;
    let code = "def run_strategy(df):\n    c = df['close']\n    df['long_condition'] = c > c.rolling(5).mean()\n    df['short_condition'] = c < c.rolling(5).mean()\n    return df\n";
    let body = |read: bool| {
        json!({ "strategy_name": "python", "symbols": ["walk"],
        "strategy_params": { "code": code, "read_allowed": read, "allow_short": true } })
    };
    let (c, b) = d.post("/api/v1/run/backtest", body(false)).await;
    assert_eq!(c, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"]["code"], "FORBIDDEN");
    let (_, s) = d.get("/api/v1/status").await;
    assert_eq!(s["status"], "idle", "a refused run changes nothing");
    let r = backtest(&d, body(true)).await;
    let orders = r["orders"].as_array().unwrap();
    assert!(orders.len() > 4, "{r}");
    assert!(
        orders[0]["reasoning"]
            .as_str()
            .unwrap()
            .starts_with("python strategy: long_condition is true")
            || orders[0]["reasoning"]
                .as_str()
                .unwrap()
                .starts_with("python strategy: short_condition is true"),
        "{}",
        orders[0]
    );
    let (_, list) = d.get("/api/backtests").await;
    assert_eq!(list[0]["backend"], "python");
}

/// `brickdesk --data-dir DATA ARGS…`, its output.
fn cli(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    output_within(bin().arg("--data-dir").arg(data).args(args), 60)
}

#[tokio::test]
async fn brickdesk_backtest_prints_the_figures_and_where_the_result_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("walk.csv");
    walk_csv(&csv, 500, 2);
    let data = dir.path().join("data");
    let import = cli(&data, &["import", csv.to_str().unwrap(), "--name", "walk"]);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let run = [
        "backtest",
        "--dataset",
        "walk",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=5",
        "--param",
        "commission=0.001",
    ];
    let out = cli(&data, &run);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "final value",
        "total return",
        "Sharpe",
        "Sortino",
        "max drawdown",
        "win rate",
        "profit factor",
        "exposure",
    ] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
    assert!(stdout.contains("stored as backtest #1 in"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("simulating"),
        "the progress bar names its phase"
    );
    // the table says what the results say: the same run again, as JSON, stored as #2
    let json_run = cli(&data, &[&run[..], &["--json"]].concat());
    assert!(json_run.status.success());
    let r: Value = serde_json::from_slice(&json_run.stdout).unwrap();
    assert_eq!(r["backtest_id"], 2);
    let figure = |label: &str| -> f64 {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap();
        line.split_whitespace()
            .rev()
            .find_map(|w| w.parse().ok())
            .unwrap()
    };
    let m = &r["performance_metrics"];
    for (label, key) in [
        ("final value", "final_value"),
        ("total return", "total_return_pct"),
        ("Sharpe", "sharpe_ratio"),
        ("max drawdown", "max_drawdown_pct"),
    ] {
        assert!(
            (figure(label) - m[key].as_f64().unwrap()).abs() < 0.006,
            "{label}: {stdout}\n{m}"
        );
    }
    assert_eq!(
        figure("round trips") as u64,
        m["round_trips"].as_u64().unwrap()
    );

    // a bad parameter is refused with its reason, and nothing is stored
    let bad = cli(
        &data,
        &[
            "backtest",
            "--dataset",
            "walk",
            "--strategy",
            "sma_cross",
            "--param",
            "fast=30",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("fast (30) must be less than slow (20)"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let again = cli(
        &data,
        &["backtest", "--dataset", "nope", "--strategy", "sma_cross"],
    );
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("no dataset has the id, name or symbol \"nope\"")
    );
}

#[tokio::test]
async fn each_rule_strategy_trades_on_its_own_rule_and_says_which() {
    let d = TestDesk::start().await;
    walk_dataset(&d, "walk", 600, 21).await;
    for (name, params, says) in [
        (
            "ema_cross",
            json!({ "fast": 5, "slow": 15 }),
            "EMA(5) crossed",
        ),
        (
            "renko_trend",
            json!({ "brick_size": 1.0, "confirm": 2 }),
            "bricks of 1.0000 in a row by bar",
        ),
        (
            "rsi_reversion",
            json!({ "period": 14, "lower": 35, "upper": 65, "allow_short": true }),
            "RSI(14) ",
        ),
    ] {
        let r = backtest(
            &d,
            json!({ "strategy_name": name, "symbols": ["walk"], "strategy_params": params }),
        )
        .await;
        let orders = r["orders"].as_array().unwrap();
        assert!(orders.len() >= 4, "{name}: {} orders", orders.len());
        for o in orders.iter().filter(|o| o["purpose"] != "end_of_data") {
            assert!(
                o["reasoning"].as_str().unwrap().contains(says),
                "{name}: {o}"
            );
            // each fill is at the open of the bar after its decision
            assert_eq!(
                o["bar"].as_i64().unwrap(),
                o["signal_bar"].as_i64().unwrap() + 1,
                "{o}"
            );
        }
        d.client
            .delete(d.url("/api/v1/run/reset"))
            .send()
            .await
            .unwrap();
    }
    // a brick too small for the prices is refused with its reason, and the server goes on
    let (c, b) = d
        .post("/api/v1/run/backtest", json!({ "strategy_name": "renko_trend", "symbols": ["walk"], "strategy_params": { "brick_size": 1e-15 } }))
        .await;
    assert_eq!(c, StatusCode::OK, "{b}");
    let s = settle(&d).await;
    assert_eq!(s["status"], "failed");
    assert!(
        s["errors"][0]
            .as_str()
            .unwrap()
            .contains("brick_size 0.000000000000001 is too small"),
        "{s}"
    );
    let (c, _) = d
        .post(
            "/api/v1/run/backtest",
            json!({ "strategy_name": "sma_cross", "symbols": ["walk"] }),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "the next run starts");
    assert_eq!(settle(&d).await["status"], "completed");
}

#[test]
fn a_models_answer_is_read_strictly() {
    use brickdesk::services::backtest::llm::parse_answer;
    let reply = |content: &str| {
        json!({ "message": { "role": "assistant", "content": content }, "done": true }).to_string()
    };
    assert_eq!(
        parse_answer(&reply(
            r#"{"action":"buy","confidence":"72%","reason":"up"}"#
        ))
        .unwrap(),
        (BUY, 72.0, "up".to_string())
    );
    // a confidence that is not a finite number counts as none
    for c in [r#""nan""#, r#""inf""#, "null"] {
        let (_, conf, _) =
            parse_answer(&reply(&format!(r#"{{"action":"SELL","confidence":{c}}}"#))).unwrap();
        assert_eq!(conf, 0.0, "{c}");
    }
    assert_eq!(
        parse_answer(&reply(r#"{"action":"HOLD","confidence":250}"#))
            .unwrap()
            .1,
        100.0
    );
    assert!(
        parse_answer(&reply(r#"{"action":"SHORT"}"#))
            .unwrap_err()
            .contains("not BUY, SELL or HOLD")
    );
    assert!(
        parse_answer(&reply("I think you should buy"))
            .unwrap_err()
            .contains("did not answer JSON")
    );
    assert!(
        parse_answer(r#"{"error":"model 'x' not found"}"#)
            .unwrap_err()
            .contains("not found")
    );
    assert!(parse_answer("<html>").unwrap_err().contains("not JSON"));
}
