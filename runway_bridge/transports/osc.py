"""OSC over UDP (DESIGN 3.2, 3.3): the Runway OSC protocol, plus numbers for patches.

Runway protocol, on ``config.osc_port`` (57100): ``/server/connect [port]`` registers the sender;
replies go to the sender's *host* at ``port`` or ``config.osc_reply_port`` (57200), never to the
packet's source port (Max's ``udpsend`` sends from a random one). ``/server/disconnect [port]``
stops. ``/query s:JSON`` runs the default model (``/<model>/query`` another one); every connected
peer gets ``/data s:JSON`` (``/<model>/data`` for other models) and the numbers of every result;
an error goes back to the one who caused it as ``/error s:{"error", "status"}``, never in ``/data``.
Push targets (``--osc-target``) get the numbers of every result without a handshake, each result
as one bundle (`_osc_bundle`; ``--osc-bundles all`` bundles for Runway peers too, ``none`` for
nobody: Pd's [oscparse] reads no bundles); Wekinator mode sends ``/wek/inputs``. Addresses and
splitting: `_osc_codec` and docs/protocol-osc.md.

Hostile packets are normal packets. `_osc_decode` reads them in one bounded pass; addresses
are looked up in a dict, and address patterns (``*?[]{}``) are refused: python-osc's pattern
matching once took minutes on one packet. Senders are filtered before anything is parsed: only
loopback and the networks of ``--osc-allow CIDR`` are heard (OSC carries no token, so the
network is the credential); others are dropped without an answer. docs/security.md (OSC) says why.
Our own `DatagramProtocol` sends nothing implicitly (python-osc's server sends return values).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import time

from aiohttp import web

from .. import jsonsafe
from .._ratelimit_log import RateLimitedLog
from ..appkeys import BRIDGE
from ..errors import BadInput, BridgeError
from . import _osc_bundle as bundling
from . import _osc_codec as codec
from ._osc_decode import decode_packet

__all__ = ["setup_osc", "OscServer", "OSC", "parse_hostport"]

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)
_MODEL_ADDR = re.compile(r"(?:/v1/models)?/([^/]+)/(query|info)")
MAX_PEERS = 64
MAX_ADDRESS = 256
_OURS = ("/server/connect", "/server/disconnect", "/query", "/info")
_PATTERN_CHARS = frozenset("*?[]{}")


def parse_networks(cidrs) -> list:
    """``--osc-allow`` values to networks; `ValueError` naming the bad one."""
    nets = []
    for c in cidrs or ():
        try:
            nets.append(ipaddress.ip_network(str(c).strip(), strict=False))
        except ValueError:
            raise ValueError(f"--osc-allow {c!r}: expected a network such as 192.168.1.0/24 or an address") from None
    return nets


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
        json_limit = getattr(cfg, "osc_max_json", codec.MAX_UDP)
        if not 128 <= json_limit <= codec.MAX_UDP:
            raise ValueError(f"--osc-max-json {json_limit}: must be 128 to {codec.MAX_UDP} bytes")
        self.limit, self.json_limit, self.reply_port = cfg.osc_max_datagram, json_limit, cfg.osc_reply_port
        self.allow = parse_networks(getattr(cfg, "osc_allow", ()))
        self.bundling = getattr(cfg, "osc_bundles", "targets")
        if self.bundling not in ("targets", "all", "none"):
            raise ValueError(f"--osc-bundles {self.bundling!r}: choose targets, all or none")
        # numbers are built to fit a bundle whoever gets them, so their split never depends on the receiver
        self.numbers_limit = self.limit - (bundling.BUNDLE_OVERHEAD if self.bundling != "none" else 0)
        self._rates: dict[str, bundling.Rate] = {}
        self._allowed: dict[str, bool] = {}
        self.target_names = [parse_hostport(t, "--osc-target") for t in cfg.osc_targets]
        self.wek_name = parse_hostport(cfg.wekinator, "--wekinator") if cfg.wekinator else None
        self.peers: dict[tuple, None] = {}  # (host, port), in order of connection
        self.reply_to: dict[tuple, int] = {}  # a sender's (host, source port) -> its reply port
        self.targets: list[tuple] = []
        self.wek: tuple | None = None
        self.transport = self.out = None
        self.port: int | None = None
        self.tasks: set[asyncio.Task] = set()
        self.counts = {"received": 0, "rejected": 0, "refused": 0, "sent": 0}
        self._specs: dict = {}
        self._warned: set = set()
        self.routes = {  # exact addresses only: a dict lookup, never a pattern match
            "/server/connect": self._connect,
            "/server/disconnect": self._disconnect,
            "/query": lambda src, addr, *args: self._query(src, None, args),
            "/info": lambda src, addr, *args: None if args else self._info(src, None),
        }

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
            if self.allow:
                log.info("OSC accepts packets from loopback and %s", ", ".join(map(str, self.allow)))
            elif not self._is_allowed(cfg.host) or cfg.host in ("0.0.0.0", "::", ""):
                log.warning("OSC accepts packets from loopback only; add --osc-allow CIDR (e.g. 192.168.1.0/24) "
                            "for senders on your network")
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
    def _is_allowed(self, host: str) -> bool:
        """Loopback, or inside an ``--osc-allow`` network (cached per address, the cache bounded)."""
        ok = self._allowed.get(host)
        if ok is None:
            try:
                ip = ipaddress.ip_address(host.split("%")[0])
            except ValueError:
                return False
            if ip.version == 6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            ok = ip.is_loopback or any(ip.version == n.version and ip in n for n in self.allow)
            if len(self._allowed) >= 4096:
                self._allowed.clear()
            self._allowed[host] = ok
        return ok

    def datagram_received(self, data: bytes, src) -> None:
        self.counts["received"] += 1
        if not self._is_allowed(src[0]):  # never answered: an answer would help a spoofed reflection
            self.counts["refused"] += 1
            _limited.warning("osc-refused", "OSC from %s refused: not loopback and not in --osc-allow %s", src[0],
                             ", ".join(map(str, self.allow)) or "(none given)")
            return
        try:
            messages = decode_packet(data)
        except ValueError as e:
            self._reject(src, f"not an OSC packet ({len(data)} bytes): {e}", None)
            return
        for msg in messages:
            try:
                self._route(src, msg.address, msg.args)
            except BridgeError as e:
                self._reject(src, e.message, msg.address, e.status)
            except Exception as e:
                _limited.exception("osc-handler", "OSC handler failed on %r", msg.address[:80])
                self._reject(src, f"internal error: {type(e).__name__}: {e}", msg.address, 500)

    def _route(self, src, address: str, args) -> None:
        if len(address) > MAX_ADDRESS:
            raise BadInput(f"OSC address of {len(address)} characters; at most {MAX_ADDRESS}")
        if not _PATTERN_CHARS.isdisjoint(address):
            raise BadInput(f"OSC address patterns ({' '.join(sorted(_PATTERN_CHARS))}) are not supported: "
                           f"send an exact address such as /query or /<model>/query")
        handler = self.routes.get(address)
        if handler is not None:
            handler(src, address, *args)
        else:
            self._other(src, address, *args)

    def _reject(self, src, text: str, address: str | None, status: int = 400) -> None:
        self.counts["rejected"] += 1
        _limited.warning("osc-reject", "OSC from %s:%d: %s", src[0], src[1], text[:300])
        if address is not None and len(address) > MAX_ADDRESS:
            address = None
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
        if isinstance(a, str) and a.strip().isascii() and a.strip().isdigit():
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
            inputs = jsonsafe.loads(args[0])
        except BadInput as e:
            raise BadInput(f"/query argument is not JSON: {e.message}") from None
        if not isinstance(inputs, dict):
            raise BadInput(f"/query JSON must be an object of inputs, got {type(inputs).__name__}")
        host = self.bridge.host(model_id)
        task = asyncio.ensure_future(self._call(host, inputs, reply))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _call(self, host, inputs: dict, reply) -> None:
        try:
            result = await host.call(None, inputs)
        except BridgeError as e:  # the model's own words, in full: the JSON limit, not the numbers'
            self._send_error(reply, e.message, e.status, host.id, self.json_limit)
            return
        if reply not in self.peers:  # connected peers already had it from the fan-out
            data, numbers, _, packed = self._encode(result)
            self._send([*data, *(packed if self.bundling == "all" else numbers)], [reply])

    def _info(self, src, model_id: str | None) -> None:
        host = self.bridge.host(model_id)
        cmds = (host.manifest or {}).get("commands") or []
        cmd = next((c for c in cmds if c["name"] == host.default_command), cmds[0] if cmds else None)
        if cmd is None:
            raise BadInput(f"model {host.id} has no schema yet; try again when it is running")
        text = json.dumps({"inputs": cmd["inputs"], "outputs": cmd["outputs"]}, separators=(",", ":"))
        msg = codec.json_message(self._address(host.id, "info"), text)
        if len(msg) > self.json_limit:
            raise BadInput(f"the schema of {host.id} is {len(msg)} bytes, over the {self.json_limit}-byte datagram "
                           f"limit; read it over HTTP: GET /v1/models/{host.id}")
        self._send([msg], [self._reply_addr(src)])

    # -- sending --------------------------------------------------------------------------
    def _reply_addr(self, src) -> tuple:
        if src in self.reply_to:
            return (src[0], self.reply_to[src])
        return next((p for p in self.peers if p[0] == src[0]), (src[0], self.reply_port))

    def _address(self, model_id: str, kind: str) -> str:
        return f"/{kind}" if model_id == self.bridge.default_id else f"/{codec.address_part(model_id)}/{kind}"

    def _send_error(self, to, text: str, status: int, model_id: str | None, limit: int | None = None) -> None:
        """An ``/error`` to one peer; answers to a sender's own packet stay within the small limit,
        so a spoofed packet cannot reflect more bytes than it sent."""
        address = self._address(model_id, "error") if model_id else "/error"
        self._send([codec.error_message(address, text, status, limit or self.limit)], [to])

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

    def _encode(self, result) -> tuple[list[bytes], list[bytes], bytes | None, list[bytes]]:
        """``/data``, the numbers (with the per-result channels), ``/wek/inputs``, and the numbers
        packed into bundles: encoded once per result, sent to everyone."""
        if "osc" not in result.encoded:
            outputs = result.outputs or {}
            specs = self._output_specs(result.model, result.command)
            data, omitted = codec.data_message(self._address(result.model, "data"), outputs, self.json_limit,
                                               result.model)
            dgrams = [data]
            if omitted:  # say so where Runway clients look for trouble, beside the /data with its notes
                size = codec.json_size(outputs)
                raise_it = "" if self.json_limit == codec.MAX_UDP else f" (raise --osc-max-json up to {codec.MAX_UDP})"
                dgrams.append(codec.error_message(
                    self._address(result.model, "error"),
                    f"{result.model}: {', '.join(omitted)} left out of /data: the outputs' JSON is at least {size} bytes, over "
                    f"the {self.json_limit}-byte limit of one OSC datagram"
                    f"{raise_it}; "
                    f"read them over HTTP or WebSocket", 413, self.limit))
            numbers = codec.result_numbers(result.model, outputs, specs, self.numbers_limit)
            if numbers:  # a model with numbers gets the per-result channels too
                rate = self._rates.get(result.model) or self._rates.setdefault(result.model, bundling.Rate())
                numbers += bundling.result_channels(
                    "/" + codec.address_part(result.model), fps=rate.tick(time.monotonic()),
                    latency_ms=result.timings.get("total"), frame=result.frame_id, dropped=result.dropped,
                    found=bundling.found_count(outputs, specs))
            packed = bundling.bundles(numbers, self.limit) if self.bundling != "none" else numbers
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
                                "the %d-byte datagram limit (--osc-max-json)", result.model, omitted, self.json_limit)
            result.encoded["osc"] = (dgrams, numbers, wek, packed)
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
        data, numbers, wek_msg, packed = self._encode(result)
        if self.peers:
            self._send([*data, *(packed if self.bundling == "all" else numbers)], list(self.peers))
        if self.targets and numbers:
            self._send(packed, self.targets, self.out)
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
