"""What a new user sees first: one line for a busy port, readable `info`, no native chatter."""

from __future__ import annotations

import socket
import subprocess
import sys

from runway_bridge.backends import KINDS

from conftest import ROOT


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runway_bridge", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_a_busy_port_prints_only_the_useful_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = _cli("serve", "--port", str(port), "--no-osc", "--model", "cartoon")
    assert p.returncode != 0
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    assert f"Cannot listen on 127.0.0.1:{port}" in lines[0] and "--port" in lines[0]
    assert "Starting" not in p.stdout + p.stderr  # no model began loading before the port was ours


def test_info_is_text_without_carriage_returns_when_piped():
    p = _cli("info", "face_mesh")
    assert p.returncode == 0, p.stderr
    assert "\r" not in p.stdout and "{" not in p.stdout.split("options:")[0], p.stdout
    assert "ms per 640x480 frame on a CPU" in p.stdout, p.stdout
    assert "authors: " in p.stdout and "paper: " in p.stdout


def test_backend_help_lists_every_kind():
    out = _cli("serve", "--help").stdout
    assert "|".join(KINDS) in " ".join(out.split())


def test_native_start_up_noise_is_dropped_but_errors_pass():
    code = ("import os, sys\n"
            "from runway_bridge import quiet\n"
            "quiet.install()\n"
            "os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
            "os.write(2, b'W0000 00:00:1796188803.980596   14356 inference_feedback_manager.cc:114] Feedback\\n')\n"
            "os.write(2, b'E0000 00:00:1796188803.980596   14356 model.cc:9] a real error\\n')\n"
            "print('from python', file=sys.stderr)\n"
            "import time; time.sleep(0.5)\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "XNNPACK" not in p.stderr and "Feedback" not in p.stderr
    assert "a real error" in p.stderr and "from python" in p.stderr
