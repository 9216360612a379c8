"""What the benchmarks share: the test frame, percentiles, a daemon started on a free port, RSS."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_ADAPTERS = ROOT / "tests" / "fixtures" / "adapters"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import free_port  # noqa: E402

__all__ = ["ROOT", "FIXTURE_ADAPTERS", "free_port", "frame", "median_p99", "rss_mb", "start", "serve"]


def frame(size: tuple[int, int] = (640, 480), quality: int = 80) -> bytes:
    """The astronaut photo as a JPEG of the given size: the frame every transport benchmark sends."""
    from skimage import data

    img = cv2.resize(data.astronaut(), size)
    return cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def median_p99(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s), s[min(len(s) - 1, int(len(s) * 0.99))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(cmd: list[str], ready_url: str, timeout: float = 30, **popen) -> subprocess.Popen:
    """Start a server process and wait until `ready_url` answers 200 (`popen`: env, cwd, preexec_fn)."""
    popen.setdefault("cwd", ROOT)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(ready_url, timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{' '.join(cmd)} did not come up")


def serve(*args: str, ready: str = "/readyz") -> tuple[subprocess.Popen, str]:
    """``runway-bridge serve`` with the test adapters on a free port, no OSC; returns (process, url)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "runway_bridge", "serve", "--port", str(port), "--no-osc",
           "--adapters", str(FIXTURE_ADAPTERS), *args]
    return start(cmd, url + ready), url
