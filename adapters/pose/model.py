"""Body pose: 33 landmarks of one person (MediaPipe BlazePose, full model).

Runs ``mp.solutions.pose`` from ``mediapipe==0.10.21`` with ``model_complexity=1``: the only
BlazePose model inside the wheel (the lite and heavy ones are downloaded at run time, which fails
offline). Finds at most one person. Labels are MediaPipe's ``PoseLandmark`` names in lower case
(``nose``, ``left_shoulder``, ...; left and right are the subject's own). Points outside the frame
keep their coordinates (below 0 or above 1) with a low ``visibility``.

With ``tracking`` on, each frame starts from the previous frame's pose: faster and steadier for
one live camera stream, wrong for unrelated pictures or several interleaved streams.
"""

from __future__ import annotations

import threading

import mediapipe as mp
import numpy as np
from mediapipe.python.solutions import pose as mp_pose

from runway_bridge import array, boolean, command, image, image_landmarks, number, run, setup, vector

LABELS = [p.name.lower() for p in mp_pose.PoseLandmark]
CONNECTIONS = [[LABELS[a], LABELS[b]] for a, b in sorted(mp_pose.POSE_CONNECTIONS)]


class Pose:
    def __init__(self, min_confidence: float, tracking: bool):
        self.pose = mp.solutions.pose.Pose(
            static_image_mode=not tracking, model_complexity=1,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence,
        )
        self.lock = threading.Lock()  # a MediaPipe graph runs one frame at a time

    def landmarks(self, rgb: np.ndarray):
        with self.lock:
            result = self.pose.process(np.ascontiguousarray(rgb[:, :, :3]))
        if result.pose_landmarks is None:
            return None
        return np.array([[p.x, p.y, p.visibility] for p in result.pose_landmarks.landmark], dtype=np.float64)


@setup(options={
    "min_confidence": number(default=0.5, min=0.05, max=1.0, step=0.05,
                             description="Detection (and tracking) confidence threshold."),
    "tracking": boolean(default=False, description="Follow the person from frame to frame (one live stream)."),
})
def setup_model(opts):
    return Pose(opts["min_confidence"], opts["tracking"])


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
