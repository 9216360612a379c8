"""socket.io-client 2.x's browser bundle (dist/socket.io.js of the npm package) in headless
Chromium, running a Runway-style sketch page (tests/node/runway_v2_sketch) served from another
origin, as a sketch folder in a local web server is: polling only, and WebSocket."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest
from skimage import data as skdata

from conftest import launch_daemon

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
BUNDLE = NODE_DIR / "node_modules" / "socket.io-client-v2" / "dist" / "socket.io.js"
PAGE = NODE_DIR / "runway_v2_sketch"
DRIVER = ROOT / "tests" / "browser" / "drive.mjs"
CHROMIUM = os.environ.get("RUNWAY_BRIDGE_CHROMIUM", "/usr/bin/chromium")
FACE_CENTRE = (0.435, 0.25)

pytestmark = pytest.mark.skipif(
    not shutil.which("node") or not Path(CHROMIUM).exists() or not BUNDLE.is_file()
    or not (NODE_DIR / "node_modules" / "playwright-core").is_dir(),
    reason="needs node, Chromium and `npm ci` in tests/node (socket.io-client-v2, playwright-core)")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def sketch_server():
    """The sketch folder on its own origin: the page, the 2.x bundle and a real photo."""
    folder = Path(tempfile.mkdtemp(prefix="sketch-v2-"))
    for f in PAGE.iterdir():
        shutil.copy(f, folder / f.name)
    shutil.copy(BUNDLE, folder / "socket.io.js")
    cv2.imwrite(str(folder / "astronaut.jpg"), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def daemon():
    d = launch_daemon(Path(tempfile.mkdtemp(prefix="sio2b-")), "haar_faces")
    yield d
    d.stop()


def run_page(url: str, tmp: Path) -> dict:
    plan = {"url": url, "chromium": CHROMIUM, "timeout": 60000,
            "steps": [{"wait": "window.log && window.log.done", "timeout": 60000},
                      {"eval": "window.log", "as": "log"}]}
    (tmp / "plan.json").write_text(json.dumps(plan))
    out = subprocess.run(["node", str(DRIVER), str(tmp / "plan.json")], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    answer = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {"ok": False}
    assert answer["ok"], (answer, out.stderr[-2000:])
    return answer["values"]["log"]


@pytest.mark.parametrize("transports", ["polling", "websocket"])
def test_socketio_2_browser_bundle_runs_a_runway_sketch(daemon, sketch_server, tmp_path, transports):
    log = run_page(f"{sketch_server}/index.html?server={daemon.url}/&transports={transports}&frames=3", tmp_path)
    assert log["version"] == 4  # Socket.IO protocol 4: the 2.x client
    assert log["connected"] and log["info"]["_meta"]["model"] == "haar_faces"
    assert log["transport"] == transports
    assert len(log["data"]) == 3
    for d in log["data"]:
        x0, y0, x1, y1 = d["boxes"][0]
        assert x0 <= FACE_CENTRE[0] <= x1 and y0 <= FACE_CENTRE[1] <= y1, d
    assert "JPEG or PNG" in log["errors"][-1]["error"] and log["errors"][-1]["_meta"]["status"] == 400
