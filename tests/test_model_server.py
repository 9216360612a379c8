"""The Runway model-server protocol, end to end: `runway-bridge run` on a free port, real HTTP."""

import asyncio
import gzip
import json
import subprocess
import sys
import time

import aiohttp
import numpy as np

from conftest import FIXTURE_ADAPTERS, FIXTURES, ROOT, data_uri, decode_uri, http, jpeg, png, wait_http

KITCHEN = FIXTURE_ADAPTERS / "kitchen_sink" / "model.py"

ECHO = {"text": "hi", "number": 2, "flag": True, "choice": "b", "vec": [1, 2, 3], "items": ["x", "y"],
        "point": [0.1, 0.2], "box": [0.1, 0.2, 0.5, 0.6], "marks": [[0, 0], [1, 1]], "anything": {"k": [1, None]}}


def test_manifest_has_runway_keys(model_server):
    s = model_server(KITCHEN)
    status, _, meta = s.get("/meta")
    assert status == 200
    assert set(meta) == {"modelSDKVersion", "millisRunning", "millisSinceLastCommand", "GPU", "options", "commands"}
    assert meta["GPU"] is False
    assert meta["options"] == [
        {"name": "gain", "type": "number", "description": None, "default": 1.0, "min": 0, "max": 10},
        {"name": "setup_delay", "type": "number", "description": None, "default": 0, "min": 0, "max": 30},
    ]
    invert = next(c for c in meta["commands"] if c["name"] == "invert")
    assert invert == {
        "name": "invert", "description": "Invert colours.",
        "inputs": [{"name": "image", "type": "image", "description": None, "channels": 3, "maxWidth": 2000,
                    "maxHeight": 2000, "defaultOutputFormat": "JPEG"}],
        "outputs": [{"name": "image", "type": "image", "description": None, "channels": 3,
                     "defaultOutputFormat": "JPEG"}],
    }
    assert s.get("/")[2]["commands"] == meta["commands"]
    assert s.get("/invert")[2] == invert
    assert s.get("/healthcheck")[2] == {"status": "RUNNING"}


def test_every_type_round_trips_and_images_work(model_server, astronaut):
    s = model_server(KITCHEN)
    status, _, out = s.post("/echo", ECHO)
    assert status == 200, out
    assert out == {**ECHO, "number": 2.0, "vec": [1.0, 2.0, 3.0], "box": [0.1, 0.2, 0.5, 0.6],
                   "marks": [[0.0, 0.0], [1.0, 1.0]]}
    status, _, out = s.post("/invert", {"image": data_uri(jpeg(astronaut))})
    assert status == 200 and out["image"].startswith("data:image/jpeg;base64,")
    inverted = decode_uri(out["image"])
    assert inverted.shape == astronaut.shape
    assert abs(float(inverted.mean()) - (255 - float(astronaut.mean()))) < 3
    # a bare base64 string is accepted too, and RGBA is converted for an RGB model
    rgba = np.dstack([astronaut[:64, :64], np.full((64, 64), 255, np.uint8)])
    status, _, out = s.post("/invert", {"image": data_uri(png(rgba), "image/png").split(",")[1]})
    assert status == 200
    # output format picked by the header
    for header in ("image=PNG", "image=PNG;", "other=JPEG; image=PNG"):  # the old SDK's ';' separator too
        status, _, out = s.post("/invert", {"image": data_uri(jpeg(astronaut))}, headers={"X-Runway-Output-Format": header})
        assert out["image"].startswith("data:image/png;base64,"), header
    # segmentation out, 4-channel in, 1-channel out
    status, _, out = s.post("/mask", {"image": data_uri(png(rgba), "image/png")})
    assert status == 200 and out["mask"].startswith("data:image/png") and decode_uri(out["alpha"]).ndim == 2


def _bomb_jpeg() -> bytes:
    """A ~900-byte JPEG whose frame header claims 30000x30000 (it would take 2.7 GB to decode)."""
    data = bytearray(jpeg(np.zeros((8, 8, 3), np.uint8)))
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = (30000).to_bytes(2, "big") * 2
    return bytes(data)


def test_validation_errors_are_400_naming_the_field(model_server):
    s = model_server(KITCHEN)
    big = np.zeros((10, 2100, 3), np.uint8)
    cases = [
        ("/invert", {}, "missing input 'image'"),
        ("/echo", {**ECHO, "vec": [1, 2]}, "Invalid argument: vec. expected a vector of length 3, got 2"),
        ("/echo", {**ECHO, "number": 6}, "Invalid argument: number. 6 is above the maximum 5"),
        ("/echo", {**ECHO, "text": "x" * 11}, "Invalid argument: text. text is 11 characters, at most 10 allowed"),
        ("/echo", {**ECHO, "choice": "z"}, "Invalid argument: choice. category value 'z' is not one of ['a', 'b']"),
        ("/echo", {**ECHO, "flag": "True"}, "Invalid argument: flag. value type str is not a boolean"),
        ("/echo", {**ECHO, "marks": [[0, 0]]}, "Invalid argument: marks. expected 2 points of [x, y], got 1"),
        ("/invert", {"image": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="},
         "Invalid argument: image. the bytes are not a JPEG or PNG"),
        ("/invert", {"image": data_uri(png(big), "image/png")},
         "Invalid argument: image. width 2100 is above the maximum 2000"),
        ("/invert", b"{not json", "The body of all POST requests must contain JSON"),
        ("/invert", {"image": data_uri(_bomb_jpeg())}, "the JPEG header says 30000x30000, over the limit of"),
    ]
    for path, body, expect in cases:
        status, _, out = s.post(path, body)
        assert status == 400, (path, out)
        assert expect in out["error"], out
    status, _, out = s.post("/nope", {})
    assert status == 404 and out == {"error": "Unknown command: nope."}
    status, _, out = s.post("/fail", {"message": "kaput"})
    assert status == 500 and out == {"error": "Error during inference: ValueError('kaput')."}  # traceback: debug only
    assert s.get("/a/b")[2] == {"error": "Not found."}
    assert http("PUT", s.url + "/setup", {})[:3:2] == (405, {"error": "Method not allowed."})


def test_generator_returns_last_over_http(model_server):
    s = model_server(KITCHEN)
    assert s.post("/count", {"steps": 4})[2] == {"n": 4}
    assert s.post("/progress", {})[2] == {"text": "done"}  # (output, progress) steps: the output, not a string


def test_starting_is_visible_during_a_slow_setup(model_server):
    s = model_server(KITCHEN, env={"RW_MODEL_OPTIONS": json.dumps({"setup_delay": 3})}, wait_running=False)
    assert s.get("/healthcheck")[2] == {"status": "STARTING"}
    assert s.get("/meta")[0] == 200  # the manifest is there before setup ends
    status, headers, out = s.post("/invert", {"image": data_uri(png(np.zeros((4, 4, 3), np.uint8)), "image/png")})
    assert status == 503 and "loading" in out["error"] and headers["Retry-After"] == "1"
    wait_http(s.url + "/healthcheck", s.proc, 30, lambda st, b: b["status"] == "RUNNING")


def test_setup_reloads_with_new_options_and_a_rejected_one_keeps_the_model(model_server):
    s = model_server(KITCHEN)
    assert s.post("/echo", ECHO)[2]["number"] == 2.0
    assert s.post("/setup", {"gain": 2})[2] == {"success": True}
    assert s.post("/echo", ECHO)[2]["number"] == 4.0
    status, _, out = s.post("/setup", {"gain": 99})
    assert status == 400 and "gain" in out["error"]
    status, _, out = s.post("/setup", {"gain": 7})
    assert status == 500 and out["error"] == "Error during setup: RuntimeError('setup refused')."
    assert s.get("/healthcheck")[2] == {"status": "RUNNING"}
    assert s.post("/echo", ECHO)[2]["number"] == 4.0  # still the model of gain 2


def test_rw_meta_prints_the_manifest_and_exits():
    out = subprocess.run([sys.executable, str(KITCHEN)], env={"RW_META": "1", "PATH": "/usr/bin"},
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    meta = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(meta) == {"options", "commands"} and meta["commands"][0]["name"] == "invert"


def test_gzip_both_ways(model_server, astronaut):
    s = model_server(KITCHEN)
    body = gzip.compress(json.dumps({"image": data_uri(jpeg(astronaut))}).encode())
    status, headers, out = http("POST", s.url + "/invert", body,
                                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert status == 200 and out["image"].startswith("data:image/jpeg")
    import urllib.request

    req = urllib.request.Request(s.url + "/meta", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(r.read()))["commands"][0]["name"] == "invert"
    # answers carrying base64 images are not worth the CPU on a live stream
    req = urllib.request.Request(s.url + "/invert", data=json.dumps({"image": data_uri(jpeg(astronaut))}).encode(),
                                 headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        assert r.headers.get("Content-Encoding") is None
        assert json.loads(r.read())["image"].startswith("data:image/jpeg")
    assert s.get("/meta")[1]["Access-Control-Allow-Origin"] == "*"


def test_websocket_jobs_stream_and_cancel_a_job_that_is_not_the_newest(model_server):
    s = model_server(KITCHEN)

    async def go():
        async with aiohttp.ClientSession() as session, session.ws_connect(s.url.replace("http", "ws") + "/") as ws:
            await ws.send_json({"type": "submit", "id": "a", "command": "count", "inputData": {"steps": 3, "delay": 0.3}})
            await ws.send_json({"type": "submit", "id": "b", "command": "count", "inputData": {"steps": 3, "delay": 0.3}})
            await ws.send_json({"type": "submit", "id": "c", "command": "count", "inputData": {"steps": 2}})
            await asyncio.sleep(0.1)
            await ws.send_json({"type": "cancel", "id": "b"})
            await ws.send_json({"type": "bogus"})
            events = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                msg = await ws.receive_json(timeout=20)
                events.append(msg)
                done = {e["id"] for e in events if e["type"] in ("succeeded", "failed", "cancelled") and e["id"]}
                if {"a", "b", "c"} <= done:
                    break
            return events

    events = asyncio.run(go())
    by = {}
    for e in events:
        by.setdefault(e["id"], []).append(e)
    assert [e["type"] for e in by["a"]] == ["started", "output", "output", "output", "succeeded"]
    assert [e["outputData"] for e in by["a"] if e["type"] == "output"] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert all("progress" not in e for e in by["a"])  # the steps gave none
    assert set(by["a"][-1]) == {"type", "id", "timeElapsed"} and by["a"][-1]["timeElapsed"] >= 800
    assert by["b"][-1]["type"] == "cancelled"
    assert [e["type"] for e in by["c"]] == ["started", "output", "output", "succeeded"]
    assert any(e["type"] == "failed" and "unknown message type" in e["error"] for e in by[None])


def test_websocket_job_output_formats_and_error_field(model_server):
    s = model_server(KITCHEN)
    rgba = np.dstack([np.full((8, 8, 3), 90, np.uint8), np.full((8, 8), 200, np.uint8)])

    async def go():
        async with aiohttp.ClientSession() as session, session.ws_connect(s.url.replace("http", "ws") + "/") as ws:
            await ws.send_json({"type": "submit", "id": "m", "command": "mask", "formats": {"alpha": "PNG"},
                                "inputData": {"image": data_uri(png(rgba), "image/png")}})
            await ws.send_json({"type": "submit", "id": "x", "command": "count", "inputData": {"steps": 99}})
            await ws.send_json({"type": "submit", "id": "y", "command": "count", "formats": {"n": "GIF"}})
            events, outputs = {}, {}
            while len(events) < 3:
                msg = await ws.receive_json(timeout=20)
                if msg["type"] == "output":
                    outputs[msg["id"]] = msg
                elif msg["type"] != "started":
                    events[msg["id"]] = msg
            return events, outputs

    events, outputs = asyncio.run(go())
    assert events["m"]["type"] == "succeeded" and outputs["m"]["outputData"]["alpha"].startswith("data:image/png;base64,")
    assert decode_uri(outputs["m"]["outputData"]["alpha"]).max() == 200
    assert events["x"]["type"] == "failed" and events["x"]["status"] == 400 and events["x"]["field"] == "steps"
    assert events["y"]["type"] == "failed" and "GIF" in events["y"]["error"]


def test_an_unmodified_runway_model_file_runs(model_server, astronaut):
    s = model_server(FIXTURES / "old_runway" / "runway_model.py")
    meta = s.get("/meta")[2]
    assert [c["name"] for c in meta["commands"]] == ["blur", "describe"]
    assert meta["options"][1] == {"name": "mode", "type": "category", "description": None,
                                  "oneOf": ["gaussian", "box"], "default": "gaussian"}
    status, _, out = s.post("/blur", {"image": data_uri(jpeg(astronaut))})
    assert status == 200, out
    blurred = decode_uri(out["image"]).astype(float)
    assert blurred.shape == astronaut.shape
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(astronaut.astype(float), axis=1)).mean() * 0.7
    status, _, out = s.post("/describe", {"image": data_uri(jpeg(astronaut[:100, :50])), "z": [3, 4, 0, 0]})
    assert out == {"caption": "an image of 50x100", "size": 5000, "norm": 5.0}
    status, _, out = s.post("/describe", {"image": data_uri(jpeg(astronaut)), "z": [1]})
    assert status == 400 and "z" in out["error"]


def test_token_guards_the_model_server_but_not_its_healthcheck(model_server):
    s = model_server(KITCHEN, env={"RW_TOKEN": "t0k"})
    assert s.get("/healthcheck")[0] == 200
    assert s.get("/")[0] == 401 and s.get("/meta")[0] == 401
    assert s.get("/meta", headers={"Authorization": "Bearer t0k"})[0] == 200
