//! The Python runner as an attacker would use it: a strategy that hunts for the server's secrets
//! and database, escapes with `setsid`, forks, writes, floods stderr, and twenty replays at once.
//! Each runs on the real `brickdesk serve` (the server's own environment holds the secrets),
//! with bubblewrap and without it (opted in), and without either (refused).
use crate::runs::{EMA_STRATEGY, closes, run_body, stamp};
use crate::support::{Serve, login, read, spawn_serve_with};
use serde_json::{Value, json};

const POLYGON_KEY: &str = "polygon-key-4f1c";

struct Desk {
    serve: Serve,
    base: String,
    client: reqwest::Client,
    data: std::path::PathBuf,
    dataset: String,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Bubblewrap,
    /// No bubblewrap, `allow_unsandboxed_python = true`.
    OptedIn,
    /// No bubblewrap and no opt-in.
    Refused,
}

impl Desk {
    async fn start(mode: Mode, runner: &str) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let runner = match mode {
            Mode::Bubblewrap => runner.to_string(),
            Mode::OptedIn => format!(
                "{runner}\nbubblewrap = \"/nonexistent/bwrap\"\nallow_unsandboxed_python = true\n"
            ),
            Mode::Refused => format!("{runner}\nbubblewrap = \"/nonexistent/bwrap\"\n"),
        };
        let config = dir.path().join("config.toml");
        std::fs::write(&config, format!("[runner]\n{runner}\n")).unwrap();
        let data = dir.path().join("data");
        let (serve, base) = spawn_serve_with(&data, &config, &[("POLYGON_API_KEY", POLYGON_KEY)]);
        let client = login(&base).await;
        let csv = data.join("imports/sbin.csv");
        let mut text = String::from("timestamp,open,high,low,close,volume\n");
        for (i, c) in closes().iter().enumerate() {
            text += &format!("{},{c},{},{},{c},100\n", stamp(i), c + 0.5, c - 0.5);
        }
        std::fs::write(&csv, text).unwrap();
        let (code, b) = read(
            client
                .post(format!("{base}/data-sources/save"))
                .json(&json!({ "type": "csv", "name": "SBIN", "file_path": csv }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, 200, "{b}");
        Desk {
            serve,
            base,
            client,
            data,
            dataset: b["dataset_id"].as_str().unwrap().to_string(),
            _dir: dir,
        }
    }

    /// A replay of `source`; answers the run (and the answer's size in bytes).
    async fn replay(&self, source: &str) -> (Value, usize) {
        let mut body = run_body(&self.dataset, "", 0, source, true);
        body.as_object_mut().unwrap().remove("bridge_artifact_id");
        let resp = self
            .client
            .post(format!("{}/runs/replay", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        (serde_json::from_str(&text).unwrap(), text.len())
    }

    async fn get(&self, path: &str) -> (Value, usize) {
        let text = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (serde_json::from_str(&text).unwrap(), text.len())
    }
}

/// What a strategy reported by raising `RuntimeError("<TAG> <json>")`.
fn report(run: &Value, tag: &str) -> Value {
    let err = run["error"].as_str().unwrap_or_else(|| panic!("{run}"));
    let at = err
        .rfind(&format!("{tag} "))
        .unwrap_or_else(|| panic!("no {tag} in {err}"));
    let line = err[at + tag.len() + 1..].lines().next().unwrap();
    serde_json::from_str(line).unwrap_or_else(|_| panic!("{line}"))
}

/// Processes whose command line is `sleep <mark>`.
fn sleepers(mark: &str) -> usize {
    let want = format!("sleep\0{mark}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| c == want.as_bytes())
        .count()
}

async fn no_sleepers_left(mark: &str) {
    for _ in 0..50 {
        if sleepers(mark) == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!(
        "{} `sleep {mark}` processes outlived their run",
        sleepers(mark)
    );
}

fn mark() -> String {
    format!(
        "{}.{}",
        4000 + rand::random::<u16>() % 1000,
        rand::random::<u32>()
    )
}

async fn secrets_and_database_stay_out_of_reach(d: &Desk) {
    let probe = r#"
import json, os
def run_strategy(frame):
    r = {"environ_tried": 0, "environ_read": 0, "secret_in": []}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        pids = []  # Landlock: /proc is not even listed
    for p in pids + [str(os.getppid()), "SERVER_PID"]:
        r["environ_tried"] += 1
        try:
            data = open("/proc/%s/environ" % p, "rb").read()
        except OSError:
            continue
        r["environ_read"] += 1
        if any(k in data for k in (b"DASHBOARD_PASSWORD", b"TV_WEBHOOK", b"BRIDGE_HEARTBEAT", b"POLYGON")):
            r["secret_in"].append(p)
    r["env"] = sorted(os.environ)
    import socket
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(("127.0.0.1", DESK_PORT))
        s.close()
        r["net"] = "connected"
    except OSError as e:
        r["net"] = type(e).__name__
    for name, path in (("server", "/proc/SERVER_PID/environ"), ("db", "DB"), ("shadow", "/etc/shadow"),
                       ("passwd", "/etc/passwd")):
        try:
            open(path, "rb").read(16)
            r[name] = "read"
        except OSError as e:
            r[name] = type(e).__name__
    raise RuntimeError("REPORT " + json.dumps(r))
"#
    .replace("SERVER_PID", &d.serve.id().to_string())
    .replace("DESK_PORT", d.base.rsplit(':').next().unwrap())
    .replace("DB", &d.data.join("brickdesk.sqlite3").display().to_string());
    let (run, _) = d.replay(&probe).await;
    let r = report(&run, "REPORT");
    assert!(r["environ_tried"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(r["secret_in"], json!([]), "{r}");
    // the minimal environment (bubblewrap adds PWD for its --chdir), nothing of the server's
    let minimal = [
        "HOME",
        "LANG",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "PATH",
        "PWD",
        "TMPDIR",
    ];
    let env: Vec<&str> = r["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.iter().all(|k| minimal.contains(k)) && env.contains(&"PATH"),
        "{env:?}"
    );
    // not the server's environment nor its database, not even a world-readable system file,
    // and no connection to the desk's own port
    for k in ["server", "db", "shadow", "passwd"] {
        assert_ne!(r[k], "read", "{k}: {r}");
    }
    assert_ne!(r["net"], "connected", "{r}");
    for secret in [crate::support::PASSWORD, crate::support::TV, POLYGON_KEY] {
        assert!(!run.to_string().contains(secret));
    }
}

async fn a_setsid_escapee_dies_at_the_timeout(d: &Desk) {
    let m = mark();
    let escape = r#"
import os, time
def run_strategy(frame):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "MARK"])
        os._exit(0)
    time.sleep(600)
"#
    .replace("MARK", &m);
    let run = {
        let running = d.replay(&escape);
        tokio::pin!(running);
        // the escapee is really out there while the run goes on
        let mut seen = false;
        let run = loop {
            tokio::select! {
                r = &mut running => break r.0,
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                    seen |= sleepers(&m) == 1;
                }
            }
        };
        assert!(seen, "the strategy never escaped: {run}");
        run
    };
    assert_eq!(run["lifecycle"], "failed");
    assert!(
        run["error"].as_str().unwrap().contains("ran longer than"),
        "{run}"
    );
    no_sleepers_left(&m).await;
}

async fn forks_hit_the_process_limit(d: &Desk) {
    let m = mark();
    let bomb = r#"
import json, os
def run_strategy(frame):
    n, err = 0, ""
    try:
        for i in range(500):
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "MARK"])
            n += 1
    except OSError as e:
        err = e.strerror
    raise RuntimeError("FORKS " + json.dumps({"forked": n, "error": err}))
"#
    .replace("MARK", &m);
    let (run, _) = d.replay(&bomb).await;
    let r = report(&run, "FORKS");
    assert!(r["forked"].as_u64().unwrap() < 64, "{r}");
    assert_eq!(r["error"], "Resource temporarily unavailable", "{r}");
    no_sleepers_left(&m).await;
}

async fn a_200_mb_write_fails(d: &Desk) {
    let name = format!("big-{}.bin", mark());
    let writer = r#"
import json, os
def run_strategy(frame):
    out = {}
    for where in (os.getcwd(), os.environ["HOME"], "/dev/shm", "/tmp"):
        try:
            with open(os.path.join(where, "NAME"), "wb") as f:
                chunk = b"x" * (1 << 20)
                for _ in range(200):
                    f.write(chunk)
            out[where] = "wrote"
        except OSError as e:
            out[where] = e.strerror
    raise RuntimeError("WRITES " + json.dumps(out))
"#
    .replace("NAME", &name);
    let (run, _) = d.replay(&writer).await;
    let r = report(&run, "WRITES");
    for (where_, what) in r.as_object().unwrap() {
        assert_ne!(what, "wrote", "{where_}: {r}");
    }
    for dir in ["/dev/shm", "/tmp"] {
        let left = std::path::Path::new(dir).join(&name);
        assert!(!left.exists(), "{} was left behind", left.display());
    }
}

async fn a_stderr_flood_is_kept_to_the_cap(d: &Desk) {
    let flood = r#"
import os, sys
def run_strategy(frame):
    chunk = "e" * (1 << 20)
    for _ in range(100):
        sys.stderr.write(chunk)
    sys.stderr.flush()
    os._exit(1)
"#;
    let (run, size) = d.replay(flood).await;
    assert_eq!(run["lifecycle"], "failed");
    let cap = 16 << 10;
    let err = run["error"].as_str().unwrap();
    assert!(
        err.contains("eeee") && err.len() <= cap + 200,
        "{}",
        err.len()
    );
    assert!(size < 1 << 20, "the answer is {size} bytes");
    let id = run["run_id"].as_str().unwrap();
    let (stored, _) = d.get(&format!("/runs/{id}")).await;
    assert_eq!(stored["error"], run["error"]);
    let (_, list) = d.get("/runs").await;
    assert!(list < 1 << 20, "GET /runs is {list} bytes");
}

/// `n` replays of `source` posted at once, each on a task of its own: their answers.
fn replays(
    d: &Desk,
    n: usize,
    source: &str,
) -> Vec<tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>> {
    (0..n)
        .map(|_| {
            let (c, base) = (d.client.clone(), d.base.clone());
            let mut body = run_body(&d.dataset, "", 0, source, true);
            body.as_object_mut().unwrap().remove("bridge_artifact_id");
            tokio::spawn(async move {
                c.post(format!("{base}/runs/replay"))
                    .json(&body)
                    .send()
                    .await
            })
        })
        .collect()
}

async fn twenty_replays_queue_and_all_finish(d: &Desk) {
    let runs = replays(d, 20, EMA_STRATEGY);
    let mut most_queued = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while runs.iter().any(|r| !r.is_finished()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the runs did not finish in 120 s"
        );
        let (list, _) = d.get("/runs?summary=true").await;
        let queued = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["queue_position"].as_u64().is_some())
            .count();
        most_queued = most_queued.max(queued);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for r in runs {
        let (code, run) = read(r.await.unwrap().unwrap()).await;
        assert_eq!(code, 200);
        assert_eq!(run["lifecycle"], "completed", "{run}");
        assert!(run.get("queue_position").is_none());
    }
    assert!(
        most_queued >= 10,
        "at most {most_queued} runs were seen queued"
    );
}

async fn runner_holds(mode: Mode) {
    let d = Desk::start(mode, "timeout_s = 30\nconcurrency = 2").await;
    let (deps, _) = d.get("/dependencies/status").await;
    let expected = match mode {
        Mode::Bubblewrap => "bubblewrap:",
        _ => "unsandboxed:",
    };
    assert!(
        deps["python_sandbox"]["detail"]
            .as_str()
            .unwrap()
            .starts_with(expected),
        "{deps}"
    );
    secrets_and_database_stay_out_of_reach(&d).await;
    forks_hit_the_process_limit(&d).await;
    a_200_mb_write_fails(&d).await;
    a_stderr_flood_is_kept_to_the_cap(&d).await;
    twenty_replays_queue_and_all_finish(&d).await;
    let quick = Desk::start(mode, "timeout_s = 2").await;
    a_setsid_escapee_dies_at_the_timeout(&quick).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_bubblewrap_a_strategy_reaches_nothing_and_leaves_nothing() {
    assert!(
        std::path::Path::new("/usr/bin/bwrap").is_file(),
        "bubblewrap is not installed: run ./scripts/test.sh, which installs it"
    );
    runner_holds(Mode::Bubblewrap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_bubblewrap_opted_in_a_strategy_reaches_nothing_and_leaves_nothing() {
    runner_holds(Mode::OptedIn).await;
}

#[tokio::test]
async fn without_bubblewrap_and_no_opt_in_code_does_not_run() {
    let d = Desk::start(Mode::Refused, "").await;
    let (run, _) = d.replay(EMA_STRATEGY).await;
    assert_eq!(run["lifecycle"], "failed");
    let err = run["error"].as_str().unwrap();
    assert!(
        err.contains("apt-get install bubblewrap") && err.contains("allow_unsandboxed_python"),
        "{err}"
    );
    let (deps, _) = d.get("/dependencies/status").await;
    assert_eq!(deps["python_sandbox"]["available"], false);
    assert!(
        deps["python_sandbox"]["detail"]
            .as_str()
            .unwrap()
            .starts_with("refused:")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_interrupts_the_runs_waiting_in_line() {
    let mut d = Desk::start(Mode::Bubblewrap, "concurrency = 1\ntimeout_s = 20").await;
    // three slow runs for one runner: one runs, two wait
    let slow = "import time\ndef run_strategy(frame):\n    time.sleep(2)\n    return frame\n";
    let runs = replays(&d, 3, slow);
    let mut queued = 0;
    for _ in 0..100 {
        let (list, _) = d.get("/runs?summary=true").await;
        queued = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("queue_position").is_some())
            .count();
        if queued == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(queued, 2);
    // SAFETY: kill with the child's own pid.
    unsafe { libc::kill(d.serve.id() as i32, libc::SIGTERM) };
    let mut codes = Vec::new();
    for r in runs {
        // a waiting run is answered 503 at once; the running one finishes (the stop waits for it)
        codes.push(
            r.await
                .unwrap()
                .map(|resp| resp.status().as_u16())
                .unwrap_or(0),
        );
    }
    codes.sort();
    assert_eq!(codes, [200, 503, 503]);
    let mut stopped = false;
    for _ in 0..200 {
        if d.serve.try_wait().unwrap().is_some() {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(stopped, "the server did not stop");
    let config = d.data.parent().unwrap().join("config.toml");
    let (_again, base) = crate::support::spawn_serve(&d.data, &config);
    let client = login(&base).await;
    let (_, list) = read(
        client
            .get(format!("{base}/runs?summary=true"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut states: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lifecycle"].as_str().unwrap())
        .collect();
    states.sort();
    assert_eq!(
        states,
        ["completed", "interrupted", "interrupted"],
        "{list}"
    );
}
