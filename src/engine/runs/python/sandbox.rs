//! How a strategy's Python process is confined, decided once per runner:
//! - **bubblewrap** (`bwrap`): new pid, net, ipc and uts namespaces; only `/usr` and the
//!   interpreter's own trees bound read-only, the dataset's directory read-only at `/data`, a
//!   size-limited tmpfs as the work dir and nothing else writable (`/dev` is remounted
//!   read-only, so `/dev/shm` is no second work dir); `--die-with-parent`.
//! - **unsandboxed**, only when the operator opted in (`runner.allow_unsandboxed_python`): the
//!   child still gets an empty environment, its own session and the limits below.
//! - **refused**: no bubblewrap and no opt-in; the run fails naming the package to install.
//!
//! In every mode the child runs under RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_CPU and no
//! core dumps. When the server runs as root (where RLIMIT_NPROC does not apply and every file is
//! readable), the harness drops to a uid of its own for the run before the strategy's code is
//! loaded; that uid's processes are all killed when the run ends, so a descendant that escaped
//! with `setsid()` dies too.
use super::PyError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// First of the uids a run drops to when the server is root (one per concurrent run).
pub const RUN_UID_BASE: u32 = 2_100_000_000;
const RUN_UID_SLOTS: u32 = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Bubblewrap(PathBuf),
    Unsandboxed,
    Refused,
}

impl Mode {
    pub fn new(bubblewrap: Option<&Path>, allow_unsandboxed: bool) -> Mode {
        match bubblewrap {
            Some(b) => Mode::Bubblewrap(b.to_path_buf()),
            None if allow_unsandboxed => Mode::Unsandboxed,
            None => Mode::Refused,
        }
    }

    /// `bubblewrap` | `unsandboxed` | `refused`: what `/dependencies/status` and the header say.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Bubblewrap(_) => "bubblewrap",
            Mode::Unsandboxed => "unsandboxed",
            Mode::Refused => "refused",
        }
    }

    /// One sentence for the operator: what runs how, and what to do about it.
    pub fn describe(&self) -> String {
        match self {
            Mode::Bubblewrap(b) => format!(
                "Python strategies run sandboxed by bubblewrap ({}): no network, read-only system, size-limited work dir",
                b.display()
            ),
            Mode::Unsandboxed => format!(
                "Python strategies run WITHOUT a sandbox (runner.allow_unsandboxed_python = true), {}: install bubblewrap (Debian: apt-get install bubblewrap) to confine them",
                match super::landlock::abi() {
                    0 => "and this kernel has no Landlock to limit what they read".to_string(),
                    n => format!(
                        "limited by Landlock (ABI {n}) to reading the system, the interpreter and the dataset"
                    ),
                }
            ),
            Mode::Refused => REFUSAL.into(),
        }
    }
}

pub const REFUSAL: &str = "Python strategies are not run: the sandbox, bubblewrap, is not installed. Install it (Debian: apt-get install bubblewrap), or set runner.allow_unsandboxed_python = true in the config to run them without a sandbox";

/// `bwrap` on the server's PATH.
pub fn find_bubblewrap() -> Option<PathBuf> {
    on_path("bwrap")
}

pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The interpreter as it reports itself: its real executable, the trees it loads from, and its
/// import path (the harness runs with `-I -S` and sets `sys.path` to exactly this).
#[derive(Debug, Clone)]
pub struct Interpreter {
    pub executable: PathBuf,
    pub path: Vec<String>,
    /// What must be visible in the sandbox, read-only: prefixes and import path entries.
    pub roots: Vec<PathBuf>,
}

pub(super) fn missing(python: &str) -> PyError {
    PyError::Missing(format!(
        "{python} was not found: install Python 3 (Debian: apt-get install python3) or set the runner's python"
    ))
}

/// Asks `python` (the operator's own interpreter, trusted) where it lives; remembered per name.
pub fn interpreter(python: &str) -> Result<Interpreter, PyError> {
    static CACHE: Mutex<Option<HashMap<String, Interpreter>>> = Mutex::new(None);
    if let Some(i) = CACHE
        .lock()
        .expect("interpreters")
        .get_or_insert_default()
        .get(python)
    {
        return Ok(i.clone());
    }
    let exe = if python.contains('/') {
        PathBuf::from(python)
    } else {
        on_path(python).ok_or_else(|| missing(python))?
    };
    const PROBE: &str = "import json, sys; print(json.dumps([sys.executable, [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix], sys.path]))";
    let mut probe = std::process::Command::new(&exe);
    probe
        .args(["-I", "-c", PROBE])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = spawn(&mut probe)
        .and_then(|c| {
            let pid = c.id() as i32;
            let out = c.wait_with_output();
            ended(pid);
            out
        })
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => missing(python),
            _ => PyError::Runner(format!("{python} could not be started: {e}")),
        })?;
    let parsed: Option<(String, Vec<String>, Vec<String>)> = out
        .status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten();
    let Some((executable, prefixes, path)) = parsed else {
        return Err(PyError::Missing(format!(
            "{python} is not a working Python 3 interpreter: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    };
    let executable = std::fs::canonicalize(&executable).map_err(|_| missing(python))?;
    let path: Vec<String> = path.into_iter().filter(|p| !p.is_empty()).collect();
    let mut roots: Vec<PathBuf> = Vec::new();
    let candidates = prefixes
        .iter()
        .chain(&path)
        .map(PathBuf::from)
        .chain(executable.parent().map(Path::to_path_buf));
    for p in candidates {
        let Ok(p) = std::fs::canonicalize(&p) else {
            continue; // a zip on sys.path that does not exist, say
        };
        if p == Path::new("/") || p.starts_with("/usr") || roots.iter().any(|r| p.starts_with(r)) {
            continue;
        }
        roots.retain(|r| !r.starts_with(&p));
        roots.push(p);
    }
    let found = Interpreter {
        executable,
        path,
        roots,
    };
    CACHE
        .lock()
        .expect("interpreters")
        .get_or_insert_default()
        .insert(python.to_string(), found.clone());
    Ok(found)
}

/// The bwrap arguments before the interpreter: namespaces, the read-only trees, `/data`, the
/// tmpfs work dir, and (as root) the two capabilities the harness needs to drop its uid.
pub fn bwrap_args(
    interp: &Interpreter,
    data_dir: &Path,
    work_bytes: u64,
    root: bool,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--symlink",
        "usr/bin",
        "/bin",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        // the device nodes still work; /dev/shm is no second, unlimited work dir
        "--remount-ro",
        "/dev",
    ]
    .map(String::from)
    .to_vec();
    if root {
        a.extend(["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"].map(String::from));
    }
    let mut made: Vec<PathBuf> = Vec::new();
    for r in &interp.roots {
        // bwrap makes missing parents 0700: the dropped uid could not walk through them
        for anc in r.ancestors().collect::<Vec<_>>().into_iter().rev().skip(1) {
            if anc != r && !made.iter().any(|m| m == anc) {
                made.push(anc.to_path_buf());
                a.extend(["--perms".into(), "0755".into(), "--dir".into(), s(anc)]);
            }
        }
        a.extend(["--ro-bind".into(), s(r), s(r)]);
    }
    a.extend(["--ro-bind".into(), s(data_dir), "/data".into()]);
    a.extend([
        "--size".into(),
        work_bytes.to_string(),
        "--perms".into(),
        "1777".into(),
        "--tmpfs".into(),
        "/work".into(),
        "--chdir".into(),
        "/work".into(),
    ]);
    a
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A run's command, confined as its mode says, before the limits and pipes are added.
pub struct Confined {
    pub cmd: std::process::Command,
    /// Where the child finds the dataset.
    pub data: PathBuf,
    /// The unsandboxed run's work dir (removed when dropped).
    pub scratch: Option<tempfile::TempDir>,
    /// Landlock for the unsandboxed run, applied between fork and exec.
    pub ruleset: Option<super::landlock::Ruleset>,
}

/// The interpreter's command for `mode`: inside bwrap (the dataset at `/data`, a tmpfs at
/// `/work`), or directly in a fresh work dir under Landlock. Environment: only PATH, HOME,
/// TMPDIR, LANG and single-threaded BLAS.
pub fn confine(
    mode: &Mode,
    interp: &Interpreter,
    data_dir: &Path,
    work_bytes: u64,
    uid: Option<u32>,
) -> Result<Confined, PyError> {
    let runner = |e: std::io::Error| PyError::Runner(e.to_string());
    let (mut cmd, work, data, scratch, ruleset) = match mode {
        Mode::Bubblewrap(b) => {
            let mut c = std::process::Command::new(b);
            c.args(bwrap_args(interp, data_dir, work_bytes, uid.is_some()));
            c.arg(&interp.executable).current_dir("/");
            (
                c,
                PathBuf::from("/work"),
                PathBuf::from("/data"),
                None,
                None,
            )
        }
        _ => {
            let scratch = tempfile::Builder::new()
                .prefix("brickdesk-run-")
                .tempdir()
                .map_err(runner)?;
            if let Some(u) = uid {
                std::os::unix::fs::chown(scratch.path(), Some(u), Some(u)).map_err(runner)?;
            }
            let system = [
                "/usr",
                "/lib",
                "/lib64",
                "/bin",
                "/etc/ld.so.cache",
                "/etc/localtime",
                "/dev/urandom",
                "/dev/random",
                "/dev/zero",
            ]
            .map(Path::new);
            let read: Vec<&Path> = system
                .into_iter()
                .chain(interp.roots.iter().map(PathBuf::as_path))
                .chain([data_dir])
                .collect();
            let ruleset =
                super::landlock::Ruleset::new(&read, &[scratch.path(), Path::new("/dev/null")]);
            let mut c = std::process::Command::new(&interp.executable);
            c.current_dir(scratch.path());
            let work = scratch.path().to_path_buf();
            (c, work, data_dir.to_path_buf(), Some(scratch), ruleset)
        }
    };
    let bin_dir = interp
        .executable
        .parent()
        .map(|d| format!("{}:", d.display()))
        .unwrap_or_default();
    cmd.env_clear()
        .env("PATH", format!("{bin_dir}/usr/bin:/bin"))
        .env("HOME", &work)
        .env("TMPDIR", &work)
        .env("LANG", "C.UTF-8")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1");
    Ok(Confined {
        cmd,
        data,
        scratch,
        ruleset,
    })
}

/// A uid of its own for one run, when the server is root; given back on drop. A slot is held
/// by an exclusive `flock` on its lock file, so two servers on one machine (a `serve` and a
/// `demo`, say) never hand out the same uid.
pub struct RunUid(pub Option<u32>, Option<std::fs::File>);

impl RunUid {
    pub fn take() -> Result<RunUid, PyError> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::DirBuilderExt;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(RunUid(None, None));
        }
        let dir = std::env::temp_dir().join("brickdesk-run-uids");
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        for slot in 0..RUN_UID_SLOTS {
            let uid = RUN_UID_BASE + slot;
            let Ok(f) = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(format!("{uid}.lock")))
            else {
                continue;
            };
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(RunUid(Some(uid), Some(f)));
            }
        }
        Err(PyError::Runner("too many Python runs at once".into()))
    }

    /// Kills every process of the run's uid: whatever the strategy started, in whatever session.
    pub fn kill_all(&self) {
        let Some(uid) = self.0 else { return };
        for _ in 0..3 {
            // SAFETY: the child only makes async-signal-safe calls (setgid, setuid, kill, _exit).
            unsafe {
                let pid = libc::fork();
                if pid == 0 {
                    if libc::setgid(uid) == 0 && libc::setuid(uid) == 0 {
                        libc::kill(-1, libc::SIGKILL);
                    }
                    libc::_exit(0);
                }
                if pid > 0 {
                    let mut status = 0;
                    libc::waitpid(pid, &mut status, 0);
                }
            }
        }
    }
}

impl Drop for RunUid {
    fn drop(&mut self) {
        if let Some(uid) = self.0 {
            self.kill_all();
            // what an unsandboxed run left in the shared scratch folders
            for dir in ["/dev/shm", "/tmp", "/var/tmp"] {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for e in entries.filter_map(Result::ok) {
                    use std::os::unix::fs::MetadataExt;
                    if e.metadata().is_ok_and(|m| m.uid() == uid) {
                        let p = e.path();
                        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
                    }
                }
            }
            drop(self.1.take()); // the slot is free again
        }
    }
}

/// Processes (threads) the current user already has: RLIMIT_NPROC counts them all, so a
/// non-root run may start `max` more.
pub fn user_threads() -> u64 {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() }.to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                == Some(uid.as_str())
        })
        .map(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// The children this process started for runs still going (see `kill_orphans`).
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Makes this process the reaper of whatever its runs leave behind: a strategy's process that
/// escaped with `setsid()` and lost its parent becomes this process's child, and
/// `kill_orphans` ends it. For a server that is not root and runs strategies without
/// bubblewrap (root gives each run a uid of its own; bubblewrap a pid namespace).
pub fn become_subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes this process's own flag.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Starts a child this process will not take for an orphan (spawned and registered under the
/// lock `kill_orphans` holds while it looks).
pub fn spawn(cmd: &mut std::process::Command) -> std::io::Result<std::process::Child> {
    let mut r = RUNNING.lock().expect("running");
    let child = cmd.spawn()?;
    r.push(child.id() as i32);
    Ok(child)
}

/// A child from `spawn` has been waited for.
pub fn ended(pid: i32) {
    RUNNING.lock().expect("running").retain(|p| *p != pid);
}

/// Kills this process's children that are no run's own child: orphans a run left behind,
/// reparented here (see `become_subreaper`). Repeats while killing one orphans others.
pub fn kill_orphans() {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    for _ in 0..20 {
        let running = RUNNING.lock().expect("running");
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        let orphans: Vec<i32> = dir
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| !running.contains(pid))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                    // pid (comm) state ppid …: comm may hold spaces and parentheses
                    st.rsplit_once(')')
                        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
                        == Some(me)
                })
            })
            .collect();
        if orphans.is_empty() {
            return;
        }
        drop(running);
        for pid in orphans {
            // SAFETY: signalling and reaping a child of ours.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Makes this process's memory and `/proc/<pid>/environ` unreadable to other processes of the
/// same user (a strategy run without a sandbox and without a uid of its own).
pub fn protect_server_process() {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes this process's dumpable flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}
