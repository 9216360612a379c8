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
printf '\033[1m==> %s\033[0m\n' "pytest"
.venv/bin/python -m pytest "$@"
