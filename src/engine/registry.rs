//! The parity side of the desk store: datasets, bridge artifacts and permission grants written
//! through the engine (a grant is spent inside the job that starts a run). Runs are the run
//! service's own (`services::runs`).
use super::error::{DeskError, DeskResult};
use super::{Engine, datasets, runs, store, to_json};

impl Engine {
    // ---- datasets ----

    /// Registers a dataset, or replaces the one with its id (bars imported anew): the dataset
    /// keeps its first `created_at`.
    pub fn register_dataset(
        &mut self,
        mut meta: datasets::DatasetMeta,
    ) -> DeskResult<datasets::DatasetMeta> {
        if let Some(old) = self.store.get_dataset(&meta.dataset_id)? {
            meta.created_at = old.created_at;
        }
        self.store.insert_dataset(&meta)?;
        self.emit(
            "dataset",
            None,
            format!(
                "dataset {} imported: {} rows ({})",
                meta.dataset_id, meta.row_count, meta.name
            ),
        )?;
        Ok(meta)
    }

    pub fn dataset(&self, id: &str) -> DeskResult<datasets::DatasetMeta> {
        self.store
            .get_dataset(id)?
            .ok_or_else(|| DeskError::NotFound(format!("unknown dataset {id}")))
    }

    // ---- parity runs: bridge artifacts, permission grants, runs ----

    pub fn save_bridge_artifact(
        &mut self,
        mut a: runs::artifacts::BridgeArtifact,
    ) -> DeskResult<runs::artifacts::BridgeArtifact> {
        a.bridge_artifact_id =
            format!("bridge-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        a.created_at = self.now();
        let json = to_json(&a)?;
        self.store.put_doc(
            store::DocTable::BridgeArtifacts,
            &a.bridge_artifact_id,
            &json,
            a.created_at,
        )?;
        self.emit(
            "artifact",
            None,
            format!(
                "bridge artifact {} saved: {} series",
                a.bridge_artifact_id,
                a.indicator_series.len()
            ),
        )?;
        Ok(a)
    }

    pub fn bridge_artifact(&self, id: &str) -> DeskResult<runs::artifacts::BridgeArtifact> {
        let json = self
            .store
            .get_doc(store::DocTable::BridgeArtifacts, id)?
            .ok_or_else(|| DeskError::NotFound(format!("unknown bridge artifact {id}")))?;
        serde_json::from_str(&json).map_err(|e| DeskError::Storage(e.to_string()))
    }

    pub fn grant(
        &mut self,
        req: runs::artifacts::GrantRequest,
    ) -> DeskResult<runs::artifacts::PermissionGrant> {
        let g =
            runs::artifacts::PermissionGrant::new(req, self.now()).map_err(DeskError::Invalid)?;
        self.put_grant(&g)?;
        let verb = if g.approved { "granted" } else { "revoked" };
        self.emit(
            "permission",
            None,
            format!(
                "{} {} on {} ({}) {verb}{}",
                g.grant_id,
                g.access,
                g.target,
                g.scope,
                g.audit_note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
        )?;
        Ok(g)
    }

    fn put_grant(&mut self, g: &runs::artifacts::PermissionGrant) -> DeskResult<()> {
        self.store.put_doc(
            store::DocTable::Grants,
            &g.grant_id,
            &to_json(g)?,
            g.created_at,
        )
    }

    pub fn grants(&self) -> DeskResult<Vec<runs::artifacts::PermissionGrant>> {
        self.store.docs(store::DocTable::Grants)
    }

    /// The newest approved, unexpired, unspent grant of `access` to `target` that no newer
    /// revocation of `target` overrides. A read never uses a single-action write grant: that
    /// one write is kept for the fix it was given for.
    fn usable_grant(
        &self,
        target: &str,
        access: &str,
    ) -> DeskResult<Option<runs::artifacts::PermissionGrant>> {
        let now = self.now();
        let grants = self.grants()?;
        let revoked_after = grants
            .iter()
            .filter(|g| !g.approved && g.target == target)
            .map(|g| g.created_at)
            .max();
        Ok(grants
            .into_iter()
            .filter(|g| {
                g.allows(target, access, now)
                    && revoked_after.is_none_or(|r| g.created_at > r)
                    && !(access == "read" && g.access == "write" && g.scope == "single_action")
            })
            .max_by_key(|g| g.created_at))
    }

    /// Uses `g` for `by`: a single-action grant is spent (and says by what).
    fn use_grant(&mut self, mut g: runs::artifacts::PermissionGrant, by: &str) -> DeskResult<()> {
        if g.scope == "single_action" {
            g.consumed_at = Some(self.now());
            g.consumed_by = Some(by.to_string());
            self.put_grant(&g)?;
            self.emit("permission", None, format!("{} spent by {by}", g.grant_id))?;
        }
        Ok(())
    }

    /// May `run_id` read `target`? Yes when the artifact allows it; otherwise an approved, unexpired
    /// grant is needed, and a single-action one is spent here. A newer revocation wins.
    pub fn authorize(
        &mut self,
        target: &str,
        allowed_by_artifact: bool,
        run_id: &str,
    ) -> DeskResult<Option<String>> {
        if allowed_by_artifact {
            return Ok(None);
        }
        let Some(g) = self.usable_grant(target, "read")? else {
            return Err(DeskError::Forbidden(format!(
                "read access to {target} is not allowed: the artifact has read_allowed false and no approved, unexpired, unspent grant covers it (POST /permissions)"
            )));
        };
        let id = g.grant_id.clone();
        self.use_grant(g, run_id)?;
        Ok(Some(id))
    }

    /// A fix to `run_id`'s `target` (its Python code): allowed by a write grant (a single-action
    /// one is spent), or refused (`refusal`: refused for that reason, no grant looked at).
    /// Either way the audit history keeps it, and the log says so.
    pub fn authorize_write(
        &mut self,
        target: &str,
        run_id: &str,
        patch: String,
        audit_note: Option<String>,
        refusal: Option<String>,
    ) -> DeskResult<runs::artifacts::AuditEntry> {
        let grant = match refusal {
            None => self.usable_grant(target, "write")?,
            Some(_) => None,
        };
        let audit_id = format!("audit-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let (outcome, detail) = match (&grant, refusal) {
            (_, Some(why)) => ("refused", why),
            (Some(g), None) => (
                "applied",
                format!(
                    "write to {target} of {run_id} allowed by {} ({}{})",
                    g.grant_id,
                    g.scope,
                    if g.scope == "single_action" {
                        ", now spent"
                    } else {
                        ""
                    }
                ),
            ),
            (None, None) => (
                "refused",
                format!(
                    "write access to {target} is not allowed: no approved, unexpired, unspent write grant covers it (POST /permissions/grant with access \"write\")"
                ),
            ),
        };
        let entry = runs::artifacts::AuditEntry {
            audit_id: audit_id.clone(),
            at: self.now(),
            action: "apply_fix".into(),
            target: target.into(),
            access: "write".into(),
            run_id: run_id.into(),
            outcome: outcome.into(),
            grant_id: grant.as_ref().map(|g| g.grant_id.clone()),
            detail,
            audit_note,
            patch,
            replay_run_id: None,
        };
        if let Some(g) = grant {
            self.use_grant(g, &audit_id)?;
        }
        self.put_audit(&entry)?;
        self.emit(
            "permission",
            None,
            format!(
                "{audit_id} apply_fix on {run_id} {outcome}: {}",
                entry.detail
            ),
        )?;
        Ok(entry)
    }

    /// Records what came of an audited write (its replay run).
    pub fn put_audit(&mut self, entry: &runs::artifacts::AuditEntry) -> DeskResult<()> {
        self.store.put_doc(
            store::DocTable::Audit,
            &entry.audit_id,
            &to_json(entry)?,
            entry.at,
        )
    }

    /// Writes one line in the operator's event log (services report through it).
    pub fn log_event(&mut self, kind: &str, message: String) -> DeskResult<()> {
        self.emit(kind, None, message)
    }
}
