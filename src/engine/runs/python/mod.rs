//! Runs a Python artifact's `run_strategy(frame) -> frame` in a python3 subprocess, confined as
//! `sandbox.rs` says. The harness (`harness.py`, given with `-c`) reads its spec and the
//! strategy's source on stdin, the dataset's columnar files directly (numpy.fromfile, no
//! parsing), and writes its answer on fd 3: one JSON line, then each new column as raw
//! float64. stdout and stderr are kept, each up to a cap (the tail); a wall-clock timeout kills
//! the child and everything it started.
pub mod landlock;
pub mod sandbox;

use sandbox::{Mode, RunUid};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HARNESS: &str = include_str!("harness.py");
/// Most output columns a strategy may return.
const MAX_COLUMNS: usize = 256;
/// Most of a traceback or of stderr that an error (and so an answer, the log, the store) carries.
pub const ERROR_CAP: usize = 16 << 10;

/// How strategies run (`[runner]` in the config).
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: u64,
    pub python: String,
    /// `bwrap`, found on PATH by default; `None` when it is not installed.
    pub bubblewrap: Option<PathBuf>,
    /// Without bubblewrap, run strategies anyway (the operator's explicit choice).
    pub allow_unsandboxed: bool,
    /// Processes and threads a run may have (RLIMIT_NPROC, beyond the user's own when not root).
    pub max_processes: u64,
    /// Largest file a run may write (RLIMIT_FSIZE).
    pub max_file_bytes: u64,
    /// Size of the sandbox's tmpfs work dir.
    pub work_bytes: u64,
    /// How much of stdout and of stderr is kept (the tail).
    pub output_cap: usize,
    /// Runs at once; the rest queue.
    pub concurrency: usize,
    /// Values never to show in an error (the server's secrets).
    pub redact: Vec<String>,
}

/// Runs at once when the config says 0: one per core.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(120),
            memory_bytes: 4 << 30,
            python: "python3".into(),
            bubblewrap: sandbox::find_bubblewrap(),
            allow_unsandboxed: false,
            max_processes: 64,
            max_file_bytes: 64 << 20,
            work_bytes: 64 << 20,
            output_cap: 1 << 20,
            concurrency: default_concurrency(),
            redact: Vec::new(),
        }
    }
}

impl Limits {
    pub fn mode(&self) -> Mode {
        Mode::new(self.bubblewrap.as_deref(), self.allow_unsandboxed)
    }

    /// `text` with every configured secret replaced.
    pub fn redacted(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in self.redact.iter().filter(|s| s.len() >= 4) {
            t = t.replace(s.as_str(), "[redacted]");
        }
        t
    }
}

/// One output column of the strategy (NaN where the value is missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub is_bool: bool,
    pub values: Vec<f64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PyError {
    #[error("{0}")]
    Missing(String),
    #[error("the strategy raised an exception:\n{0}")]
    Raised(String),
    #[error("the strategy ran longer than {0} s and was killed")]
    Timeout(u64),
    #[error("the strategy ran out of memory (limit {0} MiB)")]
    Memory(u64),
    #[error("{0}")]
    BadOutput(String),
    #[error("the runner failed: {0}")]
    Runner(String),
}

fn runner(e: impl std::fmt::Display) -> PyError {
    PyError::Runner(e.to_string())
}

/// The last `cap` bytes of `s`, cut at a character boundary, marked when cut.
pub fn tail(s: &str, cap: usize) -> String {
    if s.len() <= cap {
        return s.to_string();
    }
    let mut i = s.len() - cap;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    format!("[… {} bytes cut]\n{}", i, &s[i..])
}

/// Reads `r` to its end keeping at most the last `cap` bytes.
fn keep_tail(mut r: impl Read, cap: usize) -> Vec<u8> {
    let mut kept: std::collections::VecDeque<u8> = std::collections::VecDeque::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend(&buf[..n]);
                let over = kept.len().saturating_sub(cap);
                kept.drain(..over);
            }
        }
    }
    kept.into()
}

/// Reads `r` to its end; `None` past `cap` bytes (the rest is drained and dropped).
fn read_capped(mut r: impl Read, cap: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64 << 10];
    let mut over = false;
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) if !over && out.len() + n <= cap => out.extend_from_slice(&buf[..n]),
            Ok(_) => {
                over = true;
                out = Vec::new();
            }
        }
    }
    (!over).then_some(out)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), PyError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both fds, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(runner(std::io::Error::last_os_error()));
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_limit(what: libc::__rlimit_resource_t, v: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: v as libc::rlim_t,
        rlim_max: v as libc::rlim_t,
    };
    // SAFETY: setrlimit is async-signal-safe and reads only `lim`.
    if unsafe { libc::setrlimit(what, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `source` on rows `start..end` of the dataset in `data_dir`.
pub fn run_strategy(
    source: &str,
    data_dir: &Path,
    start: usize,
    end: usize,
    limits: &Limits,
) -> Result<Vec<Column>, PyError> {
    let mode = limits.mode();
    if mode == Mode::Refused {
        return Err(PyError::Missing(sandbox::REFUSAL.into()));
    }
    let interp = sandbox::interpreter(&limits.python)?;
    let uid = RunUid::take()?;
    let data_dir = std::path::absolute(data_dir).map_err(runner)?;
    let sandbox::Confined {
        mut cmd,
        data,
        scratch,
        ruleset,
    } = sandbox::confine(&mode, &interp, &data_dir, limits.work_bytes, uid.0)?;
    cmd.args(["-I", "-S", "-B", "-c", HARNESS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let (result_r, result_w) = pipe()?;
    let result_fd = result_w.as_raw_fd();
    let root = uid.0.is_some();
    let nproc = if root {
        limits.max_processes
    } else {
        sandbox::user_threads() + limits.max_processes
    };
    let (mem, fsize) = (limits.memory_bytes, limits.max_file_bytes);
    let cpu = limits.timeout.as_secs() + 2;
    let bwrapped = matches!(mode, Mode::Bubblewrap(_));
    let landlocked = ruleset.as_ref().map(landlock::Ruleset::raw);
    // SAFETY: only async-signal-safe calls (dup2, setrlimit, prctl, Landlock's system calls)
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(result_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            set_limit(libc::RLIMIT_AS, mem)?;
            set_limit(libc::RLIMIT_NPROC, nproc)?;
            set_limit(libc::RLIMIT_FSIZE, fsize)?;
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_CORE, 0)?;
            if !bwrapped {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            }
            if let Some(fd) = landlocked {
                landlock::apply(fd)?;
            }
            Ok(())
        });
    }
    let mut child = match sandbox::spawn(&mut cmd) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(sandbox::missing(&limits.python));
        }
        Err(e) => return Err(runner(e)),
    };
    drop(result_w);
    drop(ruleset);
    let _scratch = scratch; // removed when the run is over
    let spec = serde_json::json!({
        "data_dir": data, "start": start, "end": end, "source": source, "path": interp.path,
        "uid": uid.0,
    });
    let mut stdin = child.stdin.take();
    std::thread::spawn(move || {
        if let Some(w) = stdin.as_mut() {
            let _ = std::io::Write::write_all(w, spec.to_string().as_bytes());
        }
    });
    let cap = limits.output_cap;
    let (tx, rx) = mpsc::channel::<(u8, Vec<u8>)>();
    let readers: [(u8, Box<dyn Read + Send>); 3] = [
        (1, Box::new(child.stdout.take().expect("piped"))),
        (2, Box::new(child.stderr.take().expect("piped"))),
        (3, Box::new(std::fs::File::from(result_r))),
    ];
    let result_cap = (1 << 20) + MAX_COLUMNS * (end - start) * 8;
    for (fd, r) in readers {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let got = if fd == 3 {
                read_capped(r, result_cap).unwrap_or_else(|| b"!too large".to_vec())
            } else {
                keep_tail(r, cap)
            };
            let _ = tx.send((fd, got));
        });
    }
    drop(tx);
    let pgid = child.id() as libc::pid_t;
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(runner)? {
            break Some(st);
        }
        if started.elapsed() > limits.timeout {
            timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // whatever the run started dies with it: its process group, its uid, its pid namespace
    // SAFETY: killpg on the child's own group (the child is its leader); child.kill on the child.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
    sandbox::ended(pgid);
    uid.kill_all();
    if uid.0.is_none() && !bwrapped {
        // not root, no pid namespace: what escaped with setsid() was reparented to the server
        sandbox::kill_orphans();
    }
    // a descendant that escaped without a uid of its own may still hold a pipe: wait a little
    let mut out: [Vec<u8>; 4] = Default::default();
    let deadline = Instant::now() + Duration::from_secs(2);
    for _ in 0..3 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((fd, bytes)) => out[fd as usize] = bytes,
            Err(_) => break,
        }
    }
    drop(uid);
    if timed_out {
        return Err(PyError::Timeout(limits.timeout.as_secs()));
    }
    let status = status.expect("exited");
    read_answer(
        std::mem::take(&mut out[3]),
        &out[2],
        status,
        end - start,
        limits,
    )
}

/// The columns from the harness's answer on fd 3; or the error the answer, the exit status
/// and stderr tell.
fn read_answer(
    result: Vec<u8>,
    stderr: &[u8],
    status: std::process::ExitStatus,
    rows: usize,
    limits: &Limits,
) -> Result<Vec<Column>, PyError> {
    let mem = limits.memory_bytes;
    let stderr = String::from_utf8_lossy(stderr);
    let clean = |t: &str| limits.redacted(&tail(t.trim(), ERROR_CAP));
    let Some(nl) = result.iter().position(|b| *b == b'\n') else {
        if stderr.contains("MemoryError") || stderr.contains("Cannot allocate memory") {
            return Err(PyError::Memory(mem >> 20));
        }
        if result == b"!too large" {
            return Err(PyError::BadOutput(
                "the strategy's output is larger than its columns can be".into(),
            ));
        }
        return Err(PyError::Runner(format!(
            "python exited with {status} without a result: {}",
            clean(&stderr)
        )));
    };
    let answer: serde_json::Value = serde_json::from_slice(&result[..nl])
        .map_err(|_| PyError::BadOutput("the runner's answer could not be read".into()))?;
    if answer["ok"] != true {
        let detail = clean(answer["detail"].as_str().unwrap_or(""));
        return Err(match answer["error"].as_str().unwrap_or("") {
            "missing_dependency" => PyError::Missing(format!(
                "{detail}: install pandas for {} (pip install pandas)",
                limits.python
            )),
            "raised" if detail.contains("MemoryError") => PyError::Memory(mem >> 20),
            "raised" => PyError::Raised(detail),
            _ => PyError::BadOutput(detail),
        });
    }
    let mut data = &result[nl + 1..];
    let mut cols = Vec::new();
    for c in answer["columns"].as_array().cloned().unwrap_or_default() {
        if data.len() < rows * 8 {
            return Err(PyError::BadOutput(format!(
                "column {} has the wrong length",
                c["name"]
            )));
        }
        let (col, rest) = data.split_at(rows * 8);
        data = rest;
        cols.push(Column {
            name: c["name"].as_str().unwrap_or_default().to_string(),
            is_bool: c["kind"] == "bool",
            values: col
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8")))
                .collect(),
        });
    }
    Ok(cols)
}
