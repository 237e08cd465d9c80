//! The desk database's schema: its versioned migrations, applied in order by `store::migrate`.

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the operator desk
    "CREATE TABLE orders(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        asset TEXT NOT NULL, symbol TEXT NOT NULL, exchange TEXT NOT NULL,
        side TEXT NOT NULL, qty INTEGER NOT NULL, kind TEXT NOT NULL,
        trade_mode TEXT NOT NULL, entry_size_mode TEXT NOT NULL, env TEXT NOT NULL,
        status TEXT NOT NULL, entry_override INTEGER NOT NULL, reason TEXT, owner TEXT,
        stale INTEGER NOT NULL DEFAULT 0, fill_price REAL,
        created_at TEXT NOT NULL, claimed_at TEXT, updated_at TEXT NOT NULL);
     CREATE INDEX orders_by_status ON orders(status, seq);
     CREATE TABLE bricks(
        id INTEGER PRIMARY KEY,
        asset TEXT NOT NULL, size TEXT NOT NULL, bar_id TEXT NOT NULL,
        color TEXT NOT NULL, open REAL, close REAL, source TEXT NOT NULL,
        received_at TEXT NOT NULL,
        UNIQUE(asset, size, bar_id));
     CREATE INDEX bricks_recent ON bricks(asset, size, id);
     CREATE TABLE fills(
        id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, asset TEXT NOT NULL,
        side TEXT NOT NULL, qty INTEGER NOT NULL, price REAL NOT NULL, at TEXT NOT NULL);
     CREATE TABLE events(
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, asset TEXT,
        message TEXT NOT NULL);
     CREATE TABLE desk_assets(
        asset TEXT PRIMARY KEY, json TEXT NOT NULL, updated_at TEXT NOT NULL);
     CREATE TABLE desk_account(
        id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL, updated_at TEXT NOT NULL);",
    // 2: datasets (seed 000, shared with the research surface later)
    "CREATE TABLE datasets(
        id TEXT PRIMARY KEY, name TEXT NOT NULL, symbol TEXT, timeframe TEXT, timezone TEXT,
        row_count INTEGER NOT NULL, data_path TEXT NOT NULL, source_type TEXT NOT NULL,
        source_path TEXT, meta_json TEXT NOT NULL, created_at TEXT NOT NULL);",
    // 3: parity runs, bridge artifacts, permission grants
    "CREATE TABLE bridge_artifacts(id TEXT PRIMARY KEY, json TEXT NOT NULL, created_at TEXT NOT NULL);
     CREATE TABLE permission_grants(id TEXT PRIMARY KEY, json TEXT NOT NULL, created_at TEXT NOT NULL);
     CREATE TABLE runs(id TEXT PRIMARY KEY, lifecycle TEXT NOT NULL, json TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL);",
    // 4: parity runs as typed rows (the run service's table); bars and series live in columnar
    // files under <data dir>/runs/<id>/. Runs of schema 3 keep their whole JSON in legacy_json.
    "CREATE TABLE parity_runs(
        id TEXT PRIMARY KEY, lifecycle TEXT NOT NULL, mode TEXT NOT NULL, symbol TEXT,
        timeframe TEXT, dataset_id TEXT NOT NULL, dataset_name TEXT NOT NULL,
        bridge_artifact_id TEXT, error TEXT, warnings_json TEXT NOT NULL DEFAULT '[]',
        trade_events_json TEXT NOT NULL DEFAULT '[]', comparison_json TEXT,
        live_progress INTEGER NOT NULL DEFAULT 0, live_total INTEGER NOT NULL DEFAULT 0,
        request_json TEXT, series_dir TEXT, legacy_json TEXT,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
     CREATE INDEX parity_runs_recent ON parity_runs(created_at);
     INSERT INTO parity_runs(id, lifecycle, mode, symbol, timeframe, dataset_id, dataset_name,
        bridge_artifact_id, error, warnings_json, trade_events_json, comparison_json,
        live_progress, live_total, request_json, legacy_json, created_at, updated_at)
     SELECT id, lifecycle, coalesce(json_extract(json, '$.mode'), 'pine_bridge'),
        json_extract(json, '$.symbol'), json_extract(json, '$.timeframe'),
        coalesce(json_extract(json, '$.dataset_id'), ''), coalesce(json_extract(json, '$.dataset_name'), ''),
        json_extract(json, '$.bridge_artifact_id'), json_extract(json, '$.error'),
        coalesce(json_extract(json, '$.warnings'), '[]'), coalesce(json_extract(json, '$.trade_events'), '[]'),
        json_extract(json, '$.comparison'), coalesce(json_extract(json, '$.live_progress'), 0),
        coalesce(json_extract(json, '$.live_total'), 0), json_extract(json, '$.request'), json,
        created_at, updated_at
     FROM runs;
     DROP TABLE runs;",
    // 5: a queued run's place in line; operator sessions that outlive a restart (only a hash of
    // the token is stored)
    "ALTER TABLE parity_runs ADD COLUMN queue_position INTEGER;
     CREATE TABLE sessions(
        token_hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL);",
    // 6: the original desk's order source: a scale-in is an ENTRY with source SCALE_IN, an
    // operator entry has source UI, an exit's reason is its source
    "ALTER TABLE orders RENAME COLUMN reason TO source;
     UPDATE orders SET source = 'SCALE_IN', kind = 'ENTRY' WHERE kind = 'SCALE_IN';
     UPDATE orders SET source = 'UI' WHERE kind = 'ENTRY' AND source IS NULL;
     UPDATE orders SET source = 'manual' WHERE source IS NULL;",
    // 7: backtests and paper runs (seed 002's integer ids; the v1 run id beside), their fills
    // (seed 002's trades) and round trips; equity curves live in columnar files under
    // <data dir>/backtests/<id>/
    "CREATE TABLE backtests(
        id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL UNIQUE, mode TEXT NOT NULL,
        strategy TEXT NOT NULL, params_json TEXT NOT NULL, request_json TEXT NOT NULL,
        dataset_id TEXT, asset TEXT NOT NULL, timeframe TEXT, start_date TEXT, end_date TEXT,
        initial_capital REAL NOT NULL, final_value REAL, total_return_pct REAL,
        total_trades INTEGER NOT NULL DEFAULT 0, backend TEXT NOT NULL, status TEXT NOT NULL,
        error TEXT, note TEXT, metrics_json TEXT, bars INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL, finished_at TEXT);
     CREATE INDEX backtests_recent ON backtests(status, created_at);
     CREATE TABLE backtest_fills(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        backtest_id INTEGER NOT NULL REFERENCES backtests(id) ON DELETE CASCADE,
        bar INTEGER NOT NULL, signal_bar INTEGER, timestamp TEXT NOT NULL, asset TEXT NOT NULL,
        action TEXT NOT NULL, qty REAL NOT NULL, price REAL NOT NULL, commission REAL NOT NULL,
        status TEXT NOT NULL, purpose TEXT NOT NULL, reasoning TEXT NOT NULL, confidence REAL NOT NULL);
     CREATE INDEX backtest_fills_by_run ON backtest_fills(backtest_id, id);
     CREATE TABLE backtest_trades(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        backtest_id INTEGER NOT NULL REFERENCES backtests(id) ON DELETE CASCADE,
        side TEXT NOT NULL, qty REAL NOT NULL, entry_bar INTEGER NOT NULL, exit_bar INTEGER NOT NULL,
        entry_time TEXT NOT NULL, exit_time TEXT NOT NULL, entry_price REAL NOT NULL,
        exit_price REAL NOT NULL, commission REAL NOT NULL, pnl REAL NOT NULL, return_pct REAL NOT NULL,
        reasoning TEXT NOT NULL, confidence REAL NOT NULL);
     CREATE INDEX backtest_trades_by_run ON backtest_trades(backtest_id, id);",
    // 8: the write audit (fixes applied or refused, with the grant that allowed them) and the
    // chat's conversations, one per run ('' when no run was chosen)
    "CREATE TABLE audit_log(id TEXT PRIMARY KEY, json TEXT NOT NULL, created_at TEXT NOT NULL);
     CREATE TABLE chat_messages(
        id INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT NOT NULL, role TEXT NOT NULL,
        content TEXT NOT NULL, model TEXT, intent TEXT, status TEXT, error_class TEXT,
        targets_json TEXT NOT NULL DEFAULT '[]', proposed_patch TEXT, patch_state TEXT,
        created_at TEXT NOT NULL);
     CREATE INDEX chat_by_conversation ON chat_messages(conversation, id);",
];
