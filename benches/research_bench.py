"""Research backend (seed 003) beside its pandas peers, each pair measured in the same run:

1. CSV import, at each size (default 1M and 10M rows): `brickdesk import FILE --timezone
   Asia/Kolkata` into a fresh data dir (columnar files + the SQLite table `<slug>_ohlcv`) vs a
   python3 child doing `pandas.read_csv` + `to_datetime` / tz_localize / tz_convert to UTC +
   `DataFrame.to_sql` into a SQLite file (+ commit). Wall seconds, rows/s, peak RSS (the child's
   ru_maxrss via os.wait4), speed-up (pandas / brickdesk) and RSS ratio (brickdesk / pandas).
2. `POST /api/questdb/export` of the smallest imported dataset (1M rows by default), served by
   `brickdesk serve` on the data dir of step 1: the streamed CSV body read in chunks and counted,
   MB/s (1 MB = 1e6 bytes) and rows/s, vs a python3 child doing `pandas.read_sql(...).to_csv()`
   on the same SQLite table (wall time, MB/s of the bytes it produced, peak RSS).
3. Predictions streamed as CSV with flat memory: on the same server a dataset and a run are
   created, 1M prediction rows are imported through `POST /api/questdb/import/async` into
   `wf_bench`, then the server's peak-RSS counter (VmHWM) is reset through
   `/proc/<pid>/clear_refs` and `GET /api/runs/bench/predictions?format=csv` is streamed to
   nowhere; the server's peak RSS during the stream and its growth over the RSS before are
   reported, beside two "whole export held in memory" figures: a python3 child doing
   `pandas.read_sql(...).to_csv()` into one string, and a python3 child reading the same URL
   with `urllib.request.urlopen(...).read()`.

Only the python stdlib plus pandas/numpy. Bar files are cached between runs
under tempfile.gettempdir()/brickdesk-bench. Needs Linux (/proc, os.wait4; resetting VmHWM
needs the right to write the server's /proc/<pid>/clear_refs, which a process has on its own
children). Exits non-zero, with a message, on any failure.

Usage: cargo build --release && python3 benches/research_bench.py [rows ...]
       (default rows: 1000000 10000000)
"""
import contextlib
import http.client
import json
import os
import shutil
import platform
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "brickdesk")
CACHE = os.path.join(tempfile.gettempdir(), "brickdesk-bench")
TZ = "Asia/Kolkata"
PRED_ROWS = 1_000_000
RUN_ID = "bench"
MIB = 1024 * 1024


class BenchError(Exception):
    pass


def fail(msg):
    raise BenchError(msg)


def generate(rows):
    """The bars file of `rows` rows (dt,o,h,l,c,v), cached between runs."""
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


# A child's ru_maxrss (os.wait4) is never below the RSS of the process that spawned it: Linux
# carries the spawner's peak into the child's `maxrss` (vfork/posix_spawn share its memory until
# exec; fork copies it). This script's own process holds pandas and a 1M-row CSV, so every child
# is spawned by this small launcher (python3 -S, a few MiB), which reports the child's wall time
# and peak RSS. Its floor (the peak reported for /bin/true) is printed in the header.
LAUNCHER = """
import os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
t = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    f.write("%d %r %d" % (status, t, usage.ru_maxrss))
"""


def measure(argv, env=None):
    """Runs a child to its end: (wall seconds, peak RSS MiB, stdout text)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rep:
        proc = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, rep.name] + argv,
                                stdout=out, stderr=err, env=env)
        if proc.wait() != 0:
            err.seek(0)
            fail(f"the launcher of {argv[0]} failed ({proc.returncode}): "
                 f"{err.read().decode(errors='replace')[-2000:]}")
        status, elapsed, maxrss = rep.read().split()
        status, elapsed, maxrss = int(status), float(elapsed), int(maxrss)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if status != 0:
        code = os.waitstatus_to_exitcode(status)
        fail(f"{' '.join(argv[:3])} ... failed (exit {code}):\n{stderr.strip()[-3000:]}")
    return elapsed, maxrss / 1024, stdout


def child_report(stdout):
    """The last stdout line of a python peer: its JSON report."""
    lines = [l for l in stdout.splitlines() if l.strip()]
    if not lines:
        fail(f"a python peer printed no report (stdout: {stdout!r})")
    return json.loads(lines[-1])


PANDAS_IMPORT = f"""
import json, sqlite3, sys, time, pandas as pd
t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
df["dt"] = pd.to_datetime(df["dt"], format="%Y-%m-%d %H:%M:%S").dt.tz_localize("{TZ}").dt.tz_convert("UTC")
conn = sqlite3.connect(sys.argv[2])
df.to_sql("bars", conn, index=False)
conn.commit()
n = conn.execute("SELECT COUNT(*) FROM bars").fetchone()[0]
conn.close()
print(json.dumps({{"rows": n, "work_s": time.perf_counter() - t0}}))
"""

PANDAS_EXPORT = """
import io, json, sqlite3, sys, time, pandas as pd
t0 = time.perf_counter()
df = pd.read_sql(sys.argv[2], sqlite3.connect(sys.argv[1]))
buf = io.StringIO()
df.to_csv(buf, index=False)
n = len(buf.getvalue().encode())
print(json.dumps({"rows": len(df), "bytes": n, "work_s": time.perf_counter() - t0}))
"""

PANDAS_PREDICTIONS = """
import json, sqlite3, sys, time, pandas as pd
t0 = time.perf_counter()
df = pd.read_sql(sys.argv[2], sqlite3.connect(sys.argv[1]))
text = df.to_csv()
print(json.dumps({"rows": len(df), "bytes": len(text), "work_s": time.perf_counter() - t0}))
"""

URLLIB_READ = """
import json, sys, time, urllib.request
t0 = time.perf_counter()
body = urllib.request.urlopen(sys.argv[1], timeout=600).read()
print(json.dumps({"rows": body.count(b"\\n") - 1, "bytes": len(body), "work_s": time.perf_counter() - t0}))
"""


# ---- the server ----

class Server:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.proc = None
        self.port = None
        self.log = []
        self.ready = threading.Event()

    def start(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ, BRICKDESK_CONFIG="/dev/null", NO_COLOR="1")
        self.proc = subprocess.Popen(
            [BIN, "--data-dir", self.data_dir, "serve", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + 60
        while not self.ready.wait(0.1):
            if self.proc.poll() is not None:
                fail(f"brickdesk serve exited ({self.proc.returncode}) before listening:\n"
                     + self.tail())
            if time.monotonic() > deadline:
                fail("brickdesk serve printed no 'listening on' line in 60 s:\n" + self.tail())
        if self.port != port:
            fail(f"brickdesk serve listens on {self.port}, asked for {port}")

    def _drain(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.log.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m and not self.ready.is_set():
                self.port = int(m.group(1))
                self.ready.set()

    def tail(self, n=20):
        return "\n".join(self.log[-n:])

    def alive(self):
        if self.proc.poll() is not None:
            fail(f"brickdesk serve died (status {self.proc.returncode}):\n" + self.tail())

    def stop(self):
        """SIGTERM; the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def call(self, method, path, body=None, expect=(200,)):
        """A JSON request: (status, decoded JSON answer)."""
        self.alive()
        c = self.conn()
        try:
            headers = {}
            if body is not None:
                if not isinstance(body, (bytes, bytearray)):
                    body = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            text = r.read()
        finally:
            c.close()
        if r.status not in expect:
            fail(f"{method} {path} -> HTTP {r.status} (expected {expect}): "
                 f"{text[:2000].decode(errors='replace')}")
        try:
            return r.status, json.loads(text)
        except ValueError:
            fail(f"{method} {path} -> HTTP {r.status}, not JSON: {text[:500]!r}")

    def stream(self, method, path, body=None, chunk=1 << 20):
        """Reads a streamed answer in chunks, keeping nothing: (seconds, bytes, rows, type)."""
        self.alive()
        c = self.conn()
        try:
            headers = {}
            if body is not None:
                body = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            start = time.perf_counter()
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            if r.status != 200:
                fail(f"{method} {path} -> HTTP {r.status}: "
                     f"{r.read()[:2000].decode(errors='replace')}")
            ctype = r.getheader("Content-Type", "")
            total = newlines = 0
            last = b""
            while True:
                try:
                    piece = r.read(chunk)
                except http.client.IncompleteRead as e:
                    fail(f"{method} {path}: the body was cut short after "
                         f"{total + len(e.partial):,} bytes (broken transfer)")
                if not piece:
                    break
                total += len(piece)
                newlines += piece.count(b"\n")
                last = piece[-1:]
            elapsed = time.perf_counter() - start
        finally:
            c.close()
        rows = newlines - 1 + (1 if last and last != b"\n" else 0)  # less the header
        return elapsed, total, rows, ctype


def proc_status(pid):
    """VmHWM and VmRSS of a process, MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(rest.split()[0]) / 1024
    if len(out) != 2:
        fail(f"/proc/{pid}/status has no VmHWM/VmRSS")
    return out


def reset_peak(pid):
    """Resets VmHWM (clear_refs 5); the status right after, verified."""
    before = proc_status(pid)
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError as e:
        fail(f"cannot reset the server's peak RSS through /proc/{pid}/clear_refs: {e}")
    after = proc_status(pid)
    # after the reset the peak is the RSS of the moment (give or take what it touched since)
    if after["VmHWM"] - after["VmRSS"] > 8 and after["VmHWM"] >= before["VmHWM"]:
        fail(f"writing 5 to /proc/{pid}/clear_refs did not reset VmHWM "
             f"(before {before['VmHWM']:.1f} MiB, after {after['VmHWM']:.1f} MiB, "
             f"VmRSS {after['VmRSS']:.1f} MiB)")
    return before, after


def sqlite_tables(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    finally:
        conn.close()


def sqlite_count(db, table):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    finally:
        conn.close()


def predictions_csv(rows):
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(11)
    prediction = rng.random(rows)
    frame = pd.DataFrame({
        "timestamp_unix": 1609459200 + 60 * np.arange(rows, dtype=np.int64),
        "bar_index": np.arange(rows, dtype=np.int64),
        "fold_number": np.arange(rows, dtype=np.int64) * 5 // rows,
        "prediction": prediction,
        "target": rng.integers(0, 2, rows),
        "threshold_0": (prediction > 0.5).astype(np.int64),
        "threshold_1": (prediction > 0.6).astype(np.int64),
    })
    return frame.to_csv(index=False)


# ---- printing ----

def table(head, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(str(x).rjust(w) if i else str(x).ljust(w)
                               for i, (x, w) in enumerate(zip(r, widths)))
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def header():
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    import numpy
    import pandas
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / MIB:.1f} GiB"
    print("brickdesk research bench")
    print(f"  nproc {nproc}, RAM {mem}, {platform.system()} {platform.release()}, "
          f"python {platform.python_version()}, pandas {pandas.__version__}, "
          f"numpy {numpy.__version__}")
    print(f"  binary {BIN} (built {time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(BIN)))})")
    print(f"  cache {CACHE}")
    floor = measure([shutil.which("true") or "/bin/true"])[1]
    print(f"  children measured through a python3 -S launcher: peak-RSS floor {floor:.1f} MiB "
          f"(what /bin/true reports)")
    print(flush=True)


# ---- the three parts ----

def bench_import(sizes, keep):
    """Step 1. Returns {rows: data dir} for the dirs kept (the smallest size's)."""
    print("1. CSV import (brickdesk import vs pandas read_csv + to_datetime/tz + to_sql)", flush=True)
    results = []
    kept = {}
    for rows in sizes:
        t = time.perf_counter()
        path = generate(rows)
        gen = time.perf_counter() - t
        if gen > 1:
            print(f"   generated {path} in {gen:.1f}s", flush=True)
        data = keep.enter_context(tempfile.TemporaryDirectory(prefix="bd-research-")) \
            if rows == sizes[0] else None
        with contextlib.ExitStack() as scratch:
            if data is None:
                data = scratch.enter_context(tempfile.TemporaryDirectory(prefix="bd-research-"))
            bd_t, bd_rss, out = measure([BIN, "--data-dir", data, "import", path, "--timezone", TZ])
            m = re.search(r"(\d+)\s+rows", out)
            if not m or int(m.group(1)) != rows:
                fail(f"brickdesk import of {rows:,} rows printed: {out.strip()!r}")
            db = os.path.join(data, "research.sqlite3")
            slug_table = f"bars_{rows}_ohlcv"
            tables = sqlite_tables(db)
            if slug_table not in tables:
                fail(f"{db} has no table {slug_table} (tables: {tables})")
            n = sqlite_count(db, slug_table)
            if n != rows:
                fail(f"{slug_table} holds {n:,} rows, expected {rows:,}")
            if rows == sizes[0]:
                kept[rows] = data
        with tempfile.TemporaryDirectory(prefix="bd-pandas-") as pdir:
            pd_t, pd_rss, out = measure([sys.executable, "-c", PANDAS_IMPORT, path,
                                         os.path.join(pdir, "bars.sqlite3")])
            rep = child_report(out)
            if rep["rows"] != rows:
                fail(f"pandas peer wrote {rep['rows']:,} rows, expected {rows:,}")
        results.append((rows, bd_t, bd_rss, pd_t, pd_rss, rep["work_s"]))
        print(f"   {rows:,} rows done (brickdesk {bd_t:.2f}s, pandas {pd_t:.2f}s)", flush=True)
    print()
    table(["rows", "tool", "wall s", "rows/s", "peak RSS MiB", "speed-up", "RSS ratio"],
          [r for (rows, bd_t, bd_rss, pd_t, pd_rss, _) in results for r in (
              [f"{rows:,}", "brickdesk import", f"{bd_t:.2f}", f"{rows / bd_t:,.0f}",
               f"{bd_rss:,.0f}", f"{pd_t / bd_t:.1f}x", f"{bd_rss / pd_rss:.2f}"],
              [f"{rows:,}", "pandas peer", f"{pd_t:.2f}", f"{rows / pd_t:,.0f}",
               f"{pd_rss:,.0f}", "", ""])])
    print("   speed-up = pandas wall / brickdesk wall; RSS ratio = brickdesk peak / pandas peak.")
    print("   pandas wall includes interpreter + pandas start-up; its in-process work: "
          + ", ".join(f"{r[0]:,}: {r[5]:.2f}s" for r in results))
    print(flush=True)
    return kept


def bench_export(server, db, rows):
    table_name = f"bars_{rows}_ohlcv"
    sql = f"SELECT * FROM {table_name}"
    print(f"2. questdb/export of {rows:,} rows ({sql})", flush=True)
    t, nbytes, nrows, ctype = server.stream("POST", "/api/questdb/export", {"sql": sql})
    if not ctype.startswith("text/csv"):
        fail(f"questdb/export answered Content-Type {ctype!r}, expected text/csv")
    if nrows != rows:
        fail(f"questdb/export streamed {nrows:,} rows, expected {rows:,}")
    srv = proc_status(server.proc.pid)
    pd_t, pd_rss, out = measure([sys.executable, "-c", PANDAS_EXPORT, db, sql])
    rep = child_report(out)
    if rep["rows"] != rows:
        fail(f"pandas export peer read {rep['rows']:,} rows, expected {rows:,}")
    print()
    table(["tool", "wall s", "bytes", "MB/s", "rows/s", "peak RSS MiB"], [
        ["brickdesk questdb/export (client, streamed)", f"{t:.2f}", f"{nbytes:,}",
         f"{nbytes / 1e6 / t:,.1f}", f"{rows / t:,.0f}",
         f"server VmHWM {srv['VmHWM']:,.0f} (since start)"],
        ["pandas read_sql + to_csv(StringIO)", f"{pd_t:.2f}", f"{rep['bytes']:,}",
         f"{rep['bytes'] / 1e6 / pd_t:,.1f}", f"{rows / pd_t:,.0f}", f"{pd_rss:,.0f}"],
    ])
    print(f"   speed-up {pd_t / t:.1f}x (pandas wall / brickdesk wall); pandas in-process work "
          f"{rep['work_s']:.2f}s -> {rep['bytes'] / 1e6 / rep['work_s']:,.1f} MB/s")
    print(flush=True)


def bench_predictions(server, db):
    print(f"3. predictions of {PRED_ROWS:,} rows, streamed as CSV", flush=True)
    server.call("POST", "/api/datasets", {"dataset_id": "ds-bench", "dataset_slug": "ds_bench"},
                expect=(201,))
    server.call("POST", "/api/runs", {"run_id": RUN_ID, "dataset_id": "ds-bench", "fold_count": 5,
                                      "features": ["f1"], "thresholds": [0.5, 0.6]},
                expect=(201,))
    t = time.perf_counter()
    text = predictions_csv(PRED_ROWS)
    body = json.dumps({"measurement": f"wf_{RUN_ID}", "data": text, "filename": "p.csv"}).encode()
    csv_bytes = len(text)
    del text
    gen = time.perf_counter() - t
    t = time.perf_counter()
    _, job = server.call("POST", "/api/questdb/import/async", body, expect=(202,))
    del body
    job_id, poll = job.get("job_id"), job.get("poll_url")
    if not job_id or not poll:
        fail(f"import/async answered without job_id/poll_url: {job}")
    deadline = time.monotonic() + 900
    while True:
        _, st = server.call("GET", poll)
        status = st.get("status")
        if status == "COMPLETED":
            break
        if status in ("FAILED", "CANCELLED", "CANCELED"):
            fail(f"import job {job_id} ended {status}: {json.dumps(st)[:2000]}")
        if time.monotonic() > deadline:
            fail(f"import job {job_id} still {status} after 900 s: {json.dumps(st)[:2000]}")
        time.sleep(0.2)
    imp = time.perf_counter() - t
    n = sqlite_count(db, f"wf_{RUN_ID}")
    if n != PRED_ROWS:
        fail(f"wf_{RUN_ID} holds {n:,} rows after the import, expected {PRED_ROWS:,} (job: {st})")
    print(f"   generated {csv_bytes:,} bytes of CSV in {gen:.1f}s; import/async job {job_id} "
          f"COMPLETED in {imp:.2f}s (POST + polls)", flush=True)

    pid = server.proc.pid
    before_reset, after_reset = reset_peak(pid)
    path = f"/api/runs/{RUN_ID}/predictions?format=csv"
    t, nbytes, nrows, ctype = server.stream("GET", path)
    after = proc_status(pid)
    if not ctype.startswith("text/csv"):
        fail(f"{path} answered Content-Type {ctype!r}, expected text/csv")
    if nrows != PRED_ROWS:
        fail(f"{path} streamed {nrows:,} rows, expected {PRED_ROWS:,}")
    server.alive()

    pd_t, pd_rss, out = measure([sys.executable, "-c", PANDAS_PREDICTIONS, db,
                                 f'SELECT * FROM "wf_{RUN_ID}" ORDER BY rowid'])
    prep = child_report(out)
    if prep["rows"] != PRED_ROWS:
        fail(f"pandas predictions peer read {prep['rows']:,} rows, expected {PRED_ROWS:,}")
    cl_t, cl_rss, out = measure([sys.executable, "-c", URLLIB_READ,
                                 f"http://127.0.0.1:{server.port}{path}"])
    crep = child_report(out)
    if crep["rows"] != PRED_ROWS or crep["bytes"] != nbytes:
        fail(f"urllib client read {crep['rows']:,} rows / {crep['bytes']:,} bytes, "
             f"expected {PRED_ROWS:,} / {nbytes:,}")
    server.alive()

    growth = after["VmHWM"] - after_reset["VmRSS"]
    print(f"   server VmHWM since start {before_reset['VmHWM']:,.1f} MiB, VmRSS "
          f"{before_reset['VmRSS']:,.1f} MiB; after clear_refs VmHWM "
          f"{after_reset['VmHWM']:,.1f} MiB (reset verified)")
    print()
    table(["what", "wall s", "bytes", "MB/s", "peak RSS MiB", "note"], [
        ["brickdesk predictions stream (server)", f"{t:.2f}", f"{nbytes:,}",
         f"{nbytes / 1e6 / t:,.1f}", f"{after['VmHWM']:,.1f}",
         f"RSS before {after_reset['VmRSS']:,.1f}, growth {growth:+,.1f} MiB, "
         f"RSS after {after['VmRSS']:,.1f}"],
        ["pandas read_sql + to_csv() in memory", f"{pd_t:.2f}", f"{prep['bytes']:,}",
         f"{prep['bytes'] / 1e6 / pd_t:,.1f}", f"{pd_rss:,.1f}", "child process peak"],
        ["client urlopen().read() in memory", f"{cl_t:.2f}", f"{crep['bytes']:,}",
         f"{crep['bytes'] / 1e6 / cl_t:,.1f}", f"{cl_rss:,.1f}", "child process peak"],
    ])
    print(f"   {PRED_ROWS:,} rows streamed at {PRED_ROWS / t:,.0f} rows/s; the body is "
          f"{nbytes / MIB:,.1f} MiB, the server's peak grew {growth:+,.1f} MiB while sending it")
    print(flush=True)


def main():
    if not os.path.exists(BIN):
        fail(f"{BIN} not found: build first (cargo build --release)")
    try:
        sizes = [int(a.replace("_", "").replace(",", "")) for a in sys.argv[1:]] \
            or [1_000_000, 10_000_000]
    except ValueError:
        fail(f"usage: {sys.argv[0]} [rows ...]  (got {sys.argv[1:]})")
    if any(s <= 0 for s in sizes):
        fail("row counts must be positive")
    sizes = sorted(dict.fromkeys(sizes))
    header()
    with contextlib.ExitStack() as keep:
        kept = bench_import(sizes, keep)
        rows, data = next(iter(kept.items()))
        db = os.path.join(data, "research.sqlite3")
        server = Server(data)
        try:
            server.start()
            print(f"   (brickdesk serve pid {server.proc.pid} on port {server.port}, "
                  f"data dir of the {rows:,}-row import)\n", flush=True)
            bench_export(server, db, rows)
            bench_predictions(server, db)
        finally:
            code = server.stop()
        if code is None:
            fail("brickdesk serve did not stop within 20 s of SIGTERM (killed)")
        if code != 0:
            fail(f"brickdesk serve exited with status {code} on SIGTERM:\n{server.tail()}")
        print(f"server stopped on SIGTERM (exit {code})")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit(f"research_bench: error: {e}")
    except KeyboardInterrupt:
        sys.exit("research_bench: interrupted")
    except Exception as e:  # an unexpected failure still exits non-zero, with what happened
        import traceback
        traceback.print_exc()
        sys.exit(f"research_bench: error: {type(e).__name__}: {e}")
