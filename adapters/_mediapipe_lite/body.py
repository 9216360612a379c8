"""MediaPipe Hands and BlazePose (full) on LiteRT, as MediaPipe's graphs run them.

Hands: palms are found in the letterboxed picture (192x192, 0..1), each palm's box is turned so
wrist -> middle knuckle points up, shifted half a box toward the fingers and enlarged 2.6x; that
crop (224x224) gives 21 landmarks, a presence score and the handedness (probability of "Left").
Pose: the person detector (224x224, -1..1) gives hips centre and a scale point; a square 2.5x that
radius (times 1.25), turned upright, is cropped to 256x256; the 33 landmarks are refined on the
model's heatmap (7x7 window) and their visibility is the sigmoid of the model's output.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import geometry as g
from .runtime import TFLiteModel

PALM = g.SsdSpec(192, (8, 16, 16, 16), 7)
POSE = g.SsdSpec(224, (8, 16, 32, 32, 32), 4)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -100.0, 100.0)))


def _detections(model: TFLiteModel, spec: g.SsdSpec, anchors, rgb, value_range, min_score, limit):
    """Detections as (score, box corners, key points) in source pixels, best first."""
    rect = g.letterbox_rect(*rgb.shape[:2])
    out = list(model.run(g.crop(rgb, rect, spec.size, value_range)).values())
    raw_boxes, raw_scores = sorted(out, key=lambda a: a.shape[-1], reverse=True)
    found = g.weighted_nms(*g.decode(raw_boxes, raw_scores, anchors, spec, min_score), limit=limit)
    return [(s, g.project(b.reshape(2, 2), rect), g.project(k, rect)) for s, b, k in found]


class Hands:
    """``detect`` gives (21x2 points in 0..1, "Left"/"Right" as MediaPipe names it, its score)."""

    def __init__(self, max_hands: int = 2, complexity: str = "full", min_confidence: float = 0.5):
        self.palm = TFLiteModel(f"palm_detection/palm_detection_{complexity}.tflite")
        self.landmark = TFLiteModel(f"hand_landmark/hand_landmark_{complexity}.tflite")
        self.anchors = g.ssd_anchors(PALM)
        self.max_hands, self.min_confidence = max_hands, min_confidence

    def detect(self, image: np.ndarray) -> list[tuple[np.ndarray, str, float]]:
        rgb = np.ascontiguousarray(image[:, :, :3])
        scale = np.array(rgb.shape[1::-1], np.float64)
        found = []
        for _, (p0, p1), kps in _detections(self.palm, PALM, self.anchors, rgb, (0.0, 1.0),
                                             self.min_confidence, self.max_hands):
            box = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2, p1[0] - p0[0], p1[1] - p0[1],
                   g.rotation(kps[0], kps[2], 90.0))
            rect = g.transform(box, 2.6, shift_y=-0.5)
            out = self.landmark.run(g.crop(rgb, rect, 224, (0.0, 1.0), border=cv2.BORDER_REPLICATE))
            points, presence, left = out["Identity"], out["Identity_1"], out["Identity_2"]
            if float(presence.reshape(-1)[0]) < self.min_confidence:
                continue
            pts = g.project(points.reshape(21, 3)[:, :2] / 224.0, rect) / scale
            p_left = float(left.reshape(-1)[0])  # the model's one output is P("Left"), handedness.txt's first label
            label, score = ("Left", p_left) if p_left >= 0.5 else ("Right", 1.0 - p_left)
            found.append((pts, label, score))
        return found


class Pose:
    """``landmarks`` gives (33, 3): x and y in 0..1, visibility in 0..1; or None with no person."""

    def __init__(self, min_confidence: float = 0.5):
        self.detector = TFLiteModel("pose_detection/pose_detection.tflite")
        self.landmark = TFLiteModel("pose_landmark/pose_landmark_full.tflite")
        self.anchors = g.ssd_anchors(POSE)
        self.min_confidence = min_confidence

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        rgb = np.ascontiguousarray(image[:, :, :3])
        scale = np.array(rgb.shape[1::-1], np.float64)
        found = _detections(self.detector, POSE, self.anchors, rgb, (-1.0, 1.0), self.min_confidence, 1)
        if not found:
            return None
        _, _, kps = found[0]
        side = 2.0 * float(np.linalg.norm(kps[1] - kps[0]))
        rect = g.transform((kps[0][0], kps[0][1], side, side, g.rotation(kps[0], kps[1], 90.0)), 1.25)
        out = self.landmark.run(g.crop(rgb, rect, 256, (0.0, 1.0), border=cv2.BORDER_REPLICATE))
        if float(_sigmoid(out["Identity_1"].reshape(-1)[0])) < self.min_confidence:
            return None
        raw = out["Identity"].reshape(39, 5)[:33]
        pts = _refine(raw[:, :2] / 256.0, out["Identity_3"].reshape(64, 64, 39))
        return np.column_stack([g.project(pts, rect) / scale, _sigmoid(raw[:, 3])])


def _refine(pts: np.ndarray, heatmap: np.ndarray, kernel: int = 7, min_confidence: float = 0.5) -> np.ndarray:
    """RefineLandmarksFromHeatmap: each point moves to the confidence-weighted centre of its window."""
    hm_h, hm_w, _ = heatmap.shape
    out, off = pts.copy(), (kernel - 1) // 2
    for i, (x, y) in enumerate(pts):
        col, row = int(x * hm_w), int(y * hm_h)
        if not (0 <= col < hm_w and 0 <= row < hm_h):
            continue
        r0, r1, c0, c1 = max(0, row - off), min(hm_h, row + off + 1), max(0, col - off), min(hm_w, col + off + 1)
        conf = _sigmoid(heatmap[r0:r1, c0:c1, i])
        total = conf.sum()
        if conf.max() < min_confidence or total <= 0:
            continue
        rows, cols = np.mgrid[r0:r1, c0:c1]
        out[i] = [(cols * conf).sum() / total / hm_w, (rows * conf).sum() / total / hm_h]
    return out
