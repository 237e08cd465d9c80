//! Rows of the rules table: every exit and its reset on close, the 2.5pt lock, the daily stop,
//! the day roll, scale-in. `closes` follows each exit trigger through its fill.
use super::{A, Row, S, brick, e, post, price, row};
use serde_json::{Value, json};

pub(super) fn rows() -> Vec<Row> {
    use S::*;
    let es = |extra: Value| e("ES", extra);
    let open = || Open("ES", "BUY", 5000.0);
    // the signal-count TP armed (N = 3) and one opposite 6pt brick counted (the first 6pt brick
    // only releases the exit lock)
    let counted_one = || {
        vec![
            open(),
            Post(
                "/api/take-profit",
                json!({ "asset": "ES", "tp_target": 3, "tp_arm": "toggle" }),
            ),
            Brick("main", "ES", "green"),
            Brick("main", "ES", "red"),
        ]
    };
    vec![
        // ---- exits ----
        row(
            "the initial exit lock refuses a manual exit",
            vec![open()],
            post("/api/exit", json!({ "asset": "ES" })),
            403,
            "Initial exit lock active — wait for a new 6pt bar (or use force)",
        )
        .then(vec![
            ("/assets/0/locks/exit_lock", json!({ "active": true, "released": false })),
            ("exits", json!(0)),
        ]),
        row(
            "force overrides the exit lock",
            vec![open()],
            post("/api/exit", json!({ "asset": "ES", "force": true })),
            200,
            "",
        )
        .then(vec![("orders/0/source", json!("manual_force"))]),
        row(
            "a fresh 6pt brick releases the exit lock",
            vec![open(), Brick("main", "ES", "green")],
            post("/api/exit", json!({ "asset": "ES" })),
            200,
            "",
        )
        .then(vec![
            ("orders/0/source", json!("manual")),
            ("/assets/0/locks/exit_lock/released", json!(true)),
        ]),
        row(
            "exit-all defaults to force",
            vec![open()],
            post("/api/exit-all", json!({})),
            200,
            "",
        )
        .then(vec![("resp/orders/0/asset", json!("ES")), ("exits", json!(1))]),
        row(
            "protect is refused while flat",
            vec![],
            post(
                "/api/protect",
                json!({ "asset": "ES", "enabled": true, "threshold": -2.0 }),
            ),
            403,
            "No open position for ES",
        ),
        row(
            "protect armed, and the log says so",
            vec![open()],
            post(
                "/api/protect",
                json!({ "asset": "ES", "enabled": true, "threshold": -2.0 }),
            ),
            200,
            "",
        )
        .then(vec![
            ("resp/protect", json!({ "enabled": true, "threshold": -2.0 })),
            ("event", json!("protect ON at -2.0 pts")),
        ]),
        row(
            "protect takes only -2.0 or 0.5",
            vec![open()],
            post(
                "/api/protect",
                json!({ "asset": "ES", "enabled": true, "threshold": -3.0 }),
            ),
            400,
            "threshold must be -2.0 or 0.5 (got -3)",
        ),
        row(
            "protect exits at -2 points",
            vec![
                open(),
                Post("/api/protect", json!({ "asset": "ES", "enabled": true })),
            ],
            price(4998.0),
            200,
            "",
        )
        .then(vec![("exits", json!(1)), ("orders/0/source", json!("protect"))]),
        row(
            "the 2.5pt lock holds protect",
            vec![
                open(),
                Brick("two_half", "ES", "green"),
                Post("/api/protect", json!({ "asset": "ES", "enabled": true })),
            ],
            price(4997.0),
            200,
            "",
        )
        .then(vec![
            ("exits", json!(0)),
            (
                "/assets/0/locks/two_half_lock",
                json!({ "locked": true, "color": "green" }),
            ),
        ]),
        row(
            "a 2.5pt brick against the trade unlocks it, and protect fires",
            vec![
                open(),
                Brick("two_half", "ES", "green"),
                Post("/api/protect", json!({ "asset": "ES", "enabled": true })),
                Hb("ES", 4997.0),
            ],
            brick("two_half", "red"),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/locks/two_half_lock/locked", json!(false)),
            ("orders/0/source", json!("protect")),
        ]),
        row(
            "a neutral 2.5pt brick locks, and never exits",
            vec![open()],
            brick("two_half", "neutral"),
            200,
            "",
        )
        .then(vec![
            (
                "/assets/0/locks/two_half_lock",
                json!({ "locked": true, "color": "neutral" }),
            ),
            ("exits", json!(0)),
        ]),
        row(
            "the fill arms a 15-point TP",
            vec![open()],
            price(5015.0),
            200,
            "",
        )
        .then(vec![("orders/0/source", json!("points_tp"))]),
        row(
            "the 2.5pt lock refuses a new TP target (423)",
            vec![open(), Brick("two_half", "ES", "green")],
            post(
                "/api/points-take-profit",
                json!({ "asset": "ES", "enabled": true, "target": 10.0 }),
            ),
            423,
            "2.5pt lock active — the TP target cannot change until a 2.5pt brick against the trade",
        )
        .then(vec![("/assets/0/exits/points_tp/target", json!(15.0))]),
        row(
            "a TP target beyond 200 points",
            vec![open()],
            post(
                "/api/points-take-profit",
                json!({ "asset": "ES", "enabled": true, "target": 250.0 }),
            ),
            400,
            "target must be a number of points in (0, 200] (got 250)",
        ),
        row(
            "a TP target of no points",
            vec![open()],
            post(
                "/api/points-take-profit",
                json!({ "asset": "ES", "enabled": true, "target": 0.0 }),
            ),
            400,
            "target must be a number of points in (0, 200] (got 0)",
        ),
        row(
            "the signal-count TP route needs something to do",
            vec![open()],
            post("/api/take-profit", json!({ "asset": "ES" })),
            400,
            "nothing to do: give tp_arm, tp_target or reset",
        ),
        row(
            "arming the armed signal-count TP keeps its count",
            counted_one(),
            post("/api/take-profit", json!({ "asset": "ES", "tp_arm": true })),
            200,
            "",
        )
        .then(vec![
            ("resp/take_profit", json!({ "armed": true, "target": 3, "count": 1 })),
            ("/assets/0/exits/signal_tp/count", json!(1)),
        ]),
        row(
            "arming a disarmed signal-count TP counts from zero",
            [
                counted_one(),
                vec![Post("/api/take-profit", json!({ "asset": "ES", "tp_arm": false }))],
            ]
            .concat(),
            post("/api/take-profit", json!({ "asset": "ES", "tp_arm": true })),
            200,
            "",
        )
        .then(vec![("resp/take_profit", json!({ "armed": true, "target": 3, "count": 0 }))]),
        row(
            "the signal-count TP's count resets alone",
            counted_one(),
            post("/api/take-profit", json!({ "asset": "ES", "reset": true })),
            200,
            "",
        )
        .then(vec![("resp/take_profit", json!({ "armed": true, "target": 3, "count": 0 }))]),
        row(
            "the exit lock holds the signal-count TP",
            vec![
                open(),
                Post(
                    "/api/take-profit",
                    json!({ "asset": "ES", "tp_target": 1, "tp_arm": "toggle" }),
                ),
            ],
            brick("main", "red"),
            200,
            "",
        )
        .then(vec![
            ("exits", json!(0)),
            ("/assets/0/exits/signal_tp/count", json!(0)),
        ]),
        row(
            "the signal-count TP after the exit lock",
            vec![
                open(),
                Post(
                    "/api/take-profit",
                    json!({ "asset": "ES", "tp_target": 1, "tp_arm": "toggle" }),
                ),
                Brick("main", "ES", "green"),
            ],
            brick("main", "red"),
            200,
            "",
        )
        .then(vec![("orders/0/source", json!("signal_count_tp"))]),
        row(
            "the 8pt flip exit, on every trade",
            vec![open()],
            brick("high", "red"),
            200,
            "",
        )
        .then(vec![("orders/0/source", json!("high_flip"))]),
        row(
            "the 8pt next-bar exit",
            vec![
                open(),
                Post("/api/high-next-bar-exit", json!({ "asset": "ES" })),
            ],
            brick("high", "green"),
            200,
            "",
        )
        .then(vec![("orders/0/source", json!("high_next_bar"))]),
        row(
            "the 2.5pt lock: the 8pt next-bar exit arms only before the first fresh 8pt brick",
            vec![
                open(),
                Brick("two_half", "ES", "green"),
                Brick("high", "ES", "green"),
            ],
            post("/api/high-next-bar-exit", json!({ "asset": "ES" })),
            423,
            "2.5pt lock active — the 8pt exit can be armed only before the first new 8pt bar",
        ),
        row(
            "… and before it, it arms",
            vec![open(), Brick("two_half", "ES", "green")],
            post("/api/high-next-bar-exit", json!({ "asset": "ES" })),
            200,
            "",
        )
        .then(vec![("resp/enabled", json!(true))]),
        row(
            "a FREE-zone entry arms the 6pt flip",
            vec![FreeEs, Entry(es(json!({ "direction": "BUY" }))), Fill(5000.0)],
            brick("main", "red"),
            200,
            "",
        )
        .then(vec![("orders/0/source", json!("main_flip"))]),
        row(
            "no 6pt flip in a NORMAL zone",
            vec![open()],
            brick("main", "red"),
            200,
            "",
        )
        .then(vec![
            ("exits", json!(0)),
            ("/assets/0/exits/main_flip", json!(false)),
        ]),
        row(
            "the 4pt invalidation exit",
            vec![
                open(),
                Post("/api/four-pt-invalidation", json!({ "asset": "ES" })),
            ],
            brick("four", "red"),
            200,
            "",
        )
        .then(vec![("orders/0/source", json!("four_pt_invalidation"))]),
        row(
            "a level exit waits while an order is pending",
            vec![
                open(),
                Brick("main", "ES", "green"),
                Post("/api/scale-in", json!({ "asset": "ES" })),
            ],
            post("/tv_level_exit", json!({ "asset": "ES" })),
            200,
            "",
        )
        .then(vec![
            ("exits", json!(0)),
            ("event", json!("level exit received: an order is already pending")),
        ]),
        row(
            "an exit met while a scale-in is in flight waits for it, then goes",
            vec![
                open(),
                Brick("main", "ES", "green"),
                Post("/api/scale-in", json!({ "asset": "ES" })),
                Brick("high", "ES", "red"),
            ],
            A::Report("REJECTED"),
            200,
            "",
        )
        .then(vec![
            ("orders/0/kind", json!("EXIT")),
            ("orders/0/source", json!("high_flip")),
            ("/assets/0/exit_waiting", Value::Null),
            ("event", json!("exit (high_flip) waits for order")),
        ]),
        row(
            "server_side_stop holds a quarter point short of its distance",
            vec![open()],
            price(4994.25),
            200,
            "",
        )
        .with(|s| s.server_side_stop = true)
        .then(vec![("exits", json!(0))]),
        row(
            "a trigger met while an exit is pending leaves nothing waiting",
            vec![open(), Post("/api/exit", json!({ "asset": "ES", "force": true }))],
            brick("high", "red"),
            200,
            "",
        )
        .then(vec![
            ("exits", json!(1)),
            ("orders/0/source", json!("manual_force")),
            ("/assets/0/exit_waiting", Value::Null),
        ]),
        row(
            "a second trigger while a scale-in is in flight keeps the first reason",
            vec![
                open(),
                Brick("main", "ES", "green"),
                Post("/api/four-pt-invalidation", json!({ "asset": "ES" })),
                Post("/api/scale-in", json!({ "asset": "ES" })),
                Brick("high", "ES", "red"),
            ],
            brick("four", "red"),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/exit_waiting", json!("high_flip")),
            ("exits", json!(0)),
        ]),
        row(
            "a 2.5pt brick of the trade's color locks, and the log says so",
            vec![open()],
            brick("two_half", "green"),
            200,
            "",
        )
        .then(vec![(
            "event",
            json!("2.5pt lock ON (green brick): protect held, TP target locked"),
        )]),
        row(
            "a 2.5pt brick against the trade lifts the lock, and the log says so",
            vec![open(), Brick("two_half", "ES", "green")],
            brick("two_half", "red"),
            200,
            "",
        )
        .then(vec![("event", json!("2.5pt lock OFF (red brick)"))]),
        row(
            "the bridge's openPnl gives the open points when it is as new as the last price",
            vec![open()],
            post("/api/rithmic/pnl-snapshot", snapshot(5, -60.0)),
            200,
            "",
        )
        .then(vec![("/assets/0/position/open_points", json!(-2.4))]),
        row(
            "a price newer than the bridge's snapshot gives the open points",
            vec![open(), Do(post("/api/rithmic/pnl-snapshot", snapshot(5, -60.0))), Wait(1)],
            price(5001.0),
            200,
            "",
        )
        .then(vec![("/assets/0/position/open_points", json!(1.0))]),
        row(
            "a snapshot that disagrees on the position is not the open points",
            vec![open()],
            post("/api/rithmic/pnl-snapshot", snapshot(3, -60.0)),
            200,
            "",
        )
        .then(vec![("/assets/0/position/open_points", json!(0.0))]),
        row(
            "the best open points of the trade are kept",
            vec![open(), Hb("ES", 5003.0)],
            price(5001.0),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/position/max_favorable_points", json!(3.0)),
            ("/assets/0/position/open_points", json!(1.0)),
        ]),
        row(
            "a day that starts at a zero balance has no drawdown stop",
            vec![open(), Balance(0.0)],
            post(
                "/api/rithmic/pnl-snapshot",
                json!({ "realized": 0.0, "unrealized": 0.0, "accountBalance": -100.0 }),
            ),
            200,
            "",
        )
        .then(vec![
            ("/account/daily_stop_triggered", json!(false)),
            ("/account/drawdown_pct", Value::Null),
            ("exits", json!(0)),
        ]),
        row(
            "the broker holds the stop: no server-side stop by default",
            vec![open()],
            price(4990.0),
            200,
            "",
        )
        .then(vec![("exits", json!(0))]),
        row(
            "server_side_stop exits at the entry size's distance",
            vec![open()],
            price(4994.0),
            200,
            "",
        )
        .with(|s| s.server_side_stop = true)
        .then(vec![("orders/0/source", json!("protective_stop"))]),
        row(
            "a close resets every exit toggle and lock, and starts the cooldown",
            vec![
                open(),
                Brick("main", "ES", "green"),
                Post("/api/protect", json!({ "asset": "ES", "enabled": true })),
                Post("/api/four-pt-invalidation", json!({ "asset": "ES" })),
                Post("/api/take-profit", json!({ "asset": "ES", "tp_arm": "toggle" })),
                Post("/api/exit", json!({ "asset": "ES" })),
            ],
            A::Fill(5001.0),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/position", Value::Null),
            (
                "/assets/0/exits",
                json!({ "protect": { "enabled": false, "threshold": -2.0 },
                        "points_tp": { "enabled": false, "target": 15.0 },
                        "signal_tp": { "armed": false, "target": 3, "count": 0 },
                        "high_next_bar": false, "high_flip": false, "main_flip": false,
                        "four_pt_invalidation": false, "protective_stop_points": null }),
            ),
            ("/assets/0/locks/exit_lock/active", json!(false)),
            ("/assets/0/scale_in_stage", Value::Null),
            ("/account/cooldown/seconds_remaining", json!(180)),
            ("/account/trade_count", json!(1)),
        ]),
        row(
            "the daily stop at a 30 % drawdown of the day's starting balance",
            vec![open(), Balance(50_000.0)],
            post(
                "/api/rithmic/pnl-snapshot",
                json!({ "realized": 0.0, "unrealized": -15000.0, "accountBalance": 35_000.0 }),
            ),
            200,
            "",
        )
        .then(vec![
            ("orders/0/source", json!("daily_stop")),
            ("/account/daily_stop_triggered", json!(true)),
            ("/account/drawdown_pct", json!(30.0)),
            ("/account/day_start_balance", json!(50_000.0)),
        ]),
        row(
            "the daily stop by USD when daily_stop_usd is set",
            vec![open()],
            price(4980.0),
            200,
            "",
        )
        .with(|s| s.daily_stop_usd = Some(500.0))
        .then(vec![
            ("orders/0/source", json!("daily_stop")),
            ("/account/daily_stop_reason", json!("day PnL -500.00 reached -500.00")),
        ]),
        row(
            "no USD stop unless it is set",
            vec![open()],
            price(4980.0),
            200,
            "",
        )
        .then(vec![
            ("exits", json!(0)),
            ("/account/daily_stop_triggered", json!(false)),
        ]),
        row(
            "the day rolls at 17:00 Chicago: the daily stop and the count reset",
            vec![
                open(),
                Balance(50_000.0),
                Balance(35_000.0),
                Wait(7 * 3600 + 29 * 60 + 5),
            ],
            post("/api/trade-limit/consume", json!({})),
            200,
            "",
        )
        .then(vec![
            ("resp/trade_count", json!(1)),
            ("/account/daily_stop_triggered", json!(false)),
            ("/account/trading_day", json!("2026-03-11")),
        ]),
        row(
            "the 2.5pt TP lock route is automatic only (423)",
            vec![],
            post("/api/two-half-tp-lock", json!({ "asset": "ES" })),
            423,
            "2.5pt TP lock is automatic only: manual management is disabled",
        ),
        // ---- scale-in ----
        row(
            "scale-in waits for its stage",
            vec![open()],
            post("/api/scale-in", json!({ "asset": "ES" })),
            403,
            "Scale-in not available — wait for a new 6pt bar in the trade's color or a 4pt pullback",
        )
        .then(vec![("/assets/0/scale_in_stage", json!("WAIT"))]),
        row(
            "scale-in READY_6PT: an ENTRY with source SCALE_IN, no gate, no tempo or candle spent",
            vec![open(), Brick("main", "ES", "green")],
            post("/api/scale-in", json!({ "asset": "ES" })),
            200,
            "",
        )
        .then(vec![
            ("resp/order/kind", json!("ENTRY")),
            ("resp/order/source", json!("SCALE_IN")),
            ("resp/order/qty", json!(5)),
            ("/assets/0/scale_in_stage", json!("READY_6PT")),
            ("/assets/0/tempo_token", json!("READY")),
        ]),
        row(
            "scale-in reaches the bridge as ENTRY/SCALE_IN, fills, and is DONE; no trade counted",
            vec![
                open(),
                Brick("main", "ES", "green"),
                Post("/api/scale-in", json!({ "asset": "ES" })),
                Poll,
            ],
            A::Fill(5006.0),
            200,
            "",
        )
        .then(vec![
            ("claimed/0/kind", json!("ENTRY")),
            ("claimed/0/source", json!("SCALE_IN")),
            ("/assets/0/position/qty", json!(10)),
            ("/assets/0/position/avg_price", json!(5003.0)),
            ("/assets/0/scale_in_stage", json!("DONE")),
            ("/account/trade_count", json!(1)),
        ]),
        row(
            "scale-in once per trade",
            vec![
                open(),
                Brick("main", "ES", "green"),
                Post("/api/scale-in", json!({ "asset": "ES" })),
                Fill(5006.0),
            ],
            post("/api/scale-in", json!({ "asset": "ES" })),
            403,
            "Scale-in already used for this trade",
        ),
        row(
            "scale-in READY_4PT_PULLBACK: a 4pt brick flipping against the trade",
            vec![Brick("four", "ES", "green"), open()],
            brick("four", "red"),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/scale_in_stage", json!("READY_4PT_PULLBACK")),
            ("/assets/0/scale_in_available", json!(true)),
        ]),
        row(
            "a rejected scale-in is available again",
            vec![
                open(),
                Brick("main", "ES", "green"),
                Post("/api/scale-in", json!({ "asset": "ES" })),
            ],
            A::Report("REJECTED"),
            200,
            "",
        )
        .then(vec![
            ("/assets/0/scale_in_stage", json!("READY_6PT")),
            ("/assets/0/scale_in_available", json!(true)),
            ("/account/trade_count", json!(1)),
        ]),
    ]
}

/// Each exit trigger fires, the bridge fills the exit, and the close resets the trade's state:
/// every toggle off (the TP targets back to their defaults), no lock, no scale-in stage, the
/// tempo token spent, the account-wide cooldown started and the trade counted.
/// A PnL snapshot of the bridge with ES's signed position and open PnL (USD).
fn snapshot(position: i64, open_pnl: f64) -> Value {
    json!({ "realized": 0.0, "unrealized": open_pnl, "accountBalance": 50_000.0,
            "symbols": [{ "symbol": "MESM6", "position": position, "openPnl": open_pnl }] })
}

pub(super) fn closes() -> Vec<Row> {
    use S::*;
    let open = || Open("ES", "BUY", 5000.0);
    let on = |path: &'static str, body: Value| Post(path, body);
    let es = || json!({ "asset": "ES" });
    let mut rows = Vec::new();
    let cases: Vec<(&'static str, Vec<S>, f64)> = vec![
        (
            "protect",
            vec![
                open(),
                on("/api/protect", json!({ "asset": "ES", "enabled": true })),
                Hb("ES", 4998.0),
            ],
            4998.0,
        ),
        (
            "protect",
            vec![
                open(),
                Hb("ES", 5001.0),
                on(
                    "/api/protect",
                    json!({ "asset": "ES", "enabled": true, "threshold": 0.5 }),
                ),
                Hb("ES", 5000.5),
            ],
            5000.5,
        ),
        ("points_tp", vec![open(), Hb("ES", 5015.0)], 5015.0),
        (
            "signal_count_tp",
            vec![
                open(),
                on(
                    "/api/take-profit",
                    json!({ "asset": "ES", "tp_target": 2, "tp_arm": "toggle" }),
                ),
                Brick("main", "ES", "green"),
                Brick("main", "ES", "red"),
                Brick("main", "ES", "red"),
            ],
            4999.0,
        ),
        (
            "high_flip",
            vec![open(), Brick("high", "ES", "red")],
            4999.0,
        ),
        (
            "high_next_bar",
            vec![
                open(),
                on("/api/high-next-bar-exit", es()),
                Brick("high", "ES", "green"),
            ],
            5008.0,
        ),
        (
            "main_flip",
            vec![
                FreeEs,
                Entry(super::e("ES", json!({ "direction": "BUY" }))),
                Fill(5000.0),
                Brick("main", "ES", "red"),
            ],
            4994.0,
        ),
        (
            "four_pt_invalidation",
            vec![
                open(),
                on("/api/four-pt-invalidation", es()),
                Brick("four", "ES", "red"),
            ],
            4996.0,
        ),
        (
            "level_exit",
            vec![open(), Do(post("/tv_level_exit", es()))],
            5002.0,
        ),
        (
            "manual",
            vec![open(), Brick("main", "ES", "green"), on("/api/exit", es())],
            5006.0,
        ),
        (
            "manual_force",
            vec![
                open(),
                on("/api/exit", json!({ "asset": "ES", "force": true })),
            ],
            5000.0,
        ),
    ];
    for (reason, setup, fill) in cases {
        rows.push(row(reason, setup, A::Fill(fill), 200, "").then(vec![
            ("orders/0/source", json!(reason)),
            ("orders/0/status", json!("FILLED")),
            ("/assets/0/position", Value::Null),
            (
                "/assets/0/exits",
                json!({ "protect": { "enabled": false, "threshold": -2.0 },
                            "points_tp": { "enabled": false, "target": 15.0 },
                            "signal_tp": { "armed": false, "target": 3, "count": 0 },
                            "high_next_bar": false, "high_flip": false, "main_flip": false,
                            "four_pt_invalidation": false, "protective_stop_points": null }),
            ),
            ("/assets/0/locks/exit_lock/active", json!(false)),
            ("/assets/0/locks/two_half_lock/locked", json!(false)),
            ("/assets/0/scale_in_stage", Value::Null),
            ("/assets/0/tempo_token", json!("WAIT")),
            ("/account/cooldown/seconds_remaining", json!(180)),
            ("/account/trade_count", json!(1)),
        ]));
    }
    rows
}
