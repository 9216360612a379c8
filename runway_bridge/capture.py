"""One opened camera, video file, stream URL or NDI sender, read on a thread of its own.

A capture is opened once however many models use it (pose and face mesh on one camera): every
frame read is handed, as the same immutable `Blob`, to each model attached to it
(`sources.Source`), whose host stream keeps only the latest. So one camera, one reader and one
colour conversion per frame, and each model drops what it cannot keep up with on its own.

Files are paced to their frame rate and loop at the end (unless ``loop`` is false); cameras,
streams and NDI go at their own pace, passed on at most ``fps`` when given.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2

from .errors import BadInput, BridgeError, NotFound
from .types import Blob

__all__ = ["Capture"]

log = logging.getLogger(__name__)
_TIMEOUTS = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10000]


class Capture:
    """Reads one source into `fan_out(blob, frame_id)` on the event loop while `wanted()` says so."""

    def __init__(self, kind: str, spec: str, *, loop: bool = True, fps: float | None = None,
                 width: int | None = None, height: int | None = None, mirror: bool = False):
        self.kind, self.spec, self.loop, self.max_fps = kind, spec, loop, fps
        self.want_size = (width, height) if width and height else None
        self.mirror = mirror
        self.state, self.error = "opening", None
        self.fps = 0.0
        self.size: tuple[int, int] | None = None
        self.native_size: tuple[int, int] | None = None
        self.frames_read = 0
        self.started = time.time()
        self.fan_out: Callable[[Blob, int], None] = lambda blob, frame_id: None
        self.wanted: Callable[[], bool] = lambda: True
        self._cap = self._first = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._times: collections.deque = collections.deque(maxlen=60)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.recent: collections.OrderedDict[int, Blob] = collections.OrderedDict()  # for overlays

    def remember(self, blob: Blob, frame_id: int) -> None:
        """Keep the last few frames (on the loop) so a result can be drawn onto its own frame."""
        self.recent[frame_id] = blob
        while len(self.recent) > 8:
            self.recent.popitem(last=False)

    # -- opening, on a worker thread ------------------------------------------------------
    def _open(self):
        if self.kind == "ndi":
            from .ndi import NDICapture

            cap = NDICapture(self.spec[len("ndi://"):])
            fail = f"the NDI sender {self.spec} sent no video within 5 s"
        elif self.kind in ("spout", "syphon"):
            from .texture_share import SpoutCapture, SyphonCapture

            cap = (SpoutCapture if self.kind == "spout" else SyphonCapture)(self.spec.split("://", 1)[1])
            fail = f"the {self.kind} sender {self.spec} sent no frame within 5 s"
        elif self.kind == "camera":
            cap = cv2.VideoCapture(int(self.spec))
            if self.want_size:  # ask the camera; frames it still gives at another size are scaled
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.want_size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.want_size[1])
            fail = f"camera {self.spec} could not be opened (not connected, no permission, or in use by another program)"
        elif self.kind == "url":
            cap = cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG, _TIMEOUTS)
            fail = f"could not open the stream {self.spec} (unreachable, or a format OpenCV's FFmpeg cannot read)"
        else:
            path = Path(self.spec)
            if not path.is_file():
                raise NotFound(f"video file not found: {path}")
            cap = cv2.VideoCapture(str(path))
            fail = f"could not read {path} as a video (not a video, or a codec OpenCV cannot decode)"
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            cap.release()
            raise BadInput(fail)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 240 else 30.0
        self.native_size = (frame.shape[1], frame.shape[0])
        self.size = self.want_size or self.native_size
        self._cap, self._first = cap, frame

    def _shape(self, bgr):
        """The frame as the models get it: scaled to the asked size, mirrored if asked, RGB."""
        if self.want_size and (bgr.shape[1], bgr.shape[0]) != self.want_size:
            bgr = cv2.resize(bgr, self.want_size, interpolation=cv2.INTER_AREA)
        if self.mirror:
            bgr = cv2.flip(bgr, 1)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    async def open(self) -> None:
        """Open the capture and read one frame; raises a clear `BridgeError` when it cannot."""
        self._loop = asyncio.get_running_loop()
        try:
            await self._loop.run_in_executor(None, self._open)
        except BridgeError as e:
            self.state, self.error = "failed", e.message
            raise

    def start(self) -> None:
        self.state = "waiting"
        self._thread = threading.Thread(target=self._read, name=f"capture-{self.kind}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 15)
        elif self._cap is not None:
            self._cap.release()
        if self.state not in ("failed", "ended"):
            self.state = "stopped"

    @property
    def done(self) -> bool:
        return self.state in ("failed", "ended", "stopped")

    # -- reading, on the capture's thread -------------------------------------------------
    def _read(self) -> None:
        cap, frame, rewound = self._cap, self._first, False
        pace = 1.0 / self.max_fps if self.max_fps else (1.0 / self.fps if self.kind == "file" else 0.0)
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                if not self.wanted():  # wait for a model to be up
                    self.state = "waiting"
                    self._stop.wait(0.1)
                    due = time.monotonic()
                    continue
                self.state = "running"
                if frame is None:
                    ok, frame = cap.read()
                    if not ok or frame is None:
                        frame = None
                        if self.kind == "file" and self.loop and not rewound:
                            cap.release()  # reopening rewinds every container, seeking does not
                            cap, rewound = cv2.VideoCapture(str(Path(self.spec).expanduser())), True
                            continue
                        if self.kind == "file":
                            self.state = "ended" if not rewound or not self.loop else "failed"
                            self.error = None if self.state == "ended" else "the file could not be read again"
                        else:
                            self.state, self.error = "failed", f"{self.kind} {self.spec} stopped delivering frames"
                            log.error("source %s: %s", self.spec, self.error)
                        return
                self.frames_read += 1
                rewound, now = False, time.monotonic()
                self._times.append(now)
                if pace and self.kind != "file" and now < due:
                    frame = None  # a live source is read at its own rate, passed on at most max_fps
                    continue
                rgb = self._shape(frame)
                frame = None
                self._loop.call_soon_threadsafe(self.fan_out, Blob("raw", rgb.tobytes(), rgb.shape), self.frames_read)
                if pace:
                    due = max(due + pace, now - 1.0)  # never race to catch up more than 1 s
                    if self.kind == "file":
                        self._stop.wait(max(0.0, due - time.monotonic()))
        except Exception as e:  # a capture backend bug must not die silently
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
            log.exception("source %s failed", self.spec)
        finally:
            cap.release()

    def status(self) -> dict:
        t = list(self._times)
        rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
        return {
            "source": self.spec, "kind": self.kind, "loop": self.loop, "state": self.state, "error": self.error,
            "fps": round(self.fps, 3), "max_fps": self.max_fps, "read_fps": round(rate, 2),
            "width": self.size[0] if self.size else None, "height": self.size[1] if self.size else None,
            "mirror": self.mirror, "frames_read": self.frames_read, "started": self.started,
        }
