//! Seed 003's error shape (the research backend): `{"error": "…"}`.
use super::classify;
use crate::engine::error::DeskError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct PlainError {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
}

impl PlainError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        PlainError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for PlainError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(Body {
                error: &self.message,
            }),
        )
            .into_response()
    }
}

impl From<DeskError> for PlainError {
    fn from(e: DeskError) -> Self {
        let (status, message) = classify(&e);
        PlainError::new(status, message)
    }
}
