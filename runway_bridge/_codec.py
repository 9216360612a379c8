"""The codec primitives every image on a wire goes through: base64 and JPEG, both ways.

One place, so the transports and the benchmark's codec floor use the same ones.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np

__all__ = ["b64decode", "b64encode", "jpeg_decode", "jpeg_encode"]


def b64decode(s: str | bytes) -> bytes:
    """Strict base64 (binascii.Error on any character outside the alphabet)."""
    return base64.b64decode(s, validate=True)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def jpeg_decode(data: bytes) -> np.ndarray | None:
    """JPEG bytes to HxWx3 RGB (or HxW grey); None when undecodable."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return arr


def jpeg_encode(rgb: np.ndarray, quality: int) -> bytes:
    return cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
