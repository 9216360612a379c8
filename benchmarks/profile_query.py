"""Where the server CPU of one ``POST /query`` frame goes: the table in docs/benchmarks.md.

    .venv/bin/python benchmarks/profile_query.py [--requests 1000]

Two views of the same 640x480 JPEG q80 through the identity model, everything pinned to one core:
- each stage of the frame's path run alone in this process (the functions the daemon calls),
  CPU per call;
- the daemon itself (local backend), its CPU per frame split by thread (the event loop, which
  parses HTTP and JSON, and the model's thread, which decodes, runs and encodes), user and
  system, next to a bare aiohttp echo of the same body (HTTP and loopback alone).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from pathlib import Path

from _common import ROOT, frame, free_port, start
from bench_throughput import measure, pinned, start_daemon

from runway_bridge import jsonsafe, wire
from runway_bridge.transports import _http
from runway_bridge.types import DecodeContext, decode_base64, decode_image_bytes, image

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ms(fn, n: int = 300) -> float:
    for _ in range(20):
        fn()
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) * 1000 / n


def stages() -> list[tuple[str, float]]:
    jpg = frame()
    uri = "data:image/jpeg;base64," + base64.b64encode(jpg).decode()
    body = json.dumps({"image": uri}).encode()
    typ, ctx = image(), DecodeContext()
    pixels = typ.deserialize(uri, ctx)
    blob = typ.serialize(pixels, binary=True)
    outputs = {"image": blob, "label": "identity"}
    has_splice = hasattr(wire, "outputs_json")
    rows = [
        ("body: NUL scan (read_json)", lambda: b"\\" in body and b"\\u0000" in body if has_splice else b"\\u0000" in body),
        ("body: jsonsafe.loads", lambda: jsonsafe.loads(body)),
        ("input: base64 decode of the data URI", lambda: decode_base64(uri)),
        ("input: JPEG decode to RGB (decode_image_bytes)", lambda: decode_image_bytes(jpg)),
        ("output: JPEG encode from RGB (image.serialize)", lambda: typ.serialize(pixels, binary=True)),
        ("output: base64 + data URI + JSON body", (lambda: wire.outputs_json(outputs)) if has_splice else
         (lambda: jsonsafe.dumps(wire.outputs_to_json(outputs)).encode())),
    ]
    return [(label, cpu_ms(fn)) for label, fn in rows]


def per_thread(pid: int) -> dict[str, tuple[int, int]]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        out[task.name] = (int(fields[11]), int(fields[12]))
    return out


async def daemon_split(n: int) -> tuple[dict[str, tuple[float, float]], float, float]:
    body = json.dumps({"image": "data:image/jpeg;base64," + base64.b64encode(frame()).decode()}).encode()
    port = free_port()
    echo = start([sys.executable, str(ROOT / "benchmarks/_echo.py"), str(port)], f"http://127.0.0.1:{port}/health",
                 preexec_fn=pinned(0))
    daemon, url = start_daemon(0, [])
    try:
        echo_ms = (await measure(f"http://127.0.0.1:{port}", "/echo", body, n, 1, echo.pid))[0]
        await measure(url, "/query", body, 100, 1, daemon.pid)
        before = per_thread(daemon.pid)
        total = (await measure(url, "/query", body, n, 1, daemon.pid))[0]
        after = per_thread(daemon.pid)
    finally:
        echo.terminate()
        daemon.terminate()
    main_tid = str(daemon.pid)
    split: dict[str, tuple[float, float]] = {}
    for tid, (u1, s1) in after.items():
        u0, s0 = before.get(tid, (0, 0))
        if u1 - u0 or s1 - s0:
            name = "event loop thread" if tid == main_tid else f"worker thread {tid}"
            split[name] = ((u1 - u0) * 1000 / TICK / n, (s1 - s0) * 1000 / TICK / n)
    return split, total, echo_ms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[1]})
    print("Each stage alone (this process), CPU ms per frame:")
    rows = stages()
    for label, ms in rows:
        print(f"  {label:<50}{ms:7.3f}")
    print(f"  {'sum':<50}{sum(ms for _, ms in rows):7.3f}")
    split, total, echo_ms = asyncio.run(daemon_split(args.requests))
    print(f"\nThe daemon, pinned to one core, {args.requests} lockstep requests: {total:.2f} ms/frame in all")
    for name, (user, system) in split.items():
        print(f"  {name:<50}user {user:5.2f}  system {system:5.2f}")
    print(f"  bare aiohttp echo of the same body (HTTP + loopback alone): {echo_ms:.2f} ms/frame")
    print(f"  (fast paths: simplejpeg {'yes' if _has('simplejpeg') else 'no'}, "
          f"pybase64 {'yes' if _has('pybase64') else 'no'}, outputs spliced {'yes' if hasattr(_http, 'outputs_response') else 'no'})")


def _has(name: str) -> bool:
    from runway_bridge import _codec

    return getattr(_codec, name, None) is not None


if __name__ == "__main__":
    main()
