//! Bridge artifacts (TradingView exports: Pine source, indicator series, trade events),
//! permission grants (TTL, single-action scope spent on use, audit note), and the audit of the
//! writes they allowed or refused.
use super::compare::TradeEvent;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesPoint {
    pub timestamp: String,
    pub value: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndicatorSeries {
    pub name: String,
    #[serde(default)]
    pub pane: Option<String>,
    #[serde(default)]
    pub style: Value,
    #[serde(default)]
    pub warmup_bars: Option<usize>,
    #[serde(default)]
    pub values: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BridgeArtifact {
    #[serde(default)]
    pub bridge_artifact_id: String,
    pub name: String,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub timeframe: Option<String>,
    #[serde(default)]
    pub source_code: String,
    #[serde(default)]
    pub indicator_series: Vec<IndicatorSeries>,
    #[serde(default)]
    pub trade_events: Vec<TradeEvent>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default = "Utc::now")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GrantRequest {
    /// `python_code`, `pine_code`, `run_artifacts`, …
    pub target: String,
    /// `read` or `write`.
    pub access: String,
    /// `single_action` (spent by its first use) or `session` (until it expires).
    #[serde(default = "single_action")]
    pub scope: String,
    pub approved: bool,
    #[serde(default)]
    pub ttl_minutes: Option<i64>,
    #[serde(default)]
    pub audit_note: Option<String>,
}

fn single_action() -> String {
    "single_action".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PermissionGrant {
    pub grant_id: String,
    pub target: String,
    pub access: String,
    pub scope: String,
    pub approved: bool,
    pub ttl_minutes: Option<i64>,
    pub audit_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub consumed_at: Option<DateTime<Utc>>,
    /// What spent it (a run id).
    pub consumed_by: Option<String>,
}

impl PermissionGrant {
    pub fn new(req: GrantRequest, now: DateTime<Utc>) -> Result<PermissionGrant, String> {
        if !matches!(req.access.as_str(), "read" | "write") {
            return Err(format!(
                "access must be read or write (got {:?})",
                req.access
            ));
        }
        if !matches!(req.scope.as_str(), "single_action" | "session") {
            return Err(format!(
                "scope must be single_action or session (got {:?})",
                req.scope
            ));
        }
        if req
            .ttl_minutes
            .is_some_and(|t| !(1..=7 * 24 * 60).contains(&t))
        {
            return Err("ttl_minutes must be 1..=10080".into());
        }
        Ok(PermissionGrant {
            grant_id: format!("grant-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            expires_at: req.ttl_minutes.map(|m| now + Duration::minutes(m)),
            target: req.target,
            access: req.access,
            scope: req.scope,
            approved: req.approved,
            ttl_minutes: req.ttl_minutes,
            audit_note: req.audit_note,
            created_at: now,
            consumed_at: None,
            consumed_by: None,
        })
    }

    /// Usable now for `target`/`access`?
    pub fn allows(&self, target: &str, access: &str, now: DateTime<Utc>) -> bool {
        self.approved
            && self.target == target
            && (self.access == access || self.access == "write" && access == "read")
            && self.consumed_at.is_none()
            && self.expires_at.is_none_or(|e| now < e)
    }
}

/// One write asked for under the grant rules (a fix applied to a run's Python code): allowed, with
/// the grant that allowed it, or refused, with why. Kept in the audit history (`GET
/// /permissions/audit`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    pub audit_id: String,
    pub at: DateTime<Utc>,
    /// `apply_fix`.
    pub action: String,
    pub target: String,
    pub access: String,
    /// The run whose code was to be written.
    pub run_id: String,
    /// `applied` or `refused`.
    pub outcome: String,
    pub grant_id: Option<String>,
    pub detail: String,
    pub audit_note: Option<String>,
    /// The unified diff that was (or was to be) applied.
    pub patch: String,
    /// The replay run of the patched code, once it exists.
    pub replay_run_id: Option<String>,
}
