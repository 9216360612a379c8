"""The SDK's public surface, and that importing it pulls in no server code."""

import subprocess
import sys

import pytest

import runway_bridge
from runway_bridge.config import Config

from conftest import ROOT


def test_public_names_are_pinned():
    assert sorted(runway_bridge.__all__) == sorted([
        "setup", "command", "run", "any", "array", "boolean", "category", "directory", "file", "image",
        "image_bounding_box", "image_landmarks", "image_point", "number", "segmentation", "text", "vector"])


def test_the_sdk_imports_no_server_code():
    code = ("import sys, runway_bridge, runway_bridge.model, runway_bridge.types, runway_bridge.errors\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'socketio', 'pythonosc', 'docker')"
            " or m.startswith(('runway_bridge.host', 'runway_bridge.backends', 'runway_bridge.transports',"
            " 'runway_bridge.daemon'))]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_runway_is_importable_only_when_asked():
    out = subprocess.run([sys.executable, "-c", "import runway_bridge; import runway"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode != 0 and "No module named 'runway'" in out.stderr
    code = ("from runway_bridge.compat import enable; enable(); import runway, runway.data_types, "
            "runway.exceptions as e; print(e.MissingInputError('image').to_response(), e.MissingInputError('x').code)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "{'error': 'Missing input: image.', 'traceback': []} 400" in out.stdout  # the old SDK's form


def test_config_file_rejects_unknown_settings(tmp_path):
    good = tmp_path / "bridge.toml"
    good.write_text('port = 9100\nmodels = ["haar_faces"]\n[model_options.haar_faces]\nmin_neighbors = 3\n')
    cfg = Config(**Config.from_file(good))
    assert cfg.port == 9100 and cfg.model_options == {"haar_faces": {"min_neighbors": 3}}
    bad = tmp_path / "bad.toml"
    bad.write_text("prot = 9100\n")
    with pytest.raises(ValueError, match="unknown settings \\['prot'\\]"):
        Config.from_file(bad)
