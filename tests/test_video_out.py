"""NDI out and in on loopback, against an independent NDI peer in another process (tests/ndi_peer.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import data_uri, decode_uri, jpeg

pytest.importorskip("NDIlib", reason="NDI needs ndi-python: pip install 'runway-bridge[ndi]'")
PEER = Path(__file__).with_name("ndi_peer.py")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / mse) if mse else 99.0


@pytest.fixture
def frame640(astronaut) -> np.ndarray:
    return cv2.resize(astronaut, (640, 480), interpolation=cv2.INTER_AREA)


def test_style_transfer_over_ndi_to_an_independent_receiver(daemon, frame640, tmp_path):
    name = f"rb-test-{time.monotonic_ns()}"
    d = daemon("style_transfer", args=["--video-out", f"style_transfer=ndi:{name}"])
    status, _, expected = d.post("/v1/models/style_transfer/query", {"image": data_uri(jpeg(frame640, 95))})
    assert status == 200
    expected = decode_uri(expected["image"])
    stop = threading.Event()

    def feed():  # a client streaming the same frame, as a sketch would
        while not stop.is_set():
            d.post("/v1/models/style_transfer/query", {"image": data_uri(jpeg(frame640, 95))})

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        out = tmp_path / "frame.npy"
        r = subprocess.run([sys.executable, str(PEER), "recv", name, str(out), "3"], capture_output=True, text=True,
                           timeout=120)
    finally:
        stop.set()
        t.join(30)
    assert r.returncode == 0, r.stdout + r.stderr
    got = np.load(out)
    assert got.shape == expected.shape == (480, 640, 3)
    assert psnr(got, expected) > 28, psnr(got, expected)  # NDI's codec is lossy, but this is that picture
    assert psnr(got, frame640) < psnr(got, expected) - 3  # and it is the styled one, not the input
    status, _, info = d.get("/v1/models/style_transfer/video-out")
    assert status == 200 and info["kind"] == "ndi" and info["name"] == name and info["sent"] >= 3
    status, _, listed = d.get("/v1/video-out")
    assert [o["model"] for o in listed["video_outs"]] == ["style_transfer"]
    from conftest import http

    status, _, body = http("DELETE", d.url + "/v1/models/style_transfer/video-out")
    assert status == 200 and body["stopped"] is True


def test_ndi_sender_feeds_face_mesh_as_a_source(daemon, frame640, tmp_path):
    name = f"rb-cam-{time.monotonic_ns()}"
    image = tmp_path / "astronaut.npy"
    np.save(image, frame640)
    sender = subprocess.Popen([sys.executable, str(PEER), "send", name, str(image), "60"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert sender.stdout.readline().strip() == "sending"
        d = daemon("face_mesh", args=["--source", f"face_mesh=ndi://{name}@127.0.0.1"])
        deadline, src = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            status, _, src = d.get("/v1/models/face_mesh/source")
            if status == 200 and src.get("processed", 0) >= 3:
                break
            time.sleep(0.2)
        assert src["kind"] == "ndi" and src["state"] != "failed" and src["processed"] >= 3, src
        assert (src["width"], src["height"]) == (640, 480)
        status, _, data = d.get("/v1/models/face_mesh/data")
        assert status == 200 and len(data["landmarks"]) == 1, data  # one face, from the NDI frames
    finally:
        sender.kill()
        sender.wait()


def test_video_out_errors(daemon):
    d = daemon("haar_faces")
    status, _, body = d.post("/v1/models/haar_faces/video-out", {"kind": "vga"})
    assert status == 400 and "ndi" in body["error"]
    status, _, body = d.get("/v1/models/haar_faces/video-out")
    assert status == 404 and "POST" in body["error"]
    r = subprocess.run([sys.executable, "-m", "runway_bridge", "serve", "--video-out", "haar_faces=vga"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "ID[:OUTPUT]=KIND" in r.stderr


def test_sources_lists_an_ndi_sender(frame640, tmp_path):
    name = f"rb-list-{time.monotonic_ns()}"
    image = tmp_path / "astronaut.npy"
    np.save(image, frame640)
    sender = subprocess.Popen([sys.executable, str(PEER), "send", name, str(image), "30"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert sender.stdout.readline().strip() == "sending"
        r = subprocess.run([sys.executable, "-m", "runway_bridge", "sources", "--ndi-ip", "127.0.0.1", "--timeout", "3"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert f"({name})  at 127.0.0.1:" in r.stdout, r.stdout
        assert "Cameras" in r.stdout  # none on this machine: it says so
    finally:
        sender.kill()
        sender.wait()


def test_a_model_of_numbers_goes_out_as_its_frames_with_the_boxes_drawn(daemon, frame640, tmp_path):
    """haar_faces has no picture: over NDI it shows its source's frames with the face boxes on them."""
    video = tmp_path / "still.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for _ in range(20):
        out.write(cv2.cvtColor(frame640, cv2.COLOR_RGB2BGR))
    out.release()
    name = f"rb-overlay-{time.monotonic_ns()}"
    d = daemon("haar_faces", args=["--source", f"haar_faces={video}", "--video-out", f"haar_faces=ndi:{name}"])
    got_path = tmp_path / "frame.npy"
    r = subprocess.run([sys.executable, str(PEER), "recv", name, str(got_path), "3"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    got = np.load(got_path).astype(int)
    still = cv2.imdecode(cv2.imencode(".jpg", cv2.cvtColor(frame640, cv2.COLOR_RGB2BGR))[1], 1)[..., ::-1].astype(int)
    diff = np.abs(got - still).max(axis=2)
    assert got.shape == (480, 640, 3)
    assert np.mean(diff) < 12  # the source's frame...
    box = d.get("/v1/models/haar_faces/data")[2]["boxes"][0]
    x0, y0 = int(box[0] * 640), int(box[1] * 480)
    assert diff[y0 - 2:y0 + 3, x0 + 5:x0 + 40].max() > 80  # ...with the face box drawn where the model found it
    status = d.get("/v1/models/haar_faces/video-out")[2]
    assert status["output"] is None and status["sent"] >= 3


def test_spout_and_syphon_say_where_they_work(daemon):
    d = daemon("haar_faces")
    for scheme, system in (("spout", "Windows"), ("syphon", "macOS")):
        status, _, body = d.post("/v1/models/haar_faces/source", {"source": f"{scheme}://TouchDesigner"})
        assert status == 400 and system in body["error"] and "ndi://" in body["error"], body
        status, _, body = d.post("/v1/models/haar_faces/video-out", {"kind": scheme})
        assert status == 400 and system in body["error"], body
