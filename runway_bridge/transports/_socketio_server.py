"""The python-socketio server the Socket.IO transport runs: both protocol generations, bounded.

python-socketio 5 trusts its clients more than a daemon on a festival network can: an event named
``connect`` re-runs the connect handler (a new stream and subscription each time), ``disconnect``
detaches the client, a second CONNECT for a namespace opens a second session, a binary packet may
announce ten billion attachments and have each buffered, and its JSON parser recurses to the
interpreter's limit. `Server` bounds each of these before anything is allocated and answers a
malformed packet with an ``error`` event (or, when it names no connected namespace, by closing the
session), never with a traceback. `Engine` adds Engine.IO 3 (`_engineio3`) and a session cap.

These subclass python-socketio's and python-engineio's internals, so both are pinned to a minor
version in pyproject.toml.
"""

from __future__ import annotations

import json
import logging
import re

import engineio
import socketio
from aiohttp import web
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import packet as sio_packet

from .. import jsonsafe
from ..errors import BadInput
from ._engineio3 import Socket3, drop, handle_request3

__all__ = ["Server", "Engine", "translate_request", "WebSocket", "MAX_ATTACHMENTS", "MAX_SESSIONS",
           "RESERVED_EVENTS"]

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 16  # binary attachments of one event (a Runway query has one per image input)
MAX_SESSIONS = 1024
MAX_PACKETS_V4 = eio_payload.Payload.max_decode_packets  # Engine.IO sessions at once, all clients together
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "error", "message"})
_HEAD = re.compile(r"[0-6](?:(\d{1,11})-)?(/[^,]{0,256},)?")


class _SafeJson:
    """`jsonsafe` behind the ``json`` interface python-socketio and python-engineio call."""

    @staticmethod
    def loads(s, **_):
        try:
            return jsonsafe.loads(s)
        except BadInput as e:
            raise ValueError(e.message) from None

    @staticmethod
    def dumps(obj, **kw):
        return json.dumps(obj, **kw)


eio_packet.Packet.json = _SafeJson  # engine.io parses a text message's payload as JSON when it can


class Packet(sio_packet.Packet):
    json = _SafeJson


# -- engine.io driver fixes ------------------------------------------------------------------
class _Body:
    """The whole request body behind the ``wsgi.input`` interface engine.io reads from."""

    def __init__(self, data: bytes):
        self.data = data

    async def read(self, n: int = -1) -> bytes:
        return self.data if n < 0 else self.data[:n]


async def translate_request(request: web.Request) -> dict:
    # engine.io reads a polling POST with ``request.content.read(length)``, which returns only what
    # has arrived so far: a large upload (a 47 KB JPEG) is cut short and fails to decode
    # ("Incorrect padding"). Read the whole body first.
    environ = eio_aiohttp.translate_request(request)
    if request.method == "POST":
        environ["wsgi.input"] = _Body(await request.read())
    return environ


class WebSocket(eio_aiohttp.WebSocket):
    """The driver's WebSocket without permessage-deflate (REFERENCE 2: ~48 ms instead of ~2)."""

    async def __call__(self, environ):
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(request)
        self.environ = environ
        await self.handler(self)
        return self._sock


# -- servers ---------------------------------------------------------------------------------
class Engine(engineio.AsyncServer):
    """python-engineio's server, plus Engine.IO 3 sessions and a cap on sessions."""

    async def handle_request(self, request: web.Request):
        sid = request.query.get("sid")
        if sid is None and len(self.sockets) >= MAX_SESSIONS:
            return web.json_response(f"too many Socket.IO sessions at once ({MAX_SESSIONS}); try again later",
                                     status=503, headers={"Retry-After": "5"})
        if (request.query.get("EIO") == "3") if sid is None else isinstance(self.sockets.get(sid), Socket3):
            return await handle_request3(self, await self._async["translate_request"](request))
        if request.method == "POST":
            problem = _check_payload4(await request.read())
            if problem:  # python-engineio answers these with a logged traceback, or hangs on them
                return web.json_response(problem, status=400)
        return await super().handle_request(request)


def _check_payload4(body: bytes) -> str | None:
    packets = body.split(b"\x1e")
    if len(packets) > MAX_PACKETS_V4:
        return f"more than {MAX_PACKETS_V4} packets in one polling payload"
    if any(p[:1] not in (b"1", b"3", b"4", b"5", b"6", b"b") for p in packets):
        return "a client sends Engine.IO 4 packets of types 1, 3, 4, 5, 6 or b (binary) only"
    return None


class Server(socketio.AsyncServer):
    def __init__(self, **kw):
        super().__init__(serializer=Packet, **kw)
        self._held: dict[str, int] = {}  # bytes of attachments buffered per session

    def _engineio_server_class(self):
        return Engine

    async def _handle_eio_message(self, eio_sid, data):
        """python-socketio's dispatch, with every bound checked before buffering."""
        pending = self._binary_packet.get(eio_sid)
        try:
            if pending is not None:
                if not isinstance(data, bytes):
                    raise BadInput("a binary event's attachments must follow it as binary messages")
                self._held[eio_sid] = held = self._held.get(eio_sid, 0) + len(data)
                if held > self.eio.max_http_buffer_size:
                    raise BadInput(f"the attachments of one event exceed {self.eio.max_http_buffer_size} bytes; "
                                   "send smaller images")
                if pending.add_attachment(data):
                    self._binary_packet.pop(eio_sid, None)
                    self._held.pop(eio_sid, None)
                    if pending.packet_type == sio_packet.BINARY_EVENT:
                        await self._handle_event(eio_sid, pending.namespace, pending.id, pending.data)
                return
            if not isinstance(data, str):
                raise BadInput("a binary message arrived without a binary event announcing it")
            head = _HEAD.match(data)
            if head is None:
                raise BadInput(f"not a Socket.IO packet: {data[:20]!r}")
            if head.group(1) and int(head.group(1)) > MAX_ATTACHMENTS:
                raise BadInput(f"one event may carry at most {MAX_ATTACHMENTS} binary attachments")
            pkt = self.packet_class(encoded_packet=data)
        except (BadInput, ValueError, TypeError) as e:
            await self._refuse(eio_sid, data, getattr(e, "message", None) or str(e))
            return
        kind = pkt.packet_type
        if kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind == sio_packet.EVENT:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == sio_packet.ACK:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK) and pkt.attachment_count:
            if not self.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/"):
                await self._refuse(eio_sid, data, "a binary event for a namespace this client has not joined")
                return
            self._binary_packet[eio_sid] = pkt
            self._held[eio_sid] = 0
        else:
            await self._refuse(eio_sid, data, f"unexpected Socket.IO packet type {kind}")

    async def _handle_connect(self, eio_sid, namespace, data):
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is not None and self.manager.is_connected(sid, namespace):
            log.debug("socket.io: %s asked again to join %s; ignored", eio_sid, namespace)
            return
        await super()._handle_connect(eio_sid, namespace, data if isinstance(data, dict) else None)

    async def _handle_event(self, eio_sid, namespace, id, data):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            await self._refuse(eio_sid, None, "an event is a list: [name, arguments...]", namespace)
        elif data[0] in RESERVED_EVENTS:
            await self._refuse(eio_sid, None, f"{data[0]!r} is a reserved event name; send 'query'", namespace)
        else:
            await super()._handle_event(eio_sid, namespace, id, data)

    async def _handle_eio_disconnect(self, eio_sid, reason):
        self._binary_packet.pop(eio_sid, None)
        self._held.pop(eio_sid, None)
        # engine.io leaves a long-polling client's pending GET open for ping_interval +
        # ping_timeout (45 s) after the client closed; end it, as engine.io does on upgrade
        await super()._handle_eio_disconnect(eio_sid, reason)
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None and not sock.upgraded:
            sock.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))

    async def _refuse(self, eio_sid, data, message: str, namespace: str | None = None) -> None:
        """An ``error`` event to the namespace the bad packet names, or the session closed."""
        self._binary_packet.pop(eio_sid, None)
        self._held.pop(eio_sid, None)
        if namespace is None and isinstance(data, str):
            head = _HEAD.match(data)
            namespace = head.group(2)[:-1] if head and head.group(2) else "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        log.debug("socket.io: refused a packet from %s: %s", eio_sid, message)
        if sid is not None and self.manager.is_connected(sid, namespace or "/"):
            await self.emit("error", {"error": message, "_meta": {"status": 400, "frame": None}},
                            to=sid, namespace=namespace or "/")
        else:
            await drop(self.eio, eio_sid)
