"""Daemon-side sources: the daemon reads a camera, a video file or a stream URL and runs every frame
through a model, so a patch receives results without sending a single frame.

``runway-bridge serve --model face_mesh --source face_mesh=video.mp4 --osc-target 127.0.0.1:7000``
(a source is ``ID=SOURCE``: a camera index such as ``0``, a file path, or a URL such as
``rtsp://...``). Network clients may open cameras, files under ``--file-root`` and URLs matching
``--allow-source-url`` only (`check_source`). Or over HTTP: ``POST /v1/models/<id>/source {"source": "...", "loop": true,
"fps": 15}`` starts one (replacing the model's current source, starting the model if needed),
``GET`` reports it (frames read, dropped, fps), ``DELETE`` stops it; ``GET /v1/sources`` lists all.

OpenCV reads on a thread of its own, never on the event loop. Files are paced to their frame rate
and loop at the end (unless ``loop`` is false); cameras and streams go at their own pace. Each
frame goes into a host `Stream` (latest wins: a slow model drops frames, it never queues them),
and the results reach every subscriber: OSC peers and targets, WebSocket ``?listen=1`` clients,
Socket.IO listeners.
"""

from __future__ import annotations

import asyncio
import collections
import fnmatch
import logging
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import cv2
from aiohttp import web

from .daemon import BRIDGE
from .errors import BadInput, BridgeError, NotFound
from .host import HostState
from .transports._http import json_response, read_json
from .types import Blob

__all__ = ["Source", "setup_sources", "SOURCES", "parse_source"]

log = logging.getLogger(__name__)
SOURCES = web.AppKey("sources", dict)
_TIMEOUTS = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10000]


def parse_source(text: str) -> tuple[str, str]:
    model_id, sep, spec = text.partition("=")
    if not sep or not model_id.strip() or not spec.strip():
        raise ValueError(f"--source {text!r}: expected MODEL_ID=SOURCE, e.g. face_mesh=0 or pose=video.mp4")
    return model_id.strip(), spec.strip()


def check_source(config, spec: str, *, trusted: bool) -> tuple[str, str]:
    """``(kind, spec)`` of a source, or `Forbidden`/`BadInput` when a network client may not open it.

    From the network: camera indexes; files only under ``--file-root`` (``file://`` URLs are files
    too, so they cannot get around it); other URLs only when they match an ``--allow-source-url``
    pattern (else the daemon would fetch any address for any page: SSRF). Sources given on the
    command line or in the config file are the user's own and only keep to ``--file-root``."""
    from .access import Forbidden

    spec = spec.strip()
    if "\x00" in spec or len(spec) > 4096:
        raise BadInput("the source is not a camera index, path or URL", field="source")
    if spec.isdigit():
        if int(spec) > 63:
            raise BadInput(f"camera index {spec} is out of range (0 to 63)", field="source")
        return "camera", spec
    parts = urlsplit(spec)
    if parts.scheme == "file":
        spec = unquote(parts.path)
    elif "://" in spec:  # a stream URL, or an NDI sender (ndi://NAME@HOST): the daemon connects out
        if not trusted and not any(fnmatch.fnmatchcase(spec, p) for p in config.allow_source_urls):
            raise Forbidden(f"the daemon opens only the stream URLs you allow; to allow this one, start it with "
                            f"--allow-source-url '{parts.scheme}://{parts.netloc}/*'")
        return ("ndi" if parts.scheme == "ndi" else "url"), spec
    root = config.file_root
    if root is None and not trusted:
        raise Forbidden("video files from the network are refused; start the daemon with --file-root FOLDER "
                        "to allow files inside that folder")
    path = Path(spec).expanduser()
    if root is not None:
        base = Path(root).expanduser().resolve()
        path = (base / path).resolve()  # relative paths are inside the folder; absolute ones must be
        if not path.is_relative_to(base):
            raise Forbidden(f"video file {spec} is outside the allowed folder {root} (--file-root)")
    return "file", str(path)


class Source:
    """One model's source: a capture read on its own thread into a host stream."""

    def __init__(self, bridge, model_id: str, spec, *, loop: bool = True, fps: float | None = None,
                 trusted: bool = True):
        self.bridge, self.model_id, self.loop, self.max_fps = bridge, model_id, loop, fps
        self.kind, self.spec = check_source(bridge.config, str(spec), trusted=trusted)
        self.state, self.error, self.last_error = "opening", None, None
        self.fps = 0.0
        self.size: tuple[int, int] | None = None
        self.frames_read = self.submitted = self.skipped = self.processed = 0
        self.started = time.time()
        self.stream = None
        self.input_name = "image"
        self._cap = self._first = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._times: collections.deque = collections.deque(maxlen=60)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._logged = 0.0

    # -- opening, on a worker thread ------------------------------------------------------
    def _open(self):
        if self.kind == "ndi":
            from .ndi import NDICapture

            cap = NDICapture(self.spec[len("ndi://"):])
            fail = f"the NDI sender {self.spec} sent no video within 5 s"
        elif self.kind == "camera":
            cap = cv2.VideoCapture(int(self.spec))
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
        self.size = (frame.shape[1], frame.shape[0])
        self._cap, self._first = cap, frame

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
        self._thread = threading.Thread(target=self._read, name=f"source-{self.model_id}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 15)
        elif self._cap is not None:
            self._cap.release()
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.state not in ("failed", "ended"):
            self.state = "stopped"

    # -- reading, on the source's thread --------------------------------------------------
    def _running(self) -> bool:
        host = self.bridge.hosts.get(self.model_id)
        return host is not None and host.state is HostState.RUNNING

    def _read(self) -> None:
        cap, frame, rewound = self._cap, self._first, False
        pace = 1.0 / self.max_fps if self.max_fps else (1.0 / self.fps if self.kind == "file" else 0.0)
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                if not self._running():  # wait for the model to be up
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
                            log.error("source of %s: %s", self.model_id, self.error)
                        return
                self.frames_read += 1
                rewound, now = False, time.monotonic()
                self._times.append(now)
                if pace and self.kind != "file" and now < due:
                    frame = None  # a live source is read at its own rate, passed on at most max_fps
                    continue
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                frame = None
                self._loop.call_soon_threadsafe(self._submit, Blob("raw", rgb.tobytes(), rgb.shape), self.frames_read)
                if pace:
                    due = max(due + pace, now - 1.0)  # never race to catch up more than 1 s
                    if self.kind == "file":
                        self._stop.wait(max(0.0, due - time.monotonic()))
        except Exception as e:  # a capture backend bug must not die silently
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
            log.exception("source of %s failed", self.model_id)
        finally:
            cap.release()

    # -- on the event loop ----------------------------------------------------------------
    def _image_input(self, host) -> str:
        cmds = (host.manifest or {}).get("commands") or []
        cmd = next((c for c in cmds if c["name"] == host.default_command), cmds[0] if cmds else None)
        return next((i["name"] for i in (cmd or {}).get("inputs", []) if i.get("type") == "image"), "image")

    def _submit(self, blob: Blob, frame_id: int) -> None:
        host = self.bridge.hosts.get(self.model_id)
        if self._stop.is_set() or host is None or host.state is not HostState.RUNNING:
            self.skipped += 1
            return
        if self.stream is None or self.stream.host is not host:
            self.stream = host.open_stream(None, self._deliver)
            self.input_name = self._image_input(host)
        try:
            self.stream.submit({self.input_name: blob}, frame_id)
            self.submitted += 1
        except BridgeError as e:
            self.skipped += 1
            self.last_error = e.message

    def _deliver(self, result) -> None:
        if not result.final:
            return
        self.processed += 1
        if result.error is not None:
            self.last_error = result.error.message
            if time.monotonic() - self._logged > 10:  # one line per 10 s, not one per frame
                self._logged = time.monotonic()
                log.warning("source of %s: the model answered: %s", self.model_id, result.error.message)

    def status(self) -> dict:
        t = list(self._times)
        rate = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0
        return {
            "model": self.model_id, "source": self.spec, "kind": self.kind, "loop": self.loop,
            "state": self.state, "error": self.error, "last_error": self.last_error,
            "fps": round(self.fps, 3), "max_fps": self.max_fps, "read_fps": round(rate, 2),
            "width": self.size[0] if self.size else None, "height": self.size[1] if self.size else None,
            "frames_read": self.frames_read, "submitted": self.submitted, "processed": self.processed,
            "dropped": self.stream.dropped if self.stream else 0, "skipped": self.skipped,
            "started": self.started,
        }


async def start_source(app: web.Application, model_id: str, spec, *, loop: bool = True,
                       fps: float | None = None, keep_failed: bool = False, trusted: bool = True) -> Source:
    """Open a source for a model (replacing its current one) and start the model if it is not up."""
    bridge, sources = app[BRIDGE], app[SOURCES]
    bridge.entry(model_id)  # NotFound for an unknown model
    src = Source(bridge, model_id, spec, loop=loop, fps=fps, trusted=trusted)  # refused before anything stops
    old = sources.pop(model_id, None)
    if old is not None:
        await old.stop()
    try:
        await src.open()
    except BridgeError:
        if keep_failed:  # GET /v1/models/<id>/source shows why
            sources[model_id] = src
        raise
    host = bridge.hosts.get(model_id)
    if host is None or host.state in (HostState.STOPPED, HostState.FAILED):
        bridge.start(model_id)
    sources[model_id] = src
    src.start()
    log.info("source of %s: %s %s (%dx%d, %.3g fps)", model_id, src.kind, src.spec, *src.size, src.fps)
    return src


async def _post(request: web.Request) -> web.Response:
    body = await read_json(request, allow_empty=False)
    spec, loop, fps = body.get("source"), body.get("loop", True), body.get("fps")
    if isinstance(spec, bool) or not isinstance(spec, (str, int)) or not str(spec).strip():
        raise BadInput('send {"source": "<camera index, video file or URL>", "loop": true}', field="source")
    if not isinstance(loop, bool):
        raise BadInput("loop must be true or false", field="loop")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 240):
        raise BadInput("fps must be a number from 0 to 240 (or left out)", field="fps")
    src = await start_source(request.app, request.match_info["id"], spec, loop=loop, fps=fps, trusted=False)
    return json_response(src.status(), status=201)


def _get_source(request: web.Request) -> Source:
    model_id = request.match_info["id"]
    request.app[BRIDGE].entry(model_id)
    src = request.app[SOURCES].get(model_id)
    if src is None:
        raise NotFound(f'model {model_id} has no source; POST /v1/models/{model_id}/source {{"source": "0"}}')
    return src


async def _get(request: web.Request) -> web.Response:
    return json_response(_get_source(request).status())


async def _delete(request: web.Request) -> web.Response:
    model_id = request.match_info["id"]
    request.app[BRIDGE].entry(model_id)
    src = request.app[SOURCES].pop(model_id, None)
    if src is not None:
        await src.stop()
    return json_response({"model": model_id, "stopped": src is not None})


async def _list(request: web.Request) -> web.Response:
    return json_response({"sources": [s.status() for s in request.app[SOURCES].values()]})


def setup_sources(app: web.Application) -> None:
    """The source API, and the ``config.sources`` (``ID=SOURCE``) read from launch to shutdown."""
    app[SOURCES] = {}
    wanted = [parse_source(s) for s in app[BRIDGE].config.sources]
    app.router.add_get("/v1/sources", _list)
    app.router.add_post("/v1/models/{id}/source", _post)
    app.router.add_get("/v1/models/{id}/source", _get)
    app.router.add_delete("/v1/models/{id}/source", _delete)

    async def sources_ctx(app):
        for model_id, spec in wanted:
            try:
                await start_source(app, model_id, spec, keep_failed=True)
            except BridgeError as e:  # the daemon still serves; the API shows the failure
                log.error("source %s=%s: %s", model_id, spec, e.message)
        yield
        await asyncio.gather(*(s.stop() for s in app[SOURCES].values()), return_exceptions=True)

    app.cleanup_ctx.append(sources_ctx)
