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
"$PYTHON" - "$WORK/np2.json" "$WORK/ref.json" <<'PY'
import json, sys
import numpy as np
got, ref = (json.load(open(p)) for p in sys.argv[1:3])
assert int(got["numpy"].split(".")[0]) >= 2 and not got["mediapipe_importable"], got["numpy"]
print(f"numpy {got['numpy']} / Python {got['python']} without mediapipe vs mediapipe on numpy {ref['numpy']}")
for adapter, r in ref["results"].items():
    g = got["results"][adapter]
    assert g["runtime"] == "litert" and r["runtime"] == "mediapipe"
    for pic, rr in r["pictures"].items():
        gg, name = g["pictures"][pic], pic.rsplit("/", 1)[-1]
        if adapter == "selfie_segmentation":
            a, b = np.array(rr["mask"]) == 1, np.array(gg["mask"]) == 1
            score = (a & b).sum() / max(1, (a | b).sum())
            ok = score > 0.97
            what = f"mask IoU {score:.3f}"
        else:
            key = "boxes" if adapter == "face_detection" else "landmarks"
            if len(rr[key]) != len(gg[key]):
                raise SystemExit(f"{adapter} {name}: {len(gg[key])} found, mediapipe {len(rr[key])}")
            if not rr[key]:
                print(f"  {adapter:20s} {name:14s} nothing found by either"); continue
            d = np.abs(np.array(rr[key], float) - np.array(gg[key], float)).reshape(-1, 2)
            dist = np.linalg.norm(d, axis=1)
            if adapter == "pose":  # points mediapipe itself calls invisible (off the picture) are guesses
                dist = dist[np.array(rr["visibility"]).reshape(-1) > 0.5]
            score = float(dist.mean())
            ok, what = score < 0.01, f"mean distance {score:.5f} of the picture"
        print(f"  {adapter:20s} {name:14s} {what} {'ok' if ok else 'FAIL'}")
        assert ok
PY
