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
                } else if super::listen::came_too_slowly(&e) {
                    ApiError::new(StatusCode::REQUEST_TIMEOUT, super::listen::TOO_SLOW)
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
    // the refusal names the field at fault (`messages[0].content: invalid type: …`)
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let e = e.into_inner();
        let what = match e.classify() {
            serde_json::error::Category::Data => "invalid request",
            _ => "request body is not valid JSON",
        };
        let detail = crate::engine::command::short(&e);
        match path.as_str() {
            "." | "" => ApiError::bad_request(format!("{what}: {detail}")),
            _ => ApiError::bad_request(format!("{what}: {path}: {detail}")),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request(format!(
            "request body is not valid JSON: {}",
            crate::engine::command::short(&e)
        ))
    })?;
    Ok(value)
}

/// A body that carries a shared secret in its `secret` field.
pub trait Signed {
    fn secret(&self) -> Option<&str>;
}

/// Implements `Signed` for bodies with a `secret: Option<String>` field.
macro_rules! signed {
    ($($t:ty),+) => {$(
        impl $crate::server::extract::Signed for $t {
            fn secret(&self) -> Option<&str> {
                self.secret.as_deref()
            }
        }
    )+};
}
pub(crate) use signed;

/// A body whose `secret` is checked by `check` before anything else it says is answered: a
/// caller without the secret learns nothing of the body's schema. One parse on the way in; only
/// a body that does not parse is read a second time, for its secret alone (none if it is not
/// JSON at all).
pub fn secret_first<T: DeserializeOwned + Signed>(
    bytes: &[u8],
    check: impl FnOnce(Option<&str>) -> Result<(), ApiError>,
) -> Result<T, ApiError> {
    match parse_json::<T>(bytes) {
        Ok(body) => {
            check(body.secret())?;
            Ok(body)
        }
        Err(invalid) => {
            #[derive(serde::Deserialize)]
            struct Secret {
                #[serde(default, deserialize_with = "de::loose_text")]
                secret: Option<String>,
            }
            let secret = parse_json::<Secret>(bytes).ok().and_then(|s| s.secret);
            check(secret.as_deref())?;
            Err(invalid)
        }
    }
}

/// serde helpers for the seeds' loosely typed fields.
pub mod de {
    use serde::{Deserialize, Deserializer, de::Error};

    /// Text from a string or a number (`{{plot_0}}`, `{{time}}`); `null` and blank text are
    /// absent. A visitor, not a `Value`: this runs on every webhook.
    pub fn loose_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        struct Loose;
        impl<'de> serde::de::Visitor<'de> for Loose {
            type Value = Option<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok((!v.trim().is_empty()).then(|| v.to_string()))
            }
            fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
                Ok((!v.trim().is_empty()).then_some(v))
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v.to_string()))
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(
                    serde_json::Number::from_f64(v)
                        .map_or_else(|| v.to_string(), |n| n.to_string()),
                ))
            }
            fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(Loose)
            }
        }
        d.deserialize_any(Loose)
    }

    /// A finite number, sent as a JSON number or as numeric text (`"5250.25"`).
    pub fn number_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let v = match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            other => {
                return Err(D::Error::custom(format!(
                    "invalid type: expected a number, got {other}"
                )));
            }
        };
        v.filter(|x| x.is_finite())
            .ok_or_else(|| D::Error::custom("not a number: expected a number like 5250.25"))
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
