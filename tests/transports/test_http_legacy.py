"""Issue 9.7: the desktop app's control API as the Unity plugin drives it (RunwayHub.cs: the requests
it sends, the fields it parses), on the daemon's port and on --app-api-port; and the Hosted
Models HTTP shape as @runwayml/hosted-models speaks it (Bearer token, JSON content types)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, data_uri, free_port, http, jpeg, launch_daemon

UNITY = {"User-Agent": "UnityPlayer/2019.4.1f1 (UnityWebRequest/1.0, libcurl/7.52.0-DEV)",
         "X-Unity-Version": "2019.4.1f1"}


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    app_port = free_port()
    server = launch_daemon(tmp_path_factory.mktemp("legacy"), "kitchen_sink", args=["--app-api-port", str(app_port)])
    server.app_port = app_port
    yield server
    server.stop()


def _field_ok(f: dict) -> bool:
    """Field.FromDictionary needs name and type; numbers must convert (Convert.ToSingle)."""
    return isinstance(f["name"], str) and isinstance(f["type"], str) and all(
        f.get(k) is None or isinstance(f[k], (int, float)) for k in ("min", "max", "step", "length"))


def _unity_models(url: str) -> list[dict]:
    # the first answer reads every model's manifest (a child process each); later ones are cached
    status, headers, body = http("GET", url + "/v1/models", headers=UNITY, timeout=240)
    assert status == 200 and "application/json" in headers["Content-Type"]
    return body["models"]


def test_unity_plugin_sees_runway_running_and_lists_models_with_options_and_commands(d):
    for base in (d.url, f"http://127.0.0.1:{d.app_port}"):
        assert http("GET", base + "/v1/healthcheck")[2] == {"success": True}
        models = {m["name"]: m for m in _unity_models(base)}
        ks = models["Kitchen sink (test fixture)"]
        assert isinstance(ks["defaultVersionId"], int) and ks["description"]
        assert [o["name"] for o in ks["options"]] == ["gain", "setup_delay"] and all(map(_field_ok, ks["options"]))
        invert = next(c for c in ks["commands"] if c["name"] == "invert")
        assert invert["outputs"][0]["type"] == "image"  # getFilteredModels keeps models with an image output
        assert all(_field_ok(f) for c in ks["commands"] for f in c["inputs"] + c["outputs"])
    # the same answer is still the catalogue for everyone else
    plain = {m["id"]: m for m in http("GET", d.url + "/v1/models")[2]["models"]}
    assert plain["kitchen_sink"]["status"] == "RUNNING" and "commands" not in plain["kitchen_sink"]


def test_unity_plugin_runs_a_session_infers_and_stops_it(d, astronaut):
    base = f"http://127.0.0.1:{d.app_port}"
    models = {m["id"]: m for m in _unity_models(base)}
    req = {"modelVersionId": models["haar_faces"]["defaultVersionId"], "modelOptions": {}, "application": "Unity",
           "providerOptions": {"runLocation": "Local", "runType": None, "gpuIndex": -1}}
    status, _, out = http("POST", base + "/v1/model_sessions", req, headers={**UNITY, "Content-Type": "application/json"})
    assert status == 201, out
    session = out["modelSession"]
    assert session["application"] == "Unity" and session["runningStatus"] in ("STARTING", "RUNNING")
    deadline = time.monotonic() + 60
    while session["runningStatus"] != "RUNNING" and time.monotonic() < deadline:
        sessions = http("GET", base + "/v1/model_sessions", headers=UNITY)[2]["modelSessions"]
        session = next(s for s in sessions if s["application"] == "Unity")
        time.sleep(0.2)
    assert session["runningStatus"] == "RUNNING" and session["startedRunningAt"]
    assert http("GET", f"{base}/v1/model_sessions/{session['id']}")[2]["modelSession"]["runningStatus"] == "RUNNING"
    # runInference: POST <session.url>/<commands[0].name> with the inputs as JSON
    cmd = models["haar_faces"]["commands"][0]["name"]
    status, _, outputs = http("POST", f"{session['url']}/{cmd}", {"image": data_uri(jpeg(astronaut))},
                              headers={**UNITY, "Content-Type": "application/json"})
    assert status == 200 and len(outputs["boxes"]) >= 1
    assert http("DELETE", f"{base}/v1/model_sessions/{session['id']}", headers=UNITY)[0] == 200
    assert d.state("haar_faces") == "STOPPED"
    status, _, out = http("POST", base + "/v1/model_sessions", {**req, "modelVersionId": 12345})
    assert status == 404 and "defaultVersionId" in out["error"]


def test_hosted_models_shape_with_a_bearer_token(tmp_path, astronaut):
    srv = launch_daemon(tmp_path, "kitchen_sink", token="hosted-secret")
    try:
        h = {"Accept": "application/json", "Content-Type": "application/json", "Authorization": "Bearer hosted-secret"}
        status, headers, root = http("GET", srv.url + "/v1/", headers=h)
        assert status == 200 and root == {"status": "running"} and "application/json" in headers["Content-Type"]
        info = http("GET", srv.url + "/v1/info", headers=h)[2]
        assert [i["name"] for i in info["inputs"]] == ["image"]
        status, _, out = http("POST", srv.url + "/v1/query", {"image": data_uri(jpeg(astronaut))}, headers=h)
        assert status == 200 and out["image"].startswith("data:image/")
        status, _, out = http("POST", srv.url + "/v1/query", {"image": "x"}, headers={**h, "Authorization": "Bearer no"})
        assert status == 401  # PermissionDeniedError in the client
    finally:
        srv.stop()


NODE_CLIENT = ROOT / "tests" / "node" / "node_modules" / "@runwayml" / "hosted-models"


@pytest.mark.skipif(not shutil.which("node") or not NODE_CLIENT.is_dir(),
                    reason="needs node and `npm install` in tests/node (@runwayml/hosted-models)")
def test_the_real_hosted_models_client(tmp_path, astronaut):
    srv = launch_daemon(tmp_path, "kitchen_sink", token="hm-token",
                        args=["--allow-host", "*.hosted-models.runwayml.cloud"])
    try:
        inputs = tmp_path / "inputs.json"
        inputs.write_text(json.dumps({"image": data_uri(jpeg(astronaut[::4, ::4]))}))
        run = subprocess.run(["node", str(Path(__file__).with_name("hosted_models_peer.cjs")),
                              "http://kitchen.hosted-models.runwayml.cloud/v1", "hm-token", str(inputs)],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "http_proxy": srv.url, "HTTP_PROXY": srv.url, "no_proxy": ""})
        out = json.loads(run.stdout.strip().splitlines()[-1])
        assert "error" not in out, out["error"]
        assert out["awake"] is True and [i["name"] for i in out["info"]["inputs"]] == ["image"]
        assert out["keys"] == ["image"] and out["image"].startswith("data:image/jpeg;base64")
        assert out["wrong"].startswith("Permission denied")  # its PermissionDeniedError, on our 401
    finally:
        srv.stop()
