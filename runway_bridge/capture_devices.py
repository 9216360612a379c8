"""`runway-bridge sources`: the cameras and NDI senders this machine can read, with their sizes.

Cameras: on Linux, from ``/sys/class/video4linux`` (index and name, without opening them), then
each is opened once to read the size it gives by default and which common sizes it accepts; on
other systems, indexes 0-4 are probed with OpenCV (names are not available there). A camera that
another program holds cannot be opened: it is listed as busy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

__all__ = ["list_cameras", "list_sources"]

SIZES = ((640, 480), (1280, 720), (1920, 1080))


def _probe(index: int) -> dict | None:
    cap = cv2.VideoCapture(index)
    try:
        if not cap.isOpened():
            return None
        ok, frame = cap.read()
        info = {"index": index, "default": [frame.shape[1], frame.shape[0]] if ok else None, "sizes": []}
        for w, h in SIZES:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
            if (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (w, h):
                info["sizes"].append([w, h])
        return info
    finally:
        cap.release()


def list_cameras() -> list[dict]:
    v4l = Path("/sys/class/video4linux")
    if sys.platform.startswith("linux"):
        cams = []
        for dev in sorted(v4l.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0):
            index = int(dev.name[5:]) if dev.name[5:].isdigit() else None
            name = (dev / "name").read_text().strip() if (dev / "name").exists() else dev.name
            if index is None:
                continue
            probed = _probe(index)
            if probed is None:
                cams.append({"index": index, "name": name, "busy": True, "sizes": []})
            elif probed["default"]:  # metadata nodes open but give no frames: leave them out
                cams.append({**probed, "name": name, "busy": False})
        return cams
    return [{**p, "name": None, "busy": False} for p in (_probe(i) for i in range(5)) if p]


def list_sources(ndi_ips: str = "", ndi_timeout: float = 2.0) -> dict:
    """Cameras, and NDI senders (None when ndi-python is not installed)."""
    from . import ndi

    senders = ndi.find_senders(ndi_timeout, ndi_ips) if ndi.available() else None
    return {"cameras": list_cameras(), "ndi": senders}
