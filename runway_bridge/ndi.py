"""NDI video out and in, through ``ndi-python`` (``pip install 'runway-bridge[ndi]'``).

The wheel holds the NDI SDK's runtime (``libndi``) for Linux, Windows and macOS, so nothing else is
installed. That runtime is Vizrt NDI AB's, under its NDI SDK License Agreement (proprietary, free
of charge; no modification or reverse engineering; conditions on products that ship it, such as
the NDI® trademark notice: docs/video.md summarises them, the licence itself decides). ndi-python,
the binding, is MIT. NDI is an optional extra; nothing else in runway_bridge needs it.

Discovery: NDI finds senders with mDNS (Avahi on Linux). Where there is none (this project's test
machines, some festival networks), give the sender's address: ``ndi://NAME@HOST`` asks HOST
directly (NDI's "extra IPs"), and ``ndi://HOST:PORT`` connects without a lookup.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from .errors import BackendUnavailable, BadInput

__all__ = ["NDISender", "NDICapture", "find_senders", "available"]

_init_lock = threading.Lock()
_initialized = False


def _lib():
    global _initialized
    try:
        import NDIlib as ndi
    except ImportError:
        import sys

        raise BadInput(f"NDI needs ndi-python: {sys.executable} -m pip install 'runway-bridge[ndi]'") from None
    with _init_lock:
        if not _initialized:
            if not ndi.initialize():
                raise BackendUnavailable("the NDI runtime does not start on this machine (its CPU lacks SSE4.2?)")
            _initialized = True
    return ndi


def available() -> bool:
    try:
        _lib()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


class NDISender:
    """One NDI source on the network, fed RGB frames; unclocked, so it never paces the caller."""

    def __init__(self, name: str):
        ndi = self._ndi = _lib()
        settings = ndi.SendCreate()
        settings.ndi_name = name
        settings.clock_video = False
        self._send = ndi.send_create(settings)
        if self._send is None:
            raise BadInput(f"NDI could not create the sender {name!r} (is another one of that name running here?)")
        self.name = name
        self._frame = ndi.VideoFrameV2()
        self._frame.FourCC = ndi.FOURCC_VIDEO_TYPE_BGRX

    def send(self, rgb: np.ndarray) -> None:
        self._frame.data = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA if rgb.shape[-1] == 3 else cv2.COLOR_RGBA2BGRA) \
            if rgb.ndim == 3 else cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGRA)
        self._ndi.send_send_video_v2(self._send, self._frame)

    def connections(self) -> int:
        return int(self._ndi.send_get_no_connections(self._send, 0))

    def close(self) -> None:
        if self._send is not None:
            self._ndi.send_destroy(self._send)
            self._send = None


def find_senders(timeout: float = 2.0, extra_ips: str = "") -> list[dict]:
    """NDI senders seen on the network (and asked for at `extra_ips`, comma separated)."""
    ndi = _lib()
    settings = ndi.FindCreate()
    settings.show_local_sources = True
    if extra_ips:
        settings.extra_ips = extra_ips
    finder = ndi.find_create_v2(settings)
    try:
        deadline = time.monotonic() + timeout
        sources = []
        while time.monotonic() < deadline:
            ndi.find_wait_for_sources(finder, int(min(500, (deadline - time.monotonic()) * 1000)) or 1)
            sources = ndi.find_get_current_sources(finder)
        return [{"name": s.ndi_name, "address": s.url_address} for s in sources]
    finally:
        ndi.find_destroy(finder)


def _parse(spec: str) -> tuple[str | None, str | None, str]:
    """``NAME``, ``NAME@HOST`` or ``HOST:PORT`` -> (name, address, hosts to ask)."""
    name, at, host = spec.rpartition("@")
    if at:
        return name, None, host
    if ":" in spec and spec.rsplit(":", 1)[1].isdigit() and " " not in spec:
        return None, spec, spec.rsplit(":", 1)[0]
    return spec, None, ""


class NDICapture:
    """An NDI receiver with the part of `cv2.VideoCapture`'s interface that sources use."""

    def __init__(self, spec: str, timeout: float = 10.0):
        ndi = self._ndi = _lib()
        self.spec, self._fps, self._recv = spec, 30.0, None
        name, address, hosts = _parse(spec)
        if address is None:
            deadline = time.monotonic() + timeout
            found = []
            while time.monotonic() < deadline and not found:
                seen = find_senders(min(2.0, max(0.1, deadline - time.monotonic())), hosts)
                found = [s for s in seen if s["name"] == name or s["name"].endswith(f"({name})")]
            if not found:
                where = f" at {hosts}" if hosts else " (no mDNS here? give its address: ndi://NAME@HOST)"
                raise BadInput(f"no NDI sender named {name!r} answered{where}")
            name, address = found[0]["name"], found[0]["address"]
        settings = ndi.RecvCreateV3()
        settings.color_format = ndi.RECV_COLOR_FORMAT_BGRX_BGRA
        self._recv = ndi.recv_create_v3(settings)
        source = ndi.Source()
        source.url_address = address
        if name:
            source.ndi_name = name
        ndi.recv_connect(self._recv, source)

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return self._recv is not None

    def read(self, timeout_ms: int = 5000) -> tuple[bool, np.ndarray | None]:
        """The next video frame as BGR (dropping NDI's audio and metadata), or (False, None)."""
        ndi, deadline = self._ndi, time.monotonic() + timeout_ms / 1000
        while time.monotonic() < deadline:
            kind, video, audio, meta = ndi.recv_capture_v2(self._recv, 200)
            if kind == ndi.FRAME_TYPE_VIDEO:
                try:
                    if video.frame_rate_D:
                        self._fps = video.frame_rate_N / video.frame_rate_D
                    bgr = cv2.cvtColor(video.data, cv2.COLOR_BGRA2BGR)
                finally:
                    ndi.recv_free_video_v2(self._recv, video)
                return True, bgr
            if kind == ndi.FRAME_TYPE_AUDIO:
                ndi.recv_free_audio_v2(self._recv, audio)
            elif kind == ndi.FRAME_TYPE_METADATA:
                ndi.recv_free_metadata(self._recv, meta)
        return False, None

    def get(self, prop: int) -> float:
        return self._fps if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        if self._recv is not None:
            self._ndi.recv_destroy(self._recv)
            self._recv = None
