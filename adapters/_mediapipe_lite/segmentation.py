"""Selfie segmentation on LiteRT: the picture stretched to the model's input (0..1), the mask stretched back.

The stretch maps the picture's corners to the tensor's, as MediaPipe's ImageToTensor does; the
mask goes back with ``cv2.resize`` (linear), as its TensorsToSegmentation does.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import geometry as g
from .runtime import TFLiteModel

MODELS = {
    "general": "selfie_segmentation/selfie_segmentation.tflite",
    "landscape": "selfie_segmentation/selfie_segmentation_landscape.tflite",
}


class SelfieSegmenter:
    def __init__(self, model: str = "general"):
        self.model = TFLiteModel(MODELS[model])
        _, self.height, self.width, _ = self.model.input_shape

    def probability(self, image: np.ndarray) -> np.ndarray:
        """Per-pixel person probability, HxW float32 in 0..1."""
        rgb = np.ascontiguousarray(image[:, :, :3])
        h, w = rgb.shape[:2]
        rect = (w / 2.0, h / 2.0, float(w), float(h), 0.0)
        tensor = g.crop(rgb, rect, (self.width, self.height), (0.0, 1.0), border=cv2.BORDER_CONSTANT)
        (mask,) = self.model.run(tensor).values()
        mask = mask.reshape(self.height, self.width)
        return np.clip(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
