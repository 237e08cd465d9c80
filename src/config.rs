//! Configuration: a TOML file (`--config`, `BRICKDESK_CONFIG`, else `<config dir>/brickdesk/config.toml`
//! when present) plus the seeds' environment variables, which win over the file.
use crate::engine::model::AssetConfig;
use crate::engine::state::DeskSettings;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where Ollama answers when `OLLAMA_HOST` does not say (SPEC §1).
pub const DEFAULT_OLLAMA: &str = "http://127.0.0.1:11434";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// Host names (besides loopback names and `host`) a request's `Host` may carry: the names
    /// the operator and the bridge reach this server by. Anything else is refused (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed by CORS and past the foreign-`Origin` guard
    /// (`http://localhost:5173`, seed 000's and seed 003's web clients). None by default.
    pub cors_origins: Vec<String>,
    /// Largest body of the dataset and bridge-artifact routes (JSON or multipart upload), in MiB.
    /// Every other route takes 1 MiB.
    pub upload_limit_mb: usize,
    /// Folders whose files `/data-sources/preview` and `/data-sources/save` may read by path
    /// (symlinks resolved). Empty: the data dir's `imports/` and `uploads/`, and the home dir.
    pub import_roots: Vec<PathBuf>,
    /// Largest file an import reads, in MiB.
    pub import_max_mb: u64,
    /// Connections at once (more wait), and WebSockets at once on each WebSocket route.
    pub max_connections: usize,
    pub max_websockets: usize,
    /// Seconds a client may take over a request's headers, between two pieces of its body, and
    /// over its whole body.
    pub header_timeout_s: u64,
    pub body_idle_timeout_s: u64,
    pub body_timeout_s: u64,
    /// An operator session ends after this many hours unused, or days after login.
    pub session_idle_hours: u64,
    pub session_max_days: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            upload_limit_mb: 256,
            import_roots: Vec::new(),
            import_max_mb: 512,
            max_connections: 1024,
            max_websockets: 64,
            header_timeout_s: 10,
            body_idle_timeout_s: 15,
            body_timeout_s: 120,
            session_idle_hours: 12,
            session_max_days: 7,
        }
    }
}

/// Shared secrets. Unset means the check is off (allowed on loopback only, see `check_bind`).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Secrets {
    pub dashboard_password: Option<String>,
    pub bridge_heartbeat_secret: Option<String>,
    pub tv_webhook_secret: Option<String>,
    /// Bearer tokens a client may send instead of logging in (`Authorization: Bearer …`), for
    /// `/metrics` scrapers and headless clients (`BRICKDESK_API_TOKENS`, comma-separated).
    pub api_tokens: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "set" } else { "unset" };
        f.debug_struct("Secrets")
            .field("dashboard_password", &set(&self.dashboard_password))
            .field(
                "bridge_heartbeat_secret",
                &set(&self.bridge_heartbeat_secret),
            )
            .field("tv_webhook_secret", &set(&self.tv_webhook_secret))
            .field("api_tokens", &self.api_tokens.len())
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub desk: DeskSettings,
    pub assets: Vec<AssetConfig>,
    pub secrets: Secrets,
    pub data_dir: Option<PathBuf>,
    pub ollama_host: Option<String>,
    /// Market data provider key (`POLYGON_API_KEY`).
    pub polygon_api_key: Option<String>,
    pub console: ConsoleConfig,
    pub runner: RunnerConfig,
    /// Seed 003's research backend (`[research]`): auth, workers, query limits.
    pub research: crate::services::research::ResearchConfig,
    /// The LLM chat (`[chat]`): the console's first model, Ollama's deadlines.
    pub chat: crate::services::chat::ChatConfig,
}

/// How Python strategies run (`[runner]`): see `engine::runs::python::sandbox`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerConfig {
    /// The interpreter: a name on PATH or a path.
    pub python: String,
    /// bubblewrap's `bwrap`; found on PATH when unset.
    pub bubblewrap: Option<PathBuf>,
    /// Without bubblewrap, run strategies anyway, unconfined but for the limits below.
    pub allow_unsandboxed_python: bool,
    pub timeout_s: u64,
    pub memory_mb: u64,
    /// Processes and threads one run may have.
    pub max_processes: u64,
    /// Largest file a run may write, and the size of its work dir.
    pub max_file_mb: u64,
    pub work_dir_mb: u64,
    /// How much of a run's stdout and of its stderr is kept (the tail).
    pub output_cap_kb: usize,
    /// Runs at once (0: one per core); the rest queue.
    pub concurrency: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            python: "python3".into(),
            bubblewrap: None,
            allow_unsandboxed_python: false,
            timeout_s: 120,
            memory_mb: 4096,
            max_processes: 64,
            max_file_mb: 64,
            work_dir_mb: 64,
            output_cap_kb: 1024,
            concurrency: 0,
        }
    }
}

impl Config {
    /// The Python runner's limits; `redact` lists what no error may show (the secrets).
    pub fn runner_limits(&self) -> crate::engine::runs::python::Limits {
        use crate::engine::runs::python::{Limits, default_concurrency, sandbox};
        let (r, secrets) = (&self.runner, &self.secrets);
        Limits {
            timeout: std::time::Duration::from_secs(r.timeout_s),
            memory_bytes: r.memory_mb << 20,
            python: r.python.clone(),
            // a configured path that is not there means no sandbox, never another bwrap
            bubblewrap: match &r.bubblewrap {
                Some(p) => p.is_file().then(|| p.clone()),
                None => sandbox::find_bubblewrap(),
            },
            allow_unsandboxed: r.allow_unsandboxed_python,
            max_processes: r.max_processes,
            max_file_bytes: r.max_file_mb << 20,
            work_bytes: r.work_dir_mb << 20,
            output_cap: r.output_cap_kb << 10,
            concurrency: if r.concurrency == 0 {
                default_concurrency()
            } else {
                r.concurrency
            },
            redact: [
                &secrets.dashboard_password,
                &secrets.bridge_heartbeat_secret,
                &secrets.tv_webhook_secret,
            ]
            .into_iter()
            .flatten()
            .cloned()
            .chain(secrets.api_tokens.iter().cloned())
            .chain(self.polygon_api_key.clone())
            .collect(),
        }
    }
}

/// How the console behaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// In LIVE, entry keys send at once instead of asking `y`/`n` first.
    pub one_click: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            desk: DeskSettings::default(),
            assets: AssetConfig::defaults(),
            secrets: Secrets::default(),
            data_dir: None,
            ollama_host: None,
            polygon_api_key: None,
            console: ConsoleConfig::default(),
            runner: RunnerConfig::default(),
            research: Default::default(),
            chat: Default::default(),
        }
    }
}

impl Config {
    /// Reads the file (if any), then applies the environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let explicit = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("BRICKDESK_CONFIG").map(PathBuf::from));
        let file = explicit.clone().or_else(|| {
            let p = dirs::config_dir()?.join("brickdesk").join("config.toml");
            p.exists().then_some(p)
        });
        let mut cfg = match file {
            Some(p) => {
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                Self::from_toml(&text).with_context(|| format!("in config file {}", p.display()))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("DASHBOARD_PASSWORD") {
            self.secrets.dashboard_password = Some(v);
        }
        if let Some(v) = get("BRIDGE_HEARTBEAT_SECRET") {
            self.secrets.bridge_heartbeat_secret = Some(v);
        }
        if let Some(v) = get("TV_WEBHOOK_SECRET") {
            self.secrets.tv_webhook_secret = Some(v);
        }
        if let Some(v) = get("BRICKDESK_API_TOKENS") {
            self.secrets.api_tokens = v
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
        }
        if let Some(v) = get("STAGE1_TOKENS") {
            self.research.tokens = v
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
        }
        if let Some(v) = get("OLLAMA_HOST") {
            self.ollama_host = Some(v);
        }
        if let Some(v) = get("POLYGON_API_KEY") {
            self.polygon_api_key = Some(v);
        }
        if let Some(v) = get("BRICKDESK_DATA_DIR") {
            self.data_dir = Some(PathBuf::from(v));
        }
    }

    /// Where Ollama answers: `OLLAMA_HOST` (or `ollama_host`), else the default. Written as
    /// Ollama itself takes it: `host`, `host:port` or a URL (no scheme: http; no port: 11434).
    pub fn ollama_url(&self) -> String {
        let host = self
            .ollama_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty());
        let Some(host) = host else {
            return DEFAULT_OLLAMA.into();
        };
        let (scheme, rest) = match host.split_once("://") {
            Some((s, r)) => (s, r),
            None => ("http", host),
        };
        let rest = rest.trim_end_matches('/');
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        // a port, unless the authority has one (an IPv6 address's colons are in brackets)
        let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']'))
        });
        let port = if has_port || !path.is_empty() || scheme == "https" {
            ""
        } else {
            ":11434"
        };
        format!("{scheme}://{authority}{port}{path}")
    }

    /// The Ollama client the services share.
    pub fn ollama(&self) -> crate::services::ollama::Ollama {
        crate::services::ollama::Ollama::new(&self.ollama_url(), self.chat.timeouts())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.chat.validate()?;
        if self.assets.is_empty() {
            bail!("at least one [[assets]] entry is required");
        }
        for a in &self.assets {
            if !(a.tick > 0.0 && a.point_value > 0.0 && a.default_qty > 0 && a.nine_pt_qty > 0) {
                bail!(
                    "asset {}: tick, point_value, default_qty and nine_pt_qty must be positive",
                    a.name
                );
            }
        }
        for o in &self.server.cors_origins {
            crate::server::guard::parse_origin(o).map_err(|e| {
                anyhow::anyhow!("server.cors_origins: {o:?} is not an origin ({e}); write it as scheme://host[:port]")
            })?;
        }
        let r = &self.runner;
        if r.timeout_s == 0 || r.memory_mb < 64 || r.max_processes == 0 || r.max_file_mb == 0 {
            bail!(
                "runner: timeout_s, max_processes and max_file_mb must be positive, memory_mb at least 64"
            );
        }
        if r.work_dir_mb == 0 || r.output_cap_kb == 0 {
            bail!("runner: work_dir_mb and output_cap_kb must be positive");
        }
        let rs = &self.research;
        if rs.enable_auth && rs.tokens.is_empty() {
            bail!(
                "research.enable_auth needs at least one token in research.tokens (or STAGE1_TOKENS)"
            );
        }
        if rs.workers == 0
            || rs.workers > 64
            || rs.query_timeout_s == 0
            || rs.query_max_rows == 0
            || rs.max_queries == 0
        {
            bail!(
                "research: workers (1 to 64), query_timeout_s, query_max_rows and max_queries must be at least 1"
            );
        }
        let s = &self.server;
        if s.max_connections == 0 || s.max_websockets == 0 {
            bail!("server.max_connections and server.max_websockets must be at least 1");
        }
        if s.header_timeout_s == 0 || s.body_idle_timeout_s == 0 || s.body_timeout_s == 0 {
            bail!(
                "server.header_timeout_s, body_idle_timeout_s and body_timeout_s must be at least 1"
            );
        }
        if s.session_idle_hours == 0 || s.session_max_days == 0 {
            bail!("server.session_idle_hours and server.session_max_days must be at least 1");
        }
        if self.server.import_max_mb == 0 {
            bail!("server.import_max_mb must be at least 1");
        }
        if self.server.upload_limit_mb == 0 {
            bail!("server.upload_limit_mb must be at least 1");
        }
        let d = &self.desk;
        if !(d.daily_stop_pct > 0.0 && d.daily_stop_pct <= 100.0) {
            bail!(
                "desk.daily_stop_pct must be in (0, 100] (got {})",
                d.daily_stop_pct
            );
        }
        if d.daily_stop_usd.is_some_and(|u| u.is_nan() || u <= 0.0) {
            bail!("desk.daily_stop_usd must be positive when set");
        }
        if !(d.points_tp_default > 0.0 && d.points_tp_default <= 200.0) {
            bail!("desk.points_tp_default must be in (0, 200]");
        }
        if d.cooldown_secs < 0
            || d.candle_lock_secs < 1
            || d.scale_in_qty == 0
            || d.trade_limit == 0
        {
            bail!(
                "desk: cooldown_secs must be 0 or more, candle_lock_secs, scale_in_qty and trade_limit at least 1"
            );
        }
        if self.desk.timezone.parse::<chrono_tz::Tz>().is_err() {
            bail!(
                "desk.timezone {:?} is not an IANA time zone",
                self.desk.timezone
            );
        }
        Ok(())
    }

    /// Where imports may read files from: the data dir's `uploads/` (where the server stores a
    /// multipart upload before importing it) always, then `server.import_roots`, or by default
    /// the data dir's `imports/` and the home dir.
    pub fn import_roots(&self) -> Vec<PathBuf> {
        let data = self.data_dir();
        let uploads = data.join("uploads");
        if !self.server.import_roots.is_empty() {
            return std::iter::once(uploads)
                .chain(self.server.import_roots.iter().cloned())
                .collect();
        }
        [uploads, data.join("imports")]
            .into_iter()
            .chain(dirs::home_dir())
            .collect()
    }

    /// The data dir: configured, else the XDG data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("brickdesk")
        })
    }

    /// Without a dashboard password (or a webhook/bridge secret) the server only binds to
    /// loopback, unless the operator explicitly accepts an open desk.
    pub fn check_bind(&self, host: &str, insecure_no_password: bool) -> anyhow::Result<()> {
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        if loopback || insecure_no_password {
            return Ok(());
        }
        let s = &self.secrets;
        let missing: Vec<&str> = [
            ("DASHBOARD_PASSWORD", &s.dashboard_password),
            ("BRIDGE_HEARTBEAT_SECRET", &s.bridge_heartbeat_secret),
            ("TV_WEBHOOK_SECRET", &s.tv_webhook_secret),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            bail!(
                "refusing to bind {host} (not loopback) with {} unset: set them, bind 127.0.0.1, or pass --insecure-no-password",
                missing.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_is_read_as_ollama_reads_it() {
        let url = |h: Option<&str>| {
            Config {
                ollama_host: h.map(str::to_string),
                ..Config::default()
            }
            .ollama_url()
        };
        for (given, want) in [
            (None, "http://127.0.0.1:11434"),
            (Some(""), "http://127.0.0.1:11434"),
            (Some("0.0.0.0"), "http://0.0.0.0:11434"),
            (Some("gpu-box:11500"), "http://gpu-box:11500"),
            (Some("http://10.0.0.5/"), "http://10.0.0.5:11434"),
            (
                Some("https://ollama.example.com"),
                "https://ollama.example.com",
            ),
            (Some("http://[::1]:8080"), "http://[::1]:8080"),
            (Some("[::1]"), "http://[::1]:11434"),
            (Some("http://proxy:9000/ollama"), "http://proxy:9000/ollama"),
        ] {
            assert_eq!(url(given), want, "{given:?}");
        }
    }

    #[test]
    fn configured_import_roots_keep_the_upload_dir() {
        let mut c = Config::from_toml("[server]\nimport_roots = [\"/srv/data\"]\n").unwrap();
        c.data_dir = Some("/d".into());
        let roots = c.import_roots();
        assert_eq!(
            roots,
            [PathBuf::from("/d/uploads"), PathBuf::from("/srv/data")]
        );
        c.server.import_roots.clear();
        let roots = c.import_roots();
        assert!(
            roots.contains(&PathBuf::from("/d/uploads"))
                && roots.contains(&PathBuf::from("/d/imports"))
        );
    }

    #[test]
    fn env_wins_over_file_and_non_loopback_needs_secrets() {
        let mut c = Config::from_toml(
            "[server]\nport = 9000\n[secrets]\ndashboard_password = \"file\"\n[desk]\ntrade_limit = 3\n",
        )
        .unwrap();
        assert_eq!(c.server.port, 9000);
        assert_eq!(c.desk.trade_limit, 3);
        c.apply_env(|k| (k == "DASHBOARD_PASSWORD").then(|| "env".to_string()));
        assert_eq!(c.secrets.dashboard_password.as_deref(), Some("env"));
        assert!(c.check_bind("127.0.0.1", false).is_ok());
        let err = c.check_bind("0.0.0.0", false).unwrap_err().to_string();
        assert!(err.contains("TV_WEBHOOK_SECRET"), "{err}");
        assert!(c.check_bind("0.0.0.0", true).is_ok());
        assert!(Config::from_toml("[desk]\nbogus = 1\n").is_err());
    }
}
