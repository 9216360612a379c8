"""Round trip of a 640x480 JPEG through an identity model, against floors measured in the same run.

    .venv/bin/python benchmarks/bench_transport.py [--runs 300]

One client in lockstep (send, wait for the answer, repeat), keep-alive connections, over:
- WebSocket binary (the fast path). Floor: JPEG decode + encode + a raw WebSocket echo of the
  same bytes. Budget (DESIGN 5): median at most floor + 1 ms.
- HTTP ``POST /query`` (Runway protocol, base64 JSON). Floor: the above plus base64 and JSON
  coding of the frame, and a raw HTTP echo. Budget: median at most floor + 2 ms.
- Socket.IO ``query``/``data`` (binary attachment), against a raw python-socketio echo.
Prints medians, p99, the overhead over the floor and the verdict for each.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time

import aiohttp
from _common import ROOT, frame, free_port, median_p99, serve, start

from runway_bridge import _codec
from runway_bridge.types import Blob
from runway_bridge.wire import decode_frame, encode_frame


def time_codec(jpg: bytes, runs: int) -> dict[str, list[float]]:
    """The work the floor charges: JPEG decode + encode (q80), and base64 + JSON both ways, with
    the codecs the daemon uses (`runway_bridge._codec`)."""
    out: dict[str, list[float]] = {"jpeg": [], "b64json": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        _codec.jpeg_encode(_codec.jpeg_decode(jpg), 80)
        t1 = time.perf_counter()
        body = json.dumps({"image": "data:image/jpeg;base64," + _codec.b64encode(jpg)})
        back = json.loads(body)
        _codec.b64decode(back["image"].split(",", 1)[1])
        json.loads(json.dumps({"image": back["image"]}))
        t2 = time.perf_counter()
        out["jpeg"].append((t1 - t0) * 1000)
        out["b64json"].append((t2 - t1) * 2 * 1000)  # once each way
    return out


async def lockstep(fn, runs: int, warmup: int = 30) -> list[float]:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def bench(bridge: str, echo: str, jpg: bytes, runs: int) -> dict:
    res: dict[str, list[float]] = {}
    uri = "data:image/jpeg;base64," + base64.b64encode(jpg).decode()
    conn = aiohttp.TCPConnector(limit=4, force_close=False)
    async with aiohttp.ClientSession(connector=conn) as s:
        async with s.ws_connect(echo.replace("http", "ws") + "/ws", compress=0) as ws:
            async def raw_ws():
                await ws.send_bytes(jpg)
                await ws.receive()
            res["ws_echo"] = await lockstep(raw_ws, runs)

        async with s.ws_connect(bridge.replace("http", "ws") + "/stream", compress=0) as ws:
            msg = encode_frame({"frame": 0}, [("image", Blob("jpeg", jpg))])

            async def bridge_ws():
                await ws.send_bytes(msg)
                header, parts = decode_frame((await ws.receive()).data)
                assert "image" in parts, header
            res["ws_bridge"] = await lockstep(bridge_ws, runs)

        body = json.dumps({"image": uri})

        async def raw_http():
            async with s.post(echo + "/echo", data=body) as r:
                await r.read()
        res["http_echo"] = await lockstep(raw_http, runs)

        async def bridge_http():
            async with s.post(bridge + "/query", data=body) as r:
                out = await r.json()
                assert out["image"].startswith("data:image/jpeg"), out
        res["http_bridge"] = await lockstep(bridge_http, runs)

    for name, url in (("sio_echo", echo), ("sio_bridge", bridge + "?binary=1")):
        try:
            res[name] = await sio_lockstep(url, jpg, runs)
        except Exception as e:  # report, don't hide, a broken transport
            print(f"  socket.io {name}: {type(e).__name__}: {e}")
    return res


async def sio_lockstep(url: str, jpg: bytes, runs: int) -> list[float]:
    import socketio

    client = socketio.AsyncClient()
    got: asyncio.Queue = asyncio.Queue()
    client.on("data", got.put_nowait)
    await client.connect(url, transports=["websocket"])
    await asyncio.sleep(0.2)
    while not got.empty():
        got.get_nowait()

    async def round_trip():
        await client.emit("query", {"image": jpg, "frame": 1})
        await asyncio.wait_for(got.get(), 10)

    try:
        return await lockstep(round_trip, runs)
    finally:
        await client.disconnect()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    eport = free_port()
    print("Starting the daemon (identity model) and the echo floor server...", flush=True)
    daemon, bridge_url = serve("--model", "identity", "--backend", "identity=local")
    echo = start([sys.executable, str(ROOT / "benchmarks/_echo.py"), str(eport)], f"http://127.0.0.1:{eport}/health")
    try:
        jpg = frame()
        codec = time_codec(jpg, args.runs)
        res = asyncio.run(bench(bridge_url, f"http://127.0.0.1:{eport}", jpg, args.runs))
    finally:
        daemon.terminate()
        echo.terminate()
    jpeg_ms, b64_ms = statistics.median(codec["jpeg"]), statistics.median(codec["b64json"])
    print(f"\n640x480 JPEG q80, {len(jpg)} bytes; {args.runs} lockstep round trips each; medians in ms")
    print(f"  JPEG decode+encode {jpeg_ms:.3f}   base64+JSON both ways {b64_ms:.3f}\n")
    print(f"  {'path':<22}{'median':>8}{'p99':>8}{'floor':>8}{'overhead':>10}{'budget':>8}{'ratio':>7}  verdict")
    rows = [("WebSocket binary", "ws_bridge", "ws_echo", jpeg_ms, 1.0),
            ("HTTP /query (base64)", "http_bridge", "http_echo", jpeg_ms + b64_ms, 2.0),
            ("Socket.IO binary", "sio_bridge", "sio_echo", jpeg_ms, None)]
    for label, key, floor_key, extra, budget in rows:
        if key not in res or floor_key not in res:
            print(f"  {label:<22} not measured")
            continue
        med, p99 = median_p99(res[key])
        floor = statistics.median(res[floor_key]) + extra
        over = med - floor
        verdict = "-" if budget is None else ("PASS" if over <= budget else "OVER BUDGET")
        print(f"  {label:<22}{med:8.2f}{p99:8.2f}{floor:8.2f}{over:10.2f}{budget or 0:8.1f}{med / floor:7.2f}  {verdict}")


if __name__ == "__main__":
    main()
