"""A small IoU-then-centroid tracker: stable ids for people across frames, so channels don't swap."""

from __future__ import annotations

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (N x 4, x0 y0 x1 y1) with every box in `b` (M x 4)."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


class Tracker:
    """Greedy matching of this frame's boxes to the last known box of each live track.

    A pair matches on IoU above `min_iou`, or failing that when the centres are closer than
    `max_jump` (in normalised image units, for small people whose boxes barely overlap between
    frames). A track unseen for more than `max_age` frames is dropped; its id is never reused.
    """

    def __init__(self, min_iou: float = 0.2, max_jump: float = 0.08, max_age: int = 15):
        self.min_iou, self.max_jump, self.max_age = min_iou, max_jump, max_age
        self.reset()

    def reset(self) -> None:
        self.boxes: dict[int, np.ndarray] = {}
        self.age: dict[int, int] = {}
        self.next_id = 1

    def update(self, boxes: np.ndarray) -> list[int]:
        """Ids for `boxes` (N x 4, normalised), in the same order."""
        ids = list(self.boxes)
        out = [0] * len(boxes)
        if ids and len(boxes):
            prev = np.stack([self.boxes[i] for i in ids])
            overlap = iou_matrix(boxes, prev)
            centres = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2
            prev_centres = (prev[None, :, :2] + prev[None, :, 2:]) / 2
            dist = np.linalg.norm(centres - prev_centres, axis=-1)
            score = np.where(overlap >= self.min_iou, 1.0 + overlap, np.where(dist < self.max_jump, 1.0 - dist, 0.0))
            while score.size and score.max() > 0:
                r, c = np.unravel_index(score.argmax(), score.shape)
                out[r] = ids[c]
                score[r, :] = 0
                score[:, c] = 0
        for k, box in enumerate(boxes):
            if not out[k]:
                out[k] = self.next_id
                self.next_id += 1
            self.boxes[out[k]] = np.asarray(box, np.float32)
            self.age[out[k]] = 0
        for i in list(self.boxes):
            if i not in out:
                self.age[i] += 1
                if self.age[i] > self.max_age:
                    del self.boxes[i], self.age[i]
        return out
