"""The old SDK's tests/test_model.py, ported to speak HTTP and WebSocket to a real server.

Each old case defined a model with ``RunwayModel`` (or ``runway.setup``/``runway.command``) and
drove Flask's test client or a WebSocket on port 9000. Here the same model code is written to a
file and served by ``runway-bridge run`` (or ``python model.py`` where the case called ``run()``
with arguments) on a free port, and the same requests go over the network. Several old cases that
each defined one ``test_command`` share one model file with distinctly named commands.

Where the bridge deliberately differs from the old SDK (DESIGN 3.1), the port asserts the new
behaviour and says so: a failing setup leaves the server up answering ``/healthcheck`` with
FAILED (the old ``run()`` exited; with ``RW_NO_SERVE=1`` it still exits 1); a body that is not
JSON gets the old message followed by what was wrong.

Not ported:
- test_401_unauthorized, test_403_forbidden, test_500_internal_server_error: they add routes to
  the old Flask app (``rw.app.route``) and ``abort()`` in them; the bridge has no Flask app to add
  routes to. (Its own 401, for a missing token, is JSON too: tests/test_model_server.py.)
- test_model_status reads ``rw.running_status`` in the same process; ported as the
  ``/healthcheck`` a client sees.
- test_post_command_json_mime_type_with_gzip_response sets Flask-Compress's minimum size to 0 so
  a 13-byte answer is gzipped; the bridge gzips answers over 1 KB, so the port asks for a larger
  one.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request

import aiohttp
import pytest

from conftest import ROOT, free_port, http, wait_http

COMPAT = str(ROOT / "runway_bridge" / "compat")


def _write(tmp_path, name: str, code: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    return path


def _env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([COMPAT, str(ROOT)]), "PYTHONUNBUFFERED": "1", **extra}


MANIFEST_MODEL = '''
    # -*- coding: utf-8 -*-
    from runway.model import RunwayModel
    from runway.data_types import category, text, number

    rw = RunwayModel()
    description = 'The size of the model. Bigger is better but also slower.'
    @rw.setup(options={ 'size': category(choices=['big', 'small'], description=description) })
    def setup(opts):
        return {}

    inputs = { 'input': text(description='Some input text.') }
    outputs = { 'output': number(description='An output number.') }
    description = 'A test command whose description contains emoji 🕳'
    @rw.command('test_command', inputs=inputs, outputs=outputs, description=description)
    def test_command(model, opts):
        return 100

    rw.run(debug=True)
'''


def test_model_setup_and_command(model_server, tmp_path):
    s = model_server(_write(tmp_path, "manifest", MANIFEST_MODEL))
    expected = {
        "modelSDKVersion": "0.6.1", "millisRunning": None, "millisSinceLastCommand": None, "GPU": False,
        "options": [{"type": "category", "name": "size", "oneOf": ["big", "small"], "default": "big",
                     "description": "The size of the model. Bigger is better but also slower."}],
        "commands": [{"name": "test_command", "description": "A test command whose description contains emoji 🕳",
                      "inputs": [{"type": "text", "name": "input", "description": "Some input text.", "default": "",
                                  "minLength": 0}],
                      "outputs": [{"type": "number", "name": "output", "description": "An output number.",
                                   "default": 0}]}],
    }
    for path in ("/meta", "/"):
        status, headers, manifest = s.get(path)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert type(manifest["millisRunning"]) is int
        assert {**manifest, "millisRunning": None} == expected
    assert s.get("/test_command")[2] == expected["commands"][0]
    assert s.post("/test_command", {"input": "test input"})[2] == {"output": 100}
    assert type(s.get("/meta")[2]["millisSinceLastCommand"]) is int
    assert s.get("/healthcheck")[2] == {"status": "RUNNING"}  # test_model_status, test_model_healthcheck


COMMANDS_MODEL = '''
    import time
    import runway
    from runway.data_types import category, number, text

    @runway.command('times_two', inputs={ 'input': number }, outputs={ 'output': number })
    def times_two(model, args):
        return args['input'] * 2

    @runway.command('long_text', inputs={ 'input': number }, outputs={ 'output': text })
    def long_text(model, args):
        return 'x' * 5000

    inputs = {'category': category(choices=['Starks', 'Lannisters'])}
    @runway.command('reflect', inputs=inputs, outputs={'reflect': text })
    def reflect(opts):
        return opts['category']

    @runway.command('raises', inputs={ 'input': number }, outputs = { 'output': text })
    def raises(model, inputs):
        raise Exception('test exception, thrown from inside a wrapped command() function')

    @runway.command('returns_none', inputs={ 'input': number }, outputs = { 'output': text })
    def returns_none(model, inputs):
        pass

    @runway.command('coroutine', inputs={ 'input': number }, outputs = { 'output': text })
    def coroutine(model, inputs):
        yield 'hello'
        time.sleep(1)
        yield 'hello world'

    @runway.command('async_one', inputs={ 'input': number }, outputs = { 'output': text })
    def async_one(model, inputs):
        time.sleep(0.5)
        yield 'hello world'

    @runway.command('async_progress', inputs={ 'input': number }, outputs = { 'output': text })
    def async_progress(model, inputs):
        yield 'hello', 0.5
        time.sleep(1)
        yield 'hello world', 1

    @runway.command('async_failure', inputs={ 'input': number }, outputs = { 'output': text })
    def async_failure(model, inputs):
        raise Exception

    @runway.command('async_coroutine_failure', inputs={ 'input': number }, outputs = { 'output': text })
    def async_coroutine_failure(model, inputs):
        yield 'hello'
        raise Exception

    @runway.command('async_cancel', inputs={ 'input': number }, outputs = { 'output': text })
    def async_cancel(model, inputs):
        time.sleep(10)
'''


@pytest.fixture
def commands(model_server, tmp_path):
    return model_server(_write(tmp_path, "commands", COMMANDS_MODEL), env={"RW_DEBUG": "1"})


def test_post_command_bodies_and_errors(commands):
    s = commands
    # test_post_command_json_no_mime_type, _json_mime_type
    assert http("POST", s.url + "/times_two", b'{ "input": 5 }')[2] == {"output": 10}
    assert s.post("/times_two", {"input": 5}, headers={"Content-Type": "application/json"})[2] == {"output": 10}
    # test_post_command_json_mime_type_with_gzip
    body = gzip.compress(json.dumps({"input": 5}).encode())
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    assert http("POST", s.url + "/times_two", body, headers=headers)[2] == {"output": 10}
    # test_post_command_json_mime_type_with_gzip_response (over 1 KB: see the module docstring)
    req = urllib.request.Request(s.url + "/long_text", data=b'{"input": 5}', headers={"accept-encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(r.read())) == {"output": "x" * 5000}
    # test_post_command_form_encoding
    status, _, out = http("POST", s.url + "/times_two", b"input=5",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and out["error"].startswith("The body of all POST requests must contain JSON")
    # test_command_invalid_category
    status, _, out = s.post("/reflect", {"category": "Targaryen"})
    assert status == 400 and "Invalid argument: category" in out["error"] and "Targaryen" in out["error"]
    # test_inference_error (debug, as every old case ran: the traceback is there)
    status, _, out = s.post("/raises", {"input": 5})
    assert status == 500
    assert out["error"] == ("Error during inference: Exception('test exception, thrown from inside a wrapped "
                            "command() function').")
    assert any("raise Exception" in line for line in out["traceback"])
    # test_404_not_found
    status, _, out = s.get("/asfd")
    assert status == 404 and out == {"error": "Unknown command: asfd."}
    # test_inference_coroutine: a generator over HTTP answers its last step
    assert s.post("/coroutine", {"input": 5})[2]["output"] == "hello world"


def test_millis_since_run_and_since_last_command(commands):
    s = commands
    last = s.get("/meta")[2]["millisRunning"]
    for _ in range(3):
        time.sleep(0.02)
        now = s.get("/meta")[2]["millisRunning"]
        assert now > last
        last = now
    assert s.get("/meta")[2]["millisSinceLastCommand"] is None
    s.post("/returns_none", {"input": 5})
    first = s.get("/meta")[2]["millisSinceLastCommand"]
    assert type(first) is int
    for _ in range(3):
        time.sleep(0.05)
        since = s.get("/meta")[2]["millisSinceLastCommand"]
        assert since > first
        s.post("/returns_none", {"input": 5})
        assert s.get("/meta")[2]["millisSinceLastCommand"] < since


def _ws_job(server, message: dict, *, cancel_after_started: bool = False, count: int = 3) -> list[dict]:
    """Send one job message the old way (``websocket-client`` to ``ws://.../``); collect replies."""

    async def go():
        async with aiohttp.ClientSession() as session, session.ws_connect(server.url.replace("http", "ws") + "/") as ws:
            await ws.send_str(json.dumps(message))
            replies = []
            while len(replies) < count:
                reply = json.loads((await ws.receive(timeout=10)).data)
                replies.append(reply)
                if cancel_after_started and reply["type"] == "started":
                    await ws.send_str(json.dumps({"type": "cancel", "id": reply["id"]}))
            return replies

    return asyncio.run(go())


def test_inference_async(commands):
    r = _ws_job(commands, {"type": "submit", "command": "async_one", "inputData": {"input": 5}})
    assert [m["type"] for m in r] == ["started", "output", "succeeded"]
    assert r[1]["outputData"]["output"] == "hello world"
    assert isinstance(r[0]["id"], str) and r[1]["id"] == r[2]["id"] == r[0]["id"]


def test_inference_async_provide_id(commands):
    r = _ws_job(commands, {"type": "submit", "command": "async_one", "id": "test", "inputData": {"input": 5}})
    assert r[0] == {"type": "started", "id": "test"}
    assert r[1]["outputData"]["output"] == "hello world" and r[2]["type"] == "succeeded"


def test_inference_async_coroutine(commands):
    r = _ws_job(commands, {"type": "submit", "command": "async_progress", "inputData": {"input": 5}}, count=4)
    assert r[0]["type"] == "started"
    assert r[1]["outputData"]["output"] == "hello" and r[1]["progress"] == 0.5
    assert r[2]["outputData"]["output"] == "hello world" and r[2]["progress"] == 1
    assert r[3]["type"] == "succeeded"


def test_inference_async_failure(commands):
    r = _ws_job(commands, {"type": "submit", "command": "async_failure", "inputData": {"input": 5}}, count=2)
    assert [m["type"] for m in r] == ["started", "failed"]
    assert r[1]["error"] == "Error during inference: Exception()."


def test_inference_async_coroutine_failure_keeps_the_step_before(commands):
    r = _ws_job(commands, {"type": "submit", "command": "async_coroutine_failure", "inputData": {"input": 5}})
    assert r[0]["type"] == "started"
    assert r[1]["type"] == "output" and r[1]["outputData"]["output"] == "hello"
    assert r[2]["type"] == "failed"


def test_inference_async_wrong_command(commands):
    r = _ws_job(commands, {"type": "submit", "command": "test_command1", "inputData": {"input": 5}}, count=2)
    assert [m["type"] for m in r] == ["started", "failed"] and r[1]["error"] == "Unknown command: test_command1."


def test_inference_async_cancel(commands):
    started = time.monotonic()
    r = _ws_job(commands, {"type": "submit", "command": "async_cancel", "inputData": {"input": 5}},
                cancel_after_started=True, count=2)
    assert [m["type"] for m in r] == ["started", "cancelled"] and r[1]["id"] == r[0]["id"]
    assert time.monotonic() - started < 5  # not after the command's 10 s


SETUP_TEXT_MODEL = '''
    import runway
    from runway.data_types import text

    @runway.setup(options={'input': text})
    def setup(opts):
        pass
'''


def test_post_setup_bodies(model_server, tmp_path):
    s = model_server(_write(tmp_path, "setup_text", SETUP_TEXT_MODEL))
    assert http("POST", s.url + "/setup", b'{"input": "test input"}')[2] == {"success": True}
    assert s.post("/setup", {"input": "test input"}, headers={"Content-Type": "application/json"})[2] == {"success": True}
    for body, headers in ((b'{"input": test input"}', {}),
                          (b"input=test", {"Content-Type": "application/x-www-form-urlencoded"})):
        status, hdrs, out = http("POST", s.url + "/setup", body, headers=headers)
        assert status == 400 and hdrs["Content-Type"].startswith("application/json")
        assert out["error"].startswith("The body of all POST requests must contain JSON")
    status, _, out = http("PUT", s.url + "/setup", b'{"input": "test input"}')  # test_405_method_not_allowed
    assert status == 405 and out == {"error": "Method not allowed."}
    assert s.get("/meta")[2]["commands"] == []  # a model with only a setup serves


def test_setup_invalid_category(model_server, tmp_path):
    s = model_server(_write(tmp_path, "setup_category", '''
        import runway
        from runway.data_types import category

        @runway.setup(options={'category': category(choices=['Starks', 'Lannisters'])})
        def setup(opts):
            pass
    '''))
    status, _, out = s.post("/setup", {"category": "Tyrells"})
    assert status == 400 and "Invalid argument: category" in out["error"] and "Tyrells" in out["error"]


@pytest.mark.parametrize("options", ["", "(options={})"])
def test_model_setup_no_arguments_and_empty_options(model_server, tmp_path, options):
    args = "opts" if options else ""
    s = model_server(_write(tmp_path, "setup_only", f'''
        import runway

        @runway.setup{options}
        def setup({args}):
            print('setup ran with %r' % ({args or "None"},), flush=True)
    '''))
    assert s.get("/healthcheck")[2] == {"status": "RUNNING"}
    assert ("setup ran with {}" if options else "setup ran with None") in s.output()


def test_model_options_passed_as_arguments_to_run(tmp_path):
    path = _write(tmp_path, "options_to_run", '''
        from runway.model import RunwayModel
        from runway.data_types import array, text

        rw = RunwayModel()
        @rw.setup(options={'initialization_array': array(item_type=text)})
        def setup(opts):
            assert opts['initialization_array'] == ['one', 'two', 'three']
            print('setup ran', flush=True)

        rw.run(debug=True, model_options={ 'initialization_array': ['one', 'two', 'three'] })
    ''')
    out = subprocess.run([sys.executable, str(path)], env=_env(RW_NO_SERVE="1"), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "setup ran" in out.stdout, out.stderr


@pytest.mark.parametrize("setup, expect", [
    ("@rw.setup(options={'initialization_array': array(item_type=text)})\ndef setup(opts):\n    pass",
     "Missing option: initialization_array."),
    ("@rw.setup\ndef setup():\n    raise Exception('test exception, thrown from inside a wrapped setup() function')",
     "Error during setup: Exception('test exception, thrown from inside a wrapped setup() function')."),
    ("@rw.setup(options={'input': text})\ndef setup(opts):\n    raise Exception('thrown from setup(opts)')",
     "Error during setup: Exception('thrown from setup(opts)')."),
])
def test_model_options_missing_and_setup_errors(model_server, tmp_path, setup, expect):
    path = _write(tmp_path, "bad_setup", "from runway.model import RunwayModel\nfrom runway.data_types import "
                                         "array, text\n\nrw = RunwayModel()\n" + setup + "\n\nrw.run(debug=True)\n")
    # The old run() exited; it still does with RW_NO_SERVE, saying why.
    out = subprocess.run([sys.executable, str(path)], env=_env(RW_NO_SERVE="1"), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1 and expect in out.stderr, out.stderr
    # Served, the port stays up and says why, so a client can POST /setup with good options.
    s = model_server(path, wait_running=False)
    body = wait_http(s.url + "/healthcheck", s.proc, 30, lambda st, b: b["status"] != "STARTING")
    assert body == {"status": "FAILED", "error": expect}


def test_meta(tmp_path):
    path = _write(tmp_path, "meta", '''
        from runway.model import RunwayModel
        from runway.data_types import array, text, image, vector, any as any_type, file, number

        rw = RunwayModel()
        @rw.setup(options={'initialization_array': array(item_type=text)})
        def setup(opts):
            pass

        kwargs_1 = {'inputs': {'image': image, 'vector': vector(length=5)}, 'outputs': {'label': text}}
        @rw.command('command_1', **kwargs_1)
        def command_1(opts):
            pass

        kwargs_2 = {
            'description': 'This command is used for testing.',
            'inputs': {'any': any_type, 'file': file},
            'outputs': {'number': number(min=10, max=100)},
        }
        @rw.command('command_2', **kwargs_2)
        def command_2(opts):
            pass

        rw.run(debug=True, model_options={ 'initialization_array': ['one', 'two', 'three'] })
    ''')
    out = subprocess.run([sys.executable, str(path)], env=_env(RW_META="1"), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    manifest = json.loads(out.stdout.strip("\n"))
    assert manifest["options"] == [{"minLength": 0, "type": "array", "name": "initialization_array",
                                    "description": None, "itemType": {"default": "", "minLength": 0, "type": "text",
                                                                      "name": "text_array_item", "description": None}}]
    assert sorted(manifest["commands"], key=lambda c: c["name"]) == [
        {"name": "command_1", "description": None,
         "inputs": [{"channels": 3, "type": "image", "name": "image", "description": None,
                     "defaultOutputFormat": "JPEG"},
                    {"samplingMean": 0, "length": 5, "type": "vector", "name": "vector", "samplingStd": 1,
                     "default": None, "description": None}],
         "outputs": [{"default": "", "minLength": 0, "type": "text", "name": "label", "description": None}]},
        {"name": "command_2", "description": "This command is used for testing.",
         "inputs": [{"type": "any", "name": "any", "description": None},
                    {"type": "file", "name": "file", "description": None}],
         "outputs": [{"name": "number", "min": 10, "default": 10, "max": 100, "type": "number", "description": None}]},
    ]


@pytest.mark.parametrize("gpu, expect", [(None, False), ("1", True), ("0", False)])
def test_gpu_in_manifest(tmp_path, gpu, expect):
    path = _write(tmp_path, "gpu", "from runway.model import RunwayModel\nrw = RunwayModel()\n"
                                   "@rw.setup\ndef setup():\n    pass\n\nrw.run(debug=True)\n")
    port = free_port()
    env = _env(RW_PORT=str(port))
    env.pop("GPU", None)
    if gpu is not None:
        env["GPU"] = gpu
    proc = subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthcheck", proc, 60, lambda st, b: b.get("status") == "RUNNING")
        assert http("GET", url + "/meta")[2]["GPU"] is expect
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_model_templates_run_line_starts_on_loopback(tmp_path):
    """runway-model-template's ``runway.run(host='0.0.0.0', port=8000)``, without a token."""
    port = free_port()
    path = _write(tmp_path, "template", f"""
        import runway
        from runway.data_types import text

        @runway.command('upper', inputs={{'text': text}}, outputs={{'text': text}})
        def upper(model, inputs):
            return inputs['text'].upper()

        if __name__ == '__main__':
            runway.run(host='0.0.0.0', port={port})
    """)
    env = _env()
    env.pop("RW_TOKEN", None)
    env.pop("RUNWAY_BRIDGE_TOKEN", None)
    proc = subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthcheck", proc, 60, lambda st, b: b.get("status") == "RUNNING")
        assert http("POST", url + "/upper", {"text": "hi"})[2] == {"text": "HI"}
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "listening on 127.0.0.1 instead" in out and f"RW_TOKEN=SECRET RW_HOST=0.0.0.0 RW_PORT={port}" in out
    # asked for explicitly (RW_HOST), another address without a token is still refused
    refused = subprocess.run([sys.executable, str(path)], env={**env, "RW_HOST": "0.0.0.0"}, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode != 0 and "Refusing to bind 0.0.0.0 without a token" in refused.stderr
