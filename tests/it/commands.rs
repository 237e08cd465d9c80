//! The README's command-line claims, on the real binary: `demo --headless --seed --ticks`,
//! SIGINT, the config lookup order (and the environment winning over the file), `BRICKDESK_LOG`,
//! and `import --timezone --sheet --map`.
use crate::support::{Lines, Serve, bin, get_json, http, output_within, spawn_listening};
use brickdesk::engine::datasets::columnar;
use std::path::Path;

/// A headless demo with the price steps in its log.
fn demo(data: &Path, seed: u64, ticks: i64) -> (Serve, String, Lines) {
    let mut cmd = bin();
    cmd.env("BRICKDESK_CONFIG", "/dev/null")
        .env("BRICKDESK_LOG", "info,brickdesk::demo=debug")
        .arg("--data-dir")
        .arg(data)
        .args(["demo", "--headless", "--port", "0", "--step-ms", "30"])
        .args(["--seed", &seed.to_string(), "--ticks", &ticks.to_string()]);
    spawn_listening(cmd)
}

/// The first `n` prices the demo's walk took for `asset`, from its `price step` log lines.
fn prices(lines: &Lines, asset: &str, n: usize) -> Vec<f64> {
    let tag = format!("asset={asset} price=");
    let mut out = Vec::new();
    while out.len() < n {
        let line = lines.next(30).expect("the demo's output ended");
        if let Some(i) = line.find(&tag) {
            let p = line[i + tag.len()..].split_whitespace().next().unwrap();
            out.push(p.parse::<f64>().unwrap());
        }
    }
    out
}

fn largest_step(p: &[f64]) -> f64 {
    p.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f64::max)
}

fn signal(child: &Serve, sig: i32) {
    // SAFETY: a signal to our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn sigint(child: &Serve) {
    signal(child, libc::SIGINT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_headless_seed_and_ticks() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, base, lines) = demo(&dir.path().join("a"), 11, 2);
    let walk_a = prices(&lines, "ES", 300);
    // --ticks 2: every step moves at most 2 ticks of 0.25, and some move that far
    assert_eq!(largest_step(&walk_a), 0.5, "{walk_a:?}");
    assert!(
        walk_a.iter().all(|p| (p * 4.0).fract() == 0.0),
        "on the tick grid"
    );
    // --headless: no console, the server answers (loopback, no password), bricks arrive
    let state = get_json(&http(), &format!("{base}/api/state")).await;
    assert_eq!(state["env"], "DEMO", "{state}");
    assert_eq!(state["assets"][0]["asset"], "ES");
    for size in ["one", "high", "macro"] {
        let brick = &state["assets"][0]["bricks"][size];
        assert!(brick["color"].is_string(), "no {size} brick yet: {state}");
    }
    // SIGINT stops it cleanly
    sigint(&a);
    let rest = lines.rest(15);
    assert!(
        rest.iter().any(|l| l.contains("SIGINT: shutting down")),
        "{rest:?}"
    );
    assert!(a.wait().unwrap().success());

    // --seed: the same seed walks the same way; another does not
    let (_b, _, lines) = demo(&dir.path().join("b"), 11, 2);
    assert_eq!(prices(&lines, "ES", 300), walk_a, "seed 11 twice");
    let (_c, _, lines) = demo(&dir.path().join("c"), 12, 2);
    assert_ne!(prices(&lines, "ES", 300), walk_a, "seed 12");
    // a larger --ticks takes larger steps
    let (_d, _, lines) = demo(&dir.path().join("d"), 11, 8);
    let wide = largest_step(&prices(&lines, "ES", 300));
    assert!(wide > 0.5 && wide <= 2.0, "--ticks 8: largest step {wide}");
}

#[test]
fn serve_stops_cleanly_on_sigterm_and_sigint() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = bin();
        cmd.env("BRICKDESK_CONFIG", "/dev/null")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--port", "0"]);
        let (mut child, _, lines) = spawn_listening(cmd);
        signal(&child, sig);
        let rest = lines.rest(15);
        assert!(child.wait().unwrap().success(), "{name}");
        for says in [format!("{name}: shutting down"), "stopped cleanly".into()] {
            assert!(rest.iter().any(|l| l.contains(&says)), "{name}: {rest:?}");
        }
    }
}

/// A `serve` started with this `--config` (if any), `$BRICKDESK_CONFIG` (if any) and config home;
/// the trade limit its desk runs with.
async fn trade_limit(
    config: Option<&Path>,
    env_config: Option<&Path>,
    home: &Path,
) -> Result<u64, String> {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.env("XDG_CONFIG_HOME", home)
        .env_remove("BRICKDESK_CONFIG");
    if let Some(p) = env_config {
        cmd.env("BRICKDESK_CONFIG", p);
    }
    if let Some(p) = config {
        cmd.arg("--config").arg(p);
    }
    cmd.arg("--data-dir")
        .arg(data.path())
        .args(["serve", "--port", "0"]);
    if config.is_some_and(|p| !p.exists()) {
        // a named config that cannot be read stops serve before it listens; stderr says why
        let out = output_within(&mut cmd, 30);
        assert!(!out.status.success());
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let (_serve, base, _) = spawn_listening(cmd);
    let state = get_json(&http(), &format!("{base}/api/state")).await;
    Ok(state["account"]["trade_limit"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_is_found_in_the_documented_order() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let empty_home = dir.path().join("empty");
    std::fs::create_dir_all(home.join("brickdesk")).unwrap();
    std::fs::create_dir_all(&empty_home).unwrap();
    let write = |path: &Path, limit: u32| {
        std::fs::write(path, format!("[desk]\ntrade_limit = {limit}\n")).unwrap();
    };
    let flag = dir.path().join("flag.toml");
    let env = dir.path().join("env.toml");
    write(&flag, 11);
    write(&env, 12);
    write(&home.join("brickdesk").join("config.toml"), 13);
    // --config, then $BRICKDESK_CONFIG, then <config dir>/brickdesk/config.toml, then defaults
    assert_eq!(trade_limit(Some(&flag), Some(&env), &home).await, Ok(11));
    assert_eq!(trade_limit(None, Some(&env), &home).await, Ok(12));
    assert_eq!(trade_limit(None, None, &home).await, Ok(13));
    assert_eq!(trade_limit(None, None, &empty_home).await, Ok(6));
    // a named file that is not there is an error, not a silent default
    let err = trade_limit(Some(&dir.path().join("nope.toml")), None, &home)
        .await
        .unwrap_err();
    assert!(err.contains("cannot read config file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_wins_over_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[secrets]\ndashboard_password = \"file-pw\"\napi_tokens = [\"file-token\"]\n",
    )
    .unwrap();
    let mut cmd = bin();
    cmd.env("BRICKDESK_CONFIG", &config)
        .env("BRICKDESK_API_TOKENS", "env-token")
        .env("DASHBOARD_PASSWORD", "env-pw")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["serve", "--port", "0"]);
    let (_serve, base, _) = spawn_listening(cmd);
    let code = async |req: reqwest::RequestBuilder| req.send().await.unwrap().status().as_u16();
    let state = || http().get(format!("{base}/api/state"));
    assert_eq!(code(state().bearer_auth("env-token")).await, 200);
    assert_eq!(code(state().bearer_auth("file-token")).await, 401);
    let login = |pw: &str| {
        http()
            .post(format!("{base}/api/login"))
            .json(&serde_json::json!({ "password": pw }))
    };
    assert_eq!(code(login("env-pw")).await, 200);
    assert_eq!(code(login("file-pw")).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brickdesk_log_filters_what_serve_logs() {
    for (filter, debug) in [(None, false), (Some("debug"), true), (Some("warn"), false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = bin();
        cmd.env("BRICKDESK_CONFIG", "/dev/null");
        if let Some(f) = filter {
            cmd.env("BRICKDESK_LOG", f);
        }
        cmd.arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--port", "0"]);
        if filter == Some("warn") {
            // nothing at info: not even the "listening on" line
            let mut child = Serve(cmd.stdout(std::process::Stdio::piped()).spawn().unwrap());
            let lines = Lines::of(child.stdout.take().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(800));
            sigint(&child);
            let rest = lines.rest(15);
            assert!(child.wait().unwrap().success());
            assert!(
                rest.iter()
                    .all(|l| !l.contains("INFO") && !l.contains("DEBUG")),
                "{rest:#?}"
            );
            continue;
        }
        let (child, base, lines) = spawn_listening(cmd);
        let code = http()
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(code, 200);
        sigint(&child);
        let rest = lines.rest(15);
        let request_span = rest
            .iter()
            .any(|l| l.contains("DEBUG") && l.contains("/health"));
        assert_eq!(request_span, debug, "{filter:?}: {rest:#?}");
        assert!(rest.iter().any(|l| l.contains("INFO")), "{filter:?}");
    }
}

/// `brickdesk import` with `args`: (success, stdout, stderr).
fn import(data: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = bin();
    cmd.env("BRICKDESK_CONFIG", "/dev/null")
        .arg("--data-dir")
        .arg(data)
        .arg("import")
        .args(args);
    let out = output_within(&mut cmd, 60);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The dataset `import` registered (the first word of its stdout).
fn stored(data: &Path, stdout: &str) -> brickdesk::engine::datasets::Bars {
    let id = stdout.split_whitespace().next().unwrap();
    assert!(id.starts_with("dataset-"), "{stdout}");
    columnar::read(&data.join("datasets").join(id)).unwrap()
}

#[test]
fn import_takes_timezone_sheet_and_map() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // names the inference does not know: `when` is found by its values, a close among the numbers
    let csv = dir.path().join("odd.csv");
    std::fs::write(
        &csv,
        "when,px,qty\n2025-01-02 09:00,101.5,3\n2025-01-02 09:05,102.25,4\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let (ok, out, err) = import(&data, &[csv]);
    assert!(ok, "{err}");
    let inferred = stored(&data, &out);
    // --map wins over the inference
    let (ok, out, err) = import(&data, &[csv, "--map", "close=qty", "--map", "volume=px"]);
    assert!(ok, "{err}");
    let bars = stored(&data, &out);
    assert_eq!(bars.close, [3.0, 4.0]);
    assert_eq!(bars.volume, [101.5, 102.25]);
    assert_ne!(inferred.close, bars.close);
    // naive timestamps are UTC by default, or in --timezone
    let nine_utc = 1_735_808_400_000; // 2025-01-02T09:00:00Z in ms
    assert_eq!(bars.ts[0], nine_utc);
    let (ok, out, err) = import(
        &data,
        &[csv, "--map", "close=px", "--timezone", "Asia/Kolkata"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        stored(&data, &out).ts[0],
        nine_utc - 5 * 3_600_000 - 30 * 60_000
    );
    let (ok, _, err) = import(
        &data,
        &[csv, "--map", "close=px", "--timezone", "Mars/Olympus"],
    );
    assert!(!ok && err.contains("Mars/Olympus"), "{err}");
    // a bad --map is refused before anything is read
    let (ok, _, err) = import(&data, &[csv, "--map", "close"]);
    assert!(!ok && err.contains("write FIELD=COLUMN"), "{err}");
    let (ok, _, err) = import(&data, &[csv, "--map", "price=px"]);
    assert!(!ok && err.contains("the field must be one of"), "{err}");
    // --sheet picks the worksheet of a workbook (the first one holds notes)
    let xlsx = dir.path().join("book.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    wb.add_worksheet()
        .set_name("Notes")
        .unwrap()
        .write(0, 0, "read me")
        .unwrap();
    let sheet = wb.add_worksheet();
    sheet.set_name("Bars").unwrap();
    for (j, h) in ["dt", "close"].iter().enumerate() {
        sheet.write(0, j as u16, *h).unwrap();
    }
    for (i, (t, c)) in [("2025-01-02 09:00", 7.5), ("2025-01-02 09:05", 8.0)]
        .iter()
        .enumerate()
    {
        sheet.write(i as u32 + 1, 0, *t).unwrap();
        sheet.write(i as u32 + 1, 1, *c).unwrap();
    }
    wb.save(&xlsx).unwrap();
    let xlsx = xlsx.to_str().unwrap();
    let (ok, _, err) = import(&data, &[xlsx]);
    assert!(!ok, "the first sheet has no bars: {err}");
    let (ok, out, err) = import(&data, &[xlsx, "--sheet", "Bars"]);
    assert!(ok, "{err}");
    let bars = stored(&data, &out);
    assert_eq!((bars.close.clone(), bars.ts[0]), (vec![7.5, 8.0], nine_utc));
}
