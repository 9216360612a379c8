"""Engine.IO protocol 3 and Socket.IO protocol 4 (socket.io-client 2.x) beside python-engineio's 4.

Why a layer of our own: every Socket.IO client Runway shipped (p5.js examples, Max, the docs)
bundles socket.io-client 2.x, which speaks Engine.IO 3. python-engineio dropped protocol 3 in 4.0
and python-socketio 5 needs python-engineio 4, so no maintained Python release serves both
generations; python-engineio 3.14 / python-socketio 4.6 cannot be installed beside 5.x under the
same import names, and a vendored, renamed copy would be ~3,000 lines of unmaintained code running
a second server with its own handlers. The difference on the wire is small, so this module
teaches python-engineio's server the old framing and hands every message to the same
python-socketio server, which runs the same handlers for both generations:

- Engine.IO 3: the client pings and the server answers pong (4: the other way round); polling
  payloads are ``<length>:<packet>`` text (length in UTF-16 units) or, for binary, ``\\x00|\\x01``
  + length digits + ``\\xff`` + packet; binary packets carry their type byte (``\\x04``), or
  ``b4<base64>`` in text when the client asked for ``b64=1``. JSONP polling is refused.
- Socket.IO 4: namespace ``/`` is joined by the server at once (the client sends no CONNECT for
  it); other namespaces' CONNECT carries ``?query`` (passed on as the ``auth`` object); CONNECT
  replies carry no payload and a refusal is an ERROR packet whose data is the message string.

Sessions of this protocol are ``Socket3`` objects in the same ``server.sockets`` table, so sending,
disconnecting and the service task's liveness checks work unchanged (python-engineio is pinned to
its minor version in pyproject.toml because this subclasses its socket).
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse

from engineio import exceptions
from engineio import packet as ep
from engineio.async_socket import AsyncSocket

__all__ = ["Socket3", "handle_request3", "drop", "encode_payload", "decode_payload", "MAX_PACKETS"]

MAX_PACKETS = 64  # packets in one polling POST (a client batches what it emitted meanwhile)
_MAX_QUEUED = 64  # a ping is not answered while this many packets wait: a ping flood cannot grow the queue


# -- payload codec ---------------------------------------------------------------------------
def _utf16_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-16-le")) // 2


def _encode_packet(pkt: ep.Packet, b64: bool):
    if pkt.binary:
        return ("b4" + base64.b64encode(pkt.data).decode()) if b64 else b"\x04" + pkt.data
    return pkt.encode()


def encode_payload(packets: list, b64: bool) -> tuple[bytes, str]:
    """A polling answer: (body, content type). Binary framing only for a client that takes it."""
    if not b64 and any(p.binary for p in packets):
        out = bytearray()
        for p in packets:
            data = _encode_packet(p, False)
            data, kind = (data.encode(), 0) if isinstance(data, str) else (data, 1)
            out += bytes([kind, *(int(c) for c in str(len(data))), 255]) + data
        return bytes(out), "application/octet-stream"
    text = "".join(f"{_utf16_len(s)}:{s}" for s in (_encode_packet(p, True) for p in packets))
    return text.encode(), "text/plain; charset=UTF-8"


def _decode_packet(data) -> ep.Packet:
    if isinstance(data, bytes):  # a binary packet: its type byte, then the bytes
        if data[:1] != b"\x04":
            raise ValueError("binary Engine.IO packets must be messages (type 4)")
        return ep.Packet(ep.MESSAGE, data[1:])
    if data[:2] == "b4":
        return ep.Packet(ep.MESSAGE, base64.b64decode(data[2:], validate=True))
    if not data or data[0] not in "0123456":
        raise ValueError(f"unknown Engine.IO packet type {data[:1]!r}")
    return ep.Packet(int(data[0]), data[1:] or None)  # never parsed as JSON here


def _split_text(body: str) -> list[str]:
    """``<n>:<packet>...`` where n counts UTF-16 code units, as JavaScript strings do."""
    units = body if body.isascii() else None
    raw = None if units is not None else body.encode("utf-16-le")
    out, i, end = [], 0, len(body) if units is not None else len(raw) // 2
    while i < end:
        head = ""
        while True:
            if i >= end or len(head) > 9:
                raise ValueError("bad payload length header")
            c = units[i] if units is not None else raw[2 * i:2 * i + 2].decode("utf-16-le")
            i += 1
            if c == ":":
                break
            if not c.isdigit():
                raise ValueError("bad payload length header")
            head += c
        n = int(head or "x")
        if i + n > end:
            raise ValueError("payload shorter than its length header")
        out.append(units[i:i + n] if units is not None else raw[2 * i:2 * (i + n)].decode("utf-16-le"))
        i += n
    return out


def _split_binary(body: bytes) -> list:
    out, i = [], 0
    while i < len(body):
        kind, i = body[i], i + 1
        digits = bytearray()
        while i < len(body) and body[i] != 255:
            if body[i] > 9 or len(digits) > 9:
                raise ValueError("bad binary payload length")
            digits.append(body[i])
            i += 1
        n = int("".join(map(str, digits)) or "x")
        chunk, i = body[i + 1:i + 1 + n], i + 1 + n
        if len(chunk) != n or kind not in (0, 1):
            raise ValueError("binary payload shorter than its length header")
        out.append(chunk.decode("utf-8") if kind == 0 else bytes(chunk))
    return out


def decode_payload(body: bytes) -> list[ep.Packet]:
    """A polling POST's packets; `ValueError` for anything malformed or over `MAX_PACKETS`."""
    if body[:1] in (b"\x00", b"\x01"):
        parts = _split_binary(body)
    else:
        parts = _split_text(body.decode("utf-8"))
    if len(parts) > MAX_PACKETS:
        raise ValueError(f"more than {MAX_PACKETS} packets in one payload")
    return [_decode_packet(p) for p in parts]


# -- Socket.IO 4 <-> 5 -----------------------------------------------------------------------
_CONNECT_Q = re.compile(r"0(/[^,?]*)\?([^,]*),?$", re.S)
_OUT = re.compile(r"([04])(/[^,]*,)?(.*)$", re.S)


def sio_in(data: str) -> str:
    """A v2 client's ``0/nsp?a=b,`` becomes ``0/nsp,{"a": "b"}``: its query, as the auth object."""
    m = _CONNECT_Q.match(data) if data[:2] == "0/" else None
    if m is None:
        return data
    query = dict(urllib.parse.parse_qsl(m.group(2))) if len(m.group(2)) <= 4096 else {}
    return f"0{m.group(1)},{json.dumps(query)}"


def sio_out(data: str) -> str:
    """Server CONNECT without its ``{sid}``; CONNECT_ERROR as the v2 ERROR packet with a string."""
    m = _OUT.match(data) if data[:1] in ("0", "4") else None
    if m is None:
        return data
    kind, nsp, body = m.group(1), m.group(2) or "", m.group(3)
    if kind == "0":
        return "0" + nsp
    try:
        message = json.loads(body).get("message", "connection refused")
    except (ValueError, AttributeError):
        message = body or "connection refused"
    return "4" + nsp + json.dumps(message)


# -- sessions --------------------------------------------------------------------------------
class _Frames3:
    """A WebSocket seen through protocol 3 framing: binary frames carry their type byte."""

    def __init__(self, ws):
        self.ws = ws

    async def wait(self):
        data = await self.ws.wait()
        if isinstance(data, bytes):
            return data[1:] if data[:1] == b"\x04" else None  # only messages are binary; else end it
        return data

    async def send(self, data):
        await self.ws.send(b"\x04" + data if isinstance(data, bytes) else data)

    async def close(self):
        await self.ws.close()


class Socket3(AsyncSocket):
    """One Engine.IO 3 session: client-driven pings, v2 Socket.IO packets translated both ways."""

    def __init__(self, server, sid, b64: bool):
        super().__init__(server, sid)
        self.b64 = b64
        self.last_seen = time.monotonic()

    def schedule_ping(self):  # the client pings in protocol 3
        pass

    async def check_ping_timeout(self):
        if self.closed:
            raise exceptions.SocketIsClosedError()
        if time.monotonic() - self.last_seen > self.server.ping_interval + self.server.ping_timeout:
            self.server.logger.info("%s: Engine.IO 3 client is gone, closing socket", self.sid)
            await self.close(wait=False, abort=False, reason=self.server.reason.PING_TIMEOUT)
            return False
        return True

    async def receive(self, pkt):
        self.last_seen = time.monotonic()
        if pkt.packet_type == ep.PING:
            if self.queue.qsize() < _MAX_QUEUED:  # a client pings once per pong: only a flood waits
                await self.send(ep.Packet(ep.PONG, pkt.data))
            return
        if pkt.packet_type == ep.MESSAGE and isinstance(pkt.data, str):
            pkt.data = sio_in(pkt.data)
        elif pkt.packet_type not in (ep.MESSAGE, ep.UPGRADE, ep.CLOSE):
            return  # OPEN, PONG, NOOP from a client: nothing to do
        await super().receive(pkt)

    async def send(self, pkt):
        if pkt.packet_type == ep.MESSAGE and isinstance(pkt.data, str):
            pkt = ep.Packet(ep.MESSAGE, sio_out(pkt.data))
        await super().send(pkt)

    async def handle_post_request(self, environ):
        body = await environ["wsgi.input"].read()
        if len(body) > self.server.max_http_buffer_size:
            raise exceptions.ContentTooLongError()
        try:
            packets = decode_payload(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise exceptions.EngineIOError(f"malformed Engine.IO 3 payload: {e}") from None
        for pkt in packets:
            await self.receive(pkt)

    async def _upgrade_websocket(self, environ):
        if self.upgraded:
            raise OSError("Socket has been upgraded already")
        ws = self.server._async["websocket"](lambda ws: self._websocket_handler(_Frames3(ws)), self.server)
        return await ws(environ)


async def drop(server, sid: str) -> None:
    """Close a session now; python-engineio's ``disconnect`` waits until the client polls again,
    which a client that misbehaved may never do."""
    s = server.sockets.pop(sid, None)
    if s is not None:
        await s.close(wait=False, abort=False, reason=server.reason.SERVER_DISCONNECT)
        s.queue.put_nowait(None)  # end a pending poll


# -- requests --------------------------------------------------------------------------------
def _reply(status: str, body: bytes, ctype: str = "text/plain; charset=UTF-8") -> dict:
    return {"status": status, "headers": [("Content-Type", ctype)], "response": body}


async def handle_request3(server, environ: dict):
    """An Engine.IO 3 request (``EIO=3``, or the ``sid`` of a `Socket3`) for python-engineio's server."""
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    sid = query.get("sid", [None])[0]
    transport = query.get("transport", ["polling"])[0]
    method = environ["REQUEST_METHOD"]
    upgrade = environ.get("HTTP_UPGRADE", "").lower()
    if "j" in query:
        r = server._bad_request("JSONP polling is not supported; use a client with XHR or WebSocket")
    elif transport not in ("polling", "websocket") or (transport == "websocket" and upgrade != "websocket"):
        r = server._bad_request("Invalid transport")
    elif sid is None:
        if method != "GET":
            r = server._bad_request("Invalid session")
        else:
            return await _connect3(server, environ, transport, "b64" in query)
    elif not isinstance(server.sockets.get(sid), Socket3) or server.sockets[sid].closed:
        r = server._bad_request(f"Invalid session {sid}")
    else:
        s = server.sockets[sid]
        if s.upgraded:
            r = server._bad_request("Unexpected HTTP request")
        elif method == "GET":
            try:
                packets = await s.handle_get_request(environ)
            except exceptions.EngineIOError:
                await drop(server, sid)
                return await server._make_response(server._bad_request(), environ)
            if not isinstance(packets, list):
                return packets  # the WebSocket's response
            r = _reply("200 OK", *encode_payload(packets, s.b64))
        elif method == "POST":
            try:
                await s.handle_post_request(environ)
                r = _reply("200 OK", b"ok")
            except exceptions.EngineIOError as e:
                await drop(server, sid)
                r = server._bad_request(str(e) or "Bad Request")
        else:
            r = server._method_not_found()
    return await server._make_response(r, environ)


async def _connect3(server, environ: dict, transport: str, b64: bool):
    if server.start_service_task:
        server.start_service_task = False
        server.service_task_handle = server.start_background_task(server._service_task)
    sid = server.generate_id()
    s = server.sockets[sid] = Socket3(server, sid, b64)
    await s.send(ep.Packet(ep.OPEN, {"sid": sid, "upgrades": server._upgrades(sid, transport),
                                     "pingInterval": int(server.ping_interval * 1000),
                                     "pingTimeout": int(server.ping_timeout * 1000)}))
    ret = await server._trigger_event("connect", sid, environ, run_async=False)
    if ret is not None and ret is not True:
        del server.sockets[sid]
        return await server._make_response(server._unauthorized(ret or None), environ)
    # Socket.IO 4: the server joins the client to namespace "/" without being asked
    await server._trigger_event("message", sid, "0", run_async=False)
    if transport == "websocket":
        ret = await s.handle_get_request(environ)
        if s.closed:
            server.sockets.pop(sid, None)
        return ret
    s.connected = True
    try:
        r = _reply("200 OK", *encode_payload(await s.poll(), b64))
    except exceptions.QueueEmpty:
        r = server._bad_request()
    return await server._make_response(r, environ)
