# brickdesk Python runner harness: feeds a dataset's columns to run_strategy(frame) and writes the
# new output columns back as raw float64 files. Runs inside a sandbox; talks only through files.
import json
import sys
import traceback


def fail(result_path, kind, detail):
    with open(result_path, "w") as f:
        json.dump({"ok": False, "error": kind, "detail": detail}, f)
    sys.exit(3)


def main():
    spec = json.load(open(sys.argv[1]))
    result = spec["result"]
    try:
        import numpy as np
        import pandas as pd
    except ImportError as e:
        fail(result, "missing_dependency", str(e))
    d, lo, hi = spec["data_dir"], spec["start"], spec["end"]
    ts = np.fromfile(d + "/timestamp.i64", dtype="<i8")[lo:hi]
    frame = pd.DataFrame({c: np.fromfile(d + "/" + c + ".f64", dtype="<f8")[lo:hi] for c in ["open", "high", "low", "close", "volume"]})
    frame.insert(0, "timestamp", pd.to_datetime(ts, unit="ms", utc=True))
    given = set(frame.columns)
    namespace = {"__name__": "strategy"}
    try:
        code = compile(open(spec["strategy"]).read(), "strategy.py", "exec")
        exec(code, namespace)
        if "run_strategy" not in namespace:
            fail(result, "no_entry_point", "the artifact defines no run_strategy(frame) function")
        out = namespace["run_strategy"](frame)
    except SystemExit:
        raise
    except BaseException:
        fail(result, "raised", traceback.format_exc(limit=20))
    if not isinstance(out, pd.DataFrame):
        fail(result, "bad_output", "run_strategy returned %s, not a pandas DataFrame" % type(out).__name__)
    if len(out) != len(frame):
        fail(result, "bad_output", "run_strategy returned %d rows for %d input rows" % (len(out), len(frame)))
    columns = []
    for i, name in enumerate(out.columns):
        name = str(name)
        if name in given:
            continue
        col = out.iloc[:, i]
        kind = "bool" if col.dtype == bool or str(col.dtype) == "boolean" else "number"
        try:
            values = pd.to_numeric(col.astype("float64") if kind == "bool" else col, errors="coerce").astype("float64").to_numpy()
        except (TypeError, ValueError):
            continue  # not a numeric series (labels, objects): not comparable
        path = "%s/out_%d.f64" % (spec["out_dir"], len(columns))
        values.astype("<f8").tofile(path)
        columns.append({"name": name, "kind": kind, "file": path})
    with open(result, "w") as f:
        json.dump({"ok": True, "rows": len(out), "columns": columns}, f)


main()
