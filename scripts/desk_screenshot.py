#!/usr/bin/env python3
"""Screenshot `brickdesk demo` as a PNG for the README: run it in a private COLS x ROWS tmux,
capture the pane with its 24-bit colors, convert it to HTML (ansi2html), shoot that with headless chromium."""
import argparse, json, os, re, shutil, socket, subprocess, sys, tempfile, time
from pathlib import Path

# Cells of exactly 9x17px: DejaVu Sans Mono at 15.5px is 9.33px wide and 18px tall, so with a negative
# letter-spacing every glyph overlaps its neighbours a little and █ ▀ ▄ │ ─ touch with no seam or gap.
FONT = f"font:15.5px/17px 'DejaVu Sans Mono',monospace;letter-spacing:{9 - 15.5 * 1233 / 2048:.4f}px"
BG, FG = "#0b0f14", "#d8dee9"


def die(msg):
    sys.exit(f"desk_screenshot: {msg}")


def pip_import(module, package):
    """Import module, installing package with `pip install --user` first if it is missing."""
    import importlib, site
    try:
        return importlib.import_module(module)
    except ImportError:
        print(f"installing {package} (pip install --user)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--user", package], check=True)
        sys.path.append(site.getusersitepackages())
        importlib.invalidate_caches()
        return importlib.import_module(module)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def capture(a):
    """Run the demo in a detached tmux session on a private socket; return the pane as ANSI text."""
    name = f"deskshot{os.getpid()}"
    tmux = ["tmux", "-L", name, "-f", "/dev/null"]
    extra = dict(TERM="xterm-256color", COLORTERM="truecolor", BRICKDESK_CONFIG="/dev/null")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TMUX")} | extra
    app = ["env", "-u", "NO_COLOR", *(f"{k}={v}" for k, v in extra.items()), a.bin, "demo", "--port", str(free_port())]
    t = lambda *args, **kw: subprocess.run(tmux + list(args), env=env, check=True, text=True, **kw)
    try:
        t("start-server", ";", "set", "-g", "status", "off", ";", "set", "-g", "remain-on-exit", "on", ";",
          "set", "-g", "default-terminal", "tmux-256color", ";", "set", "-as", "terminal-features", ",*:RGB", ";",
          "new-session", "-d", "-s", name, "-x", str(a.cols), "-y", str(a.rows), *app)
        time.sleep(a.wait)
        if a.keys:
            t("send-keys", "-t", name, *a.keys)
            time.sleep(1)
        size, dead = t("display", "-p", "-t", name, "#{pane_width}x#{pane_height} #{pane_dead}",
                       capture_output=True).stdout.split()
        text = t("capture-pane", "-e", "-p", "-t", name, capture_output=True).stdout
        if dead == "1":
            die(f"{a.bin} exited early; its screen was:\n{re.sub(chr(27) + r'[[][0-9;]*m', '', text)}")
        if size != f"{a.cols}x{a.rows}":
            die(f"tmux pane is {size}, not {a.cols}x{a.rows}")
    finally:
        subprocess.run(tmux + ["send-keys", "-t", name, "q"], env=env, capture_output=True)
        time.sleep(0.5)
        subprocess.run(tmux + ["kill-server"], env=env, capture_output=True)
        sock = Path(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", name)
        sock.unlink(missing_ok=True)  # tmux leaves its socket file behind
    if "38;2;" not in text:
        die("the capture has no 24-bit color escapes (38;2;...): colors were lost")
    return text


def chromium(browser, html, *flags):
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--user-data-dir={profile}", *flags, html.as_uri()],
                           capture_output=True, text=True, timeout=60)
    if r.returncode:
        die(f"{browser} failed:\n{r.stderr}")
    return r.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cols", type=int, default=160)
    p.add_argument("--rows", type=int, default=48)
    p.add_argument("--wait", type=float, default=6, help="seconds to let the demo run before the capture")
    p.add_argument("--out", default="docs/desk-160x48.png")
    p.add_argument("--bin", default="target/release/brickdesk")
    p.add_argument("--scale", type=float, default=1, help="device pixel ratio (2 = sharper, twice the pixels)")
    p.add_argument("--keys", nargs="*", default=[], help="tmux send-keys arguments sent before the capture")
    a = p.parse_args()

    if not shutil.which("tmux"):
        die("tmux is not installed (apt-get install tmux)")
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "headless_shell")
                    if shutil.which(b)), None)
    if not browser:
        die("no chromium found (apt-get install chromium)")
    if not os.access(a.bin, os.X_OK):
        die(f"{a.bin} is missing or not executable (cargo build --release)")
    a.bin = os.path.abspath(a.bin)

    lines = (capture(a).split("\n") + [""] * a.rows)[: a.rows]
    conv = pip_import("ansi2html", "ansi2html").Ansi2HTMLConverter(inline=True, line_wrap=False)
    body = conv.convert("\n".join(lines), full=False)
    page = (f"<!doctype html><meta charset=utf-8><style>html,body{{margin:0;padding:0;background:{BG}}}"
            f"pre{{margin:0;display:inline-block;vertical-align:top;{FONT};color:{FG};background:{BG};"
            f"white-space:pre;font-variant-ligatures:none}}</style><pre id=s>{body}</pre>"
            "<script>const r=document.getElementById('s').getBoundingClientRect();"
            "document.title=JSON.stringify([r.width,r.height])</script>")
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "desk.html"
        html.write_text(page, encoding="utf-8")
        dom = chromium(browser, html, "--window-size=4000,3000", "--dump-dom")
        w, h = json.loads(re.search(r"<title>(.*?)</title>", dom).group(1))
        w, h = round(w), round(h)
        if (w, h) != (a.cols * 9, a.rows * 17):
            print(f"warning: text is {w}x{h}px, not {a.cols}x{a.rows} cells of 9x17px: DejaVu Sans Mono "
                  "missing or a glyph from another font? (fc-list | grep DejaVu)", file=sys.stderr)
        out = Path(a.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        # headless chromium paints only part of windows ~100-150px tall: use a taller one and crop
        chromium(browser, html, f"--window-size={w},{max(h, 240)}", f"--force-device-scale-factor={a.scale}",
                 f"--screenshot={out}")
    if h < 240:
        im = pip_import("PIL.Image", "Pillow").open(out)
        im.crop((0, 0, round(w * a.scale), round(h * a.scale))).save(out)
    png = out.read_bytes()
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        die(f"{out} is not a PNG")
    pw, ph = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    print(f"{out} {pw}x{ph} (text {w}x{h} css px)")


if __name__ == "__main__":
    main()
