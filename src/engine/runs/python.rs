//! Runs a Python artifact's `run_strategy(frame) -> frame` in a python3 subprocess: fed the
//! dataset's columnar files directly (numpy.fromfile, no parsing), under a wall-clock timeout and
//! RLIMIT_AS, in its own process group killed whole at the timeout, and with no network where
//! bubblewrap is installed (`bwrap --unshare-net --unshare-pid --die-with-parent`).
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HARNESS: &str = include_str!("harness.py");

#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: u64,
    pub python: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(120),
            memory_bytes: 4 << 30,
            python: "python3".into(),
        }
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

fn bwrap() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
}

fn interpreter_exists(python: &str) -> bool {
    let p = Path::new(python);
    if p.components().count() > 1 {
        return p.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(python).is_file()))
}

/// Is a sandbox without network available here?
pub fn network_isolated() -> bool {
    bwrap().is_some()
}

fn runner(e: impl std::fmt::Display) -> PyError {
    PyError::Runner(e.to_string())
}

/// Runs `source` on rows `start..end` of the dataset in `data_dir`.
pub fn run_strategy(
    source: &str,
    data_dir: &Path,
    start: usize,
    end: usize,
    limits: &Limits,
) -> Result<Vec<Column>, PyError> {
    let work = tempfile::Builder::new()
        .prefix("brickdesk-run-")
        .tempdir()
        .map_err(runner)?;
    let w = work.path();
    std::fs::write(w.join("harness.py"), HARNESS).map_err(runner)?;
    std::fs::write(w.join("strategy.py"), source).map_err(runner)?;
    let out_dir = w.join("out");
    std::fs::create_dir(&out_dir).map_err(runner)?;
    let result = w.join("result.json");
    let data_dir = std::path::absolute(data_dir).map_err(runner)?;
    let spec = serde_json::json!({
        "data_dir": data_dir, "start": start, "end": end, "strategy": w.join("strategy.py"),
        "out_dir": out_dir, "result": result,
    });
    std::fs::write(w.join("spec.json"), spec.to_string()).map_err(runner)?;

    if !interpreter_exists(&limits.python) {
        return Err(PyError::Missing(format!(
            "{} was not found: install Python 3 (Debian: apt-get install python3) or set the runner's python",
            limits.python
        )));
    }
    let py_args = [limits.python.as_str(), "-I", "-B"];
    let mut cmd = match bwrap() {
        Some(b) => {
            let mut c = Command::new(b);
            c.args([
                "--unshare-net",
                "--unshare-pid",
                "--die-with-parent",
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
            ]);
            c.arg("--bind").arg(w).arg(w);
            c.args(py_args);
            c
        }
        None => {
            let mut c = Command::new(&limits.python);
            c.args(&py_args[1..]);
            c
        }
    };
    cmd.arg(w.join("harness.py"))
        .arg(w.join("spec.json"))
        .current_dir(w)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", w)
        .env("OPENBLAS_NUM_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mem = limits.memory_bytes;
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: mem as libc::rlim_t,
                rlim_max: mem as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PyError::Missing(format!(
                "{} was not found: install Python 3 (Debian: apt-get install python3) or set the runner's python",
                limits.python
            )));
        }
        Err(e) => return Err(runner(e)),
    };
    let pgid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut s);
        }
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(runner)? {
            break st;
        }
        if started.elapsed() > limits.timeout {
            // the whole group: a strategy's own children die with it
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
            let _ = child.wait();
            return Err(PyError::Timeout(limits.timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = err_reader.join().unwrap_or_default();
    let answer: serde_json::Value = match std::fs::read(&result) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(runner)?,
        Err(_) => {
            if stderr.contains("MemoryError") || stderr.contains("Cannot allocate memory") {
                return Err(PyError::Memory(mem >> 20));
            }
            return Err(PyError::Runner(format!(
                "python exited with {status} without a result: {}",
                stderr.trim()
            )));
        }
    };
    if answer["ok"] != true {
        let detail = answer["detail"].as_str().unwrap_or("").to_string();
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
    let rows = end - start;
    let mut cols = Vec::new();
    for c in answer["columns"].as_array().cloned().unwrap_or_default() {
        let bytes = std::fs::read(c["file"].as_str().unwrap_or_default()).map_err(runner)?;
        if bytes.len() != rows * 8 {
            return Err(PyError::BadOutput(format!(
                "column {} has the wrong length",
                c["name"]
            )));
        }
        cols.push(Column {
            name: c["name"].as_str().unwrap_or_default().to_string(),
            is_bool: c["kind"] == "bool",
            values: bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8")))
                .collect(),
        });
    }
    Ok(cols)
}
