//! Rows of the rules table: the entry gates in order, tempo, the trade count, preorders, intent.
use super::{A, NO_STRUCTURE, PENDING, Row, S, TEMPO, brick, e, post, row};
use serde_json::{Value, json};

pub(super) fn rows() -> Vec<Row> {
    use S::*;
    let es = |extra: Value| e("ES", extra);
    let open = || Open("ES", "BUY", 5000.0);
    let exit_force = || Post("/api/exit", json!({ "asset": "ES", "force": true }));
    vec![
        // ---- the gates, in order: each row also fails the gates after it ----
        row(
            "gate 1: the daily stop wins over the cooldown",
            vec![open(), exit_force(), Fill(5000.0), Balance(50_000.0), Balance(35_000.0)],
            post("/api/orders", es(json!({}))),
            403,
            "Daily stop TRIGGERED — entries blocked for today",
        )
        .then(vec![
            ("/account/daily_stop_triggered", json!(true)),
            ("/account/cooldown/active", json!(true)),
        ]),
        row(
            "gate 2: the cooldown after any close is account-wide and wins over the candle lock",
            vec![
                Open("NQ", "BUY", 20000.0),
                Post("/api/exit", json!({ "asset": "NQ", "force": true })),
                Fill(20000.0),
                Ready("ES", "green", 5000.0),
            ],
            post("/api/orders", es(json!({}))),
            403,
            "POST-EXIT 5 MIN LOCK ACTIVE (03:00 remaining)",
        )
        .then(vec![
            ("/assets/0/locks/cooldown/active", json!(true)),
            ("/account/candle_lock/active", json!(true)),
        ]),
        row(
            "gate 3: one entry per candle, account-wide, before the heartbeat",
            vec![Ready("NQ", "green", 20000.0), Entry(e("NQ", json!({})))],
            post("/api/orders", es(json!({}))),
            403,
            "5 MIN LOCK ACTIVE — one trade already used this candle (04:00 remaining)",
        ),
        row(
            "trade limit: checked before gate 4",
            vec![
                Ready("ES", "green", 5000.0),
                Entry(es(json!({}))),
                Wait(300),
                Post("/api/trade-limit/consume", json!({})),
                Post("/api/trade-limit/consume", json!({})),
                Post("/api/trade-limit/consume", json!({})),
                Post("/api/trade-limit/consume", json!({})),
                Post("/api/trade-limit/consume", json!({})),
                Post("/api/trade-limit/consume", json!({})),
            ],
            post("/api/orders", es(json!({}))),
            403,
            "Daily trade limit reached — 6 of 6 trades used today",
        ),
        row(
            "gate 4: a pending order, before the heartbeat and the tempo token",
            vec![Ready("ES", "green", 5000.0), Entry(es(json!({}))), Wait(601)],
            post("/api/orders", es(json!({}))),
            403,
            PENDING,
        ),
        row(
            "gate 4: an armed preorder counts as pending",
            vec![
                Ready("ES", "green", 5000.0),
                Entry(es(json!({ "order_type": "preorder", "direction": "BUY" }))),
            ],
            post("/api/orders", es(json!({}))),
            403,
            PENDING,
        )
        .then(vec![("/assets/0/preorder/status", json!("PENDING"))]),
        row(
            "gate 5: an open position, before the heartbeat",
            vec![open(), Wait(601)],
            post("/api/orders", es(json!({}))),
            403,
            "Asset already in a trade",
        ),
        row(
            "gate 6: the heartbeat, before the tempo token and the zone",
            vec![],
            post("/api/orders", es(json!({}))),
            403,
            "Heartbeat stale or missing – cannot trade",
        ),
        row(
            "gate 6: in LIVE the bridge too",
            vec![
                Post("/api/env", json!({ "env": "LIVE" })),
                Ready("ES", "green", 5000.0),
            ],
            post("/api/orders", es(json!({}))),
            403,
            "Bridge stale or disconnected – cannot trade LIVE",
        ),
        row(
            "gate 7: the tempo token, before the zone",
            vec![Hb("ES", 5000.0)],
            post("/api/orders", es(json!({}))),
            403,
            TEMPO,
        )
        .then(vec![
            ("/assets/0/zone", json!("NONE")),
            ("/assets/0/tempo_token", json!("WAIT")),
        ]),
        row(
            "gate 8: no 12pt color, no zone",
            vec![
                Hb("ES", 5000.0),
                Brick("high", "ES", "green"),
                Brick("main", "ES", "green"),
            ],
            post("/api/orders", es(json!({}))),
            403,
            NO_STRUCTURE,
        )
        .then(vec![("/assets/0/zone", json!("NONE"))]),
        row(
            "gate 8: a neutral 12pt brick leaves no zone; the refusal spends nothing",
            vec![Ready("ES", "green", 5000.0), Brick("macro", "ES", "neutral")],
            post("/api/orders", es(json!({}))),
            403,
            NO_STRUCTURE,
        )
        .then(vec![
            ("/assets/0/zone", json!("NONE")),
            ("/assets/0/tempo_token", json!("READY")),
            ("/account/candle_lock/active", json!(false)),
        ]),
        row(
            "gate 8: NORMAL refuses a direction against the 8pt color, naming the colors",
            vec![Ready("ES", "green", 5000.0)],
            post("/api/orders", es(json!({ "direction": "SELL" }))),
            409,
            "Structure is BUY (8pt green, 12pt green): SELL entry refused",
        )
        .then(vec![
            ("resp/colors", json!({ "high": "green", "macro": "green" })),
            ("/assets/0/tempo_token", json!("READY")),
        ]),
        row(
            "gate 8: FREE (conflict mode) needs a direction",
            vec![FreeEs],
            post("/api/orders", es(json!({}))),
            400,
            "Free zone: choose direction=BUY/SELL",
        )
        .then(vec![
            ("/assets/0/zone", json!("FREE")),
            ("/assets/0/conflict_mode", json!(true)),
            // the console: an entry in the 2.5pt color's direction would pass
            ("/assets/0/entry_block", Value::Null),
        ]),
        row(
            "the console: a FREE zone with a neutral 2.5pt brick blocks either side",
            vec![FreeEs],
            brick("two_half", "neutral"),
            200,
            "",
        )
        .then(vec![(
            "/assets/0/entry_block",
            json!("Blocked by 2.5pt Renko: neutral"),
        )]),
        row(
            "gate 8: the 2.5pt filter, NORMAL zone",
            vec![Ready("ES", "green", 5000.0), Brick("two_half", "ES", "red")],
            post("/api/orders", es(json!({}))),
            409,
            "Blocked by 2.5pt Renko: red",
        )
        .then(vec![("resp/colors", json!({ "two_half": "red" }))]),
        row(
            "gate 8: the 2.5pt filter, FREE zone",
            vec![FreeEs],
            post("/api/orders", es(json!({ "direction": "SELL" }))),
            409,
            "Blocked by 2.5pt Renko: green",
        ),
        row(
            "created: 201, source UI, 5 contracts; tempo and candle spent, intent cleared, no trade counted yet",
            vec![
                Ready("ES", "green", 5000.0),
                Post("/api/intent", json!({ "asset": "ES" })),
            ],
            post("/api/orders", es(json!({}))),
            201,
            "",
        )
        .then(vec![
            ("resp/order/side", json!("BUY")),
            ("resp/order/qty", json!(5)),
            ("resp/order/source", json!("UI")),
            ("resp/order/mode", json!("A")),
            ("/assets/0/tempo_token", json!("WAIT")),
            ("/account/candle_lock/active", json!(true)),
            ("/assets/0/intent", Value::Null),
            ("/account/trade_count", json!(0)),
        ]),
        row(
            "a 9pt entry sends 3 contracts",
            vec![Ready("ES", "green", 5000.0)],
            post("/api/orders", es(json!({ "entry_size_mode": "9pt" }))),
            201,
            "",
        )
        .then(vec![("resp/order/qty", json!(3))]),
        row(
            "trade_mode is required",
            vec![Ready("ES", "green", 5000.0)],
            post("/api/orders", json!({ "asset": "ES" })),
            400,
            "invalid request: missing field `trade_mode`",
        ),
        row(
            "an override needs a direction",
            vec![Hb("ES", 5000.0), Brick("main", "ES", "green")],
            post("/api/orders", es(json!({ "entry_override": true }))),
            400,
            "Override entry requires direction=BUY/SELL",
        ),
        row(
            "an override skips gate 8 and is recorded",
            vec![Hb("ES", 5000.0), Brick("main", "ES", "green")],
            post(
                "/api/orders",
                es(json!({ "entry_override": true, "direction": "SELL" })),
            ),
            201,
            "",
        )
        .then(vec![
            ("resp/order/entry_override", json!(true)),
            ("resp/order/side", json!("SELL")),
        ]),
        row(
            "an override still needs the tempo token",
            vec![Hb("ES", 5000.0)],
            post(
                "/api/orders",
                es(json!({ "entry_override": true, "direction": "SELL" })),
            ),
            403,
            TEMPO,
        ),
        // ---- tempo ----
        row(
            "tempo: READY again at the next 6pt brick",
            vec![Ready("ES", "green", 5000.0), Entry(es(json!({})))],
            brick("main", "red"),
            200,
            "",
        )
        .then(vec![("/assets/0/tempo_token", json!("READY"))]),
        row(
            "tempo: a 4pt color change while flat re-arms it when the trade saw a fresh 6pt brick",
            vec![
                Brick("four", "ES", "green"),
                open(),
                Brick("main", "ES", "green"),
                Post("/api/exit", json!({ "asset": "ES" })),
                Fill(5001.0),
            ],
            brick("four", "red"),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/tempo_token", json!("READY")),
            ("event", json!("tempo READY: 4pt bar turned red after the exit")),
        ]),
        row(
            "tempo: no early re-arm when the trade saw no fresh 6pt brick",
            vec![Brick("four", "ES", "green"), open(), exit_force(), Fill(5001.0)],
            brick("four", "red"),
            200,
            "",
        )
        .then(vec![("/assets/0/tempo_token", json!("WAIT"))]),
        row(
            "a REJECTED entry gives back the tempo token and the candle; no trade counted",
            vec![Ready("ES", "green", 5000.0), Entry(es(json!({})))],
            A::Report("REJECTED"),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/tempo_token", json!("READY")),
            ("/account/candle_lock/active", json!(false)),
            ("/account/trade_count", json!(0)),
            ("event", json!("tempo token and candle given back")),
        ]),
        row(
            "a CANCELLED entry gives them back too",
            vec![Ready("ES", "green", 5000.0), Entry(es(json!({})))],
            A::Report("CANCELLED"),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/tempo_token", json!("READY")),
            ("/account/candle_lock/active", json!(false)),
        ]),
        row(
            "the trade limit counts the fill",
            vec![Ready("ES", "green", 5000.0), Entry(es(json!({})))],
            A::Fill(5000.0),
            200,
            "",
        )
        .then(vec![("/account/trade_count", json!(1))]),
        row(
            "a FILLED report without a price fills at the last price",
            vec![
                Ready("ES", "green", 5000.0),
                Entry(es(json!({}))),
                Hb("ES", 5002.0),
            ],
            A::Report("FILLED"),
            200,
            "",
        )
        .then(vec![("/assets/0/position/avg_price", json!(5002.0))]),
        // ---- preorder ----
        row(
            "a preorder needs a direction",
            vec![Ready("ES", "green", 5000.0)],
            post("/api/orders", es(json!({ "order_type": "preorder" }))),
            400,
            "Preorder requires direction=BUY/SELL",
        ),
        row(
            "a preorder passes gates 1–7 when armed (the tempo token)",
            vec![Hb("ES", 5000.0)],
            post(
                "/api/orders",
                es(json!({ "order_type": "preorder", "direction": "BUY" })),
            ),
            403,
            TEMPO,
        ),
        row(
            "a preorder arms: 201, PENDING, nothing sent",
            vec![Ready("ES", "green", 5000.0)],
            post(
                "/api/orders",
                es(json!({ "order_type": "preorder", "direction": "BUY" })),
            ),
            201,
            "",
        )
        .then(vec![
            ("resp/preorder/status", json!("PENDING")),
            ("/assets/0/pending_order", Value::Null),
        ]),
        row(
            "a preorder fires on a 6pt brick of its color",
            vec![
                Ready("ES", "green", 5000.0),
                Entry(es(json!({ "order_type": "preorder", "direction": "BUY" }))),
            ],
            brick("main", "green"),
            200,
            "",
        )
        .then(vec![
            ("resp/orders/0/source", json!("PREORDER")),
            ("/assets/0/preorder/status", json!("FILLED")),
            ("/assets/0/pending_order/source", json!("PREORDER")),
            ("/assets/0/tempo_token", json!("WAIT")),
        ]),
        row(
            "a preorder is cancelled by an opposite 6pt brick",
            vec![
                Ready("ES", "green", 5000.0),
                Entry(es(json!({ "order_type": "preorder", "direction": "BUY" }))),
            ],
            brick("main", "red"),
            200,
            "",
        )
        .then(vec![
            ("resp/orders", json!([])),
            ("/assets/0/preorder/status", json!("CANCELLED")),
            ("/assets/0/preorder/reason", json!("6pt brick is red, preorder is BUY")),
            ("/assets/0/tempo_token", json!("READY")),
        ]),
        // ---- intent ----
        row(
            "an intent is refused with a stale heartbeat",
            vec![],
            post("/api/intent", json!({ "asset": "ES" })),
            403,
            "Heartbeat stale or missing – cannot trade",
        ),
        row(
            "an intent is READY at the next 6pt brick",
            vec![Hb("ES", 5000.0), Post("/api/intent", json!({ "asset": "ES" }))],
            brick("main", "green"),
            200,
            "",
        )
        .then(vec![("/assets/0/intent/status", json!("READY"))]),
        row(
            "an intent is EXPIRED one 6pt brick later",
            vec![
                Hb("ES", 5000.0),
                Post("/api/intent", json!({ "asset": "ES" })),
                Brick("main", "ES", "green"),
            ],
            brick("main", "green"),
            200,
            "",
        )
        .then(vec![("/assets/0/intent/status", json!("EXPIRED"))]),
    ]
}
