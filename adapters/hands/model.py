"""Hands: 21 landmarks per hand, which hand it is, and a score (MediaPipe Hands).

Runs ``mp.solutions.hands`` from ``mediapipe==0.10.21`` (palm detector plus hand landmark model;
``full`` or ``lite``, both inside the wheel) when mediapipe imports, or the same ``.tflite`` files
on LiteRT otherwise (``runtime`` option; docs/mediapipe-lite.md; ``tracking`` is mediapipe-only). Labels are MediaPipe's ``HandLandmark`` names in
lower case (``wrist``, ``thumb_tip``, ``index_finger_tip``, ...).

``handedness`` follows MediaPipe's convention, which assumes a mirrored (selfie) picture: a left
hand in an unmirrored photo is reported as ``Right``. Turn ``mirrored_input`` off to get the true
hand for unmirrored camera frames and photos.
``scores`` are MediaPipe's confidence in that handedness (near 0.5: unsure), not a detection score.

With ``tracking`` on, each frame starts from the previous frame's hands: faster and steadier for
one live camera stream, wrong for unrelated pictures or several interleaved streams.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np

from runway_bridge import (
    array,
    boolean,
    category,
    command,
    image,
    image_bounding_box,
    image_landmarks,
    number,
    run,
    setup,
    text,
)

COMPLEXITY = {"lite": 0, "full": 1}
SWAP = {"Left": "Right", "Right": "Left"}


def lite(name: str):
    """``adapters/_mediapipe_lite/<name>.py``, imported by path: ``adapters/`` is no package."""
    if "_mediapipe_lite" not in sys.modules:
        folder = Path(__file__).resolve().parents[1] / "_mediapipe_lite"
        spec = importlib.util.spec_from_file_location("_mediapipe_lite", folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        sys.modules["_mediapipe_lite"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["_mediapipe_lite"])
    return importlib.import_module(f"_mediapipe_lite.{name}")


LABELS = list(lite("landmarks").HAND_LANDMARKS)
CONNECTIONS = [[LABELS[a], LABELS[b]] for a, b in lite("landmarks").HAND_CONNECTIONS]


class Hands:
    def __init__(self, max_hands: int, complexity: str, min_confidence: float, tracking: bool, mirrored: bool,
                 runtime: str = "auto"):
        self.runtime = lite("runtime").choose(runtime)
        self.hands = self.lite = None
        if self.runtime == "litert":
            self.lite = lite("body").Hands(max_hands, complexity, min_confidence)
        else:
            import mediapipe as mp

            self.hands = mp.solutions.hands.Hands(
                static_image_mode=not tracking, max_num_hands=max_hands, model_complexity=COMPLEXITY[complexity],
                min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence,
            )
        self.mirrored = mirrored
        self.lock = threading.Lock()  # a MediaPipe graph runs one frame at a time

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, str, float]]:
        if self.lite is not None:
            found = [(pts, label if self.mirrored else SWAP[label], score) for pts, label, score in self.lite.detect(rgb)]
            return sorted(found, key=lambda f: -f[2])
        with self.lock:
            result = self.hands.process(np.ascontiguousarray(rgb[:, :, :3]))
        found = []
        for lms, hand in zip(result.multi_hand_landmarks or [], result.multi_handedness or [], strict=True):
            cls = hand.classification[0]
            label = cls.label if self.mirrored else SWAP.get(cls.label, cls.label)
            found.append((np.array([[p.x, p.y] for p in lms.landmark], dtype=np.float64), label, float(cls.score)))
        return sorted(found, key=lambda f: -f[2])


@setup(options={
    "max_hands": number(default=2, min=1, max=4, step=1, description="At most this many hands."),
    "model_complexity": category(choices=list(COMPLEXITY), default="full",
                                 description="full is more accurate; lite is faster."),
    "min_confidence": number(default=0.5, min=0.05, max=1.0, step=0.05,
                             description="Detection (and tracking) confidence threshold."),
    "tracking": boolean(default=False, description="Follow hands from frame to frame (one live stream; mediapipe runtime only)."),
    "mirrored_input": boolean(default=True,
                              description="Pictures are mirrored like a selfie view (MediaPipe's default)."),
    "runtime": category(choices=["auto", "mediapipe", "litert"], default="auto",
                        description="auto: mediapipe if it imports, else the same model files on LiteRT."),
})
def setup_model(opts):
    return Hands(int(opts["max_hands"]), opts["model_complexity"], opts["min_confidence"], opts["tracking"],
                 opts["mirrored_input"], opts["runtime"])


@command("detect", inputs={"image": image()},
         outputs={"landmarks": array(image_landmarks(len(LABELS), labels=LABELS, connections=CONNECTIONS)),
                  "handedness": array(text),
                  "scores": array(number),
                  "boxes": array(image_bounding_box)},
         description="21 landmarks per hand, 'Left' or 'Right', a score and a box, best first.")
def detect(model: Hands, inputs):
    found = model.detect(inputs["image"])
    boxes = []
    for pts, _, _ in found:
        lo, hi = np.clip(pts.min(axis=0), 0.0, 1.0), np.clip(pts.max(axis=0), 0.0, 1.0)
        boxes.append([float(lo[0]), float(lo[1]), float(max(hi[0], lo[0] + 1e-6)), float(max(hi[1], lo[1] + 1e-6))])
    return {"landmarks": [f[0] for f in found], "handedness": [f[1] for f in found],
            "scores": [f[2] for f in found], "boxes": boxes}


if __name__ == "__main__":
    run()
