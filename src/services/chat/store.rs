//! The chat's conversations, one per run (`''` for questions asked with no run), in the desk's
//! database (table `chat_messages`, schema 8) through the chat service's own connection.
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

/// One message of a conversation: the operator's question, or the model's (or the fallback's)
/// answer with what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub id: i64,
    pub run_id: Option<String>,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    pub model: Option<String>,
    pub intent: Option<String>,
    /// An answer's `ok`, `fallback` or `cancelled`.
    pub status: Option<String>,
    pub error_class: Option<String>,
    /// The targets the question was asked with.
    pub targets: Vec<String>,
    pub proposed_patch: Option<String>,
    /// A proposed patch's fate: `proposed`, `applied` or `rejected`.
    pub patch_state: Option<String>,
    pub created_at: String,
}

fn key(run_id: Option<&str>) -> &str {
    run_id.unwrap_or("")
}

/// Appends a message; its id.
pub fn append(conn: &Connection, m: &StoredMessage) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO chat_messages(conversation, role, content, model, intent, status,
            error_class, targets_json, proposed_patch, patch_state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        key(m.run_id.as_deref()),
        m.role,
        m.content,
        m.model,
        m.intent,
        m.status,
        m.error_class,
        serde_json::to_string(&m.targets).unwrap_or_else(|_| "[]".into()),
        m.proposed_patch,
        m.patch_state,
        m.created_at,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// The last `limit` messages of a run's conversation, oldest first.
pub fn conversation(
    conn: &Connection,
    run_id: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Vec<StoredMessage>> {
    let mut st = conn.prepare_cached(
        "SELECT id, conversation, role, content, model, intent, status, error_class,
            targets_json, proposed_patch, patch_state, created_at
         FROM (SELECT * FROM chat_messages WHERE conversation = ?1 ORDER BY id DESC LIMIT ?2)
         ORDER BY id",
    )?;
    let rows = st.query_map(params![key(run_id), limit], |r| {
        let conversation: String = r.get(1)?;
        let targets: String = r.get(8)?;
        Ok(StoredMessage {
            id: r.get(0)?,
            run_id: (!conversation.is_empty()).then_some(conversation),
            role: r.get(2)?,
            content: r.get(3)?,
            model: r.get(4)?,
            intent: r.get(5)?,
            status: r.get(6)?,
            error_class: r.get(7)?,
            targets: serde_json::from_str(&targets).unwrap_or_default(),
            proposed_patch: r.get(9)?,
            patch_state: r.get(10)?,
            created_at: r.get(11)?,
        })
    })?;
    rows.collect()
}

/// Whether an answer of `run_id` proposed exactly `patch` and it still waits.
pub fn is_proposed(conn: &Connection, run_id: &str, patch: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM chat_messages WHERE conversation = ?1 AND proposed_patch = ?2
            AND patch_state = 'proposed')",
        params![run_id, patch],
        |r| r.get(0),
    )
}

/// Sets the fate of the newest answer of `run_id` that proposed exactly `patch` and is still
/// `proposed`; whether there was one.
pub fn set_patch_state(
    conn: &Connection,
    run_id: &str,
    patch: &str,
    state: &str,
) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE chat_messages SET patch_state = ?3 WHERE id = (
            SELECT id FROM chat_messages WHERE conversation = ?1 AND proposed_patch = ?2
                AND patch_state = 'proposed' ORDER BY id DESC LIMIT 1)",
        params![run_id, patch, state],
    )?;
    Ok(n > 0)
}
