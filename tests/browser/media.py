"""A fake webcam for Chromium: a .y4m video made from a real photo (skimage's astronaut).

Chromium plays the file in a loop as the camera (``--use-file-for-fake-video-capture``). The photo is
scaled to 480x480 and centred on a grey 640x480 frame; `FACE` is where its face lands, as fractions
of the frame (from OpenCV's Haar cascade on the photo: x 177-272, y 66-161 of 512).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

W, H = 640, 480
_SCALE, _LEFT = H / 512, (W - H) // 2
FACE = ((_LEFT + 177 * _SCALE) / W, 66 * _SCALE / H, (_LEFT + 272 * _SCALE) / W, 161 * _SCALE / H)  # x0, y0, x1, y1


def astronaut_frame() -> np.ndarray:
    """The 640x480 RGB frame the fake camera shows."""
    import cv2
    from skimage import data

    frame = np.full((H, W, 3), 96, np.uint8)
    frame[:, _LEFT:_LEFT + H] = cv2.resize(data.astronaut(), (H, H), interpolation=cv2.INTER_AREA)
    return frame


def rgb_to_i420(rgb: np.ndarray) -> bytes:
    """Studio-range BT.601 YUV 4:2:0 planes, the way Chromium reads a y4m camera."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b

    def sub(p):  # 2x2 average
        return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4

    planes = [y, sub(u), sub(v)]
    return b"".join(np.clip(p + 0.5, 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(path: Path, rgb: np.ndarray, frames: int = 10, fps: int = 30) -> Path:
    h, w = rgb.shape[:2]
    body = rgb_to_i420(rgb)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + body)
    return path
