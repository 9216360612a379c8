"""Face detection: a box, a score and six key points per face (MediaPipe BlazeFace).

Runs ``mp.solutions.face_detection`` from ``mediapipe==0.10.21`` when mediapipe imports, or the
same ``.tflite`` files on LiteRT otherwise (``runtime`` option; docs/mediapipe-lite.md). Two models:
``short_range`` for faces within about 2 m of the camera (selfies, webcams) and ``full_range``
for faces up to about 5 m away. Key points are named from the subject's point of view: the
subject's right eye is on the left of an unmirrored photo.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np

from runway_bridge import array, category, command, image, image_bounding_box, image_landmarks, number, run, setup

KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"]
MODELS = {"short_range": 0, "full_range": 1}
# mediapipe 0.10.21's Python FaceDetection ignores min_detection_confidence: its graphs keep these
# score thresholds. Both runtimes find faces at the graph's threshold; min_confidence filters above it.
GRAPH_THRESHOLD = {"short_range": 0.5, "full_range": 0.6}


def lite(name: str):
    """``adapters/_mediapipe_lite/<name>.py``, imported by path: ``adapters/`` is no package."""
    if "_mediapipe_lite" not in sys.modules:
        folder = Path(__file__).resolve().parents[1] / "_mediapipe_lite"
        spec = importlib.util.spec_from_file_location("_mediapipe_lite", folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        sys.modules["_mediapipe_lite"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["_mediapipe_lite"])
    return importlib.import_module(f"_mediapipe_lite.{name}")


class MediaPipeFaceDetector:
    def __init__(self, min_confidence: float, model: str):
        import mediapipe as mp

        self.detector = mp.solutions.face_detection.FaceDetection(
            min_detection_confidence=min_confidence, model_selection=MODELS[model]
        )
        self.lock = threading.Lock()  # a MediaPipe graph runs one frame at a time

    def detect(self, rgb: np.ndarray) -> list:
        """The same `Face` records as the LiteRT path: score, box (x0, y0, x1, y1), key points."""
        with self.lock:
            result = self.detector.process(np.ascontiguousarray(rgb[:, :, :3]))
        face = lite("face").Face
        faces = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            box = np.array([rel.xmin, rel.ymin, rel.xmin + rel.width, rel.ymin + rel.height])
            kps = np.array([[k.x, k.y] for k in det.location_data.relative_keypoints])
            faces.append(face(float(det.score[0]), box, kps))
        return faces


def FaceDetector(min_confidence: float, model: str, runtime: str = "auto"):  # noqa: N802 - a factory
    """The detector for ``runtime``; its ``runtime`` attribute says which one was picked."""
    chosen = lite("runtime").choose(runtime)
    if chosen == "mediapipe":
        detector = MediaPipeFaceDetector(min_confidence, model)
    else:
        detector = lite("face").FaceDetector(GRAPH_THRESHOLD[model], model)
    detector.runtime, detector.min_confidence = chosen, min_confidence
    return detector


@setup(options={
    "min_confidence": number(default=0.5, min=0.05, max=1.0, step=0.05,
                             description="Faces scored below this are dropped (MediaPipe's own floor: "
                                         "0.5 short range, 0.6 full range)."),
    "model_selection": category(choices=list(MODELS), default="short_range",
                                description="short_range: faces within ~2 m; full_range: up to ~5 m."),
    "runtime": category(choices=["auto", "mediapipe", "litert"], default="auto",
                        description="auto: mediapipe if it imports, else the same model files on LiteRT."),
})
def setup_model(opts):
    return FaceDetector(opts["min_confidence"], opts["model_selection"], opts["runtime"])


@command("detect", inputs={"image": image()},
         outputs={"boxes": array(image_bounding_box),
                  "scores": array(number),
                  "keypoints": array(image_landmarks(len(KEYPOINTS), labels=KEYPOINTS))},
         description="Find faces: one box, score and six key points each, best first.")
def detect(model: FaceDetector, inputs):
    boxes, scores, keypoints = [], [], []
    for face in sorted(model.detect(inputs["image"]), key=lambda f: -f.score):
        if face.score < model.min_confidence:
            continue
        x0, y0 = max(0.0, float(face.box[0])), max(0.0, float(face.box[1]))
        x1, y1 = min(1.0, float(face.box[2])), min(1.0, float(face.box[3]))
        if x1 <= x0 or y1 <= y0:
            continue
        boxes.append([x0, y0, x1, y1])
        scores.append(face.score)
        keypoints.append(face.keypoints.tolist())
    return {"boxes": boxes, "scores": scores, "keypoints": keypoints}


if __name__ == "__main__":
    run()
