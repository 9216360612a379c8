"""The remote backend: two real daemons on loopback, one serving the other's models.

The remote daemon runs with ``--token`` (the fixture ``identity`` model on its local backend); the
local daemon runs with ``--remote URL --remote-token T`` and knows nothing of the fixtures, so
``identity`` reaches it only through the remote. Frames go through the local daemon's WebSocket
fast path, over the link, to the remote's, and back.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import aiohttp
import numpy as np
import pytest

from runway_bridge.backends import BackendState
from runway_bridge.backends.remote import RemoteBackend
from runway_bridge.errors import BadInput, Conflict, InferenceError, SetupError, Unauthorized
from runway_bridge.types import Blob, decode_image_bytes
from runway_bridge.wire import encode_frame

from conftest import FIXTURE_ADAPTERS, ROOT, Server, _env, free_port, http, jpeg, wait_http, ws_message

TOKEN = "tok-9f2c41d7e0b3-remote-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def remote_daemon(tmp_path):
    """Factory: ``remote_daemon(port=None)`` starts a token-protected daemon with the fixture adapters."""
    started: list[Server] = []

    def start(port: int | None = None) -> Server:
        port = port or free_port()
        log = tmp_path / f"remote-{port}-{len(started)}.log"
        cmd = [sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc",
               "--adapters", str(FIXTURE_ADAPTERS), "--token", TOKEN, "--backend", "identity=local"]
        proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT, env=_env())
        server = Server(proc, port, log=log)
        started.append(server)
        wait_http(server.url + "/healthz", proc)
        return server

    yield start
    for s in started:
        s.stop()


def status(server: Server, model_id: str) -> dict:
    code, _, body = server.get(f"/v1/models/{model_id}")
    assert code == 200, body
    return body["status"]


def frame_bytes(i: int) -> bytes:
    """A 160x120 JPEG whose grey level encodes i, so an answer proves which frame it came from."""
    return jpeg(np.full((120, 160, 3), 20 + 10 * i, np.uint8))


async def stream_frames(url: str, frames: list[int], timeout: float = 10) -> list[dict]:
    """Send each frame in lockstep over the local daemon's fast path; return the answers."""
    out = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        for i in frames:
            await ws.send_bytes(encode_frame({"frame": i}, [("image", Blob("jpeg", frame_bytes(i)))]))
            header = ws_message(await ws.receive(timeout=timeout))
            out.append(header)
    return out


def ws_url(server: Server, model_id: str) -> str:
    return server.url.replace("http", "ws") + f"/v1/models/{model_id}/stream"


def test_two_daemons_stream_and_survive_a_remote_restart(daemon, remote_daemon):
    remote = remote_daemon()
    local = daemon("identity", fixtures=False, args=["--remote", remote.url, "--remote-token", TOKEN,
                                                     "--option", "identity:label=far"])
    # the remote's models are in the local catalogue, marked remote; clashing ids get @host:port
    _, _, listing = local.get("/v1/models")
    ids = {m["id"]: m for m in listing["models"]}
    assert ids["identity"]["backend"] == "remote" and ids["identity"]["status"] == "RUNNING"
    assert f"haar_faces@127.0.0.1:{remote.port}" in ids and ids["haar_faces"]["backend"] == "local"
    st = status(local, "identity")
    assert st["state"] == "RUNNING" and st["backend"] == "remote" and st["detail"] is None
    # the local start started it on the remote, with the options given here
    _, _, there = http("GET", remote.url + "/v1/models/identity", headers=AUTH)
    assert there["status"]["state"] == "RUNNING" and there["status"]["options"]["label"] == "far"

    answers = asyncio.run(stream_frames(ws_url(local, "identity"), [1, 2, 3, 4, 5]))
    assert [a["frame"] for a in answers] == [1, 2, 3, 4, 5]
    for i, a in enumerate(answers, 1):
        assert a["type"] == "result", a
        assert a["outputs"]["label"] == "far"  # computed by the remote's setup
        img = decode_image_bytes(a["parts"]["image"].data)
        assert img.shape == (120, 160, 3) and abs(float(img.mean()) - (20 + 10 * i)) < 2
        assert {"decode", "model", "encode", "link", "total"} <= set(a["timings"])
    # the remote served those frames on its own fast path
    _, _, there = http("GET", remote.url + "/v1/models/identity", headers=AUTH)
    assert sum(s["processed"] for s in there["status"]["streams"]) == 5

    # the remote dies: the local daemon says so, and clients get 503s at once, not silence
    remote.proc.kill()
    remote.proc.wait()
    deadline = time.monotonic() + 5
    while "unreachable" not in (status(local, "identity")["detail"] or "") and time.monotonic() < deadline:
        time.sleep(0.05)
    detail = status(local, "identity")["detail"]
    assert detail and f"remote {remote.url} unreachable" in detail and "retrying in" in detail
    t0 = time.monotonic()
    code, headers, body = local.post("/v1/models/identity/commands/identity", frame_bytes(1),
                                     headers={"Content-Type": "image/jpeg"})
    assert code == 503 and "Retry-After" in headers and remote.url in body["error"], body
    (answer,) = asyncio.run(stream_frames(ws_url(local, "identity"), [6]))
    assert answer["type"] == "error" and answer["status"] == 503 and answer["frame"] == 6
    assert "unreachable" in answer["error"]
    assert time.monotonic() - t0 < 2

    # a new remote on the same port: the link comes back, the model is started there again with the
    # same options, and frames flow with no one touching the local daemon
    remote2 = remote_daemon(remote.port)
    deadline = time.monotonic() + 30
    while status(local, "identity")["detail"] is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status(local, "identity")["detail"] is None
    answers = asyncio.run(stream_frames(ws_url(local, "identity"), [7, 8]))
    assert [(a["type"], a["frame"], a["outputs"]["label"]) for a in answers] == [("result", 7, "far"), ("result", 8, "far")]
    _, _, there = http("GET", remote2.url + "/v1/models/identity", headers=AUTH)
    assert there["status"]["state"] == "RUNNING" and there["status"]["options"]["label"] == "far"

    # the token never reaches a log
    for server in (local, remote, remote2):
        assert TOKEN not in server.output()
    assert "unreachable" in local.output() and "is back" in local.output()


def test_remote_needs_its_token():
    proc = subprocess.run([sys.executable, "-m", "runway_bridge", "serve", "--port", str(free_port()), "--no-osc",
                           "--remote", "http://127.0.0.1:9"], capture_output=True, text=True, cwd=ROOT,
                          env={k: v for k, v in _env().items() if k != "RUNWAY_BRIDGE_REMOTE_TOKEN"}, timeout=30)
    assert proc.returncode != 0 and "--remote-token" in proc.stderr
    with pytest.raises(BadInput, match="--remote-token"):
        RemoteBackend(card={"id": "x", "remote": {"url": "http://127.0.0.1:9", "id": "x"}})


def test_catalogue_arrives_when_the_remote_starts_later(daemon, remote_daemon):
    port = free_port()
    local = daemon(fixtures=False, args=["--remote", f"127.0.0.1:{port}", "--remote-token", TOKEN])
    _, _, listing = local.get("/v1/models")
    assert "identity" not in {m["id"] for m in listing["models"]}  # nobody there yet
    remote_daemon(port)
    wait_http(local.url + "/v1/models", local.proc, 20,
              lambda s, b: "identity" in {m["id"] for m in b["models"]})
    code, _, body = local.get("/v1/models/identity")  # the manifest comes from the remote
    remote_card = body["card"]["remote"]
    assert code == 200 and (remote_card["url"], remote_card["id"]) == (f"http://127.0.0.1:{port}", "identity")
    assert [c["name"] for c in body["manifest"]["commands"]] == ["identity"]
    code, _, body = local.post("/v1/models/identity/start?wait=1", {"options": {"label": "late"}})
    assert code == 200 and body["state"] == "RUNNING", body
    code, _, out = local.post("/v1/models/identity/commands/identity", frame_bytes(3),
                              headers={"Content-Type": "image/jpeg"})
    assert code == 200 and out["label"] == "late" and out["image"].startswith("data:image/jpeg;base64,")
    code, _, body = local.post("/v1/models/identity/start", {"backend": "local"})
    assert code == 400 and "remote model" in body["error"]


# -- the backend on its own, against a real remote daemon ---------------------------------------


def _backend(url: str, model_id: str = "identity", token: str = TOKEN) -> RemoteBackend:
    return RemoteBackend(card={"id": model_id, "remote": {"url": url, "id": model_id}}, token=token)


@pytest.mark.asyncio
async def test_backend_calls_formats_errors_and_nodelay(remote_daemon, jpeg_frame):
    remote = remote_daemon()
    backend = _backend(remote.url)
    await backend.start({"label": "b"})
    try:
        sock = backend._ws.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # REFERENCE 2: no Nagle stall
        timings: dict = {}
        out = await backend.call("identity", {"image": jpeg_frame}, binary=True, timings=timings)
        assert out["label"] == "b" and isinstance(out["image"], Blob) and out["image"].format == "jpeg"
        assert decode_image_bytes(out["image"].data).shape == (480, 640, 3)
        assert {"decode", "model", "encode", "link"} <= set(timings) and timings["link"] >= 0
        raw = np.full((8, 6, 3), 77, np.uint8)  # pixel arrays travel raw
        out = await backend.call("identity", {"image": raw})
        assert out["image"].startswith("data:image/jpeg;base64,")
        out = await backend.call("identity", {"image": jpeg_frame}, binary=True, formats={"image": "png"})
        assert out["image"].format == "png" and out["label"] == "b"  # output formats: the HTTP path
        with pytest.raises(BadInput) as e:
            await backend.call("identity", {})
        assert e.value.status == 400
        assert (await backend.call("identity", {"image": raw}))["label"] == "b"  # the link lives on
        assert (await backend.manifest())["commands"][0]["name"] == "identity"
    finally:
        await backend.stop()
    assert backend.state is BackendState.STOPPED
    _, _, there = http("GET", remote.url + "/v1/models/identity", headers=AUTH)
    assert there["status"]["state"] == "STOPPED"  # stop frees the remote too


@pytest.mark.asyncio
async def test_backend_model_errors_partials_and_bad_token(remote_daemon):
    remote = remote_daemon()
    backend = _backend(remote.url, "kitchen_sink")
    await backend.start({})
    try:
        with pytest.raises(InferenceError, match=r"ValueError\('kaput'\)"):
            await backend.call("fail", {"message": "kaput"})
        partials = []
        out = await backend.call("count", {"steps": 3}, on_partial=lambda o, i: partials.append((i, o)))
        assert out["n"] == 3 and partials  # partials may be dropped (latest wins), the final never
    finally:
        await backend.stop()
    with pytest.raises(Unauthorized, match="refused the token"):
        await _backend(remote.url, token="wrong").start({})
    dead = _backend(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SetupError, match="unreachable"):
        await dead.start({})
    assert dead.state is BackendState.FAILED
    with pytest.raises(Conflict):
        await dead.call("identity", {})
