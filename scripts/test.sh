#!/usr/bin/env bash
# Install everything the tests need, start the services they use (dockerd), and run them:
# ruff, `pip check` (through runway_bridge.nodeps), the catalogue tests with no network, pytest,
# and the core tests again on Python 3.13 with numpy 2 (scripts/py313.sh, as root with
# debootstrap). Arguments go to pytest, and then only pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
if [ -f scripts/docker-setup.sh ]; then
  bash scripts/docker-setup.sh
fi
printf '\033[1m==> %s\033[0m\n' "ruff"
.venv/bin/ruff check .
printf '\033[1m==> %s\033[0m\n' "pip check"
.venv/bin/python -m runway_bridge.nodeps check
if [ "$#" -eq 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  # Proof that no model downloads anything at run time: the catalogue's tests, with the network
  # cut off (a fresh network namespace with only loopback up).
  printf '\033[1m==> %s\033[0m\n' "catalogue tests with no network"
  unshare -n sh -c 'ip link set lo up && .venv/bin/python -m pytest -q -p no:cacheprovider tests/adapters'
fi
printf '\033[1m==> %s\033[0m\n' "pytest"
.venv/bin/python -m pytest "$@"
if [ "$#" -eq 0 ] && [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null && [ -z "${RB_SKIP_PY313:-}" ]; then
  printf '\033[1m==> %s\033[0m\n' "core tests on Python 3.13 with numpy 2"
  bash scripts/py313.sh
elif [ "$#" -eq 0 ] && [ -n "${RUNWAY_BRIDGE_REQUIRE_PY313:-}" ]; then
  echo "the Python 3.13 run needs root and debootstrap (RUNWAY_BRIDGE_REQUIRE_PY313 is set)" >&2
  exit 1
fi
