//! One error module per surface shape, and the one mapping from engine errors to HTTP. Every
//! answer passes `shape_rejection` (the router's one middleware), so what the framework answers
//! by itself (401, 404, 405, 413, 415, a bad path parameter) reaches the client in the shape of
//! the surface its path belongs to.
pub mod desk;
pub mod detail;
pub mod envelope;
pub mod plain;

pub use desk::{ApiError, ApiResult};
pub use detail::Detail;

use crate::engine::error::DeskError;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The status and the client-safe message of an engine error. Storage and internal failures
/// are logged here in full and answered with a fixed sentence.
pub fn classify(e: &DeskError) -> (StatusCode, String) {
    let status = match e {
        DeskError::GateRefused { .. } | DeskError::Forbidden(_) => StatusCode::FORBIDDEN,
        DeskError::Structure { .. } | DeskError::Conflict(_) | DeskError::IllegalTransition(_) => {
            StatusCode::CONFLICT
        }
        DeskError::Invalid(_) | DeskError::UnknownAsset(_) => StatusCode::BAD_REQUEST,
        DeskError::OutOfRange(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DeskError::UnknownOrder(_) | DeskError::NotFound(_) => StatusCode::NOT_FOUND,
        DeskError::Locked(_) => StatusCode::LOCKED,
        DeskError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        DeskError::Storage(detail) => {
            tracing::error!(%detail, "storage failure");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage failure: the change was not saved".into(),
            );
        }
        DeskError::Internal => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: nothing was changed; the desk goes on (see the server log)".into(),
            );
        }
    };
    (status, e.to_string())
}

/// Which error shape a path answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Seed 001: `{ok: false, error}`.
    Desk,
    /// Seeds 000 and 002: `{detail}`.
    Detail,
    /// Seed 003: `{error}`.
    Plain,
    /// Seed 004: `{error: {code, message, details}}`.
    Envelope,
}

/// Seed 003's paths (under `/api/` like the desk's).
const RESEARCH_PREFIXES: &[&str] = &[
    "/api/health",
    "/api/datasets",
    "/api/runs",
    "/api/simulations",
    "/api/questdb",
    "/api/jobs",
];

impl Surface {
    pub fn for_path(path: &str) -> Surface {
        let under = |p: &str| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/api/v1") {
            Surface::Envelope
        } else if under("/api/backtests") {
            Surface::Detail
        } else if RESEARCH_PREFIXES.iter().any(|p| under(p))
            || under("/healthz")
            || under("/readyz")
        {
            Surface::Plain
        } else if under("/api") || path.starts_with("/tv_") || path == "/metrics" {
            Surface::Desk
        } else {
            Surface::Detail
        }
    }

    /// An error answer in this surface's shape.
    pub fn error(self, status: StatusCode, message: impl Into<String>) -> Response {
        let message = message.into();
        match self {
            Surface::Desk => ApiError::new(status, message).into_response(),
            Surface::Detail => Detail::new(status, message).into_response(),
            Surface::Plain => plain::PlainError::new(status, message).into_response(),
            Surface::Envelope => envelope::Envelope::new(status, message).into_response(),
        }
    }
}

/// What a framework rejection says, in words a client can act on.
fn rejection_message(status: StatusCode, text: &str) -> String {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body is larger than this route accepts".into(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "unsupported content type: send application/json".into()
        }
        _ if !text.trim().is_empty() => text.trim().to_string(),
        _ => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase(),
    }
}

/// Rewrites an error answer that is not JSON (made by axum itself) into `surface`'s shape.
/// Answers the routes made themselves pass untouched.
pub async fn shape_rejection(surface: Surface, resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    // JSON, or a page a route made for a browser (`/ui`'s login)
    if is_json {
        return resp;
    }
    let body = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    surface.error(status, rejection_message(status, &text))
}

/// 404 for a path no route knows, in the shape of the surface the path belongs to.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    Surface::for_path(uri.path()).error(
        StatusCode::NOT_FOUND,
        format!("no route {method} {}", uri.path()),
    )
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    Surface::for_path(uri.path()).error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
