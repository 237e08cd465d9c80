//! The desk surface's error shape (seed 001): `{ "ok": false, "error": "…" }` with a 4xx code.
//! Engine errors map to HTTP here, in one place; internal failures are logged, never leaked.
use crate::engine::error::DeskError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        let status = match &e {
            DeskError::GateRefused { .. }
            | DeskError::Conflict(_)
            | DeskError::IllegalTransition(_) => StatusCode::CONFLICT,
            DeskError::Invalid(_) | DeskError::UnknownAsset(_) => StatusCode::BAD_REQUEST,
            DeskError::UnknownOrder(_) | DeskError::NotFound(_) => StatusCode::NOT_FOUND,
            DeskError::Forbidden(_) => StatusCode::FORBIDDEN,
            DeskError::Locked(_) => StatusCode::LOCKED,
            DeskError::Storage(detail) => {
                tracing::error!(%detail, "storage failure");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage failure: the change was not saved",
                );
            }
            DeskError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "ok": false, "error": self.message })),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
