"""The wheel is the product: build it, install it into a fresh venv outside the checkout, serve.

One venv, in steps, as a user would go: first the core alone (``pip install runway-bridge``),
whose `pip check` must be clean and which must not force numpy 1 (the core's unit tests run there
on numpy 2, on this Python); then the documented catalogue
install (``[models,cpu]``, then ``runway-bridge install-models``, which ends with the pip check),
from which ``runway-bridge serve --model face_mesh`` finds a face in a real photo over HTTP.
Packages come from the pip cache or the configured index (PyPI on CI); the test is skipped only
when no index can be reached.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from conftest import ROOT, Server, data_uri, free_port, http, jpeg, wait_http

pytestmark = pytest.mark.timeout(1200)


def _index_reachable() -> bool:
    """PyPI (or the index pip is configured with) answers a TCP connection."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    hosts = {"pypi.org"}
    for line in out.splitlines():
        if "index-url" in line:
            for url in line.split("=", 1)[1].strip("'\" ").split():
                if urllib.parse.urlparse(url).scheme == "file":
                    return True
                hosts.add(urllib.parse.urlparse(url).hostname or "pypi.org")
    for host in hosts:
        try:
            socket.create_connection((host, 443), timeout=5).close()
            return True
        except OSError:
            continue
    return False


def _run(*cmd, cwd: Path, timeout: float = 900) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    if not _index_reachable():
        pytest.skip("no package index can be reached (PyPI is needed to install the wheel's dependencies)")
    work = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", ROOT, cwd=work)
    wheels = list((work / "dist").glob("runway_bridge-*.whl"))
    assert len(wheels) == 1, wheels
    base = getattr(sys, "_base_executable", sys.executable)
    _run(base, "-m", "venv", work / "venv", cwd=work)
    py = work / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    return work, wheels[0], py


def test_the_core_alone_installs_cleanly_without_numpy_1(venv):
    work, wheel, py = venv
    _run(py, "-m", "pip", "install", "-q", wheel, cwd=work)
    assert "No broken requirements found" in _run(py, "-m", "pip", "check", cwd=work)
    out = _run(py, "-c", "import numpy, runway_bridge, runway_bridge.client, runway_bridge.sdk;"
               "print(runway_bridge.__file__); print(numpy.__version__)", cwd=work)
    where, numpy_version = out.split()
    assert Path(where).is_relative_to(work / "venv"), f"imported the checkout, not the wheel: {where}"
    assert int(numpy_version.split(".")[0]) >= 2, "the core forced numpy 1"


def test_core_tests_pass_on_numpy_2(venv):
    """The core's own tests (types, wire, SDK) in that numpy 2 venv, before the catalogue brings numpy 1."""
    work, wheel, py = venv
    _run(py, "-m", "pip", "install", "-q", "pytest>=8", "pytest-asyncio>=0.23", "pytest-timeout>=2.2",
         "scikit-image>=0.22", cwd=work)
    assert _run(py, "-c", "import numpy; print(numpy.__version__)", cwd=work).startswith("2.")
    _run(py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_types.py", "tests/test_model.py",
         "tests/test_jsonsafe.py", "tests/test_exports.py", cwd=ROOT)


def test_the_installed_catalogue_serves_face_mesh(venv, astronaut):
    work, wheel, py = venv
    _run(py, "-m", "pip", "install", "-q", f"{wheel}[models,cpu]", cwd=work)
    exe = py.parent / ("runway-bridge.exe" if os.name == "nt" else "runway-bridge")
    assert "pip check: clean" in _run(exe, "install-models", cwd=work)  # the documented step after pip
    listing = _run(exe, "models", cwd=work)
    for model_id in ("face_mesh", "pose", "hands", "ocr", "style_transfer", "digits_vae", "text_ngram"):
        assert model_id in listing, listing

    port = free_port()
    log = work / "serve.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.Popen([exe, "serve", "--model", "face_mesh", "--port", str(port), "--no-osc"], cwd=work,
                            env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    server = Server(proc, port, log=log)
    try:
        wait_http(server.url + "/readyz", proc, timeout=120)
        status, _, out = server.post("/v1/models/face_mesh/commands/detect", {"image": data_uri(jpeg(astronaut))})
        assert status == 200, out
        faces = out["landmarks"]
        assert len(faces) == 1 and len(faces[0]) == 478, f"expected one face of 478 points: {str(out)[:300]}"
        xs = [p[0] for p in faces[0]]
        ys = [p[1] for p in faces[0]]
        # The astronaut's face is in the upper middle of the photo (normalised coordinates).
        assert 0.3 < sum(xs) / len(xs) < 0.65 and 0.1 < sum(ys) / len(ys) < 0.45, (min(xs), max(xs), min(ys), max(ys))
        # The web examples ship too.
        status, _, page = http("GET", server.url + "/examples/p5js/face_mesh/index.html")
        assert status == 200 and b"sketch.js" in page
    finally:
        server.stop()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
