"""Run the five MediaPipe adapters on picture files and print their results as JSON (for checks).

    python adapters/_mediapipe_lite/probe.py RUNTIME PICTURE...

Used by scripts/check_litert_numpy2.sh to compare a numpy-2 venv without mediapipe with the
mediapipe results of the main environment; needs only numpy, OpenCV, ai-edge-litert and runway_bridge.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from runway_bridge.model import load_model

ADAPTERS = Path(__file__).resolve().parents[1]
CALLS = [("selfie_segmentation", "segment"), ("face_detection", "detect"), ("face_mesh", "detect"),
         ("hands", "detect"), ("pose", "detect")]


def summary(out: dict) -> dict:
    """JSON-able results: masks as the fraction and indices of person pixels on a coarse grid."""
    res = {}
    for key, value in out.items():
        if isinstance(value, np.ndarray) and value.ndim == 2 and value.dtype == np.uint8:
            res[key] = value[::8, ::8].astype(int).tolist()
        else:
            res[key] = json.loads(json.dumps(value, default=lambda v: np.asarray(v).tolist()))
    return res


def main(runtime: str, pictures: list[str]) -> None:
    images = {p: cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in pictures}
    report = {"numpy": np.__version__, "python": sys.version.split()[0],
              "mediapipe_importable": _importable("mediapipe"), "results": {}}
    for adapter, command in CALLS:
        m = load_model(ADAPTERS / adapter)
        state = m.run_setup({"runtime": runtime})
        report["results"][adapter] = {
            "runtime": getattr(state, "runtime", None),
            "pictures": {p: summary(m.commands[command].fn(state, {"image": img})) for p, img in images.items()},
        }
    print(json.dumps(report))


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
