#!/usr/bin/env bash
# The MediaPipe adapters' LiteRT path on numpy 2 without mediapipe, compared with mediapipe itself.
#
#   bash scripts/check_litert_numpy2.sh [VENV]   (default /tmp/np2venv; reused when it exists)
#
# Builds a venv with only numpy>=2, ai-edge-litert, opencv-python-headless and pillow (PyPI),
# runs adapters/_mediapipe_lite/probe.py there on two real photos, runs it again with mediapipe in
# the main environment (PYTHON, default .venv/bin/python), and compares (docs/mediapipe-lite.md).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-/tmp/np2venv}
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=/work/main/.venv/bin/python
BASE=${BASE_PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$BASE" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q "numpy>=2" "ai-edge-litert==2.3.0" "opencv-python-headless==4.11.0.86" "pillow>=10"
fi
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
MODELS=$("$PYTHON" - "$WORK" <<'PY'
import sys, pathlib, cv2, mediapipe
from skimage import data
cv2.imwrite(f"{sys.argv[1]}/astronaut.png", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
print(pathlib.Path(mediapipe.__file__).parent / "modules")
PY
)
PICS=("$WORK/astronaut.png")
[ -f /usr/share/doc/opencv-doc/examples/data/messi5.jpg ] && PICS+=(/usr/share/doc/opencv-doc/examples/data/messi5.jpg)
# The numpy-2 venv gets only the model files (as fetch.py would extract them), never the mediapipe package.
RW_MEDIAPIPE_MODELS=${RW_MEDIAPIPE_MODELS:-$MODELS} PYTHONPATH=$PWD "$VENV/bin/python" \
    adapters/_mediapipe_lite/probe.py litert "${PICS[@]}" 2>"$WORK/np2.err" >"$WORK/np2.json" || { cat "$WORK/np2.err"; exit 1; }
PYTHONPATH=$PWD "$PYTHON" adapters/_mediapipe_lite/probe.py mediapipe "${PICS[@]}" 2>/dev/null >"$WORK/ref.json"
PYTHONPATH=$PWD "$PYTHON" adapters/_mediapipe_lite/probe.py --compare "$WORK/np2.json" "$WORK/ref.json"
