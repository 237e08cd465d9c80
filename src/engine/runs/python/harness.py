# brickdesk Python runner harness, run as `python -I -S -B -c <this>`. Reads its spec and the
# strategy's source on stdin, feeds the dataset's columns to run_strategy(frame), and answers on
# fd 3: one JSON line, then each new output column as raw little-endian float64.
# As root it drops to the run's own uid before the strategy's code is loaded.
import json
import os
import sys
import traceback

OUT = os.fdopen(3, "wb")
DETAIL_CAP = 16384
# modules loaded before the uid drop: when the interpreter lives where the run's uid cannot read
# (a pyenv under /root), a strategy can still import these
PRELOAD = ["math", "statistics", "collections", "itertools", "functools", "datetime", "decimal",
           "fractions", "json", "re", "typing", "dataclasses", "enum", "operator", "random",
           "bisect", "heapq", "copy", "warnings", "socket", "numpy", "pandas"]


def answer(obj, columns=()):
    OUT.write(json.dumps(obj).encode() + b"\n")
    for values in columns:
        OUT.write(values.astype("<f8").tobytes())
    OUT.flush()


def fail(kind, detail):
    if len(detail) > DETAIL_CAP:
        detail = "[… cut]\n" + detail[-DETAIL_CAP:]
    answer({"ok": False, "error": kind, "detail": detail})
    sys.exit(3)


def drop_privileges(uid):
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def main():
    spec = json.loads(sys.stdin.buffer.read())
    sys.path[:] = spec["path"]
    try:
        import numpy as np
        import pandas as pd
    except ImportError as e:
        fail("missing_dependency", str(e))
    d, lo, hi = spec["data_dir"], spec["start"], spec["end"]
    ts = np.fromfile(d + "/timestamp.i64", dtype="<i8")[lo:hi]
    frame = pd.DataFrame({c: np.fromfile(d + "/" + c + ".f64", dtype="<f8")[lo:hi] for c in ["open", "high", "low", "close", "volume"]})
    frame.insert(0, "timestamp", pd.to_datetime(ts, unit="ms", utc=True))
    if spec.get("uid") is not None:
        drop_privileges(spec["uid"])
    os.chdir(os.environ.get("HOME", "/"))
    given = set(frame.columns)
    namespace = {"__name__": "strategy"}
    try:
        code = compile(spec["source"], "strategy.py", "exec")
        del spec
        exec(code, namespace)
        if "run_strategy" not in namespace:
            fail("no_entry_point", "the artifact defines no run_strategy(frame) function")
        out = namespace["run_strategy"](frame)
    except SystemExit:
        raise
    except BaseException:
        fail("raised", traceback.format_exc(limit=20))
    if not isinstance(out, pd.DataFrame):
        fail("bad_output", "run_strategy returned %s, not a pandas DataFrame" % type(out).__name__)
    if len(out) != len(frame):
        fail("bad_output", "run_strategy returned %d rows for %d input rows" % (len(out), len(frame)))
    columns, values = [], []
    for i, name in enumerate(out.columns):
        name = str(name)[:200]
        if name in given:
            continue
        col = out.iloc[:, i]
        kind = "bool" if col.dtype == bool or str(col.dtype) == "boolean" else "number"
        try:
            v = pd.to_numeric(col.astype("float64") if kind == "bool" else col, errors="coerce").astype("float64").to_numpy()
        except (TypeError, ValueError):
            continue  # not a numeric series (labels, objects): not comparable
        if len(columns) == 256:
            fail("bad_output", "run_strategy returned more than 256 new columns")
        columns.append({"name": name, "kind": kind})
        values.append(v)
    answer({"ok": True, "rows": len(out), "columns": columns}, values)


main()
