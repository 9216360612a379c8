"""Body pose: 33 landmarks of one person (MediaPipe BlazePose, full model).

Runs ``mp.solutions.pose`` from ``mediapipe==0.10.21`` when mediapipe imports, or the same
``.tflite`` files on LiteRT otherwise (``runtime`` option; docs/mediapipe-lite.md; ``tracking``
is mediapipe-only), with ``model_complexity=1``: the only
BlazePose model inside the wheel (the lite and heavy ones are downloaded at run time, which fails
offline). Finds at most one person. Labels are MediaPipe's ``PoseLandmark`` names in lower case
(``nose``, ``left_shoulder``, ...; left and right are the subject's own). Points outside the frame
keep their coordinates (below 0 or above 1) with a low ``visibility``.

With ``tracking`` on, each frame starts from the previous frame's pose: faster and steadier for
one live camera stream, wrong for unrelated pictures or several interleaved streams.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np

from runway_bridge import array, boolean, category, command, image, image_landmarks, number, run, setup, vector


def lite(name: str):
    """``adapters/_mediapipe_lite/<name>.py``, imported by path: ``adapters/`` is no package."""
    if "_mediapipe_lite" not in sys.modules:
        folder = Path(__file__).resolve().parents[1] / "_mediapipe_lite"
        spec = importlib.util.spec_from_file_location("_mediapipe_lite", folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        sys.modules["_mediapipe_lite"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["_mediapipe_lite"])
    return importlib.import_module(f"_mediapipe_lite.{name}")


LABELS = list(lite("landmarks").POSE_LANDMARKS)
CONNECTIONS = [[LABELS[a], LABELS[b]] for a, b in lite("landmarks").POSE_CONNECTIONS]


class Pose:
    def __init__(self, min_confidence: float, tracking: bool, runtime: str = "auto"):
        self.runtime = lite("runtime").choose(runtime)
        self.pose = self.lite = None
        if self.runtime == "litert":
            self.lite = lite("body").Pose(min_confidence)
        else:
            import mediapipe as mp

            self.pose = mp.solutions.pose.Pose(
                static_image_mode=not tracking, model_complexity=1,
                min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence,
            )
        self.lock = threading.Lock()  # a MediaPipe graph runs one frame at a time

    def landmarks(self, rgb: np.ndarray):
        if self.lite is not None:
            return self.lite.landmarks(rgb)
        with self.lock:
            result = self.pose.process(np.ascontiguousarray(rgb[:, :, :3]))
        if result.pose_landmarks is None:
            return None
        return np.array([[p.x, p.y, p.visibility] for p in result.pose_landmarks.landmark], dtype=np.float64)


@setup(options={
    "min_confidence": number(default=0.5, min=0.05, max=1.0, step=0.05,
                             description="Detection (and tracking) confidence threshold."),
    "tracking": boolean(default=False, description="Follow the person from frame to frame (one live stream; mediapipe only)."),
    "runtime": category(choices=["auto", "mediapipe", "litert"], default="auto",
                        description="auto: mediapipe if it imports, else the same model files on LiteRT."),
})
def setup_model(opts):
    return Pose(opts["min_confidence"], opts["tracking"], opts["runtime"])


@command("detect", inputs={"image": image()},
         outputs={"landmarks": array(image_landmarks(len(LABELS), labels=LABELS, connections=CONNECTIONS),
                                     max_length=1),
                  "visibility": array(vector(length=len(LABELS)), max_length=1),
                  "detected": boolean},
         description="33 body landmarks of one person, each with a visibility from 0 to 1.")
def detect(model: Pose, inputs):
    pts = model.landmarks(inputs["image"])
    if pts is None:
        return {"landmarks": [], "visibility": [], "detected": False}
    return {"landmarks": [pts[:, :2]], "visibility": [pts[:, 2]], "detected": True}


if __name__ == "__main__":
    run()
