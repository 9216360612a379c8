"""Browser tests: a real daemon, headless Chromium with a fake webcam, and the pages users open.

Needs Debian's ``chromium`` and ``npm install`` in tests/node (playwright-core, p5); skipped without them.
Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .media import moving_camera, write_y4m
from conftest import launch_daemon

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
DRIVER = Path(__file__).with_name("drive.mjs")
CHROMIUM = os.environ.get("RUNWAY_BRIDGE_CHROMIUM", "/usr/bin/chromium")
P5 = NODE_DIR / "node_modules" / "p5" / "lib" / "p5.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "browser"


def _missing() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not (NODE_DIR / "node_modules" / "playwright-core").is_dir() or not P5.is_file():
        return "run `npm install` in tests/node (playwright-core, p5)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    if reason:
        for item in items:
            if "drive" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.skip(reason=reason))


def Daemon(models: list[str], extra: list[str] = (), **kwargs):
    """A daemon for the browser tests (built-in catalogue only, OSC on free ports), logging into
    test-artifacts/ next to the screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return launch_daemon(ARTIFACTS, *models, args=list(extra), osc=True, fixtures=False, wait=False, **kwargs)


@pytest.fixture(scope="session")
def camera(tmp_path_factory) -> Path:
    """The fake webcam: a moving y4m video (real street footage, a face panning across it)."""
    return write_y4m(tmp_path_factory.mktemp("camera") / "street.y4m", moving_camera())


@pytest.fixture(scope="session")
def bridge_daemon():
    """One daemon for the browser tests; pages start the models they need, as users' pages do."""
    d = Daemon(["haar_faces"])
    d.wait_running("haar_faces")
    yield d
    d.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def drive(tmp_path, camera, artifacts):
    """Run one plan in Chromium (see drive.mjs); returns the answer dict, failing with the page's logs."""

    def run(url: str, steps: list, *, name: str, timeout_ms: int = 60000, use_camera: bool = True,
            viewport: tuple[int, int] = (1100, 800), hosts: dict | None = None) -> dict:
        plan = {"url": url, "steps": steps, "p5": str(P5), "chromium": CHROMIUM, "timeout": timeout_ms,
                "viewport": {"width": viewport[0], "height": viewport[1]},
                "camera": str(camera) if use_camera else None,
                "failScreenshot": str(artifacts / f"{name}-FAILED.png"), "hosts": hosts or {}}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(plan))
        out = subprocess.run(["node", str(DRIVER), str(path)], capture_output=True, text=True,
                             timeout=timeout_ms / 1000 + 60, cwd=ROOT)
        try:
            answer = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            pytest.fail(f"driver gave no answer (rc {out.returncode}): {out.stderr[-3000:]}")
        (artifacts / f"{name}.log.json").write_text(json.dumps(answer, indent=1))
        if not answer["ok"]:
            pytest.fail(f"{name}: {answer.get('error')}\nstep: {answer.get('step')}\n"
                        f"page errors: {answer['pageErrors']}\nconsole: {answer['console'][-20:]}")
        return answer

    return run
