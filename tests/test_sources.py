"""Daemon-side sources: a real video file read by the daemon, results pushed to an OSC target."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from liblo_peer import OscDump

from runway_bridge.sources import parse_source

from conftest import free_port, http

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")  # Debian opencv-doc: pedestrians


@pytest.fixture
def video(tmp_path, astronaut) -> Path:
    """20 frames of the astronaut drifting, 256x256 MJPG at 10 fps."""
    path = tmp_path / "astronaut.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    bgr = cv2.cvtColor(cv2.resize(astronaut, (288, 288)), cv2.COLOR_RGB2BGR)
    for i in range(20):
        out.write(bgr[i : i + 256, i : i + 256].copy())
    out.release()
    assert path.stat().st_size > 10_000
    return path


def wait(cond, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_parse_source():
    assert parse_source("face_mesh=0") == ("face_mesh", "0")
    assert parse_source("pose=rtsp://cam/1?a=b") == ("pose", "rtsp://cam/1?a=b")
    with pytest.raises(ValueError, match="MODEL_ID=SOURCE"):
        parse_source("video.mp4")


def test_source_pushes_results_to_osc_target_without_a_frame_sent(daemon, video):
    target = OscDump()
    try:
        d = daemon("haar_faces", osc=True,
                   args=["--source", f"haar_faces={video}", "--osc-target", f"127.0.0.1:{target.port}"])
        boxes = target.wait(lambda: len(target.messages("/haar_faces/boxes/0")) >= 5 and
                            target.messages("/haar_faces/boxes/0"))
        x0, y0, x1, y1 = map(float, boxes[0][1].split())
        assert boxes[0][0] == "ffff" and 0.25 < x0 < x1 < 0.75 and 0.0 < y0 < y1 < 0.5
        status, _, st = d.get("/v1/models/haar_faces/source")
        assert status == 200 and st["state"] == "running" and st["kind"] == "file" and st["loop"] is True
        assert st["fps"] == 10 and (st["width"], st["height"]) == (256, 256)
        assert st["frames_read"] >= 5 and st["processed"] >= 5 and st["dropped"] >= 0
        time.sleep(0.5)
        later = d.get("/v1/models/haar_faces/source")[2]
        assert 5 <= later["read_fps"] <= 15  # paced to the file's 10 fps, not as fast as it decodes
        assert d.get("/v1/sources")[2]["sources"][0]["model"] == "haar_faces"
    finally:
        target.close()


def test_source_api_errors_loop_and_stop(daemon, video, tmp_path):
    d = daemon("haar_faces", args=["--source", f"haar_faces={video}", "--file-root", str(tmp_path),
                                   "--allow-source-url", "http://127.0.0.1:*/cam.mjpg"])
    missing = tmp_path / "nope.mp4"
    status, _, body = d.post("/v1/models/haar_faces/source", {"source": str(missing)})
    assert status == 404 and body["error"] == f"video file not found: {missing}"
    status, _, body = d.post("/v1/models/haar_faces/source", {"source": "17"})
    assert status == 400 and "camera 17 could not be opened" in body["error"]
    status, _, body = d.post("/v1/models/haar_faces/source", {"source": f"http://127.0.0.1:{free_port()}/cam.mjpg"})
    assert status == 400 and "could not open the stream" in body["error"]
    not_video = tmp_path / "notes.avi"
    not_video.write_text("hello")
    status, _, body = d.post("/v1/models/haar_faces/source", {"source": str(not_video)})
    assert status == 400 and "could not read" in body["error"]
    assert d.post("/v1/models/haar_faces/source", {"loop": True})[0] == 400
    assert d.post("/v1/models/no_such_model/source", {"source": "0"})[0] == 404

    # a fast, looping replacement: more frames than the file holds
    status, _, body = d.post("/v1/models/haar_faces/source", {"source": str(video), "fps": 100})
    assert status == 201 and body["max_fps"] == 100
    wait(lambda: d.get("/v1/models/haar_faces/source")[2]["frames_read"] > 30)
    status, _, body = d.post("/v1/models/haar_faces/source", {"source": str(video), "loop": False, "fps": 100})
    assert status == 201
    st = wait(lambda: (s := d.get("/v1/models/haar_faces/source")[2])["state"] == "ended" and s)
    assert st["frames_read"] == 20 and st["error"] is None

    assert http("DELETE", d.url + "/v1/models/haar_faces/source")[2] == {"model": "haar_faces", "stopped": True}
    assert d.get("/v1/models/haar_faces/source")[0] == 404
    assert http("DELETE", d.url + "/v1/models/haar_faces/source")[2]["stopped"] is False
    assert d.proc.poll() is None


@pytest.mark.skipif(not VTEST.is_file(), reason="Debian opencv-doc is not installed")
def test_source_starts_its_model_and_reads_vtest(daemon, video):
    d = daemon("haar_faces", args=["--file-root", str(VTEST.parent)])
    status, _, body = d.post("/v1/models/cartoon/source", {"source": VTEST.name})  # cartoon was not started
    assert status == 201 and (body["width"], body["height"], body["fps"]) == (768, 576, 10)
    d.wait_running("cartoon")
    st = wait(lambda: (s := d.get("/v1/models/cartoon/source")[2])["processed"] >= 2 and s)
    assert st["state"] == "running" and st["last_error"] is None


def test_network_sources_are_cameras_allowed_files_and_allowed_urls_only(daemon, video, tmp_path):
    """Issue 10.6: no local path outside --file-root, no file:// around it, no URL the user did not
    allow (SSRF); without --file-root, no files from the network at all."""
    secret = tmp_path / "private" / "secret.avi"
    secret.parent.mkdir()
    secret.write_bytes(video.read_bytes())
    d = daemon("haar_faces")  # no --file-root, no --allow-source-url
    for spec in (str(secret), f"file://{secret}", "http://169.254.169.254/latest/meta-data/",
                 f"rtsp://127.0.0.1:{free_port()}/cam", "concat:/etc/passwd|/etc/hostname"):
        status, _, body = d.post("/v1/models/haar_faces/source", {"source": spec})
        assert status == 403 and ("--file-root" in body["error"] or "--allow-source-url" in body["error"]), (spec, body)
    assert d.get("/v1/sources")[2] == {"sources": [], "captures": []}

    media = tmp_path / "media"
    media.mkdir()
    (media / "clip.avi").write_bytes(video.read_bytes())
    d2 = daemon("haar_faces", args=["--file-root", str(media), "--allow-source-url", "rtsp://127.0.0.1:*/*"])
    for spec in (str(secret), f"file://{secret}", "../private/secret.avi", f"file://{media}/../private/secret.avi"):
        status, _, body = d2.post("/v1/models/haar_faces/source", {"source": spec})
        assert status == 403 and "outside the allowed folder" in body["error"], (spec, body)
    status, _, body = d2.post("/v1/models/haar_faces/source", {"source": "clip.avi"})
    assert status == 201 and body["source"] == str((media / "clip.avi").resolve())
    status, _, body = d2.post("/v1/models/haar_faces/source", {"source": f"file://{media}/clip.avi"})
    assert status == 201 and body["kind"] == "file"
    status, _, body = d2.post("/v1/models/haar_faces/source", {"source": f"rtsp://127.0.0.1:{free_port()}/cam"})
    assert status == 400 and "could not open the stream" in body["error"]  # allowed: tried, nothing there
    status, _, body = d2.post("/v1/models/haar_faces/source", {"source": "http://127.0.0.1:1/cam"})
    assert status == 403


@pytest.mark.skipif(not VTEST.is_file(), reason="Debian opencv-doc is not installed")
def test_one_source_two_models_one_capture_two_result_streams(daemon):
    """pose-and-face-mesh on one camera: the video is opened and read once, each model gets every
    frame into its own stream, and stopping one model's source keeps the other reading."""
    spec = str(VTEST)
    d = daemon("haar_faces", "cartoon", args=["--source", f"haar_faces={spec}", "--source", f"cartoon={spec}"])
    listed = wait(lambda: (s := d.get("/v1/sources")[2]) and all(x["processed"] >= 3 for x in s["sources"])
                  and len(s["sources"]) == 2 and s)
    assert len(listed["captures"]) == 1 and listed["captures"][0]["source"] == spec  # one capture
    by_model = {s["model"]: s for s in listed["sources"]}
    assert by_model["haar_faces"]["shared_with"] == ["cartoon"] and by_model["cartoon"]["shared_with"] == ["haar_faces"]
    # two result streams, both fed from the same frames read
    frames = listed["captures"][0]["frames_read"]
    assert all(s["submitted"] <= frames for s in listed["sources"])
    for model in ("haar_faces", "cartoon"):
        status, _, data = d.get(f"/v1/models/{model}/data")
        assert status == 200 and data, model
    from conftest import http

    status, _, body = http("DELETE", d.url + "/v1/models/cartoon/source")
    assert status == 200 and body["stopped"] is True
    before = d.get("/v1/models/haar_faces/source")[2]["processed"]
    after = wait(lambda: (s := d.get("/v1/sources")[2]) and s["sources"][0]["processed"] > before + 2 and s)
    assert [s["model"] for s in after["sources"]] == ["haar_faces"] and len(after["captures"]) == 1
    assert after["sources"][0]["shared_with"] == []


def test_source_settings_size_and_mirror(daemon, tmp_path, astronaut):
    """width/height scale what the model gets, mirror flips it; over HTTP and with --source-set."""
    from conftest import decode_uri

    path = tmp_path / "still.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    for _ in range(10):
        out.write(cv2.cvtColor(cv2.resize(astronaut, (256, 256)), cv2.COLOR_RGB2BGR))
    out.release()
    d = daemon("identity", args=["--backend", "identity=local", "--file-root", str(tmp_path),
                                 "--source", f"identity={path}", "--source-set", "identity:width=320",
                                 "--source-set", "identity:height=200", "--source-set", "identity:mirror=true"])
    st = wait(lambda: (s := d.get("/v1/models/identity/source")[2]).get("processed", 0) >= 2 and s)
    assert (st["width"], st["height"], st["mirror"]) == (320, 200, True)
    got = decode_uri(d.get("/v1/models/identity/data")[2]["image"])
    expected = cv2.resize(cv2.resize(astronaut, (256, 256)), (320, 200), interpolation=cv2.INTER_AREA)
    err_mirrored = np.abs(got.astype(int) - expected[:, ::-1]).mean()
    err_plain = np.abs(got.astype(int) - expected).mean()
    assert got.shape == (200, 320, 3) and err_mirrored < 12 < err_plain, (err_mirrored, err_plain)
    for bad, field in (({"width": 320}, "height"), ({"width": 5, "height": 5}, "width"), ({"mirror": "yes"}, "mirror")):
        status, _, body = d.post("/v1/models/identity/source", {"source": path.name, **bad})
        assert status == 400 and body.get("field") == field, (bad, body)
