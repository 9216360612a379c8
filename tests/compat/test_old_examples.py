"""The old SDK's examples/example_server.py and examples/docs_code_snippets serve unmodified.

Each runs in place from ../shared/runway-model-sdk, as its users ran it: ``python FILE`` when it
calls ``runway.run()`` (with ``import runway`` resolved to the compatibility package through
PYTHONPATH, as docs/authoring.md says), ``runway-bridge run FILE`` when it does not. The modules
two snippets import and that never existed (``your_code``, ``my_image_generation_model``) are
stubbed in the working folder, as the snippets' own comments suggest. Each server is then queried
with the request from the snippet's comment, or the one its command implies.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT, decode_uri, free_port, http, jpeg, wait_http

sys.path.insert(0, str(ROOT / "scripts"))
from old_sdk_tests import find_sdk  # noqa: E402

SDK = find_sdk()
pytestmark = pytest.mark.skipif(SDK is None, reason="the old SDK is not at ../shared/runway-model-sdk")

STUBS = {
    "your_code.py": '''
        import numpy as np

        class model:
            def __init__(self, network_size=None):
                self.network_size = network_size

            def sample(self, z, category):
                return np.full((64, 64, 3), 200 if category == 'day' else 20, np.uint8)
    ''',
    "my_image_generation_model.py": '''
        class big_model:
            def generate(self, img):
                return {}

        class little_model(big_model):
            pass
    ''',
}


@pytest.fixture
def serve(tmp_path):
    """``serve(relpath)``: run one example on a free port from a folder holding the stubs."""
    for name, code in STUBS.items():
        (tmp_path / name).write_text(textwrap.dedent(code))
    (tmp_path / "test").mkdir()  # the folder data_types_file.py's curl line names
    procs = []

    def start(rel: str, running: bool = True):
        path = SDK / "examples" / rel
        port = free_port()
        env = {**os.environ, "RW_PORT": str(port), "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join([str(ROOT / "runway_bridge" / "compat"), str(ROOT), str(tmp_path)])}
        calls_run = "runway.run(" in path.read_text()
        cmd = [sys.executable, str(path)] if calls_run else [sys.executable, "-m", "runway_bridge", "run", str(path)]
        log = open(tmp_path / f"{path.stem}.log", "w+")
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        want = ("RUNNING",) if running else ("FAILED",)
        body = wait_http(url + "/healthcheck", proc, 60, lambda st, b: b.get("status") in ("RUNNING", "FAILED"))
        assert body["status"] in want, body
        return url, lambda: (tmp_path / f"{path.stem}.log").read_text()

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def test_example_server(serve):
    url, _ = serve("example_server.py")
    assert http("POST", url + "/lower2upper", {"input": "abc"})[2] == {"output": "ABC"}
    assert http("POST", url + "/setup", {"suffix": "!"})[2] == {"success": True}
    assert http("POST", url + "/lower2upper", {"input": "abc"})[2] == {"output": "ABC!"}


@pytest.mark.parametrize("rel, options, printed", [
    ("docs_code_snippets/data_types_category.py", {"pixel_order": "bgr"}, "The selected pixel order is bgr"),
    ("docs_code_snippets/data_types_number.py", {"number_of_samples": 5}, "The number of samples is 5"),
    ("docs_code_snippets/data_types_text.py", {"flavor": "chocolate"}, "The selected flavor is chocolate"),
    ("docs_code_snippets/runway_module_setup.py", {"network_size": 512}, "the network size is 512"),
])
def test_setup_only_snippets(serve, rel, options, printed):
    url, log = serve(rel)
    assert http("GET", url + "/meta")[2]["commands"] == []
    assert http("POST", url + "/setup", options)[2] == {"success": True}
    assert printed in log()


def test_array_snippet_waits_for_its_required_option(serve):
    url, log = serve("docs_code_snippets/data_types_array.py", running=False)  # the old run() exited here
    assert http("GET", url + "/healthcheck")[2] == {"status": "FAILED", "error": "Missing option: seed_sentences."}
    sentences = ["the", "sly", "fox", "is", "sly"]
    assert http("POST", url + "/setup", {"seed_sentences": sentences})[2] == {"success": True}
    assert http("GET", url + "/healthcheck")[2] == {"status": "RUNNING"}
    assert 'Sentence 5 is "sly"' in log()


def test_any_snippet(serve):
    pytest.importorskip("yaml")
    url, _ = serve("docs_code_snippets/data_types_any.py", running=False)
    status, _, out = http("POST", url + "/setup", {"configuration": "fruits:\n  - Apple\n  - Mango"})
    # PyYAML 6 wants yaml.load(..., Loader=...): the snippet's own bug, reported as the old SDK would
    assert status == 500 and out["error"].startswith("Error during setup: TypeError(") and "Loader" in out["error"]


def test_file_snippet(serve):
    url, _ = serve("docs_code_snippets/data_types_file.py")
    assert http("POST", url + "/batch_process", {"directory": "test"})[2] == {"result": "success"}
    status, _, out = http("POST", url + "/batch_process", {"directory": "no_such_folder"})
    assert status == 400 and out["error"].startswith("Invalid argument: directory.")


def test_image_snippet(serve, astronaut):
    url, _ = serve("docs_code_snippets/data_types_image.py")
    inp = http("GET", url + "/style_transfer")[2]["inputs"][0]
    assert inp == {"name": "image", "type": "image", "description": None, "channels": 3, "width": 512, "height": 512,
                   "defaultOutputFormat": "JPEG"}
    image = "data:image/jpeg;base64," + base64.b64encode(jpeg(astronaut)).decode()
    status, _, out = http("POST", url + "/style_transfer", {"image": image})
    assert status == 500 and out["error"] == ("Error during inference: NameError(\"name 'do_style_transfer' is "
                                              "not defined\").")


def test_vector_snippet(serve):
    url, _ = serve("docs_code_snippets/data_types_vector.py")
    schema = http("GET", url + "/random_sample")[2]
    assert schema["inputs"][0]["default"] == 1  # number(min=1): the old rule takes min
    assert schema["outputs"][0]["default"] is None
    out = http("POST", url + "/random_sample", {"length": 128})[2]["vector"]
    assert len(out) == 128 and all(0 <= v < 1 for v in out) and len(set(out)) > 100


def test_index_example(serve):
    url, log = serve("docs_code_snippets/index_example.py")
    assert "listening on 127.0.0.1 instead" in log() and "RW_TOKEN=" in log()  # run(host="0.0.0.0")
    status, _, out = http("POST", url + "/generate", {"noise_vector": [0.0] * 128})
    assert status == 500 and out["error"] == "Error during inference: KeyError('image')."


def test_command_snippet(serve):
    url, _ = serve("docs_code_snippets/runway_module_command.py")
    for category, level in (("day", 200), ("night", 20)):
        status, _, out = http("POST", url + "/sample", {"z": [0.0] * 512, "category": category})
        assert status == 200
        assert np.abs(decode_uri(out["image"]).astype(int) - level).max() < 3
