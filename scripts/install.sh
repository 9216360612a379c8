#!/usr/bin/env bash
# Install runway_bridge with every built-in model into ./.venv (no weights are downloaded at run
# time: they ship inside the packages). `--test` adds what the test suite needs: Python test
# packages, Debian packages (liblo-tools, chromium, opencv-doc) and the Node test clients.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "Creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
PIP=".venv/bin/pip --disable-pip-version-check"
extras="[models]"
[ "${1:-}" = "--test" ] && extras="[models,test]"
say "Installing runway_bridge$extras and its models' packages (a few minutes the first time)"
$PIP install -q -e ".$extras"
# These two declare requirements we must not install (jax, TensorFlow, a second OpenCV); the parts
# they really import are in pyproject.toml.
$PIP install -q --no-deps mediapipe==0.10.21 fer==25.10.3

if command -v npm >/dev/null; then
  say "Installing p5.js for the example sketches"
  (cd runway_bridge/web/vendor && npm install --no-audit --no-fund --loglevel=error) \
    || echo "   (p5.js not installed: the example pages will use a CDN copy when online)"
fi

if [ "${1:-}" = "--test" ]; then
  if command -v apt-get >/dev/null; then
    missing=""
    for pkg in liblo-tools chromium opencv-doc curl; do
      dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
      say "Installing Debian packages:$missing"
      SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
    fi
  fi
  if [ -f tests/node/package.json ]; then
    say "Installing the Node test clients"
    (cd tests/node && npm install --no-audit --no-fund --loglevel=error)
  fi
fi
say "Done. Start the daemon with: .venv/bin/runway-bridge serve"
