"""OSC over UDP (DESIGN 3.2, 3.3): the Runway OSC protocol, plus numbers for patches.

Runway protocol, on ``config.osc_port`` (57100): ``/server/connect [port]`` registers the sender;
replies go to the sender's *host* at ``port`` or ``config.osc_reply_port`` (57200), never to the
packet's source port (Max's ``udpsend`` sends from a random one). ``/server/disconnect [port]``
stops. ``/query s:JSON`` runs the default model (``/<model>/query`` another one); every connected
peer gets ``/data s:JSON`` (``/<model>/data`` for other models) and the numbers of every result;
an error goes back to the one who caused it as ``/error s:{"error", "status"}``, never in ``/data``.
Push targets (``--osc-target``) get the numbers of every result without a handshake; Wekinator
mode sends ``/wek/inputs``. Addresses and splitting: `_osc_codec` and docs/protocol-osc.md.

Packets are parsed with python-osc and routed by its `Dispatcher`, inside our own
`DatagramProtocol`: python-osc's asyncio server would send a handler's return value back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time

from aiohttp import web
from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher

from ..daemon import BRIDGE
from ..errors import BadInput, BridgeError
from . import _osc_codec as codec

__all__ = ["setup_osc", "OscServer", "OSC", "parse_hostport"]

log = logging.getLogger(__name__)
_MODEL_ADDR = re.compile(r"(?:/v1/models)?/([^/]+)/(query|info)")
MAX_PEERS = 64
_OURS = ("/server/connect", "/server/disconnect", "/query", "/info")


def parse_hostport(text: str, what: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{what} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:7000")
    return host.strip("[]"), int(port)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_datagram=None):
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr) -> None:
        if self.on_datagram is not None:
            self.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable from a closed peer
        log.debug("OSC: %s", exc)


class OscServer:
    """The UDP endpoint, the connected peers, and the fan-out of every model's results."""

    def __init__(self, app: web.Application):
        self.bridge = app[BRIDGE]
        cfg = self.bridge.config
        if not 128 <= cfg.osc_max_datagram <= codec.MAX_UDP:
            raise ValueError(f"--osc-max-datagram {cfg.osc_max_datagram}: must be 128 to {codec.MAX_UDP} bytes")
        self.limit, self.reply_port = cfg.osc_max_datagram, cfg.osc_reply_port
        self.target_names = [parse_hostport(t, "--osc-target") for t in cfg.osc_targets]
        self.wek_name = parse_hostport(cfg.wekinator, "--wekinator") if cfg.wekinator else None
        self.peers: dict[tuple, None] = {}  # (host, port), in order of connection
        self.reply_to: dict[tuple, int] = {}  # a sender's (host, source port) -> its reply port
        self.targets: list[tuple] = []
        self.wek: tuple | None = None
        self.transport = self.out = None
        self.port: int | None = None
        self.tasks: set[asyncio.Task] = set()
        self.counts = {"received": 0, "rejected": 0, "sent": 0}
        self._specs: dict = {}
        self._warned: set = set()
        self._log_window = [0.0, 0]
        d = self.dispatcher = Dispatcher()
        d.map("/server/connect", self._connect, needs_reply_address=True)
        d.map("/server/disconnect", self._disconnect, needs_reply_address=True)
        d.map("/query", lambda src, addr, *args: self._query(src, None, args), needs_reply_address=True)
        d.map("/info", lambda src, addr, *args: None if args else self._info(src, None), needs_reply_address=True)
        d.set_default_handler(self._other, needs_reply_address=True)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.bridge.config
        wek = [(self.wek_name, True)] if self.wek_name else []
        for name, is_wek in [*((t, False) for t in self.target_names), *wek]:
            try:
                info = await loop.getaddrinfo(*name, type=socket.SOCK_DGRAM)
            except OSError as e:
                log.error("OSC: cannot resolve %s:%d (%s); nothing is sent there", *name, e)
                continue
            if self.out is None:  # unbound: the daemon may listen on loopback and push to the LAN
                self.out, _ = await loop.create_datagram_endpoint(_Protocol, family=info[0][0])
            if is_wek:
                self.wek = info[0][4][:2]
            else:
                self.targets.append(info[0][4][:2])
            log.info("OSC %s %s:%d", "Wekinator /wek/inputs to" if is_wek else "push target", *name)
        try:
            self.transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self.datagram_received), local_addr=(cfg.host, cfg.osc_port))
        except OSError as e:
            log.error("OSC in is off: cannot listen on udp %s:%s (%s); pick another --osc-port or --no-osc",
                      cfg.host, cfg.osc_port, e.strerror or e)
        else:
            self.port = self.transport.get_extra_info("sockname")[1]
            log.info("OSC listening on udp://%s:%d (replies to port %d)", cfg.host, self.port, self.reply_port)
        for host in self.bridge.hosts.values():
            self.attach(host)

    def attach(self, host) -> None:
        host.subscribe(self.on_result)

    def close(self) -> None:
        for host in self.bridge.hosts.values():
            host.unsubscribe(self.on_result)
        for task in self.tasks:
            task.cancel()
        for t in (self.transport, self.out):
            if t is not None:
                t.close()

    # -- receiving ------------------------------------------------------------------------
    def datagram_received(self, data: bytes, src) -> None:
        self.counts["received"] += 1
        try:
            packet = osc_packet.OscPacket(data)
        except Exception as e:  # ParseError, and whatever a hostile packet provokes
            self._reject(src, f"not an OSC packet ({len(data)} bytes): {e}", None)
            return
        for timed in packet.messages:
            msg = timed.message
            try:
                for handler in self.dispatcher.handlers_for_address(msg.address):
                    handler.invoke(src, msg)  # the return value is ignored: nothing is sent implicitly
            except BridgeError as e:
                self._reject(src, e.message, msg.address, e.status)
            except Exception as e:
                log.exception("OSC handler failed on %s", msg.address)
                self._reject(src, f"internal error: {type(e).__name__}: {e}", msg.address, 500)

    def _reject(self, src, text: str, address: str | None, status: int = 400) -> None:
        self.counts["rejected"] += 1
        now = time.monotonic()
        if now - self._log_window[0] > 1:
            self._log_window = [now, 0]
        self._log_window[1] += 1
        if self._log_window[1] <= 5:  # a flood of garbage must not flood the log
            log.warning("OSC from %s:%d: %s", src[0], src[1], text)
        m = _MODEL_ADDR.fullmatch(address or "")
        if address is not None and not m and address not in _OURS and (
                address.endswith(("/data", "/error")) or address.startswith("/wek/")
                or address.split("/")[1] in self.bridge.hosts):
            return  # an answer or numbers sent here (a loop, or a misdirected patch): never answer those
        self._send_error(self._reply_addr(src), text, status, m.group(1) if m else None)

    def _connect(self, src, address, *args) -> None:
        port = self._port_arg(args, address)
        self.peers.pop((src[0], port), None)
        self.peers[(src[0], port)] = None
        while len(self.peers) > MAX_PEERS:  # the oldest goes: no sender can grow the fan-out without bound
            self.peers.pop(next(iter(self.peers)))
        self.reply_to = {s: p for s, p in self.reply_to.items() if (s[0], p) in self.peers}
        self.reply_to[src] = port
        log.info("OSC client %s:%d connected; replies go to port %d", src[0], src[1], port)

    def _disconnect(self, src, address, *args) -> None:
        gone = [(src[0], self._port_arg(args, address))] if args else [p for p in self.peers if p[0] == src[0]]
        for p in gone:
            self.peers.pop(p, None)
        self.reply_to = {s: port for s, port in self.reply_to.items() if (s[0], port) in self.peers}
        log.info("OSC client %s disconnected", src[0])

    def _port_arg(self, args, address) -> int:
        if not args:
            return self.reply_port
        a = args[0]
        if isinstance(a, str) and a.strip().isdigit():
            a = int(a)
        if isinstance(a, float) and a.is_integer():  # Pd's [oscformat] sends every number as a float
            a = int(a)
        if not isinstance(a, int) or isinstance(a, bool) or not 0 < a < 65536:
            raise BadInput(f"{address} takes an optional reply port (a whole number), got {a!r}")
        return a

    def _other(self, src, address, *args) -> None:
        m = _MODEL_ADDR.fullmatch(address)
        if not m:
            raise BadInput(f"unknown OSC address {address!r}; send /server/connect, /query, /<model>/query, /info")
        if m.group(2) == "query":
            self._query(src, m.group(1), args)
        elif not args:  # with arguments it is another bridge's answer
            self._info(src, m.group(1))

    def _query(self, src, model_id: str | None, args) -> None:
        reply = self._reply_addr(src)
        if len(args) != 1 or not isinstance(args[0], str):
            got = " ".join(type(a).__name__ for a in args) or "nothing"
            raise BadInput(f"/query takes one string argument holding a JSON object of inputs, got {got}")
        try:
            inputs = json.loads(args[0])
        except json.JSONDecodeError as e:
            raise BadInput(f"/query argument is not JSON: {e}") from None
        if not isinstance(inputs, dict):
            raise BadInput(f"/query JSON must be an object of inputs, got {type(inputs).__name__}")
        host = self.bridge.host(model_id)
        task = asyncio.ensure_future(self._call(host, inputs, reply))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _call(self, host, inputs: dict, reply) -> None:
        try:
            result = await host.call(None, inputs)
        except BridgeError as e:
            self._send_error(reply, e.message, e.status, host.id)
            return
        if reply not in self.peers:  # connected peers already had it from the fan-out
            data, numbers, _ = self._encode(result)
            self._send([*data, *numbers], [reply])

    def _info(self, src, model_id: str | None) -> None:
        host = self.bridge.host(model_id)
        cmds = (host.manifest or {}).get("commands") or []
        cmd = next((c for c in cmds if c["name"] == host.default_command), cmds[0] if cmds else None)
        if cmd is None:
            raise BadInput(f"model {host.id} has no schema yet; try again when it is running")
        text = json.dumps({"inputs": cmd["inputs"], "outputs": cmd["outputs"]}, separators=(",", ":"))
        msg = codec.json_message(self._address(host.id, "info"), text)
        if len(msg) > self.limit:
            raise BadInput(f"the schema of {host.id} is {len(msg)} bytes, over the {self.limit}-byte datagram "
                           f"limit; read it over HTTP: GET /v1/models/{host.id}")
        self._send([msg], [self._reply_addr(src)])

    # -- sending --------------------------------------------------------------------------
    def _reply_addr(self, src) -> tuple:
        if src in self.reply_to:
            return (src[0], self.reply_to[src])
        return next((p for p in self.peers if p[0] == src[0]), (src[0], self.reply_port))

    def _address(self, model_id: str, kind: str) -> str:
        return f"/{kind}" if model_id == self.bridge.default_id else f"/{codec.address_part(model_id)}/{kind}"

    def _send_error(self, to, text: str, status: int, model_id: str | None) -> None:
        address = self._address(model_id, "error") if model_id else "/error"
        self._send([codec.error_message(address, text, status, self.limit)], [to])

    def _send(self, datagrams: list[bytes], to, transport=None) -> None:
        transport = transport or self.transport
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() > 1 << 20:
            return  # closed, or the interface is not keeping up: drop rather than buffer without bound
        own = self.transport.get_extra_info("sockname")[:2] if self.transport else None
        for addr in to:
            if addr == own:
                continue
            for dgram in datagrams:
                transport.sendto(dgram, addr)
            self.counts["sent"] += len(datagrams)

    def _output_specs(self, model_id: str, command: str) -> dict | None:
        host = self.bridge.hosts.get(model_id)
        manifest = host.manifest if host else None
        key = (model_id, command, id(manifest))
        if key not in self._specs:
            cmd = next((c for c in (manifest or {}).get("commands", []) if c["name"] == command), None)
            self._specs[key] = {o["name"]: o for o in cmd["outputs"]} if cmd else None
        return self._specs[key]

    def _encode(self, result) -> tuple[list[bytes], list[bytes], bytes | None]:
        """``/data``, the numbers, and ``/wek/inputs``: encoded once per result, sent to everyone."""
        if "osc" not in result.encoded:
            outputs = result.outputs or {}
            specs = self._output_specs(result.model, result.command)
            data, omitted = codec.data_message(self._address(result.model, "data"), outputs, self.limit, result.model)
            numbers = codec.result_numbers(result.model, outputs, specs, self.limit)
            wek = None
            if self.wek and result.model == self.bridge.default_id:
                floats = codec.wekinator_floats(outputs, specs)
                if floats is None and all(codec.numeric(v) is None for v in outputs.values()):
                    self._warn_once(("wek0", result.model), "Wekinator: %s has no numeric output", result.model)
                if floats is not None:
                    wek = codec.float_message("/wek/inputs", floats)
                    if len(wek) > self.limit:
                        self._warn_once(("wek", result.model), "Wekinator: %d inputs of %s do not fit one %d-byte "
                                        "datagram; raise --osc-max-datagram", len(floats), result.model, self.limit)
                        wek = None
            if omitted:
                self._warn_once(("omit", result.model, tuple(omitted)), "OSC /data of %s has notes instead of %s: over "
                                "the %d-byte datagram limit (--osc-max-datagram)", result.model, omitted, self.limit)
            result.encoded["osc"] = ([data], numbers, wek)
        return result.encoded["osc"]

    def _warn_once(self, key, fmt: str, *args) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(fmt, *args)

    def on_result(self, result) -> None:
        """A host's subscriber: must not block. Errors are not broadcast (they go to their caller)."""
        if result.error is not None or not result.final:
            return
        wek = self.wek and result.model == self.bridge.default_id
        if not (self.peers or self.targets or wek):
            return
        data, numbers, wek_msg = self._encode(result)
        if self.peers:
            self._send([*data, *numbers], list(self.peers))
        if self.targets and numbers:
            self._send(numbers, self.targets, self.out)
        if wek_msg is not None:
            self._send([wek_msg], [self.wek], self.out)


OSC = web.AppKey("osc", OscServer)


def setup_osc(app: web.Application) -> None:
    """Open the OSC endpoint on ``config.osc_port`` for the app's lifetime (port 0: any free port)."""
    server = app[OSC] = OscServer(app)
    app[BRIDGE].listeners.append(server.attach)
    app[BRIDGE].metrics.watch_counts("runway_bridge_osc_datagrams", "OSC datagrams, by fate", "fate",
                                     lambda: server.counts)

    async def osc_ctx(app):
        await server.start()
        yield
        server.close()

    app.cleanup_ctx.append(osc_ctx)
