"""Soak: 8 honest streaming clients while attackers throw garbage at every transport (issue 10).

    .venv/bin/python benchmarks/bench_soak.py [--seconds 600] [--quick] [--clients 8] [--fps 15]

First a quiet run (honest clients only), then the same clients for `--seconds` (default 10
minutes; ``--quick``: 20 s, for CI) alongside an attacker process that sends malformed HTTP, OSC
garbage, WebSocket garbage and slow-loris half-sent requests (the fuzzers' generators,
tests/fuzz/_gen.py). The honest clients stream 160x120 JPEGs over the WebSocket binary fast path
into a 10 ms model, latest frame wins. Printed: the daemon's RSS and open fds at the start and end
of the attack, and the honest clients' p50/p99 latency under attack as ratios to the quiet run.
Pass: RSS within +20 MB, fds within +16, p99 within 2x of quiet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time

import aiohttp
from _common import FIXTURE_ADAPTERS, ROOT, frame, free_port, median_p99, rss_mb, start

sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
import _gen  # noqa: E402

from runway_bridge.types import Blob  # noqa: E402
from runway_bridge.wire import decode_frame, encode_frame  # noqa: E402

RSS_TOLERANCE_MB, FD_TOLERANCE, P99_RATIO = 20, 16, 2.0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- honest clients -----------------------------------------------------------------------------


async def honest(url: str, jpg: bytes, fps: float, model_s: float, until: float, out: list) -> None:
    """One client at `fps`, latest frame wins; latency from a frame's send to its result."""
    sent: dict[int, float] = {}
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        async def reader():
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    continue
                header, _ = decode_frame(msg.data)
                if header.get("type") == "result" and header["frame"] in sent:
                    out.append((time.perf_counter() - sent.pop(header["frame"])) * 1000)
                    for k in [k for k in sent if k < header["frame"]]:
                        del sent[k]  # replaced before they ran (dropped): no latency to count

        task = asyncio.ensure_future(reader())
        n, next_at = 0, time.perf_counter()
        while time.perf_counter() < until:
            sent[n] = time.perf_counter()
            await ws.send_bytes(encode_frame({"frame": n, "inputs": {"delay": model_s}}, [("image", Blob("jpeg", jpg))]))
            n += 1
            next_at += 1 / fps
            await asyncio.sleep(max(0, next_at - time.perf_counter()))
        await asyncio.sleep(0.3)
        task.cancel()


async def honest_run(url: str, args, jpg: bytes, seconds: float) -> list[float]:
    until = time.perf_counter() + seconds
    lat: list[float] = []
    await asyncio.gather(*(honest(url, jpg, args.fps, args.model_ms / 1000, until, lat) for _ in range(args.clients)))
    return lat


# -- attackers (a separate process, so their CPU does not sit in the honest clients' loop) -------


async def attack(http_url: str, osc_port: int, seconds: float, rate: float) -> dict:
    rng = random.Random(20)
    until = time.monotonic() + seconds
    counts = {"http": 0, "http_5xx": 0, "osc": 0, "ws": 0, "ws_broken": 0, "loris_open": 0, "loris_closed_by_daemon": 0}
    host, port = http_url.removeprefix("http://").split(":")

    async def http_junk(s):
        while time.monotonic() < until:
            method, path, headers, body = _gen.http_case(rng)
            try:
                async with s.request(method, http_url + path, headers=headers, data=body,
                                     skip_auto_headers=["Content-Type"]) as r:
                    await r.read()
                    counts["http_5xx"] += r.status >= 500
            except aiohttp.ClientError:
                pass
            counts["http"] += 1
            await asyncio.sleep(1 / rate)

    async def osc_junk():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            while time.monotonic() < until:
                u.sendto(_gen.osc_datagram(rng), ("127.0.0.1", osc_port))
                counts["osc"] += 1
                await asyncio.sleep(1 / rate)

    async def ws_junk(s):
        url = http_url.replace("http", "ws") + f"/v1/models/{_gen.MODEL}/stream?command=echo"
        while time.monotonic() < until:
            async with s.ws_connect(url) as ws:
                for _ in range(200):
                    if time.monotonic() >= until:
                        break
                    m = _gen.ws_message(rng)
                    await (ws.send_str(m) if isinstance(m, str) else ws.send_bytes(m))
                    reply = await ws.receive(timeout=10)
                    counts["ws"] += 1
                    if reply.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        counts["ws_broken"] += 1
                        break
                    await asyncio.sleep(1 / rate)

    async def slow_loris(i: int):
        """A request whose header never ends: one byte every 2 s until the daemon hangs up."""
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            return
        counts["loris_open"] += 1
        writer.write(f"POST /v1/models/{_gen.MODEL}/commands/echo HTTP/1.1\r\nHost: x\r\nX-{i}: ".encode())
        try:
            while time.monotonic() < until:
                await asyncio.sleep(2)
                writer.write(b"a")
                await writer.drain()
                if reader.at_eof():
                    raise ConnectionResetError
        except (ConnectionError, OSError):
            counts["loris_closed_by_daemon"] += 1
        finally:
            writer.close()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        await asyncio.gather(http_junk(s), http_junk(s), osc_junk(), ws_junk(s), *(slow_loris(i) for i in range(32)))
    return counts


def attacker_main(argv: list[str]) -> None:
    http_url, osc_port, seconds, rate = argv[0], int(argv[1]), float(argv[2]), float(argv[3])
    print(json.dumps(asyncio.run(attack(http_url, osc_port, seconds, rate))))


# -- the run ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600, help="length of the attacked run (default 10 minutes)")
    ap.add_argument("--quick", action="store_true", help="CI: a 20 s attacked run after an 8 s quiet one")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--fps", type=float, default=15)
    ap.add_argument("--model-ms", type=float, default=10)
    ap.add_argument("--rate", type=float, default=100, help="messages per second per attacker stream")
    args = ap.parse_args()
    seconds = 20 if args.quick else args.seconds
    quiet_s = 8 if args.quick else min(60, max(8, seconds / 10))

    port, osc_port = free_port(), free_port(socket.SOCK_DGRAM)
    http_url = f"http://127.0.0.1:{port}"
    proc = start([sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--osc-port", str(osc_port),
                  "--osc-reply-port", str(free_port(socket.SOCK_DGRAM)), "--adapters", str(FIXTURE_ADAPTERS),
                  "--model", _gen.MODEL], http_url + "/readyz")
    ws_url = http_url.replace("http", "ws") + f"/v1/models/{_gen.MODEL}/stream?command=slow_invert"
    jpg = frame((160, 120), 90)
    try:
        asyncio.run(honest_run(ws_url, args, jpg, 2))  # warm-up
        quiet = asyncio.run(honest_run(ws_url, args, jpg, quiet_s))
        rss0, fd0 = rss_mb(proc.pid), fds(proc.pid)
        attacker = subprocess.Popen([sys.executable, __file__, "--attacker", http_url, str(osc_port), str(seconds),
                                     str(args.rate)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        loud = asyncio.run(honest_run(ws_url, args, jpg, seconds))
        counts = json.loads(attacker.communicate(timeout=60)[0].strip().splitlines()[-1])
        time.sleep(2)  # let the daemon notice the attacker's sockets closing
        alive = proc.poll() is None
        rss1, fd1 = rss_mb(proc.pid), fds(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    q50, q99 = median_p99(quiet)
    l50, l99 = median_p99(loud)
    print(f"{args.clients} clients x {args.fps:g} fps into a {args.model_ms:g} ms model: quiet {quiet_s:g} s, "
          f"then {seconds:g} s under attack")
    print(f"  attacker sent: {counts['http']} malformed HTTP ({counts['http_5xx']} got a 5xx), {counts['osc']} OSC "
          f"datagrams, {counts['ws']} WebSocket junk messages ({counts['ws_broken']} broke a socket), "
          f"{counts['loris_open']} slow-loris connections ({counts['loris_closed_by_daemon']} closed by the daemon)")
    print(f"  honest results: quiet {len(quiet)}, under attack {len(loud)}")
    checks = [
        ("daemon alive at the end", "yes" if alive else "NO", alive, "alive"),
        ("RSS start -> end of attack (MB)", f"{rss0:.0f} -> {rss1:.0f}", rss1 - rss0 < RSS_TOLERANCE_MB,
         f"growth < {RSS_TOLERANCE_MB} MB"),
        ("open fds start -> end of attack", f"{fd0} -> {fd1}", fd1 - fd0 < FD_TOLERANCE, f"growth < {FD_TOLERANCE}"),
        ("latency p50 quiet -> attack (ms)", f"{q50:.1f} -> {l50:.1f} ({l50 / q50:.2f}x)", True, "reported"),
        ("latency p99 quiet -> attack (ms)", f"{q99:.1f} -> {l99:.1f} ({l99 / q99:.2f}x)", l99 <= P99_RATIO * q99,
         f"<= {P99_RATIO:g}x quiet"),
        ("HTTP 5xx to malformed requests", str(counts["http_5xx"]), counts["http_5xx"] == 0, "0"),
    ]
    for name, value, ok, budget in checks:
        print(f"  {name:<36}{value:>24}   budget {budget:<20}{'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--attacker"]:
        attacker_main(sys.argv[2:])
    else:
        main()
