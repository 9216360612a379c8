"""The WebSocket fast path (DESIGN 3.3): binary frames in, results out, latest frame wins.

``ws://host:8000/v1/models/<id>/stream?command=detect`` (``/stream`` for the default model).
A client sends binary frames (`wire.decode_frame`: JSON header + bytes, or a bare JPEG/PNG) or
text JSON ``{"frame", "command", "inputs"}``; it gets each result as text JSON, or as a binary
frame when it carries images. ``?listen=1`` also delivers results caused by other clients, and
``?format=png|jpeg|raw`` picks the image output encoding.

Nothing a client sends ends the connection: every malformed message (bad JSON, wrong field types,
sizes that do not add up, unknown formats) gets a JSON ``{"type": "error"}`` message and the
stream goes on. Once the socket is open no exception may leave the handler: aiohttp would write
an HTTP 500 into the open WebSocket, which the client sees as a protocol error.
"""

from __future__ import annotations

import logging
import math
import time

from aiohttp import WSMsgType, web

from .. import jsonsafe
from ..appkeys import BRIDGE
from ..errors import BadInput, BridgeError, NotFound
from ..wire import decode_frame, result_message
from ._outbox import Outbox

log = logging.getLogger(__name__)
SOCKETS = web.AppKey("websockets", set)
MAX_FRAME_ID = 256  # characters of a string frame id
MAX_COMMAND = 128
_log_window = [0.0, 0]


def setup_websocket(app: web.Application) -> None:
    app[SOCKETS] = set()
    app.router.add_get("/stream", stream)
    app.router.add_get("/v1/models/{id}/stream", stream)
    app.on_shutdown.append(_close_all)


async def _close_all(app: web.Application) -> None:
    for ws in list(app[SOCKETS]):
        await ws.close(code=1001, message=b"server shutting down")


def _encode(result) -> tuple[str | None, bytes | None]:
    key = "ws"
    if key not in result.encoded:
        result.encoded[key] = result_message(result, binary=True)
    return result.encoded[key]


def _fields(header: dict) -> tuple[object, str | None]:
    """A header's frame id and command, checked: ids are echoed in every result, so they stay small."""
    frame, command = header.get("frame"), header.get("command")
    if not (frame is None or isinstance(frame, (bool, int)) or (isinstance(frame, float) and math.isfinite(frame))
            or (isinstance(frame, str) and len(frame) <= MAX_FRAME_ID)):
        raise BadInput(f"'frame' must be a number or a string of at most {MAX_FRAME_ID} characters")
    if command is not None and (not isinstance(command, str) or not 0 < len(command) <= MAX_COMMAND):
        raise BadInput(f"'command' must be a command name (a string of at most {MAX_COMMAND} characters)")
    return frame, command


def _check_command(host, command: str | None) -> None:
    cmds = [c["name"] for c in (host.manifest or {}).get("commands", [])]
    if command is not None and cmds and command not in cmds:
        raise NotFound(f"model {host.id} has no command {command[:MAX_COMMAND]!r}; it has {', '.join(cmds)}")


def _log_unexpected(path: str) -> None:
    """Log a handler bug with its traceback, at most 5 times a second: a flood must not flood the log."""
    now = time.monotonic()
    if now - _log_window[0] > 1:
        _log_window[:] = [now, 0]
    _log_window[1] += 1
    if _log_window[1] <= 5:
        log.exception("unexpected error on a WebSocket message to %s", path)


def _parse(msg) -> tuple[dict, dict]:
    """A binary or text message to (header, inputs); `BadInput` for anything malformed."""
    if msg.type == WSMsgType.BINARY:
        header, inputs = decode_frame(msg.data)
    else:
        header = jsonsafe.loads(msg.data)
        if not isinstance(header, dict) or not isinstance(header.get("inputs", {}), dict):
            raise BadInput('send {"frame": id, "inputs": {...}} as text')
        inputs = header.get("inputs", {})
    return header, inputs


async def stream(request: web.Request) -> web.WebSocketResponse:
    bridge = request.app[BRIDGE]
    host = bridge.host(request.match_info.get("id"))
    fmt = request.query.get("format")
    if fmt and fmt not in ("jpeg", "png", "raw"):
        raise BadInput("format must be jpeg, png or raw")
    command = request.query.get("command") or None
    _check_command(host, command)
    ws = web.WebSocketResponse(compress=False, max_msg_size=request.app._client_max_size, heartbeat=30)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)

    async def send(msg) -> None:
        text, data = msg
        if ws.closed:
            return
        if data is not None:
            await ws.send_bytes(data)
        else:
            await ws.send_str(text)

    outbox = Outbox(send)

    def deliver(result) -> None:
        try:
            outbox.put(_encode(result))
        except BridgeError as e:  # e.g. an output that cannot be sent as JSON: the client hears why
            error(e, result.frame_id)

    def error(e: BridgeError, frame=None) -> None:
        outbox.put((jsonsafe.dumps({"type": "error", "error": e.message, "status": e.status, "frame": frame,
                                    "model": host.id}), None))

    formats = {"image": fmt, "segmentation": fmt} if fmt else None
    s = host.open_stream(command, deliver, formats)
    listen = request.query.get("listen") in ("1", "true")
    if listen:
        def others(result):
            if result.stream_id != s.id:
                deliver(result)
        host.subscribe(others)
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break
            frame = None
            try:
                header, inputs = _parse(msg)
                frame, cmd = _fields(header)
                if cmd is not None:
                    _check_command(host, cmd)
                s.submit(inputs, frame, cmd)
            except BridgeError as e:
                error(e, frame)
            except Exception as e:  # a bug, not the client's fault: say so, keep the stream
                _log_unexpected(request.path)
                error(BridgeError(f"internal error: {type(e).__name__}"), frame)
    finally:
        if listen:
            host.unsubscribe(others)
        s.close()
        outbox.close()
        request.app[SOCKETS].discard(ws)
    return ws
