"""Draw a result's geometry (points, landmarks, boxes) onto a frame, for tools that only take video.

Works from the command's output schema (the manifest's `to_dict` of each output), so any model's
landmarks and boxes are drawn without model-specific code. Coordinates are normalised 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["draw_overlay", "image_outputs"]

_COLORS = [(76, 195, 138), (75, 155, 229), (229, 165, 10), (229, 83, 75), (176, 123, 229), (229, 123, 200)]
_GEOMETRY = {"image_point", "image_bounding_box", "image_landmarks"}


def image_outputs(schema: list[dict]) -> list[str]:
    """Names of the outputs that are pictures (image or segmentation), in schema order."""
    return [f["name"] for f in schema if f["type"] in ("image", "segmentation")]


def _items(field: dict, value) -> tuple[dict, list]:
    if field["type"] == "array":
        return field.get("itemType") or {}, list(value or [])
    return field, [value]


def draw_overlay(frame: np.ndarray, outputs: dict, schema: list[dict]) -> np.ndarray:
    """A copy of the RGB `frame` with every geometry output of `outputs` drawn on it."""
    out = np.ascontiguousarray(frame[..., :3]).copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(w, h) / 240))

    def px(p):
        return int(round(float(p[0]) * w)), int(round(float(p[1]) * h))

    for field in schema:
        value = outputs.get(field["name"])
        if value is None:
            continue
        item, values = _items(field, value)
        kind = item.get("type")
        if kind not in _GEOMETRY:
            continue
        for n, v in enumerate(values):
            color = _COLORS[n % len(_COLORS)]
            if kind == "image_bounding_box":
                cv2.rectangle(out, px(v[:2]), px(v[2:4]), color, thick, cv2.LINE_AA)
            elif kind == "image_point":
                cv2.circle(out, px(v), 2 * thick + 1, color, -1, cv2.LINE_AA)
            else:  # landmarks: the skeleton when the schema names its connections, then the points
                labels = item.get("labels") or []
                index = {name: i for i, name in enumerate(labels)}
                for a, b in item.get("connections") or []:
                    i, j = index.get(a), index.get(b)
                    if i is not None and j is not None and i < len(v) and j < len(v):
                        cv2.line(out, px(v[i]), px(v[j]), color, thick, cv2.LINE_AA)
                radius = thick if len(v) > 100 else 2 * thick
                for p in v:
                    cv2.circle(out, px(p), radius, color, -1, cv2.LINE_AA)
    return out
