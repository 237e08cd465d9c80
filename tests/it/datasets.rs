//! Dataset import over real HTTP (seed 000): xlsx and CSV of the same data give the same dataset;
//! mappings are inferred from names and values; every bad file yields its validation issue.
use crate::support::*;
use brickdesk::engine::datasets::columnar;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// 30 five-minute bars in Asia/Kolkata wall time, as (local text, o, h, l, c, v).
fn bars() -> Vec<(String, f64, f64, f64, f64, f64)> {
    (0..30)
        .map(|i| {
            let t = chrono::NaiveDate::from_ymd_opt(2025, 2, 27)
                .unwrap()
                .and_hms_opt(9, 15, 0)
                .unwrap()
                + chrono::Duration::minutes(5 * i);
            let c = 713.5 + (i as f64 * 0.37).sin() * 2.0;
            (
                t.format("%Y-%m-%d %H:%M:%S").to_string(),
                c - 0.25,
                c + 0.5,
                c - 0.75,
                c,
                1000.0 + i as f64,
            )
        })
        .collect()
}

fn source(path: &std::path::Path, kind: &str) -> Value {
    json!({ "type": kind, "name": "SBIN test", "file_path": path, "symbol": "SBIN", "timeframe": "5m",
            "timezone": "Asia/Kolkata", "mapping": {}, "session": null, "extra": {} })
}

async fn import(d: &TestDesk, body: Value) -> Value {
    let (c, b) = d.post("/data-sources/save", body).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    b
}

async fn preview(d: &TestDesk, body: Value) -> Value {
    let (c, b) = d.post("/data-sources/preview", body).await;
    assert_eq!(c, StatusCode::OK, "{b}");
    b
}

fn codes(preview: &Value) -> Vec<String> {
    preview["validation_issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn xlsx_imports_to_the_same_dataset_as_csv() {
    let d = TestDesk::start().await;
    let csv = d.dir.path().join("sbin.csv");
    let mut text = String::from("dt,o,h,l,c,v\n");
    for (t, o, h, l, c, v) in bars() {
        text += &format!("{t},{o},{h},{l},{c},{v}\n");
    }
    std::fs::write(&csv, text).unwrap();
    let xlsx = d.dir.path().join("sbin.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let notes = wb.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write(0, 0, "not the data").unwrap();
    let sheet = wb.add_worksheet();
    sheet.set_name("Bars").unwrap();
    let date_fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (j, h) in ["dt", "o", "h", "l", "c", "v"].iter().enumerate() {
        sheet.write(0, j as u16, *h).unwrap();
    }
    for (i, (t, o, h, l, c, v)) in bars().into_iter().enumerate() {
        let r = i as u32 + 1;
        let dt = rust_xlsxwriter::ExcelDateTime::parse_from_str(&t).unwrap();
        sheet
            .write_datetime_with_format(r, 0, &dt, &date_fmt)
            .unwrap();
        for (j, x) in [o, h, l, c, v].into_iter().enumerate() {
            sheet.write(r, j as u16 + 1, x).unwrap();
        }
    }
    wb.save(&xlsx).unwrap();

    let mut xbody = source(&xlsx, "excel");
    xbody["extra"] = json!({ "sheet": "Bars" });
    let p = preview(&d, xbody.clone()).await;
    assert_eq!(p["preview"]["sheet_names"], json!(["Notes", "Bars"]));
    assert_eq!(p["preview"]["active_sheet"], "Bars");
    assert_eq!(p["preview"]["inferred_mapping"]["timestamp"], "dt");
    assert_eq!(p["preview"]["row_count"], 30);
    // 09:15 in Kolkata is 03:45 UTC
    assert_eq!(
        p["preview"]["sample_rows"][0]["timestamp"],
        "2025-02-27T03:45:00+00:00"
    );
    let from_xlsx = import(&d, xbody).await;
    let from_csv = import(&d, source(&csv, "csv")).await;
    assert_eq!(from_csv["row_count"], 30);
    assert_eq!(
        from_csv["columns"],
        json!(["timestamp", "open", "high", "low", "close", "volume"])
    );
    assert!(
        from_csv["dataset_id"]
            .as_str()
            .unwrap()
            .starts_with("dataset-")
    );
    let a = columnar::read(std::path::Path::new(
        from_xlsx["data_path"].as_str().unwrap(),
    ))
    .unwrap();
    let b = columnar::read(std::path::Path::new(
        from_csv["data_path"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(a, b, "the same bars, whatever the source format");
    let (_, list) = d.get("/data-sources").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["name"], "SBIN test");
    // the other sheet has no data: a clear error, nothing stored
    let mut notes_body = source(&xlsx, "excel");
    notes_body["extra"] = json!({ "sheet": "Nope" });
    let (c, b) = d.post("/data-sources/save", notes_body).await;
    assert_eq!(c, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["detail"].as_str().unwrap().contains("no sheet \"Nope\""),
        "{b}"
    );
}

#[tokio::test]
async fn unnamed_timestamp_column_with_offsets_infers_its_mapping() {
    let d = TestDesk::start().await;
    let path = d.dir.path().join("unnamed.csv");
    let mut text = String::from(",a,b,x,y,n\n");
    for (t, o, h, l, c, v) in bars() {
        text += &format!("{}+05:30,{o},{h},{l},{c},{v}\n", t.replace(' ', "T"));
    }
    std::fs::write(&path, text).unwrap();
    let mut body = source(&path, "csv");
    body["timezone"] = json!("America/New_York"); // explicit offsets win over the source zone
    let p = preview(&d, body.clone()).await;
    let m = &p["preview"]["inferred_mapping"];
    assert_eq!(
        m,
        &json!({ "timestamp": "", "open": "a", "high": "b", "low": "x", "close": "y", "volume": "n" })
    );
    assert_eq!(
        p["preview"]["sample_rows"][0]["timestamp"],
        "2025-02-27T03:45:00+00:00"
    );
    assert_eq!(p["validation_issues"], json!([]));
    assert_eq!(import(&d, body).await["row_count"], 30);
}

#[tokio::test]
async fn every_bad_file_yields_its_validation_issue() {
    let d = TestDesk::start().await;
    let good = "dt,open,high,low,close\n2025-01-02 09:00,1,2,0.5,1.5\n2025-01-02 09:05,1.5,2,1,1.8\n2025-01-02 09:10,1.8,2.2,1.7,2\n";
    // (what, file, issue, status, the closes the dataset keeps, oldest first)
    let cases: Vec<(&str, String, &str, StatusCode, &[f64])> = vec![
        (
            "empty",
            String::new(),
            "empty_file",
            StatusCode::UNPROCESSABLE_ENTITY,
            &[],
        ),
        (
            "header only",
            "dt,close\n".into(),
            "empty_file",
            StatusCode::UNPROCESSABLE_ENTITY,
            &[],
        ),
        (
            "no timestamp",
            "a,close\nfoo,1\nbar,2\n".into(),
            "no_timestamp_column",
            StatusCode::UNPROCESSABLE_ENTITY,
            &[],
        ),
        (
            "no close",
            "dt,volume,note\n2025-01-02 09:00,5,x\n".into(),
            "no_close_column",
            StatusCode::UNPROCESSABLE_ENTITY,
            &[],
        ),
        (
            "unparseable",
            format!("{good}someday,1,2,0.5,1.5\n"),
            "unparseable_timestamps",
            StatusCode::OK,
            &[1.5, 1.8, 2.0],
        ),
        (
            "duplicate",
            format!("{good}2025-01-02 09:10,9,9,9,9\n"),
            "duplicate_timestamps",
            StatusCode::OK,
            &[1.5, 1.8, 2.0],
        ),
        (
            "unsorted",
            format!("{good}2025-01-02 08:55,1,2,0.5,1.25\n"),
            "unsorted_timestamps",
            StatusCode::OK,
            &[1.25, 1.5, 1.8, 2.0],
        ),
        (
            "high < low",
            format!("{good}2025-01-02 09:15,2,1,3,2\n"),
            "high_below_low",
            StatusCode::OK,
            &[1.5, 1.8, 2.0, 2.0],
        ),
        (
            "non-numeric",
            format!("{good}2025-01-02 09:15,2,abc,1,2\n"),
            "non_numeric_cells",
            StatusCode::OK,
            &[1.5, 1.8, 2.0],
        ),
        (
            "empty cell",
            format!("{good}2025-01-02 09:15,2,3,1,\n"),
            "non_numeric_cells",
            StatusCode::OK,
            &[1.5, 1.8, 2.0],
        ),
    ];
    for (what, content, code, status, closes) in cases {
        let path = d.dir.path().join(format!("{}.csv", what.replace(' ', "_")));
        std::fs::write(&path, content).unwrap();
        let p = preview(&d, source(&path, "csv")).await;
        assert!(
            codes(&p).contains(&code.to_string()),
            "{what}: {:?}",
            p["validation_issues"]
        );
        let (c, b) = d.post("/data-sources/save", source(&path, "csv")).await;
        assert_eq!(c, status, "{what}: {b}");
        if status == StatusCode::OK {
            let issues = b["validation_issues"].as_array().unwrap();
            let i = issues.iter().find(|i| i["code"] == code).unwrap();
            assert!(!i["message"].as_str().unwrap().is_empty());
            // the bad line is data row 4, and only it
            assert_eq!(
                (&i["rows"], &i["count"]),
                (&json!([4]), &json!(1)),
                "{what}: {i}"
            );
            // which rows the dataset kept, in time order
            let dir = d.dir.path().join("datasets");
            let bars = columnar::read(&dir.join(b["dataset_id"].as_str().unwrap())).unwrap();
            assert_eq!(bars.close, closes, "{what}: the closes kept");
            assert!(
                bars.ts.windows(2).all(|w| w[0] < w[1]),
                "{what}: {:?}",
                bars.ts
            );
            assert_eq!(b["row_count"], closes.len(), "{what}");
            if code == "high_below_low" {
                assert_eq!((bars.high[3], bars.low[3]), (1.0, 3.0), "kept as it is");
            }
        } else {
            assert!(
                b["validation_issues"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["code"] == code),
                "{b}"
            );
        }
    }
    // where: the unparseable row is data row 4, and it is dropped
    let path = d.dir.path().join("where.csv");
    std::fs::write(&path, format!("{good}someday,1,2,0.5,1.5\n")).unwrap();
    let b = import(&d, source(&path, "csv")).await;
    assert_eq!(b["row_count"], 3);
    let i = b["validation_issues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "unparseable_timestamps")
        .unwrap()
        .clone();
    assert_eq!(i["rows"], json!([4]));
    // where, never what: no cell of the file travels in a message
    let m = i["message"].as_str().unwrap();
    assert!(m.contains("row 4") && !m.contains("someday"), "{i}");
    // a missing file and bad JSON
    let p = preview(&d, source(&d.dir.path().join("nonexistent/x.csv"), "csv")).await;
    assert_eq!(p["preview"]["exists"], false);
    assert_eq!(codes(&p), vec!["file_not_found"]);
    let (c, b) = d.post("/data-sources/save", json!({ "name": "x" })).await;
    assert_eq!(c, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `type`"),
        "{b}"
    );
    let (c, b) = d
        .post(
            "/data-sources/save",
            json!({ "type": "polygon", "name": "x", "symbol": "AAPL" }),
        )
        .await;
    assert_eq!(c, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["detail"].as_str().unwrap().contains("no market API key"),
        "{b}"
    );
    let (_, list) = d.get("/data-sources").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        7,
        "only the importable files became datasets (6 cases + where.csv)"
    );
}

#[tokio::test]
async fn health_and_dependencies() {
    let d = TestDesk::start().await;
    let (c, b) = d.get("/health").await;
    assert_eq!((c, &b["status"]), (StatusCode::OK, &json!("ok")));
    assert!(chrono::DateTime::parse_from_rfc3339(b["timestamp"].as_str().unwrap()).is_ok());
    let (_, b) = d.get("/dependencies/status").await;
    for k in ["backend", "ollama", "tradingview_bridge", "market_provider"] {
        assert_eq!(b[k]["name"], k);
        assert!(b[k]["available"].is_boolean());
    }
    assert_eq!(b["market_provider"]["available"], false);
}

#[tokio::test]
async fn polygon_provider_fetches_every_page_when_a_key_is_set() {
    use axum::extract::{Query, State as AxState};
    use axum::routing::get;
    // a local stand-in for polygon: 2 pages of 5-minute aggregates, the key checked
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let agg = |i: i64| json!({ "t": 1_740_627_900_000i64 + i * 300_000, "o": 10.0 + i as f64, "h": 11.0 + i as f64, "l": 9.0 + i as f64, "c": 10.5 + i as f64, "v": 100 });
    let page = move |AxState(base): AxState<String>,
                     Query(q): Query<std::collections::HashMap<String, String>>| async move {
        if q.get("apiKey").map(String::as_str) != Some("pk-test") {
            return axum::Json(json!({ "status": "ERROR", "error": "bad key" }));
        }
        axum::Json(
            json!({ "status": "OK", "results": (0..3).map(agg).collect::<Vec<_>>(), "next_url": format!("{base}/page2") }),
        )
    };
    let page2 = move |Query(q): Query<std::collections::HashMap<String, String>>| async move {
        assert_eq!(q.get("apiKey").map(String::as_str), Some("pk-test"));
        axum::Json(json!({ "status": "OK", "results": (3..5).map(agg).collect::<Vec<_>>() }))
    };
    let app = axum::Router::new()
        .route(
            "/v2/aggs/ticker/{sym}/range/{n}/{unit}/{from}/{to}",
            get(page),
        )
        .route("/page2", get(page2))
        .with_state(base.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    POLYGON.with(|p| *p.borrow_mut() = Some(("pk-test".into(), base)));
    let d = TestDesk::start().await;
    let (_, deps) = d.get("/dependencies/status").await;
    assert_eq!(deps["market_provider"]["available"], true);
    let body = json!({ "type": "polygon", "name": "AAPL 5m", "symbol": "AAPL", "timeframe": "5m", "extra": { "from": "2025-02-27", "to": "2025-02-28" } });
    let (c, p) = d.post("/data-sources/preview", body.clone()).await;
    assert_eq!(c, StatusCode::OK, "{p}");
    assert_eq!(p["preview"]["row_count"], 5);
    assert_eq!(p["capabilities"]["supports_symbol_fetch"], true);
    let meta = import(&d, body).await;
    assert_eq!(meta["row_count"], 5);
    let bars = columnar::read(std::path::Path::new(meta["data_path"].as_str().unwrap())).unwrap();
    assert_eq!(bars.close, vec![10.5, 11.5, 12.5, 13.5, 14.5]);
    assert_eq!(bars.ts[0], 1_740_627_900_000);
    let (c, b) = d
        .post(
            "/data-sources/save",
            json!({ "type": "polygon", "name": "x", "symbol": "AAPL" }),
        )
        .await;
    assert_eq!(c, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("extra.from"));
}

#[tokio::test]
async fn with_a_password_the_parity_routes_need_the_operator_session() {
    let d = TestDesk::start().await;
    let (c, _) = d.post_anon("/runs/replay", json!({})).await;
    assert_eq!(
        c,
        StatusCode::UNAUTHORIZED,
        "running code needs a login when a password is set"
    );
    let (c, _) = d.post_anon("/data-sources/save", json!({})).await;
    assert_eq!(c, StatusCode::UNAUTHORIZED);
    let (c, b) = read(d.anon.get(d.url("/health")).send().await.unwrap()).await;
    assert_eq!(
        (c, &b["status"]),
        (StatusCode::OK, &json!("ok")),
        "liveness stays open"
    );
}
