//! Operator sessions (HttpOnly cookie from `POST /api/login`) and shared-secret checks for the
//! bridge and TradingView. Every comparison of a secret is constant-time.
use super::AppState;
use super::errors::{ApiError, ApiResult, Surface};
use super::extract::JsonBody;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "brickdesk_session";

/// Constant-time equality of a presented secret with the configured one.
pub fn secret_matches(presented: Option<&str>, expected: &Option<String>) -> bool {
    match (expected, presented) {
        (None, _) => true,
        (Some(exp), Some(got)) => exp.as_bytes().ct_eq(got.as_bytes()).into(),
        (Some(_), None) => false,
    }
}

pub fn require_secret(
    presented: Option<&str>,
    expected: &Option<String>,
    what: &str,
) -> ApiResult<()> {
    if secret_matches(presented, expected) {
        Ok(())
    } else if presented.is_none() {
        Err(ApiError::unauthorized(format!("{what} secret is required")))
    } else {
        Err(ApiError::unauthorized(format!("bad {what} secret")))
    }
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// `Authorization: Bearer <token>` naming one of the configured API tokens.
fn bearer_ok(state: &AppState, headers: &HeaderMap) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    presented.is_some_and(|got| token_listed(&state.secrets.api_tokens, got))
}

/// Whether `got` is one of `tokens`, each compared in constant time.
pub fn token_listed(tokens: &[String], got: &str) -> bool {
    tokens
        .iter()
        .any(|t| bool::from(t.as_bytes().ct_eq(got.as_bytes())))
}

pub fn is_authenticated(state: &AppState, headers: &HeaderMap) -> bool {
    state.secrets.dashboard_password.is_none() || has_credentials(state, headers)
}

/// A live operator session or a configured API bearer token (whether or not a password is set).
pub fn has_credentials(state: &AppState, headers: &HeaderMap) -> bool {
    session_token(headers).is_some_and(|t| state.sessions.check(&t)) || bearer_ok(state, headers)
}

/// Middleware for the routes that need the operator (session or API token); the refusal is
/// in the shape of the surface the path belongs to.
pub async fn require_operator(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_authenticated(&state, req.headers()) {
        next.run(req).await
    } else {
        Surface::for_path(req.uri().path()).error(
            axum::http::StatusCode::UNAUTHORIZED,
            "login required: POST /api/login (or send Authorization: Bearer <api token>)",
        )
    }
}

#[derive(Deserialize)]
pub struct LoginBody {
    #[serde(default)]
    password: Option<String>,
}

/// `POST /api/login`. An address that keeps failing is locked out for longer each time (429
/// with `Retry-After`, the password not even looked at); see `services::sessions`.
pub async fn login(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    use crate::services::sessions::{Gate, LOCKOUT_LOGGED_AT};
    use axum::extract::{ConnectInfo, FromRequest};
    let from = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Gate::Locked(secs) = state.sessions.gate(from) {
        let mut resp = ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins from this address: try again in {secs} s"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
        return Ok(resp);
    }
    let JsonBody(body) = JsonBody::<LoginBody>::from_request(req, &state).await?;
    let ok = secret_matches(body.password.as_deref(), &state.secrets.dashboard_password);
    let failures = state.sessions.record(from, ok);
    if !ok {
        let who = from.map_or("an unknown address".to_string(), |ip| ip.to_string());
        tracing::warn!(from = %who, failures, "operator login refused");
        if failures == LOCKOUT_LOGGED_AT {
            let what = format!("{failures} failed logins in a row from {who}: locked out");
            tracing::warn!("{what}");
            let _ = state.engine.call(move |e| e.log_event("auth", what)).await;
        }
        return Err(ApiError::unauthorized("invalid password"));
    }
    let token = state.sessions.create();
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        state.options.session_max.as_secs()
    );
    let mut resp = super::desk::ok(Empty {}).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
    );
    Ok(resp)
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(t) = session_token(&headers) {
        state.sessions.remove(&t);
    }
    let mut resp = super::desk::ok(Empty {}).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "brickdesk_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    resp
}

#[derive(serde::Serialize)]
struct Empty {}

#[derive(serde::Serialize)]
pub struct AuthStatus {
    authenticated: bool,
    password_required: bool,
}

pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> Json<AuthStatus> {
    Json(AuthStatus {
        authenticated: is_authenticated(&state, &headers),
        password_required: state.secrets.dashboard_password.is_some(),
    })
}
