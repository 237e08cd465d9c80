// The /ui page: seed 004's routes only (health, status, results, strategies, exchanges, the run
// lifecycle and the status WebSocket). No build step, no library.
"use strict";
const API = "/api/v1";
const $ = (id) => document.getElementById(id);
let strategies = [], exchanges = [], lastStatus = null, resultsTimer = null, streaming = false;

async function call(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(API + path, init);
  let data = null;
  try { data = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const e = data && data.error ? data.error : { code: "HTTP_" + r.status, message: r.statusText };
    throw Object.assign(new Error(e.message), { code: e.code, status: r.status });
  }
  return data;
}

const fmt = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x)) ? "–" : Number(x).toLocaleString(undefined, { minimumFractionDigits: d, maximumFractionDigits: d });
const signed = (el, x, text) => { el.textContent = text; el.className = x > 0 ? "pos" : x < 0 ? "neg" : ""; };
const setError = (m) => { $("form-error").textContent = m || ""; };

async function loadHealth() {
  try {
    const h = await call("GET", "/health");
    $("health").textContent = "health " + h.status + " · " + h.api_version;
    $("health").className = "badge " + (h.status === "ok" ? "ok" : "bad");
  } catch (e) {
    $("health").textContent = "health: " + e.message;
    $("health").className = "badge bad";
  }
}

function paramInput(p) {
  const label = document.createElement("label");
  label.title = p.description || "";
  label.append(p.name + " ");
  let input;
  if (p.type === "choice") {
    input = document.createElement("select");
    for (const c of p.choices) { const o = new Option(c, c); input.add(o); }
    input.value = p.default;
  } else if (p.type === "bool") {
    input = document.createElement("input"); input.type = "checkbox"; input.checked = !!p.default;
  } else if (p.type === "text") {
    input = p.name === "code" ? document.createElement("textarea") : document.createElement("input");
    input.value = p.default || "";
  } else {
    input = document.createElement("input"); input.type = "number"; input.step = p.type === "int" ? "1" : "any";
    if (p.min !== null && p.min !== undefined) input.min = p.min;
    if (p.max !== null && p.max !== undefined) input.max = p.max;
    input.value = p.default;
  }
  input.dataset.param = p.name; input.dataset.type = p.type; input.id = "param-" + p.name;
  label.append(input);
  return label;
}

function renderParams() {
  const s = strategies.find((x) => x.name === $("strategy").value);
  for (const id of ["params", "sim-params"]) {
    const fs = $(id); while (fs.children.length > 1) fs.removeChild(fs.lastChild);
  }
  if (!s) return;
  $("strategy-about").textContent = s.description;
  for (const p of s.params) $(p.group === "simulator" ? "sim-params" : "params").append(paramInput(p));
}

function renderSymbols() {
  const mode = $("mode").value;
  const usable = exchanges.filter((x) => x.modes.includes(mode));
  const ex = $("exchange"), keep = ex.value;
  ex.innerHTML = "";
  for (const x of usable) ex.add(new Option(x.name, x.name));
  if (usable.some((x) => x.name === keep)) ex.value = keep;
  const cur = usable.find((x) => x.name === ex.value);
  const sym = $("symbol"); sym.innerHTML = "";
  if (cur && !cur.symbols.length) {
    const o = new Option(cur.name === "datasets" ? "no dataset yet: import one (brickdesk import FILE)" : "no asset", "");
    o.disabled = true; o.selected = true; sym.add(o);
  }
  for (const s of (cur ? cur.symbols : [])) {
    const label = s.name + (s.symbol && s.symbol !== s.name ? " · " + s.symbol : "") + (s.timeframe ? " · " + s.timeframe : "") + (s.rows ? " · " + s.rows + " bars" : "");
    sym.add(new Option(label, s.id));
  }
  for (const el of document.querySelectorAll(".bt-only")) el.style.display = mode === "backtest" ? "" : "none";
  const live = mode !== "backtest";
  for (const o of $("strategy").options) { const s = strategies.find((x) => x.name === o.value); o.disabled = live && s && !s.live; }
}

async function loadForm() {
  const [s, x] = await Promise.all([call("GET", "/strategies"), call("GET", "/exchanges")]);
  strategies = s.strategies; exchanges = x.exchanges;
  const sel = $("strategy"); sel.innerHTML = "";
  for (const st of strategies) sel.add(new Option(st.title + " (" + st.name + ")", st.name));
  renderSymbols(); renderParams();
}

function collectParams() {
  const out = {};
  for (const el of document.querySelectorAll("[data-param]")) {
    const t = el.dataset.type;
    if (t === "bool") out[el.dataset.param] = el.checked;
    else if (t === "int") out[el.dataset.param] = parseInt(el.value, 10);
    else if (t === "float") out[el.dataset.param] = parseFloat(el.value);
    else out[el.dataset.param] = el.value;
  }
  return out;
}

async function start(ev) {
  ev.preventDefault(); setError("");
  const mode = $("mode").value;
  const common = { strategy_name: $("strategy").value, strategy_params: collectParams(), symbols: [$("symbol").value], exchange: $("exchange").value };
  const tf = $("timeframe").value.trim();
  try {
    if (mode === "backtest") {
      await call("POST", "/run/backtest", Object.assign(common, {
        timeframe: tf || null, start_date: $("start-date").value || null, end_date: $("end-date").value || null,
        initial_cash: parseFloat($("initial-cash").value) }));
    } else {
      await call("POST", "/run/live", Object.assign(common, { timeframe: tf || "1m", mode,
        exchange_config: { initial_cash: parseFloat($("initial-cash").value) } }));
    }
    await refreshStatus();
  } catch (e) { setError(e.code + ": " + e.message); }
}

async function lifecycle(method, path) {
  setError("");
  try { await call(method, path); await refreshStatus(); await loadResults(); } catch (e) { setError(e.code + ": " + e.message); }
}

function showStatus(s) {
  lastStatus = s;
  const p = s.progress;
  let line = s.status;
  if (s.run_id) line += " · " + s.mode + " " + s.strategy_name + " on " + (s.symbols || []).join(",") + " · run " + s.run_id;
  if (p && s.status === "running") {
    if (p.total) line += " · " + p.phase + " " + p.done + "/" + p.total;
    else if (s.mode !== "backtest") line += " · " + p.done + " bars";
    else line += " · " + p.phase;
  }
  if (s.value !== null && s.value !== undefined) line += " · value " + fmt(s.value);
  if (s.errors && s.errors.length) line += " · " + s.errors[s.errors.length - 1];
  $("status").textContent = line;
  $("progress-bar").style.width = (s.status === "running" ? Math.round(100 * (p ? p.fraction : 0)) : (s.status === "completed" ? 100 : 0)) + "%";
  const running = s.status === "running";
  $("start").disabled = running; $("stop").disabled = !running; $("reset").disabled = running || !s.run_id;
}

// A status fetched over HTTP may have been made before the stream's newer event arrived (a
// backtest can end between the two): it never takes a run the stream saw end back to running.
async function refreshStatus() {
  const s = await call("GET", "/status");
  const stale = lastStatus && s.run_id === lastStatus.run_id && lastStatus.status !== "running" && s.status === "running";
  if (!stale) showStatus(s);
}

function drawCurve(points) {
  const line = $("equity-line"), dd = $("equity-dd");
  if (!points || points.length < 2) { line.setAttribute("d", ""); dd.setAttribute("d", ""); $("equity-axis").textContent = ""; return; }
  const ys = points.map((p) => p.portfolio_value);
  const lo = Math.min(...ys), hi = Math.max(...ys), span = (hi - lo) || 1;
  const X = (i) => (i / (points.length - 1)) * 800, Y = (v) => 230 - ((v - lo) / span) * 220;
  let d = "", shade = "", peak = -Infinity, under = [];
  points.forEach((p, i) => {
    d += (i ? "L" : "M") + X(i).toFixed(1) + " " + Y(p.portfolio_value).toFixed(1);
    peak = Math.max(peak, p.portfolio_value);
    under.push([X(i), Y(peak), Y(p.portfolio_value)]);
  });
  // drawdown: the area between the running peak and equity
  shade = "M" + under.map((u) => u[0].toFixed(1) + " " + u[1].toFixed(1)).join("L") + "L" + under.slice().reverse().map((u) => u[0].toFixed(1) + " " + u[2].toFixed(1)).join("L") + "Z";
  line.setAttribute("d", d); dd.setAttribute("d", shade);
  const day = (t) => t.replace("T00:00:00", "").replace("T", " ");
  $("equity-axis").textContent = day(points[0].timestamp) + " → " + day(points[points.length - 1].timestamp) + " · low " + fmt(lo) + " · high " + fmt(hi) + " · shaded: drawdown from the running peak";
}

function showResults(r) {
  const m = r.performance_metrics || {};
  // while a paper run trades, its value so far
  const value = r.final_value ?? m.final_value;
  $("final-value").textContent = value === null || value === undefined ? "–" : fmt(value);
  // a small return keeps its digits: 0.0047 % is not "0.00 %"
  const ret = m.total_return_pct, small = ret !== undefined && ret !== 0 && Math.abs(ret) < 0.1;
  signed($("total-return"), ret, ret === undefined ? "–" : fmt(ret, small ? 4 : 2) + " %");
  $("sharpe").textContent = fmt(m.sharpe_ratio); $("sortino").textContent = fmt(m.sortino_ratio);
  signed($("max-dd"), m.max_drawdown_pct, m.max_drawdown_pct === undefined ? "–" : fmt(m.max_drawdown_pct) + " %");
  $("trade-count").textContent = m.round_trips === undefined ? "–" : m.round_trips;
  $("win-rate").textContent = m.win_rate_pct === undefined || m.win_rate_pct === null ? "–" : fmt(m.win_rate_pct, 1) + " %";
  $("profit-factor").textContent = fmt(m.profit_factor);
  drawCurve(r.equity_curve);
  const body = $("trades").tBodies[0]; body.innerHTML = "";
  const orders = r.orders || [], shown = orders.slice(-500).reverse();
  $("orders-note").textContent = orders.length > 500 ? "(newest 500 of " + orders.length + ")" : "(" + orders.length + ")";
  for (const o of shown) {
    const tr = body.insertRow();
    const what = o.status !== "FILLED" ? o.status : o.purpose === "entry" ? "entry" : o.purpose.replace(/_/g, " ");
    const cells = [o.id, o.timestamp.replace("T00:00:00", "").replace("T", " "), o.action + " · " + what, fmt(o.qty, 0), fmt(o.price, 4), fmt(o.confidence, 0), o.reasoning];
    cells.forEach((c, i) => { const td = tr.insertCell(); td.textContent = c; if (i === 1) td.className = "nowrap"; if (i === 2) td.className = (o.action === "BUY" ? "buy" : "sell") + " nowrap"; });
  }
}

async function loadResults() {
  try { showResults(await call("GET", "/results")); }
  catch (e) { if (e.code === "NO_RESULTS") showResults({ orders: [], equity_curve: [] }); else setError(e.code + ": " + e.message); }
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + API + "/ws/status");
  ws.onopen = () => { streaming = true; $("link").textContent = "status stream live"; $("link").className = "badge ok"; };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type !== "status_update") return;
    const before = lastStatus;
    showStatus(m.payload);
    const ended = before && before.status === "running" && m.payload.status !== "running";
    if (ended || m.payload.run_id !== (before && before.run_id)) loadResults();
    else if (m.payload.status === "running" && !resultsTimer) resultsTimer = setTimeout(() => { resultsTimer = null; loadResults(); }, 1000);
  };
  ws.onclose = () => { streaming = false; $("link").textContent = "status stream lost · retrying"; $("link").className = "badge bad"; setTimeout(connect, 2000); };
}

$("mode").addEventListener("change", () => { renderSymbols(); });
$("exchange").addEventListener("change", () => { const m = $("mode").value; renderSymbols(); $("mode").value = m; });
$("strategy").addEventListener("change", renderParams);
$("run-form").addEventListener("submit", start);
$("stop").addEventListener("click", () => lifecycle("POST", "/run/stop"));
$("reset").addEventListener("click", () => lifecycle("DELETE", "/run/reset"));

(async () => {
  await loadHealth();
  setInterval(loadHealth, 15000);
  try { await loadForm(); await refreshStatus(); await loadResults(); } catch (e) { setError(e.code + ": " + e.message); }
  connect();
  // without the status stream, a running run is followed by asking every 2 s
  setInterval(async () => {
    if (streaming || !lastStatus || lastStatus.status !== "running") return;
    try { await refreshStatus(); await loadResults(); } catch (_) { /* shown on the next try */ }
  }, 2000);
})();
