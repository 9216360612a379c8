"""Replicas: face_mesh with one instance vs two on a 2-core machine, several streaming clients.

    .venv/bin/python benchmarks/bench_replicas.py [--clients 4] [--rounds 3] [--seconds 4]

Two daemons, started side by side: ``serve --model face_mesh`` and ``serve --model face_mesh
--replicas face_mesh=2`` (two model threads: MediaPipe releases the GIL), each pinned to the same
two cores when the machine has more. Every client streams the astronaut photo as a 640x480 JPEG
(a camera-sized frame with one face) over the WebSocket fast path, one frame in flight, the next
when its result arrives, so the rate is what the daemon sustains and the latency is what a client
waits. Rounds alternate between the two daemons; fps and p99 are medians over rounds. "busy" is
the daemon's CPU time over wall time, and its CPU per frame gives the ceiling the cores allow: a
replicas=1 daemon already overlaps decoding the next frame with inference on the codec pool, so on
2 cores a second replica can add at most 2 x inference / (all the CPU a frame takes) over it.
Targets (issue 12): fps at least 1.7x, p99 latency no worse.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import aiohttp
from _common import ROOT, frame, free_port, median_p99, start

from runway_bridge.types import Blob
from runway_bridge.wire import encode_frame


def launch(replicas: int, cores: list[int] | None, backend: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc", "--no-legacy-ports",
           "--adapters", str(ROOT / "adapters"), "--model", "face_mesh", "--backend", f"face_mesh={backend}"]
    if replicas > 1:
        cmd += ["--replicas", f"face_mesh={replicas}"]
    if cores:
        cmd = ["taskset", "-c", ",".join(map(str, cores)), *cmd]
    return start(cmd, f"http://127.0.0.1:{port}/readyz", timeout=120), f"http://127.0.0.1:{port}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, its threads and its worker processes included
    (the process backend's replicas are children of the daemon)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):  # a child is listed under the thread that spawned it
        try:
            kids += open(f"/proc/{pid}/task/{task}/children").read().split()
        except OSError:
            pass
    return own + sum(cpu_seconds(int(k)) for k in kids if os.path.exists(f"/proc/{k}/stat"))


async def client(url: str, jpg: bytes, seconds: float, latencies: list, faces: list) -> int:
    n = 0
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            await ws.send_bytes(encode_frame({"frame": n}, [("image", Blob("jpeg", jpg))]))
            msg = await ws.receive(timeout=30)
            latencies.append((time.perf_counter() - t0) * 1000)
            # The client shares the two cores with the daemon: it reads only the head of most results
            # (478 landmarks are ~30 KB of JSON) and parses every 20th in full to count the faces.
            text = msg.data if msg.type == aiohttp.WSMsgType.TEXT else ""
            if not text.startswith('{"type":"result"') or f'"frame":{n},' not in text[:200]:
                raise SystemExit(f"expected the result of frame {n}, got {str(msg.data)[:300]}")
            if n % 20 == 0:
                faces.append(len(json.loads(text)["outputs"].get("boxes") or []))
            n += 1
    return n


async def measure(base: str, clients: int, jpg: bytes, seconds: float) -> tuple[float, float, list]:
    url = base.replace("http", "ws") + "/v1/models/face_mesh/stream"
    latencies: list[float] = []
    faces: list[int] = []
    t0 = time.perf_counter()
    counts = await asyncio.gather(*(client(url, jpg, seconds, latencies, faces) for _ in range(clients)))
    return sum(counts) / (time.perf_counter() - t0), median_p99(latencies)[1], faces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4, help="per round and daemon")
    ap.add_argument("--backend", default="local", choices=["local", "process"],
                    help="replicas as model threads (local) or worker processes (process)")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    cores = cpus[:2] if len(cpus) > 2 else None
    jpg = frame((640, 480), 80)
    daemons = {}
    try:
        for n in (1, 2):
            daemons[n] = launch(n, cores, args.backend)
        for _, base in daemons.values():  # warm up both: first inferences, thread pools
            asyncio.run(measure(base, args.clients, jpg, 1))
        fps: dict[int, list] = {1: [], 2: []}
        p99: dict[int, list] = {1: [], 2: []}
        busy: dict[int, list] = {1: [], 2: []}
        clients: dict[int, list] = {1: [], 2: []}
        faces: list[int] = []
        for r in range(args.rounds):
            for n in ((1, 2) if r % 2 == 0 else (2, 1)):
                pid, c0, t0, own = daemons[n][0].pid, cpu_seconds(daemons[n][0].pid), time.perf_counter(), time.process_time()
                rate, tail, seen = asyncio.run(measure(daemons[n][1], args.clients, jpg, args.seconds))
                busy[n].append((cpu_seconds(pid) - c0) / (time.perf_counter() - t0))
                clients[n].append((time.process_time() - own) / (time.perf_counter() - t0))
                fps[n].append(rate)
                p99[n].append(tail)
                faces += seen
    finally:
        for proc, _ in daemons.values():
            proc.terminate()
            proc.wait(10)
    if not faces or min(faces) < 1:
        print(f"  warning: some results found no face ({faces.count(0)} of {len(faces)}): not a fair load")
    f1, f2 = statistics.median(fps[1]), statistics.median(fps[2])
    l1, l2 = statistics.median(p99[1]), statistics.median(p99[2])
    where = f"pinned to cores {cores}" if cores else f"on all {len(cpus)} cores"
    print(f"face_mesh, {args.clients} clients, 640x480 JPEG, one frame in flight each, daemon {where}; "
          f"medians of {args.rounds} rounds of {args.seconds:g} s")
    cpu_ms = {}
    for n, f, tail in ((1, f1, l1), (2, f2, l2)):
        cpu_ms[n] = statistics.median(b / r * 1000 for b, r in zip(busy[n], fps[n], strict=True))
        print(f"  replicas={n}  {f:6.1f} fps   p99 {tail:6.1f} ms   busy cores: daemon {statistics.median(busy[n]):.2f}, "
              f"clients {statistics.median(clients[n]):.2f}   daemon CPU {cpu_ms[n]:.1f} ms/frame   "
              f"(rounds: {', '.join(f'{x:.0f}' for x in fps[n])} fps)")
    cores = len(cores or cpus)
    print(f"  ceiling: {cores} cores at {cpu_ms[2]:.1f} ms of daemon CPU per frame allow {cores * 1000 / cpu_ms[2]:.0f} fps")
    print(f"  fps ratio {f2 / f1:.2f}x   target >= 1.7x: {'PASS' if f2 / f1 >= 1.7 else 'BELOW TARGET'}")
    print(f"  p99 ratio {l2 / l1:.2f}x   target <= 1.0x: {'PASS' if l2 <= l1 else 'WORSE'}")


if __name__ == "__main__":
    main()
