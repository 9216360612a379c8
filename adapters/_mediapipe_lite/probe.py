"""Run the five MediaPipe adapters on picture files and print their results as JSON (for checks).

    python adapters/_mediapipe_lite/probe.py RUNTIME PICTURE...     > results.json
    python adapters/_mediapipe_lite/probe.py --compare LITERT.json MEDIAPIPE.json

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


def compare(got_file: str, ref_file: str) -> None:
    """Fail unless each LiteRT result is within tolerance of mediapipe's (pictures matched by file name)."""
    got, ref = (json.loads(Path(p).read_text()) for p in (got_file, ref_file))
    print(f"numpy {got['numpy']} / Python {got['python']}, mediapipe importable: {got['mediapipe_importable']}; "
          f"against mediapipe on numpy {ref['numpy']} / Python {ref['python']}")
    assert got["results"].keys() == ref["results"].keys()
    failed = False
    for adapter, r in ref["results"].items():
        g = got["results"][adapter]
        assert g["runtime"] == "litert" and r["runtime"] == "mediapipe", (g["runtime"], r["runtime"])
        mine = {Path(p).name: v for p, v in g["pictures"].items()}
        for pic, rr in r["pictures"].items():
            name = Path(pic).name
            ok, what = _agree(adapter, rr, mine[name])
            failed |= not ok
            print(f"  {adapter:20s} {name:14s} {what} {'ok' if ok else 'FAIL'}")
    if failed:
        raise SystemExit("LiteRT results differ from mediapipe's beyond the tolerance")


def _agree(adapter: str, rr: dict, gg: dict) -> tuple[bool, str]:
    if adapter == "selfie_segmentation":
        a, b = np.array(rr["mask"]) == 1, np.array(gg["mask"]) == 1
        score = (a & b).sum() / max(1, (a | b).sum())
        return score > 0.97, f"mask IoU {score:.3f}"
    key = "boxes" if adapter == "face_detection" else "landmarks"
    if len(rr[key]) != len(gg[key]):
        return False, f"{len(gg[key])} found, mediapipe {len(rr[key])}"
    if not rr[key]:
        return True, "nothing found by either"
    dist = np.linalg.norm((np.array(rr[key], float) - np.array(gg[key], float)).reshape(-1, 2), axis=1)
    if adapter == "pose":  # points mediapipe itself calls invisible (off the picture) are guesses
        dist = dist[np.array(rr["visibility"]).reshape(-1) > 0.5]
    return float(dist.mean()) < 0.01, f"mean distance {dist.mean():.5f} of the picture"


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1], sys.argv[2:])
