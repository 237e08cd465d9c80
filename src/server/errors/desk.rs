//! The desk surface's error shape (seed 001): `{ "ok": false, "error": "…" }` with a 4xx code;
//! a structure or 2.5pt refusal adds the brick colors that decided it (`"colors": {"high": …}`).
use super::classify;
use crate::engine::error::DeskError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub colors: Option<BTreeMap<&'static str, String>>,
}

#[derive(Serialize)]
struct Body<'a> {
    ok: bool,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    colors: Option<&'a BTreeMap<&'static str, String>>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            colors: None,
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
        let (status, message) = classify(&e);
        let mut err = ApiError::new(status, message);
        if let DeskError::Structure { colors, .. } = e {
            err.colors = Some(colors.into_iter().collect());
        }
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            ok: false,
            error: &self.message,
            colors: self.colors.as_ref(),
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
