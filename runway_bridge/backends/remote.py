"""Run a model on another runway-bridge daemon (a GPU host), as if it were here.

``runway-bridge serve --remote https://gpu-host:8000 --remote-token T`` (or ``remotes`` and
``remote_token`` in the config file); `runway_bridge.remotes` puts the remote's models into the
local catalogue with ``backend = "remote"``. Transports and streams never know the difference.

`RemoteBackend`, per model:

- **start**: ``POST /v1/models/<id>/start?wait=1`` with the options, unless the model already runs
  there with the same options (a restart would throw away a loaded GPU model); then the manifest,
  then one WebSocket to the remote's fast path, ``/v1/models/<id>/stream``.
- **calls** go over that socket as binary frames (`wire.encode_frame`: a JSON header with the frame
  id, command and non-binary inputs, then the image bytes; results come back through
  `wire.decode_frame`), the command named per frame, so one socket serves every command. The host
  runs one call per model at a time, so one frame is in flight on the link and the remote's own
  slot (latest frame wins) never holds a second: the same rule at both ends. Answers are matched
  by frame id; a late answer to a call that gave up is ignored. A call that asks for particular
  output formats (``X-Runway-Output-Format``) goes over ``POST /v1/models/<id>/commands/<name>``
  instead, since a stream's format is fixed when it opens.
- **the link**: aiohttp sets ``TCP_NODELAY`` on every connection it opens (``BaseProtocol.
  connection_made``), and we set it again on the socket to be sure; each frame is one write, so no
  frame waits ~40 ms on a delayed ACK (REFERENCE section 2). Heartbeats find a silent peer. When
  the link drops, the call in flight and every call after it fail at once with
  `BackendUnavailable` (503, Retry-After) naming the remote and why; the backend is FAILED and
  `detail` (shown in the model's status) says ``remote ... unreachable: <why>; retrying in N s``.
  It reconnects by itself, waiting 0.5 s, then doubling up to 10 s, for as long as it takes; once
  the remote answers it starts the model there again (same options) if it is not running (the
  remote restarted, or someone stopped it), reopens the socket, and serves again.
- **stop** stops the model on the remote too (best effort), so a laptop that exits frees the GPU.

The token is sent only in the ``Authorization`` header (never in a URL, so it cannot reach a log
line through an error message) and is never logged.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp
import numpy as np

from ..errors import (
    BackendUnavailable,
    BadInput,
    BridgeError,
    Conflict,
    ModelCrashed,
    NotFound,
    SetupError,
    Unauthorized,
    from_status,
)
from ..types import Blob, decode_base64
from ..wire import decode_frame, encode_frame, outputs_to_json
from .base import Backend, BackendState, Pending

__all__ = ["RemoteBackend", "normalise_url", "FIRST_DELAY", "MAX_DELAY"]

log = logging.getLogger("runway_bridge.remote")

FIRST_DELAY = 0.5  # seconds before the first reconnection attempt; doubles each time
MAX_DELAY = 10.0
CONNECT_TIMEOUT = 5.0
MAX_MESSAGE = 64 * 1024 * 1024


def normalise_url(url: str) -> str:
    """``gpu-host:8000`` -> ``http://gpu-host:8000``; no trailing slash."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"a remote must be an http(s) URL like https://gpu-host:8000, not {url!r}")
    return url


def _netloc(url: str) -> str:
    return urlsplit(url).netloc


def _require_token(url: str, token: str | None) -> str:
    if not token:
        raise BadInput(f"the remote {url} needs its token: pass --remote-token TOKEN "
                       "(or set RUNWAY_BRIDGE_REMOTE_TOKEN, or remote_token in the config file)")
    return token


def _delay(failures: int) -> float:
    return min(FIRST_DELAY * 2 ** max(failures - 1, 0), MAX_DELAY)


def _describe(e: BaseException) -> str:
    """A connection failure in a few words (aiohttp's messages carry the URL, never a header)."""
    if isinstance(e, asyncio.TimeoutError):
        return "no answer (timed out)"
    if isinstance(e, aiohttp.ClientConnectorError):
        return f"cannot connect ({e.os_error.strerror or e.os_error})" if e.os_error else "cannot connect"
    if isinstance(e, aiohttp.WSServerHandshakeError):
        return f"refused the stream ({e.status} {e.message})"
    if isinstance(e, BridgeError):
        return e.message
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


async def _read_error(resp: aiohttp.ClientResponse) -> str:
    try:
        body = await resp.json(content_type=None)
        return body.get("error") or json.dumps(body)
    except (ValueError, aiohttp.ContentTypeError, AttributeError):
        return (await resp.text())[:200] or resp.reason or ""


def _session(token: str) -> aiohttp.ClientSession:
    # limit: the link, a start and a stop at once at most; more would only queue on the remote
    return aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {token}"},
        connector=aiohttp.TCPConnector(limit=8),
        timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT, sock_connect=CONNECT_TIMEOUT))


async def _get_json(session: aiohttp.ClientSession, url: str, what: str, timeout: float = 30) -> dict:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        if resp.status == 401:
            raise Unauthorized(f"{what} refused the token (401): check --remote-token")
        if resp.status != 200:
            raise from_status(resp.status, f"{what}: {resp.status} {await _read_error(resp)}")
        return await resp.json()


def _jsonable(value):
    """Inputs that are not top-level images as JSON values: nested images become data URIs."""
    if isinstance(value, Blob):
        return value.to_data_uri()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _split_inputs(inputs: dict) -> tuple[dict, list[tuple[str, Blob]]]:
    """Top-level images (`Blob`s, uint8 pixel arrays) travel as binary parts; the rest as JSON."""
    rest, parts = {}, []
    for name, value in inputs.items():
        if isinstance(value, Blob):
            parts.append((name, value))
        elif isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim in (2, 3):
            parts.append((name, Blob("raw", np.ascontiguousarray(value).tobytes(), tuple(value.shape))))
        else:
            rest[name] = _jsonable(value)
    return rest, parts


def _uris_to_blobs(outputs: dict) -> dict:
    """Top-level image data URIs (from the HTTP path) back to `Blob`s, for a binary caller."""
    out = {}
    for k, v in outputs.items():
        if isinstance(v, str) and v.startswith(("data:image/jpeg;base64,", "data:image/png;base64,")):
            v = Blob("png" if v.startswith("data:image/png") else "jpeg", decode_base64(v))
        out[k] = v
    return out


class _Call(Pending):
    def __init__(self, frame: int, future: asyncio.Future, on_partial):
        super().__init__(future, on_partial)
        self.frame = frame
        self.sent = time.perf_counter()


class RemoteBackend(Backend):
    """A model served by another runway-bridge daemon; see the module docstring."""

    kind = "remote"

    def __init__(self, model_dir=None, card=None, *, url: str | None = None, remote_id: str | None = None,
                 token: str | None = None, timeout_s: float | None = None, setup_timeout_s: float | None = None):
        super().__init__(model_dir, card)
        conf = self.card.get("remote") or {}
        self.name = self.card.get("id") or remote_id or "?"
        if not (url or conf.get("url")):
            raise BadInput(f"{self.name} is not a model of a remote daemon (no [remote] url in its card); "
                           "remote models come from `runway-bridge serve --remote URL`")
        self.url = normalise_url(url or conf["url"])
        self.remote_id = remote_id or conf.get("id") or self.name
        self._token = _require_token(self.url, token)
        self.timeout_s = float(timeout_s or conf.get("timeout_s") or 60)
        self.setup_timeout_s = float(setup_timeout_s or conf.get("setup_timeout_s") or 600)
        self.where = f"remote {self.url}"
        self._options: dict = {}
        self._manifest: dict | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._relink: asyncio.Task | None = None
        self._current: _Call | None = None
        self._lock = asyncio.Lock()
        self._frames = itertools.count(1)
        self._down: str | None = None  # why the link is down, while it reconnects
        self._retry_at = 0.0
        self.remote_status: dict = {}

    def __repr__(self) -> str:  # never the token
        return f"<RemoteBackend {self.name} -> {self.url}/v1/models/{self.remote_id} {self.state.value}>"

    def _api(self, path: str = "") -> str:
        return f"{self.url}/v1/models/{self.remote_id}{path}"

    @property
    def detail(self) -> str | None:
        if self._down is None:
            return None
        wait = max(0.0, self._retry_at - time.monotonic()) if self._relink else 0.0
        return f"{self.where} unreachable: {self._down}; retrying in {wait:.1f} s"

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, options: dict) -> None:
        self._transition(BackendState.STARTING)
        self._cancel_relink()
        await self._close_link()
        self._options, self._down = dict(options or {}), None
        if self._session is None or self._session.closed:
            self._session = _session(self._token)
        try:
            await self._connect(force_options=True)
        except BaseException as e:
            self._transition(BackendState.FAILED)
            await self._session.close()
            if isinstance(e, (aiohttp.ClientError, OSError, asyncio.TimeoutError)):
                raise SetupError(f"model {self.name}: {self.where} unreachable: {_describe(e)}") from None
            raise
        self._transition(BackendState.RUNNING)

    async def _connect(self, *, force_options: bool) -> None:
        """Have the model running on the remote (starting it if needed), read its manifest, open the link."""
        s = self._session
        listing = await _get_json(s, f"{self.url}/v1/models", self.where, CONNECT_TIMEOUT * 2)
        there = next((m for m in listing.get("models", []) if m.get("id") == self.remote_id), None)
        if there is None:
            raise NotFound(f"{self.where} has no model {self.remote_id!r} any more")
        running = there.get("status") == "RUNNING"
        if running and force_options and self._options:
            info = await _get_json(s, self._api(), self.where)
            have = (info.get("status") or {}).get("options") or {}
            running = all(have.get(k) == v for k, v in self._options.items())
        if not running:
            log.info("Starting %s on %s...", self.remote_id, self.url)
            async with s.post(self._api("/start?wait=1"), json={"options": self._options},
                              timeout=aiohttp.ClientTimeout(total=self.setup_timeout_s)) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 401:
                    raise Unauthorized(f"{self.where} refused the token (401): check --remote-token")
                if resp.status != 200 or body.get("state") != "RUNNING":
                    msg = f"model {self.remote_id} failed to start on {self.url}: {body.get('error') or body.get('state')}"
                    raise (from_status(resp.status, msg) if 400 <= resp.status < 500 else SetupError(msg))
        info = await _get_json(s, self._api(), self.where)
        self._manifest = info.get("manifest") or self._manifest
        self.remote_status = info.get("status") or {}
        self.gpu = bool(self.remote_status.get("gpu"))
        ws_url = self._api("/stream").replace("http", "ws", 1)
        ws = await s.ws_connect(ws_url, compress=0, heartbeat=10, max_msg_size=MAX_MESSAGE,
                                timeout=aiohttp.ClientWSTimeout(ws_close=2))
        sock = ws.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._ws = ws
        self._reader = asyncio.ensure_future(self._read(ws))

    async def _close_link(self) -> None:
        ws, self._ws = self._ws, None
        reader, self._reader = self._reader, None
        if ws is not None:
            await ws.close()
        if reader is not None and not reader.done():
            reader.cancel()

    def _cancel_relink(self) -> None:
        if self._relink is not None:
            self._relink.cancel()
            self._relink = None

    async def stop(self) -> None:
        was_up = self.state is BackendState.RUNNING and self._ws is not None
        self._transition(BackendState.STOPPED)
        self._cancel_relink()
        self._down = None
        if self._current is not None:
            self._current.finish(error=Conflict(f"model {self.name} was stopped"))
            self._current = None
        await self._close_link()
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if was_up:  # free the remote's memory too; it may have gone, which is fine
                async with session.post(self._api("/stop"), timeout=aiohttp.ClientTimeout(total=3)):
                    pass
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
            log.info("could not stop %s on %s: %s", self.remote_id, self.url, _describe(e))
        finally:
            await session.close()

    async def manifest(self) -> dict:
        if self._manifest is None:
            async with _session(self._token) as s:
                self._manifest = (await _get_json(s, self._api(), self.where)).get("manifest")
        return self._manifest

    # -- the link -------------------------------------------------------------------------------
    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        why = "the connection closed"
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    header, parts = decode_frame(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    header, parts = json.loads(msg.data), {}
                else:
                    break
                self._on_message(header, parts)
            if ws.close_code not in (None, 1000, 1006):
                why = ("the remote is shutting down" if ws.close_code == 1001
                       else f"the remote closed the link (code {ws.close_code})")
            elif ws.exception() is not None and not isinstance(ws.exception(), ConnectionError):
                why = _describe(ws.exception())
        except asyncio.CancelledError:
            raise
        except Exception as e:
            why = _describe(e)
        if ws is self._ws:
            self._lost(why)

    def _on_message(self, header: dict, parts: dict) -> None:
        cur = self._current
        if cur is None or header.get("frame") not in (cur.frame, None):
            return  # the answer to a call that gave up, or to nobody
        kind = header.get("type")
        if kind == "error":
            self._current = None
            status, message = int(header.get("status") or 500), header.get("error") or "remote error"
            if status == 409 and "not running" in message:  # stopped on the remote: start it again
                cur.finish(error=BackendUnavailable(f"model {self.name} stopped on {self.url}; starting it again",
                                                    retry_after=1))
                self._lost(f"model {self.remote_id} stopped there")
                return
            cur.finish(error=from_status(status, message, field=header.get("field")))
            return
        if header.get("frame") is None:
            return
        outputs = {**(header.get("outputs") or {}), **parts}
        if kind == "partial":
            if cur.on_partial is not None:
                cur.on_partial(outputs, header.get("progress", 0))
            return
        self._current = None
        cur.finish(result=(outputs, header.get("timings") or {}))

    def _lost(self, why: str) -> None:
        """The link dropped: fail whoever waits, say so in the status, reconnect in the background."""
        if self._ws is not None:
            ws, self._ws = self._ws, None
            asyncio.ensure_future(ws.close())
        self._reader = None
        self._down = why
        if self._current is not None:
            self._current.finish(error=BackendUnavailable(
                f"model {self.name}: {self.where} unreachable: {why}; reconnecting", retry_after=FIRST_DELAY))
            self._current = None
        if self.state is BackendState.RUNNING:
            log.warning("model %s: %s unreachable: %s; reconnecting", self.name, self.where, why)
            self._transition(BackendState.FAILED)
        if self.state is BackendState.FAILED and self._relink is None:
            self._relink = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        for failures in itertools.count(1):
            delay = _delay(failures)
            self._retry_at = time.monotonic() + delay
            await asyncio.sleep(delay)
            try:
                await self._connect(force_options=False)
            except asyncio.CancelledError:
                raise
            except (BridgeError, aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as e:
                why = _describe(e)
                if why != self._down:
                    log.warning("model %s: %s still unreachable: %s", self.name, self.where, why)
                self._down = why
                log.debug("model %s: retrying %s in %.1f s", self.name, self.url, _delay(failures + 1))
                continue
            self._transition(BackendState.STARTING)
            self._transition(BackendState.RUNNING)
            self._down = self._relink = None
            log.info("model %s: %s is back; serving again", self.name, self.where)
            return

    async def wait_running(self, timeout: float = 30) -> None:
        """Wait until a dropped link serves again (tests, and callers that prefer waiting)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.state is not BackendState.RUNNING:
            if self._relink is None and self.state is not BackendState.STARTING:
                raise Conflict(f"model {self.name} is {self.state.value} and not reconnecting")
            if asyncio.get_running_loop().time() > deadline:
                raise asyncio.TimeoutError(f"{self.name} did not reconnect within {timeout:g} s")
            await asyncio.sleep(0.05)

    # -- calls ----------------------------------------------------------------------------------
    def _check_up(self) -> None:
        if self.state is BackendState.RUNNING and self._ws is not None:
            return
        if self._down is not None:
            wait = max(FIRST_DELAY, self._retry_at - time.monotonic())
            raise BackendUnavailable(f"model {self.name}: {self.detail}", retry_after=round(wait, 1))
        raise Conflict(f"model {self.name} is {self.state.value}, not RUNNING")

    async def call(self, command, inputs, *, binary=False, formats=None, timings=None,
                   on_partial: Callable[[dict, int], None] | None = None):
        self._check_up()
        if formats:
            return await self._call_http(command, inputs, binary, formats)
        async with self._lock:
            self._check_up()
            loop = asyncio.get_running_loop()
            rest, parts = _split_inputs(inputs)
            frame = next(self._frames)
            try:
                message = encode_frame({"frame": frame, "command": command, "inputs": rest}, parts)
            except (TypeError, ValueError) as e:
                raise BadInput(f"inputs cannot travel to {self.where}: {e}") from None
            cur = self._current = _Call(frame, loop.create_future(), on_partial)
            try:
                await self._ws.send_bytes(message)
                outputs, remote = await asyncio.wait_for(asyncio.shield(cur.future), self.timeout_s)
            except asyncio.TimeoutError:
                raise ModelCrashed(f"model {self.name}: {self.where} gave no answer within {self.timeout_s:g} s") from None
            except (ConnectionError, aiohttp.ClientError) as e:  # the write failed: the reader says why
                self._lost(_describe(e))
                raise BackendUnavailable(f"model {self.name}: {self.detail}", retry_after=FIRST_DELAY) from None
            finally:
                if self._current is cur:
                    self._current = None
        if timings is not None:
            for k in ("decode", "model", "encode"):
                if k in remote:
                    timings[k] = remote[k]
            link = (time.perf_counter() - cur.sent) * 1000 - float(remote.get("total") or 0)
            timings["link"] = round(link, 3)
        return outputs if binary else outputs_to_json(outputs)

    async def _call_http(self, command: str, inputs: dict, binary: bool, formats: dict) -> dict:
        if any(str(f).lower() == "raw" for f in formats.values()):
            raise BadInput(f"raw output images cannot come from {self.where}; ask for jpeg or png")
        header = ", ".join(f"{k}={str(v).upper()}" for k, v in formats.items())
        try:
            async with self._session.post(self._api(f"/commands/{command}"), json=_jsonable(inputs),
                                          headers={"X-Runway-Output-Format": header},
                                          timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
                if resp.status != 200:
                    body = await resp.json(content_type=None) if resp.content_type == "application/json" else {}
                    raise from_status(resp.status, body.get("error") or await _read_error(resp), field=body.get("field"))
                outputs = await resp.json()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
            raise BackendUnavailable(f"model {self.name}: {self.where} unreachable: {_describe(e)}",
                                     retry_after=FIRST_DELAY) from None
        return _uris_to_blobs(outputs) if binary else outputs
