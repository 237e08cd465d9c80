//! Seeds 000 and 002's error shape: `{"detail": "…"}` (plus, for some seed-000 refusals, the
//! validation issues beside it).
use super::classify;
use crate::engine::error::DeskError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug)]
pub struct Detail {
    pub status: StatusCode,
    pub body: Value,
}

impl Detail {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Detail {
            status,
            body: json!({ "detail": detail.into() }),
        }
    }

    /// The same with more fields beside `detail`.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.body[key] = value;
        self
    }

    /// A failure of a library or provider: logged in full, answered with `message` only.
    pub fn upstream(status: StatusCode, message: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "{message}");
        Detail::new(status, message)
    }
}

impl IntoResponse for Detail {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<DeskError> for Detail {
    fn from(e: DeskError) -> Self {
        let (status, message) = classify(&e);
        Detail::new(status, message)
    }
}
