#!/usr/bin/env python3
"""Bars per second of one SMA(10/20) cross backtest over the same bars: brickdesk, backtesting.py
and backtrader, measured in the same run on the same CSV (a seeded random walk of minute bars).

Each tool is timed on its backtest alone, with the data already in memory in its own form:
brickdesk's `deciding` + `simulating` phases (from `brickdesk backtest --json`, timings_s; its
`loading` and `storing` are reported beside), backtesting.py's `Backtest.run()`, backtrader's
`cerebro.run()`. Same rules where the tools allow: next-open fills, commission per fill (0 by
default: 0.2 % ruins the walk's account within a few thousand bars and the rest is idle),
all-in whole units, long-only, cash 10,000.

usage: python3 benches/backtest_compare.py [--bars N] [--brickdesk PATH] [--skip-backtrader]
needs: pip install backtesting backtrader pandas numpy
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ap = argparse.ArgumentParser()
ap.add_argument("--bars", type=int, default=1_000_000)
ap.add_argument("--brickdesk", default="target/release/brickdesk")
ap.add_argument("--skip-backtrader", action="store_true")
ap.add_argument("--commission", type=float, default=0.0,
                help="per fill; 0 keeps every tool trading to the end (0.002 ruins the walk's account early)")
args = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="bt-bench-")
import atexit  # noqa: E402
import shutil  # noqa: E402
atexit.register(shutil.rmtree, tmp, ignore_errors=True)
n = args.bars
rng = np.random.default_rng(42)
close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.0002, n))
high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0005, n)))
low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0005, n)))
ts = pd.date_range("2020-01-01", periods=n, freq="min")
df = pd.DataFrame({"timestamp": ts, "open": open_, "high": high, "low": low, "close": close, "volume": 1000.0})
csv = os.path.join(tmp, "walk.csv")
df.to_csv(csv, index=False)
print(f"{n:,} minute bars in {csv}", file=sys.stderr)
results = []

# brickdesk
env = dict(os.environ, BRICKDESK_CONFIG="/dev/null", NO_COLOR="1")
data = os.path.join(tmp, "data")
subprocess.run([args.brickdesk, "--data-dir", data, "import", csv, "--name", "bench"], check=True, env=env,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t0 = time.perf_counter()
out = subprocess.run([args.brickdesk, "--data-dir", data, "backtest", "--dataset", "bench", "--strategy", "sma_cross",
                      "--param", "fast=10", "--param", "slow=20", "--param", f"commission={args.commission}", "--json"],
                     check=True, env=env, capture_output=True, text=True)
wall = time.perf_counter() - t0
r = json.loads(out.stdout)
tm = r["timings_s"]
compute = tm["deciding"] + tm["simulating"]
results.append(("brickdesk", compute, len(r["trades"]), r["final_value"],
                f"load {tm['loading']:.3f}s · store {tm['storing']:.3f}s · whole command {wall:.2f}s"))

# backtesting.py
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402

bdf = df.set_index("timestamp").rename(columns=str.capitalize)


def sma(v, k):
    return pd.Series(v).rolling(k).mean()


class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(sma, self.data.Close, 10)
        self.slow = self.I(sma, self.data.Close, 20)

    def next(self):
        # brickdesk's rule: the last bar's decision has no next open to fill at
        if len(self.data) == n:
            return
        if crossover(self.fast, self.slow):
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()


bt = Backtest(bdf, SmaCross, cash=10_000, commission=args.commission, finalize_trades=True)
t0 = time.perf_counter()
stats = bt.run()
took = time.perf_counter() - t0
# the same backtest, trade for trade
theirs = [(int(t.EntryBar), int(t.ExitBar), int(t.Size)) for t in stats["_trades"].itertuples()]
mine = [(t["entry_bar"], t["exit_bar"], int(t["qty"])) for t in r["trades"]]
same = theirs == mine and abs(r["final_value"] - stats["Equity Final [$]"]) <= 1e-4 * abs(stats["Equity Final [$]"])
results.append(("backtesting.py", took, len(stats["_trades"]), float(stats["Equity Final [$]"]),
                "same round trips and final equity" if same else "DIFFERENT trades or equity"))

# backtrader
if not args.skip_backtrader:
    import backtrader as btr  # noqa: E402

    class Cross(btr.Strategy):
        def __init__(self):
            self.x = btr.ind.CrossOver(btr.ind.SMA(self.data.close, period=10), btr.ind.SMA(self.data.close, period=20))

        def next(self):
            if self.x > 0 and not self.position:
                self.buy()
            elif self.x < 0 and self.position:
                self.close()

    cerebro = btr.Cerebro(stdstats=False)
    cerebro.adddata(btr.feeds.PandasData(dataname=bdf))
    cerebro.addstrategy(Cross)
    cerebro.broker.setcash(10_000)
    cerebro.broker.setcommission(commission=args.commission)
    cerebro.addsizer(btr.sizers.AllInSizerInt)
    cerebro.addanalyzer(btr.analyzers.TradeAnalyzer, _name="t")
    t0 = time.perf_counter()
    strat = cerebro.run()[0]
    took = time.perf_counter() - t0
    closed = strat.analyzers.t.get_analysis().get("total", {}).get("closed", 0)
    results.append(("backtrader", took, closed, cerebro.broker.getvalue(), ""))

ours = n / results[0][1]
print(f"\n{'tool':<16}{'seconds':>10}{'bars/s':>16}{'brickdesk ×':>14}{'trades':>9}{'final':>12}")
for name, secs, trades, final, note in results:
    rate = n / secs
    print(f"{name:<16}{secs:>10.3f}{rate:>16,.0f}{ours / rate:>14.1f}{trades:>9}{final:>12.2f}  {note}")
if not same:
    sys.exit("brickdesk and backtesting.py disagree: the speed figures compare different work")
