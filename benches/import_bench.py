"""Dataset import speed: `brickdesk import` (polars CSV, UTC normalisation, validation, columnar
write, SQLite row) beside the peer `pandas.read_csv` + `to_datetime` + tz_localize/tz_convert to
UTC (no persistence), on the same generated files. Rows/s and peak RSS of each process.
Usage: python3 benches/import_bench.py [rows ...]   (default 1000000 10000000)"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "brickdesk")
CACHE = os.path.join(tempfile.gettempdir(), "brickdesk-bench")
TZ = "Asia/Kolkata"


def generate(rows):
    path = os.path.join(CACHE, f"bars_{rows}.csv")
    if os.path.exists(path):
        return path
    import numpy as np
    import pandas as pd
    os.makedirs(CACHE, exist_ok=True)
    rng = np.random.default_rng(7)
    close = 700 + np.cumsum(rng.normal(0, 0.2, rows)).round(2)
    ts = pd.date_range("2015-01-01 09:15", periods=rows, freq="min")
    frame = pd.DataFrame({
        "dt": ts.strftime("%Y-%m-%d %H:%M:%S"),
        "o": (close - 0.1).round(2), "h": (close + 0.3).round(2), "l": (close - 0.4).round(2),
        "c": close, "v": rng.integers(100, 5000, rows),
    })
    frame.to_csv(path + ".tmp", index=False)
    os.rename(path + ".tmp", path)
    return path


def measure(argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if status != 0:
        sys.exit(f"{argv[0]} failed: {err}")
    return elapsed, usage.ru_maxrss / 1024  # MiB


PANDAS = f"""
import sys, pandas as pd
df = pd.read_csv(sys.argv[1])
df["dt"] = pd.to_datetime(df["dt"], format="%Y-%m-%d %H:%M:%S").dt.tz_localize("{TZ}").dt.tz_convert("UTC")
assert len(df) > 0
"""


def main():
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    sizes = [int(a) for a in sys.argv[1:]] or [1_000_000, 10_000_000]
    for rows in sizes:
        path = generate(rows)
        with tempfile.TemporaryDirectory() as data:
            bd_t, bd_rss = measure([BIN, "--data-dir", data, "import", path, "--timezone", TZ])
        pd_t, pd_rss = measure([sys.executable, "-c", PANDAS, path])
        print(f"{rows:>10,} rows  brickdesk {rows / bd_t:>12,.0f} rows/s ({bd_t:6.2f}s, peak {bd_rss:7.0f} MiB)"
              f"   pandas {rows / pd_t:>12,.0f} rows/s ({pd_t:6.2f}s, peak {pd_rss:7.0f} MiB)"
              f"   speed-up {pd_t / bd_t:5.1f}x")


main()
