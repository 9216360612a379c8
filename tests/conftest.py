"""Shared fixtures: real daemons and model servers on free ports, and real photos."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE_ADAPTERS = FIXTURES / "adapters"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 30):
    """A plain urllib request; returns (status, headers, parsed JSON or bytes)."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status, hdrs = r.read(), r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, dict(e.headers)
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30, ok=lambda status, body: status == 200):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            status, _, body = http("GET", url, timeout=2)
            if ok(status, body):
                return body
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    osc_port: int | None = None
    log: Path | None = None
    token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **kw):
        return http("GET", self.url + path, **kw)

    def post(self, path: str, body=None, **kw):
        return http("POST", self.url + path, {} if body is None else body, **kw)

    def _q(self) -> str:
        return f"?token={self.token}" if self.token else ""

    def state(self, model_id: str) -> str:
        return self.get(f"/v1/models/{model_id}{self._q()}")[2]["status"]["state"]

    def wait_running(self, model_id: str, timeout: float = 60) -> None:
        body = wait_http(f"{self.url}/v1/models/{model_id}{self._q()}", self.proc, timeout,
                         lambda s, b: s == 200 and b["status"]["state"] in ("RUNNING", "FAILED"))
        if body["status"]["state"] != "RUNNING":
            raise RuntimeError(f"{model_id} failed to start: {body['status']['error']}\n{self.output()[-2000:]}")

    def output(self) -> str:
        return self.log.read_text() if self.log else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def launch_daemon(log_dir: Path, *models: str, args: list[str] = (), osc: bool = False, wait: bool = True,
                  fixtures: bool = True, env: dict | None = None, token: str | None = None) -> Server:
    """Start ``runway-bridge serve`` on free ports, wait for /healthz (and its models unless `wait`
    is false). With `osc`, OSC listens on a free port and replies to another free port."""
    port = free_port()
    cmd = [sys.executable, "-m", "runway_bridge", "serve", "--port", str(port)]
    osc_port = None
    if osc:
        osc_port = free_port(socket.SOCK_DGRAM)
        cmd += ["--osc-port", str(osc_port), "--osc-reply-port", str(free_port(socket.SOCK_DGRAM))]
    else:
        cmd += ["--no-osc"]
    if fixtures:
        cmd += ["--adapters", str(FIXTURE_ADAPTERS)]
    if token:
        cmd += ["--token", token]
    for m in models:
        cmd += ["--model", m]
    cmd += list(args)
    if "--socketio-port" not in cmd:  # tests never take the old Runway port 3000
        cmd += ["--no-legacy-ports"]
    log = Path(log_dir) / f"daemon-{port}.log"
    proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**_env(), **(env or {})})
    server = Server(proc, port, osc_port, log, token=token)
    wait_http(server.url + "/healthz", proc)
    if wait:
        for m in models:
            server.wait_running(m)
    return server


@pytest.fixture
def daemon(tmp_path):
    """Factory: ``daemon('haar_faces', args=[...])`` starts a daemon (see `launch_daemon`)."""
    started: list[Server] = []

    def start(*models: str, **kwargs) -> Server:
        started.append(launch_daemon(tmp_path, *models, **kwargs))
        return started[-1]

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def model_server(tmp_path):
    """Factory: ``model_server(path, env={...})`` runs ``runway-bridge run PATH`` on a free port."""
    started: list[Server] = []

    def start(path: Path, env: dict | None = None, wait_running: bool = True) -> Server:
        port = free_port()
        log = tmp_path / f"model-{port}.log"
        proc = subprocess.Popen([sys.executable, "-m", "runway_bridge", "run", str(path)],
                                stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**_env(), "RW_PORT": str(port), **(env or {})})
        server = Server(proc, port, log=log)
        started.append(server)
        wait_http(server.url + "/healthcheck", proc)
        if wait_running:
            wait_http(server.url + "/healthcheck", proc, 60, lambda s, b: b.get("status") == "RUNNING")
        return server

    yield start
    for s in started:
        s.stop()


# -- images ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def png(arr: np.ndarray) -> bytes:
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    elif arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    return cv2.imencode(".png", arr)[1].tobytes()


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def decode_uri(uri: str) -> np.ndarray:
    raw = base64.b64decode(uri.split(",", 1)[1])
    arr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB) if arr.ndim == 3 and arr.shape[2] == 3 else arr


def ws_message(msg) -> dict:
    """A WebSocket message from the daemon's fast path: its JSON, or a binary frame's header with
    its decoded parts under ``parts``."""
    import aiohttp

    from runway_bridge.wire import decode_frame

    if msg.type == aiohttp.WSMsgType.BINARY:
        header, parts = decode_frame(msg.data)
        header["parts"] = parts
        return header
    return json.loads(msg.data)
