//! Engine errors. Each surface maps them to its seed's error shape in one place.
use super::orders::IllegalTransition;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// An entry gate (or another desk lock) refused (HTTP 403); the message is the original
    /// desk's, shown to the operator verbatim.
    #[error("{message}")]
    GateRefused { gate: &'static str, message: String },
    /// The 8pt/12pt structure or the 2.5pt filter refused an entry (HTTP 409); `colors` are the
    /// brick colors that decided it (`high`, `macro`, `two_half`).
    #[error("{message}")]
    Structure {
        message: String,
        colors: Vec<(&'static str, String)>,
    },
    /// The request is malformed or out of range (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    #[error("unknown asset: {0}")]
    UnknownAsset(String),
    #[error("unknown order: {0}")]
    UnknownOrder(String),
    /// Something named by id does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Not permitted (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    IllegalTransition(#[from] IllegalTransition),
    /// A value outside what the desk believes (a price far from the last one, money beyond any
    /// account): HTTP 422.
    #[error("{0}")]
    OutOfRange(String),
    /// The action is refused in the current state (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The action is disabled by design (HTTP 423).
    #[error("{0}")]
    Locked(String),
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("engine is shutting down")]
    ShuttingDown,
    /// A bug (a panicking job, a failed worker): logged in full, answered as a generic 500.
    #[error("internal error")]
    Internal,
}

impl DeskError {
    pub fn gate(gate: &'static str, message: impl Into<String>) -> Self {
        DeskError::GateRefused {
            gate,
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for DeskError {
    fn from(e: rusqlite::Error) -> Self {
        DeskError::Storage(e.to_string())
    }
}

pub type DeskResult<T> = Result<T, DeskError>;
