"""The daemon end to end: catalogue, lifecycle, Runway HTTP endpoints, limits and bad input."""

import json
import socket
import subprocess
import sys
import time

import numpy as np

from conftest import FIXTURE_ADAPTERS, ROOT, data_uri, free_port, http, jpeg, png, wait_http


def test_healthz_answers_within_a_second_while_a_slow_model_loads(tmp_path):
    port = free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc",
                             "--adapters", str(FIXTURE_ADAPTERS), "--model", "slow_setup"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=10)
        elapsed = time.monotonic() - t0
        assert elapsed < 1.5, f"first /healthz answer after {elapsed:.2f} s"  # budget 1 s; slack for a busy CI box
        status, _, body = http("GET", f"http://127.0.0.1:{port}/v1/models/slow_setup")
        assert body["status"]["state"] == "STARTING"
        assert http("GET", f"http://127.0.0.1:{port}/readyz")[0] == 503
        status, headers, out = http("POST", f"http://127.0.0.1:{port}/query", {"name": "x"})
        assert status == 503 and headers["Retry-After"] == "1"
        wait_http(f"http://127.0.0.1:{port}/readyz", proc, timeout=30)
        assert http("POST", f"http://127.0.0.1:{port}/query", {"name": "x"})[2] == {"text": "hello x (ready)"}
    finally:
        proc.terminate()
        proc.wait(10)


def test_catalogue_lists_cards_and_status(daemon):
    d = daemon("kitchen_sink")
    models = {m["id"]: m for m in d.get("/v1/models")[2]["models"]}
    assert {"cartoon", "haar_faces", "kitchen_sink", "slow_setup"} <= set(models)
    hf = models["haar_faces"]
    assert hf["category"] == "extract" and hf["license"] == "BSD-3-Clause" and hf["commercial_use"] is True
    assert hf["status"] == "STOPPED" and models["kitchen_sink"]["status"] == "RUNNING"
    assert models["kitchen_sink"]["default"] is True
    status, _, one = d.get("/v1/models/haar_faces")
    assert one["manifest"]["commands"][0]["name"] == "detect" and one["card"]["publisher"] == "OpenCV"
    assert d.get("/v1/models/nope")[0] == 404


def test_start_stop_and_run_commands(daemon, astronaut):
    d = daemon("kitchen_sink")
    status, _, body = d.post("/v1/models/haar_faces/start?wait=1", {"options": {"min_neighbors": 3}})
    assert status == 200 and body["state"] == "RUNNING" and body["options"]["min_neighbors"] == 3
    status, _, out = d.post("/v1/models/haar_faces/commands/detect", {"image": data_uri(jpeg(astronaut))})
    assert status == 200 and out["count"] == 1
    x0, y0, x1, y1 = out["boxes"][0]
    assert 0.3 < x0 < 0.4 and 0.45 < x1 < 0.6 and 0.05 < y0 < 0.2 and 0.25 < y1 < 0.4  # the astronaut's face
    # a raw JPEG body for a single-image command
    status, _, raw = http("POST", d.url + "/v1/models/haar_faces/commands/detect", jpeg(astronaut),
                          headers={"Content-Type": "image/jpeg"})
    assert raw == out
    assert d.post("/v1/models/haar_faces/stop")[2]["state"] == "STOPPED"
    status, _, out = d.post("/v1/models/haar_faces/commands/detect", {"image": data_uri(jpeg(astronaut))})
    assert status == 409 and "not running" in out["error"]
    status, _, out = d.post("/v1/models/haar_faces/start?wait=1", {"options": {"min_neighbors": 99}})
    assert status == 400 and out["state"] == "FAILED" and "min_neighbors" in out["error"]


def test_runway_http_endpoints(daemon, astronaut):
    d = daemon("kitchen_sink")
    assert d.get("/error")[2] == {"error": None}
    assert d.get("/data")[2] == {}
    info = d.get("/info")[2]
    assert [i["name"] for i in info["inputs"]] == ["image"] and info["outputs"][0]["type"] == "image"
    status, _, out = d.post("/query", {"image": data_uri(jpeg(astronaut))})
    assert status == 200 and out["image"].startswith("data:image/jpeg")
    assert d.get("/data")[2] == out
    status, _, err = d.post("/query", {})
    assert status == 400 and "missing input 'image'" in err["error"]
    assert d.get("/error")[2] == {"error": err["error"]}
    assert d.get("/data")[2] == out  # an error never lands in data
    assert d.get("/v1/models/kitchen_sink/data")[2] == out
    assert d.post("/v1/models/kitchen_sink/query", {"image": data_uri(jpeg(astronaut))})[0] == 200
    assert d.get("/v1/models/kitchen_sink/error")[2] == {"error": None}


def test_bad_input_gets_clear_json_errors_and_the_daemon_stays_healthy(daemon):
    d = daemon("kitchen_sink", args=["--max-body", str(8 * 1024 * 1024)])
    cases = [
        (b"{not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"image=abc", {"Content-Type": "application/x-www-form-urlencoded"}, 400, "form bodies"),
        (json.dumps({"image": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ"}).encode(), {}, 400, "image"),
        (b"[1, 2]", {}, 400, "expected a JSON object"),
    ]
    for body, headers, status, expect in cases:
        got, _, out = http("POST", d.url + "/query", body, headers=headers)
        assert got == status and expect in out["error"], out
    # a 200 MB body: refused with 413 without reading it all
    with socket.create_connection(("127.0.0.1", d.port)) as s:
        s.sendall(b"POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 209715200\r\n\r\n")
        chunk = b"x" * 65536
        try:
            for _ in range(200):
                s.sendall(chunk)
        except OSError:
            pass  # the server may close once it has refused
        s.settimeout(10)
        reply = s.recv(65536).decode(errors="replace")
    assert " 413 " in reply.splitlines()[0] and "limit" in reply
    assert d.post("/v1/models/nope/start")[0] == 404
    assert d.post("/v1/models/kitchen_sink/commands/nope", {})[0] == 404
    assert d.get("/healthz")[0] == 200
    assert d.post("/query", {"image": data_uri(png(np.zeros((4, 4, 3), np.uint8)), "image/png")})[0] == 200


def test_full_queue_answers_503_with_retry_after(daemon):
    import concurrent.futures

    d = daemon("kitchen_sink", args=["--queue-size", "1"])
    body = {"steps": 1, "delay": 1.0}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(http, "POST", d.url + "/v1/models/kitchen_sink/commands/count", body) for _ in range(4)]
        results = [f.result() for f in futures]
    statuses = sorted(r[0] for r in results)
    assert statuses.count(200) >= 2 and 503 in statuses
    rejected = next(r for r in results if r[0] == 503)
    assert rejected[1]["Retry-After"] == "1" and "busy" in rejected[2]["error"]


def test_token_is_required_when_set(daemon):
    d = daemon("kitchen_sink", args=["--token", "s3cret"], wait=False)
    wait_http(d.url + "/v1/models/kitchen_sink?token=s3cret", d.proc, 60,
              lambda s, b: s == 200 and b["status"]["state"] == "RUNNING")
    status, _, out = d.get("/v1/models")
    assert status == 401 and "token" in out["error"]
    assert d.get("/v1/models", headers={"Authorization": "Bearer s3cret"})[0] == 200
    assert d.get("/v1/models?token=s3cret")[0] == 200
    assert d.get("/v1/models", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert "s3cret" not in d.output()


def test_binding_a_public_address_needs_a_token():
    out = subprocess.run([sys.executable, "-m", "runway_bridge", "serve", "--host", "0.0.0.0", "--port",
                          str(free_port()), "--no-osc"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode != 0 and "without a token" in out.stderr


def test_file_inputs_from_the_network_stay_in_the_allowed_folder(daemon, tmp_path):
    root = tmp_path / "files"
    root.mkdir()
    (root / "note.txt").write_text("hello")
    d = daemon("kitchen_sink", args=["--file-root", str(root)])
    path = "/v1/models/kitchen_sink/commands/read_file"
    assert d.post(path, {"path": "note.txt"})[2] == {"text": "hello"}
    status, _, out = d.post(path, {"path": "../../../etc/passwd"})
    assert status == 400 and "outside the allowed folder" in out["error"]


def test_metrics_and_openapi(daemon, astronaut):
    d = daemon("kitchen_sink")
    d.post("/query", {"image": data_uri(jpeg(astronaut))})
    d.post("/query", {})
    status, _, text = d.get("/metrics")
    text = text.decode()
    assert 'runway_bridge_requests_total{command="invert",model="kitchen_sink",status="ok"} 1.0' in text
    assert 'runway_bridge_command_seconds_bucket{command="invert"' in text
    spec = d.get("/openapi.json")[2]
    echo = spec["paths"]["/v1/models/kitchen_sink/commands/echo"]["post"]
    schema = echo["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["vec"] == {"type": "array", "items": {"type": "number"}, "minItems": 3,
                                           "maxItems": 3, "default": [0.0, 0.0, 0.0]}
    assert schema["properties"]["choice"]["enum"] == ["a", "b"]
    assert "/v1/models/haar_faces/commands/detect" in spec["paths"]


def test_cli_models_and_info():
    out = subprocess.run([sys.executable, "-m", "runway_bridge", "models", "--adapters", str(FIXTURE_ADAPTERS),
                          "--port", str(free_port())], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["ID", "CATEGORY", "LICENCE", "COMMERCIAL", "USE", "STATUS"]
    row = next(line for line in lines if line.startswith("slow_setup "))
    assert "NO" in row.split()
    info = subprocess.run([sys.executable, "-m", "runway_bridge", "info", "haar_faces"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert info.returncode == 0, info.stderr
    assert "command detect(image: image, min_size: number) -> boxes: array, count: number" in info.stdout
    assert "commercial use allowed" in info.stdout
    bad = subprocess.run([sys.executable, "-m", "runway_bridge", "info", "nope"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert bad.returncode != 0 and "no model 'nope'" in bad.stderr


def test_non_commercial_models_say_so_when_started(daemon):
    d = daemon("slow_setup", wait=False)
    deadline = time.monotonic() + 10
    while "does not allow commercial use" not in d.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "slow_setup's licence (none) does not allow commercial use" in d.output()


def test_console_and_static_files_need_no_token_but_the_api_does(daemon):
    d = daemon("kitchen_sink", args=["--token", "s3cret"], wait=False)
    assert d.get("/")[0] == 200
    assert d.get("/client/runway-bridge.js")[0] == 200
    assert d.get("/v1/models")[0] == 401
    assert d.get("/healthz")[2]["osc_port"] is None


def test_runway_endpoints_with_curl(daemon, astronaut, tmp_path):
    """curl as the independent client, the way the old Runway examples called the app."""
    import shutil

    curl = shutil.which("curl")
    assert curl, "curl is needed for this test"
    d = daemon("haar_faces")
    body = tmp_path / "query.json"
    body.write_text(json.dumps({"image": data_uri(jpeg(astronaut))}))

    def run(*args):
        out = subprocess.run([curl, "-s", "-w", "\\n%{http_code}", *args], capture_output=True, text=True, timeout=30)
        text, _, code = out.stdout.rpartition("\n")
        return int(code), json.loads(text)

    code, out = run("-X", "POST", "-H", "Content-Type: application/json", "--data-binary", f"@{body}", d.url + "/query")
    assert code == 200 and out["count"] == 1
    assert run(d.url + "/data") == (200, out)
    assert run(d.url + "/error") == (200, {"error": None})
    code, info = run(d.url + "/info")
    assert code == 200 and [i["name"] for i in info["inputs"]] == ["image", "min_size"]
    code, err = run("-X", "POST", "-d", '{"image": "nope"}', d.url + "/v1/models/haar_faces/query")
    assert code == 400 and "image" in err["error"]
    assert run(d.url + "/v1/models/haar_faces/error") == (200, {"error": err["error"]})
    assert run(d.url + "/data") == (200, out)


def test_stopping_a_model_mid_call_answers_the_caller(daemon):
    import concurrent.futures

    d = daemon("kitchen_sink")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(http, "POST", d.url + "/v1/models/kitchen_sink/commands/count", {"steps": 1, "delay": 2})
        time.sleep(0.5)
        assert d.post("/v1/models/kitchen_sink/stop")[0] == 200
        status, _, out = slow.result(timeout=10)
    assert status == 409 and "stopped" in out["error"]
    assert d.get("/healthz")[0] == 200


def test_the_catalogue_shows_the_backend_a_model_really_runs_on(daemon):
    d = daemon("identity", args=["--backend", "identity=local"])  # its card says docker
    models = {m["id"]: m for m in d.get("/v1/models")[2]["models"]}
    assert models["identity"]["backend"] == "local" and models["identity"]["status"] == "RUNNING"
    assert models["haar_faces"]["backend"] == "local"
    one = d.get("/v1/models/identity")[2]
    assert one["backend"] == "local" and one["status"]["backend"] == "local" and one["card"]["backend"] == "docker"


def test_file_inputs_from_the_network_are_refused_without_a_file_root(daemon):
    """Issue 10.6: without --file-root, a `file` input read anything (/etc/shadow)."""
    d = daemon("kitchen_sink")
    status, _, out = d.post("/v1/models/kitchen_sink/commands/read_file", {"path": "/etc/hostname"})
    assert status == 400 and "--file-root" in out["error"] and "text" not in out


def test_token_file_keeps_the_token_out_of_the_process_list(daemon, tmp_path):
    """Issue 10.7: --token is visible to every user in ps; --token-file and the environment are not."""
    token_file = tmp_path / "token"
    token_file.write_text("file-secret-123\n")
    d = daemon("kitchen_sink", args=["--token-file", str(token_file)], wait=False)
    cmdline = open(f"/proc/{d.proc.pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    assert "file-secret-123" not in cmdline and "--token-file" in cmdline
    assert d.get("/v1/models")[0] == 401
    assert d.get("/v1/models", headers={"Authorization": "Bearer file-secret-123"})[0] == 200
    assert "visible" not in d.output()
    loud = daemon("kitchen_sink", token="cli-secret", wait=False)
    wait_http(loud.url + "/healthz", loud.proc)
    assert "--token is visible to every user" in loud.output().replace("a token given with ", "")
    env = daemon("kitchen_sink", env={"RUNWAY_BRIDGE_TOKEN": "env-secret"}, wait=False)
    assert env.get("/v1/models", headers={"Authorization": "Bearer env-secret"})[0] == 200
    assert "visible" not in env.output()


def test_an_empty_or_missing_token_file_is_a_clear_error(tmp_path):
    for path, expect in ((tmp_path / "missing", "cannot read the token file"), (tmp_path / "empty", "is empty")):
        if path.name == "empty":
            path.write_text("\n")
        out = subprocess.run([sys.executable, "-m", "runway_bridge", "serve", "--port", str(free_port()), "--no-osc",
                              "--token-file", str(path)], capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert out.returncode != 0 and expect in out.stderr
