"""Face detection: a box, a score and six key points per face (MediaPipe BlazeFace).

Runs ``mp.solutions.face_detection`` from ``mediapipe==0.10.21``, whose wheel ships both models:
``short_range`` for faces within about 2 m of the camera (selfies, webcams) and ``full_range``
for faces up to about 5 m away. Key points are named from the subject's point of view: the
subject's right eye is on the left of an unmirrored photo.
"""

from __future__ import annotations

import threading

import mediapipe as mp
import numpy as np

from runway_bridge import array, category, command, image, image_bounding_box, image_landmarks, number, run, setup

KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"]
MODELS = {"short_range": 0, "full_range": 1}


class FaceDetector:
    def __init__(self, min_confidence: float, model: str):
        self.detector = mp.solutions.face_detection.FaceDetection(
            min_detection_confidence=min_confidence, model_selection=MODELS[model]
        )
        self.lock = threading.Lock()  # a MediaPipe graph runs one frame at a time

    def detect(self, rgb: np.ndarray) -> list:
        with self.lock:
            result = self.detector.process(np.ascontiguousarray(rgb[:, :, :3]))
        return result.detections or []


@setup(options={
    "min_confidence": number(default=0.5, min=0.05, max=1.0, step=0.05,
                             description="Faces scored below this are dropped."),
    "model_selection": category(choices=list(MODELS), default="short_range",
                                description="short_range: faces within ~2 m; full_range: up to ~5 m."),
})
def setup_model(opts):
    return FaceDetector(opts["min_confidence"], opts["model_selection"])


@command("detect", inputs={"image": image()},
         outputs={"boxes": array(image_bounding_box),
                  "scores": array(number),
                  "keypoints": array(image_landmarks(len(KEYPOINTS), labels=KEYPOINTS))},
         description="Find faces: one box, score and six key points each, best first.")
def detect(model: FaceDetector, inputs):
    boxes, scores, keypoints = [], [], []
    for det in sorted(model.detect(inputs["image"]), key=lambda d: -d.score[0]):
        rel = det.location_data.relative_bounding_box
        x0, y0 = max(0.0, rel.xmin), max(0.0, rel.ymin)
        x1, y1 = min(1.0, rel.xmin + rel.width), min(1.0, rel.ymin + rel.height)
        if x1 <= x0 or y1 <= y0:
            continue
        boxes.append([x0, y0, x1, y1])
        scores.append(float(det.score[0]))
        keypoints.append([[k.x, k.y] for k in det.location_data.relative_keypoints])
    return {"boxes": boxes, "scores": scores, "keypoints": keypoints}


if __name__ == "__main__":
    run()
