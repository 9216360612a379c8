"""The five MediaPipe adapters on LiteRT: they agree with mediapipe on real photos, and run without it.

Tolerances (fractions of the picture's size; docs/mediapipe-lite.md has the measured figures,
mostly 10-100x smaller): face boxes and key points within 0.005, face mesh mean landmark distance
< 0.005 and irises < 0.01 (LiteRT runs face_landmark + iris_landmark, not the attention model),
hands < 0.005, pose (points mediapipe calls visible) < 0.01, segmentation mask IoU > 0.97.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from runway_bridge.model import load_model

ROOT = Path(__file__).resolve().parents[2]
MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")

needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                                     reason="the comparison needs mediapipe itself")


def photos() -> dict[str, np.ndarray]:
    out = {"astronaut": data.astronaut()}
    if MESSI.exists():
        out["messi"] = cv2.cvtColor(cv2.imread(str(MESSI)), cv2.COLOR_BGR2RGB)
    return out


def both(adapter: str, command: str, opts: dict | None = None):
    """The command's results on every photo, with each runtime."""
    m = load_model(ROOT / "adapters" / adapter)
    results = {}
    for runtime in ("mediapipe", "litert"):
        state = m.run_setup({**(opts or {}), "runtime": runtime})
        results[runtime] = {name: m.commands[command].fn(state, {"image": img}) for name, img in photos().items()}
    return results["mediapipe"], results["litert"]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@needs_mediapipe
@pytest.mark.parametrize("model_selection", ["general", "landscape"])
def test_segmentation_agrees(model_selection):
    ref, got = both("selfie_segmentation", "segment", {"model_selection": model_selection})
    for name in ref:
        assert iou(ref[name]["mask"] == 1, got[name]["mask"] == 1) > 0.97, name


@needs_mediapipe
@pytest.mark.parametrize("model_selection", ["short_range", "full_range"])
def test_face_detection_agrees(model_selection):
    ref, got = both("face_detection", "detect", {"model_selection": model_selection, "min_confidence": 0.5})
    assert ref["astronaut"]["boxes"], "mediapipe finds the astronaut's face"
    for name in ref:
        assert len(got[name]["boxes"]) == len(ref[name]["boxes"]), name
        if not ref[name]["boxes"]:
            continue
        for key in ("boxes", "keypoints"):
            assert np.abs(np.subtract(got[name][key], ref[name][key])).max() < 0.005, (name, key)
        assert np.abs(np.subtract(got[name]["scores"], ref[name]["scores"])).max() < 0.01


@needs_mediapipe
def test_face_mesh_agrees():
    ref, got = both("face_mesh", "detect", {"max_faces": 2})
    for name in ref:
        assert len(got[name]["landmarks"]) == len(ref[name]["landmarks"]), name
        for a, b in zip(ref[name]["landmarks"], got[name]["landmarks"], strict=True):
            d = np.linalg.norm(a - b, axis=1)
            assert d.mean() < 0.005 and d[468:].max() < 0.01, (name, d.mean(), d[468:].max())


@needs_mediapipe
def test_hands_agree():
    ref, got = both("hands", "detect")
    if "messi" not in ref:
        pytest.skip("Debian opencv-doc is not installed")
    assert ref["messi"]["landmarks"], "mediapipe finds Messi's hand"
    for name in ref:
        assert got[name]["handedness"] == ref[name]["handedness"], name
        for a, b in zip(ref[name]["landmarks"], got[name]["landmarks"], strict=True):
            assert np.linalg.norm(a - b, axis=1).mean() < 0.005, name


@needs_mediapipe
def test_pose_agrees():
    ref, got = both("pose", "detect")
    for name in ref:
        assert got[name]["detected"] == ref[name]["detected"] is True, name
        visible = ref[name]["visibility"][0] > 0.5
        d = np.linalg.norm(ref[name]["landmarks"][0] - got[name]["landmarks"][0], axis=1)
        assert visible.sum() >= 10 and d[visible].mean() < 0.01, (name, d[visible].mean())


BLOCKED = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mediapipe" or name.startswith("mediapipe."):
            raise ModuleNotFoundError("mediapipe is blocked for this test")
sys.meta_path.insert(0, Block())
import json
import numpy as np
from skimage import data
from runway_bridge.model import load_model
out = {}
for adapter, command in [("selfie_segmentation", "segment"), ("face_detection", "detect"),
                         ("face_mesh", "detect"), ("hands", "detect"), ("pose", "detect")]:
    m = load_model(f"adapters/{adapter}")
    state = m.run_setup({})
    res = m.run_command(state, command, {"image": data.astronaut()})
    runtime = getattr(state, "runtime", None)
    out[adapter] = {"runtime": runtime, "keys": sorted(res)}
out["mediapipe_loaded"] = any(k.split(".")[0] == "mediapipe" for k in sys.modules)
print(json.dumps(out))
"""


def test_runs_with_mediapipe_blocked():
    pytest.importorskip("ai_edge_litert")
    env = dict(os.environ)
    spec = importlib.util.find_spec("mediapipe")
    if spec is not None:  # its files, the same a fetch.py run extracts; else fetch.py's own folder
        env["RW_MEDIAPIPE_MODELS"] = str(Path(next(iter(spec.submodule_search_locations))) / "modules")
    proc = subprocess.run([sys.executable, "-c", BLOCKED], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("mediapipe_loaded") is False
    assert {a: o["runtime"] for a, o in out.items()} == dict.fromkeys(out, "litert")
    assert out["face_mesh"]["keys"] == ["boxes", "landmarks"]
    assert out["pose"]["keys"] == ["detected", "landmarks", "visibility"]


def test_missing_model_files_say_what_to_run(tmp_path):
    code = ("import sys; sys.path.insert(0, 'adapters'); from _mediapipe_lite import runtime as r; "
            "r.CACHE = r.Path(sys.argv[1]); r.model_file('face_detection/nope.tflite')")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "fetch.py" in proc.stderr and "RW_MEDIAPIPE_MODELS" in proc.stderr


def test_fetch_extracts_only_model_files_and_the_licence(tmp_path):
    import zipfile

    wheel = tmp_path / "mediapipe-0.10.21-cp312-cp312-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mediapipe/modules/face_detection/face_detection_short_range.tflite", b"TFL3")
        z.writestr("mediapipe/modules/hand_landmark/handedness.txt", "Left\nRight\n")
        z.writestr("mediapipe/python/_framework_bindings.so", b"\x7fELF")
        z.writestr("mediapipe-0.10.21.dist-info/LICENSE", "Apache License")
    dest = tmp_path / "models"
    run = [sys.executable, "adapters/_mediapipe_lite/fetch.py", "--wheel", str(wheel), "--dest", str(dest)]
    proc = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "LICENSE", "face_detection/face_detection_short_range.tflite", "hand_landmark/handedness.txt"]
    with zipfile.ZipFile(wheel, "a") as z:
        z.writestr("mediapipe/modules/../../escape.tflite", b"x")
    proc = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "suspicious" in proc.stderr and not (tmp_path / "escape.tflite").exists()


SITECUSTOMIZE = '''
import importlib.abc, os, sys
with open(os.environ["MEDIAPIPE_BLOCK_LOG"], "a") as f:  # proves the blocker ran in this process
    f.write(f"{os.getpid()}\\n")
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mediapipe" or name.startswith("mediapipe."):
            raise ModuleNotFoundError("mediapipe is blocked for this test")
sys.meta_path.insert(0, _Block())
'''


def test_daemon_serves_face_mesh_and_pose_without_mediapipe(tmp_path):
    """The real daemon, every process of it unable to import mediapipe: a face from the photo over HTTP."""
    pytest.importorskip("ai_edge_litert")
    from conftest import data_uri, jpeg, launch_daemon

    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    block_log = tmp_path / "blocked-pids"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MEDIAPIPE_BLOCK_LOG": str(block_log)}
    spec = importlib.util.find_spec("mediapipe")
    if spec is not None:
        env["RW_MEDIAPIPE_MODELS"] = str(Path(next(iter(spec.submodule_search_locations))) / "modules")
    server = launch_daemon(tmp_path, "face_mesh", "pose", fixtures=False, env=env)
    try:
        assert str(server.proc.pid) in block_log.read_text().split()
        status, _, out = server.post("/v1/models/face_mesh/commands/detect", {"image": data_uri(jpeg(data.astronaut()))})
        assert status == 200, out
        (face,) = out["landmarks"]
        assert len(face) == 478
        nose = face[1]  # the astronaut's face: x 0.34-0.53, y 0.15-0.35 (tests/adapters/test_face_detection.py)
        assert 0.34 < nose[0] < 0.53 and 0.15 < nose[1] < 0.35, nose
        status, _, out = server.post("/v1/models/pose/commands/detect", {"image": data_uri(jpeg(data.astronaut()))})
        assert status == 200 and out["detected"] is True, out
    finally:
        server.stop()
    assert "mediapipe is blocked" not in server.output()
