//! Runs on the desk's live feed (`POST /api/v1/run/live`): the asset's last price is sampled
//! from the published snapshot into bars of the requested timeframe, the strategy decides on
//! each bar's close, and the decision acts at the next bar's open, as in a backtest. Paper mode
//! fills in the simulator; live mode sends the desk's own entry and exit commands, so every gate
//! applies, and only when the desk's env is LIVE. A stopped run is saved as a backtest.
use super::params::Params;
use super::sim::{OrderStatus, Sim, SimOrder};
use super::store::{self, FillRow, Finish, NewRun, TradeRow};
use super::strategy::{self, BUY, EXIT, EXIT_LONG, EXIT_SHORT, HOLD, SELL, StrategyDef};
use super::{BacktestService, LiveRequest, Refused, RunState, refused};
use crate::engine::EntryRequest;
use crate::engine::command::DeskCommand;
use crate::engine::datasets::Bars;
use crate::engine::model::{Env, Side};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// `5s`, `1m`, `15m`, `1h`, `1d` (also `1min`, `60`: seconds).
pub fn parse_timeframe(s: &str) -> Result<Duration, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("timeframe {s:?} is not like 5s, 1m, 1h or 1d"))?;
    let unit_s: u64 = match unit {
        "" | "s" | "sec" => 1,
        "m" | "min" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return Err(format!("timeframe {s:?} is not like 5s, 1m, 1h or 1d")),
    };
    let secs = n.saturating_mul(unit_s);
    if !(1..=86_400).contains(&secs) {
        return Err(format!("timeframe {s:?} must be between 1s and 1d"));
    }
    Ok(Duration::from_secs(secs))
}

/// Bars a rule strategy decides over on the live feed (its indicators' memory).
const LOOKBACK: usize = 5000;
/// Orders a running paper or live run keeps for `/results` (every one is stored).
const KEPT_ORDERS: usize = 1000;

struct Live {
    def: &'static StrategyDef,
    params: Params,
    asset: String,
    every: Duration,
    send_orders: bool,
    id: i64,
    /// The `llm` strategy's judge (it remembers when Ollama is down).
    judge: Option<super::llm::Judge>,
}

impl BacktestService {
    /// Starts a paper or live run on the desk's feed; answers at once.
    pub async fn start_live(&self, req: LiveRequest) -> Result<Value, Refused> {
        let (def, params) =
            super::request::resolve_strategy(&req.strategy_name, &req.strategy_params)?;
        if !def.live {
            return Err(refused(
                422,
                "STRATEGY_NOT_LIVE",
                format!(
                    "{} runs on datasets only (POST /api/v1/run/backtest)",
                    def.name
                ),
            ));
        }
        let mode = req.mode.trim().to_ascii_lowercase();
        if mode != "paper" && mode != "live" {
            return Err(refused(
                422,
                "VALIDATION_ERROR",
                format!("mode must be paper or live, got {:?}", req.mode),
            ));
        }
        super::request::check_exchange(req.exchange.as_deref(), &["desk"], "has no live feed")?;
        let wanted = super::request::one_symbol(&req.symbols, "desk asset")?;
        let asset = self.0.engine.reader().asset_name(wanted).map_err(|_| {
            refused(
                404,
                "UNKNOWN_SYMBOL",
                format!("{wanted:?} is not one of the desk's assets"),
            )
        })?;
        let every = parse_timeframe(req.timeframe.as_deref().unwrap_or("1m"))
            .map_err(|m| refused(422, "VALIDATION_ERROR", m))?;
        let cash = match req.exchange_config.get("initial_cash") {
            None | Some(Value::Null) => 10_000.0,
            Some(v) => v
                .as_f64()
                .filter(|c| super::request::cash_ok(*c))
                .ok_or_else(|| {
                    refused(
                        422,
                        "VALIDATION_ERROR",
                        "exchange_config.initial_cash must be a number > 0 and at most 1e12",
                    )
                })?,
        };
        // a Renko brick too small for the asset's price is refused now, not at the first bar
        let price = self
            .0
            .engine
            .snapshot()
            .assets
            .iter()
            .find(|a| a.asset == asset)
            .and_then(|a| a.last_price);
        if let Some(px) = price {
            let probe = Bars {
                close: vec![px],
                ..Bars::default()
            };
            strategy::check_data(def, &params, &probe)
                .map_err(|m| refused(422, "INVALID_PARAMS", m))?;
        }
        if mode == "live" {
            let env = self.0.engine.snapshot().env;
            if env != Env::Live {
                return Err(refused(
                    403,
                    "LIVE_NOT_ALLOWED",
                    format!(
                        "live runs send real orders and need the desk's env LIVE; it is {} (use mode paper, or switch the env)",
                        serde_json::to_value(env)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        let _one = self.0.starting.lock().await;
        let config = json!({ "request": req, "strategy_params": params, "asset": asset,
                             "timeframe_s": every.as_secs(), "initial_cash": cash });
        let run_mode: &'static str = if mode == "live" { "live" } else { "paper" };
        let st = self.run_state(run_mode, def.name, &req.symbols, config, cash);
        let row = NewRun {
            run_id: st.run_id.clone(),
            mode: run_mode.into(),
            strategy: def.name.into(),
            params: json!(params),
            request: json!(req),
            dataset_id: None,
            asset: asset.clone(),
            timeframe: req.timeframe.clone(),
            initial_capital: cash,
            backend: def.backend.into(),
            created_at: st.started,
        };
        let id = self.claim(&st, row, None).await?;
        st.progress.set("waiting for the first bar", 0);
        self.publish(&st);
        let judge = (def.name == "llm").then(|| super::llm::Judge::new(&params));
        let live = Live {
            judge,
            def,
            params,
            asset,
            every,
            send_orders: run_mode == "live",
            id,
        };
        let (svc, run) = (self.clone(), st.clone());
        self.spawn_run(st.clone(), async move { svc.play(run, live).await });
        Ok(
            json!({ "run_id": st.run_id, "status": "running", "message": format!("{run_mode} run started") }),
        )
    }

    async fn play(&self, st: Arc<RunState>, mut l: Live) {
        let mut snaps = self.0.engine.watch();
        let step = l.every.as_millis() as i64;
        let mut bars = Bars::default();
        let mut equity: Vec<f64> = Vec::new();
        // the forming bar: its bucket and o/h/l/c
        let mut forming: Option<(i64, f64, f64, f64, f64)> = None;
        let cfg = super::run::sim_config(&l.params, st.initial_cash, &l.asset);
        let mut sim = Sim::new(cfg);
        let mut notes: std::collections::HashMap<usize, (i8, f32, String)> = Default::default();
        let mut last_px = None;
        let mut in_market = 0usize;
        loop {
            tokio::select! {
                _ = st.stop.cancelled() => break,
                r = snaps.changed() => if r.is_err() { break },
            }
            let snap = snaps.borrow_and_update().clone();
            let Some(px) = snap
                .assets
                .iter()
                .find(|a| a.asset == l.asset)
                .and_then(|a| a.last_price)
            else {
                continue;
            };
            last_px = Some(px);
            let now = snap.now.timestamp_millis();
            let bucket = now - now.rem_euclid(step);
            match forming {
                Some((b, o, h, lo, _)) if b == bucket => {
                    forming = Some((b, o, h.max(px), lo.min(px), px))
                }
                Some((b, o, h, lo, c)) => {
                    // the bar closed: it joins the history, the strategy decides on it, and
                    // the decision acts at this new bar's open
                    bars.ts.push(b);
                    bars.open.push(o);
                    bars.high.push(h);
                    bars.low.push(lo);
                    bars.close.push(c);
                    bars.volume.push(0.0);
                    let k = bars.len() - 1;
                    equity.push(sim.equity(c));
                    if sim.pos != 0.0 {
                        in_market += 1;
                    }
                    // a stop does not wait for the model's answer
                    let decision = tokio::select! {
                        d = self.decide(&mut l, &bars, k) => d,
                        _ = st.stop.cancelled() => break,
                    };
                    if let Some((a, conf, why)) = decision {
                        self.act(&st, &l, &mut sim, (k, a, conf, &why), px, bucket)
                            .await;
                        notes.insert(k, (a, conf, why));
                    }
                    if k == 0 {
                        st.progress.set("live feed", 0);
                    }
                    st.progress
                        .done
                        .store(bars.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    self.mark(&st, &sim, &l, px, (&equity, in_market), &bars);
                    forming = Some((bucket, px, px, px, px));
                }
                None => forming = Some((bucket, px, px, px, px)),
            }
        }
        // stopped: an open paper position is closed at the last price, and the run is saved
        if let Some(px) = last_px
            && sim.pos != 0.0
        {
            let bar = bars.len();
            sim.close(bar, None, px, "end_of_run");
            if let Some(o) = sim.orders.last().cloned() {
                let mut f = self.fill(
                    &l,
                    &o,
                    now_ms(),
                    "the run was stopped with the position open: closed at the last price".into(),
                    100.0,
                );
                self.store_fill(&st, l.id, &mut f).await;
            }
            if let Some(e) = equity.last_mut() {
                *e = sim.cash;
            }
        }
        let m = super::metrics::compute(st.initial_cash, &equity, &bars.ts, &sim.trades, in_market);
        let trades: Vec<TradeRow> = sim
            .trades
            .iter()
            .map(|t| {
                let (why, conf) = t
                    .entry_signal_bar
                    .and_then(|i| notes.get(&i))
                    .map(|(_, c, w)| (w.clone(), f64::from(*c)))
                    .unwrap_or_default();
                let at = |i: usize| {
                    bars.ts
                        .get(i)
                        .copied()
                        .map(store::iso)
                        .unwrap_or_else(|| store::iso(now_ms()))
                };
                super::run::trip_row(t, (at(t.entry_bar), at(t.exit_bar)), why, conf)
            })
            .collect();
        let value = if l.send_orders { None } else { Some(sim.cash) };
        let fin = Finish {
            status: "stopped".into(),
            error: None,
            // an LLM run's fallback, as a backtest's says it
            note: l.judge.as_ref().and_then(|j| j.note()).or_else(|| {
                l.send_orders.then(|| {
                    "live run: its orders went to the desk, whose fills and PnL are the desk's own (GET /api/orders); no simulated figures"
                        .to_string()
                })
            }),
            start_date: bars.ts.first().map(|&t| store::iso(t)),
            end_date: bars.ts.last().map(|&t| store::iso(t)),
            final_value: value,
            total_return_pct: value.map(|_| m.total_return_pct),
            metrics: value.map(|_| json!(m)),
            bars: bars.len(),
        };
        let id = l.id;
        let (ts, eq, px) = (bars.ts, equity, bars.close);
        let saved = self
            .db(move |s| {
                let curve =
                    (!ts.is_empty()).then_some((ts.as_slice(), eq.as_slice(), px.as_slice()));
                s.finish(id, &fin, &mut [], &trades, curve)?;
                s.trades(id)
            })
            .await;
        let error = match saved {
            Ok(rows) => {
                let mut v = st.view();
                v.trades = rows;
                v.value = value.or(v.value);
                v.metrics = Some(json!(m));
                None
            }
            Err(e) => {
                tracing::error!(error = %e, backtest = id, "paper run not saved");
                Some("the run could not be saved (see the server log)".into())
            }
        };
        self.end(&st, "stopped", error).await;
    }

    /// The strategy's decision on closed bar `k` (None: hold).
    async fn decide(&self, l: &mut Live, bars: &Bars, k: usize) -> Option<(i8, f32, String)> {
        if let Some(judge) = &mut l.judge {
            if !super::llm::is_decision_bar(k, l.params.n("window"), l.params.n("every")) {
                return None;
            }
            let averages = super::llm::fallback_averages(&bars.close[..=k]);
            return Some(
                judge
                    .decide(&self.0.ctx.ollama, bars, k, &l.asset, averages)
                    .await,
            );
        }
        // the rules see the last LOOKBACK bars, so a run of days costs the same per bar
        let from = bars.len().saturating_sub(LOOKBACK);
        // a copy only once the history is longer than the window
        let recent = (from > 0).then(|| bars.range(from..bars.len()));
        let recent = recent.as_ref().unwrap_or(bars);
        let mut d = strategy::rule_decisions(l.def, &l.params, recent);
        d.first_bar = from;
        let i = k - from;
        let a = d.action[i];
        (a != HOLD).then(|| (a, d.confidence(i), d.reasoning(recent, i)))
    }

    /// Acts at the new bar's open (`px`) on the decision `a` of bar `k`.
    async fn act(
        &self,
        st: &RunState,
        l: &Live,
        sim: &mut Sim,
        decision: (usize, i8, f32, &str),
        px: f64,
        at: i64,
    ) {
        let (k, a, conf, reason) = decision;
        if l.send_orders {
            let snap = self.0.engine.snapshot();
            let pos = snap
                .assets
                .iter()
                .find(|x| x.asset == l.asset)
                .and_then(|x| x.position.as_ref())
                .map_or(0i8, |p| if p.side == Side::Buy { 1 } else { -1 });
            let cmd = match (a, pos) {
                (BUY, 0) => Some((
                    DeskCommand::Entry(EntryRequest::market(&l.asset, Some(Side::Buy))),
                    "BUY",
                    "entry",
                )),
                (SELL, 0) if l.params.b("allow_short") => Some((
                    DeskCommand::Entry(EntryRequest::market(&l.asset, Some(Side::Sell))),
                    "SELL",
                    "entry",
                )),
                (SELL | EXIT | EXIT_LONG, 1) => Some((
                    DeskCommand::Exit {
                        asset: l.asset.clone(),
                        force: false,
                    },
                    "SELL",
                    "exit",
                )),
                (BUY | EXIT | EXIT_SHORT, -1) => Some((
                    DeskCommand::Exit {
                        asset: l.asset.clone(),
                        force: false,
                    },
                    "BUY",
                    "exit",
                )),
                _ => None,
            };
            let Some((cmd, side, purpose)) = cmd else {
                return;
            };
            let answer = self.0.engine.call(move |e| e.execute(cmd)).await;
            let (status, said) = match answer {
                Ok(_) => ("SENT", "sent through the desk's order path".to_string()),
                Err(e) => ("REFUSED", format!("refused by the desk: {e}")),
            };
            let o = SimOrder {
                signal_bar: Some(k),
                bar: k + 1,
                side: if side == "BUY" { 1 } else { -1 },
                qty: 0.0,
                price: px,
                commission: 0.0,
                status: OrderStatus::Filled,
                purpose,
            };
            let mut f = self.fill(l, &o, at, format!("{reason} — {said}"), f64::from(conf));
            f.status = status.into();
            self.store_fill(st, l.id, &mut f).await;
            return;
        }
        let n = sim.act(k + 1, k, a, px);
        let made: Vec<SimOrder> = sim.orders[sim.orders.len() - n..].to_vec();
        for o in made {
            let mut f = self.fill(l, &o, at, reason.to_string(), f64::from(conf));
            self.store_fill(st, l.id, &mut f).await;
        }
    }

    fn fill(&self, l: &Live, o: &SimOrder, at: i64, why: String, conf: f64) -> FillRow {
        super::run::order_row(o, store::iso(at), &l.asset, why, conf)
    }

    /// Stores a fill of a running paper or live run (its id), keeps it for `/results`, pushes it.
    async fn store_fill(&self, st: &RunState, id: i64, f: &mut FillRow) {
        if f.reasoning.is_empty() {
            f.reasoning = format!("decision of bar {}", f.signal_bar.unwrap_or_default());
        }
        let row = f.clone();
        match self.db(move |s| s.add_fill(id, &row)).await {
            Ok(fid) => f.id = fid,
            Err(e) => tracing::error!(error = %e, "paper fill not stored"),
        }
        self.push_fill(f, id, &st.run_id);
        let mut v = st.view();
        v.orders.push(f.clone());
        // the store has them all; /results shows the newest
        if v.orders.len() > KEPT_ORDERS {
            let extra = v.orders.len() - KEPT_ORDERS;
            v.orders.drain(..extra);
        }
    }

    /// The run's figures after a bar.
    /// The run's figures so far.
    fn mark(
        &self,
        st: &RunState,
        sim: &Sim,
        l: &Live,
        px: f64,
        (equity, in_market): (&[f64], usize),
        bars: &Bars,
    ) {
        // the simulator's figures are a paper run's only (a live run's are the desk's)
        let m = (!l.send_orders).then(|| {
            super::metrics::compute(st.initial_cash, equity, &bars.ts, &sim.trades, in_market)
        });
        {
            let mut v = st.view();
            if let Some(m) = m {
                v.value = Some(sim.equity(px));
                v.cash = Some(sim.cash);
                v.positions = if sim.pos != 0.0 {
                    vec![
                        json!({ "asset": l.asset, "side": if sim.pos > 0.0 { "long" } else { "short" },
                        "qty": sim.pos.abs(), "entry_price": sim.entry_price,
                        "unrealized_pnl": sim.pos * (px - sim.entry_price) }),
                    ]
                } else {
                    Vec::new()
                };
                v.metrics = Some(json!(m));
            } else {
                // a live run's position is the desk's own
                v.positions = self
                    .0
                    .engine
                    .snapshot()
                    .assets
                    .iter()
                    .filter(|a| a.asset == l.asset)
                    .filter_map(|a| {
                        a.position
                            .as_ref()
                            .map(|p| json!({ "asset": a.asset, "desk_position": p }))
                    })
                    .collect();
            }
            v.equity = store::curve_points(&bars.ts, equity, &bars.close, super::CURVE_POINTS);
        }
        self.publish(st);
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
