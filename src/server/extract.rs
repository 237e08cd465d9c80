//! Request bodies: JSON whatever the Content-Type (TradingView posts text/plain), with every
//! rejection answered in the desk's error shape.
use super::errors::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest body the webhook, bridge and operator routes accept.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The body's bytes, refused in the desk's shape when too large or unreadable.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("request body is larger than {} KiB", BODY_LIMIT / 1024),
                    )
                } else {
                    ApiError::bad_request(format!("could not read the request body: {e}"))
                }
            })
    }
}

/// Parses a JSON body; an empty body reads as `{}` so all-optional bodies may be omitted.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "invalid request",
            _ => "request body is not valid JSON",
        };
        let detail = e.to_string();
        let detail = detail.split(" at line ").next().unwrap_or(&detail);
        ApiError::bad_request(format!("{what}: {detail}"))
    })
}

/// serde helpers for the seeds' loosely typed fields.
pub mod de {
    use serde::{Deserialize, Deserializer, de::Error};

    /// A string, or a number turned into its decimal text (TradingView `{{time}}` bar ids).
    pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if !s.trim().is_empty() => Ok(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::String(_) => Err(D::Error::custom("must not be empty")),
            other => Err(D::Error::custom(format!(
                "expected a string or a number, got {other}"
            ))),
        }
    }

    /// Parses an enum-like string field with its own parser and a clear message.
    pub fn parsed<'de, D, T>(
        d: D,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
    {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| D::Error::custom(format!("{s:?} is not one of {expected}")))
    }
}
