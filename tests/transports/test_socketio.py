"""Socket.IO end to end: a real daemon, Node's socket.io-client as the independent peer, and a
python-socketio client for binary outputs and latest-frame-wins."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import socketio
from skimage import data as skdata

from conftest import free_port, launch_daemon

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
CLIENT_JS = NODE_DIR / "sio_client.js"
FACE_CENTRE = (0.435, 0.25)  # the astronaut's face, normalised (tests/adapters/test_face_detection.py)
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(
    NODE is None or not (NODE_DIR / "node_modules" / "socket.io-client").is_dir(),
    reason="needs node and socket.io-client: run `npm ci` in tests/node")


def Daemon(models: list[str], extra: list[str] = (), token: str | None = None):
    return launch_daemon(Path(tempfile.mkdtemp(prefix="sio-")), *models, args=list(extra), token=token)


@pytest.fixture(scope="module")
def daemon():
    d = Daemon(["haar_faces", "identity"], ["--backend", "identity=local"])
    yield d
    d.stop()


@pytest.fixture(scope="module")
def jpeg(tmp_path_factory) -> Path:
    """The astronaut as a JPEG over 47 KB: larger than one read of the polling upload."""
    buf = cv2.imencode(".jpg", cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
    path = tmp_path_factory.mktemp("sio") / "astronaut.jpg"
    path.write_bytes(buf.tobytes())
    assert path.stat().st_size > 47_000
    return path


def node(plan: dict) -> list[dict]:
    out = subprocess.run([NODE, str(CLIENT_JS), json.dumps(plan)], capture_output=True, text=True, timeout=60)
    events = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert out.returncode == 0, (events, out.stderr)
    return events


def of(events: list[dict], name: str) -> list:
    return [e["data"] for e in events if e["event"] == name]


def covers_face(box) -> bool:
    return box[0] <= FACE_CENTRE[0] <= box[2] and box[1] <= FACE_CENTRE[1] <= box[3]


@needs_node
def test_node_streams_frames_and_a_second_listener_gets_them(daemon, jpeg):
    listener = subprocess.Popen([NODE, str(CLIENT_JS), json.dumps({"url": f"{daemon.url}/?model=haar_faces",
                                                                  "listen_ms": 4000})],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = [json.loads(listener.stdout.readline()) for _ in range(2)]  # connect, then info
        assert [e["event"] for e in first] == ["connect", "info"], first
        events = node({"url": daemon.url, "jpeg": str(jpeg), "frames": 5, "send": "buffer"})
        out, err = listener.communicate(timeout=30)
    finally:
        listener.kill()
    # the streamer: info on connect, then one result per frame, ids echoed in order, the face found
    assert [e["event"] for e in events[:2]] == ["connect", "info"]
    info = of(events, "info")[0]
    assert [f["name"] for f in info["inputs"]][0] == "image" and info["outputs"][0]["name"] == "boxes"
    assert info["_meta"]["model"] == "haar_faces"
    results = of(events, "data")
    assert [d["_meta"]["frame"] for d in results] == [0, 1, 2, 3, 4]
    for d in results:
        assert len(d["boxes"]) == 1 and covers_face(d["boxes"][0]), d
        assert {"total", "queue"} <= set(d["_meta"]["timings"]) and d["_meta"]["dropped"] == 0
    assert not of(events, "error")
    # the listener sent nothing and still received the streamer's results, as data URIs would be
    heard = of([json.loads(line) for line in out.splitlines()], "data")
    frames = [d["_meta"]["frame"] for d in heard]
    assert frames and frames[-1] == 4 and set(frames) <= {0, 1, 2, 3, 4}, (frames, err)
    assert all(covers_face(d["boxes"][0]) for d in heard)


@needs_node
@pytest.mark.parametrize("send", ["buffer", "datauri"])
def test_node_large_frames_over_long_polling_only(daemon, jpeg, send):
    events = node({"url": daemon.url, "jpeg": str(jpeg), "frames": 3, "send": send,
                   "options": {"transports": ["polling"]}})
    assert of(events, "connect")[0]["transport"] == "polling" and of(events, "done")[0]["transport"] == "polling"
    assert not of(events, "error"), of(events, "error")
    results = of(events, "data")
    assert [d["_meta"]["frame"] for d in results] == [0, 1, 2]
    assert all(covers_face(d["boxes"][0]) for d in results)


@needs_node
def test_node_malformed_queries_get_errors_and_the_daemon_serves_on(daemon, jpeg):
    bad = ["a string", [1, 2], 42, {}, "$garbage", {"image": "not base64 !!"}, {"image": [1, 2, 3]},
           {"image": "x", "_meta": "not an object"}]
    events = node({"url": f"{daemon.url}/?model=haar_faces", "jpeg": str(jpeg), "malformed": bad,
                   "after_malformed": True})
    errors = of(events, "error")
    assert len(errors) == len(bad)
    assert all(isinstance(e["error"], str) and e["error"] and e["_meta"]["status"] == 400 for e in errors), errors
    assert "object" in errors[0]["error"] and "missing input 'image'" in errors[3]["error"]
    assert "JPEG or PNG" in errors[4]["error"]
    # the same client and a fresh one are still served
    assert of(events, "data")[-1]["_meta"]["frame"] == "after"
    again = node({"url": daemon.url, "jpeg": str(jpeg), "frames": 1})
    assert covers_face(of(again, "data")[0]["boxes"][0])


@needs_node
def test_node_namespace_per_model_binary_outputs_and_unknown_model(daemon, jpeg):
    events = node({"url": f"{daemon.url}/identity", "jpeg": str(jpeg), "frames": 2, "send": "buffer",
                   "options": {"query": {"binary": "1"}}})
    assert of(events, "info")[0]["_meta"] == {"model": "identity", "command": "identity",
                                              "stream": of(events, "info")[0]["_meta"]["stream"], "binary": True}
    for d in of(events, "data"):
        assert d["image"]["$head"].startswith("ffd8ff") and d["image"]["$bytes"] > 10_000  # a JPEG attachment
        assert d["label"] == "identity"
    # default (Runway): data URIs
    events = node({"url": f"{daemon.url}/?model=identity", "jpeg": str(jpeg), "frames": 1, "send": "datauri"})
    assert of(events, "data")[0]["image"].startswith("data:image/jpeg;base64,")
    events = node({"url": f"{daemon.url}/?model=nope"})
    assert "nope" in of(events, "connect_error")[0]["message"]
    events = node({"url": f"{daemon.url}/nope"})
    assert "nope" in of(events, "connect_error")[0]["message"]


@needs_node
def test_node_token_is_required(jpeg):
    d = Daemon(["haar_faces"], token="s3cret")
    try:
        refused = node({"url": d.url})
        assert of(refused, "connect_error") and not of(refused, "info")
        wrong = node({"url": d.url, "options": {"auth": {"token": "nope"}, "query": {"token": "nope"}}})
        assert of(wrong, "connect_error") and not of(wrong, "info")
        ok = node({"url": f"{d.url}/?token=s3cret", "jpeg": str(jpeg), "frames": 1})
        assert covers_face(of(ok, "data")[0]["boxes"][0])
        # the auth payload arrives after the HTTP handshake, so the handshake itself must pass the middleware
        urllib.request.urlopen(f"{d.url}/socket.io/?EIO=4&transport=polling", timeout=2).close()
        ok = node({"url": d.url, "jpeg": str(jpeg), "frames": 1, "options": {"auth": {"token": "s3cret"}}})
        assert covers_face(of(ok, "data")[0]["boxes"][0])
        refused = node({"url": d.url})
        assert "token" in of(refused, "connect_error")[0]["message"]
    finally:
        d.stop()


async def _client(url: str, namespace: str = "/", **kw) -> tuple[socketio.AsyncClient, asyncio.Queue]:
    c = socketio.AsyncClient(reconnection=False)
    q: asyncio.Queue = asyncio.Queue()
    for ev in ("info", "data", "error"):
        c.on(ev, lambda d, ev=ev: q.put_nowait((ev, d)), namespace=namespace)
    await c.connect(url, wait_timeout=10, **kw)
    return c, q


async def _next(q: asyncio.Queue, event: str):
    while True:
        ev, d = await asyncio.wait_for(q.get(), 10)
        if ev == event:
            return d


async def test_python_client_binary_png_outputs_and_latest_frame_wins(daemon, jpeg):
    frame = jpeg.read_bytes()
    c, q = await _client(f"{daemon.url}?model=haar_faces", transports=["websocket"])
    try:
        await _next(q, "info")
        for i in range(40):  # far faster than the model: waiting frames are replaced, not queued
            await c.emit("query", {"image": frame, "frame": i})
        results = []
        while not results or results[-1]["_meta"]["frame"] != 39:
            results.append(await _next(q, "data"))
        assert len(results) < 40 and results[-1]["_meta"]["dropped"] > 0
        assert all(d["_meta"]["frame"] is not None for d in results)
        await c.emit("query")  # no argument at all
        assert "got 0 arguments" in (await _next(q, "error"))["error"]
    finally:
        await c.disconnect()
    c, q = await _client(f"{daemon.url}?binary=1&format=png", "/identity", namespaces=["/identity"])
    try:
        assert (await _next(q, "info"))["_meta"]["binary"] is True
        await c.emit("query", {"image": frame, "_meta": {"frame": "p"}}, namespace="/identity")
        d = await _next(q, "data")
        assert isinstance(d["image"], bytes) and d["image"].startswith(b"\x89PNG") and d["_meta"]["frame"] == "p"
        img = cv2.imdecode(np.frombuffer(d["image"], np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (512, 512, 3)
    finally:
        await c.disconnect()


def test_raw_long_polling_upload_arriving_in_two_parts(daemon, jpeg):
    """Engine.IO v4 long polling by hand: the ``query`` POST reaches the daemon in two TCP writes
    0.2 s apart, which the shipped aiohttp driver would cut short ("Incorrect padding")."""
    base = f"{daemon.url}/socket.io/?EIO=4&transport=polling"
    with urllib.request.urlopen(base, timeout=5) as r:
        sid = json.loads(r.read().decode()[1:])["sid"]
    url = f"{base}&sid={sid}"
    urllib.request.urlopen(urllib.request.Request(url, data=b"40", method="POST"), timeout=5).close()
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg.read_bytes()).decode()
    body = ("42" + json.dumps(["query", {"image": uri, "frame": 7}])).encode()
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as s:
        s.sendall(f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                  + body[:20_000])
        time.sleep(0.2)
        s.sendall(body[20_000:])
        assert b" 200 " in s.makefile("rb").readline()
    events = []
    while not any(e[0] in ("data", "error") for e in events):
        with urllib.request.urlopen(url, timeout=10) as r:
            packets = r.read().decode().split("\x1e")
        events += [json.loads(p[2:]) for p in packets if p.startswith("42")]
    data = next(e[1] for e in events if e[0] in ("data", "error"))
    assert data["_meta"]["frame"] == 7 and covers_face(data["boxes"][0]), data
    urllib.request.urlopen(urllib.request.Request(url, data=b"1", method="POST"), timeout=5).close()


async def test_polling_upload_is_read_whole_by_the_driver_fix():
    """The cause of "Incorrect padding": engine.io's aiohttp driver reads a polling POST with
    ``request.content.read(length)``, which returns only what has arrived so far. A body that arrives
    in two parts shows it; the bridge's request translation hands engine.io the whole body."""
    from aiohttp import web
    from engineio.async_drivers import aiohttp as driver

    from runway_bridge.transports.socketio import _translate_request

    seen = {}

    async def handler(request):
        translate = driver.translate_request if request.query["fix"] == "0" else _translate_request
        environ = await translate(request) if request.query["fix"] == "1" else translate(request)
        seen[request.query["fix"]] = len(await environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    body = b"4" + b"A" * 99_999
    try:
        for fix in ("0", "1"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"POST /?fix={fix} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + body[:30_000])
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(body[30_000:])
            await writer.drain()
            assert b" 200 " in await reader.readline()
            writer.close()
            await writer.wait_closed()
    finally:
        await runner.cleanup()
    assert seen["0"] < len(body)  # the driver as shipped: cut short
    assert seen["1"] == len(body)  # with the fix: whole
