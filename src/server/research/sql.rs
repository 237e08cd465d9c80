//! Seed 003's SQL and measurements: queries, streamed exports (and predictions), the measurement
//! catalog, and the CSV import queued as a job.
use super::{Answer, Page, bad, body, not_found, page};
use crate::server::AppState;
use crate::server::errors::plain::PlainError;
use crate::services::research::{self, measure, sql::SqlError};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

// ---- SQL ----

#[derive(Deserialize)]
struct SqlBody {
    sql: Option<String>,
}

fn sql_of(bytes: &[u8]) -> Result<String, PlainError> {
    let b: SqlBody = body(bytes)?;
    b.sql
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| bad("Missing 'sql' parameter"))
}

/// Every refusal, timeout or SQL error is the query's own fault: 400 (as QuestDB answers); a
/// surface at its limit of queries at once is 503.
fn sql_error(e: SqlError) -> PlainError {
    match e {
        SqlError::Busy(_) => PlainError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        _ => bad(e.to_string()),
    }
}

pub(super) async fn query(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let sql = sql_of(&bytes)?;
    let max = s.research.config().query_max_rows;
    let (reader, permit) = s.research.reader().await.map_err(sql_error)?;
    let q = sql.clone();
    let (columns, rows) = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        reader.query(&q, max)
    })
    .await
    .map_err(|_| PlainError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?
    .map_err(sql_error)?;
    Ok(
        Json(json!({"query": sql, "columns": columns, "count": rows.len(), "dataset": rows}))
            .into_response(),
    )
}

pub(super) async fn export(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let sql = sql_of(&bytes)?;
    stream_rows(&s, sql, false, Some("export.csv")).await
}

/// How long a streamed answer waits for a client that stopped reading before it gives up (and
/// frees its query slot and its read snapshot).
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// Hands a piece to the answer's body from the query's thread; false when the client left or
/// stopped reading for `STALL`.
fn send_within(
    rt: &tokio::runtime::Handle,
    tx: &tokio::sync::mpsc::Sender<Piece>,
    piece: Piece,
) -> bool {
    match rt.block_on(tokio::time::timeout(STALL, tx.send(piece))) {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            tracing::warn!("a streamed answer's client stopped reading: its query is stopped");
            false
        }
    }
}

/// A piece of a streamed answer, or why it stopped.
enum Piece {
    Data(Bytes),
    Failed(SqlError),
}

/// Streams a query's rows as CSV (or seed 003's `{"dataset": [[…], …]}` JSON), a piece at a time
/// through a channel of 4; the query stops when the client leaves. The head is sent with the
/// first piece (64 KiB, or all of a smaller answer), so a refusal, a timeout or an error before
/// it is a 400; one after it cuts the body short (the client sees a broken transfer, never a
/// complete-looking file).
pub(super) async fn stream_rows(
    s: &AppState,
    sql: String,
    as_json: bool,
    attachment: Option<&str>,
) -> Answer {
    let (reader, permit) = s.research.reader().await.map_err(sql_error)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(4);
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let done = reader.prepare(&sql).and_then(|mut stmt| {
            let mut send = |piece: Vec<u8>| send_within(&rt, &tx, Piece::Data(Bytes::from(piece)));
            if as_json {
                json_rows(&reader, &mut stmt, &mut send)
            } else {
                research::sql::export_rows(&reader, &mut stmt, &mut send).map(|_| ())
            }
        });
        if let Err(e) = done {
            send_within(&rt, &tx, Piece::Failed(e));
        }
    });
    let first = match rx.recv().await {
        Some(Piece::Data(b)) => b,
        Some(Piece::Failed(e)) => return Err(sql_error(e)),
        // the query's thread ended without a word (a panic): never an empty 200
        None => {
            return Err(PlainError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error: the query stopped (see the server log)",
            ));
        }
    };
    let rest = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|p| match p {
        Piece::Data(b) => Ok(b),
        Piece::Failed(e) => {
            tracing::warn!(error = %e, "a streamed query stopped part way");
            Err(std::io::Error::other(e.to_string()))
        }
    });
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }).chain(rest);
    let mut resp = Response::new(Body::from_stream(stream));
    let ct = if as_json {
        "application/json"
    } else {
        "text/csv; charset=utf-8"
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    if let Some(name) = attachment {
        resp.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                .expect("ASCII file name"),
        );
    }
    Ok(resp)
}

/// Rows as `{"columns": […], "dataset": [[…], …]}`, written a piece at a time.
fn json_rows(
    reader: &research::sql::Reader,
    stmt: &mut rusqlite::Statement<'_>,
    send: &mut dyn FnMut(Vec<u8>) -> bool,
) -> Result<(), SqlError> {
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let width = columns.len();
    let mut buf = format!("{{\"columns\":{},\"dataset\":[", json!(columns)).into_bytes();
    let mut rows = stmt.raw_query();
    let mut first = true;
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                if !first {
                    buf.push(b',');
                }
                first = false;
                let cells: Vec<Value> = (0..width)
                    .map(|i| research::sql::json_value(row.get_ref_unwrap(i)))
                    .collect();
                serde_json::to_writer(&mut buf, &cells)
                    .map_err(|e| SqlError::Failed(e.to_string()))?;
                if buf.len() >= 64 << 10 {
                    if !send(std::mem::take(&mut buf)) {
                        return Ok(());
                    }
                    reader.touch();
                }
            }
            Ok(None) => break,
            Err(e) => return Err(reader.classify(e)),
        }
    }
    buf.extend_from_slice(b"]}");
    send(buf);
    Ok(())
}

// ---- measurements and imports ----

pub(super) async fn measurements(
    State(s): State<AppState>,
    q: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let prefix = page(q)?.prefix;
    let rows = s
        .research
        .db(move |c| measure::list(c, prefix.as_deref()))
        .await?;
    // seed 003's `name`, and what `measurement/{name}` says of each
    Ok(Json(json!({"count": rows.len(), "measurements": rows})).into_response())
}

pub(super) async fn measurement(State(s): State<AppState>, Path(name): Path<String>) -> Answer {
    let n = name.clone();
    s.research
        .db(move |c| measure::get(c, &n))
        .await?
        .map(|m| Json(m).into_response())
        .ok_or_else(|| not_found(format!("measurement {name} not found")))
}

pub(super) async fn import_direct() -> Answer {
    Err(PlainError::new(
        StatusCode::NOT_IMPLEMENTED,
        "direct import is not implemented: use POST /api/questdb/import/async",
    ))
}

#[derive(Deserialize)]
struct ImportBody<'a> {
    #[serde(default)]
    measurement: Option<String>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
    #[serde(default)]
    filename: Option<String>,
}

pub(super) async fn import_async(State(s): State<AppState>, bytes: Bytes) -> Answer {
    let b: ImportBody = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "request body is not valid JSON: {}",
            crate::engine::command::short(&e)
        ))
    })?;
    let measurement = b
        .measurement
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| bad("Missing 'measurement' parameter"))?;
    if let Some(why) = measure::bad_name(&measurement) {
        return Err(bad(why));
    }
    let raw = b.data.ok_or_else(|| bad("Missing 'data' parameter"))?.get();
    if !raw.starts_with('"') {
        return Err(bad("data must be the CSV text as a string"));
    }
    // the header, checked now: a file the job could never import is refused here
    let head = research::first_line(raw);
    let header_line = head.trim();
    if header_line.is_empty() {
        return Err(bad("data is empty: the first row must be the CSV header"));
    }
    let header = crate::engine::datasets::source::header_cells(header_line);
    if research::import::timestamp_column(&header).is_none() {
        return Err(bad(format!(
            "the CSV must have a timestamp_unix or timestamp column (header: {})",
            header.join(",")
        )));
    }
    // where the string lies in the body: the body is written out from there, never copied
    let start = raw.as_ptr() as usize - bytes.as_ptr() as usize;
    let range = start..start + raw.len();
    let filename = b.filename;
    let job = s
        .research
        .queue_import(measurement, bytes.clone(), range, filename)
        .await?;
    let id = job.job_id.clone();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "job_id": id,
            "status": job.status,
            "message": format!("Import job created. Poll /api/jobs/{id} for status."),
            "poll_url": format!("/api/jobs/{id}"),
        })),
    )
        .into_response())
}
