"""Bytes the console writes to its terminal per second, measured over a real pty (80x24):
idle, and while bricks arrive at 10/s; beside the peer `top -d 1` (a terminal dashboard that
refreshes once a second) in the same pty setup. Usage: python3 benches/tui_bytes.py [seconds]"""
import fcntl
import json
import os
import pty
import select
import struct
import sys
import tempfile
import termios
import threading
import time
import urllib.request

SECS = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "brickdesk")
PORT = 18231


def spawn(argv, env):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    return pid, fd


def count(fd, secs):
    end, n = time.time() + secs, 0
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            n += len(chunk)
            if b"\x1b[6n" in chunk:  # answer the cursor-position query like a terminal does
                os.write(fd, b"\x1b[1;1R")
    return n


def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=2).read()


def main():
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    env = dict(os.environ, TERM="xterm-256color", BRICKDESK_CONFIG="/dev/null")
    for k in ("TV_WEBHOOK_SECRET", "DASHBOARD_PASSWORD", "BRIDGE_HEARTBEAT_SECRET", "NO_COLOR"):
        env.pop(k, None)
    data = tempfile.mkdtemp()
    pid, fd = spawn([BIN, "--data-dir", data, "console", "--port", str(PORT)], env)
    count(fd, 3.0)  # first frame and start-up
    post("/tv_heartbeat", {"symbol": "ES", "price": 5250.0})
    count(fd, 1.5)
    idle = count(fd, SECS) / SECS

    stop = threading.Event()

    def bricks():
        n = 0
        while not stop.is_set():
            n += 1
            post("/tv_renko_one", {"asset": "ES", "color": "green" if n % 3 else "red", "bar_id": f"b{n}"})
            time.sleep(0.1)

    t = threading.Thread(target=bricks)
    t.start()
    busy = count(fd, SECS) / SECS
    stop.set()
    t.join()
    os.write(fd, b"q")
    count(fd, 1.0)
    os.waitpid(pid, 0)

    ppid, pfd = spawn(["top", "-d", "1"], env)
    count(pfd, 2.0)
    peer = count(pfd, SECS) / SECS
    os.kill(ppid, 9)
    os.waitpid(ppid, 0)

    print(f"console idle:              {idle:10.0f} bytes/s")
    print(f"console, bricks at 10/s:   {busy:10.0f} bytes/s")
    print(f"peer `top -d 1` idle:      {peer:10.0f} bytes/s")
    print(f"ratio idle console / top:  {idle / peer:10.2f}x")
    print(f"ratio busy console / top:  {busy / peer:10.2f}x")


main()
