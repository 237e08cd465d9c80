//! Large bodies of seed 000's dataset and bridge-artifact routes (up to `[server] upload_limit_mb`,
//! 256 MiB by default), never held twice: a JSON body is parsed as it streams in, and a
//! `multipart/form-data` file part is written to the data dir chunk by chunk.
use super::AppState;
use super::errors::Detail;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use futures_util::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

fn too_large(limit: usize) -> Detail {
    Detail::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body is larger than this route accepts ({} MiB; [server] upload_limit_mb)",
            limit >> 20
        ),
    )
}

/// Parses a JSON body as it arrives (no copy of the whole body is kept), refusing it past
/// `limit` bytes. An empty body reads as `{}`.
pub async fn json_streamed<T: DeserializeOwned + Send + 'static>(
    body: Body,
    limit: usize,
) -> Result<T, Detail> {
    let mut seen = 0usize;
    let stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .map(move |chunk| {
            let chunk = chunk?;
            seen += chunk.len();
            if seen > limit {
                Err(std::io::Error::new(
                    std::io::ErrorKind::FileTooLarge,
                    "body over the limit",
                ))
            } else {
                Ok(chunk)
            }
        });
    let reader = tokio_util::io::StreamReader::new(stream);
    let sync = tokio_util::io::SyncIoBridge::new(reader);
    let parsed = tokio::task::spawn_blocking(move || {
        let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(
            64 << 10,
            sync,
        ));
        let v = T::deserialize(&mut de)?;
        de.end()?;
        Ok::<T, serde_json::Error>(v)
    })
    .await
    .map_err(|_| Detail::new(StatusCode::INTERNAL_SERVER_ERROR, "the body reader failed"))?;
    parsed.map_err(|e| {
        if e.is_io() {
            if e.io_error_kind() == Some(std::io::ErrorKind::FileTooLarge) {
                return too_large(limit);
            }
            if super::listen::came_too_slowly(&e) {
                return too_slow();
            }
            return Detail::new(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            );
        }
        let what = if e.is_data() {
            "invalid request"
        } else {
            "request body is not valid JSON"
        };
        let text = crate::engine::command::short(&e);
        Detail::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{what}: {text}"))
    })
}

/// A `DataSourceConfig` from a JSON body, or from a multipart upload whose file is stored under
/// `<data dir>/uploads/` (its path becomes the config's `file_path`).
pub async fn source_config(s: &AppState, req: Request) -> Result<Value, Detail> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !multipart {
        let limit = s.options.upload_limit;
        return json_streamed::<Value>(req.into_body(), limit).await;
    }
    let mp = Multipart::from_request(req, s)
        .await
        .map_err(|e| Detail::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let uploads = s.options.data_dir.join("uploads");
    read_upload(mp, &uploads, s.options.upload_limit).await
}

/// The parts of an upload: `file` (required), `config` (the JSON config, optional), and plain
/// fields that override it (`name`, `type`, `symbol`, `timeframe`, `timezone`, `provider`) or hold
/// JSON (`mapping`, `session`, `extra`).
async fn read_upload(mut mp: Multipart, dir: &Path, limit: usize) -> Result<Value, Detail> {
    let mut config = Map::new();
    let mut fields = Map::new();
    let mut stored: Option<(PathBuf, String)> = None;
    let bad = |m: String| Detail::new(StatusCode::UNPROCESSABLE_ENTITY, m);
    let result: Result<(), Detail> = async {
        while let Some(mut field) = mp.next_field().await.map_err(|e| part_error(&e, limit))? {
            let name = field.name().unwrap_or_default().to_string();
            match name.as_str() {
                "file" => {
                    if stored.is_some() {
                        return Err(bad("an upload carries one `file` part".into()));
                    }
                    let original = field.file_name().unwrap_or("upload.csv").to_string();
                    tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
                    let path = dir.join(format!(
                        "upload-{}-{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..8],
                        safe_name(&original)
                    ));
                    stored = Some((path.clone(), original));
                    let mut file = tokio::fs::File::create(&path).await.map_err(io_error)?;
                    while let Some(chunk) =
                        field.chunk().await.map_err(|e| part_error(&e, limit))?
                    {
                        file.write_all(&chunk).await.map_err(io_error)?;
                    }
                    file.sync_all().await.map_err(io_error)?;
                }
                "config" => {
                    let text = field.text().await.map_err(|e| part_error(&e, limit))?;
                    match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(m)) => config = m,
                        _ => {
                            return Err(bad(
                                "the `config` part must be a JSON object (a DataSourceConfig)"
                                    .into(),
                            ));
                        }
                    }
                }
                "mapping" | "session" | "extra" => {
                    let text = field.text().await.map_err(|e| part_error(&e, limit))?;
                    let v = serde_json::from_str::<Value>(&text)
                        .map_err(|e| bad(format!("the `{name}` part must be JSON: {e}")))?;
                    fields.insert(name, v);
                }
                "name" | "type" | "symbol" | "timeframe" | "timezone" | "provider" => {
                    let text = field.text().await.map_err(|e| part_error(&e, limit))?;
                    fields.insert(name, Value::String(text));
                }
                other => {
                    // unknown parts are skipped, as unknown JSON fields are
                    tracing::debug!(part = other, "upload part ignored");
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        if let Some((path, _)) = &stored {
            let _ = tokio::fs::remove_file(path).await;
        }
        return Err(e);
    }
    let Some((path, original)) = stored else {
        return Err(bad(
            "a multipart upload needs a `file` part holding the CSV or xlsx file".into(),
        ));
    };
    config.extend(fields);
    config.insert(
        "file_path".into(),
        Value::String(path.display().to_string()),
    );
    let lower = original.to_ascii_lowercase();
    config.entry("type").or_insert_with(|| {
        Value::String(
            if lower.ends_with(".xlsx") || lower.ends_with(".xls") {
                "excel"
            } else {
                "csv"
            }
            .into(),
        )
    });
    config
        .entry("name")
        .or_insert_with(|| Value::String(original.clone()));
    tracing::info!(file = %path.display(), %original, "upload stored");
    Ok(Value::Object(config))
}

/// A file name safe to keep: letters, digits, `.`, `-`, `_`; at most 80 characters.
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut out: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.len() > 80 {
        out = out[out.len() - 80..].to_string();
    }
    let out = out.trim_start_matches('.').to_string();
    if out.is_empty() { "upload".into() } else { out }
}

fn part_error(e: &axum::extract::multipart::MultipartError, limit: usize) -> Detail {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else if super::listen::came_too_slowly(e) {
        too_slow()
    } else {
        Detail::new(
            StatusCode::BAD_REQUEST,
            format!("could not read the upload: {}", e.body_text()),
        )
    }
}

/// A body that missed its deadline (`[server] body_idle_timeout_s` / `body_timeout_s`).
fn too_slow() -> Detail {
    Detail::new(StatusCode::REQUEST_TIMEOUT, super::listen::TOO_SLOW)
}

fn io_error(e: std::io::Error) -> Detail {
    tracing::error!(error = %e, "upload could not be stored");
    Detail::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the upload could not be stored in the data dir",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_made_safe() {
        assert_eq!(
            super::safe_name("C:\\Users\\me\\SBIN 5.xlsx"),
            "SBIN_5.xlsx"
        );
        assert_eq!(super::safe_name("../../etc/passwd"), "passwd");
        assert_eq!(super::safe_name("..."), "upload");
    }
}
