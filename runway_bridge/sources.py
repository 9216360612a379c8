"""Daemon-side sources: the daemon reads a camera, a video file or a stream URL and runs every frame
through a model, so a patch receives results without sending a single frame.

``runway-bridge serve --model face_mesh --source face_mesh=video.mp4 --osc-target 127.0.0.1:7000``
(a source is ``ID=SOURCE``: a camera index such as ``0``, a file path, or a URL such as
``rtsp://...``). Network clients may open cameras, files under ``--file-root`` and URLs matching
``--allow-source-url`` only (`check_source`). Or over HTTP: ``POST /v1/models/<id>/source {"source": "...", "loop": true,
"fps": 15}`` starts one (replacing the model's current source, starting the model if needed),
``GET`` reports it (frames read, dropped, fps), ``DELETE`` stops it; ``GET /v1/sources`` lists all.

A source is opened once however many models use it (``--source pose=0 --source face_mesh=0``:
one camera, one reader; `capture.Capture`), read on a thread of its own, never on the event loop.
Each frame goes into each model's host `Stream` (latest wins: a slow model drops frames, it never queues them),
and the results reach every subscriber: OSC peers and targets, WebSocket ``?listen=1`` clients,
Socket.IO listeners.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from aiohttp import web

from .appkeys import BRIDGE
from .capture import Capture
from .errors import BadInput, BridgeError, NotFound
from .host import HostState
from .transports._http import json_response, read_json
from .types import Blob

__all__ = ["Source", "Sources", "setup_sources", "SOURCES", "parse_source", "check_source"]

log = logging.getLogger(__name__)



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
    if parts.scheme in ("spout", "syphon"):  # another program's texture on this machine, as a camera is
        if not spec.split("://", 1)[1]:
            raise BadInput(f"give the {parts.scheme} sender's name: {parts.scheme}://NAME", field="source")
        return parts.scheme, spec
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


def check_settings(values: dict) -> dict:
    """A source's ``width``, ``height`` (both or neither, 16 to 7680) and ``mirror`` (a boolean)."""
    width, height, mirror = values.get("width"), values.get("height"), values.get("mirror", False)
    for name, v in (("width", width), ("height", height)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= 7680):
            raise BadInput(f"{name} must be a whole number of pixels from 16 to 7680", field=name)
    if (width is None) != (height is None):
        raise BadInput("give width and height together", field="width" if width is None else "height")
    if not isinstance(mirror, bool):
        raise BadInput("mirror must be true or false", field="mirror")
    return {"width": width, "height": height, "mirror": mirror}


class Source:
    """One model's use of a `Capture`: its host stream (latest frame wins) and its own counters."""

    def __init__(self, bridge, model_id: str, capture: Capture):
        self.bridge, self.model_id, self.capture = bridge, model_id, capture
        self.submitted = self.skipped = self.processed = 0
        self.last_error: str | None = None
        self.stream = None
        self.input_name = "image"
        self.started = time.time()
        self._closed = False
        self._logged = 0.0

    def running(self) -> bool:
        host = self.bridge.hosts.get(self.model_id)
        return host is not None and host.state is HostState.RUNNING

    def _image_input(self, host) -> str:
        cmds = (host.manifest or {}).get("commands") or []
        cmd = next((c for c in cmds if c["name"] == host.default_command), cmds[0] if cmds else None)
        return next((i["name"] for i in (cmd or {}).get("inputs", []) if i.get("type") == "image"), "image")

    def submit(self, blob: Blob, frame_id: int) -> None:
        host = self.bridge.hosts.get(self.model_id)
        if self._closed or host is None or host.state is not HostState.RUNNING:
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

    def close(self) -> None:
        self._closed = True
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def status(self, shared_with: list[str] = ()) -> dict:
        state = self.capture.state
        if self._closed and state not in ("failed", "ended"):
            state = "stopped"
        return {
            **self.capture.status(), "model": self.model_id, "state": state, "last_error": self.last_error,
            "submitted": self.submitted, "processed": self.processed,
            "dropped": self.stream.dropped if self.stream else 0, "skipped": self.skipped,
            "shared_with": list(shared_with), "started": self.started,
        }


class Sources:
    """The sources of a daemon: one `Capture` per distinct source, shared by the models that use it."""

    def __init__(self, bridge):
        self.bridge = bridge
        self.by_model: dict[str, Source] = {}
        self.captures: dict[str, Capture] = {}

    def _users(self, capture: Capture) -> list[Source]:
        return [s for s in self.by_model.values() if s.capture is capture]

    def status(self, src: Source) -> dict:
        return src.status([s.model_id for s in self._users(src.capture) if s is not src])

    async def start(self, model_id: str, spec, *, loop: bool = True, fps: float | None = None,
                    width: int | None = None, height: int | None = None, mirror: bool = False,
                    keep_failed: bool = False, trusted: bool = True) -> Source:
        """Attach a model to a source (opening it unless another model reads it already), replacing
        the model's current one, and start the model if it is not up."""
        self.bridge.entry(model_id)  # NotFound for an unknown model
        kind, spec = check_source(self.bridge.config, str(spec), trusted=trusted)  # refused before anything stops
        await self.stop(model_id)
        capture = self.captures.get(spec)
        fresh = capture is None or capture.done
        if fresh:
            capture = Capture(kind, spec, loop=loop, fps=fps, width=width, height=height, mirror=mirror)
            try:
                await capture.open()
            except BridgeError:
                if keep_failed:  # GET /v1/models/<id>/source shows why
                    self.by_model[model_id] = Source(self.bridge, model_id, capture)
                raise
            self.captures[spec] = capture
            capture.fan_out = lambda blob, frame_id, c=capture: self._fan_out(c, blob, frame_id)
            capture.wanted = lambda c=capture: any(s.running() for s in self._users(c))
        src = self.by_model[model_id] = Source(self.bridge, model_id, capture)
        host = self.bridge.hosts.get(model_id)
        if host is None or host.state in (HostState.STOPPED, HostState.FAILED):
            self.bridge.start(model_id)
        if fresh:
            capture.start()
            log.info("source of %s: %s %s (%dx%d, %.3g fps)", model_id, kind, spec, *capture.size, capture.fps)
        else:
            log.info("source of %s: %s, shared with %s", model_id, spec,
                     ", ".join(s.model_id for s in self._users(capture) if s is not src))
        return src

    def _fan_out(self, capture: Capture, blob: Blob, frame_id: int) -> None:
        capture.remember(blob, frame_id)
        for src in self._users(capture):
            src.submit(blob, frame_id)

    def frame(self, model_id: str, frame_id) -> Blob | None:
        """The frame a model's result came from, while it is recent (for overlays), else None."""
        src = self.by_model.get(model_id)
        return src.capture.recent.get(frame_id) if src is not None else None

    async def stop(self, model_id: str) -> Source | None:
        """Detach a model from its source; the capture closes when no model uses it any more."""
        src = self.by_model.pop(model_id, None)
        if src is None:
            return None
        src.close()
        capture = src.capture
        if not self._users(capture):
            if self.captures.get(capture.spec) is capture:
                del self.captures[capture.spec]
            await capture.stop()
        return src

    async def close(self) -> None:
        for model_id in list(self.by_model):
            await self.stop(model_id)


SOURCES = web.AppKey("sources", Sources)


async def _post(request: web.Request) -> web.Response:
    body = await read_json(request, allow_empty=False)
    spec, loop, fps = body.get("source"), body.get("loop", True), body.get("fps")
    if isinstance(spec, bool) or not isinstance(spec, (str, int)) or not str(spec).strip():
        raise BadInput('send {"source": "<camera index, video file or URL>", "loop": true}', field="source")
    if not isinstance(loop, bool):
        raise BadInput("loop must be true or false", field="loop")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 240):
        raise BadInput("fps must be a number from 0 to 240 (or left out)", field="fps")
    settings = check_settings(body)
    sources = request.app[SOURCES]
    src = await sources.start(request.match_info["id"], spec, loop=loop, fps=fps, trusted=False, **settings)
    return json_response(sources.status(src), status=201)


def _get_source(request: web.Request) -> Source:
    model_id = request.match_info["id"]
    request.app[BRIDGE].entry(model_id)
    src = request.app[SOURCES].by_model.get(model_id)
    if src is None:
        raise NotFound(f'model {model_id} has no source; POST /v1/models/{model_id}/source {{"source": "0"}}')
    return src


async def _get(request: web.Request) -> web.Response:
    return json_response(request.app[SOURCES].status(_get_source(request)))


async def _delete(request: web.Request) -> web.Response:
    model_id = request.match_info["id"]
    request.app[BRIDGE].entry(model_id)
    src = await request.app[SOURCES].stop(model_id)
    return json_response({"model": model_id, "stopped": src is not None})


async def _list(request: web.Request) -> web.Response:
    sources = request.app[SOURCES]
    return json_response({"sources": [sources.status(s) for s in sources.by_model.values()],
                          "captures": [c.status() for c in sources.captures.values()]})


def setup_sources(app: web.Application) -> None:
    """The source API, and the ``config.sources`` (``ID=SOURCE``) read from launch to shutdown."""
    app[SOURCES] = Sources(app[BRIDGE])
    wanted = [parse_source(s) for s in app[BRIDGE].config.sources]
    app.router.add_get("/v1/sources", _list)
    app.router.add_post("/v1/models/{id}/source", _post)
    app.router.add_get("/v1/models/{id}/source", _get)
    app.router.add_delete("/v1/models/{id}/source", _delete)

    async def sources_ctx(app):
        for model_id, spec in wanted:
            try:
                opts = dict(app[BRIDGE].config.source_settings.get(model_id, {}))
                fps = opts.pop("fps", None)
                await app[SOURCES].start(model_id, spec, keep_failed=True, fps=fps, **check_settings(opts))
            except BridgeError as e:  # the daemon still serves; the API shows the failure
                log.error("source %s=%s: %s", model_id, spec, e.message)
        yield
        await app[SOURCES].close()

    app.cleanup_ctx.append(sources_ctx)
