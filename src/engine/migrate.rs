//! Desk state written by an older engine, upgraded to the original desk's rules when it loads.
//! A trade open across the upgrade keeps its position and gets the new rules' defaults for what
//! it lacks: its initial exit lock counts as released once it has seen a `main` brick, its 8pt
//! flip is on, its scale-in stage follows `scaled_in`. A flat asset's carried-over toggles are
//! reset (they now reset on every close). The candle lock and the cooldown, per asset before,
//! become account-wide (the latest of the assets').
use super::model::BrickSize;
use super::state::{Account, AssetState, DeskSettings, ExitSettings};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Per-asset fields of the old format that are account-wide now.
#[derive(Debug, Default)]
pub(crate) struct Legacy {
    pub last_entry_at: Option<DateTime<Utc>>,
    pub last_exit_at: Option<DateTime<Utc>>,
}

impl Legacy {
    fn merge(&mut self, other: Legacy) {
        self.last_entry_at = self.last_entry_at.max(other.last_entry_at);
        self.last_exit_at = self.last_exit_at.max(other.last_exit_at);
    }

    /// Puts the old per-asset locks on the account, unless it has its own.
    pub fn apply(self, account: &mut Account) -> bool {
        let before = (account.last_entry_at, account.last_exit_at);
        account.last_entry_at = account.last_entry_at.or(self.last_entry_at);
        account.last_exit_at = account.last_exit_at.or(self.last_exit_at);
        before != (account.last_entry_at, account.last_exit_at)
    }
}

fn time(v: Option<Value>) -> Option<DateTime<Utc>> {
    serde_json::from_value(v?).ok()
}

/// One asset's stored state; `true` when it was in the old format (and needs saving).
pub(crate) fn asset(
    json: &str,
    settings: &DeskSettings,
    legacy: &mut Legacy,
) -> serde_json::Result<(AssetState, bool)> {
    let mut v: Value = serde_json::from_str(json)?;
    let old = v.get("neutral").is_none();
    if let Some(obj) = v.as_object_mut() {
        legacy.merge(Legacy {
            last_entry_at: time(obj.remove("last_entry_at")),
            last_exit_at: time(obj.remove("last_exit_at")),
        });
    }
    if old {
        match v.get_mut("position").filter(|p| p.is_object()) {
            Some(pos) => {
                let scaled = pos["scaled_in"].as_bool().unwrap_or(false);
                let saw_main = pos["bars_since_entry"].as_u64().unwrap_or(0) > 0;
                pos["scale_in"] = json!(if scaled { "DONE" } else { "WAIT" });
                pos["exit_lock_released"] = json!(saw_main);
                v["exits"]["high_flip"] = json!(true);
            }
            None => v["exits"] = serde_json::to_value(ExitSettings::new(settings))?,
        }
    }
    let mut st: AssetState = serde_json::from_value(v)?;
    st.neutral.resize(BrickSize::ALL.len(), false);
    Ok((st, old))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::ScaleInStage;

    #[test]
    fn an_open_trade_of_the_old_format_keeps_its_position() {
        let settings = DeskSettings::default();
        let mut fresh = serde_json::to_value(AssetState::new(&settings)).unwrap();
        let obj = fresh.as_object_mut().unwrap();
        obj.remove("neutral");
        obj.insert("last_entry_at".into(), json!("2026-03-10T14:31:00Z"));
        obj.insert("last_exit_at".into(), Value::Null);
        obj.insert(
            "position".into(),
            json!({ "side": "BUY", "qty": 10, "avg_price": 5003.0, "opened_at": "2026-03-10T14:31:00Z",
                    "bars_since_entry": 2, "max_favorable_points": 4.0, "scaled_in": true,
                    "entry_size_mode": "6pt", "trade_mode": "SCALP" }),
        );
        let mut legacy = Legacy::default();
        let (st, old) = asset(&fresh.to_string(), &settings, &mut legacy).unwrap();
        assert!(old);
        let p = st.position.unwrap();
        assert_eq!((p.qty, p.avg_price), (10, 5003.0));
        assert_eq!(p.scale_in, ScaleInStage::Done);
        assert!(p.exit_lock_released, "it has seen two main bricks");
        assert!(st.exits.high_flip);
        assert_eq!(st.neutral.len(), 6);
        let mut account = Account::default();
        assert!(legacy.apply(&mut account));
        assert_eq!(
            account.last_entry_at.unwrap().to_rfc3339(),
            "2026-03-10T14:31:00+00:00"
        );
    }
}
