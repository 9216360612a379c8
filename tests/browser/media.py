"""A fake webcam for Chromium that moves: a .y4m video made from real footage.

Chromium plays the file in a loop as the camera (``--use-file-for-fake-video-capture``). Each frame
is a frame of opencv-doc's ``vtest.avi`` (pedestrians on a street, so every frame differs), with
skimage's astronaut photo (scaled to 480x480) panning slowly across it from left to right, so a
face is there to find and its position changes from frame to frame. `FACE` is the region the face
can occupy over the whole clip, as fractions of the frame (from OpenCV's Haar cascade on the photo:
x 177-272, y 66-161 of 512); `face_at(i)` is where it is in frame `i`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

W, H = 640, 480
FRAMES = 48
_SCALE = H / 512
_LEFT0, _LEFT1 = 40, 120  # the photo's left edge in the first and the last frame
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _left(i: int) -> float:
    return _LEFT0 + (_LEFT1 - _LEFT0) * i / (FRAMES - 1)


def face_at(i: int) -> tuple[float, float, float, float]:
    """x0, y0, x1, y1 of the face in frame `i`, as fractions of the frame."""
    left = _left(i)
    return ((left + 177 * _SCALE) / W, 66 * _SCALE / H, (left + 272 * _SCALE) / W, 161 * _SCALE / H)


FACE = (face_at(0)[0], face_at(0)[1], face_at(FRAMES - 1)[2], face_at(FRAMES - 1)[3])


def astronaut_frame(i: int = 0, background: np.ndarray | None = None) -> np.ndarray:
    """Frame `i` of the fake camera (640x480 RGB): the photo over a street scene (or plain grey)."""
    import cv2
    from skimage import data

    frame = np.full((H, W, 3), 96, np.uint8) if background is None else background.copy()
    left = int(round(_left(i)))
    frame[:, left:left + H] = cv2.resize(data.astronaut(), (H, H), interpolation=cv2.INTER_AREA)
    return frame


def street_frames(n: int = FRAMES) -> list[np.ndarray]:
    """The first `n` frames of vtest.avi as 640x480 RGB (Debian's opencv-doc package)."""
    import cv2

    if not VTEST.exists():
        raise FileNotFoundError(f"{VTEST} is missing: apt-get install opencv-doc")
    cap = cv2.VideoCapture(str(VTEST))
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(bgr, (W, H), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    cap.release()
    if len(frames) < n:
        raise RuntimeError(f"{VTEST} gave {len(frames)} frames, expected {n}")
    return frames


def moving_camera() -> list[np.ndarray]:
    """Every frame of the fake camera, in order."""
    return [astronaut_frame(i, bg) for i, bg in enumerate(street_frames(FRAMES))]


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


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n" + rgb_to_i420(rgb))
    return path
