"""The ray backend on a real local Ray (2 CPUs, started once for the module): replicas share the
frames of 16 clients, a replica killed mid-stream is replaced and its client gets an error then
results, frame ids survive, setup errors are the model's, and stop deletes the deployment.

Most tests go through the daemon (its WebSocket fast path and HTTP API, in this process, on the
same Ray); one runs ``runway-bridge serve --ray ADDRESS`` as a separate process that joins it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from runway_bridge.backends import _ray_cluster, create
from runway_bridge.backends import ray as ray_backend
from runway_bridge.config import Config
from runway_bridge.daemon import create_app
from runway_bridge.errors import BadInput, SetupError
from runway_bridge.types import Blob
from runway_bridge.wire import encode_frame

from conftest import ROOT, free_port, http, wait_http, ws_message

ray = pytest.importorskip("ray", reason="Ray Serve is not installed: pip install -e '.[ray]' (CI installs it)")
serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed: pip install -e '.[ray]'")

ADAPTERS = Path(__file__).resolve().parent.parent / "fixtures" / "ray_adapters"
ECHO = ADAPTERS / "ray_echo"
DISPATCH = ROOT / "tests" / "fixtures" / "adapters" / "dispatch"  # the host's batching fixture
CARD = {"id": "ray_echo", "replicas": 2, "ray": {"num_cpus": 0.5}}

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module, bounded to 2 CPUs, started through the backend's own code."""
    assert _ray_cluster.connect("local", 2) is True  # this process owns it: the last user shuts it down
    yield ray
    _ray_cluster.disconnect()
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def frame() -> Blob:
    ok, buf = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))
    return Blob("jpeg", buf.tobytes())


class Daemon:
    """The daemon in this process (so it shares the module's Ray), on a free port."""

    def __init__(self, **config):
        cfg = Config(port=0, osc_port=None, socketio_port=None, builtin_adapters=False, adapters=[ADAPTERS],
                     **config)
        self.server = TestServer(create_app(cfg), host="127.0.0.1")

    async def __aenter__(self):
        await self.server.start_server()
        self.url = str(self.server.make_url("")).rstrip("/")
        self.session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc):
        await self.session.close()
        await self.server.close()

    async def status(self, model="ray_echo") -> dict:
        async with self.session.get(f"{self.url}/v1/models/{model}") as r:
            return (await r.json())["status"]

    async def wait_state(self, state, model="ray_echo", timeout=120) -> dict:
        deadline = time.monotonic() + timeout
        while (st := await self.status(model))["state"] != state:
            assert time.monotonic() < deadline, f"{model} still {st} after {timeout} s"
            assert st["state"] != "FAILED", st
            await asyncio.sleep(0.2)
        return st

    def ws(self, model="ray_echo"):
        return self.session.ws_connect(f"{self.url.replace('http', 'ws')}/v1/models/{model}/stream")


async def _lockstep(ws, ids, image: Blob) -> list[dict]:
    """Send each frame when the previous answer arrived; the answers (results and errors) in order."""
    answers = []
    for i in ids:
        await ws.send_bytes(encode_frame({"frame": i, "inputs": {"id": str(i)}}, [("image", image)]))
        header = ws_message(await ws.receive(timeout=60))
        answers.append(header)
    return answers


def test_sixteen_clients_spread_over_two_replicas_and_keep_their_ids(local_ray, frame):
    async def go():
        async with Daemon(models=["ray_echo"]) as d:
            st = await d.wait_state("RUNNING")
            assert st["backend"] == "ray"

            async def client(c):
                async with d.ws() as ws:
                    return await _lockstep(ws, [f"c{c}-f{k}" for k in range(6)], frame)

            return await asyncio.gather(*(client(c) for c in range(16)))

    per_client = asyncio.run(go())
    pids = set()
    for c, answers in enumerate(per_client):
        assert [a.get("type") for a in answers] == ["result"] * 6, answers
        want = [f"c{c}-f{k}" for k in range(6)]
        assert [a["frame"] for a in answers] == want  # the ids the client sent, in its order
        assert [a["outputs"]["id"] for a in answers] == want  # and the replica saw those very frames
        assert all(a["parts"]["image"].data[:3] == b"\xff\xd8\xff" for a in answers)
        pids |= {a["outputs"]["pid"] for a in answers}
    assert len(pids) == 2 and os.getpid() not in pids  # both replicas, neither of them the daemon


def test_concurrent_calls_run_on_both_replicas_at_once(local_ray, frame):
    """Until the host dispatches `concurrency` calls at once, the backend itself is driven so."""
    async def go():
        backend = create("ray", ECHO, CARD)
        assert backend.concurrency == 4  # 2 replicas, each taking 2 at once (one runs, one waits there)
        await backend.start({"work_ms": 300})
        try:
            t0 = time.monotonic()
            outs = await asyncio.gather(*(backend.call("echo", {"id": str(i), "image": frame}, binary=True)
                                          for i in range(8)))
            return outs, time.monotonic() - t0
        finally:
            await backend.stop()

    outs, took = asyncio.run(go())
    assert [o["id"] for o in outs] == [str(i) for i in range(8)]
    assert len({o["pid"] for o in outs}) == 2
    assert isinstance(outs[0]["image"], Blob)  # bytes came back, not a base64 data URI
    assert took < 8 * 0.3 * 0.8, f"8 calls of 300 ms took {took:.2f} s: not two at once"


def test_a_replica_killed_mid_stream_fails_its_frame_then_is_replaced(local_ray, frame):
    async def go():
        async with Daemon(models=["ray_echo"]) as d:
            await d.wait_state("RUNNING")
            async with d.ws() as ws:
                before = await _lockstep(ws, [1, 2, 3, "crash", 4, 5, 6], frame)
                detail = (await d.status())["detail"]
                # Serve notices the death and starts a new replica: wait for a third pid to answer.
                seen = {a["outputs"]["pid"] for a in before if a["type"] == "result"}
                first_pids = set(seen)
                deadline = time.monotonic() + 90
                k = 0
                while len(seen) < len(first_pids) + 1 or len(seen) < 3:
                    assert time.monotonic() < deadline, f"no new replica within 90 s; pids {seen}"
                    k += 1
                    (a,) = await _lockstep(ws, [f"after{k}"], frame)
                    assert a["type"] == "result" and a["frame"] == f"after{k}", a
                    seen.add(a["outputs"]["pid"])
                    await asyncio.sleep(0.2)
                return before, detail, (await d.status())["state"]

    before, detail, state = asyncio.run(go())
    assert [a["frame"] for a in before] == [1, 2, 3, "crash", 4, 5, 6]  # ids intact, the error's too
    crashed = before[3]
    assert crashed["type"] == "error" and crashed["status"] == 502, crashed
    assert "ray_echo crashed" in crashed["error"] and "replica pid" in crashed["error"]
    assert "died" in crashed["error"] and "Ray Serve replaces it" in crashed["error"]
    assert all(a["type"] == "result" and a["outputs"]["id"] == str(a["frame"]) for a in before[4:])
    assert detail is None or "Ray Serve replaces it" in detail  # cleared once a call succeeds again
    assert state == "RUNNING"


def test_setup_error_is_the_models_and_leaves_no_deployment(local_ray):
    async def go():
        backend = create("ray", ECHO, CARD)
        with pytest.raises(SetupError, match="ray_echo was told to fail in setup"):
            await backend.start({"fail": True})
        return backend

    backend = asyncio.run(go())
    assert backend.state.value == "FAILED"
    assert backend.app not in serve.status().applications


def test_setup_error_reaches_the_daemons_status(local_ray):
    async def go():
        async with Daemon(model_options={"ray_echo": {"fail": True}}) as d:
            async with d.session.post(f"{d.url}/v1/models/ray_echo/start?wait=1", json={}) as r:
                body = await r.json()
            return r.status, body, await d.status()

    status, body, st = asyncio.run(go())
    assert st["state"] == "FAILED" and "ray_echo was told to fail in setup" in st["error"], (status, body, st)


def test_stop_deletes_the_deployment_and_calls_are_refused(local_ray, frame):
    async def go():
        backend = create("ray", ECHO, {**CARD, "replicas": 1})
        await backend.start({})
        assert backend.app in serve.status().applications
        assert backend.concurrency == 2
        await backend.stop()
        with pytest.raises(Exception, match="not RUNNING"):
            await backend.call("echo", {"id": "x", "image": frame}, binary=True)
        return backend

    backend = asyncio.run(go())
    assert backend.app not in serve.status().applications
    assert ray.is_initialized()  # the module's Ray: not this backend's to shut down


def test_card_settings_map_to_serve_options_and_mistakes_are_named():
    opts = ray_backend.deployment_options({"replicas": 3, "ray": {"num_gpus": 1, "max_ongoing_requests": 2}})
    assert opts["num_replicas"] == 3 and opts["max_ongoing_requests"] == 2
    assert opts["ray_actor_options"] == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert ray_backend.deployment_options({"replicas": 3}, replicas=5)["num_replicas"] == 5  # --replicas wins
    auto = ray_backend.deployment_options({"ray": {"autoscaling": {"max_replicas": 4}}})
    assert "num_replicas" not in auto and auto["autoscaling_config"]["max_replicas"] == 4
    assert create("ray", ECHO, {"id": "x", "ray": {"autoscaling": {"max_replicas": 4}}}).concurrency == 8
    for bad, words in [({"ray": {"num_replica": 2}}, "unknown keys"), ({"ray": {"num_cpus": -1}}, "num_cpus"),
                       ({"replicas": 0}, "num_replicas"), ({"ray": {"autoscaling": 3}}, "autoscaling")]:
        with pytest.raises(BadInput, match=words):
            ray_backend.deployment_options(bad)
    with pytest.raises(SetupError, match="model x: .*unknown keys"):
        create("ray", ECHO, {"id": "x", "ray": {"gpus": 1}})


def test_more_gpus_than_the_cluster_has_fails_at_once(local_ray):
    async def go():
        backend = create("ray", ECHO, {"id": "ray_echo", "ray": {"num_gpus": 1}})
        t0 = time.monotonic()
        with pytest.raises(SetupError, match="num_gpus = 1 per replica, but the Ray cluster has 0 GPUs"):
            await backend.start({})
        return time.monotonic() - t0

    assert asyncio.run(go()) < 10  # not Serve waiting forever for a node that has one


def test_serve_subprocess_joins_a_ray_cluster_with_dash_dash_ray(local_ray, tmp_path):
    """``runway-bridge serve --ray ADDRESS``: a daemon that joins a Ray it did not start ships the
    adapter and runway_bridge to the replicas, and leaves that Ray running when it stops."""
    address = ray.get_runtime_context().gcs_address
    port = free_port()
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc", "--no-legacy-ports",
         "--adapters", str(ADAPTERS), "--model", "ray_echo", "--ray", address],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", proc)
        deadline = time.monotonic() + 150
        while (st := http("GET", url + "/v1/models/ray_echo")[2]["status"])["state"] != "RUNNING":
            assert st["state"] != "FAILED" and time.monotonic() < deadline, (st, log.read_text()[-2000:])
            time.sleep(0.5)
        ok, buf = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
        import base64

        uri = "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()
        status, _, out = http("POST", url + "/v1/models/ray_echo/commands/echo", {"id": "sub-1", "image": uri})
        assert status == 200 and out["id"] == "sub-1" and out["pid"] != proc.pid, out
        apps = set(serve.status().applications)
        assert any(a.startswith("ray_echo-") for a in apps)
    finally:
        proc.terminate()
        proc.wait(30)
    deadline = time.monotonic() + 30
    while any(a.startswith("ray_echo-") for a in serve.status().applications) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(a.startswith("ray_echo-") for a in serve.status().applications)  # it deleted its app
    assert ray.is_initialized()


def test_replicas_flag_is_the_deployments_num_replicas_and_one_backend():
    """``--replicas ID=N`` and the card's ``replicas`` go to Ray Serve: the host gets one backend."""
    from runway_bridge.daemon import Bridge

    for flag, want in ((None, 2), (3, 3)):
        bridge = Bridge(Config(builtin_adapters=False, adapters=[ADAPTERS], replicas={"ray_echo": flag} if flag else {}))
        entry = bridge.entry("ray_echo")
        (backend,) = bridge._backends(entry, "ray")
        assert backend.options["num_replicas"] == want and backend.concurrency == 2 * want


def _status(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"  # gone between the two looks


def _parent(proc_dir: Path) -> int | None:
    try:
        return int((proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_sigterm_stops_a_daemon_and_the_local_ray_it_started(tmp_path):
    """Ray's core worker takes over SIGTERM when it starts; the daemon must still stop gracefully on
    it (as service managers and `docker stop` ask) and take its own Ray down with it."""
    port = free_port()
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc", "--no-legacy-ports",
         "--adapters", str(ADAPTERS), "--model", "ray_echo", "--ray", "local", "--ray-cpus", "1",
         "--replicas", "ray_echo=1"],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc, timeout=150)
        children = [d.name for d in Path("/proc").iterdir() if d.name.isdigit() and _parent(d) == proc.pid]
        assert children, "the daemon started no Ray processes"
        proc.terminate()
        assert proc.wait(60) in (0, -15, 143), log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Shutting down" in log.read_text()
    deadline = time.monotonic() + 30
    while (left := [p for p in children if Path(f"/proc/{p}").exists()
                    and "zombie" not in _status(p)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"Ray processes left running: {left}"


def test_a_batch_runs_on_one_replica_and_each_input_keeps_its_result(local_ray):
    """The host gathers a batch across streams (`call_batch`); a replica runs it as one call."""
    async def go():
        backend = create("ray", DISPATCH, {"id": "dispatch", "replicas": 1, "ray": {"num_cpus": 0.5}})
        assert backend.batching
        await backend.start({})
        try:
            outs = await backend.call_batch("batched", [{"n": i} for i in range(5)], binary=True)
            with pytest.raises(BadInput, match="does not take a batch"):
                await backend.call_batch("work", [{"n": 1}], binary=True)
            return outs
        finally:
            await backend.stop()

    outs = asyncio.run(go())
    assert [(o["n"], o["size"]) for o in outs] == [(i, 5) for i in range(5)]
