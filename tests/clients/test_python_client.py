"""The Python client (runway_bridge.client), sync and async, against a real daemon."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from PIL import Image

from runway_bridge.client import AsyncBridge, Bridge, BridgeRequestError, decode_image, encode_image

from conftest import ROOT, jpeg


def assert_face_box(box):
    x0, y0, x1, y1 = box
    assert 0.3 < x0 < x1 < 0.65 and 0.05 < y0 < y1 < 0.45  # the astronaut's face


def test_sync_catalogue_query_start_stop(daemon, astronaut):
    d = daemon("haar_faces")
    with Bridge(d.url) as bridge:
        models = {m["id"]: m for m in bridge.models()}
        assert models["haar_faces"]["status"] == "RUNNING" and models["haar_faces"]["default"]
        assert models["cartoon"]["status"] == "STOPPED"

        # the same photo as numpy, PIL and JPEG bytes; by id and as the default model (Runway /query)
        for image in (astronaut, Image.fromarray(astronaut), jpeg(astronaut)):
            out = bridge.query("haar_faces", {"image": image})
            assert out["count"] == 1
            assert_face_box(out["boxes"][0])
        out = bridge.query(inputs={"image": astronaut}, min_size=0.05)
        assert_face_box(out["boxes"][0])
        assert bridge.data()["count"] == 1  # the last result, over GET /data
        assert [i["name"] for i in bridge.info()["inputs"]] == ["image", "min_size"]

        with pytest.raises(BridgeRequestError, match="not running") as e:
            bridge.query("cartoon", {"image": astronaut})
        assert e.value.status == 409
        status = bridge.start("cartoon", {})
        assert status["state"] == "RUNNING"
        out = bridge.query("cartoon", {"image": astronaut}, edges="thin")
        assert isinstance(out["image"], np.ndarray) and out["image"].shape == (512, 512, 3)
        assert out["image"].dtype == np.uint8 and abs(float(out["image"].mean()) - float(astronaut.mean())) < 40
        lossless = bridge.query("cartoon", {"image": astronaut}, command="cartoonize", output_format="png")
        assert lossless["image"].shape == (512, 512, 3)
        assert bridge.stop("cartoon")["state"] == "STOPPED"

        with pytest.raises(BridgeRequestError) as e:
            bridge.query("haar_faces", {"image": astronaut, "min_size": 7})
        assert e.value.status == 400 and "min_size" in e.value.message
        with pytest.raises(BridgeRequestError) as e:
            bridge.start("no_such_model")
        assert e.value.status == 404


def test_sync_stream_binary_frames_in_order(daemon, astronaut):
    d = daemon("cartoon")
    with Bridge(d.url) as bridge, bridge.stream("cartoon") as s:
        first = s.send(astronaut)
        r = s.next(timeout=20)
        assert r.ok and r.frame == first and r.model == "cartoon" and r.command == "cartoonize"
        assert r["image"].shape == (512, 512, 3) and r["image"].dtype == np.uint8
        assert r.timings["total"] > 0 and r.latency_ms > 0
        # frames sent faster than the model runs: some are replaced or dropped, the last one always arrives
        ids = [s.send(astronaut) for _ in range(30)]
        seen = []
        for r in s:
            assert r.ok
            seen.append(r.frame)
            if r.frame == ids[-1]:
                break
        assert seen == sorted(seen) and len(set(seen)) == len(seen)
        assert s.latest.frame == ids[-1]
        assert len(seen) + r.dropped + s.replaced >= 30


def test_sync_stream_to_a_stopped_model_says_how_to_start_it(daemon):
    d = daemon("haar_faces")
    with Bridge(d.url) as bridge:
        with pytest.raises(BridgeRequestError, match=r"bridge.start\('cartoon'\)"):
            bridge.stream("cartoon").__enter__()


async def test_async_raw_stream_is_lossless_and_reports_errors(daemon, astronaut):
    d = daemon("kitchen_sink")
    async with AsyncBridge(d.url) as bridge:
        async with bridge.stream("kitchen_sink", format="raw") as s:
            frame = s.send(astronaut)
            r = await s.next(timeout=20)
            assert r.frame == frame and r.command == "invert"
            np.testing.assert_array_equal(r["image"], 255 - astronaut)  # raw both ways: exact pixels

        async with bridge.stream("kitchen_sink", command="fail") as s:
            s.send({"message": "no luck"})
            r = await s.next(timeout=20)
            assert not r.ok and r.type == "error" and "no luck" in r.error and r.outputs == {}

        # a slow model: latest-wins on both sides, results keep their frame ids
        async with bridge.stream("kitchen_sink", command="slow_invert") as s:
            small = astronaut[::8, ::8].copy()
            ids = []
            for _ in range(10):
                ids.append(s.send(small, delay=0.1))
                await asyncio.sleep(0.01)
            got = []
            async for r in s:
                assert r.ok, r.error
                got.append(r)
                if r.frame == ids[-1]:
                    break
            assert len(got) < 10 and got[-1].dropped + s.replaced > 0
            assert abs(got[-1]["mean"] - float(small.mean())) < 2  # JPEG on the way in
            assert got[-1].timings["model"] >= 100

    async with AsyncBridge(d.url, image_format="png") as bridge:  # PNG both ways over HTTP: exact too
        out = await bridge.query("kitchen_sink", {"image": astronaut[:64, :64]}, output_format="png")
        np.testing.assert_array_equal(out["image"], 255 - astronaut[:64, :64])


async def test_async_listen_gets_results_caused_by_others(daemon, astronaut):
    d = daemon("haar_faces")
    async with AsyncBridge(d.url) as bridge, bridge.stream("haar_faces", listen=True) as listener:
        await bridge.query("haar_faces", {"image": astronaut})
        r = await listener.next(timeout=20)
        assert r.frame is None and r["count"] == 1
        assert_face_box(r["boxes"][0])


def test_token_and_unreachable_daemon(daemon, astronaut):
    d = daemon("haar_faces", args=["--token", "s3cret"], wait=False)
    with Bridge(d.url, token="s3cret") as bridge:
        for _ in range(600):
            if bridge.model("haar_faces")["status"]["state"] == "RUNNING":
                break
            time.sleep(0.05)
    with Bridge(d.url) as bridge:
        with pytest.raises(BridgeRequestError) as e:
            bridge.models()
        assert e.value.status == 401 and "token" in e.value.message
    with Bridge(d.url, token="s3cret") as bridge:
        assert bridge.models()
        with bridge.stream("haar_faces") as s:
            s.send(astronaut)
            assert s.next(timeout=20)["count"] == 1
    d.stop()
    with Bridge(d.url) as bridge, pytest.raises(BridgeRequestError, match="runway-bridge serve"):
        bridge.health()


def test_image_codecs_round_trip(astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 200, np.uint8)])
    assert encode_image(rgba).format == "png"
    np.testing.assert_array_equal(decode_image(encode_image(rgba)), rgba)
    np.testing.assert_array_equal(decode_image(encode_image(astronaut, "png").to_data_uri()), astronaut)
    gray = astronaut[:, :, 0].copy()
    np.testing.assert_array_equal(decode_image(encode_image(gray, "raw")), gray)
    jpg = decode_image(encode_image(Image.fromarray(astronaut)).data)
    assert jpg.shape == astronaut.shape and np.abs(jpg.astype(int) - astronaut).mean() < 4
    with pytest.raises(ValueError):
        encode_image(b"GIF89a...")


def test_python_examples_run(daemon, astronaut, tmp_path):
    d = daemon("haar_faces", "cartoon")
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(jpeg(astronaut))
    run = [sys.executable, str(ROOT / "examples" / "python" / "query_image.py"), str(photo), "--url", d.url]
    out = json.loads(subprocess.run(run, capture_output=True, text=True, check=True, timeout=60).stdout)
    assert out["count"] == 1
    assert_face_box(out["boxes"][0])
    subprocess.run(run + ["--model", "cartoon"], capture_output=True, check=True, timeout=60)
    assert cv2.imread(str(tmp_path / "astronaut.cartoon.image.png")).shape == (512, 512, 3)

    video = tmp_path / "astronaut.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for _ in range(5):
        w.write(cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    w.release()
    stream = [sys.executable, str(ROOT / "examples" / "python" / "webcam_stream.py"), "--model", "haar_faces",
              "--source", str(video), "--url", d.url, "--frames", "3", "--no-window"]
    lines = subprocess.run(stream, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    assert len(lines) == 3 and all("ms round trip" in ln and "['boxes', 'count']" in ln for ln in lines)
