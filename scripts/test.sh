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

command -v cargo >/dev/null || { echo "cargo is missing: install the Rust toolchain (rustup)" >&2; exit 1; }
need_cmd python3 python3
need_cmd tmux tmux
need_cmd pgrep procps

echo "== cargo test"
cargo test --locked --all-targets "$@"
