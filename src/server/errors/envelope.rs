//! Seed 004's error envelope (engine web API v1):
//! `{"error": {"code": "RUN_ALREADY_ACTIVE", "message": "…", "details": {}}}`.
use super::classify;
use crate::engine::error::DeskError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug)]
pub struct Envelope {
    pub status: StatusCode,
    /// Upper-snake identifier.
    pub code: String,
    pub message: String,
    pub details: Map<String, Value>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    details: &'a Map<String, Value>,
}

/// The code of a status when the route gives none of its own.
pub fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "INVALID_REQUEST",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::CONFLICT => "CONFLICT",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::UNPROCESSABLE_ENTITY => "VALIDATION_ERROR",
        StatusCode::LOCKED => "LOCKED",
        StatusCode::SERVICE_UNAVAILABLE => "UNAVAILABLE",
        s if s.is_server_error() => "INTERNAL_ERROR",
        _ => "REQUEST_REFUSED",
    }
}

impl Envelope {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Envelope {
            status,
            code: code_for(status).into(),
            message: message.into(),
            details: Map::new(),
        }
    }

    pub fn code(mut self, code: &str) -> Self {
        self.code = code.into();
        self
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: &self.code,
                message: &self.message,
                details: &self.details,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<DeskError> for Envelope {
    fn from(e: DeskError) -> Self {
        let (status, message) = classify(&e);
        let code = match &e {
            DeskError::GateRefused { .. } => "GATE_REFUSED",
            DeskError::IllegalTransition(_) => "ILLEGAL_TRANSITION",
            DeskError::UnknownAsset(_) => "UNKNOWN_ASSET",
            _ => code_for(status),
        };
        Envelope::new(status, message).code(code)
    }
}
