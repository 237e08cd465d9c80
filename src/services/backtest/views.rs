//! Seed 004's views of the run: `/status`, `/status/detailed` and `/results`.
use super::{BacktestService, RunState};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// UTC to the second with a `Z`, as seed 004's example shows its timestamps.
pub fn iso_z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl BacktestService {
    /// `/status`.
    pub fn status_json(&self, st: Option<&RunState>) -> Value {
        let Some(st) = st else {
            return json!({ "run_id": null, "status": "idle", "mode": null, "strategy_name": null,
                "symbols": [], "start_time": null, "end_time": null, "elapsed_s": null,
                "progress": null, "pnl": null, "value": null, "cash": null, "initial_cash": null,
                "errors": [], "backtest_id": null, "note": null });
        };
        let v = st.view();
        let end = v.ended.unwrap_or_else(Utc::now);
        let p = &st.progress;
        json!({
            "run_id": st.run_id, "status": v.status, "mode": st.mode, "strategy_name": st.strategy,
            "symbols": st.symbols, "start_time": iso_z(st.started), "end_time": v.ended.map(iso_z),
            "elapsed_s": (end - st.started).num_milliseconds() as f64 / 1000.0,
            "progress": { "phase": p.phase(), "done": p.done.load(std::sync::atomic::Ordering::Relaxed),
                          "total": p.total.load(std::sync::atomic::Ordering::Relaxed), "fraction": p.fraction() },
            "pnl": v.value.map(|x| x - st.initial_cash), "value": v.value, "cash": v.cash,
            "initial_cash": st.initial_cash, "errors": v.errors, "backtest_id": v.backtest_id,
            "note": v.note,
        })
    }

    /// `/status/detailed`: the status, the newest orders and trades, positions, the curve and
    /// the figures, and the service's health.
    pub fn detailed_json(&self, st: Option<&RunState>) -> Value {
        let mut out = self.status_json(st);
        let o = out.as_object_mut().expect("status is an object");
        let (orders, trades, positions, curve, metrics) = match st {
            Some(st) => {
                let v = st.view();
                let tail = |n: usize, len: usize| len.saturating_sub(n);
                (
                    json!(v.orders[tail(20, v.orders.len())..]),
                    json!(v.trades[tail(20, v.trades.len())..]),
                    json!(v.positions),
                    json!(v.equity),
                    v.metrics.clone().unwrap_or(Value::Null),
                )
            }
            None => (json!([]), json!([]), json!([]), json!([]), Value::Null),
        };
        o.insert("recent_orders".into(), orders);
        o.insert("recent_trades".into(), trades);
        o.insert("positions".into(), positions);
        o.insert("equity_curve".into(), curve);
        o.insert("performance_metrics".into(), metrics);
        o.insert("health".into(), json!({ "engine_queue": self.0.engine.queue_depth(),
            "ws_status_clients": self.0.status.receiver_count(), "ws_trade_clients": self.0.trades.receiver_count() }));
        out
    }

    /// `/results` of the current (or last) run.
    pub fn results_json(&self, st: &RunState) -> Value {
        let v = st.view();
        json!({
            "run_id": st.run_id, "config": st.config, "status": v.status,
            "start_time": iso_z(st.started), "end_time": v.ended.map(iso_z),
            "orders": v.orders, "trades": v.trades, "positions": v.positions,
            "equity_curve": v.equity, "performance_metrics": v.metrics,
            "final_value": if v.status == "running" { None } else { v.value },
            "error": v.errors.last(), "backtest_id": v.backtest_id, "mode": st.mode,
            "timings_s": st.progress.timings().into_iter().map(|(k, s)| (k.to_string(), json!(s))).collect::<serde_json::Map<String, Value>>(),
        })
    }
}
