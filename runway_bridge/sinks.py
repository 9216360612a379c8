"""Video sinks: a running model's image output published as a live video stream (NDI, Spout, Syphon).

``serve --video-out style_transfer=ndi`` (or ``ID:OUTPUT=KIND[:NAME]``, the REST API
``/v1/models/<id>/video-out``, or ``video_out = "ndi"`` in a card) makes every result of that
model's image output leave as a frame of a video source named ``runway_bridge <id>`` that VJ tools
(TouchDesigner, Resolume, OBS, vvvv) pick from their NDI/Spout/Syphon lists.

A sink never slows the model: results land in a one-frame slot (a newer one replaces a waiting one,
counted as dropped, exactly like streams), and a thread of the sink's own decodes and sends it.
Raw-pixel results are handed to the library without a copy; JPEG/PNG ones are decoded once there.
"""

from __future__ import annotations

import abc
import logging
import sys
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
from aiohttp import web

from .appkeys import BRIDGE
from .errors import BadInput, BridgeError, NotFound
from .overlay import draw_overlay
from .sources import SOURCES
from .transports._http import json_response, read_json
from .types import Blob

__all__ = ["VideoSink", "create_sink", "VideoOut", "setup_video_out", "KINDS", "parse_video_out"]

log = logging.getLogger(__name__)
KINDS = ("ndi", "spout", "syphon")
OVERLAY = "overlay"  # the output name that draws a model's numbers onto its source's frames
VIDEO_OUTS = web.AppKey("video_outs", dict)


class VideoSink(abc.ABC):
    """Publishes RGB frames under a name; `publish` never blocks (latest frame wins)."""

    kind = "abstract"

    def __init__(self, name: str):
        self.name = name
        self.sent = self.dropped = self.errors = 0
        self.last_error: str | None = None
        self._slot = None
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"sink-{self.kind}-{name}", daemon=True)
        self._thread.start()

    def publish(self, picture) -> None:
        """Hand over a frame (RGB array, or a `Blob`); a frame still waiting is replaced."""
        with self._wake:
            if self._slot is not None:
                self.dropped += 1
            self._slot = picture
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._slot is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                picture, self._slot = self._slot, None
            try:
                self._send(_pixels(picture))
                self.sent += 1
            except Exception as e:  # noqa: BLE001 - a bad frame or receiver must not end the sink
                self.errors += 1
                if self.last_error != str(e):
                    log.warning("%s sink %r: %s", self.kind, self.name, e)
                self.last_error = str(e)

    @abc.abstractmethod
    def _send(self, rgb: np.ndarray) -> None: ...

    def _release(self) -> None:  # noqa: B027 - optional
        pass

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(5)
        self._release()

    def status(self) -> dict:
        return {"kind": self.kind, "name": self.name, "sent": self.sent, "dropped": self.dropped,
                "errors": self.errors, "last_error": self.last_error}


def _pixels(picture) -> np.ndarray:
    if callable(picture):  # drawn on the sink's thread (an overlay), not on the event loop
        return picture()
    if isinstance(picture, np.ndarray):
        return picture
    if picture.format == "raw":
        return np.frombuffer(picture.data, np.uint8).reshape(picture.shape)  # no copy
    arr = cv2.imdecode(np.frombuffer(picture.data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(f"undecodable {picture.format} frame")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB if arr.ndim == 3 and arr.shape[2] == 3 else
                        cv2.COLOR_BGRA2RGBA) if arr.ndim == 3 else arr


class NDISink(VideoSink):
    kind = "ndi"

    def __init__(self, name: str):
        from .ndi import NDISender

        self._sender = NDISender(name)
        super().__init__(name)

    def _send(self, rgb):
        self._sender.send(rgb)

    def _release(self):
        self._sender.close()

    def status(self) -> dict:
        return {**super().status(), "connections": self._sender.connections()}


class SpoutSink(VideoSink):
    """Windows: SpoutGL's `SpoutSender.sendImage` (RGBA pixels). Not yet run on this project's machines."""

    kind = "spout"

    def __init__(self, name: str):
        if sys.platform != "win32":
            raise BadInput("Spout exists only on Windows; use ndi here (serve --video-out ID=ndi)")
        try:
            import SpoutGL
            from OpenGL import GL
        except ImportError:
            raise BadInput(f"Spout needs SpoutGL: {sys.executable} -m pip install 'runway-bridge[spout]'") from None
        self._gl = GL
        self._sender = SpoutGL.SpoutSender()
        self._sender.setSenderName(name)
        super().__init__(name)

    def _send(self, rgb):
        rgba = np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA) if rgb.shape[-1] == 3 else rgb)
        self._sender.sendImage(rgba, rgba.shape[1], rgba.shape[0], self._gl.GL_RGBA, False, 0)
        self._sender.setFrameSync(self.name)

    def _release(self):
        self._sender.releaseSender()


class SyphonSink(VideoSink):
    """macOS: syphon-python's Metal server, fed a texture per frame. Not yet run on this project's machines."""

    kind = "syphon"

    def __init__(self, name: str):
        if sys.platform != "darwin":
            raise BadInput("Syphon exists only on macOS; use ndi here (serve --video-out ID=ndi)")
        try:
            import syphon
            from syphon.utils.numpy import copy_image_to_mtl_texture
            from syphon.utils.raw import create_mtl_texture
        except ImportError:
            raise BadInput(f"Syphon needs syphon-python: {sys.executable} -m pip install 'runway-bridge[syphon]'") from None
        self._server = syphon.SyphonMetalServer(name)
        self._copy, self._create = copy_image_to_mtl_texture, create_mtl_texture
        self._texture, self._size = None, None
        super().__init__(name)

    def _send(self, rgb):
        rgba = np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA) if rgb.shape[-1] == 3 else rgb)
        h, w = rgba.shape[:2]
        if self._size != (w, h):
            self._texture, self._size = self._create(self._server.device, w, h), (w, h)
        self._copy(rgba, self._texture)
        self._server.publish_frame_texture(self._texture)

    def _release(self):
        self._server.stop()


def create_sink(kind: str, name: str) -> VideoSink:
    classes = {"ndi": NDISink, "spout": SpoutSink, "syphon": SyphonSink}
    if kind not in classes:
        raise BadInput(f"unknown video output {kind!r}; choose one of {', '.join(KINDS)}")
    return classes[kind](name)


class VideoOut:
    """One model's image output, sent to one sink from the host's results."""

    def __init__(self, bridge, model_id: str, kind: str, output: str | None = None, name: str | None = None,
                 frames: Callable[[str, object], Blob | None] | None = None):
        self.bridge, self.model_id, self.output = bridge, model_id, output
        self._frames = frames or (lambda model_id, frame_id: None)
        self.no_frame = 0
        self.sink = create_sink(kind, name or f"runway_bridge {model_id}")
        self.started = time.time()
        self._host = None
        bridge.listeners.append(self._attach)
        if model_id in bridge.hosts:
            self._attach(bridge.hosts[model_id])

    def _attach(self, host) -> None:
        if host.id == self.model_id and self._host is not host:
            self._host = host
            host.subscribe(self._on_result)

    def _on_result(self, result) -> None:
        if result.error is not None or not result.outputs or not result.final:
            return
        if self.output == OVERLAY:
            self._overlay(result)
            return
        picture = result.outputs.get(self.output) if self.output else \
            next((v for v in result.outputs.values() if isinstance(v, Blob)), None)
        if isinstance(picture, Blob):
            self.sink.publish(picture)
        elif self.output is None:  # a model of numbers only: draw them onto the source's frames
            self._overlay(result)

    def _overlay(self, result) -> None:
        """The result's points and boxes drawn onto the frame it came from (a daemon-side source's)."""
        frame = self._frames(self.model_id, result.frame_id)
        if frame is None:
            self.no_frame += 1  # a client's frame, or one already gone: nothing to draw on
            return
        cmds = (self._host.manifest or {}).get("commands", []) if self._host else []
        schema = next((c["outputs"] for c in cmds if c["name"] == result.command), [])
        outputs = result.outputs
        self.sink.publish(lambda: draw_overlay(_pixels(frame), outputs, schema))

    def close(self) -> None:
        if self._attach in self.bridge.listeners:
            self.bridge.listeners.remove(self._attach)
        if self._host is not None:
            self._host.unsubscribe(self._on_result)
        self.sink.close()

    def status(self) -> dict:
        return {"model": self.model_id, "output": self.output, **self.sink.status(), "no_frame": self.no_frame}


def parse_video_out(text: str) -> tuple[str, str | None, str, str | None]:
    """``ID[:OUTPUT]=KIND[:NAME]`` -> (id, output, kind, name)."""
    target, sep, sink = text.partition("=")
    model_id, _, output = target.partition(":")
    kind, _, name = sink.partition(":")
    if not sep or not model_id or kind not in KINDS:
        raise ValueError(f"--video-out {text!r}: expected ID[:OUTPUT]=KIND[:NAME] with KIND one of {', '.join(KINDS)}, "
                         "e.g. style_transfer=ndi")
    return model_id, output or None, kind, name or None


async def _post(request: web.Request) -> web.Response:
    body = await read_json(request, allow_empty=False)
    kind, output, name = body.get("kind", "ndi"), body.get("output"), body.get("name")
    for key, value in (("kind", kind), ("output", output), ("name", name)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 100):
            raise BadInput(f"{key} must be a short string", field=key)
    return json_response(start_video_out(request.app, request.match_info["id"], kind, output, name).status(), status=201)


def start_video_out(app, model_id: str, kind: str, output: str | None = None, name: str | None = None) -> VideoOut:
    bridge, outs = app[BRIDGE], app[VIDEO_OUTS]
    bridge.entry(model_id)
    old = outs.pop(model_id, None)
    if old is not None:
        old.close()
    sources = app.get(SOURCES)
    outs[model_id] = out = VideoOut(bridge, model_id, kind, output, name,
                                    frames=sources.frame if sources is not None else None)
    log.info("video out of %s: %s %r", model_id, kind, out.sink.name)
    return out


async def _get(request: web.Request) -> web.Response:
    model_id = request.match_info["id"]
    request.app[BRIDGE].entry(model_id)
    out = request.app[VIDEO_OUTS].get(model_id)
    if out is None:
        raise NotFound(f'model {model_id} has no video output; POST /v1/models/{model_id}/video-out {{"kind": "ndi"}}')
    return json_response(out.status())


async def _delete(request: web.Request) -> web.Response:
    model_id = request.match_info["id"]
    request.app[BRIDGE].entry(model_id)
    out = request.app[VIDEO_OUTS].pop(model_id, None)
    if out is not None:
        out.close()
    return json_response({"model": model_id, "stopped": out is not None})


async def _list(request: web.Request) -> web.Response:
    return json_response({"video_outs": [o.status() for o in request.app[VIDEO_OUTS].values()]})


def setup_video_out(app: web.Application) -> None:
    """The video-out API, plus ``--video-out`` flags and cards' ``video_out`` defaults at launch."""
    app[VIDEO_OUTS] = {}
    bridge = app[BRIDGE]
    app.router.add_get("/v1/video-out", _list)
    app.router.add_post("/v1/models/{id}/video-out", _post)
    app.router.add_get("/v1/models/{id}/video-out", _get)
    app.router.add_delete("/v1/models/{id}/video-out", _delete)
    wanted = [parse_video_out(s) for s in bridge.config.video_out]
    flagged = {w[0] for w in wanted}
    for model_id in bridge.config.models:  # a card's default, for the models started at launch
        default = bridge.entry(model_id).card.get("video_out") if model_id in bridge.catalog.entries else None
        if default and model_id not in flagged:
            wanted.append((model_id, None, default, None))

    async def video_out_ctx(app):
        for model_id, output, kind, name in wanted:
            try:
                start_video_out(app, model_id, kind, output, name)
            except BridgeError as e:  # the daemon still serves; the log says why
                log.error("video out %s=%s: %s", model_id, kind, e.message)
        yield
        for out in app[VIDEO_OUTS].values():
            out.close()

    app.cleanup_ctx.append(video_out_ctx)
