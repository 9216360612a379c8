"""BlazeFace detection and the 478-point attention face mesh on LiteRT, as MediaPipe's graphs run them.

Detection: the picture letterboxed to the model's square input (-1..1), SSD anchors, weighted NMS.
Mesh: each face's box, turned so the eyes are level and enlarged 1.5x (square), is cropped to
192x192 (0..1) for ``face_landmark.tflite`` (468 points); each eye, cropped around its corners
(2.3x, the right eye mirrored), goes through ``iris_landmark.tflite`` for the iris points 468-477.
MediaPipe's own 478-point path, ``face_landmark_with_attention.tflite``, needs MediaPipe's custom
TFLite ops (Landmarks2TransformMatrix, ...), which LiteRT lacks. Results are in 0..1 of the
picture, like ``mp.solutions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import geometry as g
from .runtime import TFLiteModel

DETECTORS = {
    "short_range": ("face_detection/face_detection_short_range.tflite", g.SsdSpec(128, (8, 16, 16, 16), 6)),
    "full_range": ("face_detection/face_detection_full_range_sparse.tflite",
                   g.SsdSpec(192, (4,), 6, interpolated_ratio=0.0)),
}
MESH_FILE = "face_landmark/face_landmark.tflite"
IRIS_FILE = "iris_landmark/iris_landmark.tflite"
EYES = ((33, 133, False, 468), (362, 263, True, 473))  # corner points, mirrored, where its 5 iris points go


@dataclass
class Face:
    score: float
    box: np.ndarray  # xmin, ymin, xmax, ymax in 0..1 of the picture
    keypoints: np.ndarray  # (6, 2) in 0..1: right eye, left eye, nose tip, mouth, right and left tragion


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, :, :3])


class FaceDetector:
    """BlazeFace short or full range; ``detect`` returns faces best first."""

    def __init__(self, min_confidence: float = 0.5, model: str = "short_range"):
        path, self.spec = DETECTORS[model]
        self.model = TFLiteModel(path)
        self.anchors = g.ssd_anchors(self.spec)
        self.threshold = min_confidence

    def detect(self, image: np.ndarray, limit: int | None = None) -> list[Face]:
        rgb = _rgb(image)
        h, w = rgb.shape[:2]
        rect = g.letterbox_rect(h, w)
        out = list(self.model.run(g.crop(rgb, rect, self.spec.size, (-1.0, 1.0))).values())
        raw_boxes, raw_scores = sorted(out, key=lambda a: a.shape[-1], reverse=True)
        found = g.weighted_nms(*g.decode(raw_boxes, raw_scores, self.anchors, self.spec, self.threshold),
                               limit=limit)
        scale = np.array([w, h], np.float64)
        faces = []
        for score, box, kps in found:
            corners = g.project(box.reshape(2, 2), rect) / scale
            faces.append(Face(score, corners.reshape(4), g.project(kps, rect) / scale))
        return faces


class FaceMesh:
    """Faces found by the short-range detector, then 478 landmarks each (irises included)."""

    def __init__(self, max_faces: int = 1, min_confidence: float = 0.5):
        self.detector = FaceDetector(min_confidence, "short_range")
        self.model = TFLiteModel(MESH_FILE)
        self.iris = TFLiteModel(IRIS_FILE)
        self.max_faces, self.min_confidence = max_faces, min_confidence

    def landmarks(self, image: np.ndarray) -> list[np.ndarray]:
        rgb = _rgb(image)
        h, w = rgb.shape[:2]
        scale = np.array([w, h], np.float64)
        faces = []
        for face in self.detector.detect(rgb, limit=self.max_faces):
            (x0, y0), (x1, y1) = face.box.reshape(2, 2) * scale
            eyes = face.keypoints[:2] * scale
            rect = g.transform(((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, g.rotation(eyes[0], eyes[1], 0.0)), 1.5)
            pts = self._mesh(rgb, rect)
            if pts is not None:
                faces.append(pts / scale)
        return faces

    def _mesh(self, rgb: np.ndarray, rect: tuple) -> np.ndarray | None:
        """478 points in source pixels, or None when the model says there is no face."""
        out = self.model.run(g.crop(rgb, rect, 192, (0.0, 1.0), border=cv2.BORDER_REPLICATE))
        flag = sorted(out.values(), key=np.size)[0]
        if 1.0 / (1.0 + np.exp(-float(flag.reshape(-1)[0]))) < self.min_confidence:
            return None
        mesh = sorted(out.values(), key=np.size)[-1].reshape(468, 3)[:, :2] / 192.0
        pts = np.zeros((478, 2), np.float64)
        pts[:468] = g.project(mesh, rect)
        for a, b, mirrored, first in EYES:
            pts[first:first + 5] = self._iris(rgb, pts[a], pts[b], mirrored)
        return pts

    def _iris(self, rgb: np.ndarray, p0: np.ndarray, p1: np.ndarray, mirrored: bool) -> np.ndarray:
        """Iris centre and 4 edge points (source pixels) of the eye between corners p0 and p1."""
        (cx, cy), (w, h) = (p0 + p1) / 2.0, np.abs(p1 - p0)
        rect = g.transform((cx, cy, w, h, g.rotation(p0, p1, 0.0)), 2.3)
        tensor = g.crop(rgb, rect, 64, (0.0, 1.0), border=cv2.BORDER_REPLICATE)
        if mirrored:
            tensor = tensor[:, :, ::-1]
        iris = sorted(self.iris.run(tensor).values(), key=np.size)[0].reshape(5, 3)[:, :2] / 64.0
        if mirrored:  # back from the mirror image; its two side points then trade places
            iris[:, 0] = 1.0 - iris[:, 0]
            iris[[1, 3]] = iris[[3, 1]]
        return g.project(iris, rect)
