"""runway-bridge.js from a page of another origin: catalogue, ml5-style loop, HTTP query, images, ESM."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from .media import FACE

PAGES = Path(__file__).with_name("pages")


@pytest.fixture(scope="module")
def other_origin():
    """A plain static server on another port: the page's origin is not the daemon's."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PAGES))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _on_face(box: dict) -> bool:
    cx, cy = (box["x"] + box["width"] / 2) / 640, (box["y"] + box["height"] / 2) / 480
    return FACE[0] < cx < FACE[2] and FACE[1] < cy < FACE[3]


def test_client_from_another_origin(bridge_daemon, other_origin, drive, artifacts):
    url = f"{other_origin}/client.html?bridge={bridge_daemon.url}"
    answer = drive(url, [{"wait": "window.report && window.report.done", "timeout": 60000},
                         {"eval": "window.report", "as": "report"}], name="client", timeout_ms=90000)
    r = answer["values"]["report"]
    assert "error" not in r, r.get("error")
    assert r["defaultUrl"] == bridge_daemon.url  # the daemon that served the script
    assert {"haar_faces", "cartoon", "face_mesh"} <= set(r["models"])
    assert r["video"] == [640, 480]

    # the loop: a box on the astronaut's face (Haar may add a false positive on the moving street
    # scene), in the video's pixels, with fps and latency
    haar = r["haar"]
    assert haar["n"] == haar["count"] == len(haar["raw"]["boxes"]) >= 1
    face = next((f for f in haar["all"] if _on_face(f["box"])), None)
    assert face, (haar["all"], FACE)
    assert face["x"] == face["box"]["x"] and face["width"] == face["box"]["width"]
    assert all(0 <= b[0] <= 1 for b in haar["raw"]["boxes"])  # raw stays normalised
    assert haar["fps"] > 0 and haar["latency"] > 0 and haar["dropped"] == 0
    assert "total" in haar["timings"]

    # HTTP: raw outputs from query(), shaped ones from detect(), on the same canvas
    assert len(r["query"]["boxes"]) == r["detect"]["n"] >= 1
    assert any(_on_face(f["box"]) for f in r["detect"]["all"]), r["detect"]
    assert r["endpoints"]["websocket"] == bridge_daemon.url.replace("http", "ws") + "/v1/models/haar_faces/stream"

    # image outputs: an ImageBitmap at the sent size (maxSide 320), and an object URL an <img> loads
    assert r["cartoon"]["bitmap"] == [320, 240]
    assert r["cartoon"]["img"] == [320, 240]
    assert r["cartoon"]["fps"] > 0 and r["cartoon"]["n"] == 0

    assert r["esm"] == {"same": True, "isDefault": True, "url": bridge_daemon.url}
    assert r["notFound"]["status"] == 404 and "no_such_model" in r["notFound"]["message"]
