"""Read printed text (English and Chinese) with PaddleOCR's PP-OCRv4 models.

Runs ``rapidocr-onnxruntime``, which ships the PP-OCRv4 detection and recognition networks and the
PP-OCR mobile direction classifier as ONNX files and runs them with onnxruntime.

- ``read``: every text line, top to bottom: its box, its text, its confidence, and all lines
  joined with newlines.
- ``detect``: only where the text lines are (no recognition), several times faster.

Boxes are axis-aligned ``[x0, y0, x1, y1]``, normalised 0..1, around each line's quadrilateral
(lines may be slanted).
"""

from __future__ import annotations

import cv2
import numpy as np
from rapidocr_onnxruntime import RapidOCR

from runway_bridge import array, command, image, image_bounding_box, number, run, setup, text


def _bgr(rgb: np.ndarray) -> np.ndarray:
    """rapidocr takes arrays in OpenCV's BGR order (the bridge hands over RGB)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _box(quad, width: int, height: int) -> list[float]:
    """The normalised axis-aligned box around a quadrilateral of pixel points."""
    pts = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    x0, x1 = np.clip([x0 / width, x1 / width], 0.0, 1.0)
    y0, y1 = np.clip([y0 / height, y1 / height], 0.0, 1.0)
    # keep x0 < x1 and y0 < y1 even for a line one pixel thick at the border
    eps_x, eps_y = 0.5 / width, 0.5 / height
    if x1 - x0 < eps_x:
        x0, x1 = max(0.0, x1 - eps_x), min(1.0, x0 + eps_x)
    if y1 - y0 < eps_y:
        y0, y1 = max(0.0, y1 - eps_y), min(1.0, y0 + eps_y)
    return [float(x0), float(y0), float(x1), float(y1)]


class OCR:
    def __init__(self, detection_side: int):
        self.engine = RapidOCR(det_limit_side_len=detection_side)
        self.engine.text_score = 0.0  # each call filters by its own min_score

    def read(self, img, min_score: float) -> dict:
        bgr = _bgr(img)
        h, w = bgr.shape[:2]
        result, _ = self.engine(bgr)
        boxes, texts, scores = [], [], []
        for quad, line, score in result or []:
            if float(score) >= min_score:
                boxes.append(_box(quad, w, h))
                texts.append(str(line))
                scores.append(float(score))
        return {"boxes": boxes, "texts": texts, "scores": scores, "text": "\n".join(texts)}

    def detect(self, img) -> dict:
        bgr = _bgr(img)
        h, w = bgr.shape[:2]
        result, _ = self.engine(bgr, use_cls=False, use_rec=False)
        return {"boxes": [_box(quad, w, h) for quad in result or []]}


@setup(
    options={
        "detection_side": number(
            default=736,
            min=320,
            max=1536,
            step=32,
            description="the text detector scales the image's shorter side up to at least this; "
            "smaller is faster, larger finds smaller text",
        ),
    }
)
def setup_model(opts):
    return OCR(int(opts["detection_side"]))


@command(
    "read",
    inputs={
        "image": image(),
        "min_score": number(default=0.5, min=0, max=1, step=0.05, description="drop lines read with less confidence"),
    },
    outputs={
        "boxes": array(image_bounding_box),
        "texts": array(text),
        "scores": array(number),
        "text": text(),
    },
    description="Read every line of text: boxes, texts and confidences (top to bottom), and all lines joined.",
)
def read(model, inputs):
    return model.read(inputs["image"], float(inputs["min_score"]))


@command(
    "detect",
    inputs={"image": image()},
    outputs={"boxes": array(image_bounding_box)},
    description="Find the text lines without reading them (faster).",
)
def detect(model, inputs):
    return model.detect(inputs["image"])


if __name__ == "__main__":
    run()
