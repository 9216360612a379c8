"""A bounded fuzzer against a real daemon: thousands of malformed inputs over HTTP, WebSocket,
Socket.IO and OSC, with the invariants checked after every batch (docs/fuzzing.md):

- the process is alive and ``/healthz`` answers within 1 s (no freeze);
- the model is still RUNNING and answers a valid query (no silently dead model);
- no answer to a client's mistake is a 5xx;
- RSS grows less than 50 MB and open fds by fewer than 32 after a warm-up batch (no leak).

``RUNWAY_BRIDGE_FUZZ_CASES`` (default 2000 per transport) and ``RUNWAY_BRIDGE_FUZZ_SEED`` make longer
or different runs. Cases known to break today's daemon, each an item of issue 10 fixed on another
branch, are separate tests marked ``xfail(strict=True)``: the mark goes when that branch lands.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time

import _gen
import aiohttp
import pytest
import socketio

from conftest import http, jpeg, launch_daemon

CASES = int(os.environ.get("RUNWAY_BRIDGE_FUZZ_CASES", "2000"))
SEED = int(os.environ.get("RUNWAY_BRIDGE_FUZZ_SEED", "10"))
BATCH = 500
RSS_GROWTH_MB, FD_GROWTH = 50, 32
MODEL = _gen.MODEL


def proc_status(pid: int) -> tuple[float, int]:
    """(RSS in MB, open fds) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def healthy(d, baseline: tuple[float, int] | None = None, what: str = "") -> tuple[float, int]:
    """Assert every invariant; returns (RSS MB, fds) now."""
    assert d.proc.poll() is None, f"daemon died after {what}:\n{d.output()[-3000:]}"
    for attempt in range(3):  # a loaded 2-core CI box may miss 1 s once; a frozen loop misses it always
        t0 = time.monotonic()
        try:
            status, _, _ = http("GET", d.url + "/healthz", timeout=1)
            if status == 200:
                break
        except OSError:
            pass
        assert attempt < 2, f"/healthz did not answer within 1 s three times after {what} (frozen?)"
        time.sleep(max(0.0, 1 - (time.monotonic() - t0)))
    assert d.state(MODEL) == "RUNNING", f"{MODEL} is not RUNNING after {what}"
    status, _, body = http("POST", f"{d.url}/v1/models/{MODEL}/commands/echo", {**_gen.VALID_ECHO, "text": "alive"},
                           timeout=10)
    assert status == 200 and body["text"] == "alive", f"a valid call failed after {what}: {status} {body}"
    now = proc_status(d.proc.pid)
    if baseline is not None:
        assert now[0] - baseline[0] < RSS_GROWTH_MB, f"RSS grew {now[0] - baseline[0]:.0f} MB after {what}"
        assert now[1] - baseline[1] < FD_GROWTH, f"open fds grew {now[1] - baseline[1]} after {what}"
    return now


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """One daemon with OSC for the passing fuzz tests: kitchen_sink has every type, `any` included."""
    d = launch_daemon(tmp_path_factory.mktemp("fuzz"), MODEL, osc=True)
    yield d
    d.stop()


def batches(n: int):
    """Warm-up first (allocators, caches, first-use imports), then batches of `BATCH`."""
    warm = min(200, n // 5)
    yield "warm-up", warm
    left = n - warm
    while left > 0:
        yield "batch", min(BATCH, left)
        left -= BATCH


# -- HTTP ---------------------------------------------------------------------------------------


async def _http_batch(d, rng: random.Random, n: int) -> list[str]:
    bad: list[str] = []
    sem = asyncio.Semaphore(8)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        async def one(case):
            method, path, headers, body = case
            async with sem:
                try:
                    async with s.request(method, d.url + path, headers=headers, data=body, skip_auto_headers=["Content-Type"]) as r:
                        text = await r.text(errors="replace")
                        if r.status >= 500:
                            bad.append(f"{r.status} {method} {path[:80]} {headers} {body[:120]!r}: {text[:200]}")
                except (aiohttp.ClientResponseError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
                    pass  # the server refused the request outright (e.g. a 20 KB header): not a 5xx
        await asyncio.gather(*(one(_gen.http_case(rng)) for _ in range(n)))
    return bad


def test_http_malformed_requests_get_4xx_and_nothing_degrades(target):
    rng = random.Random(SEED)
    baseline = None
    for phase, n in batches(CASES):
        bad = asyncio.run(_http_batch(target, rng, n))
        assert not bad, f"{len(bad)} client errors answered with a 5xx, e.g.:\n" + "\n".join(bad[:5])
        now = healthy(target, baseline, f"{n} HTTP cases ({phase})")
        baseline = baseline or now


# -- WebSocket ----------------------------------------------------------------------------------


async def _ws_batch(d, rng: random.Random, n: int, frame: bytes) -> list[str]:
    bad: list[str] = []
    url = d.url.replace("http", "ws") + f"/v1/models/{MODEL}/stream?command=echo"
    async with aiohttp.ClientSession() as s:
        async def client(msgs):
            async with s.ws_connect(url) as ws:
                for m in msgs:
                    await (ws.send_str(m) if isinstance(m, str) else ws.send_bytes(m))
                    reply = await ws.receive(timeout=10)  # every message gets exactly one answer
                    if reply.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        bad.append(f"{m[:120]!r} -> {reply.type.name} {reply.data!r} {reply.extra!r}")
                        return
                    if reply.type == aiohttp.WSMsgType.TEXT and json.loads(reply.data).get("status", 0) >= 500:
                        bad.append(f"{m[:120]!r} -> {reply.data[:200]}")
                await ws.send_bytes(frame)  # the socket still serves a real frame
                ok = await ws.receive(timeout=10)
                if ok.type != aiohttp.WSMsgType.TEXT or json.loads(ok.data).get("type") != "error":
                    bad.append(f"a bare JPEG to echo (no image input) after the junk got {ok.type.name}")
        msgs = [_gen.ws_message(rng) for _ in range(n)]
        await asyncio.gather(*(client(msgs[i::4]) for i in range(4)))
    return bad


def test_websocket_malformed_messages_get_json_errors_and_nothing_degrades(target, astronaut):
    rng = random.Random(SEED + 1)
    frame = jpeg(astronaut[:16, :16])
    baseline = None
    for phase, n in batches(CASES):
        bad = asyncio.run(_ws_batch(target, rng, n, frame))
        assert not bad, f"{len(bad)} WebSocket messages broke the protocol, e.g.:\n" + "\n".join(bad[:5])
        now = healthy(target, baseline, f"{n} WebSocket cases ({phase})")
        baseline = baseline or now


def test_websocket_bad_connect_parameters_are_refused_before_upgrade(target):
    async def go():
        out = []
        async with aiohttp.ClientSession() as s:
            for q in ("format=gif", "command=nope", "command=" + "x" * 3000, "format=&listen=2"):
                url = target.url.replace("http", "ws") + f"/v1/models/{MODEL}/stream?{q}"
                try:
                    async with s.ws_connect(url) as ws:
                        await ws.close()
                        out.append((q, 101))
                except aiohttp.WSServerHandshakeError as e:
                    out.append((q, e.status))
        return out

    got = dict(asyncio.run(go()))
    assert got["format=gif"] == 400 and got["command=nope"] == 404, got
    assert all(status < 500 for status in got.values()), got
    healthy(target)


# -- Socket.IO ----------------------------------------------------------------------------------


async def _sio_client(d, **kw):
    """A client and the queue of answers to its own queries (listeners also get others' data)."""
    c = socketio.AsyncClient(reconnection=False)
    q: asyncio.Queue = asyncio.Queue()
    own: dict = {}

    def on(ev, data):
        meta = data.get("_meta", {}) if isinstance(data, dict) else {}
        if ev == "info":
            own["stream"] = meta.get("stream")
        elif ev == "error" or meta.get("stream") == own.get("stream"):
            q.put_nowait((ev, data))

    for ev in ("info", "data", "error"):
        c.on(ev, lambda data, ev=ev: on(ev, data))
    await c.connect(d.url + f"?model={MODEL}&command=echo", transports=["websocket"], wait_timeout=10, **kw)
    for _ in range(500):  # `info` names our stream: until it arrives, our own answers look like others'
        if "stream" in own:
            break
        await asyncio.sleep(0.01)
    return c, q


async def _answer(q: asyncio.Queue, timeout: float = 10):
    return await asyncio.wait_for(q.get(), timeout)


async def _sio_batch(d, rng: random.Random, n: int) -> list[str]:
    bad: list[str] = []

    async def client(k: int):
        c, q = await _sio_client(d)
        try:
            for _ in range(k):
                payload = _gen.echo_inputs(rng) if rng.random() < 0.7 else _gen.value(rng)
                if isinstance(payload, dict) and rng.random() < 0.3:
                    payload["_meta"] = {"frame": rng.choice([1, "f", None, _gen.value(rng), "x" * 5000]),
                                        "command": rng.choice(["echo", None, [1], {"a": 1}, "nope", ""])}
                await c.emit("query", payload)
                ev, data = await _answer(q)
                if ev == "error" and data.get("_meta", {}).get("status", 0) >= 500:
                    bad.append(f"query {payload!r:.150} -> {data}")
            await c.emit("nonsense", {"a": 1})  # unknown events are ignored...
            await c.emit("query", {**_gen.VALID_ECHO, "text": "still here"})  # ...and the client is served on
            ev, data = await _answer(q)
            if ev != "data" or data.get("text") != "still here":
                bad.append(f"a valid query after the junk got {ev} {data}")
        finally:
            await c.disconnect()

    await asyncio.gather(*(client(n // 4) for _ in range(4)))
    return bad


def test_socketio_malformed_queries_get_errors_and_nothing_degrades(target):
    rng = random.Random(SEED + 2)
    baseline = None
    n_total = max(200, CASES // 4)  # each Socket.IO case is a round trip through engine.io: fewer
    for phase, n in batches(n_total):
        bad = asyncio.run(_sio_batch(target, rng, n))
        assert not bad, f"{len(bad)} Socket.IO queries were mishandled, e.g.:\n" + "\n".join(bad[:5])
        now = healthy(target, baseline, f"{n} Socket.IO cases ({phase})")
        baseline = baseline or now


async def _engineio_batch(d, rng: random.Random, n: int) -> None:
    url = d.url.replace("http", "ws") + f"/socket.io/?EIO=4&transport=websocket&model={MODEL}"
    async with aiohttp.ClientSession() as s:
        left = n
        while left > 0:
            async with s.ws_connect(url) as ws:
                await ws.receive(timeout=10)  # engine.io open
                await ws.send_str("40")
                for _ in range(min(left, 100)):  # the server may hang up on junk: then a new connection
                    left -= 1
                    m = _gen.engineio_packet(rng)
                    await (ws.send_str(m) if isinstance(m, str) else ws.send_bytes(m))
                    if ws.closed:
                        break


def test_raw_engineio_junk_does_not_degrade_the_daemon(target):
    rng = random.Random(SEED + 4)
    baseline = None
    for phase, n in batches(max(500, CASES // 2)):
        asyncio.run(_engineio_batch(target, rng, n))
        now = healthy(target, baseline, f"{n} raw engine.io packets ({phase})")
        baseline = baseline or now


# -- OSC ----------------------------------------------------------------------------------------


def test_osc_garbage_datagrams_do_not_degrade_the_daemon(target):
    rng = random.Random(SEED + 3)
    baseline = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for phase, n in batches(CASES * 2):  # datagrams are cheap
            for i in range(n):
                s.sendto(_gen.osc_datagram(rng), ("127.0.0.1", target.osc_port))
                if i % 50 == 0:
                    time.sleep(0.005)  # UDP has no back-pressure: let the daemon read, as a real sender would
            now = healthy(target, baseline, f"{n} OSC datagrams ({phase})")
            baseline = baseline or now
