"""MediaPipe adapters: mediapipe vs the same .tflite files on LiteRT, speed and agreement in one run.

    python benchmarks/bench_mediapipe_lite.py [--quick]

Per model, the median ms of the command function alone on one 640x480 frame (the astronaut resized,
or messi5.jpg scaled onto a black 640x480 frame for hands, where a hand is in view) for each
runtime, their calls interleaved, and how far LiteRT's results are from mediapipe's: mask IoU, or
the mean landmark / box-corner distance as a fraction of the picture.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from _common import ROOT, median_p99
from skimage import data

from runway_bridge.model import load_model

MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
CASES = [("selfie_segmentation", "segment", "mask"), ("face_detection", "detect", "boxes"),
         ("face_mesh", "detect", "landmarks"), ("hands", "detect", "landmarks"), ("pose", "detect", "landmarks")]


def picture(adapter: str) -> np.ndarray:
    if adapter == "hands" and MESSI.exists():  # 548x342 scaled to 640 wide, centred on a black 640x480 frame
        messi = cv2.resize(cv2.cvtColor(cv2.imread(str(MESSI)), cv2.COLOR_BGR2RGB), (640, 399))
        canvas = np.zeros((480, 640, 3), np.uint8)
        y, x = (480 - messi.shape[0]) // 2, 0
        canvas[y:y + messi.shape[0], x:x + messi.shape[1]] = messi
        return canvas
    return cv2.resize(data.astronaut(), (640, 480))


def agreement(key: str, ref, got) -> str:
    if key == "mask":
        a, b = ref == 1, got == 1
        return f"IoU {(a & b).sum() / max(1, (a | b).sum()):.3f}"
    if len(ref) != len(got):
        return f"found {len(got)} vs {len(ref)}"
    if not len(ref):
        return "none found by either"
    d = np.linalg.norm((np.asarray(ref, float) - np.asarray(got, float)).reshape(-1, 2), axis=1)
    return f"mean dist {d.mean():.4f}"


def timed(fn, states: dict, img, n: int) -> dict[str, tuple[float, dict]]:
    """Median ms per runtime, calls interleaved so that other load on the machine hits both alike."""
    outs = {rt: fn(state, {"image": img}) for rt, state in states.items()}
    samples: dict[str, list[float]] = {rt: [] for rt in states}
    for _ in range(n):
        for rt, state in states.items():
            t = time.perf_counter()
            fn(state, {"image": img})
            samples[rt].append((time.perf_counter() - t) * 1000)
    return {rt: (median_p99(samples[rt])[0], outs[rt]) for rt in states}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 frames per model instead of 60 (CI)")
    n = 10 if ap.parse_args().quick else 60
    print(f"{'model':20s} {'mediapipe ms':>12s} {'litert ms':>10s}  agreement")
    for adapter, command, key in CASES:
        m, img = load_model(ROOT / "adapters" / adapter), picture(adapter)
        states = {rt: m.run_setup({"runtime": rt}) for rt in ("mediapipe", "litert")}
        res = timed(m.commands[command].fn, states, img, n)
        (mp_ms, ref), (lt_ms, got) = res["mediapipe"], res["litert"]
        print(f"{adapter:20s} {mp_ms:12.1f} {lt_ms:10.1f}  {agreement(key, ref[key], got[key])}", flush=True)


if __name__ == "__main__":
    main()
