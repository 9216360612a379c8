"""MediaPipe's detector and ROI arithmetic in numpy: SSD anchors, box decoding, weighted NMS, rects.

Reimplemented from the behaviour described by MediaPipe's graph configs (SsdAnchorsCalculator,
TensorsToDetectionsCalculator, NonMaxSuppressionCalculator WEIGHTED, DetectionsToRectsCalculator,
RectTransformationCalculator, ImageToTensorCalculator), so that the ``.tflite`` files give the
same answers without the mediapipe package. All rects here are in pixels of the source image:
``(cx, cy, w, h, angle)`` with the angle in radians, clockwise on screen (y points down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SsdSpec:
    """One detector's anchor and decoding options (numbers from its MediaPipe graph)."""

    size: int  # square input tensor side
    strides: tuple[int, ...]
    num_keypoints: int
    interpolated_ratio: float = 1.0
    min_scale: float = 0.1484375
    max_scale: float = 0.75


def ssd_anchors(spec: SsdSpec) -> np.ndarray:
    """Anchor centres, (N, 2) in 0..1, in the order the model's outputs use (fixed anchor size)."""
    n_layers, centres, layer = len(spec.strides), [], 0
    while layer < n_layers:
        per_cell, last = 0, layer
        while last < n_layers and spec.strides[last] == spec.strides[layer]:
            per_cell += 1 + (spec.interpolated_ratio > 0)  # one aspect ratio (1.0), plus the interpolated one
            last += 1
        side = math.ceil(spec.size / spec.strides[layer])
        ys, xs = np.meshgrid((np.arange(side) + 0.5) / side, (np.arange(side) + 0.5) / side, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
        layer = last
    return np.concatenate(centres).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, spec: SsdSpec,
           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, boxes (xmin, ymin, xmax, ymax) and key points (K, 2), in the tensor's 0..1 space."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = scores >= min_score
    raw, anc = raw_boxes.reshape(len(anchors), -1)[keep], anchors[keep]
    s = float(spec.size)
    centre = raw[:, 0:2] / s + anc
    half = raw[:, 2:4] / s / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    kps = raw[:, 4:4 + 2 * spec.num_keypoints].reshape(-1, spec.num_keypoints, 2) / s + anc[:, None, :]
    return scores[keep], boxes, kps


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0.0, None), axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, kps: np.ndarray, threshold: float = 0.3,
                 limit: int | None = None) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """MediaPipe's WEIGHTED suppression: each kept box is the score-weighted mean of its overlaps."""
    order, out = np.argsort(-scores, kind="stable"), []
    while order.size and (limit is None or len(out) < limit):
        top = order[0]
        near = _iou(boxes[top], boxes[order]) > threshold
        group, order = order[near], order[~near]
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(0) / w.sum()
        kp = (kps[group] * w[:, :, None]).sum(0) / w.sum()
        out.append((float(scores[top]), box, kp))
    return out


def letterbox_rect(height: int, width: int) -> tuple[float, float, float, float, float]:
    """The square rect, centred on the image, that ImageToTensor's keep_aspect_ratio pads it to."""
    side = float(max(height, width))
    return width / 2.0, height / 2.0, side, side, 0.0


def crop(rgb: np.ndarray, rect: tuple, size: int | tuple[int, int], value_range: tuple[float, float],
         border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """The rotated rect resampled to a (1, height, width, 3) float32 tensor in ``value_range``.

    ``size`` is the side of a square tensor, or (width, height).
    """
    cx, cy, w, h, angle = rect
    sw, sh = (size, size) if isinstance(size, int) else size
    c, s = math.cos(angle), math.sin(angle)
    # output pixel (u, v) -> source point centre + R @ (u / sw - .5, v / sh - .5) * (w, h): the rect's
    # corners go to the tensor's corners, as MediaPipe's OpenCV converter maps them (no half-pixel shift)
    a = np.array([[c * w / sw, -s * h / sh, 0.0], [s * w / sw, c * h / sh, 0.0]])
    a[:, 2] = np.array([cx, cy]) - a[:, :2] @ np.array([sw / 2.0, sh / 2.0])
    out = cv2.warpAffine(rgb, a, (sw, sh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=border, borderValue=(0, 0, 0))
    lo, hi = value_range
    return (out.astype(np.float32) * ((hi - lo) / 255.0) + lo)[None]


def project(points: np.ndarray, rect: tuple) -> np.ndarray:
    """Points in the rect's 0..1 tensor space back to source pixels."""
    cx, cy, w, h, angle = rect
    c, s = math.cos(angle), math.sin(angle)
    x, y = (points[:, 0] - 0.5) * w, (points[:, 1] - 0.5) * h
    return np.stack([c * x - s * y + cx, s * x + c * y + cy], axis=1)


def rotation(p0: np.ndarray, p1: np.ndarray, target_degrees: float) -> float:
    """The angle that turns the vector p0 -> p1 (pixels) to the target direction, in -pi..pi."""
    r = math.radians(target_degrees) - math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0])
    return r - 2 * math.pi * math.floor((r + math.pi) / (2 * math.pi))


def transform(rect: tuple, scale: float, shift_y: float = 0.0) -> tuple[float, float, float, float, float]:
    """RectTransformationCalculator with square_long: shift (in the rect's frame), square, scale."""
    cx, cy, w, h, angle = rect
    if shift_y:
        cx, cy = cx - h * shift_y * math.sin(angle), cy + h * shift_y * math.cos(angle)
    side = max(w, h) * scale
    return cx, cy, side, side, angle
