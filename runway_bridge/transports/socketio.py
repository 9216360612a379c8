"""Socket.IO on the daemon's port (``/socket.io/``): the Runway events, plus binary frames.

Which model: namespace ``/`` serves the default model, or the model named by ``?model=<id>`` (or
``auth={"model": id}``); namespace ``/<id>`` serves that model too, so one client connection can
multiplex several models. Other connect options (query string or ``auth``): ``command`` (default:
the model's default command), ``binary=1`` (image outputs as binary attachments instead of data
URIs), ``format=jpeg|png`` (image output encoding), ``token`` (when the daemon has one).

Events: the client emits ``query`` with an inputs object (images as data URIs, or as bytes) and an
optional frame id (``frame`` when the command has no input of that name, or ``_meta.frame``); the
server emits ``info`` (``{inputs, outputs}``) once on connect, ``data`` (the outputs at the top
level, plus ``_meta``: model, command, frame, stream, timings, dropped) for every result of the
model, also those caused by other clients, and ``error`` (``{"error": ...}``) to the client whose
query failed. Each client has one stream (latest frame wins) and one latest-wins outbox per event,
so a slow client loses results instead of queueing them. docs/protocol.md has the details.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import urllib.parse

import socketio
from aiohttp import web
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from ..appkeys import BRIDGE
from ..errors import BadInput, BridgeError, InferenceError
from ..jsonsafe import check_depth
from ..types import Blob
from ..wire import is_bare_image, outputs_to_json
from ._http import TOKEN
from ._outbox import Outbox
from ._socketio_server import Server as _Server
from ._socketio_server import WebSocket as _WebSocket
from ._socketio_server import translate_request as _translate_request

__all__ = ["setup_socketio", "SIO"]

log = logging.getLogger(__name__)
SIO = web.AppKey("socketio", socketio.AsyncServer)


# -- wire forms ------------------------------------------------------------------------------
def _to_bytes(value):
    """Outputs with every `Blob` as its bytes (Socket.IO sends them as binary attachments)."""
    if isinstance(value, Blob):
        return value.data
    if isinstance(value, dict):
        return {k: _to_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_bytes(v) for v in value]
    return value


def _packets(sio, namespace: str, event: str, payload) -> list:
    """One Socket.IO event as engine.io packets, ready to send to any client of the namespace."""
    encoded = sio.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, payload]).encode()
    return [eio_packet.Packet(eio_packet.MESSAGE, p) for p in (encoded if isinstance(encoded, list) else [encoded])]


def _encode(sio, result, namespace: str, binary: bool) -> list:
    """A result's ``data`` event, encoded once per namespace and image form (`Result.encoded`)."""
    key = ("socketio", namespace, binary)
    if key not in result.encoded:
        outputs = result.outputs or {}
        payload = dict(_to_bytes(outputs) if binary else outputs_to_json(outputs))
        meta = {"model": result.model, "command": result.command, "frame": result.frame_id,
                "stream": result.stream_id, "timings": result.timings, "dropped": result.dropped}
        if result.progress is not None:
            meta["progress"] = result.progress
        payload["_meta"] = meta
        check_depth(payload, error=InferenceError)
        result.encoded[key] = _packets(sio, namespace, "data", payload)
    return result.encoded[key]


MAX_FRAME_ID = 128  # characters of a string frame id


def _frame_id(value):
    """A frame id is echoed in every result: a number or a short string, nothing that can nest."""
    if value is None or isinstance(value, str) and len(value) <= MAX_FRAME_ID:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise BadInput(f"a frame id must be a number or a string of at most {MAX_FRAME_ID} characters; "
                   f"got {type(value).__name__}")


def _inputs(payload, command: dict | None) -> tuple[dict, object, str | None]:
    """A ``query`` payload to (inputs, frame id, command); bytes images become `Blob`s."""
    if not isinstance(payload, dict):
        raise BadInput(f"query takes one object of inputs, e.g. {{\"image\": <data URI or bytes>}}; "
                       f"got {type(payload).__name__}")
    meta = payload.get("_meta") or {}
    if not isinstance(meta, dict):
        raise BadInput("'_meta' must be an object: {\"frame\": id, \"command\": name}")
    names = {f["name"] for f in command["inputs"]} if command else set()
    frame = _frame_id(meta.get("frame", payload.get("frame") if "frame" not in names else None))
    inputs = {}
    for k, v in payload.items():
        if k == "_meta" or (k == "frame" and "frame" not in names):
            continue
        fmt = is_bare_image(v) if isinstance(v, (bytes, bytearray)) else None
        inputs[k] = Blob(fmt, bytes(v)) if fmt else v
    return inputs, frame, meta.get("command")


class _Client:
    """One connection to one model: its stream, its subscription and its two outboxes."""

    def __init__(self, sio, host, namespace: str, sid: str, opts: dict, command: dict):
        self.sio, self.host, self.namespace, self.sid, self.command = sio, host, namespace, sid, command
        self.eio_sid = sio.manager.eio_sid_from_sid(sid, namespace)
        self.binary = opts.get("binary", "") in ("1", "true", True, 1)
        fmt = opts.get("format")
        formats = {"image": fmt, "segmentation": fmt} if fmt else None
        self.stream = host.open_stream(command["name"], self.deliver, formats)
        self.data = Outbox(self.send)
        self.errors = Outbox(self.send)
        self.info_task: asyncio.Task | None = None
        host.subscribe(self.others)

    def deliver(self, result) -> None:
        if result.error is not None:
            self.error(result.error, result.frame_id)
            return
        try:
            self.data.put(_encode(self.sio, result, self.namespace, self.binary))
        except BridgeError as e:  # an output that cannot be sent: say so, keep the model serving
            self.error(e, result.frame_id)

    def others(self, result) -> None:
        if result.stream_id != self.stream.id and result.error is None:
            try:
                self.data.put(_encode(self.sio, result, self.namespace, self.binary))
            except BridgeError:
                pass  # its own client hears why

    def error(self, err: BridgeError, frame=None) -> None:
        meta = {"model": self.host.id, "frame": frame, "status": err.status, "stream": self.stream.id}
        self.errors.put(_packets(self.sio, self.namespace, "error", {"error": err.message, "_meta": meta}))

    async def send(self, packets: list) -> None:
        """Queue the packets, then wait until the client's link took them (latest-wins upstream)."""
        sock = self.sio.eio.sockets.get(self.eio_sid)
        if sock is None or sock.closed:
            return
        try:
            for p in packets:
                await sock.send(p)
            await sock.queue.join()
        except Exception as e:  # a socket closing under us: the disconnect handler cleans up
            log.debug("socket.io send to %s failed: %s", self.sid, e)

    def close(self) -> None:
        self.host.unsubscribe(self.others)
        self.stream.close()
        self.data.close()
        self.errors.close()
        if self.info_task is not None:
            self.info_task.cancel()


# -- server ----------------------------------------------------------------------------------
def setup_socketio(app: web.Application) -> None:
    # CORS and compression come from the daemon's middleware; handlers never block, so run inline
    cfg = app[BRIDGE].config
    sio = _Server(async_mode="aiohttp", namespaces="*", cors_allowed_origins=[], http_compression=False,
                  max_http_buffer_size=app._client_max_size, async_handlers=False,
                  ping_interval=cfg.socketio_ping_interval, ping_timeout=cfg.socketio_ping_timeout)
    sio.attach(app, socketio_path="socket.io")
    sio.eio._async = {**sio.eio._async, "translate_request": _translate_request, "websocket": _WebSocket}
    app[SIO] = sio
    clients: dict[tuple[str, str], _Client] = {}

    @sio.on("connect", namespace="*")
    async def connect(namespace, sid, environ, auth=None):
        auth = auth if isinstance(auth, dict) else {}
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
        opts = {**query, **{k: v for k, v in auth.items() if isinstance(v, (str, int, bool))}}
        _check_token(app, environ, opts)
        model_id = namespace.strip("/") or opts.get("model") or None
        try:
            host = app[BRIDGE].host(model_id)
            info = await _info(app, host, opts.get("command"))
        except BridgeError as e:
            raise socketio.exceptions.ConnectionRefusedError(e.message) from None
        fmt = opts.get("format")
        if fmt and fmt not in ("jpeg", "png"):
            raise socketio.exceptions.ConnectionRefusedError("format must be jpeg or png")
        client = _Client(sio, host, namespace, sid, opts, info.pop("_command"))
        clients[(namespace, sid)] = client
        info["_meta"] = {"model": host.id, "command": client.stream.command, "stream": client.stream.id,
                         "binary": client.binary}
        client.info_task = asyncio.ensure_future(_send_info(sio, client, info))

    @sio.on("disconnect", namespace="*")
    async def disconnect(namespace, sid, reason=None):
        client = clients.pop((namespace, sid), None)
        if client is not None:
            client.close()

    @sio.on("query", namespace="*")
    async def query(namespace, sid, *args):
        client = clients.get((namespace, sid))
        if client is None:
            return
        frame = None
        try:
            if len(args) != 1:
                raise BadInput(f"query takes one object of inputs, got {len(args)} arguments")
            inputs, frame, command = _inputs(args[0], client.command)
            client.stream.submit(inputs, frame, command)
        except BridgeError as e:
            client.error(e, frame)

    async def close_all(app: web.Application) -> None:
        for client in list(clients.values()):
            client.close()
        clients.clear()
        await sio.shutdown()

    app.on_shutdown.append(close_all)


def _check_token(app: web.Application, environ: dict, opts: dict) -> None:
    token = app.get(TOKEN)
    if not token:
        return
    given = (str(opts.get("token") or "") or environ.get("HTTP_X_RUNWAY_TOKEN")
             or environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip())
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise socketio.exceptions.ConnectionRefusedError(
            "this bridge needs a token: connect with auth={token: ...} or ?token=<token>")


async def _info(app: web.Application, host, command: str | None) -> dict:
    """``{inputs, outputs}`` of the connection's command (the default command unless named)."""
    manifest = host.manifest or await app[BRIDGE].catalog.manifest(host.id)
    commands = manifest["commands"]
    name = command or host.default_command or commands[0]["name"]
    cmd = next((c for c in commands if c["name"] == name), None)
    if cmd is None:
        raise BadInput(f"{host.id} has no command {name!r}; it has {[c['name'] for c in commands]}")
    return {"inputs": cmd["inputs"], "outputs": cmd["outputs"], "_command": cmd}


async def _send_info(sio, client: _Client, info: dict) -> None:
    # the CONNECT packet goes out after the connect handler returns; `info` must follow it
    for _ in range(100):
        if sio.manager.is_connected(client.sid, client.namespace):
            await client.send(_packets(sio, client.namespace, "info", info))
            return
        await asyncio.sleep(0.01)
