#!/usr/bin/env bash
# The whole test suite, from a fresh clone. Installs what the tests need first (nothing is skipped
# when a dependency is missing: it is installed, or the run fails saying what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

need_cmd() { # command debian-package
  command -v "$1" >/dev/null 2>&1 && return
  echo "== installing $2 (needed by the tests)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$2" >/dev/null
  command -v "$1" >/dev/null 2>&1 || { echo "could not install $2: install it and run again" >&2; exit 1; }
}

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
command -v cargo >/dev/null || { echo "cargo is missing: install the Rust toolchain (rustup)" >&2; exit 1; }
need_cmd python3 python3
need_cmd tmux tmux
need_cmd pgrep procps
need_cmd bwrap bubblewrap
need_cmd chromium chromium   # the browser tests: a foreign page must not reach the desk; /ui
need_cmd chromedriver chromium-driver   # /ui driven in headless Chromium (WebDriver)
if ! python3 -c "import pandas, numpy" 2>/dev/null; then
  echo "== installing pandas (needed by the parity-run tests)"
  python3 -m pip install -q pandas numpy 2>/dev/null \
    || python3 -m pip install -q --user --break-system-packages pandas numpy 2>/dev/null \
    || { $SUDO apt-get install -y -qq python3-pandas >/dev/null 2>&1; } || true
  python3 -c "import pandas, numpy" || { echo "could not install pandas: pip install pandas (or apt-get install python3-pandas) and run again" >&2; exit 1; }
fi

# the version the check was written against: how backtesting.py counts commission has changed
# between releases
BACKTESTING=0.6.6
if [ "$(python3 -c 'import backtesting; print(backtesting.__version__)' 2>/dev/null)" != "$BACKTESTING" ]; then
  echo "== installing backtesting.py $BACKTESTING (the peer of the backtest check)"
  python3 -m pip install -q "backtesting==$BACKTESTING" 2>/dev/null \
    || python3 -m pip install -q --user --break-system-packages "backtesting==$BACKTESTING" 2>/dev/null || true
  [ "$(python3 -c 'import backtesting; print(backtesting.__version__)' 2>/dev/null)" = "$BACKTESTING" ] \
    || { echo "could not install backtesting.py $BACKTESTING: pip install backtesting==$BACKTESTING and run again" >&2; exit 1; }
fi

echo "== cargo test"
cargo test --locked --all-targets "$@"
