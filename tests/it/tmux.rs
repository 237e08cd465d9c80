//! The real binary in tmux, read back with capture-pane: the demo from start to quit, and
//! consoles attached to a running `serve`. tmux is required (scripts/test.sh installs it).
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    /// A private tmux server with an 80×24 bash session.
    fn start(name: &str) -> Tmux {
        Self::sized(name, 80, 24)
    }

    /// A private tmux server with a `w`×`h` bash session.
    fn sized(name: &str, w: u16, h: u16) -> Tmux {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "tmux is required for this test: apt-get install tmux (scripts/test.sh does it)"
        );
        let socket = format!("brickdesk-{name}-{}", std::process::id());
        let t = Tmux { socket };
        let (w, h) = (w.to_string(), h.to_string());
        t.tmux(&["new-session", "-d", "-s", "main", "-x", &w, "-y", &h, "env -i PATH=/usr/bin:/bin HOME=/tmp TERM=xterm-256color PS1='prompt$ ' bash --norc --noprofile"]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn new_window(&self) {
        self.tmux(&["new-window", "-t", "main", "env -i PATH=/usr/bin:/bin HOME=/tmp TERM=xterm-256color PS1='prompt$ ' bash --norc --noprofile"]);
    }

    fn send(&self, target: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", target];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn type_line(&self, target: &str, line: &str) {
        self.send(target, &["-l", line]);
        self.send(target, &["Enter"]);
    }

    fn screen(&self, target: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", target])
    }

    /// The screen with its escape sequences (colors, bold, reverse).
    fn styled(&self, target: &str) -> String {
        self.tmux(&["capture-pane", "-e", "-p", "-t", target])
    }

    /// Polls the screen until `ok` holds, or fails with the last screen.
    fn wait_for(&self, target: &str, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen(target);
            if ok(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// Does any SGR sequence of a styled capture set a foreground or background color?
fn colored(styled: &str) -> bool {
    styled.split("\x1b[").skip(1).any(|seq| {
        let Some(end) = seq.find('m') else {
            return false;
        };
        seq[..end].split(';').any(|p| {
            matches!(
                p.parse::<u32>(),
                Ok(30..=38 | 40..=48 | 90..=97 | 100..=107)
            )
        })
    })
}

fn bin() -> String {
    env!("CARGO_BIN_EXE_brickdesk").to_string()
}

/// The brick count in the first chart's title (`6pt chart · 131 bricks`), 0 without one.
fn chart_bricks(screen: &str) -> usize {
    screen
        .split("chart · ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn orders_rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.contains(" ES ") && (l.contains("ENTRY") || l.contains("EXIT")))
        .map(str::to_string)
        .collect()
}

#[test]
fn demo_from_start_to_quit() {
    let t = Tmux::start("demo");
    let dir = tempfile::tempdir().unwrap();
    t.type_line(
        "main",
        &format!(
            "BRICKDESK_CONFIG=/dev/null {} --data-dir {} demo --port 0 --step-ms 150 --ticks 1",
            bin(),
            dir.path().display()
        ),
    );
    // bricks appear on the 1pt strip
    t.wait_for("main", "the desk", 20, |s| {
        s.contains("ES bricks") && s.contains("DEMO")
    });
    t.wait_for("main", "1pt bricks", 30, |s| {
        s.lines().any(|l| l.contains("  1pt █"))
    });
    // the demo's history (120 6pt bricks and more) is in before the trader acts: its bricks
    // would move the desk like any other
    t.wait_for("main", "the history", 20, |s| chart_bricks(s) >= 120);
    // a buy: override the tempo/zone gates (the simulated structure is random), confirm
    t.send("main", &["o", "b"]);
    t.wait_for("main", "the confirmation", 5, |s| {
        s.contains("OVERRIDE the zone and 2.5pt gates: BUY entry on ES?")
    });
    t.send("main", &["y"]);
    t.wait_for("main", "the order", 10, |s| {
        s.contains("✓ ENTRY BUY ES x5 sent")
    });
    // the paper bridge fills it and the position shows
    let s = t.wait_for("main", "the position", 15, |s| s.contains("LONG 5 @"));
    assert!(
        orders_rows(&s)
            .iter()
            .any(|r| r.contains("ENTRY") && r.contains("FILLED")),
        "{s}"
    );
    // exit-all asks, then flattens
    t.send("main", &["A"]);
    t.wait_for("main", "the exit-all question", 5, |s| {
        s.contains("EXIT ALL positions now (forced)?")
    });
    t.send("main", &["y"]);
    let s = t.wait_for("main", "flat again", 15, |s| {
        s.contains("FLAT")
            && orders_rows(s)
                .iter()
                .any(|r| r.contains("EXIT") && r.contains("FILLED"))
    });
    assert!(s.contains("exit_all_force"), "{s}");
    eprintln!("flat after exit-all:\n{s}");
    // q quits and the shell prompt is back, the screen restored
    t.send("main", &["q"]);
    let s = t.wait_for("main", "the shell prompt", 10, |s| {
        s.trim_end().ends_with("prompt$")
    });
    assert!(
        !s.contains("ES bricks"),
        "the alternate screen is gone:\n{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consoles_attached_to_serve_show_the_api_state_and_new_orders() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) =
        crate::support::spawn_serve(dir.path(), std::path::Path::new("/dev/null"));
    let api = crate::support::login(&base).await;
    let post =
        |path: &str, body: serde_json::Value| api.post(format!("{base}{path}")).json(&body).send();
    post(
        "/tv_heartbeat",
        json!({ "secret": crate::support::TV, "symbol": "ES", "price": 5312.75 }),
    )
    .await
    .unwrap();
    for (path, id) in [
        ("/tv_renko_high", "h1"),
        ("/tv_renko_macro", "m1"),
        ("/tv_renko_two_half", "q1"),
        ("/tv_renko_main", "t1"),
    ] {
        post(
            path,
            json!({ "secret": crate::support::TV, "asset": "ES", "color": "red", "bar_id": id }),
        )
        .await
        .unwrap();
    }

    let t = Tmux::start("attach");
    t.new_window();
    let attach = format!(
        "DASHBOARD_PASSWORD={} {} console --connect {base}",
        crate::support::PASSWORD,
        bin()
    );
    t.type_line("main:0", &attach);
    t.type_line(
        "main:1",
        &format!("{attach} --view orders --theme monochrome"),
    );
    let s = t.wait_for("main:0", "the attached desk", 20, |s| {
        s.contains("ES MESM6 · desk")
    });
    // what the API reports is what the console shows
    let state = crate::support::get_json(&api, &format!("{base}/api/state")).await;
    let es = &state["assets"][0];
    assert_eq!(es["zone"], "NORMAL");
    assert_eq!(es["structural_direction"], "SELL");
    assert_eq!(es["last_price"], 5312.75);
    let s = if s.contains("5312.75") {
        s
    } else {
        t.wait_for("main:0", "the last price", 10, |s| s.contains("5312.75"))
    };
    assert!(s.contains("zone NORMAL ▼SELL"), "{s}");
    assert!(
        s.contains(&format!("tempo {}", es["tempo_token"].as_str().unwrap())),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "trades {}/{}",
            state["account"]["trade_count"], state["account"]["trade_limit"]
        )),
        "{s}"
    );
    assert!(s.contains("attached to") || s.contains(&base), "{s}");
    // an order placed through the API appears in both attached consoles
    let placed: serde_json::Value = post(
        "/api/orders",
        json!({ "asset": "ES", "trade_mode": "SCALP" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(placed["ok"], true, "{placed}");
    assert_eq!(placed["order"]["side"], "SELL");
    for target in ["main:0", "main:1"] {
        t.wait_for(target, "the new order", 10, |s| {
            orders_rows(s)
                .iter()
                .any(|r| r.contains("ENTRY") && r.contains("SELL") && r.contains("PENDING"))
        });
    }
    // `--view orders --theme monochrome`: the orders pane alone, without a color
    let orders_view = t.screen("main:1");
    for other in ["· desk", "bricks", "┌ position", "Backtests", "? help"] {
        assert!(
            !orders_view.contains(other),
            "{other:?} in --view orders:\n{orders_view}"
        );
    }
    assert!(orders_view.contains("┌ orders"), "{orders_view}");
    assert!(
        !colored(&t.styled("main:1")),
        "--theme monochrome has no colors"
    );
    assert!(
        colored(&t.styled("main:0")),
        "the default dark theme has colors"
    );
    // and a key in an attached console goes through the server's gates
    t.send("main:0", &["s"]);
    t.wait_for("main:0", "the refusal", 10, |s| {
        s.contains("✗ 5 MIN LOCK ACTIVE — one trade already used this candle")
    });
    t.send("main:0", &["q"]);
    t.send("main:1", &["q"]);
    t.wait_for("main:0", "the prompt", 10, |s| {
        s.trim_end().ends_with("prompt$")
    });
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for signal in ["TERM", "HUP"] {
        let t = Tmux::start(&format!("sig{signal}"));
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().display().to_string();
        t.type_line(
            "main",
            &format!(
                "BRICKDESK_CONFIG=/dev/null {} --data-dir {marker} console --port 0",
                bin()
            ),
        );
        t.wait_for("main", "the console", 20, |s| s.contains("ES MESM6 · desk"));
        let pid = Command::new("pgrep")
            .args(["-f", "--", &format!("--data-dir {marker} console")])
            .output()
            .unwrap();
        let pid = String::from_utf8(pid.stdout).unwrap().trim().to_string();
        assert!(!pid.is_empty(), "console pid not found");
        assert!(
            Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .status()
                .unwrap()
                .success()
        );
        let s = t.wait_for("main", "the shell prompt", 10, |s| {
            s.trim_end().ends_with("prompt$")
        });
        assert!(
            !s.contains("ES MESM6"),
            "SIG{signal}: the alternate screen is gone:\n{s}"
        );
        // raw mode is off again: a typed line echoes and runs
        t.type_line("main", "echo restored-$((40+2))");
        t.wait_for("main", "cooked mode", 5, |s| s.contains("restored-42"));
    }
}

#[test]
fn the_console_logs_to_its_file_never_to_the_screen_and_honours_no_color_and_the_user_theme() {
    let t = Tmux::start("themes");
    t.new_window();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let themes = home.join("brickdesk").join("themes");
    std::fs::create_dir_all(&themes).unwrap();
    let mine = include_str!("../../themes/dark.toml")
        .replace("up_glyph = \"█\"", "up_glyph = \"▲\"")
        .replace("down_glyph = \"█\"", "down_glyph = \"▼\"");
    std::fs::write(themes.join("dark.toml"), mine).unwrap();
    let run = |target: &str, data: &str, env: &str| {
        t.type_line(
            target,
            &format!(
                "{env} BRICKDESK_LOG=debug XDG_CONFIG_HOME={} BRICKDESK_CONFIG=/dev/null {} --data-dir {} demo --port 0 --view renko --theme dark",
                home.display(),
                bin(),
                dir.path().join(data).display()
            ),
        );
    };
    run("main:0", "a", "");
    run("main:1", "b", "NO_COLOR=1");
    // the user's dark.toml: its glyphs draw the bricks
    let s = t.wait_for("main:0", "the user's glyphs", 30, |s| {
        s.contains("1pt") && s.contains('▲') && s.contains('▼')
    });
    assert!(colored(&t.styled("main:0")), "dark has colors");
    // NO_COLOR: monochrome, whatever --theme says; up and down differ by glyph; no color at all
    let mono = t.wait_for("main:1", "monochrome bricks", 30, |s| {
        s.contains("1pt") && s.contains('█') && s.contains('░')
    });
    assert!(!mono.contains('▲'), "{mono}");
    assert!(!colored(&t.styled("main:1")), "NO_COLOR: no color codes");
    // debug logging is on, and none of it reaches the screen: it goes to the data dir's log
    for screen in [&s, &mono] {
        for noise in ["DEBUG", "INFO", "WARN", "brickdesk::"] {
            assert!(
                !screen.contains(noise),
                "{noise:?} on the screen:\n{screen}"
            );
        }
    }
    let log = std::fs::read_to_string(dir.path().join("a").join("brickdesk.log")).unwrap();
    assert!(log.contains("DEBUG"), "the log file has the debug lines");
    for target in ["main:0", "main:1"] {
        t.send(target, &["q"]);
        t.wait_for(target, "the prompt", 10, |s| {
            s.trim_end().ends_with("prompt$")
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_demo_a_typed_question_gets_the_models_answer_streamed() {
    let (url, seen) = crate::support::ollama::start().await;
    let t = Tmux::start("chat");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[chat]\nmodel = \"slow:latest\"\n").unwrap();
    t.type_line(
        "main",
        &format!(
            "OLLAMA_HOST={url} BRICKDESK_CONFIG={} {} --data-dir {} demo --port 0",
            config.display(),
            bin(),
            dir.path().join("data").display()
        ),
    );
    // the header says Ollama answers (the server's chat service asked it)
    t.wait_for("main", "the desk with Ollama up", 20, |s| {
        s.contains("DEMO") && (s.contains("ollama ✓") || s.contains("llm✓"))
    });
    t.send("main", &["Tab", "Tab", "Tab", "Tab"]);
    t.wait_for("main", "the Chat tab", 5, |s| s.contains("m slow:latest"));
    t.send("main", &["Enter"]);
    t.send("main", &["-l", "Why does it diverge?"]);
    t.send("main", &["Enter"]);
    // the answer arrives piece by piece: part of it on the screen before the rest
    let s = t.wait_for("main", "the first pieces", 10, |s| {
        s.contains("mismatch is") && !s.contains("Pine with an SMA.")
    });
    assert!(s.contains("you  Why does it diverge?"), "{s}");
    assert!(s.contains("answering…"), "{s}");
    let s = t.wait_for("main", "the whole answer", 10, |s| {
        s.contains("The first mismatch is at bar 21: pandas seeds the EMA with the first close,")
            && s.contains("Pine with an SMA.")
            && !s.contains("answering…")
    });
    assert!(s.contains("✓ answered"), "{s}");
    assert_eq!(seen.chats().len(), 1);
    assert_eq!(seen.chats()[0]["model"], "slow:latest");
    eprintln!("the answer at 80x24:\n{s}");
    // Esc leaves typing (seen, before q: an Esc and a key read together are Alt-key)
    t.send("main", &["Escape"]);
    t.wait_for("main", "keys as commands", 5, |s| s.contains("Enter type"));
    t.send("main", &["q"]);
    t.wait_for("main", "the shell prompt", 10, |s| {
        s.trim_end().ends_with("prompt$")
    });
}

/// How many price labels (`┤5262.00`, `◀5253.25`) each of the first two charts shows, by column.
fn axis_labels(screen: &str) -> (usize, usize) {
    let mut counts = (0, 0);
    for line in screen.lines() {
        let half = line.chars().count() / 2;
        for (i, c) in line.chars().enumerate() {
            if c == '┤' || c == '◀' {
                let digits = line
                    .chars()
                    .skip(i + 1)
                    .take_while(|d| d.is_ascii_digit() || *d == '.');
                if digits.count() >= 4 {
                    if i < half {
                        counts.0 += 1;
                    } else {
                        counts.1 += 1;
                    }
                }
            }
        }
    }
    counts
}

#[test]
fn the_demo_at_160x48_shows_both_assets_with_price_axes_within_5_s_and_brackets_change_the_size() {
    let t = Tmux::sized("wide", 160, 48);
    let dir = tempfile::tempdir().unwrap();
    t.type_line(
        "main",
        &format!(
            "BRICKDESK_CONFIG=/dev/null {} --data-dir {} demo --port 0",
            bin(),
            dir.path().display()
        ),
    );
    let started = Instant::now();
    // both assets side by side, each chart with its axis and its last price
    let s = t.wait_for("main", "both charts with their axes", 5, |s| {
        let (es, nq) = axis_labels(s);
        // a last price on each axis
        s.contains("▶ ES bricks")
            && s.contains(" NQ bricks ")
            && es >= 2
            && nq >= 2
            && s.matches('◀').count() == 2
    });
    eprintln!("both charts after {:?}:\n{s}", started.elapsed());
    assert!(s.contains("6pt chart · "), "{s}");
    // the history arrived with its prices: no chart placed from colors
    assert!(!s.contains("≈ from colors"), "{s}");
    // `]` shows the 8pt bricks, `[` twice the 4pt ones; each chart keeps its axis
    t.send("main", &["]"]);
    t.wait_for("main", "the 8pt chart", 5, |s| {
        s.matches("8pt chart · ").count() == 2 && s.contains("chart: 8pt bricks")
    });
    t.send("main", &["["]);
    t.send("main", &["["]);
    // (its history arrives last: the newest bricks of the smaller sizes are the latest formed)
    t.wait_for("main", "the 4pt chart with its axes", 5, |s| {
        let (es, nq) = axis_labels(s);
        s.matches("4pt chart · ").count() == 2
            && s.contains("chart: 4pt bricks")
            && es >= 2
            && nq >= 2
    });
    t.send("main", &["q"]);
    t.wait_for("main", "the shell prompt", 10, |s| {
        s.trim_end().ends_with("prompt$")
    });
}
