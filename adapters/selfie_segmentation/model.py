"""Person segmentation: which pixels belong to people (MediaPipe Selfie Segmentation).

Runs ``mp.solutions.selfie_segmentation`` from ``mediapipe==0.10.21``. Made for people within a
few metres of the camera (video calls, webcams). ``general`` works at 256x256, ``landscape`` at
144x256 and is a little faster. Both commands give results at the input's size.

- ``segment``: a label map, ``person`` (1) where the person probability reaches ``threshold``.
- ``cutout``: the picture as RGBA with the background transparent; the edge is softened over the
  probability band around ``threshold``.
"""

from __future__ import annotations

import threading

import mediapipe as mp
import numpy as np

from runway_bridge import category, command, image, number, run, segmentation, setup

MODELS = {"general": 0, "landscape": 1}
LABEL_TO_ID = {"background": 0, "person": 1}
LABEL_TO_COLOR = {"background": [0, 0, 0], "person": [255, 255, 255]}
SOFT = 0.1  # half-width of the probability band that becomes a soft alpha edge


class Segmenter:
    def __init__(self, model: str, threshold: float):
        self.segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=MODELS[model])
        self.threshold = threshold
        self.lock = threading.Lock()  # a MediaPipe graph runs one frame at a time

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """Per-pixel person probability, HxW float32 in 0..1."""
        with self.lock:
            result = self.segmenter.process(np.ascontiguousarray(rgb[:, :, :3]))
        return result.segmentation_mask


@setup(options={
    "model_selection": category(choices=list(MODELS), default="general",
                                description="general: 256x256 model; landscape: 144x256, a little faster."),
    "threshold": number(default=0.5, min=0.05, max=0.95, step=0.05,
                        description="Person probability at which a pixel counts as the person."),
})
def setup_model(opts):
    return Segmenter(opts["model_selection"], opts["threshold"])


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
