"""Peer for the webhook load test: the same /tv_renko_one webhook the way the Python dashboards
brickdesk replaces serve it (stdlib threaded HTTP server, sqlite3 in WAL, one durable commit per
request). Usage: peer_webhook.py PORT DB_PATH"""
import json
import os
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("TV_WEBHOOK_SECRET", "load-secret")
port, path = int(sys.argv[1]), sys.argv[2]
db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS bricks(asset TEXT, size TEXT, bar_id TEXT, color TEXT, received_at TEXT,"
           " PRIMARY KEY(asset, size, bar_id)) WITHOUT ROWID")
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        try:
            d = json.loads(raw)
        except ValueError:
            return self.reply(400, {"ok": False, "error": "not JSON"})
        if d.get("secret") != SECRET:
            return self.reply(401, {"ok": False, "error": "bad secret"})
        with lock:
            cur = db.execute("INSERT OR IGNORE INTO bricks VALUES (?, 'one', ?, ?, datetime('now'))",
                             (d["asset"], d["bar_id"], d["color"]))
        self.reply(200, {"ok": True, "duplicate": cur.rowcount == 0})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
