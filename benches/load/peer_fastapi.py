"""FastAPI + uvicorn peer for the webhook load test: the same /tv_renko_one webhook served the way
the seeds' own stack (FastAPI on uvicorn, sqlite3 in WAL) would serve it, with the fastest
settings such a deployment would reasonably use (uvloop, httptools, no access log, a pydantic
model parsed straight from the raw body).

Per request: parse and validate the JSON body whatever its content-type (TradingView posts
text/plain), check the secret (401 otherwise), insert the brick with INSERT OR IGNORE on
UNIQUE(asset, size, bar_id) (an ignored insert is the duplicate: {"ok": true, "duplicate": true}),
commit, and only then answer. The bricks table and its index are brickdesk's own, so each insert
does the same index work.

Usage: peer_fastapi.py PORT DB_PATH SYNC        SYNC: FULL (an fsync per commit, brickdesk's
durability) or NORMAL (WAL without the per-commit fsync: the last commits can be lost on power
loss). Env: TV_WEBHOOK_SECRET (default load-secret), PEER_WORKERS (default: FULL 1, NORMAL 2).

Tuned for its best throughput on this 2-core machine (sharing it with wrk), each choice measured
with alternating 4 s runs at 16 connections on an otherwise idle machine:
- NORMAL: 2 uvicorn workers (~7.4k req/s vs ~6.7k with 1). The work is CPU-bound (HTTP, JSON,
  pydantic; a commit without fsync takes a few us) and a second process uses the second core. The
  insert runs inline on the event loop: a thread hop per request costs more than the commit (the
  insert handed to a dedicated thread halved the req/s: ~3.5k vs ~6.9k with 1 worker).
- FULL: 1 worker (~2.8k req/s, p99 ~12 ms, vs ~2.55k and p99 100-330 ms with 2). Commits are
  serial anyway (SQLite's WAL write lock is held through each commit's fsync), and a second worker
  that finds the lock taken backs off in sqlite3's busy handler (1, 2, 5, 10 ms, ...). The insert
  runs on one dedicated thread that owns the connection (aiosqlite's model), so the event loop
  keeps parsing requests while the disk syncs: ~2.9-3.15k req/s vs ~2.85k inline; FastAPI's own thread
  pool (a `def` handler behind a lock) gave ~2.4k.
With several workers each process opens its own connection. PEER_WORKERS overrides the count.
"""
import asyncio
import os
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Literal, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

SCHEMA = """
CREATE TABLE IF NOT EXISTS bricks(
    id INTEGER PRIMARY KEY,
    asset TEXT NOT NULL, size TEXT NOT NULL, bar_id TEXT NOT NULL,
    color TEXT NOT NULL, open REAL, close REAL, source TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE(asset, size, bar_id));
CREATE INDEX IF NOT EXISTS bricks_recent ON bricks(asset, size, id);
"""
INSERT = ("INSERT OR IGNORE INTO bricks(asset, size, bar_id, color, open, close, source, received_at)"
          " VALUES (?, ?, ?, ?, NULL, NULL, 'webhook', ?)")


def connect(path: str, sync: str) -> sqlite3.Connection:
    # isolation_level=None: autocommit, so every INSERT is its own transaction, committed (and
    # with FULL fsynced) before execute() returns. timeout: busy wait when another worker writes.
    db = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={sync}")
    return db


class Brick(BaseModel):
    secret: Union[str, None] = None
    asset: str
    color: Literal["green", "red"]
    bar_id: Union[str, int]


SECRET = os.environ.get("TV_WEBHOOK_SECRET", "load-secret")
db = None  # this worker's connection, opened at start-up
writer = None  # FULL: the one thread that uses it; NORMAL: None, the event loop's thread uses it


@asynccontextmanager
async def lifespan(_app):
    global db, writer
    sync = os.environ["PEER_SYNC"]
    db = connect(os.environ["PEER_DB"], sync)
    writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite") if sync == "FULL" else None
    yield
    if writer:
        writer.shutdown()
    db.close()


def insert(row: tuple) -> bool:
    """Inserts and commits one brick; False when (asset, size, bar_id) is already stored."""
    return db.execute(INSERT, row).rowcount == 1


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/tv_renko_one")
async def tv_renko_one(request: Request):
    try:
        b = Brick.model_validate_json(await request.body())
    except ValidationError as e:
        return JSONResponse({"ok": False, "error": e.errors(include_url=False)[0]["msg"]}, 400)
    if b.secret != SECRET:
        return JSONResponse({"ok": False, "error": "bad secret"}, 401)
    bar_id = str(b.bar_id)
    received_at = datetime.now(timezone.utc).isoformat()
    row = (b.asset, "one", bar_id, b.color, received_at)
    fresh = await asyncio.get_running_loop().run_in_executor(writer, insert, row) if writer else insert(row)
    if not fresh:
        return JSONResponse({"ok": True, "duplicate": True})
    return JSONResponse({"ok": True, "duplicate": False,
                         "brick": {"asset": b.asset, "size": "one", "color": b.color,
                                   "bar_id": bar_id, "received_at": received_at}})


def main() -> None:
    import uvicorn

    if len(sys.argv) != 4 or sys.argv[3].upper() not in ("FULL", "NORMAL"):
        sys.exit("usage: peer_fastapi.py PORT DB_PATH FULL|NORMAL")
    port, path, sync = int(sys.argv[1]), sys.argv[2], sys.argv[3].upper()
    connect(path, sync).executescript(SCHEMA)  # once, before any worker starts
    os.environ["PEER_DB"], os.environ["PEER_SYNC"] = path, sync  # read by each worker
    workers = int(os.environ.get("PEER_WORKERS", "1" if sync == "FULL" else "2"))
    # With workers > 1 uvicorn needs an import string; the workers re-import this module.
    target = "peer_fastapi:app" if workers > 1 else app
    uvicorn.run(target, host="127.0.0.1", port=port, workers=workers, loop="uvloop",
                http="httptools", access_log=False, log_level="warning", backlog=2048,
                app_dir=os.path.dirname(os.path.abspath(__file__)))


if __name__ == "__main__":
    main()
