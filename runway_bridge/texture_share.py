"""Spout (Windows) and Syphon (macOS) video in, with the part of `cv2.VideoCapture`'s interface
that captures use: ``--source face_mesh=spout://NAME`` or ``syphon://NAME``.

Written against the packages' documented APIs (SpoutGL's `SpoutReceiver.receiveImage`,
syphon-python's `SyphonMetalClient.new_frame_image`). **Not yet run on this project's machines**
(Linux only); on other systems they refuse with a clear message. NDI (`ndi.py`) is the tested path.
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np

from .errors import BadInput

__all__ = ["SpoutCapture", "SyphonCapture"]


class _Capture:
    _fps = 30.0

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return True

    def get(self, prop: int) -> float:
        return self._fps if prop == cv2.CAP_PROP_FPS else 0.0


class SpoutCapture(_Capture):
    def __init__(self, name: str):
        if sys.platform != "win32":
            raise BadInput("Spout exists only on Windows; on this system use ndi://NAME")
        try:
            import SpoutGL
            from OpenGL import GL
        except ImportError:
            raise BadInput(f"Spout needs SpoutGL: {sys.executable} -m pip install 'runway-bridge[spout]'") from None
        self._gl, self.name = GL, name
        self._receiver = SpoutGL.SpoutReceiver()
        self._receiver.setReceiverName(name)
        self._buffer = None

    def read(self, timeout_ms: int = 5000):
        deadline = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < deadline:
            ok = self._receiver.receiveImage(self._buffer, self._gl.GL_RGBA, False, 0)
            if self._receiver.isUpdated():
                w, h = self._receiver.getSenderWidth(), self._receiver.getSenderHeight()
                self._buffer = np.zeros((h, w, 4), np.uint8)
                continue
            if ok and self._buffer is not None:
                return True, cv2.cvtColor(self._buffer, cv2.COLOR_RGBA2BGR)
            self._receiver.waitFrameSync(self.name, 100)
        return False, None

    def release(self) -> None:
        self._receiver.releaseReceiver()


class SyphonCapture(_Capture):
    def __init__(self, name: str):
        if sys.platform != "darwin":
            raise BadInput("Syphon exists only on macOS; on this system use ndi://NAME")
        try:
            import syphon
            from syphon.utils.numpy import copy_mtl_texture_to_image
        except ImportError:
            raise BadInput(f"Syphon needs syphon-python: {sys.executable} -m pip install 'runway-bridge[syphon]'") from None
        servers = syphon.SyphonServerDirectory().servers_matching_name(name=name)
        if not servers:
            raise BadInput(f"no Syphon server named {name!r} is running")
        self._client = syphon.SyphonMetalClient(servers[0])
        self._copy = copy_mtl_texture_to_image

    def read(self, timeout_ms: int = 5000):
        deadline = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < deadline:
            if self._client.has_new_frame:
                rgba = self._copy(self._client.new_frame_image)
                return True, cv2.cvtColor(np.ascontiguousarray(rgba), cv2.COLOR_RGBA2BGR)
            time.sleep(0.002)
        return False, None

    def release(self) -> None:
        self._client.stop()
