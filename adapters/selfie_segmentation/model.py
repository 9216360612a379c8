"""Person segmentation: which pixels belong to people (MediaPipe Selfie Segmentation).

Runs ``mp.solutions.selfie_segmentation`` from ``mediapipe==0.10.21`` when mediapipe imports, or
the same ``.tflite`` files on LiteRT otherwise (``runtime`` option; docs/mediapipe-lite.md). Made for people within a
few metres of the camera (video calls, webcams). ``general`` works at 256x256, ``landscape`` at
144x256 and is a little faster. Both commands give results at the input's size.

- ``segment``: a label map, ``person`` (1) where the person probability reaches ``threshold``.
- ``cutout``: the picture as RGBA with the background transparent; the edge is softened over the
  probability band around ``threshold``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from pathlib import Path

import numpy as np

from runway_bridge import category, command, image, number, run, segmentation, setup

MODELS = {"general": 0, "landscape": 1}
LABEL_TO_ID = {"background": 0, "person": 1}
LABEL_TO_COLOR = {"background": [0, 0, 0], "person": [255, 255, 255]}
SOFT = 0.1  # half-width of the probability band that becomes a soft alpha edge


def lite(name: str):
    """``adapters/_mediapipe_lite/<name>.py``, imported by path: ``adapters/`` is no package."""
    if "_mediapipe_lite" not in sys.modules:
        folder = Path(__file__).resolve().parents[1] / "_mediapipe_lite"
        spec = importlib.util.spec_from_file_location("_mediapipe_lite", folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        sys.modules["_mediapipe_lite"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["_mediapipe_lite"])
    return importlib.import_module(f"_mediapipe_lite.{name}")


class MediaPipeSegmenter:
    def __init__(self, model: str):
        import mediapipe as mp

        self.segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=MODELS[model])
        self.lock = threading.Lock()  # a MediaPipe graph runs one frame at a time

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """Per-pixel person probability, HxW float32 in 0..1."""
        with self.lock:
            result = self.segmenter.process(np.ascontiguousarray(rgb[:, :, :3]))
        return result.segmentation_mask


class Segmenter:
    def __init__(self, model: str, threshold: float, runtime: str = "auto"):
        self.runtime = lite("runtime").choose(runtime)
        if self.runtime == "mediapipe":
            self.backend = MediaPipeSegmenter(model)
        else:
            self.backend = lite("segmentation").SelfieSegmenter(model)
        self.threshold = threshold

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        return self.backend.probability(rgb)


@setup(options={
    "model_selection": category(choices=list(MODELS), default="general",
                                description="general: 256x256 model; landscape: 144x256, a little faster."),
    "threshold": number(default=0.5, min=0.05, max=0.95, step=0.05,
                        description="Person probability at which a pixel counts as the person."),
    "runtime": category(choices=["auto", "mediapipe", "litert"], default="auto",
                        description="auto: mediapipe if it imports, else the same model files on LiteRT."),
})
def setup_model(opts):
    return Segmenter(opts["model_selection"], opts["threshold"], opts["runtime"])


@command("segment", inputs={"image": image()},
         outputs={"mask": segmentation(label_to_id=LABEL_TO_ID, label_to_color=LABEL_TO_COLOR)},
         description="Label every pixel as person or background.")
def segment(model: Segmenter, inputs):
    return {"mask": (model.probability(inputs["image"]) >= model.threshold).astype(np.uint8)}


@command("cutout", inputs={"image": image()}, outputs={"image": image(channels=4)},
         description="The picture with its background made transparent (RGBA).")
def cutout(model: Segmenter, inputs):
    rgb = np.ascontiguousarray(inputs["image"][:, :, :3])
    prob = model.probability(rgb)
    alpha = np.clip((prob - model.threshold) / (2 * SOFT) + 0.5, 0.0, 1.0)
    return {"image": np.dstack([rgb, (alpha * 255.0 + 0.5).astype(np.uint8)])}


if __name__ == "__main__":
    run()
