//! Bad input over real HTTP: every case gets the right 4xx in the `{ok:false, error}` shape and
//! `/api/state` is identical before and after.
use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Case {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    content_type: &'static str,
    status: StatusCode,
    error_contains: &'static str,
}

fn case(
    what: &'static str,
    path: &str,
    body: Value,
    status: StatusCode,
    error_contains: &'static str,
) -> Case {
    Case {
        what,
        method: Method::POST,
        path: path.to_string(),
        body: Some(serde_json::to_vec(&body).unwrap()),
        content_type: "application/json",
        status,
        error_contains,
    }
}

fn raw(
    what: &'static str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    status: StatusCode,
    error_contains: &'static str,
) -> Case {
    Case {
        what,
        method,
        path: path.to_string(),
        body,
        content_type: "text/plain",
        status,
        error_contains,
    }
}

#[tokio::test]
async fn bad_input_table_gets_4xx_and_changes_nothing() {
    let d = TestDesk::start().await;
    // Some state to protect: a position, an armed exit, a claimed order elsewhere.
    d.open_position("ES", "BUY", 5000.0).await;
    d.advance(300).await; // the candle lock is account-wide
    d.make_ready("NQ", "green", 20000.0).await;
    d.entry(json!({ "asset": "NQ" })).await;
    let nq_order = d.poll().await[0]["id"].as_str().unwrap().to_string();

    use StatusCode as S;
    let big = {
        let mut v = br#"{"secret":"tv-secret","asset":"ES","color":"green","bar_id":""#.to_vec();
        v.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
        v.extend(br#""}"#);
        v
    };
    let cases = vec![
        case(
            "missing field asset",
            "/api/orders",
            json!({ "trade_mode": "SCALP" }),
            S::BAD_REQUEST,
            "missing field `asset`",
        ),
        case(
            "wrong type asset",
            "/api/orders",
            json!({ "asset": 5 }),
            S::BAD_REQUEST,
            "invalid type",
        ),
        case(
            "wrong type force",
            "/api/exit",
            json!({ "asset": "ES", "force": "yes" }),
            S::BAD_REQUEST,
            "invalid type",
        ),
        case(
            "bad direction",
            "/api/orders",
            json!({ "asset": "NQ", "direction": "UP" }),
            S::BAD_REQUEST,
            "not one of BUY, SELL",
        ),
        case(
            "bad trade mode",
            "/api/orders",
            json!({ "asset": "NQ", "trade_mode": "YOLO" }),
            S::BAD_REQUEST,
            "SCALP, RUNNER",
        ),
        case(
            "bad size mode",
            "/api/orders",
            json!({ "asset": "NQ", "entry_size_mode": "7pt" }),
            S::BAD_REQUEST,
            "6pt, 9pt",
        ),
        case(
            "unknown asset order",
            "/api/orders",
            json!({ "asset": "CL", "trade_mode": "SCALP" }),
            S::BAD_REQUEST,
            "unknown asset: CL",
        ),
        case(
            "unknown asset exit",
            "/api/exit",
            json!({ "asset": "CL", "force": true }),
            S::BAD_REQUEST,
            "unknown asset",
        ),
        case(
            "unknown asset protect",
            "/api/protect",
            json!({ "asset": "CL", "enabled": true }),
            S::BAD_REQUEST,
            "unknown asset",
        ),
        case(
            "unknown asset brick",
            "/tv_renko_main",
            json!({ "secret": TV, "asset": "CL", "color": "green", "bar_id": "b" }),
            S::BAD_REQUEST,
            "unknown asset",
        ),
        case(
            "unknown asset heartbeat",
            "/tv_heartbeat",
            json!({ "secret": TV, "symbol": "CL", "price": 70.0 }),
            S::BAD_REQUEST,
            "unknown asset",
        ),
        case(
            "price not a number",
            "/tv_heartbeat",
            json!({ "secret": TV, "symbol": "ES", "price": "lots" }),
            S::BAD_REQUEST,
            "not a number",
        ),
        case(
            "negative price",
            "/tv_heartbeat",
            json!({ "secret": TV, "symbol": "ES", "price": -1.0 }),
            S::BAD_REQUEST,
            "positive",
        ),
        case(
            "bad webhook secret",
            "/tv_renko_main",
            json!({ "secret": "nope", "asset": "ES", "color": "red", "bar_id": "b" }),
            S::UNAUTHORIZED,
            "bad webhook secret",
        ),
        case(
            "missing webhook secret",
            "/tv_heartbeat",
            json!({ "symbol": "ES", "price": 1.0 }),
            S::UNAUTHORIZED,
            "secret is required",
        ),
        case(
            "bad bridge secret",
            "/api/bridge/heartbeat",
            json!({ "secret": "nope", "tsConnected": true, "mdConnected": true }),
            S::UNAUTHORIZED,
            "bad bridge secret",
        ),
        case(
            "bad bridge secret snapshot",
            "/api/rithmic/pnl-snapshot",
            json!({ "secret": "nope", "realized": 0.0, "unrealized": 0.0 }),
            S::UNAUTHORIZED,
            "bad bridge secret",
        ),
        raw(
            "bad bridge secret poll",
            Method::GET,
            "/api/orders/pending?secret=nope",
            None,
            S::UNAUTHORIZED,
            "bad bridge secret",
        ),
        raw(
            "poll limit 0",
            Method::GET,
            &format!("/api/orders/pending?secret={BRIDGE}&limit=0"),
            None,
            S::BAD_REQUEST,
            "limit must be",
        ),
        raw(
            "poll limit text",
            Method::GET,
            &format!("/api/orders/pending?secret={BRIDGE}&limit=ten"),
            None,
            S::BAD_REQUEST,
            "limit must be",
        ),
        case(
            "report bad secret",
            &format!("/api/orders/{nq_order}/execution-report"),
            json!({ "secret": "nope", "status": "WORKING" }),
            S::UNAUTHORIZED,
            "bad bridge secret",
        ),
        case(
            "report bad status",
            &format!("/api/orders/{nq_order}/execution-report?secret={BRIDGE}"),
            json!({ "status": "DONE" }),
            S::BAD_REQUEST,
            "status must be",
        ),
        case(
            "report wrong side",
            &format!("/api/orders/{nq_order}/execution-report?secret={BRIDGE}"),
            json!({ "status": "WORKING", "extra": { "side": "SELL" } }),
            S::BAD_REQUEST,
            "does not match",
        ),
        case(
            "unknown order id",
            &format!("/api/orders/ord-nope/execution-report?secret={BRIDGE}"),
            json!({ "status": "WORKING" }),
            S::NOT_FOUND,
            "unknown order: ord-nope",
        ),
        raw(
            // the secret is looked for before anything else: a body it cannot be read from
            // is refused for the secret, telling nothing of the schema
            "non-JSON webhook",
            Method::POST,
            "/tv_renko_main",
            Some(b"color=green&asset=ES".to_vec()),
            S::UNAUTHORIZED,
            "secret is required",
        ),
        raw(
            "text/plain operator",
            Method::POST,
            "/api/orders",
            Some(b"{asset: ES".to_vec()),
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type text/plain",
        ),
        Case {
            content_type: "application/json",
            ..raw(
                "non-JSON operator",
                Method::POST,
                "/api/orders",
                Some(b"{asset: ES".to_vec()),
                S::BAD_REQUEST,
                "not valid JSON",
            )
        },
        case(
            "brick without asset",
            "/tv_renko_main",
            json!({ "secret": TV, "color": "green", "bar_ts": "1" }),
            S::BAD_REQUEST,
            "missing field `asset`",
        ),
        case(
            "resolve without confirm",
            "/api/orders/resolve",
            json!({ "order_id": nq_order, "action": "cancel" }),
            S::BAD_REQUEST,
            "\"confirm\": true",
        ),
        case(
            "resolve filled without price",
            "/api/orders/resolve",
            json!({ "order_id": nq_order, "action": "filled", "confirm": true }),
            S::BAD_REQUEST,
            "needs fill_price",
        ),
        case(
            "resolve bad action",
            "/api/orders/resolve",
            json!({ "order_id": nq_order, "action": "forget", "confirm": true }),
            S::BAD_REQUEST,
            "cancel, filled",
        ),
        case(
            "resolve unknown order",
            "/api/orders/resolve",
            json!({ "order_id": "ord-nope", "action": "cancel", "confirm": true }),
            S::NOT_FOUND,
            "unknown order: ord-nope",
        ),
        raw(
            "2 MiB body",
            Method::POST,
            "/tv_renko_main",
            Some(big),
            S::PAYLOAD_TOO_LARGE,
            "larger than 1024 KiB",
        ),
        case(
            "protect threshold out of range",
            "/api/protect",
            json!({ "asset": "ES", "enabled": true, "threshold": -3.0 }),
            S::BAD_REQUEST,
            "threshold must be -2.0 or 0.5",
        ),
        case(
            "protect threshold wrong type",
            "/api/protect",
            json!({ "asset": "ES", "enabled": true, "threshold": "low" }),
            S::BAD_REQUEST,
            "invalid type",
        ),
        case(
            "points tp negative",
            "/api/points-take-profit",
            json!({ "asset": "ES", "enabled": true, "target": -1.0 }),
            S::BAD_REQUEST,
            "target must be",
        ),
        case(
            "tp target zero",
            "/api/take-profit",
            json!({ "asset": "ES", "tp_target": 0 }),
            S::BAD_REQUEST,
            "tp_target must be",
        ),
        case(
            "tp arm nonsense",
            "/api/take-profit",
            json!({ "asset": "ES", "tp_arm": "maybe" }),
            S::BAD_REQUEST,
            "tp_arm must be",
        ),
        case(
            "take profit nothing",
            "/api/take-profit",
            json!({ "asset": "ES" }),
            S::BAD_REQUEST,
            "nothing to do",
        ),
        case(
            "bad env",
            "/api/env",
            json!({ "env": "PROD" }),
            S::BAD_REQUEST,
            "DEMO, LIVE",
        ),
        case(
            "snapshot NaN-ish",
            "/api/rithmic/pnl-snapshot",
            json!({ "secret": BRIDGE, "realized": "lots", "unrealized": 0.0 }),
            S::BAD_REQUEST,
            "invalid type",
        ),
        raw(
            "unknown route",
            Method::POST,
            "/api/nope",
            None,
            S::NOT_FOUND,
            "no route POST /api/nope",
        ),
        raw(
            "wrong method",
            Method::GET,
            "/api/exit",
            None,
            S::METHOD_NOT_ALLOWED,
            "GET is not allowed",
        ),
    ];
    let before = d.state_without_clock().await;
    let (_, orders_before) = d.get("/api/orders?limit=1000").await;
    for c in cases {
        let mut req = d
            .client
            .request(c.method.clone(), d.url(&c.path))
            .header("content-type", c.content_type);
        if let Some(b) = c.body {
            req = req.body(b);
        }
        let (code, body) = read(req.send().await.unwrap()).await;
        assert_eq!(code, c.status, "{}: {body}", c.what);
        assert_eq!(body["ok"], false, "{}: {body}", c.what);
        let msg = body["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(c.error_contains),
            "{}: {msg:?} lacks {:?}",
            c.what,
            c.error_contains
        );
        assert_eq!(
            d.state_without_clock().await,
            before,
            "{} changed the state",
            c.what
        );
    }
    let (_, orders_after) = d.get("/api/orders?limit=1000").await;
    assert_eq!(orders_before, orders_after);
}

/// Where an error answer puts its message, per surface shape.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Seed 001: `{ok: false, error}`.
    Desk,
    /// Seeds 000 and 002: `{detail}`.
    Detail,
    /// Seed 003: `{error}`.
    Plain,
    /// Seed 004: `{error: {code, message, details}}`.
    Envelope,
}

fn message(shape: Shape, body: &Value) -> Option<&str> {
    match shape {
        Shape::Desk => (body["ok"] == false)
            .then(|| body["error"].as_str())
            .flatten(),
        Shape::Detail => body["detail"].as_str(),
        Shape::Plain => body["error"].as_str(),
        Shape::Envelope => {
            let e = &body["error"];
            (e["code"].is_string() && e["details"].is_object())
                .then(|| e["message"].as_str())
                .flatten()
        }
    }
}

#[tokio::test]
async fn every_surface_answers_its_own_error_shape_even_for_the_frameworks_refusals() {
    let d = TestDesk::start().await;
    let big = vec![b' '; 2 * 1024 * 1024];
    /// (what, method, path, body, logged in, status, shape)
    type ShapeCase = (
        &'static str,
        Method,
        &'static str,
        Option<Vec<u8>>,
        bool,
        StatusCode,
        Shape,
    );
    let cases: Vec<ShapeCase> = vec![
        // query strings the framework cannot read, per surface
        (
            "desk query string",
            Method::GET,
            "/api/orders?limit=abc",
            None,
            true,
            StatusCode::BAD_REQUEST,
            Shape::Desk,
        ),
        (
            "seed 000 query string",
            Method::GET,
            "/runs?summary=maybe",
            None,
            true,
            StatusCode::BAD_REQUEST,
            Shape::Detail,
        ),
        (
            "bridge query string with a repeated field",
            Method::GET,
            "/api/orders/pending?secret=a&secret=b",
            None,
            false,
            StatusCode::BAD_REQUEST,
            Shape::Desk,
        ),
        // bodies the framework will not buffer
        (
            "webhook body over the limit",
            Method::POST,
            "/tv_renko",
            Some(big.clone()),
            false,
            StatusCode::PAYLOAD_TOO_LARGE,
            Shape::Desk,
        ),
        (
            "seed 000 no session",
            Method::GET,
            "/runs",
            None,
            false,
            StatusCode::UNAUTHORIZED,
            Shape::Detail,
        ),
        (
            "seed 000 unknown path",
            Method::GET,
            "/nope",
            None,
            true,
            StatusCode::NOT_FOUND,
            Shape::Detail,
        ),
        (
            "seed 000 wrong method",
            Method::GET,
            "/runs/replay",
            None,
            true,
            StatusCode::METHOD_NOT_ALLOWED,
            Shape::Detail,
        ),
        (
            "seed 000 body too large",
            Method::POST,
            "/runs/replay",
            Some(big.clone()),
            true,
            StatusCode::PAYLOAD_TOO_LARGE,
            Shape::Detail,
        ),
        (
            "seed 000 not JSON",
            Method::POST,
            "/runs/replay",
            Some(b"{nope".to_vec()),
            true,
            StatusCode::UNPROCESSABLE_ENTITY,
            Shape::Detail,
        ),
        (
            "seed 000 unknown run",
            Method::GET,
            "/runs/run-nope",
            None,
            true,
            StatusCode::NOT_FOUND,
            Shape::Detail,
        ),
        (
            "seed 001 no session",
            Method::GET,
            "/api/state",
            None,
            false,
            StatusCode::UNAUTHORIZED,
            Shape::Desk,
        ),
        (
            "seed 001 unknown path",
            Method::GET,
            "/api/nope",
            None,
            true,
            StatusCode::NOT_FOUND,
            Shape::Desk,
        ),
        (
            "seed 001 body too large",
            Method::POST,
            "/api/exit",
            Some(big),
            true,
            StatusCode::PAYLOAD_TOO_LARGE,
            Shape::Desk,
        ),
        (
            "seed 002 unknown path",
            Method::GET,
            "/api/backtests/1/nope",
            None,
            true,
            StatusCode::NOT_FOUND,
            Shape::Detail,
        ),
        (
            "seed 003 unknown path",
            Method::GET,
            "/api/jobs/nope",
            None,
            true,
            StatusCode::NOT_FOUND,
            Shape::Plain,
        ),
        (
            "seed 003 probe path",
            Method::GET,
            "/healthz/x",
            None,
            true,
            StatusCode::NOT_FOUND,
            Shape::Plain,
        ),
        (
            "seed 004 unknown path",
            Method::GET,
            "/api/v1/nope",
            None,
            true,
            StatusCode::NOT_FOUND,
            Shape::Envelope,
        ),
    ];
    for (what, method, path, body, session, status, shape) in cases {
        let client = if session { &d.client } else { &d.anon };
        let mut req = client.request(method, d.url(path));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let (code, answer) = read(req.send().await.unwrap()).await;
        assert_eq!(code, status, "{what}: {answer}");
        assert!(
            message(shape, &answer).is_some_and(|m| !m.is_empty()),
            "{what}: not in the {shape:?} shape: {answer}"
        );
    }
}
