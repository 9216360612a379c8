"""Every command in the README's and docs' ``sh`` blocks runs as written, after the documented install.

Each line of each fenced ``sh`` (or ``powershell``) block is one command. ``runway-bridge serve ...`` is started as
written (on free ports: ``--port``/``--osc-port`` are appended, and the last one wins) and must
answer /readyz with every model it names running, then it is stopped. Other ``runway-bridge``
commands must exit 0. A command that is not run here is in SKIP with the reason and the test
that covers it instead; a new command in the docs fails until it is run or listed.
"""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys

import pytest

from conftest import ROOT, free_port, wait_http

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# command prefix -> why it is not run here (and what runs it instead)
SKIP = {
    "bash scripts/install.sh": "the documented install itself: scripts/test.sh runs it before these tests",
    "bash scripts/test.sh": "the test suite: running it here would recurse",
    "bash scripts/docker-setup.sh": "run by scripts/test.sh before these tests",
    "powershell": "Windows only (not yet verified on Windows)",
    "uv tool install": "installs a second copy; pip's equivalent is tests/packaging/test_wheel.py",
    "python -m pip install \"dist/": "installs into this environment: tests/packaging/test_wheel.py does it in a fresh venv",
    "runway-bridge install-models": "installs into the environment: tests/packaging/test_wheel.py runs it",
    "runway-bridge build": "builds a Docker image: tests/backends/test_docker.py",
    "runway-bridge import my_model.onnx": "needs your ONNX file: tests/test_onnx_import.py imports real ones",
    "runway-bridge serve --model my_model": "serves the adapter the line before imports",
    "runway-bridge info blur": "needs the blur adapter the README shows you how to write",
    "python adapters/blur/model.py": "needs the blur adapter the README shows you how to write",
    "RW_META=1 python adapters/blur/model.py": "needs the blur adapter the README shows you how to write",
    "runway-bridge serve --adapters adapters --model blur": "needs the blur adapter the README shows you how to write",
    "runway-bridge serve --model face_mesh --backend face_mesh=docker": "Docker: tests/backends/test_docker.py",
    "oscdump": "an interactive OSC session: tests/transports/test_osc.py runs it with liblo",
    "oscsend": "an interactive OSC session: tests/transports/test_osc.py runs it with liblo",
    "runway-bridge serve --remote http://gpu-host:8000": "needs a second machine: tests/backends/test_remote.py",
    "ray start": "starts a Ray cluster: tests/backends/test_ray.py joins a running Ray by its address (--ray ADDRESS)",
    "runway-bridge serve --model style_transfer --backend style_transfer=ray --ray ray://":
        "needs a Ray cluster's head: tests/backends/test_ray.py joins a local Ray by its address",
    "RUNWAY_BRIDGE_TOKEN=... runway-bridge serve --host 0.0.0.0": "needs a LAN: tests/transports/test_osc.py tests --osc-allow",
    "python -m pip install 'runway-bridge[": "installs an extra into this environment: scripts/install.sh --test has it",
    "runway-bridge render ": "needs your video: tests/test_render.py renders vtest.avi and an image folder",
    "runway-bridge serve --model face_mesh --source face_mesh=ndi://": "needs an NDI sender: tests/test_video_out.py",
}


def _commands() -> list[tuple[str, str]]:
    found: dict[str, str] = {}  # command -> the first doc that has it
    for doc in DOCS:
        for block in re.findall(r"```(?:sh|powershell)\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()  # a trailing "# comment"
                if line and not line.startswith("#"):
                    for part in line.split(" && "):
                        found.setdefault(part.strip(), doc.name)
    return sorted((doc, command) for command, doc in found.items())


COMMANDS = _commands()


def _argv(command: str) -> list[str]:
    """The installed `runway-bridge` (also as .venv/bin/...) is this interpreter's module."""
    argv = shlex.split(command)
    if argv[0] in ("runway-bridge", ".venv/bin/runway-bridge"):
        return [sys.executable, "-m", "runway_bridge", *argv[1:]]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return argv


def _models(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--model"]


def test_the_docs_have_commands_and_every_skip_is_still_used():
    assert any(c.startswith("runway-bridge serve") for _, c in COMMANDS)
    unused = [k for k in SKIP if not any(c.startswith(k) for _, c in COMMANDS)]
    assert not unused, f"SKIP entries no doc uses any more: {unused}"


@pytest.mark.parametrize(("doc", "command"), COMMANDS, ids=[c for _, c in COMMANDS])
def test_command_runs_as_written(doc, command, tmp_path):
    reason = next((why for prefix, why in SKIP.items() if command.startswith(prefix)), None)
    if reason:
        pytest.skip(f"{doc}: {reason}")
    argv = _argv(command)
    if argv[3:4] != ["serve"]:
        p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"{doc}: `{command}` exited {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
        return
    port = free_port()
    argv += ["--port", str(port)]
    if "--no-osc" not in argv:
        argv += ["--osc-port", str(free_port(socket.SOCK_DGRAM)), "--osc-reply-port", str(free_port(socket.SOCK_DGRAM))]
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        token = f"?token={argv[argv.index('--token') + 1]}" if "--token" in argv else ""
        ready = wait_http(f"http://127.0.0.1:{port}/readyz{token}", proc, timeout=180)
        assert ready["ready"] and set(ready["models"]) == set(_models(argv)), ready
    except (RuntimeError, TimeoutError) as e:
        raise AssertionError(f"{doc}: `{command}` did not serve: {e}\n{log.read_text()[-3000:]}") from None
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode in (0, 130, -signal.SIGINT), f"exit {proc.returncode}:\n{log.read_text()[-3000:]}"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
