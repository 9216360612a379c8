"""A Python client for a running daemon, for scripts and notebooks (sync and async).

```python
from runway_bridge.client import Bridge

with Bridge("http://127.0.0.1:8000") as bridge:
    bridge.start("haar_faces")                       # waits until loaded
    out = bridge.query("haar_faces", {"image": rgb})  # numpy / PIL / JPEG bytes in
    with bridge.stream("cartoon") as s:               # WebSocket fast path, binary frames
        s.send(rgb)                                   # never blocks; the latest frame wins
        for r in s:                                   # r.frame, r.outputs (numpy images), r.timings
            ...
```

`AsyncBridge` has the same methods as coroutines (``async with bridge.stream(...) as s``,
``async for r in s``). `Bridge` runs an `AsyncBridge` on a private event-loop thread.

Images: numpy ``uint8`` arrays (HxW, HxWx3 RGB, HxWx4 RGBA), PIL images and JPEG/PNG bytes go
out as images; image outputs come back as numpy arrays (RGB, RGBA or HxW) unless
``decode_images=False``. Only aiohttp, numpy and OpenCV are used.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import cv2
import numpy as np

from .types import Blob
from .wire import decode_frame, encode_frame, is_bare_image

__all__ = ["Bridge", "AsyncBridge", "Stream", "AsyncStream", "StreamResult", "BridgeRequestError",
           "encode_image", "decode_image"]

DEFAULT_URL = "http://127.0.0.1:8000"


class BridgeRequestError(Exception):
    """The daemon answered with an error (its message is the daemon's own, e.g. how to fix it)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.message, self.status = message, status


# -- images ------------------------------------------------------------------------------------


def _is_image(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype == np.uint8 and (value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 3, 4)))
    return type(value).__module__.startswith("PIL.") and hasattr(value, "mode")  # PIL.Image without importing PIL


def _to_array(value) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    mode = value.mode
    if mode not in ("L", "RGB", "RGBA"):
        value = value.convert("RGBA" if "A" in mode or mode == "P" else "RGB")
    return np.asarray(value)


def encode_image(value, fmt: str = "jpeg", quality: int = 90) -> Blob:
    """numpy (RGB/RGBA/gray uint8), PIL image, or JPEG/PNG bytes to a `Blob` (bytes pass through).

    ``fmt`` is ``jpeg``, ``png`` or ``raw``; images with an alpha channel always go as PNG.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        kind = is_bare_image(data)
        if kind is None:
            raise ValueError("image bytes must be a JPEG or PNG file")
        return Blob(kind, data)
    arr = _to_array(value)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if fmt == "raw":
        arr = np.ascontiguousarray(arr)
        return Blob("raw", arr.tobytes(), arr.shape)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return Blob("png", cv2.imencode(".png", cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA))[1].tobytes())
    bgr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
    if fmt == "png":
        return Blob("png", cv2.imencode(".png", bgr)[1].tobytes())
    return Blob("jpeg", cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())


def decode_image(value) -> np.ndarray:
    """A data URI, bare base64, JPEG/PNG bytes or a raw `Blob` to a numpy array (RGB, RGBA or HxW)."""
    if isinstance(value, Blob):
        if value.format == "raw":
            return np.frombuffer(value.data, np.uint8).reshape(value.shape)
        value = value.data
    if isinstance(value, str):
        value = base64.b64decode(value.split(",", 1)[1] if value.startswith("data:") else value)
    arr = cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("not a JPEG or PNG image")
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB) if arr.ndim == 3 else arr


def _jsonable(value, quality: int, fmt: str = "jpeg"):
    """Inputs to JSON: images to data URIs, numpy to lists."""
    if isinstance(value, (bytes, bytearray, memoryview)) or _is_image(value):
        return encode_image(value, fmt, quality).to_data_uri()
    if isinstance(value, dict):
        return {k: _jsonable(v, quality, fmt) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, quality, fmt) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


def _decode_outputs(value):
    if isinstance(value, Blob) or (isinstance(value, str) and value.startswith("data:image/")):
        return decode_image(value)
    if isinstance(value, dict):
        return {k: _decode_outputs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_outputs(v) for v in value]
    return value


# -- streams -----------------------------------------------------------------------------------


@dataclass
class StreamResult:
    """One result of a stream. ``error`` is set (and ``outputs`` empty) when that frame failed."""

    frame: Any  # the id `send` returned (or the one you passed)
    outputs: dict
    timings: dict = field(default_factory=dict)  # ms: queue, decode, model, encode, total (server side)
    dropped: int = 0  # frames this stream's slot replaced before they ran, so far
    latency_ms: float | None = None  # send() to this result, measured here
    model: str | None = None
    command: str | None = None
    type: str = "result"  # result | partial (a generator's intermediate output) | error
    error: str | None = None
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __getitem__(self, name):
        return self.outputs[name]


class AsyncStream:
    """``async with bridge.stream(id) as s``: `send` frames, iterate results. Use through `AsyncBridge.stream`."""

    def __init__(self, bridge: AsyncBridge, model: str | None, command: str | None, *, format: str | None,
                 listen: bool, keep: int):
        self._bridge, self.model, self.command = bridge, model, command
        self._format, self._listen = format, listen
        self._quality, self._decode = bridge.quality, bridge.decode_images
        self._in_format = format if format in ("raw", "png") else bridge.image_format
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: tuple | None = None  # (frame id, inputs): the next frame to send
        self._wake = asyncio.Event()
        self._results: collections.deque = collections.deque(maxlen=keep)
        self._arrived = asyncio.Event()
        self._sent_at: dict = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task] = []
        self._image_input = "image"
        self.latest: StreamResult | None = None  # the newest result, whether iterated or not
        self.sent = self.replaced = self.missed = 0  # frames sent; replaced before sending; results not kept
        self.closed = False

    async def __aenter__(self) -> AsyncStream:
        b = self._bridge
        model_id = self.model
        if model_id is None:  # the default model: its id, for a friendly check
            model_id = next((m["id"] for m in await b.models() if m.get("default")), None)
            if model_id is None:
                raise BridgeRequestError("the daemon has no default model; name one: bridge.stream('<id>')")
            self.model = model_id
        info = await b.model(model_id)
        state = info["status"]["state"]
        if state != "RUNNING":
            raise BridgeRequestError(f"model {model_id} is {state}, not RUNNING; start it first: "
                                     f"bridge.start({model_id!r})" + (f" ({info['status']['error']})"
                                                                      if info["status"].get("error") else ""))
        commands = (info.get("manifest") or {}).get("commands") or []
        name = self.command or (info.get("card") or {}).get("default_command")
        cmd = next((c for c in commands if c["name"] == name), commands[0] if commands else None)
        images = [i["name"] for i in (cmd or {}).get("inputs", []) if i.get("type") == "image"]
        if len(images) == 1:
            self._image_input = images[0]
        params = {k: v for k, v in (("command", self.command), ("format", self._format),
                                    ("listen", "1" if self._listen else None)) if v}
        session = await b._get_session()
        self._ws = await session.ws_connect(f"{b.url}/v1/models/{model_id}/stream", params=params,
                                            compress=0, max_msg_size=0, heartbeat=30)
        self._tasks = [asyncio.ensure_future(self._sender()), asyncio.ensure_future(self._reader())]
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for t in self._tasks:
            t.cancel()
        if self._ws is not None:
            await self._ws.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._arrived.set()

    def send(self, frame_or_inputs, frame=None, **inputs) -> Any:
        """Queue a frame (an image, or a dict of inputs) without waiting; returns its frame id.

        A frame not yet sent when the next one comes is replaced (counted in ``replaced``):
        like the daemon's own slot, the latest frame wins. Extra keyword arguments are inputs.
        """
        if self.closed:
            raise BridgeRequestError("the stream is closed")
        if isinstance(frame_or_inputs, dict):
            values = {**frame_or_inputs, **inputs}
        else:
            values = {self._image_input: frame_or_inputs, **inputs}
        frame = next(self._ids) if frame is None else frame
        if self._pending is not None:
            self.replaced += 1
        self._pending = (frame, values)
        self._wake.set()
        return frame

    def _message(self, frame, values: dict) -> bytes:
        parts, plain = [], {}
        for k, v in values.items():
            if isinstance(v, (bytes, bytearray, memoryview)) or _is_image(v):
                parts.append((k, encode_image(v, self._in_format, self._quality)))
            else:
                plain[k] = _jsonable(v, self._quality, self._in_format)
        header = {"frame": frame, "inputs": plain}
        if self.command:
            header["command"] = self.command
        return encode_frame(header, parts)

    async def _sender(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._pending is None:
                continue
            frame, values = self._pending
            self._pending = None
            data = self._message(frame, values)
            self._sent_at[frame] = time.perf_counter()
            if len(self._sent_at) > 1000:  # ids of frames the daemon dropped never come back
                for k in list(self._sent_at)[:500]:
                    del self._sent_at[k]
            await self._ws.send_bytes(data)
            self.sent += 1

    async def _reader(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    head, blobs = decode_frame(msg.data)
                    outputs = {**(head.get("outputs") or {}), **blobs}
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    head = json.loads(msg.data)
                    outputs = head.get("outputs") or {}
                else:
                    break
                sent = self._sent_at.pop(head.get("frame"), None) if head.get("type") != "partial" else \
                    self._sent_at.get(head.get("frame"))
                r = StreamResult(
                    frame=head.get("frame"), outputs=_decode_outputs(outputs) if self._decode else outputs,
                    timings=head.get("timings") or {}, dropped=head.get("dropped") or 0,
                    latency_ms=None if sent is None else (time.perf_counter() - sent) * 1000,
                    model=head.get("model"), command=head.get("command"), type=head.get("type", "result"),
                    error=head.get("error"), status=head.get("status"))
                if len(self._results) == self._results.maxlen:
                    self.missed += 1
                self._results.append(r)
                self.latest = r
                self._arrived.set()
        finally:
            self.closed = True
            self._arrived.set()

    def results(self) -> list[StreamResult]:
        """Every result received and not yet iterated, oldest first (empties the buffer)."""
        out = list(self._results)
        self._results.clear()
        return out

    def __aiter__(self):
        return self

    async def __anext__(self) -> StreamResult:
        while not self._results:
            if self.closed:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        return self._results.popleft()

    async def next(self, timeout: float | None = None) -> StreamResult:
        """The next result; `TimeoutError` after ``timeout`` seconds, `StopAsyncIteration` once closed."""
        return await asyncio.wait_for(self.__anext__(), timeout)


# -- the async client --------------------------------------------------------------------------


class AsyncBridge:
    """The daemon over HTTP and its WebSocket fast path, as coroutines (aiohttp)."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *, timeout: float = 120,
                 image_format: str = "jpeg", quality: int = 90, decode_images: bool = True):
        """``image_format`` (jpeg or png) and ``quality`` apply to images you send; ``decode_images``
        turns image outputs into numpy arrays (else they stay data URIs, or `Blob`s on streams)."""
        if image_format not in ("jpeg", "png"):
            raise ValueError("image_format must be jpeg or png")
        self.url = url.rstrip("/")
        self.token, self.image_format, self.quality, self.decode_images = token, image_format, quality, decode_images
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._session

    async def __aenter__(self) -> AsyncBridge:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, body=None, params=None, headers=None):
        session = await self._get_session()
        try:
            async with session.request(method, self.url + path, json=body, params=params, headers=headers) as r:
                raw = await r.read()
                status = r.status
        except aiohttp.ClientConnectorError as e:
            raise BridgeRequestError(f"cannot reach the daemon at {self.url} ({e.os_error or e}); "
                                     f"is it running? start it with: runway-bridge serve") from None
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode(errors="replace")
        if status >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise BridgeRequestError(message or str(data) or f"{method} {path} failed", status)
        return data

    async def health(self) -> dict:
        return await self._request("GET", "/healthz")

    async def models(self) -> list[dict]:
        """The catalogue: one dict per model (id, name, category, license, ..., status, default)."""
        return (await self._request("GET", "/v1/models"))["models"]

    async def model(self, model_id: str) -> dict:
        """One model's card, manifest (options, commands) and status."""
        return await self._request("GET", f"/v1/models/{model_id}")

    async def start(self, model_id: str, options: dict | None = None, wait: bool = True,
                    backend: str | None = None) -> dict:
        """Start a model (or restart it with new options); with ``wait``, return once it is RUNNING.

        Raises `BridgeRequestError` with the model's own error when its setup fails.
        """
        body = {"options": _jsonable(options or {}, self.quality, self.image_format)}
        if backend:
            body["backend"] = backend
        return await self._request("POST", f"/v1/models/{model_id}/start", body, {"wait": "1"} if wait else None)

    async def stop(self, model_id: str) -> dict:
        return await self._request("POST", f"/v1/models/{model_id}/stop")

    async def query(self, model_id: str | None = None, inputs: dict | None = None, *, command: str | None = None,
                    output_format: str | None = None, **kw_inputs) -> dict:
        """Run a command once over HTTP; returns its outputs (image outputs as numpy arrays).

        ``model_id=None`` is the daemon's default model (the Runway ``POST /query``); ``command=None``
        the model's default command. ``output_format='png'`` asks for lossless image outputs.
        """
        body = _jsonable({**(inputs or {}), **kw_inputs}, self.quality, self.image_format)
        headers = {"X-Runway-Output-Format": f"image={output_format.upper()}"} if output_format else None
        if command:
            path = f"/v1/models/{model_id}/commands/{command}" if model_id else None
            if path is None:
                raise ValueError("name the model when naming a command")
        else:
            path = f"/v1/models/{model_id}/query" if model_id else "/query"
        out = await self._request("POST", path, body, headers=headers)
        return _decode_outputs(out) if self.decode_images else out

    async def info(self, model_id: str | None = None) -> dict:
        """``{inputs, outputs}`` of the model's default command (the Runway ``GET /info``)."""
        return await self._request("GET", f"/v1/models/{model_id}/info" if model_id else "/info")

    async def data(self, model_id: str | None = None) -> dict:
        """The model's last outputs, whoever caused them (the Runway ``GET /data``)."""
        out = await self._request("GET", f"/v1/models/{model_id}/data" if model_id else "/data")
        return _decode_outputs(out) if self.decode_images else out

    def stream(self, model_id: str | None = None, command: str | None = None, *, format: str | None = None,
               listen: bool = False, keep: int = 64) -> AsyncStream:
        """A WebSocket stream to a running model: ``async with bridge.stream('pose') as s``.

        ``format`` (jpeg, png, raw) picks how images travel (raw: no codec, both ways);
        ``listen`` also delivers results caused by other clients; at most ``keep`` results wait
        for you (older ones are dropped, counted in ``missed``; ``latest`` is always the newest).
        """
        return AsyncStream(self, model_id, command, format=format, listen=listen, keep=keep)


# -- the sync client ---------------------------------------------------------------------------


class _Loop:
    """An event loop on a daemon thread; `run` calls a coroutine there and waits for it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="runway-bridge-client", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float | None = None):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except BaseException:
            fut.cancel()
            raise

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class Stream:
    """The blocking face of `AsyncStream`: ``with bridge.stream(id) as s: s.send(img); for r in s: ...``."""

    def __init__(self, loop: _Loop, inner: AsyncStream):
        self._loop, self._inner = loop, inner

    def __enter__(self) -> Stream:
        self._loop.run(self._inner.__aenter__())
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.loop.is_closed():
            self._loop.run(self._inner.close())

    def send(self, frame_or_inputs, frame=None, **inputs):
        """Queue a frame without waiting (the latest frame wins); returns its frame id."""
        inner = self._inner
        if inner.closed:
            raise BridgeRequestError("the stream is closed")
        frame = next(inner._ids) if frame is None else frame
        self._loop.loop.call_soon_threadsafe(lambda: inner.send(frame_or_inputs, frame, **inputs))
        return frame

    def next(self, timeout: float | None = None) -> StreamResult:
        """The next result (blocks); `TimeoutError` after ``timeout`` s, `StopIteration` once closed."""
        try:
            return self._loop.run(self._inner.next(timeout))
        except StopAsyncIteration:
            raise StopIteration from None

    def __iter__(self):
        return self

    def __next__(self) -> StreamResult:
        return self.next()

    def results(self) -> list[StreamResult]:
        return self._loop.run(_call(self._inner.results))

    def __getattr__(self, name):  # latest, sent, replaced, missed, closed, model, command
        return getattr(self._inner, name)


async def _call(fn):
    return fn()


class Bridge:
    """The blocking client: same methods as `AsyncBridge`, run on a private event-loop thread."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, **kw):
        self._loop = _Loop()
        self._async = AsyncBridge(url, token, **kw)
        self.url = self._async.url

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.loop.is_closed():
            self._loop.run(self._async.close())
            self._loop.close()

    def health(self) -> dict:
        return self._loop.run(self._async.health())

    def models(self) -> list[dict]:
        return self._loop.run(self._async.models())

    def model(self, model_id: str) -> dict:
        return self._loop.run(self._async.model(model_id))

    def start(self, model_id: str, options: dict | None = None, wait: bool = True, backend: str | None = None) -> dict:
        return self._loop.run(self._async.start(model_id, options, wait, backend))

    def stop(self, model_id: str) -> dict:
        return self._loop.run(self._async.stop(model_id))

    def query(self, model_id: str | None = None, inputs: dict | None = None, **kw) -> dict:
        return self._loop.run(self._async.query(model_id, inputs, **kw))

    def info(self, model_id: str | None = None) -> dict:
        return self._loop.run(self._async.info(model_id))

    def data(self, model_id: str | None = None) -> dict:
        return self._loop.run(self._async.data(model_id))

    def stream(self, model_id: str | None = None, command: str | None = None, **kw) -> Stream:
        return Stream(self._loop, self._async.stream(model_id, command, **kw))

    for _name in ("health", "models", "model", "start", "stop", "query", "info", "data", "stream"):
        locals()[_name].__doc__ = getattr(AsyncBridge, _name).__doc__
    del _name
