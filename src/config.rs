//! Configuration: a TOML file (`--config`, `BRICKDESK_CONFIG`, else `<config dir>/brickdesk/config.toml`
//! when present) plus the seeds' environment variables, which win over the file.
use crate::engine::model::AssetConfig;
use crate::engine::state::DeskSettings;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            upload_limit_mb: 256,
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

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.assets.is_empty() {
            bail!("at least one [[assets]] entry is required");
        }
        for a in &self.assets {
            if !(a.tick > 0.0 && a.point_value > 0.0 && a.default_qty > 0) {
                bail!(
                    "asset {}: tick, point_value and default_qty must be positive",
                    a.name
                );
            }
        }
        for o in &self.server.cors_origins {
            crate::server::guard::parse_origin(o).map_err(|e| {
                anyhow::anyhow!("server.cors_origins: {o:?} is not an origin ({e}); write it as scheme://host[:port]")
            })?;
        }
        if self.server.upload_limit_mb == 0 {
            bail!("server.upload_limit_mb must be at least 1");
        }
        if self.desk.timezone.parse::<chrono_tz::Tz>().is_err() {
            bail!(
                "desk.timezone {:?} is not an IANA time zone",
                self.desk.timezone
            );
        }
        Ok(())
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
