#!/usr/bin/env bash
# Install everything the tests need, start the services they use (dockerd), and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
if [ -f scripts/docker-setup.sh ]; then
  bash scripts/docker-setup.sh
fi
printf '\033[1m==> %s\033[0m\n' "ruff"
.venv/bin/ruff check .
if [ "$#" -eq 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
  # Proof that no model downloads anything at run time: the catalogue's tests, with the network
  # cut off (a fresh network namespace with only loopback up).
  printf '\033[1m==> %s\033[0m\n' "catalogue tests with no network"
  unshare -n sh -c 'ip link set lo up && .venv/bin/python -m pytest -q -p no:cacheprovider tests/adapters'
fi
printf '\033[1m==> %s\033[0m\n' "pytest"
.venv/bin/python -m pytest "$@"
