"""What the ray backend costs per frame, and what a second replica buys, in one run.

    .venv/bin/python benchmarks/bench_ray.py [--runs 200] [--seconds 6] [--clients 8]

Starts a local Ray (this machine's CPUs, no dashboard) through the backend's own code, then:

1. Latency: one caller in lockstep sends a 640x480 JPEG (q80) to the fixture ``identity`` model
   (decode, return, encode JPEG) on the process backend and on the ray backend (one replica),
   interleaved in rounds so drift hits both alike; and on Ray once more with the frame as a base64
   data URI instead of `Blob` bytes (the alternative to Ray's object transfer). Prints medians and
   Ray's added milliseconds and ratios.
2. Throughput: `--clients` callers in lockstep for `--seconds` against 1 and then 2 replicas, at
   most `backend.concurrency` calls in flight (as the host dispatches; more would wait in Ray's
   router, which backs off and costs throughput): the
   identity model (codec work: CPU-bound, so on a 2-core box the daemon and two replicas share two
   cores) and ``ray_echo`` sleeping 20 ms per frame (a model that waits on a GPU or releases the
   GIL). Prints frames per second and the 2-to-1 ratio.

Calls go through `backend.call`, the host's own path, driven concurrently with asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import time

from _common import FIXTURE_ADAPTERS, ROOT, frame
from _common import median_p99 as stats

from runway_bridge.backends import _ray_cluster, create
from runway_bridge.types import Blob

IDENTITY = FIXTURE_ADAPTERS / "identity"
ECHO = ROOT / "tests" / "fixtures" / "ray_adapters" / "ray_echo"


def card(model_id: str, replicas: int) -> dict:
    return {"id": model_id, "replicas": replicas, "ray": {"num_cpus": 0.5}}


async def lockstep(backend, inputs: dict, binary: bool, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await backend.call("identity", inputs, binary=binary)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def latency(runs: int, jpeg: bytes) -> None:
    blob = Blob("jpeg", jpeg)
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    proc = create("process", IDENTITY, {"id": "identity"})
    ray1 = create("ray", IDENTITY, card("identity", 1))
    await asyncio.gather(proc.start({}), ray1.start({}))
    samples = {"process": [], "ray": [], "ray base64": []}
    try:
        for b, inputs, binary in ((proc, {"image": blob}, True), (ray1, {"image": blob}, True)):
            await lockstep(b, inputs, binary, 20)  # warm up
        rounds = 10
        for _ in range(rounds):
            samples["process"] += await lockstep(proc, {"image": blob}, True, runs // rounds)
            samples["ray"] += await lockstep(ray1, {"image": blob}, True, runs // rounds)
            samples["ray base64"] += await lockstep(ray1, {"image": uri}, False, runs // rounds)
    finally:
        await asyncio.gather(proc.stop(), ray1.stop())
    med = {k: stats(v) for k, v in samples.items()}
    print(f"\nLatency, one caller in lockstep, 640x480 JPEG ({len(jpeg) // 1000} kB), identity model, {runs} frames each")
    print(f"{'path':<12} {'median ms':>10} {'p99 ms':>8}")
    for k, (m, p) in med.items():
        print(f"{k:<12} {m:>10.2f} {p:>8.2f}")
    p, r, r64 = med["process"][0], med["ray"][0], med["ray base64"][0]
    print(f"ray adds {r - p:+.2f} ms per frame over the process backend (ratio {r / p:.2f}x)")
    print(f"base64 data URIs instead of Blob bytes on Ray: {r64 - r:+.2f} ms (ratio {r64 / r:.2f}x)")


async def drive(backend, command: str, inputs: dict, clients: int, seconds: float) -> float:
    """Frames per second from `clients` callers in lockstep, at most `backend.concurrency` in flight
    (what the host lets in flight on this backend)."""
    gate = asyncio.Semaphore(backend.concurrency)
    stop_at = time.perf_counter() + seconds
    done = 0

    async def client(c):
        nonlocal done
        k = 0
        while time.perf_counter() < stop_at:
            async with gate:
                await backend.call(command, {**inputs, **({"id": f"{c}-{k}"} if command == "echo" else {})},
                                   binary=True)
            done += 1
            k += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return done / (time.perf_counter() - t0)


async def throughput(model_dir, inputs: dict, options: dict, clients: int, seconds: float) -> dict:
    fps = {}
    command = "identity" if model_dir == IDENTITY else "echo"
    for n in (1, 2):
        backend = create("ray", model_dir, card(model_dir.name, n))
        await backend.start(options)
        try:
            await drive(backend, command, inputs, clients, 1.0)  # warm up both replicas
            fps[n] = await drive(backend, command, inputs, clients, seconds)
        finally:
            await backend.stop()
    return fps


async def main(args) -> None:
    jpeg = frame()
    _ray_cluster.connect("local", os.cpu_count())
    try:
        await latency(args.runs, jpeg)
        print(f"\nThroughput, {args.clients} callers in lockstep, {args.seconds:g} s per setting")
        print(f"{'model':<28} {'1 replica fps':>14} {'2 replicas fps':>15} {'ratio':>6}")
        blob = Blob("jpeg", jpeg)
        for label, model_dir, options in (("identity (CPU: codecs)", IDENTITY, {}),
                                          ("ray_echo (20 ms wait)", ECHO, {"work_ms": 20})):
            fps = await throughput(model_dir, {"image": blob}, options, args.clients, args.seconds)
            print(f"{label:<28} {fps[1]:>14.1f} {fps[2]:>15.1f} {fps[2] / fps[1]:>5.2f}x")
        print(f"(this machine: {os.cpu_count()} CPUs for the daemon, Ray and its replicas together)")
    finally:
        _ray_cluster.disconnect()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--clients", type=int, default=8)
    asyncio.run(main(p.parse_args()))
