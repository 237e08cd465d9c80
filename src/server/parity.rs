//! Seed 000 surface (Pine-vs-Python parity): health, dependencies, data sources and datasets,
//! bridge artifacts, grants, and runs (through the run service). Errors are `{"detail": "…"}`.
use super::AppState;
use super::errors::Detail;
use crate::engine::datasets::{self, Prepared, SourceConfig};
use crate::engine::runs;
use crate::engine::store::DocTable;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// The routes of CONTRACTS.md's table at their paths; the older paths stay as aliases (the
/// README lists them). The dataset and artifact routes take bodies up to `upload_limit` bytes.
pub fn routes(upload_limit: usize) -> Router<AppState> {
    let big = || DefaultBodyLimit::max(upload_limit);
    Router::new()
        .route("/dependencies/status", get(dependencies))
        .route("/dependencies", get(dependencies))
        .route("/data-sources/preview", post(preview).layer(big()))
        .route("/data-sources/save", post(save_dataset).layer(big()))
        .route("/data-sources", get(list_datasets))
        .route(
            "/datasets",
            post(save_dataset).layer(big()).get(list_datasets),
        )
        .route(
            "/pine-bridge/artifacts",
            post(create_artifact).get(list_artifacts),
        )
        .route(
            "/bridge-artifacts",
            post(create_artifact).get(list_artifacts),
        )
        .route("/permissions", post(create_grant).get(list_grants))
        .route("/permissions/grant", post(create_grant))
        .route("/runs/replay", post(replay))
        .route("/runs/live", post(live))
        .route("/runs/{run_id}/stop", post(stop))
        .route("/runs/{run_id}/stream", get(run_ws))
        .route("/ws/runs/{run_id}", get(run_ws))
        .route("/runs/{run_id}/ws", get(run_ws))
        .route("/ws/stream", get(stream_ws))
        .route("/comparison/sample", post(demo_comparison))
        .route("/demo/comparison", post(demo_comparison))
        .route("/runs", get(list_runs))
        .route("/runs/{run_id}", get(get_run))
}

pub(super) fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Detail> {
    super::extract::parse_json(bytes)
        .map_err(|e| Detail::new(StatusCode::UNPROCESSABLE_ENTITY, e.message))
}

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "timestamp": chrono::Utc::now().to_rfc3339() }))
}

async fn dependencies(State(s): State<AppState>) -> Json<Value> {
    // the seed's detail quotes /api/version's own answer
    let ollama = match s.chat.ollama().version().await {
        Ok(v) => {
            json!({ "name": "ollama", "available": true, "detail": format!("Ollama API reachable: {}", json!({ "version": v })) })
        }
        Err(e) => {
            json!({ "name": "ollama", "available": false, "detail": format!("{e}; chat answers with a structured fallback") })
        }
    };
    let market = if s.options.polygon_key.is_some() {
        json!({ "name": "market_provider", "available": true, "detail": "polygon key configured" })
    } else {
        json!({ "name": "market_provider", "available": false, "detail": "No market API key configured; dataset-driven live mode remains available." })
    };
    let mode = s.runs.limits().mode();
    // the seed's component shape; the detail starts with the mode's name
    let sandbox = json!({ "name": "python_sandbox", "available": mode.name() == "bubblewrap",
        "detail": format!("{}: {}", mode.name(), mode.describe()) });
    Json(json!({
        "python_sandbox": sandbox,
        "backend": { "name": "backend", "available": true, "detail": "API process supports replay, live, and bridge workflows." },
        "ollama": ollama,
        "tradingview_bridge": { "name": "tradingview_bridge", "available": true, "detail": "Manual bridge artifact upload is supported. Session automation can be added later." },
        "market_provider": market,
    }))
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// Runs blocking import work (file reads, parsing, column writes) off the async workers.
async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Detail> {
    tokio::task::spawn_blocking(f).await.map_err(|_| {
        Detail::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the import worker failed",
        )
    })
}

async fn prepare_off_thread(s: &AppState, cfg: SourceConfig) -> Result<Prepared, Detail> {
    if cfg.kind.eq_ignore_ascii_case("polygon")
        || cfg
            .provider
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("polygon"))
    {
        let Some(key) = s.options.polygon_key.clone() else {
            return Err(Detail::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the polygon provider is not available: no market API key is configured (set POLYGON_API_KEY; capability supports_symbol_fetch is false)",
            ));
        };
        let field = |k: &str| cfg.extra.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(symbol), Some(from), Some(to)) = (cfg.symbol.clone(), field("from"), field("to"))
        else {
            return Err(Detail::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "polygon needs symbol, extra.from and extra.to (YYYY-MM-DD)",
            ));
        };
        let tf = cfg.timeframe.clone().unwrap_or_else(|| "1d".into());
        crate::services::providers::polygon::timespan(&tf)
            .map_err(|e| Detail::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        let bars = crate::services::providers::polygon::fetch(
            &s.options.polygon_base_url,
            &key,
            &symbol,
            &tf,
            &from,
            &to,
        )
        .await
        // the provider's error names its request URL, key included: logged, never answered
        .map_err(|e| {
            Detail::upstream(
                StatusCode::BAD_GATEWAY,
                "the market provider could not be reached or refused the request (see the server log)",
                &format!("{e:#}"),
            )
        })?;
        return Ok(datasets::prepared_from_bars(
            &format!("polygon:{symbol}:{tf}:{from}..{to}"),
            bars,
        ));
    }
    let files = s.options.files.clone();
    off_thread(move || datasets::prepare(&cfg, &files))
        .await?
        .map_err(|e| match e.downcast_ref::<datasets::files::FileRefusal>() {
            Some(r) => Detail::new(
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                r.to_string(),
            ),
            None => Detail::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
        })
}

/// A `DataSourceConfig` from the request: JSON, or a multipart upload (stored in the data dir).
async fn source_config(s: &AppState, req: Request) -> Result<SourceConfig, Detail> {
    let v = super::upload::source_config(s, req).await?;
    let mut cfg: SourceConfig = serde_json::from_value(v).map_err(|e| {
        Detail::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid request: {e}"),
        )
    })?;
    // a client that sets only the session's timezone means it for the source too
    if cfg.timezone.is_none() {
        cfg.timezone = cfg
            .session
            .as_ref()
            .and_then(|s| s["timezone"].as_str())
            .map(str::to_string);
    }
    Ok(cfg)
}

async fn preview(
    State(s): State<AppState>,
    req: Request,
) -> Result<Json<impl serde::Serialize>, Detail> {
    let cfg = source_config(&s, req).await?;
    let p = prepare_off_thread(&s, cfg.clone()).await?;
    let sample_rows: Vec<Value> = p
        .bars
        .as_ref()
        .map(|b| {
            (0..b.len().min(5))
                .map(|i| json!({ "timestamp": iso(b.ts[i]), "open": b.open[i], "high": b.high[i], "low": b.low[i], "close": b.close[i], "volume": b.volume[i] }))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "preview": {
            "name": cfg.name, "type": cfg.kind, "timeframe": cfg.timeframe, "timezone": cfg.timezone,
            "mapping": p.mapping, "exists": p.exists, "file_path": p.path.display().to_string(),
            "format": p.format.as_str(), "sheet_names": p.sample.sheet_names, "active_sheet": p.sample.active_sheet,
            "row_count": p.source_rows, "columns": p.sample.columns, "inferred_mapping": p.inferred,
            "sample_rows": sample_rows,
        },
        "capabilities": {
            "supports_file_upload": true,
            "supports_symbol_fetch": s.options.polygon_key.is_some(),
            "supports_local_replay": true,
            "supports_live_append": true,
        },
        "validation_issues": p.issues,
    })))
}

/// `POST /data-sources/save`: the dataset imported and registered; answers its metadata
/// (`dataset_id, name, symbol, timeframe, timezone, row_count, columns, data_path`, and more).
async fn save_dataset(
    State(s): State<AppState>,
    req: Request,
) -> Result<Json<impl serde::Serialize>, Detail> {
    let cfg = source_config(&s, req).await?;
    let p = prepare_off_thread(&s, cfg.clone()).await?;
    if p.bars.is_none() {
        let why: Vec<String> = p
            .issues
            .iter()
            .filter(|i| i.severity == datasets::Severity::Error)
            .map(|i| i.message.clone())
            .collect();
        return Err(Detail::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("cannot import: {}", why.join("; ")),
        )
        .with("validation_issues", json!(p.issues)));
    }
    let data_dir = s.options.data_dir.clone();
    let now = chrono::Utc::now();
    let (meta, bars) = off_thread(move || {
        datasets::persist(&data_dir, &cfg, &p, now).map(|m| (m, p.bars.unwrap_or_default()))
    })
    .await?
    .map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "dataset write failed");
        Detail::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the dataset could not be written",
        )
    })?;
    let meta = s.engine.call(move |e| e.register_dataset(meta)).await?;
    // the same bars as seed 003's measurements (SQL sees what runs and backtests read)
    if let Err(e) = s
        .research
        .attach_bars(meta.clone(), std::sync::Arc::new(bars))
        .await
    {
        tracing::error!(dataset = %meta.dataset_id, error = %e, "the dataset's measurements could not be written");
    }
    Ok(Json(meta))
}

async fn list_datasets(State(s): State<AppState>) -> Result<Json<impl serde::Serialize>, Detail> {
    let all = s.engine.reader().read(|_, st| st.list_datasets()).await?;
    Ok(Json(Value::Array(
        all.into_iter()
            .map(|d| json!({ "dataset_id": d.dataset_id, "name": d.name, "symbol": d.symbol, "timeframe": d.timeframe,
                              "row_count": d.row_count, "timezone": d.timezone, "created_at": d.created_at }))
            .collect(),
    )))
}

/// A bridge artifact (two series over 18,850 bars is ~2 MB): parsed as it streams in.
async fn create_artifact(
    State(s): State<AppState>,
    body: axum::body::Body,
) -> Result<Json<impl serde::Serialize>, Detail> {
    let a: runs::artifacts::BridgeArtifact =
        super::upload::json_streamed(body, s.options.upload_limit).await?;
    let saved = s.engine.call(move |e| e.save_bridge_artifact(a)).await?;
    Ok(Json(saved))
}

/// Every document of a table, from a read connection.
async fn docs<T: serde::de::DeserializeOwned + Send + 'static>(
    s: &AppState,
    table: DocTable,
) -> Result<Json<Vec<T>>, Detail> {
    Ok(Json(
        s.engine.reader().read(move |_, st| st.docs(table)).await?,
    ))
}

async fn list_artifacts(
    State(s): State<AppState>,
) -> Result<Json<Vec<runs::artifacts::BridgeArtifact>>, Detail> {
    docs(&s, DocTable::BridgeArtifacts).await
}

async fn create_grant(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<impl serde::Serialize>, Detail> {
    let req: runs::artifacts::GrantRequest = parse_body(&body)?;
    let g = s
        .engine
        .call(move |e| e.grant(req))
        .await
        .map_err(|e| match e {
            crate::engine::error::DeskError::Invalid(m) => {
                Detail::new(StatusCode::UNPROCESSABLE_ENTITY, m)
            }
            other => other.into(),
        })?;
    Ok(Json(g))
}

async fn list_grants(
    State(s): State<AppState>,
) -> Result<Json<Vec<runs::artifacts::PermissionGrant>>, Detail> {
    docs(&s, DocTable::Grants).await
}

/// A deterministic replay. A strategy that fails gives a `failed` run (200), not a server error.
async fn replay(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<impl serde::Serialize>, Detail> {
    let req: runs::RunRequest = parse_body(&body)?;
    let run = s.runs.replay(&req).await.map_err(run_error)?;
    Ok(Json(run))
}

/// A live playback run: answers at once with `lifecycle: "live"`; bars follow on the run's WebSocket.
async fn live(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<impl serde::Serialize>, Detail> {
    let req: runs::RunRequest = parse_body(&body)?;
    let run = s.runs.start_live(&req).await.map_err(run_error)?;
    Ok(Json(run))
}

async fn stop(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<impl serde::Serialize>, Detail> {
    let run = s.runs.stop(&id).await?;
    Ok(Json(run))
}

pub(super) fn run_error(e: crate::engine::error::DeskError) -> Detail {
    match e {
        crate::engine::error::DeskError::Invalid(m) => {
            Detail::new(StatusCode::UNPROCESSABLE_ENTITY, m)
        }
        other => other.into(),
    }
}

/// `WS /ws/runs/{run_id}`: the run's `LiveBarEvent`s; a finished run sends its final state and closes.
async fn run_ws(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let slot = match super::ws::slot(&s, &s.sockets.runs, "/ws/runs") {
        Ok(slot) => slot,
        Err(busy) => return axum::response::IntoResponse::into_response(busy),
    };
    let sub = s.runs.subscribe(&id);
    let last = {
        let id = id.clone();
        s.runs.get(&id).await.ok()
    };
    let stop = s.shutdown.clone();
    ws.on_upgrade(move |mut socket| async move {
        use axum::extract::ws::Message;
        let _slot = slot;
        let Some(mut rx) = sub else {
            let msg = match last {
                Some(st) => crate::services::runs::live_event(&st, st.candles.last().cloned()),
                None => json!({ "type": "error", "detail": format!("unknown run {id}") }),
            };
            let _ = socket.send(Message::Text(msg.to_string().into())).await;
            return;
        };
        loop {
            let ev = tokio::select! {
                _ = stop.cancelled() => break,
                _ = super::ws::closed(&mut socket) => break,
                ev = rx.recv() => match ev {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => json!({ "type": "lagged", "missed": n }),
                    Err(_) => break,
                },
            };
            let done = ev["type"] != "lagged" && ev["lifecycle"] != "live";
            if socket
                .send(Message::Text(ev.to_string().into()))
                .await
                .is_err()
                || done
            {
                break;
            }
        }
    })
}

/// `WS /ws/stream`: every engine event and every run event, as JSON, as they happen.
async fn stream_ws(State(s): State<AppState>, ws: axum::extract::ws::WebSocketUpgrade) -> Response {
    let slot = match super::ws::slot(&s, &s.sockets.stream, "/ws/stream") {
        Ok(slot) => slot,
        Err(busy) => return axum::response::IntoResponse::into_response(busy),
    };
    let mut runs_rx = s.runs.stream();
    let mut desk_rx = s.engine.subscribe();
    let stop = s.shutdown.clone();
    ws.on_upgrade(move |mut socket| async move {
        use axum::extract::ws::Message;
        let _slot = slot;
        loop {
            let msg = tokio::select! {
                _ = stop.cancelled() => break,
                _ = super::ws::closed(&mut socket) => break,
                ev = runs_rx.recv() => match ev { Ok(v) => v, Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => json!({ "type": "lagged", "missed": n }), Err(_) => break },
                ev = desk_rx.recv() => match ev { Ok(e) => json!({ "type": "engine", "event": e }), Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => json!({ "type": "lagged", "missed": n }), Err(_) => break },
            };
            if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                break;
            }
        }
    })
}

#[derive(serde::Deserialize)]
struct RunsQuery {
    #[serde(default)]
    summary: bool,
}

/// Every run as a full `RunStatus`, newest first; `?summary=true` gives the light list (no bars
/// or series) the console polls.
async fn list_runs(
    State(s): State<AppState>,
    Query(q): Query<RunsQuery>,
) -> Result<Response, Detail> {
    use axum::response::IntoResponse;
    let summaries = s.runs.summaries(500).await?;
    if q.summary {
        return Ok(Json(summaries).into_response());
    }
    let mut full = Vec::with_capacity(summaries.len());
    for r in summaries {
        full.push(s.runs.get(&r.run_id).await?);
    }
    Ok(Json(full).into_response())
}

async fn get_run(
    State(s): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<impl serde::Serialize>, Detail> {
    let r = s.runs.get(&id).await?;
    Ok(Json(r))
}

/// The fixed demo comparison: built-in prices, an EMA seeded the pandas way (Python) and the Pine
/// way (SMA of the first 21), through the real comparison. Body: `{"tolerance": 0.001}` (optional).
async fn demo_comparison(body: axum::body::Bytes) -> Result<Json<impl serde::Serialize>, Detail> {
    #[derive(serde::Deserialize)]
    struct DemoBody {
        #[serde(default = "default_tol")]
        tolerance: f64,
        #[serde(default)]
        warmup_bars: usize,
    }
    fn default_tol() -> f64 {
        1e-3
    }
    let b: DemoBody = parse_body(&body)?;
    if !(b.tolerance.is_finite() && b.tolerance >= 0.0) {
        return Err(Detail::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "tolerance must be a number ≥ 0",
        ));
    }
    let n = 120usize;
    let closes: Vec<f64> = (0..n)
        .map(|i| 713.0 + (i as f64 * 0.21).sin() * 3.0 + i as f64 * 0.02)
        .collect();
    let ts: Vec<i64> = (0..n as i64)
        .map(|i| 1_740_627_900_000 + i * 300_000)
        .collect();
    let a = 2.0 / 22.0;
    let mut prev = closes[0];
    let py: Vec<f64> = closes
        .iter()
        .map(|c| {
            prev = a * c + (1.0 - a) * prev;
            prev
        })
        .collect();
    let mut pine = vec![f64::NAN; n];
    let mut p = closes[..21].iter().sum::<f64>() / 21.0;
    pine[20] = p;
    for i in 21..n {
        p = a * closes[i] + (1.0 - a) * p;
        pine[i] = p;
    }
    let cfg: runs::RunConfig = serde_json::from_value(json!({ "tolerance": b.tolerance, "warmup_bars": b.warmup_bars, "selected_outputs": ["ema_fast"] }))
        .map_err(|e| Detail::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let python = vec![runs::python::Column {
        name: "ema_fast".into(),
        is_bool: false,
        values: py,
    }];
    let pine = vec![runs::compare::Series {
        name: "emaFast".into(),
        is_bool: false,
        ts: ts.clone(),
        values: pine,
    }];
    let (mut comparison, _, warnings) = runs::compare_all(
        &ts,
        &python,
        &pine,
        &cfg,
        &[],
        "emaFast = ta.ema(close, 21)",
    );
    comparison["run_mode"] = json!("demo");
    comparison["live"] = json!(false);
    comparison["warnings"] = json!(warnings);
    Ok(Json(comparison))
}
