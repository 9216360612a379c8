"""Eight clients streaming 30 fps into one 20 ms model (DESIGN 5), over the WebSocket fast path.

    .venv/bin/python benchmarks/bench_streams.py [--clients 8] [--fps 30] [--model-ms 20] [--seconds 10]

Checks, against the budget: the model never idles while frames wait (busy share of the wall
clock), each client gets a fair share of results (within 15% of the mean), p99 latency from a
frame's send to its result is under 3x the model time, and the daemon's memory stays flat.
Offered load is 8 x 30 = 240 fps against a model that can do 50: latest-frame-wins keeps each
processed frame at most one frame interval old instead of letting a queue grow.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
from _common import frame, rss_mb, serve

from runway_bridge.types import Blob
from runway_bridge.wire import decode_frame, encode_frame


async def client(url: str, jpg: bytes, fps: float, model_s: float, until: float, out: dict) -> None:
    sent: dict[int, float] = {}
    latencies: list[float] = []
    model_ms: list[float] = []
    server_ms: list[float] = []
    dropped = 0
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        async def reader():
            nonlocal dropped
            async for msg in ws:
                header, _ = decode_frame(msg.data) if msg.type == aiohttp.WSMsgType.BINARY else (None, None)
                if header is None or header.get("type") != "result":
                    continue
                now = time.perf_counter()
                sent_at = sent.pop(header["frame"])
                if now > until:  # the last frames drain with nothing newer to replace them: not steady state
                    continue
                latencies.append((now - sent_at) * 1000)
                model_ms.append(header["timings"]["model"])
                server_ms.append(header["timings"]["total"])
                dropped = header["dropped"]
                for k in [k for k in sent if k < header["frame"]]:
                    del sent[k]

        task = asyncio.ensure_future(reader())
        n = 0
        next_at = time.perf_counter()
        while time.perf_counter() < until:
            sent[n] = time.perf_counter()
            await ws.send_bytes(encode_frame({"frame": n, "inputs": {"delay": model_s}}, [("image", Blob("jpeg", jpg))]))
            n += 1
            next_at += 1 / fps
            await asyncio.sleep(max(0, next_at - time.perf_counter()))
        await asyncio.sleep(0.5)
        task.cancel()
    out.update(sent=n, latencies=latencies, model_ms=model_ms, server_ms=server_ms, dropped=dropped)


async def run(url: str, args, jpg: bytes, pid: int) -> tuple[list[dict], float, float, float]:
    warm_until = time.perf_counter() + 2
    await asyncio.gather(*(client(url, jpg, args.fps, args.model_ms / 1000, warm_until, {}) for _ in range(2)))
    rss_start = rss_mb(pid)
    until = time.perf_counter() + args.seconds
    results = [dict() for _ in range(args.clients)]
    t0 = time.perf_counter()
    await asyncio.gather(*(client(url, jpg, args.fps, args.model_ms / 1000, until, r) for r in results))
    wall = min(time.perf_counter(), until) - t0
    return results, wall, rss_start, rss_mb(pid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--fps", type=float, default=30)
    ap.add_argument("--model-ms", type=float, default=20)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    proc, http_url = serve("--model", "kitchen_sink")
    jpg = frame((160, 120), 90)
    url = http_url.replace("http", "ws") + "/v1/models/kitchen_sink/stream?command=slow_invert"
    try:
        results, wall, rss0, rss1 = asyncio.run(run(url, args, jpg, proc.pid))
    finally:
        proc.terminate()
    counts = [len(r["latencies"]) for r in results]
    lat = sorted(x for r in results for x in r["latencies"])
    busy = sum(sum(r["model_ms"]) for r in results) / 1000 / wall
    p99 = lat[int(len(lat) * 0.99)]
    mean = statistics.mean(counts)
    spread = max(abs(c - mean) / mean for c in counts)
    print(f"{args.clients} clients x {args.fps:g} fps into a {args.model_ms:g} ms model for {args.seconds:g} s")
    print(f"  frames sent {sum(r['sent'] for r in results)}, processed {sum(counts)}, "
          f"dropped {sum(r['dropped'] for r in results)}")
    print(f"  per-client results {counts}")
    checks = [
        ("model busy share of wall time", f"{busy:.0%}", busy >= 0.9, ">= 90%"),
        ("fairness: worst client vs mean", f"{spread:.1%}", spread <= 0.15, "<= 15%"),
        ("latency median / p99 (ms)", f"{statistics.median(lat):.1f} / {p99:.1f}", p99 < 3 * args.model_ms,
         f"p99 < {3 * args.model_ms:g}"),
        ("daemon RSS start -> end (MB)", f"{rss0:.0f} -> {rss1:.0f}", rss1 - rss0 < 20, "growth < 20 MB"),
    ]
    server = sorted(x for r in results for x in r["server_ms"])
    print(f"  in the daemon (arrival to result): median {statistics.median(server):.1f}, "
          f"p99 {server[int(len(server) * 0.99)]:.1f} ms")
    for name, value, ok, budget in checks:
        print(f"  {name:<34}{value:>16}   budget {budget:<16}{'PASS' if ok else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
