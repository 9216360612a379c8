"""The WebSocket fast path (DESIGN 3.3): binary frames in, results out, latest frame wins.

``ws://host:8000/v1/models/<id>/stream?command=detect`` (``/stream`` for the default model).
A client sends binary frames (`wire.decode_frame`: JSON header + bytes, or a bare JPEG/PNG) or
text JSON ``{"frame", "command", "inputs"}``; it gets each result as text JSON, or as a binary
frame when it carries images. ``?listen=1`` also delivers results caused by other clients, and
``?format=png|jpeg|raw`` picks the image output encoding.
"""

from __future__ import annotations

import json
import logging

from aiohttp import WSMsgType, web

from ..daemon import BRIDGE
from ..errors import BadInput, BridgeError
from ..wire import decode_frame, result_message
from ._outbox import Outbox

log = logging.getLogger(__name__)
SOCKETS = web.AppKey("websockets", set)


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


async def stream(request: web.Request) -> web.WebSocketResponse:
    bridge = request.app[BRIDGE]
    host = bridge.host(request.match_info.get("id"))
    fmt = request.query.get("format")
    if fmt and fmt not in ("jpeg", "png", "raw"):
        raise BadInput("format must be jpeg, png or raw")
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
        outbox.put(_encode(result))

    def error(e: BridgeError, frame=None) -> None:
        outbox.put((json.dumps({"type": "error", "error": e.message, "status": e.status, "frame": frame,
                                "model": host.id}), None))

    formats = {"image": fmt, "segmentation": fmt} if fmt else None
    s = host.open_stream(request.query.get("command"), deliver, formats)
    listen = request.query.get("listen") in ("1", "true")
    if listen:
        def others(result):
            if result.stream_id != s.id:
                deliver(result)
        host.subscribe(others)
    try:
        async for msg in ws:
            frame = None
            try:
                if msg.type == WSMsgType.BINARY:
                    header, inputs = decode_frame(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    header = json.loads(msg.data)
                    if not isinstance(header, dict) or not isinstance(header.get("inputs", {}), dict):
                        raise BadInput('send {"frame": id, "inputs": {...}} as text')
                    inputs = header.get("inputs", {})
                else:
                    break
                frame = header.get("frame")
                s.submit(inputs, frame, header.get("command"))
            except json.JSONDecodeError as e:
                error(BadInput(f"text message is not JSON: {e}"))
            except BridgeError as e:
                error(e, frame)
    finally:
        if listen:
            host.unsubscribe(others)
        s.close()
        outbox.close()
        request.app[SOCKETS].discard(ws)
    return ws
